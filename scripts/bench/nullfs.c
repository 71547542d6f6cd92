/*
 * nullfs.c — a FUSE file system that stores nothing: the floor of
 * scripts/bench-fs.sh, the cost of FUSE alone on this machine.
 *
 *   nullfs MNT [-f] [-d] [-s] [-o opts]
 *
 * It keeps a namespace in memory — names, modes, owners, sizes, one mtime —
 * and no data: writes only move the size, reads return zeros up to it.  That
 * is enough for cp -r, ls -l, find, stat, cat, grep -r and rm -r.  Not
 * provided: rename, links, symlinks, xattrs; everything is lost at unmount.
 *
 * The kernel-side settings copy hybriddb's (fs/fs_ops.c, fs/fs_internal.h,
 * mount/daemon.c) so that the difference between the two is the storage and
 * nothing else: entry and attribute timeouts of a day, no writeback cache,
 * atomic O_TRUNC, direct I/O for handles opened for writing, page cache kept
 * across opens (and not dropped for a new mtime alone: no auto_inval_data)
 * and no FLUSH for read-only handles, readdirplus,
 * default_permissions, a multi-threaded loop of up to 16 workers.  So a
 * warm read of a document costs both one OPEN round trip (hybriddb's open
 * also hands the content to the kernel; here the pages stay cached from the
 * first read).
 *
 * Options that turn on what hybriddb does not use, so that
 * `bench-fs.sh --techniques` can measure what each would buy on FUSE alone:
 *   -o no_open      OPEN answers ENOSYS: the kernel stops sending OPEN for
 *                   files (FUSE_CAP_NO_OPEN_SUPPORT).  A handle then has no
 *                   flags from here, so every close sends a FLUSH; O_TRUNC
 *                   comes as a SETATTR
 *   -o no_opendir   the same for directories (FUSE_CAP_NO_OPENDIR_SUPPORT;
 *                   the kernel then caches listings itself)
 *   -o cache_dir    listings cached by the kernel across opens
 *                   (FOPEN_CACHE_DIR with keep_cache on opendir)
 *   -o writeback    the kernel's writeback cache (FUSE_CAP_WRITEBACK_CACHE)
 *
 * Thread safety: one mutex (nf.mu) guards every node and the name table;
 * each request holds it for its whole, short, in-memory work.
 *
 * Invariants: nf.nodes[ino] is the node of inode ino or NULL; a node is in
 * the name table and in its parent's kids[] exactly while it is linked; a
 * node is freed when it is unlinked and the kernel has forgotten it
 * (nlookup == 0).  The root (inode 1) is never freed.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define NF_TIMEOUT 86400.0     /* entry and attribute cache: FS_STORED_TIMEOUT */
#define NF_MAX_THREADS 16      /* as hybriddb */
#define NF_NAME_MAX 255
#define NF_FIRST_KID_OFF 3     /* readdir offsets: 1 ".", 2 "..", then kids */
#define NF_ZEROS (1u << 20)    /* larger than any FUSE read request */

struct node {
	uint64_t ino;
	uint64_t parent;       /* inode of the directory holding it; 0 once unlinked */
	char *name;            /* malloc'd; NULL for the root */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	off_t size;
	struct timespec mtime; /* also reported as atime and ctime */
	uint64_t nlookup;      /* the kernel's references */
	size_t slot;           /* index in the parent's kids[] */
	struct node *hnext;    /* name table chain */
	/* Directories only.  kids[] holds inode numbers, 0 for a removed
	 * entry; slots stay put while a handle is open so readdir offsets
	 * (slot + NF_FIRST_KID_OFF) stay valid. */
	uint64_t *kids;
	size_t nkids;          /* used slots, holes included */
	size_t kids_cap;
	size_t live;           /* kids that are not holes */
	unsigned opendirs;     /* open directory handles */
};

/* Guarded by mu. */
static struct {
	pthread_mutex_t mu;
	struct node **nodes;   /* by inode number; [0] unused */
	size_t nodes_cap;
	uint64_t next_ino;
	struct node **buckets; /* (parent, name) -> node */
	size_t nbuckets;       /* a power of two */
	size_t nnamed;         /* nodes in the name table */
} nf = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The -o options above; set before the session starts, then only read. */
struct nf_options {
	int no_open;
	int no_opendir;
	int cache_dir;
	int writeback;
};
static struct nf_options nf_opt;

