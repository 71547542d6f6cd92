/*
 * qvfs.c — the query namespace over the fs operations (see qvfs.h).
 *
 * fs_qvfs_ops() wraps the base operations table: each wrapper serves
 * virtual inodes (and the reserved names in collections) itself and hands
 * every other request to the base operation unchanged.
 */
#define FUSE_USE_VERSION 314

#include "qvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs_internal.h"
#include "import.h"
#include "jsonl.h"
#include "qexec.h"
#include "qindex.h"
#include "query.h"
#include "tables.h"

#define QV_BUCKETS 4096
#define QV_MAX_CONDS 128
/* d_ino of listed index directories that have no node (no lookup yet). */
#define QV_LIST_INO (HDB_FS_VIRT_INO | (UINT64_C(1) << 62))

enum qv_kind {
	QV_WHERE, QV_COUNT, QV_EXPORT, QV_IMPORT, QV_INDEXES, QV_INDEX,
	QV_SCHEMA, QV_EXPORT_CSV, QV_IMPORT_CSV, /* tables only */
};

static const struct {
	const char *name;
	enum qv_kind kind;
} reserved[] = {
	{ ".where", QV_WHERE },
	{ ".indexes", QV_INDEXES },
	{ ".export.jsonl", QV_EXPORT },
	{ ".import", QV_IMPORT },
	{ ".schema", QV_SCHEMA },
	{ ".export.csv", QV_EXPORT_CSV },
	{ ".import.csv", QV_IMPORT_CSV },
};

/* A chain of conditions (a query directory and its ancestors). */
struct qspec {
	unsigned refs;           /* GUARDED_BY vfs mu */
	struct qspec *parent;    /* holds a reference */
	size_t depth;            /* conditions in the chain */
	hdb_qcond cond;
};

struct qnode {
	uint64_t ino;
	enum qv_kind kind;
	uint64_t coll;           /* the collection */
	uint64_t parent;         /* the inode it was looked up in */
	char *name;
	struct qspec *spec;      /* WHERE, COUNT, EXPORT: NULL for none */
	char *field;             /* INDEX: decoded */
	size_t flen;
	uint64_t nlookup;
	struct qnode *inext;     /* by ino */
	struct qnode *nnext;     /* by (parent, name) */
};

/* An open virtual file or directory. */
struct qh {
	struct qh *prev, *next;  /* in the vfs's list; GUARDED_BY vfs mu */
	enum qv_kind kind;
	pthread_mutex_t mu;      /* guards everything below */
	uint64_t ino, coll, parent;
	struct qspec *spec;
	hdb_wbuf buf;            /* COUNT text, IMPORT data, EXPORT window,
	                            SCHEMA content */
	fs_table *table;         /* EXPORT_CSV: the schema it streams with */
	/* EXPORT, EXPORT_CSV */
	uint64_t base;           /* stream offset of buf.data[0] */
	fs_qcur *cur;
	const hdb_qcond *conds[QV_MAX_CONDS];
	size_t n;
	bool eof;
	/* IMPORT, IMPORT_CSV, SCHEMA */
	bool dirty, failed;
	bool append;             /* O_APPEND: writes go to the end (the size
	                            the kernel knows is always 0) */
	int opener;              /* thread group that opened it */
	uint32_t uid, gid;
	/* directories: the listing, taken at opendir */
	char *names;
	size_t *offs;
	hdb_fs_attr *attrs;
	size_t nitems, names_len;
};

/* Bits per generation of the lookup filter (2^23: 1 MiB), and hashes. */
#define QV_BLOOM_BITS (UINT64_C(1) << 23)
#define QV_BLOOM_K 3

struct fs_qvfs {
	pthread_mutex_t mu;      /* guards the table, specs' refs, the handle list,
	                            the rotation of the lookup filter */
	_Atomic uint64_t *bloom[2]; /* names looked up: current, previous generation */
	uint64_t bloom_since;    /* CLOCK_MONOTONIC seconds the current one started */
	struct qnode *byino[QV_BUCKETS];
	struct qnode *byname[QV_BUCKETS];
	uint64_t next;           /* next virtual inode number */
	struct qh handles;       /* list head */
};

static const struct fuse_lowlevel_ops *base;
static struct fuse_lowlevel_ops wrapped;

static hdb_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct fs_qvfs *vfs_of(fuse_req_t req)
{
	return fs_of(req)->q->vfs;
}

static bool is_virt(uint64_t ino)
{
	return ino & HDB_FS_VIRT_INO;
}

static void reply_rc(fuse_req_t req, int rc)
{
	fuse_reply_err(req, hdb_fs_errno(rc));
}

bool fs_qvfs_reserved(const char *name)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(reserved[i].name, name))
			return true;
	return false;
}

static int reserved_kind(const char *name)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(reserved[i].name, name))
			return (int)reserved[i].kind;
	return -1;
}

static const char *kind_name(enum qv_kind k)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (reserved[i].kind == k)
			return reserved[i].name;
	return k == QV_COUNT ? ".count" : "query directory";
}

/* Files whose writes are buffered and applied at close. */
static bool is_applied(enum qv_kind k)
{
	return k == QV_IMPORT || k == QV_IMPORT_CSV || k == QV_SCHEMA;
}

static uint64_t max_size(enum qv_kind k)
{
	return k == QV_SCHEMA ? FS_SCHEMA_MAX : FS_IMPORT_MAX;
}

static bool is_export(enum qv_kind k)
{
	return k == QV_EXPORT || k == QV_EXPORT_CSV;
}

/* Names that exist only in a collection with a schema. */
static bool table_only(enum qv_kind k)
{
	return k == QV_SCHEMA || k == QV_EXPORT_CSV || k == QV_IMPORT_CSV;
}

/* ---- the node table ---- */

static size_t hash_ino(uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15u) >> 52) % QV_BUCKETS;
}

static size_t hash_name(uint64_t parent, const char *name)
{
	uint64_t h = 1469598103934665603u ^ parent;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return (size_t)(h % QV_BUCKETS);
}

/* REQUIRES v->mu. */
static struct qnode *find_ino(struct fs_qvfs *v, uint64_t ino)
{
	for (struct qnode *n = v->byino[hash_ino(ino)]; n; n = n->inext)
		if (n->ino == ino)
			return n;
	return NULL;
}

/* REQUIRES v->mu. */
static struct qnode *find_name(struct fs_qvfs *v, uint64_t parent, const char *name)
{
	for (struct qnode *n = v->byname[hash_name(parent, name)]; n; n = n->nnext)
		if (n->parent == parent && !strcmp(n->name, name))
			return n;
	return NULL;
}

