/*
 * fs_internal.h — state shared by the fs modules (fs_core.c, fs_node.c,
 * fs_file.c, fs_dir.c, fs_ops.c, vfiles.c, fs_check.c).  Not installed.
 *
 * Thread safety.  Two locks, always taken in this order:
 *   commit_mu  serializes every change written to the engine, together
 *              with the superblock counters: a change reads the table,
 *              builds one batch, writes it (without waiting for fsync),
 *              and applies it to the table, all under commit_mu, so the
 *              order of batches in the engine is the order of the counter
 *              values they carry.  Durability waits (hdb_sync) happen
 *              after it is released, so concurrent closes share an fsync.
 *   itab lock  (hdb_itable_lock) guards the inode table and every cached
 *              attribute; held only for short, non-blocking sections
 *              (fs_read_idle drops it for its engine read).  The table's
 *              epoch moves only under commit_mu.
 *   An open handle's own mutex (fs_fh.mu) is taken before commit_mu.
 *
 * Invariants: fs->sb is what the engine's superblock holds (or, when that
 * key failed its checksum at mount, what it would hold: recount.c); for
 * every loaded inode in the table (inode.h), x->attr is its entry's value
 * (mtime and ctime may be ahead while writes are buffered) and x->attr.size
 * of a file is x->dsize, its committed content length.  An uncommitted buffer's size is seen only by
 * the process that writes it (fs_file_getattr).
 */
#ifndef HDB_FS_INTERNAL_H
#define HDB_FS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"
#include "hybriddb.h"
#include "inode.h"
#include "keys.h"
#include "wbuf.h"

struct fuse_ctx;

/* Seconds the kernel may cache stored entries and attributes.  Every
 * change to them passes through this daemon: the kernel updates its caches
 * for the changes it makes itself (create, write, rename, unlink, setattr),
 * and the daemon invalidates them for every other (fs_notify_inval_*), so
 * the only cost of a long time is kernel memory.  Each lookup or stat it
 * saves is a round trip. */
#define FS_STORED_TIMEOUT 86400.0
/* For virtual entries, and entries under virtual directories, whose
 * answers depend on other files. */
#define FS_CACHE_TIMEOUT 1.0
/* How long an in-place rewrite waits for page-cache readers to close
 * (park.c). */
#define FS_REWRITE_WAIT_MS 2000
/* Documents up to this size are handed to the kernel's page cache with
 * their open (fs_file_push); larger ones are read on demand. */
#define FS_PUSH_MAX (64 * 1024)

/* Operation counters reported in /.stats (relaxed atomics). */
#define HDB_FS_COUNTERS(X)                                                                         \
	X(lookups) X(getattrs) X(setattrs) X(creates) X(mkdirs) X(unlinks) X(rmdirs) X(renames)    \
	X(symlinks) X(opens) X(pushes) X(reads) X(writes) X(commits) X(fsyncs) X(readdirs)          \
	X(json_errors) X(rewrite_waits_expired)

typedef struct hdb_fs_counters {
#define X(name) atomic_uint_fast64_t name;
	HDB_FS_COUNTERS(X)
#undef X
} hdb_fs_counters;

/* The notices the fs sends the kernel: the FUSE session's
 * (hdb_fs_set_session), none without one, or a test's own, which sees
 * them in order and can act while one is under way (fs_set_kernel).
 * Called with no fs lock held. */
typedef struct fs_kernel {
	/* Hands len bytes to the kernel as ino's pages from offset 0
	 * (FUSE_NOTIFY_STORE): 0 or a negative errno. */
	int (*store)(void *ctx, uint64_t ino, const void *data, size_t len);
	/* Drops ino's cached attributes and its pages in [off, off + len)
	 * (len 0: to the end); off -1: the attributes only. */
	void (*inval_inode)(void *ctx, uint64_t ino, int64_t off, int64_t len);
	/* Drops the cached entry name (nlen bytes) under parent. */
	void (*inval_entry)(void *ctx, uint64_t parent, const char *name, size_t nlen);
	void *ctx;
} fs_kernel;

/* Membership in the fs's list of open handles (so that shutdown can
 * release what the kernel did not).  First member of fs_fh and fs_dh. */
typedef struct fs_hlink {
	struct fs_hlink *prev, *next;
} fs_hlink;

