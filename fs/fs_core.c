/*
 * fs_core.c — the fs's life cycle, its transactions (one engine batch plus
 * the superblock per change), and small helpers shared by the operations.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs_dir.h"
#include "fs_internal.h"
#include "qindex.h"
#include "tables.h"
#include "errors.h"

void hdb_fs_opts_init(hdb_fs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_doc_size = 64u << 20;
	o->owner_uid = (uint32_t)getuid();
	o->owner_gid = (uint32_t)getgid();
}

hdb_fs_ts hdb_fs_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (hdb_fs_ts){ .sec = ts.tv_sec, .nsec = (uint32_t)ts.tv_nsec };
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void hdb_fs_log(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fuse_log(FUSE_LOG_ERR, "hybriddb: %s\n", msg);
}

int hdb_fs_errno(int rc)
{
	if (rc >= 0)
		return 0;
	switch (rc) {
	case HDB_ENOTFOUND:
		return ENOENT;
	case HDB_ECORRUPT:
		hdb_fs_log("corruption: %s", hdb_errdetail());
		return EIO;
	case HDB_ECLOSED:
	case HDB_ELOCKED:
	case HDB_EVERSION:
	case HDB_ENOTDB:
		hdb_fs_log("engine: %s", hdb_strerror(rc));
		return EIO;
	default:
		return rc > -4096 ? -rc : EIO;
	}
}

void hdb_fs_attr_to_stat(const hdb_fs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	/* Directories report 1 like btrfs: "unknown", so tools such as find do
	 * not take nlink - 2 as a subdirectory count. */
	st->st_nlink = 1;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_atim.tv_sec = a->atime.sec;
	st->st_atim.tv_nsec = a->atime.nsec;
	st->st_mtim.tv_sec = a->mtime.sec;
	st->st_mtim.tv_nsec = a->mtime.nsec;
	st->st_ctim.tv_sec = a->ctime.sec;
	st->st_ctim.tv_nsec = a->ctime.nsec;
}

void hdb_fs_stat(const hdb_inode *ino, struct stat *st)
{
	hdb_fs_attr_to_stat(&ino->x->attr, st);
	if (ino->unlinked)
		st->st_nlink = 0;
}

int hdb_fs_path(hdb_fs *fs, uint64_t parent, const char *name, char *out, size_t cap)
{
	/* Every ancestor of an inode the kernel knows is itself referenced by
	 * the kernel's dentries, so the walk stays inside the table. */
	const char *parts[256];
	int n = 0;
	size_t len = 0;
	if (!cap)
		return -ENAMETOOLONG;
	hdb_itable_lock(fs->itab);
	while (parent && parent != HDB_FS_ROOT_INO && n < 256) {
		hdb_inode *i = hdb_itable_get(fs->itab, parent);
		if (!i)
			break;
		parts[n++] = hdb_inode_name(i);
		parent = i->parent;
	}
	out[0] = 0;
	while (n-- > 0 && len < cap)
		len += (size_t)snprintf(out + len, cap - len, "/%s", parts[n]);
	if (len < cap)
		snprintf(out + len, cap - len, "/%s", name);
	hdb_itable_unlock(fs->itab);
	return 0;
}

void fs_notify_inval_inode(hdb_fs *fs, uint64_t ino)
{
	if (fs->kernel.inval_inode)
		fs->kernel.inval_inode(fs->kernel.ctx, ino, 0, 0);
}

void fs_notify_inval_attr(hdb_fs *fs, uint64_t ino)
{
	if (fs->kernel.inval_inode)
		fs->kernel.inval_inode(fs->kernel.ctx, ino, -1, 0);
}

void fs_mark_kernel_cached(hdb_fs *fs, uint64_t ino)
{
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	if (i && i->x)
		i->x->kcached = true; /* an idle inode counts as cached anyway */
	hdb_itable_unlock(fs->itab);
}

bool fs_unsettled(hdb_fs *fs, uint64_t ino)
{
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	bool r = i && i->x && i->x->ndirty;
	hdb_itable_unlock(fs->itab);
	return r;
}