/* REQUIRES v->mu. */
static void spec_ref(struct qspec *s)
{
	if (s)
		s->refs++;
}

/* REQUIRES v->mu. */
static void spec_unref(struct qspec *s)
{
	while (s && !--s->refs) {
		struct qspec *p = s->parent;
		hdb_qcond_free(&s->cond);
		free(s);
		s = p;
	}
}

/* Copies the chain's conditions, outermost first; returns how many. */
static size_t spec_conds(const struct qspec *s, const hdb_qcond **out)
{
	size_t n = s ? s->depth : 0;
	for (size_t i = n; s; s = s->parent)
		out[--i] = &s->cond;
	return n;
}

/* REQUIRES v->mu.  Unlinks and frees n. */
static void drop_node(struct fs_qvfs *v, struct qnode *n)
{
	struct qnode **p;
	for (p = &v->byino[hash_ino(n->ino)]; *p != n; p = &(*p)->inext)
		;
	*p = n->inext;
	for (p = &v->byname[hash_name(n->parent, n->name)]; *p != n; p = &(*p)->nnext)
		;
	*p = n->nnext;
	spec_unref(n->spec);
	free(n->name);
	free(n->field);
	free(n);
}

/* The node (parent, name) with one more lookup reference, made from the
 * template t when absent (t's spec reference passes to the node; its
 * strings are copied).  NULL on -ENOMEM. */
static struct qnode *ref_node(struct fs_qvfs *v, uint64_t parent, const char *name, const struct qnode *t)
{
	pthread_mutex_lock(&v->mu);
	struct qnode *n = find_name(v, parent, name);
	if (n) {
		spec_unref(t->spec);
		n->nlookup++;
		pthread_mutex_unlock(&v->mu);
		return n;
	}
	n = calloc(1, sizeof(*n));
	if (n) {
		*n = *t;
		n->name = strdup(name);
		n->field = t->field ? malloc(t->flen + 1) : NULL;
		if (!n->name || (t->field && !n->field)) {
			free(n->name);
			free(n->field);
			free(n);
			n = NULL;
		}
	}
	if (!n) {
		spec_unref(t->spec);
		pthread_mutex_unlock(&v->mu);
		return NULL;
	}
	if (t->field)
		memcpy(n->field, t->field, t->flen + 1);
	n->ino = HDB_FS_VIRT_INO | v->next++;
	n->parent = parent;
	n->nlookup = 1;
	size_t hi = hash_ino(n->ino), hn = hash_name(parent, name);
	n->inext = v->byino[hi];
	v->byino[hi] = n;
	n->nnext = v->byname[hn];
	v->byname[hn] = n;
	pthread_mutex_unlock(&v->mu);
	return n;
}

/* A copy of node ino's fields (spec referenced: release with spec_put). */
static int get_node(struct fs_qvfs *v, uint64_t ino, struct qnode *out)
{
	pthread_mutex_lock(&v->mu);
	struct qnode *n = find_ino(v, ino);
	if (n) {
		*out = *n;
		spec_ref(n->spec);
	}
	pthread_mutex_unlock(&v->mu);
	return n ? 0 : -ENOENT;
}

static void spec_put(struct fs_qvfs *v, struct qspec *s)
{
	pthread_mutex_lock(&v->mu);
	spec_unref(s);
	pthread_mutex_unlock(&v->mu);
}

static void forget_node(struct fs_qvfs *v, uint64_t ino, uint64_t nlookup)
{
	pthread_mutex_lock(&v->mu);
	struct qnode *n = find_ino(v, ino);
	if (n) {
		n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
		if (!n->nlookup)
			drop_node(v, n);
	}
	pthread_mutex_unlock(&v->mu);
}

static uint64_t now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static uint64_t name_hash(uint64_t parent, const char *name, size_t nlen, uint64_t seed)
{
	uint64_t h = (1469598103934665603u ^ seed) * 1099511628211u ^ parent;
	for (size_t i = 0; i < nlen; i++)
		h = (h ^ (unsigned char)name[i]) * 1099511628211u;
	h ^= h >> 29;
	return h * 0xBF58476D1CE4E5B9u;
}

/* A generation lives FS_STORED_TIMEOUT (the longest a negative entry is
 * cached): one that old is cleared and becomes the current one again. */
static void bloom_rotate(struct fs_qvfs *v)
{
	uint64_t now = now_sec();
	if (now - v->bloom_since < (uint64_t)FS_STORED_TIMEOUT)
		return;
	pthread_mutex_lock(&v->mu);
	if (now - v->bloom_since >= (uint64_t)FS_STORED_TIMEOUT) {
		_Atomic uint64_t *old = v->bloom[1];
		for (size_t i = 0; i < QV_BLOOM_BITS / 64; i++)
			atomic_store_explicit(&old[i], 0, memory_order_relaxed);
		v->bloom[1] = v->bloom[0];
		v->bloom[0] = old;
		v->bloom_since = now;
	}
	pthread_mutex_unlock(&v->mu);
}

static void bloom_add(struct fs_qvfs *v, uint64_t parent, const char *name)
{
	bloom_rotate(v);
	size_t nlen = strlen(name);
	_Atomic uint64_t *b = v->bloom[0];
	for (uint64_t k = 0; k < QV_BLOOM_K; k++) {
		uint64_t bit = name_hash(parent, name, nlen, k) % QV_BLOOM_BITS;
		atomic_fetch_or_explicit(&b[bit / 64], UINT64_C(1) << (bit % 64), memory_order_relaxed);
	}
}

bool fs_qvfs_maybe_looked_up(hdb_fs *fs, uint64_t parent, const char *name, size_t nlen)
{
	struct fs_qvfs *v = fs->q ? fs->q->vfs : NULL;
	if (!v)
		return false;
	for (int g = 0; g < 2; g++) {
		_Atomic uint64_t *b = v->bloom[g];
		bool all = true;
		for (uint64_t k = 0; all && k < QV_BLOOM_K; k++) {
			uint64_t bit = name_hash(parent, name, nlen, k) % QV_BLOOM_BITS;
			all = atomic_load_explicit(&b[bit / 64], memory_order_relaxed) >> (bit % 64) & 1;
		}
		if (all)
			return true;
	}
	return false;
}

int fs_qvfs_new(hdb_fs *fs, struct fs_qvfs **out)
{
	struct fs_qvfs *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int g = 0; g < 2; g++) {
		v->bloom[g] = calloc(QV_BLOOM_BITS / 64, sizeof(uint64_t));
		if (!v->bloom[g]) {
			free(v->bloom[0]);
			free(v);
			return -ENOMEM;
		}
	}
	v->bloom_since = now_sec();
	pthread_mutex_init(&v->mu, NULL);
	v->next = 1;
	v->handles.prev = v->handles.next = &v->handles;
	*out = v;
	return 0;
}

