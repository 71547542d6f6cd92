/*
 * fs_node.c — namespace operations: lookup, create, remove, rename,
 * attributes.  Each change is one transaction (fs_txn_*): its keys and the
 * superblock in one engine batch, then the inode table.
 *
 * The kernel's VFS serializes changes within a directory (it holds the
 * directory's lock across lookup and create/unlink/rename), so reading an
 * entry before taking commit_mu and acting on it afterwards cannot race
 * with another change to the same name.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_internal.h"
#include "qindex.h"
#include "tables.h"
#include "vfiles.h"

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Adds (sign > 0) or removes one node with the given type and name to the
 * superblock's counters. */
static void count_node(hdb_fs_super *sb, uint32_t mode, const char *name, size_t nlen, uint64_t bytes, int sign)
{
	uint64_t *c = S_ISDIR(mode) ? &sb->dirs : S_ISLNK(mode) ? &sb->symlinks : &sb->files;
	*c = sign > 0 ? *c + 1 : sub_sat(*c, 1);
	if (!S_ISREG(mode))
		return;
	if (hdb_fs_is_doc_name(name, nlen))
		sb->docs = sign > 0 ? sb->docs + 1 : sub_sat(sb->docs, 1);
	sb->bytes = sign > 0 ? sb->bytes + bytes : sub_sat(sb->bytes, bytes);
}

/* ENAMETOOLONG for names over the limit; EPERM for the reserved virtual
 * names at the root. */
static int check_new_name(uint64_t parent, const char *name, size_t *nlen)
{
	*nlen = strlen(name);
	if (*nlen > HDB_FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (parent == HDB_FS_ROOT_INO && hdb_vfile_by_name(name))
		return -EPERM;
	return 0;
}

/* The live state of inode a->ino: from the table when the kernel holds it
 * (*held; an idle inode's entry is read again), else from the entry read
 * from disk (*a on input; an inode nobody holds has no creating open).
 * REQUIRES commit_mu, so that what it reads is what the change replaces. */
struct live {
	uint64_t dsize;
	bool pending;
	bool held;
};

static int live_attr(hdb_fs *fs, hdb_fs_attr *a, struct live *l)
{
	hdb_inode *i;
	hdb_fs_attr cur;
	*l = (struct live){ .dsize = a->size };
	hdb_itable_lock(fs->itab);
	int rc = fs_read_idle(fs, a->ino, &i, &cur);
	if (!rc) {
		*a = cur;
		*l = (struct live){
			.dsize = i->x ? i->x->dsize : cur.size, .pending = i->x && i->x->pending, .held = true
		};
	} else if (!i) {
		rc = 0; /* not held */
	}
	hdb_itable_unlock(fs->itab);
	return rc;
}

/* Adds the removal of a file's content to t: deleted at once, or kept as
 * an orphan while the kernel references the inode (an open may be racing
 * with the removal). */
static int remove_content(fs_txn *t, const hdb_fs_attr *a, const struct live *l)
{
	if (S_ISDIR(a->mode))
		return 0;
	int rc = l->held ? fs_txn_put_orphan(t, a->ino) : fs_txn_del_data(t, a->ino);
	if (!rc && l->pending)
		rc = fs_txn_del_pending(t, a->ino);
	return rc;
}

/* REQUIRES commit_mu.  Adds to t what goes with directory dir when rmdir
 * or a rename over it removes it: its indexes and its schema.  After t is
 * written, dir_removed_done, still in the transaction. */
static int dir_removed(hdb_fs *fs, fs_txn *t, uint64_t dir)
{
	int rc = fs_index_on_rmdir(fs, t, dir);
	return rc ? rc : fs_table_on_rmdir(fs, t, dir);
}

static void dir_removed_done(hdb_fs *fs, uint64_t dir)
{
	fs_index_on_rmdir_done(fs, dir);
	fs_table_on_rmdir_done(fs, dir);
}

/* After a committed removal: marks the inode in the table, loaded with
 * its last attributes a (its entry is gone) from *spare, allocated before
 * the commit.  Returns true when the kernel forgot it meanwhile, so its
 * orphan must be reaped now.  REQUIRES commit_mu. */
static bool mark_removed(hdb_fs *fs, const hdb_fs_attr *a, const struct live *l, hdb_inode_ext **spare)
{
	bool orphan = l->held && !S_ISDIR(a->mode);
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, a->ino);
	if (i) {
		hdb_inode_load(fs->itab, i, a, spare); /* cannot fail: *spare */
		i->unlinked = true;
		i->orphan = orphan;
	}
	hdb_itable_unlock(fs->itab);
	return orphan && !i;
}