static const struct fuse_opt nf_opts[] = {
	{ "no_open", offsetof(struct nf_options, no_open), 1 },
	{ "no_opendir", offsetof(struct nf_options, no_opendir), 1 },
	{ "cache_dir", offsetof(struct nf_options, cache_dir), 1 },
	{ "writeback", offsetof(struct nf_options, writeback), 1 },
	FUSE_OPT_END
};

/* Never written: bss, so it costs no memory until read. */
static char nf_zeros[NF_ZEROS];

static size_t name_hash(uint64_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ parent; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static struct node **bucket_of(uint64_t parent, const char *name)
{
	return &nf.buckets[name_hash(parent, name) & (nf.nbuckets - 1)];
}

static struct node *name_find(uint64_t parent, const char *name)
{
	for (struct node *n = *bucket_of(parent, name); n; n = n->hnext)
		if (n->parent == parent && !strcmp(n->name, name))
			return n;
	return NULL;
}

/* Doubles the table when it averages one node per bucket. */
static int name_grow(void)
{
	size_t nb = nf.nbuckets ? nf.nbuckets * 2 : 1024;
	struct node **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < nf.nbuckets; i++) {
		struct node *n = nf.buckets[i], *next;
		for (; n; n = next) {
			next = n->hnext;
			struct node **head = &b[name_hash(n->parent, n->name) & (nb - 1)];
			n->hnext = *head;
			*head = n;
		}
	}
	free(nf.buckets);
	nf.buckets = b;
	nf.nbuckets = nb;
	return 0;
}

static void name_remove(struct node *n)
{
	struct node **p = bucket_of(n->parent, n->name);
	while (*p != n)
		p = &(*p)->hnext;
	*p = n->hnext;
	nf.nnamed--;
}

static struct node *node_get(fuse_ino_t ino)
{
	return ino < nf.next_ino ? nf.nodes[ino] : NULL;
}

static struct node *dir_get(fuse_ino_t ino, int *err)
{
	struct node *d = node_get(ino);
	*err = !d ? ENOENT : !S_ISDIR(d->mode) ? ENOTDIR : 0;
	return *err ? NULL : d;
}

/* Squeezes the holes out of d->kids while no handle holds an offset (a
 * listing the kernel caches holds them for good). */
static void dir_compact(struct node *d)
{
	size_t j = 0;
	if (d->opendirs || d->live == d->nkids || nf_opt.cache_dir)
		return;
	for (size_t i = 0; i < d->nkids; i++) {
		if (!d->kids[i])
			continue;
		d->kids[j] = d->kids[i];
		nf.nodes[d->kids[j]]->slot = j;
		j++;
	}
	d->nkids = j;
}