void fs_content_changed(hdb_fs *fs, uint64_t ino)
{
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	bool cached = i && (!i->x || i->x->kcached);
	if (i && i->x) {
		i->x->cgen++;
		i->x->kcached = false;
	}
	hdb_itable_unlock(fs->itab);
	if (cached)
		fs_notify_inval_inode(fs, ino);
}

void fs_notify_inval_entry(hdb_fs *fs, uint64_t parent, const char *name, size_t nlen)
{
	if (fs->kernel.inval_entry)
		fs->kernel.inval_entry(fs->kernel.ctx, parent, name, nlen);
}

void fs_set_kernel(hdb_fs *fs, const fs_kernel *k)
{
	fs->kernel = k ? *k : (fs_kernel){ 0 };
}

void fs_handle_add(hdb_fs *fs, fs_hlink *list, fs_hlink *l)
{
	pthread_mutex_lock(&fs->handles_mu);
	l->next = list->next;
	l->prev = list;
	list->next->prev = l;
	list->next = l;
	pthread_mutex_unlock(&fs->handles_mu);
}

void fs_handle_remove(hdb_fs *fs, fs_hlink *l)
{
	pthread_mutex_lock(&fs->handles_mu);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
	pthread_mutex_unlock(&fs->handles_mu);
}

/* The first handle left in list, or NULL. */
static fs_hlink *first_handle(hdb_fs *fs, fs_hlink *list)
{
	pthread_mutex_lock(&fs->handles_mu);
	fs_hlink *l = list->next == list ? NULL : list->next;
	pthread_mutex_unlock(&fs->handles_mu);
	return l;
}

/* ---- transactions ---- */

/* The fs whose commit_mu this thread holds (between fs_txn_begin and
 * fs_txn_end), for fs_read_idle. */
static _Thread_local hdb_fs *txn_fs;

int fs_txn_begin(hdb_fs *fs, fs_txn *t)
{
	memset(t, 0, sizeof(*t));
	t->b = hdb_batch_new();
	if (!t->b)
		return -ENOMEM;
	pthread_mutex_lock(&fs->commit_mu);
	txn_fs = fs;
	t->sb = fs->sb;
	return 0;
}

int fs_txn_put_entry(fs_txn *t, uint64_t parent, const char *name, size_t nlen, const hdb_fs_attr *a)
{
	uint8_t key[HDB_FS_KEY_MAX], val[HDB_FS_ENTRY_SIZE];
	size_t klen = hdb_fs_entry_key(key, parent, name, nlen);
	if (!klen)
		return -ENAMETOOLONG;
	hdb_fs_attr_encode(val, a);
	return hdb_batch_put(t->b, key, klen, val, sizeof(val));
}

int fs_txn_del_entry(fs_txn *t, uint64_t parent, const char *name, size_t nlen)
{
	uint8_t key[HDB_FS_KEY_MAX];
	size_t klen = hdb_fs_entry_key(key, parent, name, nlen);
	if (!klen)
		return -ENAMETOOLONG;
	return hdb_batch_delete(t->b, key, klen);
}

int fs_txn_put_data(fs_txn *t, uint64_t ino, const void *data, size_t len)
{
	uint8_t key[HDB_FS_KEY_PREFIX];
	size_t klen = hdb_fs_data_key(key, ino);
	if (!len)
		return hdb_batch_delete(t->b, key, klen);
	return hdb_batch_put(t->b, key, klen, data, len);
}

int fs_txn_del_data(fs_txn *t, uint64_t ino)
{
	uint8_t key[HDB_FS_KEY_PREFIX];
	return hdb_batch_delete(t->b, key, hdb_fs_data_key(key, ino));
}

int fs_txn_put_pending(fs_txn *t, uint64_t ino, uint64_t parent, const char *name, size_t nlen)
{
	uint8_t key[HDB_FS_KEY_PREFIX], val[HDB_FS_KEY_MAX];
	size_t vlen = hdb_fs_entry_key(val, parent, name, nlen);
	if (!vlen)
		return -ENAMETOOLONG;
	return hdb_batch_put(t->b, key, hdb_fs_ino_key(key, HDB_FS_TAG_PENDING, ino), val, vlen);
}