static int new_spare(hdb_inode_ext **spare)
{
	*spare = malloc(sizeof(**spare));
	return *spare ? 0 : -ENOMEM;
}

static int dir_is_empty(hdb_fs *fs, uint64_t dir, bool *empty)
{
	hdb_iter *it;
	int rc = fs_dir_iter(fs->db, dir, 0, &it);
	if (rc)
		return rc;
	hdb_iter_seek_first(it);
	*empty = !hdb_iter_valid(it);
	rc = hdb_iter_status(it);
	hdb_iter_free(it);
	return rc;
}

static void attr_with_dsize(hdb_fs_attr *disk, const hdb_fs_attr *live, uint64_t dsize)
{
	*disk = *live;
	disk->size = S_ISDIR(live->mode) ? 0 : dsize;
}

int fs_node_lookup(hdb_fs *fs, uint64_t parent, const char *name, struct stat *out)
{
	size_t nlen = strlen(name);
	if (nlen > HDB_FS_NAME_MAX)
		return -ENAMETOOLONG;
	hdb_fs_attr a;
	hdb_itable_lock(fs->itab);
	uint64_t epoch = hdb_itable_epoch(fs->itab);
	hdb_itable_unlock(fs->itab);
	int rc = fs_read_entry(fs, parent, name, nlen, &a);
	if (rc)
		return rc;
	hdb_inode *i;
	hdb_itable_lock(fs->itab);
	rc = fs_refresh_idle(fs, epoch, &a, &i);
	if (!rc)
		rc = hdb_itable_ref(fs->itab, parent, name, nlen, &a, 1, false, &i);
	if (!rc && i->x)
		hdb_fs_stat(i, out);
	else if (!rc)
		hdb_fs_attr_to_stat(&a, out);
	hdb_itable_unlock(fs->itab);
	return rc;
}

int fs_node_getattr(hdb_fs *fs, uint64_t ino, struct stat *out)
{
	hdb_inode *i;
	hdb_fs_attr a;
	hdb_itable_lock(fs->itab);
	int rc = fs_read_idle(fs, ino, &i, &a);
	if (!rc && i->x)
		hdb_fs_stat(i, out);
	else if (!rc)
		hdb_fs_attr_to_stat(&a, out);
	hdb_itable_unlock(fs->itab);
	return rc;
}

/* The attributes of a new node in directory parent (whose attributes are
 * pa), created by ctx: BSD/setgid group inheritance like ext4. */
static void new_attr(hdb_fs *fs, const struct fuse_ctx *ctx, const hdb_fs_attr *pa, mode_t mode,
                     hdb_fs_attr *a)
{
	hdb_fs_ts now = hdb_fs_now();
	*a = (hdb_fs_attr){
		.mode = (uint32_t)mode,
		.uid = ctx ? (uint32_t)ctx->uid : fs->opt.owner_uid,
		.gid = ctx ? (uint32_t)ctx->gid : fs->opt.owner_gid,
		.atime = now, .mtime = now, .ctime = now,
	};
	if (pa->mode & S_ISGID) {
		a->gid = pa->gid;
		if (S_ISDIR(mode))
			a->mode |= S_ISGID;
	}
}

