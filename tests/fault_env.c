/*
 * fault_env.c — power-loss and disk-full simulation under the engine's file
 * I/O (model in fault_env.h).
 */
#include "fault_env.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAULT_ENV_MAGIC 0x46454e56u /* "FENV" */

struct fe_node {
	int rfd;              /* read-only fd: the content, whatever its name */
	char *path;           /* current name, NULL once unlinked or replaced */
	uint64_t size;        /* current size */
	uint64_t durable;     /* bytes durable by sync */
	int open_fds;         /* write fds of the engine still open */
	struct fe_node *next; /* in fault_env.nodes */
};

struct fe_dirent {
	char *path;           /* durable name */
	struct fe_node *node; /* durable target */
};

struct fault_env {
	hdb_env base;              /* first: an hdb_env * is a fault_env * */
	unsigned magic;
	hdb_env *posix;
	pthread_mutex_t mu;        /* guards everything below */
	struct fe_node *nodes;
	struct fe_dirent *dirents; /* durable directory entries */
	size_t ndirents, capdirents;
	struct fe_node **fds;      /* by engine fd number */
	size_t capfds;
	uint64_t syncs;            /* sync points passed */
	int64_t crash_after;       /* power fails after this sync point; < 0: never */
	int64_t crash_at;          /* power fails during this sync point; <= 0: never */
	bool crashed;
	int write_err;             /* forced error of wopen/write, or 0 */
	uint64_t keep_seed;        /* 0: unsynced bytes are all lost */
};

static struct fault_env *fe_of(hdb_env *env)
{
	struct fault_env *fe = (struct fault_env *)env;
	assert(fe->magic == FAULT_ENV_MAGIC);
	return fe;
}