static void free_handle(struct fs_qvfs *v, struct qh *h);

void fs_qvfs_free(hdb_fs *fs, struct fs_qvfs *v)
{
	if (!v)
		return;
	while (v->handles.next != &v->handles) {
		struct qh *h = v->handles.next;
		if (is_applied(h->kind) && h->dirty)
			hdb_fs_log("a %s still open at shutdown was not applied", kind_name(h->kind));
		free_handle(v, h);
	}
	for (size_t b = 0; b < QV_BUCKETS; b++)
		while (v->byino[b])
			drop_node(v, v->byino[b]);
	pthread_mutex_destroy(&v->mu);
	free(v->bloom[0]);
	free(v->bloom[1]);
	free(v);
}

/* ---- attributes ---- */

/* The collection's attributes, or a plain directory when the kernel no
 * longer holds it. */
static hdb_fs_attr coll_attr(hdb_fs *fs, uint64_t coll, bool *gone)
{
	hdb_fs_attr a = { .ino = coll, .mode = S_IFDIR | 0755, .uid = fs->opt.owner_uid, .gid = fs->opt.owner_gid };
	a.atime = a.mtime = a.ctime = fs->mounted_at;
	*gone = true;
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, coll);
	if (i && S_ISDIR(hdb_inode_type(i))) {
		a = i->x->attr; /* directories are always loaded */
		*gone = i->unlinked;
	}
	hdb_itable_unlock(fs->itab);
	return a;
}

static mode_t kind_mode(enum qv_kind k, mode_t cm)
{
	switch (k) {
	case QV_WHERE:
	case QV_INDEX:
		return S_IFDIR | (cm & 0555);
	case QV_INDEXES:
		return S_IFDIR | (cm & 0777);
	case QV_COUNT:
	case QV_EXPORT:
	case QV_EXPORT_CSV:
		return S_IFREG | (cm & 0444);
	case QV_SCHEMA:
		return S_IFREG | (cm & 0666);
	default:
		return S_IFREG | (cm & 0222);
	}
}

static void node_stat(hdb_fs *fs, const struct qnode *n, struct stat *st)
{
	bool gone;
	hdb_fs_attr a = coll_attr(fs, n->coll, &gone);
	hdb_fs_attr_to_stat(&a, st);
	st->st_ino = n->ino;
	st->st_mode = kind_mode(n->kind, a.mode & 07777);
	st->st_size = 0;
	st->st_blocks = 0;
	if (n->kind == QV_SCHEMA) {
		fs_table *t = fs_table_get(fs, n->coll);
		st->st_size = t ? (off_t)t->rawlen : 0;
		fs_table_put(t);
	}
}

static void reply_node(fuse_req_t req, const struct qnode *n)
{
	struct fuse_entry_param e = { 0 };
	node_stat(fs_of(req), n, &e.attr);
	e.ino = n->ino;
	fuse_reply_entry(req, &e);
}

/* ---- lookup ---- */

/* Whether name is a document of the node's collection that satisfies
 * its query; when it is, takes a lookup reference on it (into *st). */
static int lookup_doc(hdb_fs *fs, const struct qnode *p, const char *name, struct stat *st, bool *found,
                      bool *exists)
{
	size_t nlen = strlen(name);
	hdb_fs_attr a;
	*found = *exists = false;
	if (!hdb_fs_is_doc_name(name, nlen) || nlen > HDB_FS_NAME_MAX)
		return 0;
	int rc = fs_read_entry(fs, p->coll, name, nlen, &a);
	if (rc == -ENOENT || (!rc && !S_ISREG(a.mode)))
		return 0;
	if (rc)
		return rc;
	*exists = true;
	void *doc;
	size_t dlen;
	rc = fs_read_data(fs, a.ino, &doc, &dlen);
	if (rc)
		return rc;
	const hdb_qcond *conds[QV_MAX_CONDS];
	size_t n = spec_conds(p->spec, conds);
	bool match = true;
	for (size_t i = 0; match && i < n; i++)
		match = hdb_qcond_match(conds[i], doc, dlen);
	free(doc);
	if (!match)
		return 0;
	rc = fs_node_lookup(fs, p->coll, name, st);
	*found = !rc;
	return rc == -ENOENT ? 0 : rc;
}

/* A new query directory: p's conditions and the one in name. */
static int lookup_cond(fuse_req_t req, const struct qnode *p, const char *name)
{
	struct fs_qvfs *v = vfs_of(req);
	size_t depth = p->spec ? p->spec->depth : 0;
	char path[1024];
	hdb_fs_path(fs_of(req), p->coll, "", path, sizeof(path));
	if (depth >= QV_MAX_CONDS) {
		hdb_fs_log("%s.where: more than %d conditions", path, QV_MAX_CONDS);
		return -ENOENT;
	}
	struct qspec *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	const char *why = NULL;
	int rc = hdb_qcond_parse(name, strlen(name), &s->cond, &why);
	if (rc) {
		free(s);
		/* A "*.json" name that is not a condition was a document's. */
		if (rc == -EINVAL && !hdb_fs_is_doc_name(name, strlen(name)))
			hdb_fs_log("%s.where: \"%s\" is not a condition: %s", path, name, why);
		return rc == -EINVAL ? -ENOENT : rc;
	}
	s->refs = 1;
	s->depth = depth + 1;
	s->parent = p->spec;
	pthread_mutex_lock(&v->mu);
	spec_ref(p->spec);
	pthread_mutex_unlock(&v->mu);
	struct qnode t = { .kind = QV_WHERE, .coll = p->coll, .spec = s };
	struct qnode *n = ref_node(v, p->ino, name, &t);
	if (!n)
		return -ENOMEM;
	reply_node(req, n);
	return 0;
}