int fs_txn_del_pending(fs_txn *t, uint64_t ino)
{
	uint8_t key[HDB_FS_KEY_PREFIX];
	return hdb_batch_delete(t->b, key, hdb_fs_ino_key(key, HDB_FS_TAG_PENDING, ino));
}

int fs_txn_put_orphan(fs_txn *t, uint64_t ino)
{
	uint8_t key[HDB_FS_KEY_PREFIX];
	return hdb_batch_put(t->b, key, hdb_fs_ino_key(key, HDB_FS_TAG_ORPHAN, ino), "", 0);
}

int fs_txn_del_orphan(fs_txn *t, uint64_t ino)
{
	uint8_t key[HDB_FS_KEY_PREFIX];
	int rc = hdb_batch_delete(t->b, key, hdb_fs_ino_key(key, HDB_FS_TAG_ORPHAN, ino));
	return rc ? rc : fs_txn_del_data(t, ino);
}

void fs_txn_upd(fs_txn *t, uint64_t ino, unsigned mask, const hdb_fs_attr *a, uint64_t dsize)
{
	/* A change touches at most two directories and two inodes. */
	if (t->nupd >= FS_TXN_MAX_UPD)
		abort();
	t->upd[t->nupd++] = (fs_upd){ .ino = ino, .mask = mask, .attr = *a, .dsize = dsize };
}

int fs_txn_touch_dir(hdb_fs *fs, fs_txn *t, uint64_t dir, hdb_fs_ts now)
{
	fs_snap s;
	int rc = fs_snap_inode(fs, dir, &s);
	if (!rc && s.unlinked)
		rc = -ENOENT;
	if (rc)
		return rc;
	/* A change already queued for this directory in the same txn (rename
	 * within one directory) must not be written twice. */
	for (int k = 0; k < t->nupd; k++)
		if (t->upd[k].ino == dir)
			return 0;
	s.attr.mtime = s.attr.ctime = now;
	rc = fs_txn_put_entry(t, s.parent, s.name, s.nlen, &s.attr);
	if (!rc)
		fs_txn_upd(t, dir, FS_UPD_MTIME | FS_UPD_CTIME, &s.attr, 0);
	return rc;
}

static void apply_upd(hdb_inode_ext *i, const fs_upd *u)
{
	if (u->mask & FS_UPD_MODE)
		i->attr.mode = u->attr.mode;
	if (u->mask & FS_UPD_UID)
		i->attr.uid = u->attr.uid;
	if (u->mask & FS_UPD_GID)
		i->attr.gid = u->attr.gid;
	if (u->mask & FS_UPD_SIZE)
		i->attr.size = u->attr.size;
	if (u->mask & FS_UPD_ATIME)
		i->attr.atime = u->attr.atime;
	if (u->mask & FS_UPD_MTIME)
		i->attr.mtime = u->attr.mtime;
	if (u->mask & FS_UPD_CTIME)
		i->attr.ctime = u->attr.ctime;
	if (u->mask & FS_UPD_DSIZE)
		i->dsize = u->dsize;
	if (u->mask & FS_UPD_UNPEND)
		i->pending = false;
}

int fs_txn_write(hdb_fs *fs, fs_txn *t)
{
	if (fs->opt.read_only)
		return -EROFS;
	if (t->sb_dirty) {
		uint8_t val[HDB_FS_SUPER_SIZE];
		hdb_fs_super_encode(val, &t->sb);
		int rc = hdb_batch_put(t->b, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, val, sizeof(val));
		if (rc)
			return rc;
	}
	if (hdb_batch_count(t->b)) {
		int rc = hdb_write(fs->db, t->b, false);
		if (rc)
			return rc;
	}
	fs->sb = t->sb;
	/* The change is in the engine; until fs_txn_end the table catches up
	 * (attributes here, names and removals in the caller), and readers of
	 * idle inodes wait for that (fs_read_idle). */
	hdb_itable_lock(fs->itab);
	hdb_itable_change_begin(fs->itab);
	for (int k = 0; k < t->nupd; k++) {
		hdb_inode *i = hdb_itable_get(fs->itab, t->upd[k].ino);
		if (i && i->x) /* an idle inode's attributes are the stored ones */
			apply_upd(i->x, &t->upd[k]);
	}
	hdb_itable_unlock(fs->itab);
	return 0;
}