static int file_size_fd(int fd, uint64_t *size)
{
	struct stat st;
	if (fstat(fd, &st))
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static struct fe_node *node_by_path(struct fault_env *fe, const char *path)
{
	for (struct fe_node *n = fe->nodes; n; n = n->next)
		if (n->path && !strcmp(n->path, path))
			return n;
	return NULL;
}

static struct fe_node *node_new(struct fault_env *fe, const char *path)
{
	struct fe_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->path = strdup(path);
	n->rfd = open(path, O_RDONLY | O_CLOEXEC);
	if (!n->path || n->rfd < 0) {
		if (n->rfd >= 0)
			close(n->rfd);
		free(n->path);
		free(n);
		return NULL;
	}
	n->next = fe->nodes;
	fe->nodes = n;
	return n;
}

static int dirent_add(struct fault_env *fe, const char *path, struct fe_node *node)
{
	if (fe->ndirents == fe->capdirents) {
		size_t cap = fe->capdirents ? fe->capdirents * 2 : 32;
		struct fe_dirent *d = realloc(fe->dirents, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		fe->dirents = d;
		fe->capdirents = cap;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	fe->dirents[fe->ndirents++] = (struct fe_dirent){ p, node };
	return 0;
}

static bool dirent_exists(struct fault_env *fe, const char *path)
{
	for (size_t i = 0; i < fe->ndirents; i++)
		if (!strcmp(fe->dirents[i].path, path))
			return true;
	return false;
}

/* The live node named path; a regular file the env has not seen yet is
 * adopted as durable.  NULL when there is no such file (or on ENOMEM, which
 * only weakens the simulation). */
static struct fe_node *node_lookup(struct fault_env *fe, const char *path)
{
	struct fe_node *n = node_by_path(fe, path);
	struct stat st;
	if (n || stat(path, &st) || !S_ISREG(st.st_mode))
		return n;
	n = node_new(fe, path);
	if (!n)
		return NULL;
	n->size = n->durable = (uint64_t)st.st_size;
	if (!dirent_exists(fe, path))
		dirent_add(fe, path, n);
	return n;
}

static bool node_in_dirents(struct fault_env *fe, const struct fe_node *n)
{
	for (size_t i = 0; i < fe->ndirents; i++)
		if (fe->dirents[i].node == n)
			return true;
	return false;
}

/* Frees nodes that neither a name, an fd nor a durable entry reaches. */
static void nodes_gc(struct fault_env *fe)
{
	struct fe_node **pp = &fe->nodes;
	while (*pp) {
		struct fe_node *n = *pp;
		if (n->path || n->open_fds || node_in_dirents(fe, n)) {
			pp = &n->next;
			continue;
		}
		*pp = n->next;
		close(n->rfd);
		free(n);
	}
}

static struct fe_node *node_of_fd(struct fault_env *fe, int fd)
{
	return fd >= 0 && (size_t)fd < fe->capfds ? fe->fds[fd] : NULL;
}

static int fd_set_node(struct fault_env *fe, int fd, struct fe_node *n)
{
	if ((size_t)fd >= fe->capfds) {
		size_t cap = fe->capfds ? fe->capfds : 64;
		while (cap <= (size_t)fd)
			cap *= 2;
		struct fe_node **v = realloc(fe->fds, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + fe->capfds, 0, (cap - fe->capfds) * sizeof(*v));
		fe->fds = v;
		fe->capfds = cap;
	}
	fe->fds[fd] = n;
	return 0;
}

/* Length of dir without trailing slashes. */
static size_t dir_len(const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return n;
}

static bool path_in_dir(const char *path, const char *dir, size_t dlen)
{
	const char *slash = strrchr(path, '/');
	return slash && (size_t)(slash - path) == dlen && !memcmp(path, dir, dlen);
}

/* A sync point is about to run: fails once the power is gone, or cuts it
 * when this is the sync point armed by fault_env_set_crash_at_sync. */
static int sync_point_enter(struct fault_env *fe)
{
	if (fe->crash_at > 0 && fe->syncs + 1 >= (uint64_t)fe->crash_at)
		fe->crashed = true;
	return fe->crashed ? -EIO : 0;
}

/* A sync point succeeded: counts it, and cuts the power after the n-th. */
static void sync_point_done(struct fault_env *fe)
{
	fe->syncs++;
	if (fe->crash_after >= 0 && fe->syncs >= (uint64_t)fe->crash_after)
		fe->crashed = true;
}

static int fe_wopen(hdb_env *env, const char *path, int flags, int *fd)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = fe->crashed ? -EIO : fe->write_err;
	if (rc)
		goto out;
	struct fe_node *n = node_lookup(fe, path);
	if (n && (flags & HDB_WOPEN_EXCL)) {
		rc = -EEXIST;
		goto out;
	}
	rc = fe->posix->wopen(fe->posix, path, flags, fd);
	if (rc)
		goto out;
	if (!n)
		n = node_new(fe, path);
	if (!n || fd_set_node(fe, *fd, n)) {
		fe->posix->close(fe->posix, *fd);
		rc = -ENOMEM;
		goto out;
	}
	n->open_fds++;
	if (flags & HDB_WOPEN_TRUNC)
		n->size = n->durable = 0; /* the old content is gone, durably or not */
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fe_write(hdb_env *env, int fd, const void *buf, size_t len)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = fe->crashed ? -EIO : fe->write_err;
	if (!rc)
		rc = fe->posix->write(fe->posix, fd, buf, len);
	struct fe_node *n = node_of_fd(fe, fd);
	if (n) {
		/* even a failed write may have extended the file */
		uint64_t size;
		if (!file_size_fd(n->rfd, &size))
			n->size = size;
	}
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fe_sync(hdb_env *env, int fd)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = sync_point_enter(fe);
	if (!rc)
		rc = fe->posix->sync(fe->posix, fd);
	if (!rc) {
		struct fe_node *n = node_of_fd(fe, fd);
		if (n)
			n->durable = n->size;
		sync_point_done(fe);
	}
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fe_close(hdb_env *env, int fd)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	struct fe_node *n = node_of_fd(fe, fd);
	if (n) {
		n->open_fds--;
		fe->fds[fd] = NULL;
	}
	int rc = fe->posix->close(fe->posix, fd);
	nodes_gc(fe);
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fe_truncate(hdb_env *env, const char *path, uint64_t size)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = fe->crashed ? -EIO : 0;
	struct fe_node *n = rc ? NULL : node_lookup(fe, path);
	if (!rc)
		rc = fe->posix->truncate(fe->posix, path, size);
	if (!rc && n) {
		n->size = size;
		if (n->durable > size)
			n->durable = size;
	}
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fe_rename(hdb_env *env, const char *from, const char *to)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = fe->crashed ? -EIO : 0;
	if (rc)
		goto out;
	struct fe_node *nf = node_lookup(fe, from), *nt = node_lookup(fe, to);
	char *dst = strdup(to);
	if (!dst) {
		rc = -ENOMEM;
		goto out;
	}
	rc = fe->posix->rename(fe->posix, from, to);
	if (rc) {
		free(dst);
		goto out;
	}
	if (nt && nt != nf) {
		free(nt->path);
		nt->path = NULL;
	}
	if (nf) {
		free(nf->path);
		nf->path = dst;
	} else {
		free(dst);
	}
	nodes_gc(fe);
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fe_unlink(hdb_env *env, const char *path)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = fe->crashed ? -EIO : 0;
	struct fe_node *n = rc ? NULL : node_lookup(fe, path);
	if (!rc)
		rc = fe->posix->unlink(fe->posix, path);
	if (!rc && n) {
		free(n->path);
		n->path = NULL;
		nodes_gc(fe);
	}
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fe_mkdir(hdb_env *env, const char *path)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = fe->crashed ? -EIO : fe->posix->mkdir(fe->posix, path);
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

/* Makes the current names in dir its durable entries. */
static int dirents_commit(struct fault_env *fe, const char *dir)
{
	size_t dlen = dir_len(dir), w = 0;
	for (size_t i = 0; i < fe->ndirents; i++) {
		if (path_in_dir(fe->dirents[i].path, dir, dlen))
			free(fe->dirents[i].path);
		else
			fe->dirents[w++] = fe->dirents[i];
	}
	fe->ndirents = w;
	for (struct fe_node *n = fe->nodes; n; n = n->next) {
		if (n->path && path_in_dir(n->path, dir, dlen)) {
			int rc = dirent_add(fe, n->path, n);
			if (rc)
				return rc;
		}
	}
	nodes_gc(fe);
	return 0;
}

static int fe_sync_dir(hdb_env *env, const char *dir)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = sync_point_enter(fe);
	if (!rc)
		rc = fe->posix->sync_dir(fe->posix, dir);
	if (!rc)
		rc = dirents_commit(fe, dir);
	if (!rc)
		sync_point_done(fe);
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

hdb_env *fault_env_new(void)
{
	struct fault_env *fe = calloc(1, sizeof(*fe));
	if (!fe)
		return NULL;
	fe->base = (hdb_env){
		.wopen = fe_wopen,
		.write = fe_write,
		.sync = fe_sync,
		.close = fe_close,
		.truncate = fe_truncate,
		.rename = fe_rename,
		.unlink = fe_unlink,
		.mkdir = fe_mkdir,
		.sync_dir = fe_sync_dir,
	};
	fe->magic = FAULT_ENV_MAGIC;
	fe->posix = hdb_env_posix();
	fe->crash_after = -1;
	pthread_mutex_init(&fe->mu, NULL);
	return &fe->base;
}

/* Drops every node and durable entry.  REQUIRES: mu held. */
static void forget_all(struct fault_env *fe)
{
	while (fe->nodes) {
		struct fe_node *n = fe->nodes;
		fe->nodes = n->next;
		close(n->rfd);
		free(n->path);
		free(n);
	}
	for (size_t i = 0; i < fe->ndirents; i++)
		free(fe->dirents[i].path);
	fe->ndirents = 0;
	if (fe->capfds)
		memset(fe->fds, 0, fe->capfds * sizeof(*fe->fds));
}

void fault_env_free(hdb_env *env)
{
	if (!env)
		return;
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	forget_all(fe);
	pthread_mutex_unlock(&fe->mu);
	pthread_mutex_destroy(&fe->mu);
	free(fe->dirents);
	free(fe->fds);
	free(fe);
}

uint64_t fault_env_sync_count(hdb_env *env)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	uint64_t n = fe->syncs;
	pthread_mutex_unlock(&fe->mu);
	return n;
}

void fault_env_set_crash_after(hdb_env *env, int64_t n)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	fe->crash_after = n;
	if (n >= 0 && fe->syncs >= (uint64_t)n)
		fe->crashed = true;
	pthread_mutex_unlock(&fe->mu);
}

void fault_env_set_crash_at_sync(hdb_env *env, int64_t k)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	fe->crash_at = k;
	pthread_mutex_unlock(&fe->mu);
}