#define FS_COUNT(fs, name) atomic_fetch_add_explicit(&(fs)->cnt.name, 1, memory_order_relaxed)

struct hdb_fs {
	hdb_db *db;
	hdb_fs_opts opt;
	fs_kernel kernel;        /* set before the loop and after it only;
	                            store NULL: none */
	hdb_itable *itab;
	pthread_mutex_t commit_mu;
	hdb_fs_super sb;         /* GUARDED_BY commit_mu */
	hdb_fs_counters cnt;
	uint64_t started_ms;     /* CLOCK_MONOTONIC at hdb_fs_new */
	hdb_fs_ts mounted_at;    /* CLOCK_REALTIME at hdb_fs_new */
	pthread_mutex_t handles_mu;
	fs_hlink files;           /* open fs_fh; GUARDED_BY handles_mu */
	fs_hlink dirs;            /* open fs_dh; GUARDED_BY handles_mu */
	struct fs_query *q;       /* queries and indexes (qindex.h); set up by hdb_fs_new */
	struct fs_tables *tables; /* schemas of tables (tables.h); set up by hdb_fs_new */
	struct fs_park *park;     /* in-place opens waiting for readers (park.c) */
	atomic_bool no_push;      /* the kernel refused a FUSE_NOTIFY_STORE */
	atomic_bool pushing;      /* a worker is in fs_file_push's store */
};

/* An open file (or virtual file). */
enum fs_fh_kind { FS_FH_FILE, FS_FH_CONTROL, FS_FH_STATS };

typedef struct fs_fh {
	fs_hlink link;           /* in fs->files; first member */
	enum fs_fh_kind kind;
	uint64_t ino;
	pthread_mutex_t mu;     /* guards everything below */
	hdb_wbuf buf;           /* committed content (generation gen), or the
	                           write buffer */
	uint64_t gen;           /* read-only handles: the inode's cgen when buf
	                           was read; reads reload it when cgen moved on */
	bool writable;          /* buf is a write buffer, committed at flush */
	bool append;            /* O_APPEND: writes go to the end */
	bool dirty;             /* buf differs from the committed content */
	bool created;           /* created by this handle, content never committed */
	bool failed;            /* a write hit EFBIG: commit nothing of this open */
	bool rejected;          /* buf failed validation (logged) and is unchanged since */
	bool read_seen;         /* atime already considered for this open */
	int opener;             /* thread id that opened it (fuse_ctx pid), 0 if unknown */
	bool uncached;          /* a reader opened while the file was being
	                           rewritten: served without the page cache
	                           (direct_io) */
	bool rewriter;          /* writable, not created by this open: counted
	                           in the inode's nrewrite */
	/* GUARDED_BY the itab lock: */
	bool cached_reader;     /* on the inode's readers list */
	struct fs_fh *rnext;    /* next on that list */
	/* The writer's view, GUARDED_BY the itab lock (and changed only with
	 * mu held too): */
	bool listed;            /* on the inode's writers list, counted in ndirty */
	uint64_t vsize;         /* buf.len as of the last change */
	struct fs_fh *wnext;    /* next on the inode's writers list */
} fs_fh;

/* One engine batch plus the superblock it will carry (see commit_mu). */
#define FS_TXN_MAX_UPD 4

enum {
	FS_UPD_MODE = 1, FS_UPD_UID = 2, FS_UPD_GID = 4, FS_UPD_SIZE = 8,
	FS_UPD_ATIME = 16, FS_UPD_MTIME = 32, FS_UPD_CTIME = 64, FS_UPD_DSIZE = 128,
	FS_UPD_UNPEND = 256, /* the 'P' record is deleted */
};

typedef struct fs_upd {
	uint64_t ino;
	unsigned mask;       /* FS_UPD_* fields of attr/dsize to apply */
	hdb_fs_attr attr;
	uint64_t dsize;
} fs_upd;

typedef struct fs_txn {
	hdb_batch *b;
	hdb_fs_super sb;     /* the superblock after this change */
	bool sb_dirty;       /* sb differs from fs->sb: write it */
	fs_upd upd[FS_TXN_MAX_UPD]; /* table changes to apply on success */
	int nupd;
} fs_txn;