static int lookup_in_where(fuse_req_t req, const struct qnode *p, const char *name)
{
	hdb_fs *fs = fs_of(req);
	struct fs_qvfs *v = vfs_of(req);
	bool csv = !strcmp(name, ".export.csv");
	if (csv && !fs_table_exists(fs, p->coll))
		return -ENOENT;
	if (csv || !strcmp(name, ".count") || !strcmp(name, ".export.jsonl")) {
		pthread_mutex_lock(&v->mu);
		spec_ref(p->spec);
		pthread_mutex_unlock(&v->mu);
		enum qv_kind kind = csv ? QV_EXPORT_CSV : name[1] == 'c' ? QV_COUNT : QV_EXPORT;
		struct qnode t = { .kind = kind, .coll = p->coll, .spec = p->spec };
		struct qnode *n = ref_node(v, p->ino, name, &t);
		if (!n)
			return -ENOMEM;
		reply_node(req, n);
		return 0;
	}
	struct stat st;
	bool found, exists;
	int rc = lookup_doc(fs, p, name, &st, &found, &exists);
	if (rc)
		return rc;
	if (exists && !found)
		return -ENOENT; /* a document of the collection that does not match */
	if (found) {
		struct fuse_entry_param e = { 0 };
		e.ino = st.st_ino;
		e.attr = st;
		e.attr_timeout = FS_CACHE_TIMEOUT;
		fuse_reply_entry(req, &e);
		return 0;
	}
	/* An existing query directory needs no second parse. */
	pthread_mutex_lock(&v->mu);
	struct qnode *n = find_name(v, p->ino, name);
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&v->mu);
	if (n) {
		reply_node(req, n);
		return 0;
	}
	return lookup_cond(req, p, name);
}

static int lookup_in_indexes(fuse_req_t req, const struct qnode *p, const char *name)
{
	hdb_fs *fs = fs_of(req);
	size_t len = strlen(name);
	char field[HDB_FS_NAME_MAX + 1];
	int flen = len <= HDB_FS_NAME_MAX ? hdb_q_unescape(name, len, field) : -EINVAL;
	if (flen <= 0 || !fs_index_exists(fs, p->coll, field, (size_t)flen))
		return -ENOENT;
	struct qnode t = { .kind = QV_INDEX, .coll = p->coll, .field = field, .flen = (size_t)flen };
	field[flen] = 0;
	struct qnode *n = ref_node(vfs_of(req), p->ino, name, &t);
	if (!n)
		return -ENOMEM;
	reply_node(req, n);
	return 0;
}

static void lookup_virtual(fuse_req_t req, uint64_t parent, const char *name)
{
	struct fs_qvfs *v = vfs_of(req);
	struct qnode p;
	if (strlen(name) > HDB_FS_NAME_MAX) {
		reply_rc(req, -ENAMETOOLONG);
		return;
	}
	int rc = get_node(v, parent, &p);
	if (!rc) {
		if (p.kind == QV_WHERE)
			rc = lookup_in_where(req, &p, name);
		else if (p.kind == QV_INDEXES)
			rc = lookup_in_indexes(req, &p, name);
		else
			rc = -ENOENT;
		spec_put(v, p.spec);
	}
	if (rc)
		reply_rc(req, rc);
}

/* A reserved name in a real directory. */
static void lookup_reserved(fuse_req_t req, uint64_t parent, const char *name, enum qv_kind kind)
{
	bool gone;
	hdb_fs_attr a = coll_attr(fs_of(req), parent, &gone);
	if (gone || (table_only(kind) && !fs_table_exists(fs_of(req), parent))) {
		reply_rc(req, -ENOENT);
		return;
	}
	(void)a;
	struct qnode t = { .kind = kind, .coll = parent };
	struct qnode *n = ref_node(vfs_of(req), parent, name, &t);
	if (!n)
		reply_rc(req, -ENOMEM);
	else
		reply_node(req, n);
}

static void qv_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int kind;
	if (is_virt(parent))
		lookup_virtual(req, parent, name);
	else if (parent != HDB_FS_ROOT_INO && (kind = reserved_kind(name)) >= 0)
		lookup_reserved(req, parent, name, (enum qv_kind)kind);
	else {
		bloom_add(vfs_of(req), parent, name);
		base->lookup(req, parent, name);
	}
}

static void qv_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (!is_virt(ino)) {
		base->forget(req, ino, nlookup);
		return;
	}
	forget_node(vfs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void qv_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t real = 0;
	for (size_t i = 0; i < count; i++) {
		if (is_virt(forgets[i].ino))
			forget_node(vfs_of(req), forgets[i].ino, forgets[i].nlookup);
		else
			forgets[real++] = forgets[i];
	}
	if (real)
		base->forget_multi(req, real, forgets);
	else
		fuse_reply_none(req);
}

/* ---- attributes ---- */

static void qv_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->getattr(req, ino, fi);
		return;
	}
	struct qnode n;
	struct stat st;
	int rc = get_node(vfs_of(req), ino, &n);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	node_stat(fs_of(req), &n, &st);
	spec_put(vfs_of(req), n.spec);
	fuse_reply_attr(req, &st, 0);
}

static void qv_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->setattr(req, ino, attr, to_set, fi);
		return;
	}
	struct qnode n;
	struct stat st;
	int rc = get_node(vfs_of(req), ino, &n);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	node_stat(fs_of(req), &n, &st);
	spec_put(vfs_of(req), n.spec);
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	if (is_applied(n.kind) && !(to_set & ~(FUSE_SET_ATTR_SIZE | times))) {
		struct qh *h = fi ? (struct qh *)(uintptr_t)fi->fh : NULL;
		if (h && (to_set & FUSE_SET_ATTR_SIZE) && attr->st_size >= 0) {
			pthread_mutex_lock(&h->mu);
			rc = hdb_wbuf_truncate(&h->buf, (uint64_t)attr->st_size, max_size(h->kind));
			pthread_mutex_unlock(&h->mu);
		}
	} else {
		rc = to_set & FUSE_SET_ATTR_SIZE && (n.kind == QV_COUNT || is_export(n.kind)) ? -EACCES : -EPERM;
	}
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

static void qv_readlink(fuse_req_t req, fuse_ino_t ino)
{
	if (is_virt(ino))
		fuse_reply_err(req, EINVAL);
	else
		base->readlink(req, ino);
}

/* ---- namespace changes ---- */

/* EPERM for a change inside a virtual directory or to a reserved name in
 * a collection; 0 when the base operation should run. */
static int refuse_change(uint64_t parent, const char *name)
{
	if (is_virt(parent))
		return -EPERM;
	return parent != HDB_FS_ROOT_INO && fs_qvfs_reserved(name) ? -EPERM : 0;
}

static void qv_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	int rc = refuse_change(parent, name);
	if (rc)
		reply_rc(req, rc);
	else
		base->mknod(req, parent, name, mode, rdev);
}

static void qv_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	int rc = refuse_change(parent, name);
	if (rc)
		reply_rc(req, rc);
	else
		base->symlink(req, link, parent, name);
}