bool fault_env_crashed(hdb_env *env)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	bool c = fe->crashed;
	pthread_mutex_unlock(&fe->mu);
	return c;
}

void fault_env_keep_unsynced(hdb_env *env, uint64_t seed)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	fe->keep_seed = seed;
	pthread_mutex_unlock(&fe->mu);
}

void fault_env_fail_writes_with(hdb_env *env, int err)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	fe->write_err = err;
	pthread_mutex_unlock(&fe->mu);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	return x ^ (x >> 33);
}

/* Bytes of n that survive the crash. */
static uint64_t surviving_len(struct fault_env *fe, const struct fe_node *n, size_t salt)
{
	uint64_t len = n->durable;
	if (fe->keep_seed && n->size > n->durable)
		len += mix64(fe->keep_seed + salt) % (n->size - n->durable + 1);
	return len;
}

static int read_prefix(int fd, uint64_t len, uint8_t **out)
{
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	uint64_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return r < 0 ? -errno : -EIO;
		}
		got += (uint64_t)r;
	}
	*out = buf;
	return 0;
}

static int write_whole(const char *path, const uint8_t *data, uint64_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = hdb_env_posix()->write(hdb_env_posix(), fd, data, len);
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

int fault_env_simulate_crash(hdb_env *env)
{
	struct fault_env *fe = fe_of(env);
	pthread_mutex_lock(&fe->mu);
	int rc = 0;
	size_t n = fe->ndirents;
	uint8_t **content = calloc(n ? n : 1, sizeof(*content));
	uint64_t *len = calloc(n ? n : 1, sizeof(*len));
	if (!content || !len) {
		rc = -ENOMEM;
		goto out;
	}
	/* read everything that survives before any name is touched */
	for (size_t i = 0; i < n && !rc; i++) {
		struct fe_node *node = fe->dirents[i].node;
		uint64_t real = 0;
		rc = file_size_fd(node->rfd, &real);
		len[i] = surviving_len(fe, node, i);
		if (!rc && len[i] > real)
			len[i] = real;
		if (!rc)
			rc = read_prefix(node->rfd, len[i], &content[i]);
	}
	for (struct fe_node *node = fe->nodes; node && !rc; node = node->next)
		if (node->path && unlink(node->path) && errno != ENOENT)
			rc = -errno;
	for (size_t i = 0; i < n && !rc; i++)
		rc = write_whole(fe->dirents[i].path, content[i], len[i]);
out:
	for (size_t i = 0; content && i < n; i++)
		free(content[i]);
	free(content);
	free(len);
	forget_all(fe);
	fe->crashed = false;
	fe->crash_after = -1;
	fe->crash_at = 0;
	fe->write_err = 0;
	pthread_mutex_unlock(&fe->mu);
	return rc;
}