int fs_txn_end(hdb_fs *fs, fs_txn *t, int rc, bool durable)
{
	bool wrote = hdb_batch_count(t->b) > 0;
	hdb_itable_lock(fs->itab);
	hdb_itable_change_end(fs->itab);
	hdb_itable_unlock(fs->itab);
	txn_fs = NULL;
	pthread_mutex_unlock(&fs->commit_mu);
	hdb_batch_free(t->b);
	t->b = NULL;
	if (!rc && wrote && (durable || fs->opt.sync_always))
		rc = hdb_sync(fs->db);
	return rc;
}

/* Tries of fs_read_idle before it holds commit_mu for its read. */
#define FS_READ_IDLE_TRIES 4

/*
 * The epoch turns odd once a change is in the engine and even again once
 * the table reflects it (fs_txn_write, fs_txn_end).  A read is kept when
 * the epoch was even and did not move: no change caught the table up in
 * between.  A change written but not yet catching up is invisible to the
 * epoch; it can only make the entry look moved or gone (a rename, an
 * unlink), which is retried in step with changes; its attribute changes
 * reach an x installed meanwhile through fs_txn_write's apply.
 */
int fs_read_idle(hdb_fs *fs, uint64_t ino, hdb_inode **out, hdb_fs_attr *a)
{
	/* A caller inside a change (holding commit_mu) reads what its own
	 * change left, and nobody else's can run: no retries. */
	bool serial = txn_fs == fs, locked = false;
	int rc;
	for (int tries = 0;; tries++) {
		hdb_inode *i = hdb_itable_get(fs->itab, ino);
		if (!i || i->x) {
			*out = i;
			rc = i ? 0 : -ENOENT;
			if (i)
				*a = i->x->attr;
			break;
		}
		uint64_t epoch = hdb_itable_epoch(fs->itab), parent = i->parent;
		size_t nlen = i->nlen;
		char name[HDB_FS_NAME_MAX + 1];
		memcpy(name, hdb_inode_name(i), nlen + 1);
		hdb_itable_unlock(fs->itab);
		/* A change catching the table up, or several that got in the
		 * way: wait for commit_mu, which the change holds until done. */
		if (!serial && ((epoch & 1) || tries == FS_READ_IDLE_TRIES)) {
			pthread_mutex_lock(&fs->commit_mu);
			serial = locked = true;
			hdb_itable_lock(fs->itab);
			continue;
		}
		rc = fs_read_entry(fs, parent, name, nlen, a);
		hdb_itable_lock(fs->itab);
		if (!serial && hdb_itable_epoch(fs->itab) != epoch)
			continue;
		*out = hdb_itable_get(fs->itab, ino);
		if (!*out) {
			rc = -ENOENT;
			break;
		}
		bool agree = !rc && a->ino == ino;
		if (!agree && !serial && (!rc || rc == -ENOENT)) {
			hdb_itable_unlock(fs->itab);
			pthread_mutex_lock(&fs->commit_mu);
			serial = locked = true;
			hdb_itable_lock(fs->itab);
			continue;
		}
		if (!rc && !agree)
			rc = -EIO; /* the table and the entries disagree */
		break;
	}
	if (locked)
		pthread_mutex_unlock(&fs->commit_mu);
	return rc;
}

int fs_refresh_idle(hdb_fs *fs, uint64_t epoch, hdb_fs_attr *a, hdb_inode **out)
{
	hdb_inode *i = hdb_itable_get(fs->itab, a->ino);
	*out = i;
	if (!i || i->x || (!(epoch & 1) && epoch == hdb_itable_epoch(fs->itab)))
		return 0;
	hdb_fs_attr now;
	int rc = fs_read_idle(fs, a->ino, out, &now);
	if (!rc)
		*a = now;
	return *out ? rc : 0; /* forgotten meanwhile: as read */
}