/* REQUIRES commit_mu (inside t).  The parent's attributes, or -ENOENT /
 * -ENOTDIR. */
static int parent_attr(hdb_fs *fs, uint64_t parent, hdb_fs_attr *pa)
{
	int rc = 0;
	hdb_itable_lock(fs->itab);
	hdb_inode *p = hdb_itable_get(fs->itab, parent);
	if (!p || p->unlinked)
		rc = -ENOENT;
	else if (!S_ISDIR(hdb_inode_type(p)))
		rc = -ENOTDIR;
	else
		*pa = p->x->attr; /* directories are always loaded */
	hdb_itable_unlock(fs->itab);
	return rc;
}

int fs_node_make(hdb_fs *fs, const struct fuse_ctx *ctx, uint64_t parent, const char *name, mode_t mode,
                 const char *link, struct stat *out)
{
	size_t nlen;
	int rc = check_new_name(parent, name, &nlen);
	if (rc)
		return rc;
	if (fs->opt.read_only)
		return -EROFS;
	hdb_fs_attr a, pa;
	rc = fs_read_entry(fs, parent, name, nlen, &a);
	if (!rc)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;

	fs_txn t;
	rc = fs_txn_begin(fs, &t);
	if (rc)
		return rc;
	rc = parent_attr(fs, parent, &pa);
	if (rc)
		goto out;
	new_attr(fs, ctx, &pa, mode, &a);
	a.ino = t.sb.next_ino++;
	a.size = link ? strlen(link) : 0;
	bool pending = S_ISREG(a.mode) && hdb_fs_is_doc_name(name, nlen);
	t.sb_dirty = true;
	count_node(&t.sb, a.mode, name, nlen, 0, 1);
	rc = fs_txn_put_entry(&t, parent, name, nlen, &a);
	if (!rc && link)
		rc = fs_txn_put_data(&t, a.ino, link, a.size);
	if (!rc && pending)
		rc = fs_txn_put_pending(&t, a.ino, parent, name, nlen);
	if (!rc)
		rc = fs_txn_touch_dir(fs, &t, parent, a.ctime);
	if (!rc)
		rc = fs_txn_write(fs, &t);
	if (rc)
		goto out;
	hdb_inode *i;
	hdb_itable_lock(fs->itab);
	rc = hdb_itable_ref(fs->itab, parent, name, nlen, &a, 1, pending, &i);
	if (!rc && i->x) {
		i->x->pending = pending;
		i->x->creator = pending && ctx ? ctx->pid : 0;
		i->x->kcached = false; /* new: the kernel has no pages of it */
	}
	if (!rc)
		hdb_fs_attr_to_stat(&a, out);
	hdb_itable_unlock(fs->itab);
out:
	return fs_txn_end(fs, &t, rc, false);
}

int fs_node_unlink(hdb_fs *fs, uint64_t parent, const char *name, bool dir)
{
	size_t nlen;
	int rc = check_new_name(parent, name, &nlen);
	if (rc)
		return rc;
	if (fs->opt.read_only)
		return -EROFS;
	hdb_fs_attr a;
	rc = fs_read_entry(fs, parent, name, nlen, &a);
	if (rc)
		return rc;
	if (dir && !S_ISDIR(a.mode))
		return -ENOTDIR;
	if (!dir && S_ISDIR(a.mode))
		return -EISDIR;
	if (dir) {
		bool empty;
		rc = dir_is_empty(fs, a.ino, &empty);
		if (rc)
			return rc;
		if (!empty)
			return -ENOTEMPTY;
	}

	hdb_inode_ext *spare;
	rc = new_spare(&spare);
	if (rc)
		return rc;
	fs_txn t;
	rc = fs_txn_begin(fs, &t);
	if (rc) {
		free(spare);
		return rc;
	}
	struct live l;
	bool reap = false;
	rc = live_attr(fs, &a, &l);
	t.sb_dirty = true;
	count_node(&t.sb, a.mode, name, nlen, l.dsize, -1);
	if (!rc)
		rc = dir ? dir_removed(fs, &t, a.ino) : fs_index_on_unlink(fs, &t, parent, name, nlen, &a);
	if (!rc)
		rc = fs_txn_del_entry(&t, parent, name, nlen);
	if (!rc)
		rc = remove_content(&t, &a, &l);
	if (!rc)
		rc = fs_txn_touch_dir(fs, &t, parent, hdb_fs_now());
	if (!rc)
		rc = fs_txn_write(fs, &t);
	if (!rc && dir)
		dir_removed_done(fs, a.ino);
	if (!rc)
		reap = mark_removed(fs, &a, &l, &spare);
	rc = fs_txn_end(fs, &t, rc, false);
	free(spare);
	if (reap)
		fs_node_reap_orphan(fs, a.ino);
	return rc;
}