static void qv_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (!is_virt(parent) && parent != HDB_FS_ROOT_INO && !strcmp(name, ".schema")) {
		reply_rc(req, fs_table_remove(fs_of(req), parent));
		return;
	}
	int rc = refuse_change(parent, name);
	if (rc)
		reply_rc(req, rc);
	else
		base->unlink(req, parent, name);
}

static void qv_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EPERM);
}

static void qv_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	int rc = refuse_change(parent, name);
	if (!rc)
		rc = refuse_change(newparent, newname);
	if (rc)
		reply_rc(req, rc);
	else
		base->rename(req, parent, name, newparent, newname, flags);
}

static int open_file(fuse_req_t req, const struct qnode *n, int flags, struct qh **out);

/* A create of .schema (any collection) or .import.csv (a table): the
 * virtual file, opened for writing with nothing in its buffer. */
static void create_reserved(fuse_req_t req, fuse_ino_t parent, const char *name, enum qv_kind kind,
                            struct fuse_file_info *fi)
{
	bool gone;
	coll_attr(fs_of(req), parent, &gone);
	if (gone || (kind == QV_IMPORT_CSV && !fs_table_exists(fs_of(req), parent))) {
		reply_rc(req, -ENOENT);
		return;
	}
	struct qnode t = { .kind = kind, .coll = parent };
	struct qnode *n = ref_node(vfs_of(req), parent, name, &t);
	struct qh *h = NULL;
	int rc = n ? open_file(req, n, fi->flags | O_TRUNC, &h) : -ENOMEM;
	if (rc) {
		if (n)
			forget_node(vfs_of(req), n->ino, 1);
		reply_rc(req, rc);
		return;
	}
	struct fuse_entry_param e = { 0 };
	node_stat(fs_of(req), n, &e.attr);
	e.ino = n->ino;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_create(req, &e, fi))
		free_handle(vfs_of(req), h);
}

static void qv_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	int kind = is_virt(parent) || parent == HDB_FS_ROOT_INO ? -1 : reserved_kind(name);
	if (kind == QV_SCHEMA || kind == QV_IMPORT_CSV) {
		create_reserved(req, parent, name, (enum qv_kind)kind, fi);
		return;
	}
	int rc = refuse_change(parent, name);
	if (rc)
		reply_rc(req, rc);
	else
		base->create(req, parent, name, mode, fi);
}

static int index_dir_field(const char *name, char *field)
{
	size_t len = strlen(name);
	if (len > HDB_FS_NAME_MAX)
		return -ENAMETOOLONG;
	int flen = hdb_q_unescape(name, len, field);
	if (flen <= 0)
		return -EINVAL;
	field[flen] = 0;
	return flen;
}

static void qv_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	if (!is_virt(parent)) {
		int rc = refuse_change(parent, name);
		if (rc)
			reply_rc(req, rc);
		else
			base->mkdir(req, parent, name, mode);
		return;
	}
	hdb_fs *fs = fs_of(req);
	struct qnode p;
	char field[HDB_FS_NAME_MAX + 1];
	int rc = get_node(vfs_of(req), parent, &p);
	if (!rc) {
		spec_put(vfs_of(req), p.spec);
		rc = p.kind != QV_INDEXES ? -EPERM : index_dir_field(name, field);
	}
	if (rc >= 0)
		rc = fs_index_create(fs, p.coll, field, (size_t)rc);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	struct qnode t = { .kind = QV_INDEX, .coll = p.coll, .field = field, .flen = strlen(field) };
	struct qnode *n = ref_node(vfs_of(req), parent, name, &t);
	if (!n)
		reply_rc(req, -ENOMEM);
	else
		reply_node(req, n);
}

static void qv_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (!is_virt(parent)) {
		int rc = refuse_change(parent, name);
		if (rc)
			reply_rc(req, rc);
		else
			base->rmdir(req, parent, name);
		return;
	}
	struct qnode p;
	char field[HDB_FS_NAME_MAX + 1];
	int rc = get_node(vfs_of(req), parent, &p);
	if (!rc) {
		spec_put(vfs_of(req), p.spec);
		rc = p.kind != QV_INDEXES ? -EPERM : index_dir_field(name, field);
		if (rc == -EINVAL)
			rc = -ENOENT;
	}
	if (rc >= 0)
		rc = fs_index_drop(fs_of(req), p.coll, field, (size_t)rc);
	reply_rc(req, rc);
}

/* ---- handles ---- */

static struct qh *new_handle(struct fs_qvfs *v, const struct qnode *n)
{
	struct qh *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->kind = n->kind;
	h->ino = n->ino;
	h->coll = n->coll;
	pthread_mutex_init(&h->mu, NULL);
	hdb_wbuf_init(&h->buf);
	pthread_mutex_lock(&v->mu);
	h->spec = n->spec;
	spec_ref(h->spec);
	h->n = spec_conds(h->spec, h->conds);
	h->next = v->handles.next;
	h->prev = &v->handles;
	v->handles.next->prev = h;
	v->handles.next = h;
	pthread_mutex_unlock(&v->mu);
	return h;
}

static void free_handle(struct fs_qvfs *v, struct qh *h)
{
	pthread_mutex_lock(&v->mu);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	spec_unref(h->spec);
	pthread_mutex_unlock(&v->mu);
	fs_table_put(h->table);
	fs_qcur_free(h->cur);
	hdb_wbuf_free(&h->buf);
	free(h->names);
	free(h->offs);
	free(h->attrs);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* The thread group of thread tid, from /proc; tid itself when unknown. */
static int tgid_of(int tid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return tid;
	int tgid = tid;
	while (fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "Tgid:", 5)) {
			tgid = atoi(buf + 5);
			break;
		}
	fclose(f);
	return tgid;
}

static int open_count(hdb_fs *fs, struct qh *h)
{
	uint64_t count;
	int rc = fs_query_count(fs, h->coll, h->conds, h->n, &count);
	if (rc)
		return rc;
	char text[32];
	int len = snprintf(text, sizeof(text), "%" PRIu64 "\n", count);
	return hdb_wbuf_write(&h->buf, 0, text, (size_t)len, sizeof(text));
}

/* Starts (or starts over) an export's stream: a new snapshot, and for CSV
 * the header. */
static int export_start(hdb_fs *fs, struct qh *h)
{
	fs_qcur_free(h->cur);
	h->cur = NULL;
	h->buf.len = 0;
	h->base = 0;
	h->eof = false;
	int rc = h->kind == QV_EXPORT_CSV ? hdb_schema_csv_header(&h->table->s, &h->buf) : 0;
	return rc ? rc : fs_qcur_open(fs, h->coll, h->conds, h->n, FS_Q_DOCS, &h->cur);
}