int fs_inode_get_loaded(hdb_fs *fs, uint64_t ino, hdb_inode **out)
{
	hdb_fs_attr a;
	int rc = fs_read_idle(fs, ino, out, &a);
	if (!rc)
		rc = hdb_inode_load(fs->itab, *out, &a, NULL);
	return rc;
}

int fs_snap_inode(hdb_fs *fs, uint64_t ino, fs_snap *s)
{
	hdb_inode *i;
	hdb_itable_lock(fs->itab);
	int rc = fs_read_idle(fs, ino, &i, &s->attr);
	if (!rc) {
		s->dsize = i->x ? i->x->dsize : s->attr.size;
		s->pending = i->x && i->x->pending;
		s->parent = i->parent;
		s->nlen = i->nlen;
		memcpy(s->name, hdb_inode_name(i), i->nlen + 1);
		s->unlinked = i->unlinked;
	}
	hdb_itable_unlock(fs->itab);
	return rc;
}

/* ---- reads ---- */

int fs_read_entry(hdb_fs *fs, uint64_t parent, const char *name, size_t nlen, hdb_fs_attr *a)
{
	uint8_t key[HDB_FS_KEY_MAX];
	size_t klen = hdb_fs_entry_key(key, parent, name, nlen);
	if (!klen)
		return -ENAMETOOLONG;
	void *val;
	size_t vlen;
	int rc = hdb_get(fs->db, NULL, key, klen, &val, &vlen);
	if (rc == HDB_ENOTFOUND)
		return -ENOENT;
	if (rc)
		return rc;
	rc = hdb_fs_attr_decode(val, vlen, a);
	free(val);
	return rc;
}

int fs_read_data(hdb_fs *fs, uint64_t ino, void **data, size_t *len)
{
	uint8_t key[HDB_FS_KEY_PREFIX];
	int rc = hdb_get(fs->db, NULL, key, hdb_fs_data_key(key, ino), data, len);
	if (rc == HDB_ENOTFOUND) {
		*data = NULL;
		*len = 0;
		return 0;
	}
	if (!rc && !*len) {
		free(*data);
		*data = NULL;
	}
	return rc;
}

/* ---- life cycle ---- */

static int db_is_empty(hdb_db *db, bool *empty)
{
	hdb_iter *it;
	int rc = hdb_iter_new(db, NULL, &it);
	if (rc)
		return rc;
	hdb_iter_seek_first(it);
	*empty = !hdb_iter_valid(it);
	rc = hdb_iter_status(it);
	hdb_iter_free(it);
	return rc;
}

/* Writes the superblock and the root entry of a new file system (or, read
 * only, just sets them up in memory). */
static int init_fresh(hdb_fs *fs, hdb_fs_attr *root)
{
	hdb_fs_ts now = hdb_fs_now();
	fs->sb = (hdb_fs_super){ .version = HDB_FS_VERSION, .next_ino = HDB_FS_FIRST_INO };
	*root = (hdb_fs_attr){
		.ino = HDB_FS_ROOT_INO, .mode = S_IFDIR | 0755,
		.uid = fs->opt.owner_uid, .gid = fs->opt.owner_gid,
		.atime = now, .mtime = now, .ctime = now,
	};
	if (fs->opt.read_only)
		return 0;
	fs_txn t;
	int rc = fs_txn_begin(fs, &t);
	if (rc)
		return rc;
	t.sb_dirty = true;
	rc = fs_txn_put_entry(&t, 0, "", 0, root);
	if (!rc)
		rc = fs_txn_write(fs, &t);
	return fs_txn_end(fs, &t, rc, true);
}

static int load_root(hdb_fs *fs, hdb_fs_attr *root)
{
	int rc = fs_read_entry(fs, 0, "", 0, root);
	if (rc == -ENOENT) {
		hdb_set_errdetail("fs root entry is missing");
		return HDB_ECORRUPT;
	}
	if (!rc && (root->ino != HDB_FS_ROOT_INO || !S_ISDIR(root->mode))) {
		hdb_set_errdetail("fs root entry is not directory 1");
		return HDB_ECORRUPT;
	}
	return rc;
}