static int dir_add(struct node *d, struct node *n)
{
	if (d->nkids == d->kids_cap) {
		size_t cap = d->kids_cap ? d->kids_cap * 2 : 16;
		uint64_t *k = realloc(d->kids, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		d->kids = k;
		d->kids_cap = cap;
	}
	n->slot = d->nkids;
	d->kids[d->nkids++] = n->ino;
	d->live++;
	return 0;
}

static void node_free(struct node *n)
{
	nf.nodes[n->ino] = NULL;
	free(n->kids);
	free(n->name);
	free(n);
}

/* Takes n out of the namespace; frees it at once if the kernel holds no
 * reference, else at its last forget. */
static void node_unlink(struct node *d, struct node *n)
{
	name_remove(n);
	d->kids[n->slot] = 0;
	d->live--;
	if (!d->live && !d->opendirs)
		d->nkids = 0;
	n->parent = 0;
	if (!n->nlookup)
		node_free(n);
}

static int node_new(const struct fuse_ctx *ctx, struct node *d, const char *name, mode_t mode,
                    struct node **out)
{
	struct node *n = NULL;
	int rc = 0;
	if (strlen(name) > NF_NAME_MAX)
		return -ENAMETOOLONG;
	if (name_find(d->ino, name))
		return -EEXIST;
	if (nf.next_ino == nf.nodes_cap) {
		size_t cap = nf.nodes_cap * 2;
		struct node **t = realloc(nf.nodes, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		nf.nodes = t;
		nf.nodes_cap = cap;
	}
	if (nf.nnamed >= nf.nbuckets && (rc = name_grow()))
		return rc;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		rc = -ENOMEM;
		goto out;
	}
	n->ino = nf.next_ino;
	if ((rc = dir_add(d, n)))
		goto out;
	nf.next_ino++;
	n->parent = d->ino;
	n->mode = mode;
	n->uid = ctx->uid;
	n->gid = ctx->gid;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	nf.nodes[n->ino] = n;
	struct node **head = bucket_of(n->parent, n->name);
	n->hnext = *head;
	*head = n;
	nf.nnamed++;
	*out = n;
	n = NULL;
out:
	if (n) {
		free(n->name);
		free(n);
	}
	return rc;
}

static void node_stat(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = S_ISDIR(n->mode) ? 2 : 1;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_size = n->size;
	st->st_blksize = 4096;
	st->st_blocks = (n->size + 511) / 512;
	st->st_atim = st->st_mtim = st->st_ctim = n->mtime;
}

/* A reply entry for n; counts the kernel's new reference. */
static void node_entry(struct node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = e->entry_timeout = NF_TIMEOUT;
	node_stat(n, &e->attr);
	n->nlookup++;
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	/* Without OPEN, an atomic O_TRUNC would truncate nothing here. */
	if ((conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) && !nf_opt.no_open)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	if (nf_opt.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	if (nf_opt.no_open)
		conn->want |= conn->capable & FUSE_CAP_NO_OPEN_SUPPORT;
	if (nf_opt.no_opendir)
		conn->want |= conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err;
	pthread_mutex_lock(&nf.mu);
	struct node *d = dir_get(parent, &err);
	struct node *n = d ? name_find(parent, name) : NULL;
	if (n) {
		node_entry(n, &e);
	} else if (d) {
		memset(&e, 0, sizeof(e)); /* a cached negative entry */
		e.entry_timeout = NF_TIMEOUT;
	}
	pthread_mutex_unlock(&nf.mu);
	if (d)
		fuse_reply_entry(req, &e);
	else
		fuse_reply_err(req, err);
}

static void forget_one(fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n = node_get(ino);
	if (!n || ino == FUSE_ROOT_ID)
		return;
	n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
	if (!n->nlookup && !n->parent)
		node_free(n);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	pthread_mutex_lock(&nf.mu);
	forget_one(ino, nlookup);
	pthread_mutex_unlock(&nf.mu);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	pthread_mutex_lock(&nf.mu);
	for (size_t i = 0; i < count; i++)
		forget_one(forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&nf.mu);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	pthread_mutex_lock(&nf.mu);
	struct node *n = node_get(ino);
	if (n)
		node_stat(n, &st);
	pthread_mutex_unlock(&nf.mu);
	if (n)
		fuse_reply_attr(req, &st, NF_TIMEOUT);
	else
		fuse_reply_err(req, ENOENT);
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	struct stat st;
	pthread_mutex_lock(&nf.mu);
	struct node *n = node_get(ino);
	if (n) {
		if (to_set & FUSE_SET_ATTR_MODE)
			n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
		if (to_set & FUSE_SET_ATTR_UID)
			n->uid = attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			n->gid = attr->st_gid;
		if ((to_set & FUSE_SET_ATTR_SIZE) && S_ISREG(n->mode))
			n->size = attr->st_size;
		if (to_set & FUSE_SET_ATTR_MTIME)
			n->mtime = attr->st_mtim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			clock_gettime(CLOCK_REALTIME, &n->mtime);
		node_stat(n, &st);
	}
	pthread_mutex_unlock(&nf.mu);
	if (n)
		fuse_reply_attr(req, &st, NF_TIMEOUT);
	else
		fuse_reply_err(req, ENOENT);
}

/* Makes a node and fills e for the reply: 0 or a positive errno. */
static int new_entry(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     struct fuse_entry_param *e)
{
	struct node *n = NULL;
	int err;
	pthread_mutex_lock(&nf.mu);
	struct node *d = dir_get(parent, &err);
	if (d)
		err = -node_new(fuse_req_ctx(req), d, name, mode, &n);
	if (n)
		node_entry(n, e);
	pthread_mutex_unlock(&nf.mu);
	return err;
}

/* mkdir and mknod of a regular file. */
static void make(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	int err = new_entry(req, parent, name, mode, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode))
		fuse_reply_err(req, EPERM);
	else
		make(req, parent, name, mode);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make(req, parent, name, S_IFDIR | (mode & 07777));
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool is_dir)
{
	int err;
	pthread_mutex_lock(&nf.mu);
	struct node *d = dir_get(parent, &err);
	struct node *n = d ? name_find(parent, name) : NULL;
	if (d && !n)
		err = ENOENT;
	else if (n && is_dir && !S_ISDIR(n->mode))
		err = ENOTDIR;
	else if (n && !is_dir && S_ISDIR(n->mode))
		err = EISDIR;
	else if (n && is_dir && n->live)
		err = ENOTEMPTY;
	if (!err)
		node_unlink(d, n);
	pthread_mutex_unlock(&nf.mu);
	fuse_reply_err(req, err);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, false);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, true);
}

