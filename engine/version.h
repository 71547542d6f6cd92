/*
 * version.h — versions (the set of live tables per level), version edits,
 * the MANIFEST log that records them, and compaction picking.
 *
 * Files in the data directory (names are zero-padded decimal numbers drawn
 * from one counter):
 *   CURRENT          name of the live manifest, replaced atomically
 *   MANIFEST-NNNNNN  log of version edits (manifest_format.h)
 *   NNNNNN.wal       WAL segments (wal_format.h)
 *   NNNNNN.sst       tables (sst_format.h)
 *   LOCK             advisory lock of the opening process
 *
 * Thread safety: the version set is guarded by the DB mutex passed to
 * hdb_vset_log_and_apply; every function here REQUIRES that mutex held,
 * except version and fmeta ref/unref, and reads of a version the caller
 * holds a reference to (versions are immutable).  Ref/unref are atomic and
 * may run in any thread: a version's last unref unlinks it from the set's
 * list of live versions under a small lock of the set's own (taken after
 * the DB mutex when both are held), so iterators may drop their version
 * without the DB mutex.
 *
 * Invariants: in every level >= 1, files are sorted by smallest key and do
 * not overlap; L0 files are kept in increasing file-number order (newest
 * last) and may overlap.
 */
#ifndef HDB_VERSION_H
#define HDB_VERSION_H

#include "env.h"
#include "hybriddb.h"
#include "iter.h"

#include <pthread.h>

typedef struct hdb_fmeta {
	int refs;          /* versions holding this file (atomic) */
	uint64_t number;   /* file number: NNNNNN.sst */
	uint64_t size;     /* bytes */
	uint8_t *smallest; /* smallest internal key (malloc'd) */
	size_t smallest_len;
	uint8_t *largest;  /* largest internal key (malloc'd) */
	size_t largest_len;
} hdb_fmeta;

/* A new file meta with refs = 1, copying the keys; NULL on ENOMEM. */
hdb_fmeta *hdb_fmeta_new(uint64_t number, uint64_t size, const uint8_t *smallest, size_t slen,
                         const uint8_t *largest, size_t llen);
void hdb_fmeta_unref(hdb_fmeta *f);

typedef struct hdb_version hdb_version;
struct hdb_version {
	int refs;                              /* atomic */
	struct hdb_vset *vset;
	hdb_version *prev, *next;              /* in vset's list of live versions */
	hdb_fmeta **files[HDB_MAX_LEVELS];     /* per level, see invariants */
	size_t nfiles[HDB_MAX_LEVELS];
	double compaction_score;               /* >= 1 means a compaction is due */
	int compaction_level;
};

void hdb_version_ref(hdb_version *v);
void hdb_version_unref(hdb_version *v);    /* any thread; frees at zero */

/* Index of the first file in level (>= 1) whose largest key >= ikey, or
 * nfiles when there is none. */
size_t hdb_version_find_file(const hdb_version *v, int level, const uint8_t *ikey, size_t n);

/* Files of level overlapping user-key range [begin, end] (NULL = open):
 * malloc'd array of borrowed pointers, in level order; *out = NULL when
 * *n = 0. */
int hdb_version_overlapping(const hdb_version *v, int level, const uint8_t *ubegin, size_t blen,
                            const uint8_t *uend, size_t elen, hdb_fmeta ***out, size_t *n);

uint64_t hdb_version_level_bytes(const hdb_version *v, int level);

/* A concatenating iterator over files of a level >= 1 (sorted, disjoint):
 * opens each file's iterator lazily through open() (which returns NULL only
 * on ENOMEM, or an iterator whose status carries an error).  Holds a
 * reference to v, dropped on destroy (any thread).  The first error met is
 * sticky: the iterator stays invalid and status() returns it.  NULL on
 * ENOMEM. */
typedef hdb_iiter *(*hdb_open_table_fn)(void *ctx, const hdb_fmeta *f);
hdb_iiter *hdb_level_iter_new(hdb_version *v, int level, hdb_open_table_fn open, void *ctx);

/* A version edit: the difference between two versions. */
typedef struct hdb_vedit_file {
	int level;
	hdb_fmeta *f; /* for added files: a reference owned by the edit */
	uint64_t number; /* for deleted files */
} hdb_vedit_file;

typedef struct hdb_vedit {
	bool has_log_number;
	uint64_t log_number;      /* WAL segments below this are obsolete */
	bool has_next_file;
	uint64_t next_file;
	bool has_last_seq;
	uint64_t last_seq;
	hdb_vedit_file *added;
	size_t nadded, capadded;
	hdb_vedit_file *deleted;
	size_t ndeleted, capdeleted;
} hdb_vedit;

void hdb_vedit_init(hdb_vedit *e);
void hdb_vedit_free(hdb_vedit *e);
/* Takes a new reference to f. */
int hdb_vedit_add_file(hdb_vedit *e, int level, hdb_fmeta *f);
int hdb_vedit_delete_file(hdb_vedit *e, int level, uint64_t number);
/* Appends the encoding (manifest_format.h) to out. */
int hdb_vedit_encode(const hdb_vedit *e, hdb_buf *out);
/* Initializes e and fills it from p[0..n); `offset` is p's offset in file.
 * HDB_ECORRUPT (detail names file and offset) on malformed input; on any
 * failure e is left empty (freed). */
