/*
 * tables.c — schemas of tables: storage, the in-memory map, checks of
 * documents and the re-validation a schema change needs (see tables.h).
 */
#include "tables.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "keys.h"

#define TABLES_BUCKETS 256
/* Problems hybriddb check reports per table before it only counts. */
#define CHECK_REPORTS 5

struct tnode {
	fs_table *t;
	struct tnode *next;
};

/* The tables of a file system, fs->tables. */
typedef struct fs_tables {
	pthread_mutex_t mu;                    /* guards map; see tables.h */
	struct tnode *map[TABLES_BUCKETS];
	atomic_size_t count;                   /* tables in the map */
	atomic_uint_fast64_t sets;             /* schemas stored */
	atomic_uint_fast64_t removes;          /* schemas removed */
	atomic_uint_fast64_t revalidations;    /* schema changes that read the documents */
	atomic_uint_fast64_t immediate;        /* schema changes that did not need to */
	atomic_uint_fast64_t docs_revalidated; /* documents read by them */
	atomic_uint_fast64_t rejected;         /* changes refused by a schema */
} fs_tables;

static size_t bucket(uint64_t coll)
{
	return (size_t)((coll * 0x9E3779B97F4A7C15u) >> 56) % TABLES_BUCKETS;
}

static void table_free(fs_table *t)
{
	hdb_schema_free(&t->s);
	free(t->raw);
	free(t);
}

void fs_table_put(fs_table *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		table_free(t);
}

/* A new table with one reference holding a copy of raw[0..len) and no
 * schema yet. */
static fs_table *table_alloc(uint64_t coll, const void *raw, size_t len)
{
	fs_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->raw = malloc(len ? len : 1);
	if (!t->raw) {
		free(t);
		return NULL;
	}
	if (len)
		memcpy(t->raw, raw, len);
	t->rawlen = len;
	t->coll = coll;
	t->s.key = -1;
	atomic_init(&t->refs, 1);
	return t;
}

/* A new table with its schema parsed from raw[0..len): 0, -ENOMEM, or
 * -EINVAL with the reason in err. */
