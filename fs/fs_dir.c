/*
 * fs_dir.c — directory listings: one bounded range scan over the
 * directory's entries, resumable at any offset of the previous reply.
 *
 * Offsets: 1 is ".", 2 is "..", 3.. are the root's virtual files, and the
 * stored entries count up from FS_DIR_FIRST_OFF in the order of the walk.
 * A handle remembers the names it returned last, so the kernel's next
 * request (at the offset of any entry it consumed) resumes with a seek
 * just past that name: entries removed meanwhile do not shift the rest,
 * which is what `rm -r` needs.  An offset from further back (seekdir)
 * falls back to counting entries from the start.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>

#include "fs_dir.h"
#include "vfiles.h"

#define FS_DIR_FIRST_OFF 16

struct fs_dh {
	fs_hlink link;       /* in fs->dirs; first member */
	pthread_mutex_t mu; /* guards everything below */
	uint64_t ino;
	uint64_t parent;    /* for ".." */
	char **names;       /* entries of the last reply with stored entries */
	off_t *offs;
	size_t n, cap;
};

int fs_dir_open(hdb_fs *fs, uint64_t ino, fs_dh **out)
{
	uint64_t parent = 0;
	int rc = 0;
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	if (!i)
		rc = -ENOENT;
	else if (!S_ISDIR(hdb_inode_type(i)))
		rc = -ENOTDIR;
	else
		parent = i->parent ? i->parent : ino;
	hdb_itable_unlock(fs->itab);
	if (rc)
		return rc;
	fs_dh *dh = calloc(1, sizeof(*dh));
	if (!dh)
		return -ENOMEM;
	pthread_mutex_init(&dh->mu, NULL);
	dh->ino = ino;
	dh->parent = parent;
	fs_handle_add(fs, &fs->dirs, &dh->link);
	*out = dh;
	return 0;
}

static void forget_names(fs_dh *dh)
{
	for (size_t i = 0; i < dh->n; i++)
		free(dh->names[i]);
	dh->n = 0;
}

void fs_dir_release(hdb_fs *fs, fs_dh *dh)
{
	fs_handle_remove(fs, &dh->link);
	forget_names(dh);
	free(dh->names);
	free(dh->offs);
	pthread_mutex_destroy(&dh->mu);
	free(dh);
}

/* One reply being filled. */
struct fill {
	hdb_fs *fs;
	fuse_req_t req;
	fs_dh *dh;
	bool plus;
	char *buf;
	size_t size, len;
	bool full;
	/* stored entries added to this reply (become dh's names) */
	char **names;
	off_t *offs;
	size_t n, cap;
	uint64_t epoch; /* the inode table's when the listing was read */
};

/* Adds one entry; e->ino == 0 means no lookup reference is handed out. */
static bool add(struct fill *f, const char *name, const struct fuse_entry_param *e, off_t off)
{
	size_t room = f->size - f->len, need;
	if (f->plus)
		need = fuse_add_direntry_plus(f->req, f->buf + f->len, room, name, e, off);
	else
		need = fuse_add_direntry(f->req, f->buf + f->len, room, name, &e->attr, off);
	if (need > room) {
		f->full = true;
		return false;
	}
	f->len += need;
	return true;
}

static void add_special(struct fill *f, const char *name, uint64_t ino, mode_t mode, off_t off)
{
	struct fuse_entry_param e = { 0 };
	e.attr.st_ino = ino;
	e.attr.st_mode = mode;
	add(f, name, &e, off);
}

static void add_vfile(struct fill *f, uint64_t ino, off_t off)
{
	struct fuse_entry_param e = { 0 };
	hdb_vfile_stat(f->fs, ino, &e.attr);
	if (f->plus) {
		e.ino = ino;
		e.attr_timeout = e.entry_timeout = FS_CACHE_TIMEOUT;
	}
	add(f, hdb_vfile_name(ino), &e, off);
}

static int remember(struct fill *f, const uint8_t *name, size_t nlen, off_t off)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		char **names = realloc(f->names, cap * sizeof(*names));
		if (!names)
			return -ENOMEM;
		f->names = names;
		off_t *offs = realloc(f->offs, cap * sizeof(*offs));
		if (!offs)
			return -ENOMEM;
		f->offs = offs;
		f->cap = cap;
	}
	char *s = malloc(nlen + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, name, nlen);
	s[nlen] = 0;
	f->names[f->n] = s;
	f->offs[f->n++] = off;
	return 0;
}