int hdb_vedit_decode(hdb_vedit *e, const uint8_t *p, size_t n, const char *file, uint64_t offset);

typedef struct hdb_vset_options {
	int l0_compaction_trigger;
	uint64_t level1_max_bytes;
	uint64_t target_file_size;
} hdb_vset_options;

typedef struct hdb_vset hdb_vset;

/* Recovers from dir/CURRENT and the manifest it names.  When CURRENT is
 * absent and `create` is set, starts an empty set and writes a new manifest
 * and CURRENT.  Missing CURRENT without create: -ENOENT.  A manifest whose
 * format version is newer: HDB_EVERSION.  Corrupt manifest: HDB_ECORRUPT.
 * CURRENT naming a missing manifest: HDB_ECORRUPT.  Unless read_only, a
 * recovered set then starts a new manifest holding a snapshot and points
 * CURRENT at it; if that fails the recovered manifest stays in use and the
 * next apply retries (so a full disk still opens for reading).  read_only
 * writes nothing (missing CURRENT: -ENOENT even with create) and makes
 * every log_and_apply fail with -EROFS. */
int hdb_vset_open(hdb_env *env, const char *dir, const hdb_vset_options *o, bool create,
                  bool read_only, hdb_vset **out);
void hdb_vset_free(hdb_vset *vs); /* REQUIRES: only the current version still referenced */

hdb_version *hdb_vset_current(hdb_vset *vs); /* borrowed */
uint64_t hdb_vset_new_file_number(hdb_vset *vs);
/* Keeps number from being handed out again (used after WAL recovery). */
void hdb_vset_mark_file_number_used(hdb_vset *vs, uint64_t number);
uint64_t hdb_vset_last_seq(const hdb_vset *vs);
void hdb_vset_set_last_seq(hdb_vset *vs, uint64_t seq); /* REQUIRES: seq >= last_seq */
uint64_t hdb_vset_log_number(const hdb_vset *vs);
uint64_t hdb_vset_manifest_bytes(const hdb_vset *vs);

/* Applies e to the current version, appends it (with next_file and last_seq
 * filled in) to the manifest, syncs, and installs the result as current.
 * log_number and last_seq never move backwards: an edit carrying lower
 * values (or none) gets the set's.  An edit that does not apply (deletes a file that is not live, adds one
 * that is, or breaks the level invariants) fails with -EINVAL and a detail.
 * When the write fails, whether the record reached the disk is unknown: the
 * caller must not delete the edit's added files until a later apply
 * succeeds (which writes a fresh manifest that supersedes the old one).
 * REQUIRES: *mu held; it is released during the manifest write and held again
 * on return; only one caller at a time (the DB's background thread, or the
 * opener before any other thread runs).  On failure the current version is
 * unchanged and the manifest stays readable (a new manifest is started on
 * the next apply). */
int hdb_vset_log_and_apply(hdb_vset *vs, hdb_vedit *e, pthread_mutex_t *mu);

/* Every file number referenced by any live version, sorted, no duplicates;
 * malloc'd.  Also holds the number of the manifest in use, of one being
 * written, and of any whose switch-over failed (CURRENT may name it), so a
 * collector that keeps every listed number never removes them. */
int hdb_vset_live_files(hdb_vset *vs, uint64_t **numbers, size_t *n);

/* Compaction. */
typedef struct hdb_compaction {
	int level;                  /* inputs[0] from level, inputs[1] from level + 1 */
	hdb_version *version;       /* referenced */
	hdb_fmeta **inputs[2];      /* borrowed from version */
	size_t ninputs[2];
	uint64_t max_output_size;
	hdb_vedit edit;             /* deletions of all inputs, filled by the picker */
	size_t level_ptrs[HDB_MAX_LEVELS]; /* for is_base_level_for_key */
} hdb_compaction;

/* The most urgent compaction, or NULL if none is due (or ENOMEM). */
hdb_compaction *hdb_vset_pick_compaction(hdb_vset *vs);
/* A compaction of level's files overlapping [ubegin, uend] (NULL = open),
 * or NULL when none overlap (or level is the last, or ENOMEM). */
hdb_compaction *hdb_vset_compact_range(hdb_vset *vs, int level, const uint8_t *ubegin, size_t blen,
                                       const uint8_t *uend, size_t elen);
/* True when one input file can be moved to level + 1 without rewriting it. */
bool hdb_compaction_is_trivial_move(const hdb_compaction *c);
/* True when no level below level + 1 can hold ukey, so a tombstone for it
 * may be dropped.  Calls must come in increasing key order. */
bool hdb_compaction_is_base_level_for_key(hdb_compaction *c, const uint8_t *ukey, size_t n);
void hdb_compaction_free(hdb_compaction *c); /* any thread */

/* For compaction.c: the options the set was opened with, and the level's
 * compact pointer (largest internal key of the level's last size-triggered
 * or manual pick; empty at first).  REQUIRES: DB mutex held. */
const hdb_vset_options *hdb_vset_options_of(const hdb_vset *vs);
hdb_buf *hdb_vset_compact_pointer(hdb_vset *vs, int level);

#endif