/* fs_core.c */
void fs_handle_add(hdb_fs *fs, fs_hlink *list, fs_hlink *l);
void fs_handle_remove(hdb_fs *fs, fs_hlink *l);
hdb_fs_ts hdb_fs_now(void);
int hdb_fs_errno(int rc);                          /* engine/-errno code to a positive errno */
/* Called with each record whose key starts with tag, in key order; a
 * positive return counts the record, a negative one stops the scan. */
typedef int (*fs_scan_fn)(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
/* How fs_scan_db and fs_dir_iter read: a sweep over a whole range does not
 * fill the block cache; an offline check also re-checks the CRCs of cached
 * blocks. */
enum {
	FS_SCAN_NO_CACHE = 1 << 0, /* ro.fill_cache = false */
	FS_SCAN_VERIFY = 1 << 1,   /* ro.verify = true */
};
/* Runs fn over the records of db tagged tag, read as flags (FS_SCAN_*)
 * say; *counted (may be NULL) gets how many it counted.  Returns fn's error
 * or the iterator's.  Needs no hdb_fs: the offline checks use it too. */
int fs_scan_db(hdb_db *db, unsigned flags, uint8_t tag, fs_scan_fn fn, void *ctx, int *counted);
/* fs_scan_db over the mounted engine, with the default read options. */
int fs_scan_tag(hdb_fs *fs, uint8_t tag, fs_scan_fn fn, void *ctx, int *counted);
/* An iterator over the entries of directory dir, read as flags (FS_SCAN_*)
 * say; not positioned: seek it (hdb_iter_seek_first for the first entry).
 * The caller frees it. */
int fs_dir_iter(hdb_db *db, uint64_t dir, unsigned flags, hdb_iter **it);
/* Logs that what cannot be read (with the engine's detail) and makes every
 * later change fail with EROFS.  Only while hdb_fs_new runs. */
void fs_degrade_read_only(hdb_fs *fs, const char *what);
/* Rebuilds *sb from the keys (recount.c); 0, HDB_ECORRUPT when some of them
 * cannot be read, HDB_EVERSION for keys of a newer format. */
int fs_recount_super(hdb_fs *fs, hdb_fs_super *sb);
void hdb_fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int hdb_fs_path(hdb_fs *fs, uint64_t parent, const char *name, char *out, size_t cap);
/* REQUIRES the itab lock and ino->x (a loaded inode). */
void hdb_fs_stat(const hdb_inode *ino, struct stat *st);
void hdb_fs_attr_to_stat(const hdb_fs_attr *a, struct stat *st);
/* A keep_cache open of ino was granted: the kernel may hold its pages. */
void fs_mark_kernel_cached(hdb_fs *fs, uint64_t ino);
/* ino's committed content changed: read-only handles reload it, and pages
 * the kernel may hold are dropped, so the page cache (shared by every
 * handle of the inode) only ever holds the committed version. */
void fs_content_changed(hdb_fs *fs, uint64_t ino);
/* Whether some open handle holds uncommitted writes to ino. */
bool fs_unsettled(hdb_fs *fs, uint64_t ino);
/* Tell the kernel to drop cached attributes and pages of ino / a cached
 * name (after a change it did not make itself, such as an undone create).
 * Call with no fs lock held. */
void fs_notify_inval_inode(hdb_fs *fs, uint64_t ino);
/* The same for the attributes of ino only (its pages stay). */
void fs_notify_inval_attr(hdb_fs *fs, uint64_t ino);
void fs_notify_inval_entry(hdb_fs *fs, uint64_t parent, const char *name, size_t nlen);
/* The notices go to k's functions from now on (k NULL: nowhere).  Only
 * while no request is served, as hdb_fs_set_session. */
void fs_set_kernel(hdb_fs *fs, const fs_kernel *k);

/* Locks commit_mu and starts a batch.  0 or -ENOMEM (then not locked). */
int fs_txn_begin(hdb_fs *fs, fs_txn *t);
int fs_txn_put_entry(fs_txn *t, uint64_t parent, const char *name, size_t nlen, const hdb_fs_attr *a);
int fs_txn_del_entry(fs_txn *t, uint64_t parent, const char *name, size_t nlen);
int fs_txn_put_data(fs_txn *t, uint64_t ino, const void *data, size_t len);
int fs_txn_del_data(fs_txn *t, uint64_t ino);
/* The 'P' record of a document being created at (parent, name). */
int fs_txn_put_pending(fs_txn *t, uint64_t ino, uint64_t parent, const char *name, size_t nlen);
int fs_txn_del_pending(fs_txn *t, uint64_t ino);
/* The 'O' record of a removed file the kernel still references; deleting
 * it deletes the content too. */
int fs_txn_put_orphan(fs_txn *t, uint64_t ino);
int fs_txn_del_orphan(fs_txn *t, uint64_t ino);
/* Records a table change applied by fs_txn_write on success. */
void fs_txn_upd(fs_txn *t, uint64_t ino, unsigned mask, const hdb_fs_attr *a, uint64_t dsize);
/* Puts the entry of directory dir with mtime = ctime = now, and records it.
 * REQUIRES commit_mu (inside a txn).  -ENOENT if dir is not in the table. */
int fs_txn_touch_dir(hdb_fs *fs, fs_txn *t, uint64_t dir, hdb_fs_ts now);
/* Writes the batch (with the superblock when changed); on success updates
 * fs->sb and applies the recorded table changes.  Still under commit_mu. */
int fs_txn_write(hdb_fs *fs, fs_txn *t);
/* Unlocks commit_mu, frees the batch; when rc == 0 and the fs is
 * sync_always (or durable is set), waits for the WAL on stable storage.
 * Returns rc or the sync's error. */
int fs_txn_end(hdb_fs *fs, fs_txn *t, int rc, bool durable);

/* An inode's place and state, copied under the table lock. */
typedef struct fs_snap {
	hdb_fs_attr attr;
	uint64_t dsize, parent;
	char name[HDB_FS_NAME_MAX + 1];
	size_t nlen;
	bool unlinked;
	bool pending;
} fs_snap;

/* A copy of inode ino's place and attributes (an idle inode's from its
 * stored entry): 0, -ENOENT when the table does not hold it, or the
 * entry read's error. */
int fs_snap_inode(hdb_fs *fs, uint64_t ino, fs_snap *s);
/* REQUIRES the itab lock, which it drops and takes again (hdb_inode
 * pointers taken before are stale); when not holding commit_mu, it may
 * take it.  *out gets inode ino, and *a its attributes: a loaded inode's,
 * or an idle one's as stored, read so that no committed change fell
 * between the read and the return.  -ENOENT when the table does not hold
 * ino, or the read's error. */
int fs_read_idle(hdb_fs *fs, uint64_t ino, hdb_inode **out, hdb_fs_attr *a);
/* An epoch no table has: a read taken "then" is always refreshed. */
#define FS_EPOCH_UNKNOWN UINT64_MAX
/* REQUIRES the itab lock, which it may drop and take again.  *a is an
 * entry's attributes read when the table's epoch was `epoch` (or
 * FS_EPOCH_UNKNOWN); the kernel keeps what it is given, so if inode a->ino
 * is held idle and a change may have passed since, *a becomes what is
 * stored now.  *out gets the inode (NULL if not held).  0, or the read's
 * error while the inode is still held (-ENOENT: removed meanwhile). */
int fs_refresh_idle(hdb_fs *fs, uint64_t epoch, hdb_fs_attr *a, hdb_inode **out);
/* Like fs_read_idle, and the inode gets loaded (its x). */
int fs_inode_get_loaded(hdb_fs *fs, uint64_t ino, hdb_inode **out);

/* Reads and decodes entry (parent, name): 0, -ENOENT or an error. */
int fs_read_entry(hdb_fs *fs, uint64_t parent, const char *name, size_t nlen, hdb_fs_attr *a);
/* Reads ino's content (malloc'd; *data NULL when empty). */
int fs_read_data(hdb_fs *fs, uint64_t ino, void **data, size_t *len);

/* fs_node.c: namespace changes.  Each returns 0 or a negative errno. */
int fs_node_lookup(hdb_fs *fs, uint64_t parent, const char *name, struct stat *out);
int fs_node_make(hdb_fs *fs, const struct fuse_ctx *ctx, uint64_t parent, const char *name, mode_t mode,
                 const char *link, struct stat *out);
int fs_node_unlink(hdb_fs *fs, uint64_t parent, const char *name, bool dir);
int fs_node_rename(hdb_fs *fs, uint64_t p1, const char *n1, uint64_t p2, const char *n2, unsigned flags);
int fs_node_setattr(hdb_fs *fs, uint64_t ino, const struct stat *st, int valid, fs_fh *fh);
int fs_node_getattr(hdb_fs *fs, uint64_t ino, struct stat *out);
int fs_node_readlink(hdb_fs *fs, uint64_t ino, char **target);
/* Undoes the creation of a file whose first commit failed (see fs.h). */
void fs_node_undo_create(hdb_fs *fs, uint64_t ino);
/* The creating handle of a document closed without content: it stays, as
 * an empty placeholder, and is no longer pending. */
int fs_node_finish_create(hdb_fs *fs, uint64_t ino);
/* Deletes the content of an orphan the table has just dropped. */
void fs_node_reap_orphan(hdb_fs *fs, uint64_t ino);

/* fs_file.c: open files. */
/*
 * Opens inode ino for process pid (its fuse ctx pid; 0 if unknown).  A
 * handle that rewrites a file in place (fh->rewriter) must not be answered
 * while other processes read the file through the page cache: the kernel
 * shares one size and one page cache per inode, and a writer's O_TRUNC and
 * writes change that size under them (fs_open parks it: park.c).  Readers
 * that open while a rewrite is under way bypass the page cache.
 */
int fs_file_open(hdb_fs *fs, uint64_t ino, int flags, bool created, int pid, fs_fh **out);
/* Whether another process than pid's (thread pid, thread group tgid)
 * holds ino open for reading through the page cache. */
bool fs_file_foreign_readers(hdb_fs *fs, uint64_t ino, int pid, int tgid);
/* The thread group of thread pid (from /proc), 0 if unknown. */
int fs_file_tgid(int pid);

/* park.c: in-place opens waiting for other processes' readers. */
int fs_park_new(hdb_fs *fs);
void fs_park_free(hdb_fs *fs);
/* Answers parked opens with their replies (the session is closing). */
void fs_park_stop(hdb_fs *fs);
/* A page-cache reader of ino was released: parked opens that waited only
 * for it are answered. */
void fs_park_reader_gone(hdb_fs *fs, uint64_t ino);
/* A handle on a virtual file, its content generated now. */
int fs_file_open_virtual(hdb_fs *fs, uint64_t ino, int flags, fs_fh **out);
int fs_file_read(hdb_fs *fs, fs_fh *fh, uint64_t off, size_t size, void **buf, size_t *n);
/* Hands the content of a page-cache reader fh, opened and not yet answered,
 * to the kernel (best effort): its reads then need no round trip. */
void fs_file_push(hdb_fs *fs, fs_fh *fh);
int fs_file_write(hdb_fs *fs, fs_fh *fh, uint64_t off, const void *p, size_t n);
int fs_file_truncate(hdb_fs *fs, fs_fh *fh, uint64_t size);
/* Whether ino is a document still being created (its first close has not
 * come) by another process than pid's: it has no version to read yet. */
bool fs_file_unborn(hdb_fs *fs, uint64_t ino, int pid);
/*
 * The attributes of inode ino as the requester sees them: through handle fh
 * (NULL if none) or, without one, as process pid (0 if unknown).  A handle
 * that holds uncommitted writes, and the process that opened it, see its
 * buffer's size; everyone else sees the committed version, so a reader's
 * page-cache reads are never cut to a half-written size.  *unsettled when
 * some writer holds changes: the kernel must then not keep the answer.
 */
int fs_file_getattr(hdb_fs *fs, uint64_t ino, const fs_fh *fh, int pid, struct stat *out, bool *unsettled);
/*
 * Commits fh's buffer if it has uncommitted changes (flush, fsync).  closer
 * is the closing thread's id (fuse_ctx pid), or 0 for fsync.  A close by
 * another process than the opener (a child that inherited the descriptor)
 * commits only valid content and otherwise leaves the buffer for the
 * opener's close, without an error.
 */
int fs_file_commit(hdb_fs *fs, fs_fh *fh, int closer);
void fs_file_release(hdb_fs *fs, fs_fh *fh);
/* Validates content for a file named name (documents must be JSON);
 * logs and returns -EINVAL when invalid. */
int fs_file_validate(hdb_fs *fs, uint64_t parent, const char *name, const void *data, size_t len);

#endif