/* A regular file moving from name `from` to a document name must already
 * hold valid JSON: the document rule holds for every committed version. */
static int check_doc_move(hdb_fs *fs, const hdb_fs_attr *a, const char *from, uint64_t p2, const char *to)
{
	if (!S_ISREG(a->mode) || !hdb_fs_is_doc_name(to, strlen(to)) || hdb_fs_is_doc_name(from, strlen(from)))
		return 0;
	void *data;
	size_t len;
	int rc = fs_read_data(fs, a->ino, &data, &len);
	if (rc)
		return rc;
	rc = fs_file_validate(fs, p2, to, data, len);
	free(data);
	return rc;
}

struct rename_op {
	uint64_t p1, p2;
	const char *n1, *n2;
	size_t l1, l2;
	unsigned flags;
	hdb_fs_attr src, dst; /* as read from disk, then live */
	struct live slive, dlive;
	bool have_dst;
};

static int rename_checks(hdb_fs *fs, struct rename_op *r)
{
	int rc = fs_read_entry(fs, r->p1, r->n1, r->l1, &r->src);
	if (rc)
		return rc;
	rc = fs_read_entry(fs, r->p2, r->n2, r->l2, &r->dst);
	if (rc && rc != -ENOENT)
		return rc;
	r->have_dst = !rc;
	if (r->have_dst && (r->flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (!r->have_dst && (r->flags & RENAME_EXCHANGE))
		return -ENOENT;
	if (r->have_dst && !(r->flags & RENAME_EXCHANGE)) {
		if (S_ISDIR(r->src.mode) && !S_ISDIR(r->dst.mode))
			return -ENOTDIR;
		if (!S_ISDIR(r->src.mode) && S_ISDIR(r->dst.mode))
			return -EISDIR;
		if (S_ISDIR(r->dst.mode)) {
			bool empty;
			rc = dir_is_empty(fs, r->dst.ino, &empty);
			if (rc)
				return rc;
			if (!empty)
				return -ENOTEMPTY;
		}
	}
	rc = check_doc_move(fs, &r->src, r->n1, r->p2, r->n2);
	if (!rc && r->have_dst && (r->flags & RENAME_EXCHANGE))
		rc = check_doc_move(fs, &r->dst, r->n2, r->p1, r->n1);
	return rc;
}

/* Moves a node's document status in the counters from name `from` to `to`. */
static void count_rename(hdb_fs_super *sb, const hdb_fs_attr *a, const char *from, size_t fl, const char *to,
                         size_t tl)
{
	if (!S_ISREG(a->mode))
		return;
	bool was = hdb_fs_is_doc_name(from, fl), is = hdb_fs_is_doc_name(to, tl);
	if (was && !is)
		sb->docs = sub_sat(sb->docs, 1);
	else if (!was && is)
		sb->docs++;
}

/* REQUIRES commit_mu.  A regular file a that takes the document name
 * (to_parent, to) must fit to_parent's schema when it is a table (its
 * committed content; an empty one is checked at its first commit). */
static int moved_doc_fits(hdb_fs *fs, const hdb_fs_attr *a, uint64_t to_parent, const char *to, size_t tl)
{
	if (!S_ISREG(a->mode) || !hdb_fs_is_doc_name(to, tl) || !fs_table_exists(fs, to_parent))
		return 0;
	void *data;
	size_t len;
	int rc = fs_read_data(fs, a->ino, &data, &len);
	if (rc)
		return rc;
	rc = fs_table_check_locked(fs, to_parent, to, tl, data, len, NULL, false);
	free(data);
	return rc;
}

/* REQUIRES commit_mu.  The schema checks of rename r (tables.h). */
static int rename_fits(hdb_fs *fs, const struct rename_op *r)
{
	int rc = moved_doc_fits(fs, &r->src, r->p2, r->n2, r->l2);
	if (!rc && r->have_dst && (r->flags & RENAME_EXCHANGE))
		rc = moved_doc_fits(fs, &r->dst, r->p1, r->n1, r->l1);
	return rc;
}

/* REQUIRES commit_mu.  Fills t with the batch of rename r. */
static int rename_build(hdb_fs *fs, fs_txn *t, struct rename_op *r)
{
	hdb_fs_ts now = hdb_fs_now();
	hdb_fs_attr disk;
	int rc = rename_fits(fs, r);
	if (rc)
		return rc;
	rc = live_attr(fs, &r->src, &r->slive);
	if (!rc && r->have_dst)
		rc = live_attr(fs, &r->dst, &r->dlive);
	if (rc)
		return rc;
	r->src.ctime = now;
	attr_with_dsize(&disk, &r->src, r->slive.dsize);
	rc = fs_txn_put_entry(t, r->p2, r->n2, r->l2, &disk);
	if (!rc && r->slive.pending)
		rc = fs_txn_put_pending(t, r->src.ino, r->p2, r->n2, r->l2);
	if (rc)
		return rc;
	fs_txn_upd(t, r->src.ino, FS_UPD_CTIME, &r->src, 0);
	count_rename(&t->sb, &r->src, r->n1, r->l1, r->n2, r->l2);
	if (r->flags & RENAME_EXCHANGE) {
		r->dst.ctime = now;
		attr_with_dsize(&disk, &r->dst, r->dlive.dsize);
		rc = fs_txn_put_entry(t, r->p1, r->n1, r->l1, &disk);
		if (!rc && r->dlive.pending)
			rc = fs_txn_put_pending(t, r->dst.ino, r->p1, r->n1, r->l1);
		fs_txn_upd(t, r->dst.ino, FS_UPD_CTIME, &r->dst, 0);
		count_rename(&t->sb, &r->dst, r->n2, r->l2, r->n1, r->l1);
	} else {
		rc = fs_txn_del_entry(t, r->p1, r->n1, r->l1);
		if (!rc && r->have_dst) {
			count_node(&t->sb, r->dst.mode, r->n2, r->l2, r->dlive.dsize, -1);
			rc = remove_content(t, &r->dst, &r->dlive);
		}
		if (!rc && r->have_dst && S_ISDIR(r->dst.mode))
			rc = dir_removed(fs, t, r->dst.ino);
	}
	t->sb_dirty = true;
	if (!rc)
		rc = fs_index_on_rename(fs, t, r->p1, r->n1, r->l1, &r->src, r->p2, r->n2, r->l2,
		                        r->have_dst ? &r->dst : NULL, r->flags & RENAME_EXCHANGE);
	if (!rc)
		rc = fs_txn_touch_dir(fs, t, r->p1, now);
	if (!rc)
		rc = fs_txn_touch_dir(fs, t, r->p2, now);
	return rc;
}

int fs_node_rename(hdb_fs *fs, uint64_t p1, const char *n1, uint64_t p2, const char *n2, unsigned flags)
{
	struct rename_op r = { .p1 = p1, .p2 = p2, .n1 = n1, .n2 = n2, .flags = flags };
	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	int rc = check_new_name(p1, n1, &r.l1);
	if (!rc)
		rc = check_new_name(p2, n2, &r.l2);
	if (rc)
		return rc;
	if (fs->opt.read_only)
		return -EROFS;
	if (p1 == p2 && !strcmp(n1, n2))
		return 0;
	rc = rename_checks(fs, &r);
	if (rc)
		return rc;
	if (r.have_dst && r.dst.ino == r.src.ino)
		return 0;
	/* Names are allocated before the commit so applying it cannot fail. */
	char *new_src = strdup(n2), *new_dst = strdup(n1);
	hdb_inode_ext *spare = NULL;
	if (!new_src || !new_dst || new_spare(&spare)) {
		rc = -ENOMEM;
		goto out_free;
	}
	fs_txn t;
	rc = fs_txn_begin(fs, &t);
	if (rc)
		goto out_free;
	rc = rename_build(fs, &t, &r);
	if (!rc)
		rc = fs_txn_write(fs, &t);
	bool reap = false;
	if (!rc) {
		hdb_itable_lock(fs->itab);
		hdb_inode *s = hdb_itable_get(fs->itab, r.src.ino);
		hdb_inode *d = r.have_dst ? hdb_itable_get(fs->itab, r.dst.ino) : NULL;
		if (s) {
			hdb_inode_set_name(s, p2, new_src);
			new_src = NULL;
		}
		if (d && (flags & RENAME_EXCHANGE)) {
			hdb_inode_set_name(d, p1, new_dst);
			new_dst = NULL;
		}
		hdb_itable_unlock(fs->itab);
		if (r.have_dst && !(flags & RENAME_EXCHANGE))
			reap = mark_removed(fs, &r.dst, &r.dlive, &spare);
		if (r.have_dst && !(flags & RENAME_EXCHANGE) && S_ISDIR(r.dst.mode))
			dir_removed_done(fs, r.dst.ino);
	}
	rc = fs_txn_end(fs, &t, rc, false);
	if (reap)
		fs_node_reap_orphan(fs, r.dst.ino);
out_free:
	free(new_src);
	free(new_dst);
	free(spare);
	return rc;
}

int fs_node_readlink(hdb_fs *fs, uint64_t ino, char **target)
{
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	int rc = !i ? -ENOENT : !S_ISLNK(hdb_inode_type(i)) ? -EINVAL : 0;
	hdb_itable_unlock(fs->itab);
	if (rc)
		return rc;
	void *data;
	size_t len;
	rc = fs_read_data(fs, ino, &data, &len);
	if (rc)
		return rc;
	char *s = malloc(len + 1);
	if (!s) {
		free(data);
		return -ENOMEM;
	}
	if (len)
		memcpy(s, data, len);
	s[len] = 0;
	free(data);
	*target = s;
	return 0;
}

/* A path truncate (no open handle): the new content, validated. */
struct truncation {
	void *data;
	size_t len;
};

static int truncate_content(hdb_fs *fs, uint64_t ino, const hdb_fs_attr *a, uint64_t parent, const char *name,
                            uint64_t size, struct truncation *tr)
{
	if (S_ISDIR(a->mode))
		return -EISDIR;
	if (!S_ISREG(a->mode))
		return -EINVAL;
	hdb_wbuf b;
	hdb_wbuf_init(&b);
	void *data;
	size_t len;
	int rc = fs_read_data(fs, ino, &data, &len);
	if (rc)
		return rc;
	hdb_wbuf_adopt(&b, data, len);
	rc = hdb_wbuf_truncate(&b, size, fs->opt.max_doc_size);
	if (!rc)
		rc = fs_file_validate(fs, parent, name, b.data, b.len);
	if (rc) {
		hdb_wbuf_free(&b);
		return rc;
	}
	tr->data = b.data;
	tr->len = b.len;
	return 0;
}

static hdb_fs_ts ts_of(const struct timespec *t)
{
	return (hdb_fs_ts){ .sec = t->tv_sec, .nsec = (uint32_t)t->tv_nsec };
}

/* Applies the attribute changes of setattr to a; returns the FS_UPD mask. */
static unsigned setattr_fields(const struct stat *st, int valid, hdb_fs_attr *a, hdb_fs_ts now)
{
	unsigned mask = 0;
	if (valid & FUSE_SET_ATTR_MODE) {
		a->mode = (a->mode & S_IFMT) | ((uint32_t)st->st_mode & 07777);
		mask |= FS_UPD_MODE;
	}
	if (valid & FUSE_SET_ATTR_UID) {
		a->uid = (uint32_t)st->st_uid;
		mask |= FS_UPD_UID;
	}
	if (valid & FUSE_SET_ATTR_GID) {
		a->gid = (uint32_t)st->st_gid;
		mask |= FS_UPD_GID;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		a->atime = valid & FUSE_SET_ATTR_ATIME_NOW ? now : ts_of(&st->st_atim);
		mask |= FS_UPD_ATIME;
	}
	if (valid & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		a->mtime = valid & FUSE_SET_ATTR_MTIME_NOW ? now : ts_of(&st->st_mtim);
		mask |= FS_UPD_MTIME;
	}
	if (valid & FUSE_SET_ATTR_CTIME) {
		a->ctime = ts_of(&st->st_ctim);
		mask |= FS_UPD_CTIME;
	} else if (mask) {
		a->ctime = now;
		mask |= FS_UPD_CTIME;
	}
	return mask;
}

#define SETATTR_FIELDS                                                                             \
	(FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME |        \
	 FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)

static int setattr_commit(hdb_fs *fs, uint64_t ino, const struct stat *st, int valid, bool path_trunc)
{
	fs_snap s;
	struct truncation tr = { 0 };
	int rc = fs_snap_inode(fs, ino, &s);
	if (rc)
		return rc;
	if (path_trunc) {
		rc = truncate_content(fs, ino, &s.attr, s.parent, s.name, (uint64_t)st->st_size, &tr);
		if (rc)
			return rc;
	}
	fs_txn t;
	rc = fs_txn_begin(fs, &t);
	if (rc)
		goto out_free;
	rc = fs_snap_inode(fs, ino, &s); /* again, under commit_mu */
	if (!rc && s.unlinked && path_trunc)
		rc = -ENOENT;
	if (rc)
		goto out;
	hdb_fs_ts now = hdb_fs_now();
	unsigned mask = setattr_fields(st, valid & SETATTR_FIELDS, &s.attr, now);
	if (path_trunc) {
		t.sb.bytes = sub_sat(t.sb.bytes, s.dsize) + tr.len;
		t.sb_dirty = true;
		s.attr.size = s.dsize = tr.len;
		if (!(mask & FS_UPD_MTIME))
			s.attr.mtime = now;
		s.attr.ctime = now;
		mask |= FS_UPD_SIZE | FS_UPD_DSIZE | FS_UPD_MTIME | FS_UPD_CTIME;
		rc = s.unlinked ? 0 : fs_table_check_locked(fs, s.parent, s.name, s.nlen, tr.data, tr.len, NULL, false);
		if (!rc && !s.unlinked)
			rc = fs_index_on_commit(fs, &t, s.parent, s.name, s.nlen, ino, tr.data, tr.len);
		if (!rc)
			rc = fs_txn_put_data(&t, ino, tr.data, tr.len);
	}
	hdb_fs_attr disk;
	attr_with_dsize(&disk, &s.attr, s.dsize);
	if (!rc && !s.unlinked)
		rc = fs_txn_put_entry(&t, s.parent, s.name, s.nlen, &disk);
	fs_txn_upd(&t, ino, mask, &s.attr, s.dsize);
	if (!rc)
		rc = fs_txn_write(fs, &t);
out:
	rc = fs_txn_end(fs, &t, rc, false);
	if (!rc && path_trunc)
		fs_content_changed(fs, ino);
out_free:
	free(tr.data);
	return rc;
}

int fs_node_setattr(hdb_fs *fs, uint64_t ino, const struct stat *st, int valid, fs_fh *fh)
{
	if (fs->opt.read_only)
		return -EROFS;
	bool path_trunc = false;
	int rc = 0;
	if (valid & FUSE_SET_ATTR_SIZE) {
		if (st->st_size < 0)
			return -EINVAL;
		if (fh && fh->writable)
			rc = fs_file_truncate(fs, fh, (uint64_t)st->st_size);
		else
			path_trunc = true;
	}
	if (!rc && (path_trunc || (valid & SETATTR_FIELDS)))
		rc = setattr_commit(fs, ino, st, valid, path_trunc);
	return rc;
}

void fs_node_undo_create(hdb_fs *fs, uint64_t ino)
{
	fs_snap s;
	fs_txn t;
	bool removed = false;
	if (fs_txn_begin(fs, &t))
		return;
	int rc = fs_snap_inode(fs, ino, &s);
	if (rc || s.unlinked || s.dsize) {
		fs_txn_end(fs, &t, 0, false);
		return;
	}
	t.sb_dirty = true;
	count_node(&t.sb, s.attr.mode, s.name, s.nlen, 0, -1);
	rc = fs_txn_del_entry(&t, s.parent, s.name, s.nlen);
	if (!rc)
		rc = fs_txn_del_data(&t, ino);
	if (!rc && s.pending)
		rc = fs_txn_del_pending(&t, ino);
	if (!rc)
		rc = fs_txn_touch_dir(fs, &t, s.parent, hdb_fs_now());
	if (!rc)
		rc = fs_txn_write(fs, &t);
	if (!rc) {
		hdb_itable_lock(fs->itab);
		hdb_inode *i = hdb_itable_get(fs->itab, ino);
		if (i) /* loaded: its creating handle is open */
			i->unlinked = true;
		hdb_itable_unlock(fs->itab);
		removed = true;
	}
	rc = fs_txn_end(fs, &t, rc, false);
	if (removed)
		fs_notify_inval_entry(fs, s.parent, s.name, s.nlen);
	else
		hdb_fs_log("could not remove the invalid new file %s: %s", s.name, hdb_strerror(rc));
}

int fs_node_finish_create(hdb_fs *fs, uint64_t ino)
{
	fs_snap s;
	fs_txn t;
	int rc = fs_txn_begin(fs, &t);
	if (rc)
		return rc;
	rc = fs_snap_inode(fs, ino, &s);
	if (!rc && s.pending && !s.unlinked) {
		rc = fs_txn_del_pending(&t, ino);
		fs_txn_upd(&t, ino, FS_UPD_UNPEND, &s.attr, 0);
		if (!rc)
			rc = fs_txn_write(fs, &t);
	}
	return fs_txn_end(fs, &t, rc == -ENOENT ? 0 : rc, false);
}

void fs_node_reap_orphan(hdb_fs *fs, uint64_t ino)
{
	fs_txn t;
	int rc = fs_txn_begin(fs, &t);
	if (rc)
		return;
	rc = fs_txn_del_orphan(&t, ino);
	if (!rc)
		rc = fs_txn_write(fs, &t);
	rc = fs_txn_end(fs, &t, rc, false);
	if (rc)
		hdb_fs_log("inode %llu: deleting the content of a removed file failed (%s); the next mount will",
		           (unsigned long long)ino, hdb_strerror(rc));
}
