/*
 * db_impl.h — the database object shared by db.c (open, write, read,
 * close), db_bg.c (flush and compaction) and db_iter.c (user iterators).
 *
 * Thread safety: fields marked [mu] are guarded by db->mu; [wal_mu] by
 * db->wal_mu; [leader] are touched only by the current write leader (the
 * writer at the head of the queue); [atomic] need no lock; [const] never
 * change after open.
 *
 * Invariants:
 *   - sequence numbers are assigned by the leader, in WAL order; last_seq is
 *     published (under mu) only after the group is in the WAL and MemTable;
 *   - mem is never NULL after open; imm is non-NULL only while a flush is due
 *     or running; only the background thread clears it;
 *   - every WAL segment with number >= the version set's log_number holds
 *     writes that are not yet in a table.
 */
#ifndef HDB_DB_IMPL_H
#define HDB_DB_IMPL_H

#include "hybriddb.h"

#include "batch.h"
#include "cache.h"
#include "env.h"
#include "memtable.h"
#include "table_cache.h"
#include "version.h"
#include "wal.h"

#include <pthread.h>
#include <stdatomic.h>

struct hdb_snapshot {
	uint64_t seq;
	struct hdb_snapshot *prev, *next; /* [mu] in db->snapshots */
};

struct db_writer {
	hdb_batch *batch;        /* NULL: a forced MemTable switch (flush) */
	bool sync;
	bool done;               /* [mu] */
	int status;              /* [mu] */
	pthread_cond_t cv;
	struct db_writer *next;  /* [mu] */
};

struct hdb_db {
	char *dir;                     /* [const] */
	hdb_options opt;               /* [const] */
	hdb_env *env;                  /* [const] */
	int lock_fd;                   /* [const] */
	hdb_cache *blocks;             /* [const] block cache */
	hdb_tcache *tables;            /* [const] */
	uint64_t opened_ms;            /* [const] */

	pthread_mutex_t mu;
	hdb_vset *vs;                  /* [mu] */
	hdb_mem *mem;                  /* [mu] to swap; the leader inserts */
	hdb_mem *imm;                  /* [mu] */
	atomic_bool has_imm;           /* mirrors imm != NULL for the compactor */
	struct db_writer *wq_head;     /* [mu] writer queue */
	struct db_writer *wq_tail;     /* [mu] */
	hdb_batch *group;              /* [leader] scratch for group commit */
	struct hdb_snapshot snapshots; /* [mu] circular list head, oldest first */
	uint64_t *pending;             /* [mu] table numbers being written */
	size_t npending, cappending;   /* [mu] */

	pthread_mutex_t wal_mu;        /* taken after mu, never before */
	hdb_wal_writer *wal;           /* [wal_mu] to swap or sync; the leader appends */
	uint64_t wal_number;           /* [mu] */
	bool wal_dirty;                /* [wal_mu] appended since the last sync */

	pthread_t bg_thread;           /* flush and compaction */
	bool bg_started;               /* [const after open] */
	pthread_cond_t bg_cv;          /* [mu] signals the background thread */
	pthread_cond_t bg_done_cv;     /* [mu] signals waiters on background work */
	bool shutting_down;            /* [mu] */
	atomic_bool stop_compaction;   /* set on close: abandon a running compaction */
	int bg_error;                  /* [mu] sticky: writes fail with it */
	int bg_nospace;                /* [mu] last background pass ran out of
	                                * disk space (-ENOSPC/-EDQUOT); retried */
	uint64_t bg_runs;              /* [mu] background passes completed */
	bool compacting;               /* [mu] a compaction is running */
	struct {
		bool pending;              /* [mu] a manual compaction is requested */
		int level;                 /* [mu] level to compact into the next */
		const void *begin, *end;   /* [mu] user-key range, NULL = open */
		size_t blen, elen;         /* [mu] */
		int status;                /* [mu] */
	} manual;

	pthread_t sync_thread;         /* periodic WAL sync */
	bool sync_started;             /* [const after open] */
	pthread_cond_t sync_cv;        /* [mu] wakes the sync thread early on close */

	struct {
		atomic_uint_fast64_t gets, tables_probed, bloom_useful;
		atomic_uint_fast64_t cache_hits, cache_misses;
		atomic_uint_fast64_t bytes_user, bytes_disk, bytes_compacted_read;
		atomic_uint_fast64_t compactions, flushes, write_stalls, wal_syncs;
		atomic_uint_fast64_t wal_bytes_live;
	} st;
};

/* db.c */
void db_log(hdb_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t db_now_ms(void);
int db_sync_wal(hdb_db *db);

/* db_bg.c */
void *db_bg_main(void *arg);
/* REQUIRES: mu held.  Wakes the background thread if there is work. */
void db_maybe_schedule(hdb_db *db);
/* REQUIRES: mu held.  Deletes tables and WAL segments no version needs. */
void db_delete_obsolete(hdb_db *db);
/* REQUIRES: mu held, called at open only.  Writes mem to an L0 table and
 * records it in edit (no version change). */
int db_write_level0(hdb_db *db, hdb_mem *mem, hdb_vedit *edit);
/* The table iterator used by level iterators: ctx is the db. */
hdb_iiter *db_open_table_iter(void *ctx, const hdb_fmeta *f);

/* db_iter.c */
/* REQUIRES: mu held.  Builds the merged internal iterator over mem, imm and
 * every table of the current version, taking references. */
hdb_iiter *db_internal_iter(hdb_db *db, bool fill_cache);

#endif