/* As hybriddb: writers bypass the page cache; readers keep it across opens
 * and close without a FLUSH.  With the writeback cache every handle goes
 * through it. */
static void set_fi(struct fuse_file_info *fi)
{
	fi->direct_io = !nf_opt.writeback && (fi->flags & O_ACCMODE) != O_RDONLY;
	fi->keep_cache = !fi->direct_io;
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (nf_opt.no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	pthread_mutex_lock(&nf.mu);
	struct node *n = node_get(ino);
	if (n && (fi->flags & O_TRUNC))
		n->size = 0;
	pthread_mutex_unlock(&nf.mu);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	set_fi(fi);
	fuse_reply_open(req, fi);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int err = new_entry(req, parent, name, S_IFREG | (mode & 07777), &e);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	set_fi(fi);
	fuse_reply_create(req, &e, fi);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	pthread_mutex_lock(&nf.mu);
	struct node *n = node_get(ino);
	off_t end = n ? n->size : 0;
	pthread_mutex_unlock(&nf.mu);
	size_t len = off < end ? (size_t)(end - off) : 0;
	if (len > size)
		len = size;
	if (len > sizeof(nf_zeros))
		len = sizeof(nf_zeros);
	fuse_reply_buf(req, nf_zeros, len);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	pthread_mutex_lock(&nf.mu);
	struct node *n = node_get(ino);
	if (n) {
		if (off + (off_t)size > n->size)
			n->size = off + (off_t)size;
		clock_gettime(CLOCK_REALTIME, &n->mtime);
	}
	pthread_mutex_unlock(&nf.mu);
	if (n)
		fuse_reply_write(req, size);
	else
		fuse_reply_err(req, ENOENT);
}

/* flush, release, fsync, fsyncdir: nothing to keep. */
static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int err;
	if (nf_opt.no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->cache_readdir = fi->keep_cache = nf_opt.cache_dir;
	pthread_mutex_lock(&nf.mu);
	struct node *d = dir_get(ino, &err);
	if (d) {
		dir_compact(d);
		d->opendirs++;
	}
	pthread_mutex_unlock(&nf.mu);
	if (d)
		fuse_reply_open(req, fi);
	else
		fuse_reply_err(req, err);
}

/* Adds one entry to buf at *len; false when it does not fit.  With n, a
 * readdirplus entry gives the kernel a lookup reference; "." and ".." (no
 * n) carry none, in either format. */
static bool dir_fill(fuse_req_t req, char *buf, size_t size, size_t *len, const char *name, struct node *n,
                     fuse_ino_t ino, mode_t mode, off_t next, bool plus)
{
	size_t room = size - *len, used;
	if (plus) {
		struct fuse_entry_param e = { .attr.st_ino = ino, .attr.st_mode = mode };
		if (n)
			node_entry(n, &e);
		used = fuse_add_direntry_plus(req, buf + *len, room, name, &e, next);
		if (n && used > room)
			n->nlookup--; /* not sent: the kernel takes no reference */
	} else {
		struct stat st = { .st_ino = ino, .st_mode = mode };
		used = fuse_add_direntry(req, buf + *len, room, name, &st, next);
	}
	if (used > room)
		return false;
	*len += used;
	return true;
}

static void reply_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	size_t len = 0;
	int err;
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&nf.mu);
	struct node *d = dir_get(ino, &err);
	if (!d)
		goto out;
	if (off < 1 && !dir_fill(req, buf, size, &len, ".", NULL, d->ino, S_IFDIR, 1, plus))
		goto out;
	if (off < 2 && !dir_fill(req, buf, size, &len, "..", NULL, d->parent ? d->parent : d->ino, S_IFDIR,
	                         2, plus))
		goto out;
	size_t i = off > NF_FIRST_KID_OFF ? (size_t)off - NF_FIRST_KID_OFF : 0;
	for (; i < d->nkids; i++) {
		struct node *n = node_get(d->kids[i]);
		off_t next = (off_t)(i + NF_FIRST_KID_OFF + 1);
		if (n && !dir_fill(req, buf, size, &len, n->name, n, n->ino, n->mode, next, plus))
			break;
	}