/* The table a CSV file or .schema works with: -ENOENT when coll has no
 * schema (any more), -EIO when it did not parse at mount. */
static int take_table(hdb_fs *fs, struct qh *h)
{
	h->table = fs_table_get(fs, h->coll);
	return !h->table ? -ENOENT : h->table->broken && h->kind != QV_SCHEMA ? -EIO : 0;
}

/* A .schema open: a writer without O_TRUNC (and every reader) starts from
 * the stored schema, like a regular file. */
static int open_schema(hdb_fs *fs, struct qh *h, bool writing, int flags)
{
	if (writing && (flags & O_TRUNC))
		return 0;
	int rc = take_table(fs, h);
	if (!rc)
		rc = hdb_wbuf_write(&h->buf, 0, h->table->raw, h->table->rawlen, FS_SCHEMA_MAX);
	fs_table_put(h->table);
	h->table = NULL;
	return rc;
}

static int open_file(fuse_req_t req, const struct qnode *n, int flags, struct qh **out)
{
	hdb_fs *fs = fs_of(req);
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	if (n->kind == QV_WHERE || n->kind == QV_INDEXES || n->kind == QV_INDEX)
		return -EISDIR;
	bool write_only = n->kind == QV_IMPORT || n->kind == QV_IMPORT_CSV;
	if (n->kind != QV_SCHEMA && (write_only ? !writing : writing))
		return -EACCES;
	if (writing && fs->opt.read_only)
		return -EROFS;
	struct qh *h = new_handle(fs->q->vfs, n);
	if (!h)
		return -ENOMEM;
	int rc = 0;
	if (n->kind == QV_COUNT) {
		rc = open_count(fs, h);
	} else if (is_export(n->kind)) {
		rc = n->kind == QV_EXPORT_CSV ? take_table(fs, h) : 0;
		if (!rc)
			rc = export_start(fs, h);
		atomic_fetch_add(&fs->q->exports, 1);
	} else {
		if (n->kind == QV_IMPORT_CSV && !fs_table_exists(fs, n->coll))
			rc = -ENOENT;
		else if (n->kind == QV_SCHEMA)
			rc = open_schema(fs, h, writing, flags);
		const struct fuse_ctx *ctx = fuse_req_ctx(req);
		h->opener = tgid_of(ctx->pid);
		h->append = flags & O_APPEND;
		h->uid = (uint32_t)ctx->uid;
		h->gid = (uint32_t)ctx->gid;
	}
	if (rc) {
		free_handle(fs->q->vfs, h);
		return rc;
	}
	*out = h;
	return 0;
}

static void qv_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->open(req, ino, fi);
		return;
	}
	struct qnode n;
	struct qh *h = NULL;
	int rc = get_node(vfs_of(req), ino, &n);
	if (!rc) {
		rc = open_file(req, &n, fi->flags, &h);
		spec_put(vfs_of(req), n.spec);
	}
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi))
		free_handle(vfs_of(req), h);
}

/* Appends export lines to h's window until it reaches `until` or the end. */
static int export_fill(hdb_fs *fs, struct qh *h, uint64_t until)
{
	while (!h->eof && h->base + h->buf.len < until) {
		fs_qmatch m;
		int rc = fs_qcur_next(h->cur, &m);
		if (rc < 0)
			return rc;
		if (!rc) {
			h->eof = true;
			break;
		}
		if (h->kind == QV_EXPORT_CSV)
			rc = fs_table_csv_row(h->table, m.doc, m.dlen, &h->buf);
		else
			rc = hdb_jsonl_export_line(m.name, m.nlen - 5, m.doc, m.dlen, &h->buf);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Serves [off, off + size) of the export stream. */
static int export_read(hdb_fs *fs, struct qh *h, uint64_t off, size_t size, void **out, size_t *got)
{
	if (off < h->base) {
		/* A reader went back: start the stream over. */
		int rc = export_start(fs, h);
		if (rc)
			return rc;
	}
	for (;;) {
		/* Bytes before off are not needed again (reads go forward). */
		uint64_t drop = off - h->base < h->buf.len ? off - h->base : h->buf.len;
		if (drop) {
			memmove(h->buf.data, h->buf.data + drop, h->buf.len - drop);
			h->buf.len -= drop;
			h->base += drop;
		}
		if (h->base == off || h->eof)
			break;
		int rc = export_fill(fs, h, off + 1);
		if (rc)
			return rc;
	}
	int rc = export_fill(fs, h, off + size);
	if (rc)
		return rc;
	size_t avail = h->base == off ? h->buf.len : 0, n = avail < size ? avail : size;
	*out = n ? malloc(n) : NULL;
	if (n && !*out)
		return -ENOMEM;
	if (n)
		memcpy(*out, h->buf.data, n);
	*got = n;
	return 0;
}

static void qv_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->read(req, ino, size, off, fi);
		return;
	}
	struct qh *h = (struct qh *)(uintptr_t)fi->fh;
	void *buf = NULL;
	size_t n = 0;
	int rc = off < 0 ? -EINVAL : 0;
	pthread_mutex_lock(&h->mu);
	if (!rc && is_export(h->kind)) {
		rc = export_read(fs_of(req), h, (uint64_t)off, size, &buf, &n);
	} else if (!rc && (h->kind == QV_COUNT || h->kind == QV_SCHEMA)) {
		const uint8_t *p;
		n = hdb_wbuf_read(&h->buf, (uint64_t)off, size, &p);
		buf = n ? malloc(n) : NULL;
		if (n && !buf)
			rc = -ENOMEM;
		else if (n)
			memcpy(buf, p, n);
	} else if (!rc) {
		rc = -EBADF;
	}
	pthread_mutex_unlock(&h->mu);
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_buf(req, buf, n);
	free(buf);
}

static int import_write(struct qh *h, uint64_t off, const void *p, size_t n)
{
	if (!is_applied(h->kind))
		return -EBADF;
	if (h->failed)
		return -EFBIG;
	if (h->append)
		off = h->buf.len;
	int rc = hdb_wbuf_write(&h->buf, off, p, n, max_size(h->kind));
	if (rc == -EFBIG)
		h->failed = true;
	if (!rc && n)
		h->dirty = true;
	return rc;
}

static void qv_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->write(req, ino, buf, size, off, fi);
		return;
	}
	struct qh *h = (struct qh *)(uintptr_t)fi->fh;
	pthread_mutex_lock(&h->mu);
	int rc = off < 0 ? -EINVAL : import_write(h, (uint64_t)off, buf, size);
	pthread_mutex_unlock(&h->mu);
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_write(req, size);
}