static uint64_t dec_sat(uint64_t v, uint64_t by)
{
	return v > by ? v - by : 0;
}

/* What recover's scans add their changes to. */
struct recovery {
	hdb_fs *fs;
	fs_txn *t;
};

/* Adds the removal of pending record (k, v) to the recovery's batch: the
 * document it names goes too when it is still the one created.  Returns 1
 * when removed. */
static int drop_pending(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct recovery *r = ctx;
	hdb_fs *fs = r->fs;
	fs_txn *t = r->t;
	uint64_t ino, parent;
	const uint8_t *name;
	size_t nlen;
	void *val;
	size_t len;
	hdb_fs_attr a;
	int rc = hdb_fs_ino_key_decode(k, kl, HDB_FS_TAG_PENDING, &ino);
	if (!rc)
		rc = hdb_batch_delete(t->b, k, kl);
	if (rc || hdb_fs_entry_key_decode(v, vl, &parent, &name, &nlen))
		return rc;
	rc = hdb_get(fs->db, NULL, v, vl, &val, &len);
	if (rc == HDB_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	rc = hdb_fs_attr_decode(val, len, &a);
	free(val);
	if (rc || a.ino != ino || !S_ISREG(a.mode))
		return rc;
	rc = hdb_batch_delete(t->b, v, vl);
	if (!rc)
		rc = fs_txn_del_data(t, ino);
	t->sb.files = dec_sat(t->sb.files, 1);
	if (hdb_fs_is_doc_name((const char *)name, nlen))
		t->sb.docs = dec_sat(t->sb.docs, 1);
	t->sb.bytes = dec_sat(t->sb.bytes, a.size);
	t->sb_dirty = true;
	return rc ? rc : 1;
}

/* Adds the deletion of orphan record k and its content to the batch. */
static int drop_orphan(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct recovery *r = ctx;
	uint64_t ino;
	(void)v;
	(void)vl;
	int rc = hdb_fs_ino_key_decode(k, kl, HDB_FS_TAG_ORPHAN, &ino);
	return rc ? rc : fs_txn_del_orphan(r->t, ino);
}

/* An iterator over [lower, upper), both len bytes, read as flags say. */
static int range_iter(hdb_db *db, const uint8_t *lower, const uint8_t *upper, size_t len, unsigned flags,
                      hdb_iter **it)
{
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.lower = lower;
	ro.lower_len = len;
	ro.upper = upper;
	ro.upper_len = len;
	if (flags & FS_SCAN_NO_CACHE)
		ro.fill_cache = false;
	if (flags & FS_SCAN_VERIFY)
		ro.verify = true;
	return hdb_iter_new(db, &ro, it); /* the iterator copies the bounds */
}

int fs_dir_iter(hdb_db *db, uint64_t dir, unsigned flags, hdb_iter **it)
{
	uint8_t lower[HDB_FS_KEY_PREFIX], upper[HDB_FS_KEY_PREFIX];
	hdb_fs_dir_bounds(lower, upper, dir);
	return range_iter(db, lower, upper, sizeof(lower), flags, it);
}

int fs_scan_db(hdb_db *db, unsigned flags, uint8_t tag, fs_scan_fn fn, void *ctx, int *counted)
{
	uint8_t lower[1] = { tag }, upper[1] = { (uint8_t)(tag + 1) };
	hdb_iter *it;
	int rc = range_iter(db, lower, upper, 1, flags, &it);
	if (rc)
		return rc;
	for (hdb_iter_seek(it, lower, 1); !rc && hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = hdb_iter_key(it, &kl), *v = hdb_iter_value(it, &vl);
		rc = fn(ctx, k, kl, v, vl);
		if (rc > 0) {
			if (counted)
				(*counted)++;
			rc = 0;
		}
	}
	if (!rc)
		rc = hdb_iter_status(it);
	hdb_iter_free(it);
	return rc;
}

int fs_scan_tag(hdb_fs *fs, uint8_t tag, fs_scan_fn fn, void *ctx, int *counted)
{
	return fs_scan_db(fs->db, 0, tag, fn, ctx, counted);
}

/* Finishes what a crash interrupted: documents whose creating open never
 * finished go, and so does the content of orphans (fs_format.h).  When
 * those records cannot be read, nothing is changed and the mount serves
 * read-only. */
static int recover(hdb_fs *fs)
{
	fs_txn t;
	int removed = 0, orphans = 0;
	int rc = fs_txn_begin(fs, &t);
	if (rc)
		return rc;
	struct recovery r = { .fs = fs, .t = &t };
	rc = fs_scan_tag(fs, HDB_FS_TAG_PENDING, drop_pending, &r, &removed);
	if (!rc)
		rc = fs_scan_tag(fs, HDB_FS_TAG_ORPHAN, drop_orphan, &r, &orphans);
	if (!rc)
		rc = fs_txn_write(fs, &t);
	rc = fs_txn_end(fs, &t, rc, true);
	if (rc == HDB_ECORRUPT) {
		fs_degrade_read_only(fs, "pending and orphan records");
		return 0;
	}
	if (!rc && removed)
		hdb_fs_log("removed %d document(s) created but never closed before the last stop", removed);
	return rc;
}

void fs_degrade_read_only(hdb_fs *fs, const char *what)
{
	hdb_fs_log("corruption: %s cannot be read (%s); serving read-only", what, hdb_errdetail());
	fs->opt.read_only = true;
}

/* The superblock from the other keys (recount.c), when its own key fails
 * its checksum.  A recount that cannot read every entry leaves counters
 * that a write would carry forward: the mount serves read-only then. */
static int recount(hdb_fs *fs)
{
	hdb_fs_log("corruption: the superblock cannot be read (%s); recounting it from the entries",
	           hdb_errdetail());
	int rc = fs_recount_super(fs, &fs->sb);
	if (rc == HDB_ECORRUPT) {
		fs_degrade_read_only(fs, "entries needed to recount the superblock");
		return 0;
	}
	if (!rc)
		hdb_fs_log("recounted: %" PRIu64 " documents, %" PRIu64 " collections, %" PRIu64
		           " files, %" PRIu64 " bytes, next inode %" PRIu64 ", version %" PRIu32,
		           fs->sb.docs, fs->sb.dirs, fs->sb.files, fs->sb.bytes, fs->sb.next_ino, fs->sb.version);
	return rc;
}

static int load_or_init(hdb_fs *fs, hdb_fs_attr *root)
{
	void *val;
	size_t vlen;
	int rc = hdb_get(fs->db, NULL, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, &val, &vlen);
	if (!rc || rc == HDB_ECORRUPT) {
		if (!rc) {
			rc = hdb_fs_super_decode(val, vlen, &fs->sb);
			free(val);
		} else {
			rc = recount(fs);
		}
		if (!rc)
			rc = load_root(fs, root);
		if (!rc && !fs->opt.read_only)
			rc = recover(fs);
		return rc;
	}
	if (rc != HDB_ENOTFOUND)
		return rc;
	bool empty;
	rc = db_is_empty(fs->db, &empty);
	if (rc)
		return rc;
	if (!empty) {
		hdb_set_errdetail("the database holds keys but no file system superblock");
		return HDB_ENOTDB;
	}
	return init_fresh(fs, root);
}

int hdb_fs_new(hdb_db *db, const hdb_fs_opts *o, hdb_fs **out)
{
	hdb_fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->db = db;
	if (o)
		fs->opt = *o;
	else
		hdb_fs_opts_init(&fs->opt);
	if (!fs->opt.max_doc_size)
		fs->opt.max_doc_size = 64u << 20;
	fs->started_ms = monotonic_ms();
	fs->mounted_at = hdb_fs_now();
	pthread_mutex_init(&fs->commit_mu, NULL);
	pthread_mutex_init(&fs->handles_mu, NULL);
	fs->files.prev = fs->files.next = &fs->files;
	fs->dirs.prev = fs->dirs.next = &fs->dirs;
	int rc = hdb_itable_new(&fs->itab);
	if (rc)
		goto fail;
	hdb_fs_attr root;
	rc = load_or_init(fs, &root);
	if (rc)
		goto fail;
	hdb_inode *ri;
	hdb_itable_lock(fs->itab);
	rc = hdb_itable_ref(fs->itab, 0, "", 0, &root, 1, true, &ri);
	if (!rc)
		ri->pinned = true;
	hdb_itable_unlock(fs->itab);
	if (!rc)
		rc = fs_park_new(fs);
	if (!rc)
		rc = fs_tables_new(fs);
	if (!rc)
		rc = fs_query_new(fs);
	if (rc)
		goto fail;
	*out = fs;
	return 0;
fail:
	hdb_fs_free(fs);
	return rc;
}

void hdb_fs_free(hdb_fs *fs)
{
	if (!fs)
		return;
	fs_park_free(fs); /* empty: hdb_fs_set_session(fs, NULL) answered them */
	/* Handles the kernel never released (the daemon was told to stop with
	 * files open): released as if closed, committing what is valid. */
	fs_hlink *l;
	while ((l = first_handle(fs, &fs->files)))
		fs_file_release(fs, (fs_fh *)l);
	while ((l = first_handle(fs, &fs->dirs)))
		fs_dir_release(fs, (fs_dh *)l);
	fs_query_free(fs);
	fs_tables_free(fs);
	hdb_itable_free(fs->itab);
	pthread_mutex_destroy(&fs->commit_mu);
	pthread_mutex_destroy(&fs->handles_mu);
	free(fs);
}

static int session_store(void *se, uint64_t ino, const void *data, size_t len)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	bv.buf[0].mem = (void *)data;
	return fuse_lowlevel_notify_store(se, ino, 0, &bv, 0);
}