out:
	pthread_mutex_unlock(&nf.mu);
	if (d)
		fuse_reply_buf(req, buf, len);
	else
		fuse_reply_err(req, err);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_dir(req, ino, size, off, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_dir(req, ino, size, off, true);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	pthread_mutex_lock(&nf.mu);
	struct node *d = node_get(ino);
	if (d && d->opendirs)
		d->opendirs--;
	pthread_mutex_unlock(&nf.mu);
	fuse_reply_err(req, 0);
}

static void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st = {
		.f_bsize = 4096,
		.f_frsize = 4096,
		.f_blocks = 1u << 30,
		.f_bfree = 1u << 30,
		.f_bavail = 1u << 30,
		.f_files = 1u << 30,
		.f_ffree = 1u << 30,
		.f_favail = 1u << 30,
		.f_namemax = NF_NAME_MAX,
	};
	fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops nf_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
};

static int root_init(void)
{
	nf.nodes_cap = 1024;
	nf.nodes = calloc(nf.nodes_cap, sizeof(*nf.nodes));
	struct node *root = calloc(1, sizeof(*root));
	if (!nf.nodes || !root || name_grow()) {
		free(root);
		return -ENOMEM;
	}
	root->ino = FUSE_ROOT_ID;
	root->mode = S_IFDIR | 0755;
	root->uid = getuid();
	root->gid = getgid();
	root->nlookup = 1;
	clock_gettime(CLOCK_REALTIME, &root->mtime);
	nf.nodes[FUSE_ROOT_ID] = root;
	nf.next_ino = FUSE_ROOT_ID + 1;
	return 0;
}

static int serve(struct fuse_session *se)
{
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	if (!lc)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(lc, 0);
	fuse_loop_cfg_set_max_threads(lc, NF_MAX_THREADS);
	int rc = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return rc;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_session *se = NULL;
	bool handlers = false, mounted = false;
	int rc = 1;
	if (fuse_parse_cmdline(&args, &opts))
		goto out;
	if (opts.show_help || opts.show_version || !opts.mountpoint) {
		printf("usage: %s MNT [-f] [-d] [-s] [-o opts]\n"
		       "A FUSE file system that keeps names and sizes only (the benchmark floor).\n"
		       "  -o no_open, -o no_opendir, -o cache_dir, -o writeback: see nullfs.c\n",
		       argv[0]);
		if (opts.show_help)
			fuse_lowlevel_help();
		rc = opts.mountpoint || opts.show_help || opts.show_version ? 0 : 2;
		goto out;
	}
	if (fuse_opt_parse(&args, &nf_opt, nf_opts, NULL))
		goto out;
	if (root_init() || fuse_opt_add_arg(&args, "-odefault_permissions,fsname=nullfs,subtype=nullfs")) {
		fprintf(stderr, "nullfs: out of memory\n");
		goto out;
	}
	se = fuse_session_new(&args, &nf_ops, sizeof(nf_ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se))
		goto out;
	handlers = true;
	if (fuse_session_mount(se, opts.mountpoint))
		goto out;
	mounted = true;
	fuse_daemonize(opts.foreground);
	rc = (opts.singlethread ? fuse_session_loop(se) : serve(se)) ? 1 : 0;
out:
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	if (se)
		fuse_session_destroy(se);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