static void qv_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
                         struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->write_buf(req, ino, bufv, off, fi);
		return;
	}
	size_t size = fuse_buf_size(bufv);
	char *mem = malloc(size ? size : 1);
	if (!mem) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
	dst.buf[0].mem = mem;
	ssize_t got = fuse_buf_copy(&dst, bufv, 0);
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		qv_write(req, ino, mem, (size_t)got, off, fi);
	free(mem);
}

/* Applies h's buffer (REQUIRES h->mu): an import is consumed (the buffer
 * empties), a .schema keeps its buffer as a file keeps its content. */
static int import_apply(hdb_fs *fs, struct qh *h)
{
	if (!h->dirty && !h->failed)
		return 0;
	bool failed = h->failed;
	h->dirty = h->failed = false;
	int rc = -EFBIG;
	char what[1100];
	fs_snap s;
	if (fs_snap_inode(fs, h->coll, &s))
		snprintf(what, sizeof(what), "collection %" PRIu64 "/%s", h->coll, kind_name(h->kind) + 1);
	else
		hdb_fs_path(fs, h->coll, kind_name(h->kind), what, sizeof(what));
	if (failed) {
		hdb_fs_log("%s: more than %llu bytes were written: nothing applied", what,
		           (unsigned long long)max_size(h->kind));
	} else if (h->kind == QV_SCHEMA) {
		rc = fs_table_set(fs, h->coll, h->buf.data, h->buf.len);
	} else {
		fs_import_opts o = { .uid = h->uid, .gid = h->gid, .mode = 0644, .what = what,
		                     .format = h->kind == QV_IMPORT_CSV ? FS_IMPORT_CSV : FS_IMPORT_JSONL };
		fs_import_result res;
		rc = fs_import(fs, h->coll, h->buf.data, h->buf.len, &o, &res);
	}
	if (h->kind != QV_SCHEMA) {
		hdb_wbuf_free(&h->buf);
		hdb_wbuf_init(&h->buf);
	}
	return rc;
}

static void qv_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->flush(req, ino, fi);
		return;
	}
	struct qh *h = (struct qh *)(uintptr_t)fi->fh;
	int rc = 0;
	pthread_mutex_lock(&h->mu);
	if (is_applied(h->kind) && tgid_of(fuse_req_ctx(req)->pid) == h->opener)
		rc = import_apply(fs_of(req), h);
	pthread_mutex_unlock(&h->mu);
	reply_rc(req, rc);
}

static void qv_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->fsync(req, ino, datasync, fi);
		return;
	}
	hdb_fs *fs = fs_of(req);
	struct qh *h = (struct qh *)(uintptr_t)fi->fh;
	pthread_mutex_lock(&h->mu);
	int rc = is_applied(h->kind) ? import_apply(fs, h) : 0;
	pthread_mutex_unlock(&h->mu);
	if (!rc && is_applied(h->kind) && !fs->opt.read_only)
		rc = hdb_sync(fs->db);
	reply_rc(req, rc);
}

static void qv_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->release(req, ino, fi);
		return;
	}
	struct qh *h = (struct qh *)(uintptr_t)fi->fh;
	pthread_mutex_lock(&h->mu);
	int rc = is_applied(h->kind) ? import_apply(fs_of(req), h) : 0;
	pthread_mutex_unlock(&h->mu);
	if (rc)
		hdb_fs_log("a %s applied at release failed: %s", kind_name(h->kind), strerror(hdb_fs_errno(rc)));
	free_handle(vfs_of(req), h);
	fuse_reply_err(req, 0);
}

/* ---- directories ---- */

static int add_item(struct qh *h, const char *name, size_t nlen, const hdb_fs_attr *a, size_t *cap, size_t *ncap)
{
	if (h->nitems == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		size_t *offs = realloc(h->offs, c * sizeof(*offs));
		if (!offs)
			return -ENOMEM;
		h->offs = offs;
		hdb_fs_attr *attrs = realloc(h->attrs, c * sizeof(*attrs));
		if (!attrs)
			return -ENOMEM;
		h->attrs = attrs;
		*cap = c;
	}
	if (h->names_len + nlen + 1 > *ncap) {
		size_t c = *ncap ? *ncap : 4096;
		while (h->names_len + nlen + 1 > c)
			c *= 2;
		char *names = realloc(h->names, c);
		if (!names)
			return -ENOMEM;
		h->names = names;
		*ncap = c;
	}
	memcpy(h->names + h->names_len, name, nlen);
	h->names[h->names_len + nlen] = 0;
	h->offs[h->nitems] = h->names_len;
	h->attrs[h->nitems++] = *a;
	h->names_len += nlen + 1;
	return 0;
}

static int list_where(hdb_fs *fs, struct qh *h)
{
	fs_qcur *c;
	size_t cap = 0, ncap = 0;
	int rc = fs_qcur_open(fs, h->coll, h->conds, h->n, 0, &c);
	if (rc)
		return rc;
	fs_qmatch m;
	while ((rc = fs_qcur_next(c, &m)) == 1) {
		rc = add_item(h, m.name, m.nlen, &m.attr, &cap, &ncap);
		if (rc)
			break;
	}
	fs_qcur_free(c);
	return rc < 0 ? rc : 0;
}

static int list_indexes(hdb_fs *fs, struct qh *h)
{
	char **fields;
	size_t n, cap = 0, ncap = 0;
	int rc = fs_index_list(fs, h->coll, &fields, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char esc[3 * HDB_FS_NAME_MAX + 1];
		size_t el = hdb_q_escape(fields[i], strlen(fields[i]), esc);
		hdb_fs_attr a = { .ino = QV_LIST_INO + i, .mode = S_IFDIR | 0555 };
		if (!rc && el <= HDB_FS_NAME_MAX)
			rc = add_item(h, esc, el, &a, &cap, &ncap);
		free(fields[i]);
	}
	free(fields);
	return rc;
}

static void qv_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->opendir(req, ino, fi);
		return;
	}
	hdb_fs *fs = fs_of(req);
	struct qnode n;
	struct qh *h = NULL;
	int rc = get_node(vfs_of(req), ino, &n);
	if (!rc) {
		bool dir = n.kind == QV_WHERE || n.kind == QV_INDEXES || n.kind == QV_INDEX;
		h = dir ? new_handle(vfs_of(req), &n) : NULL;
		rc = !dir ? -ENOTDIR : !h ? -ENOMEM : 0;
		if (h)
			h->parent = n.parent;
		spec_put(vfs_of(req), n.spec);
	}
	if (!rc && n.kind == QV_WHERE)
		rc = list_where(fs, h);
	else if (!rc && n.kind == QV_INDEXES)
		rc = list_indexes(fs, h);
	if (rc) {
		if (h)
			free_handle(vfs_of(req), h);
		reply_rc(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi))
		free_handle(vfs_of(req), h);
}