/* Adds a stored entry; for readdirplus, takes its lookup reference. */
static int add_stored(struct fill *f, const char *name, size_t nlen, const hdb_fs_attr *a, off_t off)
{
	hdb_fs *fs = f->fs;
	struct fuse_entry_param e = { 0 };
	int rc = 0;
	if (!f->plus) {
		hdb_fs_attr_to_stat(a, &e.attr);
		if (add(f, name, &e, off))
			rc = remember(f, (const uint8_t *)name, nlen, off);
		return rc;
	}
	hdb_fs_attr cur = *a;
	hdb_inode *i;
	hdb_itable_lock(fs->itab);
	rc = fs_refresh_idle(fs, f->epoch, &cur, &i);
	if (rc) {
		hdb_itable_unlock(fs->itab);
		return rc == -ENOENT ? 0 : rc; /* removed meanwhile */
	}
	a = &cur;
	if (i && i->x)
		hdb_fs_stat(i, &e.attr);
	else
		hdb_fs_attr_to_stat(a, &e.attr);
	e.ino = a->ino;
	e.entry_timeout = FS_STORED_TIMEOUT;
	e.attr_timeout = i && i->x && i->x->ndirty ? 0 : FS_STORED_TIMEOUT; /* see fs_file_getattr */
	if (add(f, name, &e, off))
		rc = hdb_itable_ref(fs->itab, f->dh->ino, name, nlen, a, 1, false, NULL);
	hdb_itable_unlock(fs->itab);
	if (!rc && !f->full)
		rc = remember(f, (const uint8_t *)name, nlen, off);
	return rc;
}

/* Positions it at the first stored entry after offset off; *next gets the
 * offset of that entry. */
static int seek_after(fs_dh *dh, hdb_iter *it, off_t off, off_t *next)
{
	if (off < FS_DIR_FIRST_OFF) {
		hdb_iter_seek_first(it);
		*next = FS_DIR_FIRST_OFF;
		return 0;
	}
	*next = off + 1;
	for (size_t k = 0; k < dh->n; k++) {
		if (dh->offs[k] != off)
			continue;
		uint8_t key[HDB_FS_KEY_MAX];
		size_t nlen = strlen(dh->names[k]);
		size_t klen = hdb_fs_entry_key(key, dh->ino, dh->names[k], nlen);
		hdb_iter_seek(it, key, klen);
		size_t cur;
		if (hdb_iter_valid(it)) {
			const void *ck = hdb_iter_key(it, &cur);
			if (cur == klen && !memcmp(ck, key, klen))
				hdb_iter_next(it);
		}
		return hdb_iter_status(it);
	}
	hdb_iter_seek_first(it);
	for (off_t skip = FS_DIR_FIRST_OFF; skip <= off && hdb_iter_valid(it); skip++)
		hdb_iter_next(it);
	return hdb_iter_status(it);
}

static int fill_stored(struct fill *f, off_t off)
{
	hdb_iter *it;
	hdb_itable_lock(f->fs->itab);
	f->epoch = hdb_itable_epoch(f->fs->itab);
	hdb_itable_unlock(f->fs->itab);
	int rc = fs_dir_iter(f->fs->db, f->dh->ino, 0, &it);
	if (rc)
		return rc;
	off_t next;
	rc = seek_after(f->dh, it, off, &next);
	for (; !rc && !f->full && hdb_iter_valid(it); hdb_iter_next(it), next++) {
		size_t klen, vlen, nlen;
		const uint8_t *key = hdb_iter_key(it, &klen), *val = hdb_iter_value(it, &vlen), *name;
		uint64_t parent;
		hdb_fs_attr a;
		char cname[HDB_FS_NAME_MAX + 1];
		rc = hdb_fs_entry_key_decode(key, klen, &parent, &name, &nlen);
		if (!rc)
			rc = hdb_fs_attr_decode(val, vlen, &a);
		if (rc)
			break;
		memcpy(cname, name, nlen);
		cname[nlen] = 0;
		rc = add_stored(f, cname, nlen, &a, next);
	}
	if (!rc)
		rc = hdb_iter_status(it);
	hdb_iter_free(it);
	return rc;
}

int fs_dir_fill(hdb_fs *fs, void *req, fs_dh *dh, size_t size, off_t off, bool plus, char **buf, size_t *len)
{
	struct fill f = { .fs = fs, .req = req, .dh = dh, .plus = plus, .size = size };
	f.buf = malloc(size ? size : 1);
	if (!f.buf)
		return -ENOMEM;
	pthread_mutex_lock(&dh->mu);
	if (off < 1)
		add_special(&f, ".", dh->ino, S_IFDIR, 1);
	if (off < 2 && !f.full)
		add_special(&f, "..", dh->parent, S_IFDIR, 2);
	for (size_t k = 0; dh->ino == HDB_FS_ROOT_INO && hdb_vfile_at(k) && !f.full; k++)
		if (off < (off_t)(3 + k))
			add_vfile(&f, hdb_vfile_at(k), (off_t)(3 + k));
	int rc = f.full ? 0 : fill_stored(&f, off);
	if (!rc && f.n) {
		forget_names(dh);
		free(dh->names);
		free(dh->offs);
		dh->names = f.names;
		dh->offs = f.offs;
		dh->n = f.n;
		dh->cap = f.cap;
		f.names = NULL;
		f.offs = NULL;
		f.n = 0;
	}
	pthread_mutex_unlock(&dh->mu);
	for (size_t k = 0; k < f.n; k++)
		free(f.names[k]);
	free(f.names);
	free(f.offs);
	if (rc && !f.len) {
		free(f.buf);
		return rc;
	}
	*buf = f.buf;
	*len = f.len;
	return 0;
}