static int table_new(uint64_t coll, const void *raw, size_t len, fs_table **out, char *err, size_t errlen)
{
	fs_table *t = table_alloc(coll, raw, len);
	if (!t)
		return -ENOMEM;
	int rc = hdb_schema_parse(raw, len, &t->s, err, errlen);
	if (rc) {
		table_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* REQUIRES tb->mu. */
static struct tnode **find_slot(fs_tables *tb, uint64_t coll)
{
	struct tnode **p = &tb->map[bucket(coll)];
	while (*p && (*p)->t->coll != coll)
		p = &(*p)->next;
	return p;
}

/* Makes t coll's table (t's reference passes to the map; NULL: none).
 * Returns the table it replaces, whose map reference the caller drops.
 * REQUIRES commit_mu (the map follows the engine).  The node for a new
 * entry is passed in so that publishing cannot fail. */
static fs_table *publish(fs_tables *tb, uint64_t coll, fs_table *t, struct tnode *spare)
{
	fs_table *old = NULL;
	pthread_mutex_lock(&tb->mu);
	struct tnode **p = find_slot(tb, coll);
	if (*p) {
		old = (*p)->t;
		if (t) {
			(*p)->t = t;
		} else {
			struct tnode *n = *p;
			*p = n->next;
			free(n);
			atomic_fetch_sub(&tb->count, 1);
		}
	} else if (t) {
		spare->t = t;
		spare->next = NULL;
		*p = spare;
		spare = NULL;
		atomic_fetch_add(&tb->count, 1);
	}
	pthread_mutex_unlock(&tb->mu);
	free(spare);
	return old;
}

fs_table *fs_table_get(hdb_fs *fs, uint64_t coll)
{
	fs_tables *tb = fs->tables;
	if (!tb || !atomic_load_explicit(&tb->count, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&tb->mu);
	struct tnode *n = *find_slot(tb, coll);
	fs_table *t = n ? n->t : NULL;
	if (t)
		atomic_fetch_add(&t->refs, 1);
	pthread_mutex_unlock(&tb->mu);
	return t;
}

bool fs_table_exists(hdb_fs *fs, uint64_t coll)
{
	fs_table *t = fs_table_get(fs, coll);
	fs_table_put(t);
	return t != NULL;
}

int fs_table_csv_row(const fs_table *t, const void *doc, size_t len, hdb_wbuf *out)
{
	int rc = hdb_schema_csv_row(&t->s, doc, len, out);
	return rc == -EINVAL ? 0 : rc;
}

/* ---- loading ---- */

static int load_one(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	hdb_fs *fs = ctx;
	uint64_t coll;
	if (hdb_fs_ino_key_decode(k, kl, HDB_FS_TAG_SCHEMA, &coll)) {
		hdb_fs_log("ignoring a malformed schema key of %zu bytes", kl);
		return 0;
	}
	char err[160];
	fs_table *t;
	int rc = table_new(coll, v, vl, &t, err, sizeof(err));
	if (rc == -EINVAL) {
		/* Kept, so that its documents are not changed unchecked. */
		hdb_fs_log("the schema of collection inode %" PRIu64 " does not parse (%s): its documents "
		           "cannot be changed until .schema is written again or removed", coll, err);
		t = table_alloc(coll, v, vl);
		rc = t ? 0 : -ENOMEM;
		if (t)
			t->broken = true;
	}
	if (rc)
		return rc;
	struct tnode *spare = malloc(sizeof(*spare));
	if (!spare) {
		fs_table_put(t);
		return -ENOMEM;
	}
	fs_table_put(publish(fs->tables, coll, t, spare));
	return 0;
}

int fs_tables_new(hdb_fs *fs)
{
	fs_tables *tb = calloc(1, sizeof(*tb));
	if (!tb)
		return -ENOMEM;
	pthread_mutex_init(&tb->mu, NULL);
	fs->tables = tb;
	return fs_scan_tag(fs, HDB_FS_TAG_SCHEMA, load_one, fs, NULL);
}

void fs_tables_free(hdb_fs *fs)
{
	fs_tables *tb = fs->tables;
	if (!tb)
		return;
	for (size_t b = 0; b < TABLES_BUCKETS; b++)
		while (tb->map[b]) {
			struct tnode *n = tb->map[b];
			tb->map[b] = n->next;
			fs_table_put(n->t);
			free(n);
		}
	pthread_mutex_destroy(&tb->mu);
	free(tb);
	fs->tables = NULL;
}

void fs_tables_stats(hdb_fs *fs, FILE *f)
{
	fs_tables *tb = fs->tables;
	if (!tb)
		return;
	fprintf(f, ",\"tables\":{\"tables\":%zu,\"schemas_set\":%" PRIuFAST64 ",\"schemas_removed\":%" PRIuFAST64
	           ",\"revalidations\":%" PRIuFAST64 ",\"immediate_changes\":%" PRIuFAST64
	           ",\"documents_revalidated\":%" PRIuFAST64 ",\"rejected\":%" PRIuFAST64 "}",
	        atomic_load(&tb->count), (uint_fast64_t)atomic_load(&tb->sets),
	        (uint_fast64_t)atomic_load(&tb->removes), (uint_fast64_t)atomic_load(&tb->revalidations),
	        (uint_fast64_t)atomic_load(&tb->immediate), (uint_fast64_t)atomic_load(&tb->docs_revalidated),
	        (uint_fast64_t)atomic_load(&tb->rejected));
}

/* ---- checks ---- */

static void log_violation(hdb_fs *fs, uint64_t coll, const char *name, const char *what,
                          const hdb_schema_violation *v, const char *tail)
{
	char path[1024];
	if (what)
		snprintf(path, sizeof(path), "%s: %s", what, name);
	else
		hdb_fs_path(fs, coll, name, path, sizeof(path));
	if (v->column[0])
		hdb_fs_log("%s: column %s: %s%s", path, v->column, v->reason, tail);
	else
		hdb_fs_log("%s: %s%s", path, v->reason, tail);
}

static int check_with(hdb_fs *fs, const fs_table *t, const char *name, size_t nlen, const void *doc, size_t len,
                      const char *what, bool quiet)
{
	hdb_schema_violation v = { { 0 }, { 0 } };
	if (t->broken) {
		snprintf(v.reason, sizeof(v.reason), "the table's stored schema does not parse");
		if (!quiet)
			log_violation(fs, t->coll, name, what, &v, "");
		return -EIO;
	}
	int rc = hdb_schema_check(&t->s, doc, len, name, nlen, &v);
	if (rc == -EINVAL) {
		atomic_fetch_add(&fs->tables->rejected, 1);
		if (!quiet)
			log_violation(fs, t->coll, name, what, &v, "");
	}
	return rc;
}

int fs_table_check_with(hdb_fs *fs, const fs_table *t, const char *name, size_t nlen, const void *doc,
                        size_t len, const char *what)
{
	return check_with(fs, t, name, nlen, doc, len, what, false);
}

int fs_table_check_locked(hdb_fs *fs, uint64_t coll, const char *name, size_t nlen, const void *doc, size_t len,
                          const char *what, bool quiet)
{
	if (!len || !hdb_fs_is_doc_name(name, nlen))
		return 0;
	fs_table *t = fs_table_get(fs, coll);
	if (!t)
		return 0;
	int rc = check_with(fs, t, name, nlen, doc, len, what, quiet);
	fs_table_put(t);
	return rc;
}

/* ---- setting and removing ---- */

/* One document of a table being checked: name and committed content. */
typedef struct tdoc {
	const char *name;
	size_t nlen;
	const uint8_t *doc;
	size_t len;
} tdoc;

/* Calls fn for every non-empty document of directory dir, reading what
 * the engine holds; stops at the first non-zero return. */
static int each_doc(hdb_db *db, uint64_t dir, int (*fn)(void *ctx, const tdoc *d), void *ctx)
{
	hdb_iter *it;
	int rc = fs_dir_iter(db, dir, FS_SCAN_NO_CACHE, &it);
	if (rc)
		return rc;
	hdb_iter_seek_first(it);
	for (; !rc && hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t kl, vl, nlen;
		const uint8_t *k = hdb_iter_key(it, &kl), *v = hdb_iter_value(it, &vl), *name;
		uint64_t parent;
		hdb_fs_attr a;
		if (hdb_fs_entry_key_decode(k, kl, &parent, &name, &nlen) || hdb_fs_attr_decode(v, vl, &a))
			continue; /* hybriddb check reports it */
		if (!S_ISREG(a.mode) || !hdb_fs_is_doc_name((const char *)name, nlen))
			continue;
		char nm[HDB_FS_NAME_MAX + 1];
		memcpy(nm, name, nlen);
		nm[nlen] = 0;
		uint8_t dk[HDB_FS_KEY_PREFIX];
		void *doc;
		size_t dlen;
		rc = hdb_get(db, NULL, dk, hdb_fs_data_key(dk, a.ino), &doc, &dlen);
		if (rc == HDB_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		tdoc d = { .name = nm, .nlen = nlen, .doc = doc, .len = dlen };
		rc = dlen ? fn(ctx, &d) : 0;
		free(doc);
	}
	if (!rc)
		rc = hdb_iter_status(it);
	hdb_iter_free(it);
	return rc;
}

/* Checks one document against s: 0, or -EINVAL with *v. */
static int check_doc(const hdb_schema *s, const tdoc *d, hdb_schema_violation *v)
{
	hdb_json_error err = { 0 };
	if (hdb_json_validate(d->doc, d->len, &err)) {
		v->column[0] = 0;
		snprintf(v->reason, sizeof(v->reason), "not valid JSON at byte %zu", err.offset);
		return -EINVAL;
	}
	return hdb_schema_check(s, d->doc, d->len, d->name, d->nlen, v);
}

struct reval {
	hdb_fs *fs;
	uint64_t coll;
	const hdb_schema *s;
};

static int reval_one(void *ctx, const tdoc *d)
{
	struct reval *r = ctx;
	hdb_schema_violation v = { { 0 }, { 0 } };
	atomic_fetch_add(&r->fs->tables->docs_revalidated, 1);
	int rc = check_doc(r->s, d, &v);
	if (rc == -EINVAL)
		log_violation(r->fs, r->coll, d->name, NULL, &v, "; schema not changed");
	return rc;
}

/* REQUIRES commit_mu.  Whether coll is a directory that still exists. */
static int coll_alive(hdb_fs *fs, uint64_t coll)
{
	int rc = 0;
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, coll);
	if (!i || i->unlinked)
		rc = -ENOENT;
	else if (!S_ISDIR(hdb_inode_type(i)))
		rc = -ENOTDIR;
	hdb_itable_unlock(fs->itab);
	return rc;
}

static int put_schema(fs_txn *t, uint64_t coll, const void *raw, size_t len)
{
	uint8_t k[HDB_FS_KEY_PREFIX];
	return hdb_batch_put(t->b, k, hdb_fs_ino_key(k, HDB_FS_TAG_SCHEMA, coll), raw, len);
}

static int del_schema(fs_txn *t, uint64_t coll)
{
	uint8_t k[HDB_FS_KEY_PREFIX];
	return hdb_batch_delete(t->b, k, hdb_fs_ino_key(k, HDB_FS_TAG_SCHEMA, coll));
}

/* REQUIRES commit_mu.  Checks coll's documents against nt when moving
 * from its current schema needs it. */
static int revalidate_if_needed(hdb_fs *fs, uint64_t coll, const fs_table *nt)
{
	fs_table *old = fs_table_get(fs, coll);
	bool needed = !old || old->broken || hdb_schema_needs_revalidation(&old->s, &nt->s);
	fs_table_put(old);
	if (!needed) {
		atomic_fetch_add(&fs->tables->immediate, 1);
		return 0;
	}
	atomic_fetch_add(&fs->tables->revalidations, 1);
	struct reval r = { .fs = fs, .coll = coll, .s = &nt->s };
	return each_doc(fs->db, coll, reval_one, &r);
}

int fs_table_set(hdb_fs *fs, uint64_t coll, const void *buf, size_t len)
{
	if (fs->opt.read_only)
		return -EROFS;
	if (len > FS_SCHEMA_MAX)
		return -EFBIG;
	char err[200], path[1024];
	fs_table *nt;
	int rc = table_new(coll, buf, len, &nt, err, sizeof(err));
	if (rc == -EINVAL) {
		hdb_fs_path(fs, coll, ".schema", path, sizeof(path));
		hdb_fs_log("%s: %s; schema not changed", path, err);
	}
	if (rc)
		return rc;
	struct tnode *spare = malloc(sizeof(*spare));
	fs_txn t;
	rc = spare ? fs_txn_begin(fs, &t) : -ENOMEM;
	if (rc) {
		free(spare);
		fs_table_put(nt);
		return rc;
	}
	rc = coll_alive(fs, coll);
	if (!rc)
		rc = revalidate_if_needed(fs, coll, nt);
	if (!rc)
		rc = put_schema(&t, coll, buf, len);
	if (!rc && t.sb.version < HDB_FS_VERSION_TABLES) {
		t.sb.version = HDB_FS_VERSION_TABLES;
		t.sb_dirty = true;
	}
	if (!rc)
		rc = fs_txn_write(fs, &t);
	if (!rc) {
		fs_table_put(publish(fs->tables, coll, nt, spare));
		atomic_fetch_add(&fs->tables->sets, 1);
	} else {
		free(spare);
		fs_table_put(nt);
	}
	return fs_txn_end(fs, &t, rc, false);
}

int fs_table_remove(hdb_fs *fs, uint64_t coll)
{
	if (fs->opt.read_only)
		return -EROFS;
	fs_txn t;
	int rc = fs_txn_begin(fs, &t);
	if (rc)
		return rc;
	rc = fs_table_exists(fs, coll) ? del_schema(&t, coll) : -ENOENT;
	if (!rc)
		rc = fs_txn_write(fs, &t);
	if (!rc) {
		fs_table_put(publish(fs->tables, coll, NULL, NULL));
		atomic_fetch_add(&fs->tables->removes, 1);
	}
	return fs_txn_end(fs, &t, rc, false);
}

int fs_table_on_rmdir(hdb_fs *fs, fs_txn *t, uint64_t dir)
{
	return fs_table_exists(fs, dir) ? del_schema(t, dir) : 0;
}

void fs_table_on_rmdir_done(hdb_fs *fs, uint64_t dir)
{
	if (fs->tables && atomic_load(&fs->tables->count))
		fs_table_put(publish(fs->tables, dir, NULL, NULL));
}

/* ---- hybriddb check ---- */

struct tcheck {
	hdb_db *db;
	bool (*is_dir)(void *ctx, uint64_t ino); /* whether ino is a directory */
	void *dctx;                              /* is_dir's ctx */
	void (*report)(void *ctx, const char *what);
	void *ctx;
	unsigned *problems;
	uint64_t coll;
	const hdb_schema *s;
	unsigned reported;  /* for this table */
};

static void tproblem(struct tcheck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tproblem(struct tcheck *c, const char *fmt, ...)
{
	(*c->problems)++;
	if (++c->reported > CHECK_REPORTS)
		return;
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->report(c->ctx, msg);
}

static int tcheck_doc(void *ctx, const tdoc *d)
{
	struct tcheck *c = ctx;
	hdb_schema_violation v = { { 0 }, { 0 } };
	int rc = check_doc(c->s, d, &v);
	if (rc == -EINVAL) {
		tproblem(c, "table %" PRIu64 ": document %s does not fit its schema: %s%s%s", c->coll, d->name,
		         v.column, v.column[0] ? ": " : "", v.reason);
		return 0;
	}
	return rc;
}

/* Checks schema record (k, v) and its table's documents; ctx is a tcheck. */
static int check_table(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct tcheck *c = ctx;
	c->reported = 0;
	if (hdb_fs_ino_key_decode(k, kl, HDB_FS_TAG_SCHEMA, &c->coll)) {
		tproblem(c, "malformed schema key of %zu bytes", kl);
		return 0;
	}
	if (!c->is_dir(c->dctx, c->coll)) {
		tproblem(c, "the schema of inode %" PRIu64 " belongs to no collection", c->coll);
		return 0;
	}
	hdb_schema s;
	char err[200];
	int rc = hdb_schema_parse(v, vl, &s, err, sizeof(err));
	if (rc == -EINVAL) {
		tproblem(c, "table %" PRIu64 ": its schema does not parse: %s", c->coll, err);
		return 0;
	}
	if (rc)
		return rc;
	c->s = &s;
	rc = each_doc(c->db, c->coll, tcheck_doc, c);
	if (c->reported > CHECK_REPORTS)
		c->report(c->ctx, "... more problems in this table");
	hdb_schema_free(&s);
	return rc;
}

int fs_tables_check(hdb_db *db, bool (*is_dir)(void *ctx, uint64_t ino), void *dctx,
                    void (*report)(void *ctx, const char *what), void *ctx, unsigned *problems)
{
	struct tcheck c = {
		.db = db, .is_dir = is_dir, .dctx = dctx, .report = report, .ctx = ctx, .problems = problems,
	};
	return fs_scan_db(db, FS_SCAN_NO_CACHE | FS_SCAN_VERIFY, HDB_FS_TAG_SCHEMA, check_table, &c, NULL);
}