/* Adds item i (offset 3 + i) to a reply; false when it is full. */
static bool add_listed(fuse_req_t req, struct qh *h, size_t i, bool plus, char *buf, size_t size, size_t *len)
{
	hdb_fs *fs = fs_of(req);
	const char *name = h->names + h->offs[i];
	struct fuse_entry_param e = { 0 };
	off_t off = (off_t)(3 + i);
	size_t need, room = size - *len;
	bool doc = h->kind == QV_WHERE;
	hdb_fs_attr_to_stat(&h->attrs[i], &e.attr);
	if (!plus) {
		need = fuse_add_direntry(req, buf + *len, room, name, &e.attr, off);
	} else {
		if (doc) {
			hdb_inode *in;
			hdb_fs_attr cur = h->attrs[i];
			hdb_itable_lock(fs->itab);
			/* A held idle document: its attributes as stored now, not
			 * as the query read them; unreadable: as the query read. */
			if (!fs_refresh_idle(fs, FS_EPOCH_UNKNOWN, &cur, &in))
				hdb_fs_attr_to_stat(&cur, &e.attr);
			if (in && in->x)
				hdb_fs_stat(in, &e.attr);
			e.attr_timeout = in && in->x && in->x->ndirty ? 0 : FS_CACHE_TIMEOUT; /* see fs_file_getattr */
			hdb_itable_unlock(fs->itab);
			e.ino = h->attrs[i].ino;
		}
		need = fuse_add_direntry_plus(req, buf + *len, room, name, &e, off);
	}
	if (need > room)
		return false;
	if (plus && doc) {
		/* The entry carries a lookup reference on the document. */
		hdb_itable_lock(fs->itab);
		int rc = hdb_itable_ref(fs->itab, h->coll, name, strlen(name), &h->attrs[i], 1, false, NULL);
		hdb_itable_unlock(fs->itab);
		if (rc)
			return false;
	}
	*len += need;
	return true;
}

static bool add_dot(fuse_req_t req, const char *name, uint64_t ino, off_t off, char *buf, size_t size, size_t *len,
                    bool plus)
{
	struct fuse_entry_param e = { 0 };
	e.attr.st_ino = ino;
	e.attr.st_mode = S_IFDIR;
	size_t room = size - *len;
	size_t need = plus ? fuse_add_direntry_plus(req, buf + *len, room, name, &e, off)
	                   : fuse_add_direntry(req, buf + *len, room, name, &e.attr, off);
	if (need > room)
		return false;
	*len += need;
	return true;
}

static void reply_listing(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi,
                          bool plus)
{
	struct qh *h = (struct qh *)(uintptr_t)fi->fh;
	char *buf = malloc(size ? size : 1);
	size_t len = 0;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	bool room = true;
	pthread_mutex_lock(&h->mu);
	if (off < 1)
		room = add_dot(req, ".", h->ino, 1, buf, size, &len, plus);
	if (off < 2 && room)
		room = add_dot(req, "..", h->parent, 2, buf, size, &len, plus);
	for (size_t i = off >= 3 ? (size_t)off - 2 : 0; room && i < h->nitems; i++)
		room = add_listed(req, h, i, plus, buf, size, &len);
	pthread_mutex_unlock(&h->mu);
	fuse_reply_buf(req, buf, len);
	free(buf);
}

static void qv_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	if (is_virt(ino))
		reply_listing(req, ino, size, off, fi, false);
	else
		base->readdir(req, ino, size, off, fi);
}

static void qv_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	if (is_virt(ino))
		reply_listing(req, ino, size, off, fi, true);
	else
		base->readdirplus(req, ino, size, off, fi);
}

static void qv_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!is_virt(ino)) {
		base->releasedir(req, ino, fi);
		return;
	}
	free_handle(vfs_of(req), (struct qh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void qv_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	if (is_virt(ino))
		fuse_reply_err(req, 0);
	else
		base->fsyncdir(req, ino, datasync, fi);
}

/* ---- operations the query namespace does not support ---- */

static void qv_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
                               fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len,
                               int flags)
{
	if (is_virt(ino_in) || is_virt(ino_out))
		fuse_reply_err(req, EOPNOTSUPP);
	else
		base->copy_file_range(req, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags);
}

static void qv_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
	if (is_virt(ino))
		fuse_reply_err(req, EOPNOTSUPP);
	else
		base->fallocate(req, ino, mode, offset, length, fi);
}

static void qv_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	if (is_virt(ino))
		fuse_reply_err(req, ESPIPE);
	else
		base->lseek(req, ino, off, whence, fi);
}

const struct fuse_lowlevel_ops *fs_qvfs_ops(const struct fuse_lowlevel_ops *b)
{
	base = b;
	wrapped = *b;
	wrapped.lookup = qv_lookup;
	wrapped.forget = qv_forget;
	wrapped.forget_multi = qv_forget_multi;
	wrapped.getattr = qv_getattr;
	wrapped.setattr = qv_setattr;
	wrapped.readlink = qv_readlink;
	wrapped.mknod = qv_mknod;
	wrapped.mkdir = qv_mkdir;
	wrapped.symlink = qv_symlink;
	wrapped.unlink = qv_unlink;
	wrapped.rmdir = qv_rmdir;
	wrapped.rename = qv_rename;
	wrapped.link = qv_link;
	wrapped.open = qv_open;
	wrapped.create = qv_create;
	wrapped.read = qv_read;
	wrapped.write = qv_write;
	wrapped.flush = qv_flush;
	wrapped.release = qv_release;
	wrapped.fsync = qv_fsync;
	wrapped.opendir = qv_opendir;
	wrapped.readdir = qv_readdir;
	wrapped.readdirplus = qv_readdirplus;
	wrapped.releasedir = qv_releasedir;
	wrapped.fsyncdir = qv_fsyncdir;
	/* Operations base may gain later: virtual inodes must never reach
	 * them (their file handles are not base's). */
	if (b->write_buf)
		wrapped.write_buf = qv_write_buf;
	if (b->copy_file_range)
		wrapped.copy_file_range = qv_copy_file_range;
	if (b->fallocate)
		wrapped.fallocate = qv_fallocate;
	if (b->lseek)
		wrapped.lseek = qv_lseek;
	return &wrapped;
}