static void session_inval_inode(void *se, uint64_t ino, int64_t off, int64_t len)
{
	fuse_lowlevel_notify_inval_inode(se, ino, off, len);
}

static void session_inval_entry(void *se, uint64_t parent, const char *name, size_t nlen)
{
	fuse_lowlevel_notify_inval_entry(se, parent, name, nlen);
}

void hdb_fs_set_session(hdb_fs *fs, struct fuse_session *se)
{
	if (!se)
		fs_park_stop(fs); /* its replies go to the session still */
	fs_kernel k = { session_store, session_inval_inode, session_inval_entry, se };
	fs_set_kernel(fs, se ? &k : NULL);
}

/* ---- /.stats ---- */

int hdb_fs_stats_json(hdb_fs *fs, char **json)
{
	char *engine = NULL, *buf = NULL;
	size_t len = 0;
	int rc = hdb_stats_json(fs->db, &engine);
	if (rc)
		return rc;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		free(engine);
		return -ENOMEM;
	}
	pthread_mutex_lock(&fs->commit_mu);
	hdb_fs_super sb = fs->sb;
	pthread_mutex_unlock(&fs->commit_mu);
	hdb_itable_lock(fs->itab);
	size_t cached = hdb_itable_count(fs->itab), loaded = hdb_itable_loaded(fs->itab);
	hdb_itable_unlock(fs->itab);

	fprintf(f, "{\"documents\":%" PRIu64 ",\"collections\":%" PRIu64 ",\"files\":%" PRIu64
	           ",\"symlinks\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"next_inode\":%" PRIu64
	           ",\"inodes_cached\":%zu,\"inodes_loaded\":%zu,\"uptime_ms\":%" PRIu64 ",\"ops\":{",
	        sb.docs, sb.dirs, sb.files, sb.symlinks, sb.bytes, sb.next_ino, cached, loaded,
	        monotonic_ms() - fs->started_ms);
	const char *sep = "";
#define X(name)                                                                                    \
	fprintf(f, "%s\"" #name "\":%" PRIuFAST64, sep,                                            \
	        (uint_fast64_t)atomic_load_explicit(&fs->cnt.name, memory_order_relaxed));         \
	sep = ",";
	HDB_FS_COUNTERS(X)
#undef X
	fprintf(f, "}");
	fs_query_stats(fs, f);
	fs_tables_stats(fs, f);
	fprintf(f, ",\"engine\":%s}\n", engine);
	free(engine);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*json = buf;
	return 0;
}
