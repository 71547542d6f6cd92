/*
 * import.c — JSON Lines or CSV into a collection, in one batch (see
 * import.h).  A reader per format turns the input into records (a name
 * and a document); checking, sorting and applying them is shared.
 */
#include "import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coding.h"
#include "csv.h"
#include "jsonl.h"
#include "qindex.h"
#include "qvfs.h"
#include "tables.h"

struct rec {
	size_t line;
	size_t offset;      /* of the record in the input, for error reports */
	size_t name_off;    /* in names */
	size_t nlen;
	const uint8_t *body;
	size_t blen;
	size_t body_off;    /* in bodies, when body is NULL (copied) */
	uint64_t ino;       /* set while building: the document's inode */
	bool replaced;
};

struct imp {
	hdb_fs *fs;
	uint64_t coll;
	const fs_import_opts *o;
	fs_import_result *res;
	fs_table *table;    /* the collection's schema when read, or NULL */
	struct rec *recs;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	uint8_t *bodies;
	size_t bodies_len, bodies_cap;
	size_t *order;      /* recs sorted by name, last line per name kept */
	size_t norder;
};

static const char *what_of(const struct imp *im)
{
	return im->o->what ? im->o->what : "import";
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 1024;
	while (ncap < need)
		ncap *= 2;
	void *np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

/* Appends a record of line `line` at byte offset `offset`, named
 * name[0..nlen) (with ".json"); the caller sets its body. */
static int new_rec(struct imp *im, size_t line, size_t offset, const char *name, size_t nlen, struct rec **out)
{
	int rc = grow((void **)&im->recs, &im->cap, im->n + 1, sizeof(*im->recs));
	if (!rc)
		rc = grow((void **)&im->names, &im->names_cap, im->names_len + nlen + 1, 1);
	if (rc)
		return rc;
	struct rec *x = &im->recs[im->n++];
	*x = (struct rec){ .line = line, .offset = offset, .name_off = im->names_len, .nlen = nlen };
	memcpy(im->names + im->names_len, name, nlen);
	im->names[im->names_len + nlen] = 0;
	im->names_len += nlen + 1;
	*out = x;
	return 0;
}

/* A generated name: an id and ".json". */
static size_t gen_name(char *name)
{
	hdb_jsonl_gen_id(name);
	size_t n = strlen(name);
	memcpy(name + n, ".json", 6);
	return n + 5;
}

/* The name a table's key gives body, or a generated one. */
static size_t name_of(const struct imp *im, const uint8_t *body, size_t blen, char *name)
{
	size_t nlen;
	if (im->table && !im->table->broken && im->table->s.key >= 0 &&
	    !hdb_schema_key_name(&im->table->s, body, blen, name, &nlen))
		return nlen;
	return gen_name(name);
}

static int add_jsonl(struct imp *im, const hdb_jsonl_rec *r, const uint8_t *buf, size_t len)
{
	const uint8_t *after = r->obj + r->len, *body;
	size_t blen, off = 0;
	if (!r->nids && after < buf + len && *after == '\n') {
		/* the line as it is, with its newline: no copy */
		body = r->obj;
		blen = r->len + 1;
	} else {
		int rc = grow((void **)&im->bodies, &im->bodies_cap, im->bodies_len + r->len + 1, 1);
		if (rc)
			return rc;
		off = im->bodies_len;
		blen = hdb_jsonl_body(r, im->bodies + off);
		im->bodies_len += blen;
		body = NULL;
	}
	char name[HDB_SCHEMA_FILE_MAX];
	size_t idlen = hdb_jsonl_id(r, name), nlen;
	if (idlen) {
		memcpy(name + idlen, ".json", 6);
		nlen = idlen + 5;
	} else {
		nlen = name_of(im, body ? body : im->bodies + off, blen, name);
	}
	struct rec *x;
	int rc = new_rec(im, r->line, r->offset, name, nlen, &x);
	if (rc)
		return rc;
	x->body = body;
	x->blen = blen;
	x->body_off = off;
	return 0;
}

static void progress(struct imp *im, size_t pos, size_t len, size_t *next_report)
{
	if (im->o->progress && pos >= *next_report) {
		im->o->progress(im->o->ctx, pos, len);
		*next_report = pos + (len >> 7) + 1;
	}
}

static int read_jsonl(struct imp *im, const uint8_t *buf, size_t len)
{
	size_t pos = 0, line = 0, next_report = 0;
	hdb_jsonl_rec r;
	hdb_jsonl_error err;
	int rc;
	while ((rc = hdb_jsonl_next(buf, len, &pos, &line, &r, &err)) == 1) {
		rc = add_jsonl(im, &r, buf, len);
		if (rc)
			return rc;
		progress(im, pos, len, &next_report);
	}
	if (rc == -EINVAL) {
		im->res->err_line = err.line;
		im->res->err_offset = err.offset;
		hdb_fs_log("%s: line %zu, byte %zu: %s; nothing imported", what_of(im), err.line, err.offset,
		           err.reason);
	}
	return rc;
}

/* One CSV row (line `line`, starting at byte `offset`) converted into a
 * record. */
static int add_csv_row(struct imp *im, const hdb_csv_import *ci, const hdb_csv_field *f, size_t n, size_t line,
                       size_t offset, hdb_wbuf *doc)
{
	char name[HDB_SCHEMA_FILE_MAX];
	size_t nlen;
	hdb_schema_violation v = { { 0 }, { 0 } };
	doc->len = 0;
	int rc = hdb_csv_import_row(ci, f, n, doc, name, &nlen, &v);
	if (rc == -EINVAL) {
		im->res->err_line = line;
		im->res->err_offset = offset;
		if (v.column[0])
			hdb_fs_log("%s: line %zu: column %s: %s; nothing imported", what_of(im), line, v.column,
			           v.reason);
		else
			hdb_fs_log("%s: line %zu: %s; nothing imported", what_of(im), line, v.reason);
	}
	if (rc)
		return rc;
	if (!nlen)
		nlen = gen_name(name);
	rc = grow((void **)&im->bodies, &im->bodies_cap, im->bodies_len + doc->len, 1);
	struct rec *x;
	if (!rc)
		rc = new_rec(im, line, offset, name, nlen, &x);
	if (rc)
		return rc;
	memcpy(im->bodies + im->bodies_len, doc->data, doc->len);
	x->body_off = im->bodies_len;
	x->blen = doc->len;
	im->bodies_len += doc->len;
	return 0;
}

static int read_csv(struct imp *im, const uint8_t *buf, size_t len)
{
	if (!im->table || im->table->broken) {
		hdb_fs_log("%s: the collection %s; nothing imported", what_of(im),
		           im->table ? "has a schema that does not parse" : "has no schema");
		return im->table ? -EIO : -EINVAL;
	}
	hdb_csv_reader r;
	hdb_csv_import ci = { 0 };
	hdb_wbuf doc;
	const hdb_csv_field *f;
	size_t n, next_report = 0;
	char err[200];
	hdb_csv_reader_init(&r, buf, len);
	hdb_wbuf_init(&doc);
	int rc = hdb_csv_next(&r, &f, &n);
	if (!rc) {
		im->res->err_line = 1;
		hdb_fs_log("%s: no header record; nothing imported", what_of(im));
		rc = -EINVAL;
	} else if (rc == 1) {
		rc = hdb_csv_import_header(&ci, &im->table->s, f, n, err, sizeof(err));
		if (rc == -EINVAL) {
			im->res->err_line = hdb_csv_record_line(&r);
			hdb_fs_log("%s: line %zu: header: %s; nothing imported", what_of(im), im->res->err_line, err);
			goto out;
		}
		size_t start = r.pos;
		while (!rc && (rc = hdb_csv_next(&r, &f, &n)) == 1) {
			rc = add_csv_row(im, &ci, f, n, hdb_csv_record_line(&r), start, &doc);
			progress(im, r.pos, len, &next_report);
			start = r.pos;
		}
	}
	if (rc == -EINVAL && !im->res->err_line) {
		im->res->err_line = r.line;
		im->res->err_offset = r.offset;
		hdb_fs_log("%s: line %zu, byte %zu: %s; nothing imported", what_of(im), r.line, r.offset,
		           r.reason ? r.reason : "malformed record");
	}
out:
	hdb_csv_import_free(&ci);
	hdb_csv_reader_free(&r);
	hdb_wbuf_free(&doc);
	return rc;
}

static int read_all(struct imp *im, const uint8_t *buf, size_t len)
{
	int rc = im->o->format == FS_IMPORT_CSV ? read_csv(im, buf, len) : read_jsonl(im, buf, len);
	if (!rc && im->o->progress)
		im->o->progress(im->o->ctx, len, len);
	return rc;
}

static const uint8_t *body_of(const struct imp *im, const struct rec *x)
{
	return x->body ? x->body : im->bodies + x->body_off;
}

/* Checks every record against table t in input order: the first that
 * does not fit fails the import (logged). */
static int check_recs(struct imp *im, const fs_table *t)
{
	for (size_t i = 0; t && i < im->n; i++) {
		const struct rec *x = &im->recs[i];
		char what[1100];
		snprintf(what, sizeof(what), "%s: line %zu", what_of(im), x->line);
		int rc = fs_table_check_with(im->fs, t, im->names + x->name_off, x->nlen, body_of(im, x), x->blen,
		                             what);
		if (rc) {
			im->res->err_line = x->line;
			im->res->err_offset = x->offset;
			return rc;
		}
	}
	return 0;
}

static int cmp_rec(const void *a, const void *b, void *ctx)
{
	const struct imp *im = ctx;
	const struct rec *x = &im->recs[*(const size_t *)a], *y = &im->recs[*(const size_t *)b];
	size_t m = x->nlen < y->nlen ? x->nlen : y->nlen;
	int r = memcmp(im->names + x->name_off, im->names + y->name_off, m);
	if (!r)
		r = x->nlen < y->nlen ? -1 : x->nlen > y->nlen;
	return r ? r : (x->line < y->line ? -1 : x->line > y->line);
}

/* Sorts by name; of several lines naming one document the last stays. */
static int sort_recs(struct imp *im)
{
	im->order = malloc((im->n ? im->n : 1) * sizeof(*im->order));
	if (!im->order)
		return -ENOMEM;
	for (size_t i = 0; i < im->n; i++)
		im->order[i] = i;
	qsort_r(im->order, im->n, sizeof(*im->order), cmp_rec, im);
	size_t k = 0;
	for (size_t i = 0; i < im->n; i++) {
		const struct rec *x = &im->recs[im->order[i]];
		if (i + 1 < im->n) {
			const struct rec *y = &im->recs[im->order[i + 1]];
			if (x->nlen == y->nlen && !memcmp(im->names + x->name_off, im->names + y->name_off, x->nlen))
				continue;
		}
		im->order[k++] = im->order[i];
	}
	im->norder = k;
	return 0;
}

/* Positions the entry iterator at name (keys ascend across calls):
 * *found with the entry's attributes. */
static int find_entry(hdb_iter *it, const uint8_t *key, size_t klen, bool *first, bool *found, hdb_fs_attr *a)
{
	*found = false;
	if (*first) {
		hdb_iter_seek(it, key, klen);
		*first = false;
	} else if (hdb_iter_valid(it)) {
		size_t cl;
		const uint8_t *ck = hdb_iter_key(it, &cl);
		int cmp = hdb_bytes_cmp(ck, cl, key, klen);
		for (int steps = 0; cmp < 0 && steps < 8; steps++) {
			hdb_iter_next(it);
			if (!hdb_iter_valid(it))
				break;
			ck = hdb_iter_key(it, &cl);
			cmp = hdb_bytes_cmp(ck, cl, key, klen);
		}
		if (cmp < 0 && hdb_iter_valid(it))
			hdb_iter_seek(it, key, klen);
	}
	int rc = hdb_iter_status(it);
	if (rc || !hdb_iter_valid(it))
		return rc;
	size_t cl, vl;
	const uint8_t *ck = hdb_iter_key(it, &cl), *v = hdb_iter_value(it, &vl);
	if (cl != klen || memcmp(ck, key, klen))
		return 0;
	*found = true;
	return hdb_fs_attr_decode(v, vl, a);
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* REQUIRES commit_mu.  The changes of one document, new or replaced. */
static int build_one(struct imp *im, fs_txn *t, struct rec *x, bool exists, hdb_fs_attr *a, hdb_fs_ts now)
{
	hdb_fs *fs = im->fs;
	const char *name = im->names + x->name_off;
	const uint8_t *body = body_of(im, x);
	int rc;
	if (exists) {
		if (!S_ISREG(a->mode)) {
			hdb_fs_log("%s: line %zu: %s exists and is not a regular file; nothing imported",
			           im->o->what ? im->o->what : "import", x->line, name);
			im->res->err_line = x->line;
			im->res->err_offset = x->offset;
			return -EINVAL;
		}
		rc = fs_index_on_commit(fs, t, im->coll, name, x->nlen, a->ino, body, x->blen);
		t->sb.bytes = sub_sat(t->sb.bytes, a->size) + x->blen;
		hdb_itable_lock(fs->itab);
		hdb_inode *i = hdb_itable_get(fs->itab, a->ino);
		bool pending = i && i->x && i->x->pending;
		hdb_itable_unlock(fs->itab);
		if (!rc && pending)
			rc = fs_txn_del_pending(t, a->ino);
		x->replaced = true;
		im->res->replaced++;
	} else {
		*a = (hdb_fs_attr){ .ino = t->sb.next_ino++, .mode = S_IFREG | (im->o->mode & 07777),
		                    .uid = im->o->uid, .gid = im->o->gid, .atime = now };
		t->sb.files++;
		t->sb.docs++;
		t->sb.bytes += x->blen;
		rc = fs_index_on_create(fs, t, im->coll, name, x->nlen, body, x->blen);
		im->res->created++;
	}
	a->size = x->blen;
	a->mtime = a->ctime = now;
	x->ino = a->ino;
	if (!rc)
		rc = fs_txn_put_data(t, a->ino, body, x->blen);
	if (!rc)
		rc = fs_txn_put_entry(t, im->coll, name, x->nlen, a);
	return rc;
}

/* REQUIRES commit_mu.  Fills t with every document of the import. */
static int build_batch(struct imp *im, fs_txn *t)
{
	hdb_fs *fs = im->fs;
	uint8_t key[HDB_FS_KEY_MAX];
	hdb_iter *it;
	int rc = fs_dir_iter(fs->db, im->coll, 0, &it);
	if (rc)
		return rc;
	hdb_fs_ts now = hdb_fs_now();
	bool first = true;
	t->sb_dirty = true;
	for (size_t k = 0; !rc && k < im->norder; k++) {
		struct rec *x = &im->recs[im->order[k]];
		size_t klen = hdb_fs_entry_key(key, im->coll, im->names + x->name_off, x->nlen);
		bool found;
		hdb_fs_attr a;
		rc = find_entry(it, key, klen, &first, &found, &a);
		if (!rc)
			rc = build_one(im, t, x, found, &a, now);
	}
	hdb_iter_free(it);
	if (!rc)
		rc = fs_txn_touch_dir(fs, t, im->coll, now);
	return rc;
}

/* After the batch is written: the table follows the replaced documents. */
static void update_table(struct imp *im)
{
	hdb_fs *fs = im->fs;
	hdb_itable_lock(fs->itab);
	for (size_t k = 0; k < im->norder; k++) {
		struct rec *x = &im->recs[im->order[k]];
		hdb_inode *i = x->replaced ? hdb_itable_get(fs->itab, x->ino) : NULL;
		if (!i) {
			x->replaced = false; /* nothing to invalidate */
			continue;
		}
		if (!i->x)
			continue; /* idle: its attributes are the stored ones */
		i->x->attr.size = i->x->dsize = x->blen;
		i->x->pending = false;
		i->x->attr.mtime = i->x->attr.ctime = hdb_fs_now();
	}
	hdb_itable_unlock(fs->itab);
}

/* The kernel caches what it saw (fs_internal.h): the pages and attributes
 * of replaced documents it holds, negative entries of new names it looked
 * up (only those cost a round trip), and the collection's times. */
static void notify_kernel(struct imp *im)
{
	for (size_t k = 0; k < im->norder; k++) {
		const struct rec *x = &im->recs[im->order[k]];
		const char *name = im->names + x->name_off;
		if (x->replaced)
			fs_notify_inval_inode(im->fs, x->ino);
		else if (fs_qvfs_maybe_looked_up(im->fs, im->coll, name, x->nlen))
			fs_notify_inval_entry(im->fs, im->coll, name, x->nlen);
	}
	fs_notify_inval_inode(im->fs, im->coll);
}

static int apply(struct imp *im)
{
	fs_txn t;
	int rc = fs_txn_begin(im->fs, &t);
	if (rc)
		return rc;
	/* The schema the records were checked against may have changed. */
	fs_table *now = fs_table_get(im->fs, im->coll);
	if (now != im->table)
		rc = check_recs(im, now);
	fs_table_put(now);
	if (!rc)
		rc = build_batch(im, &t);
	if (!rc)
		rc = fs_txn_write(im->fs, &t);
	if (!rc)
		update_table(im);
	rc = fs_txn_end(im->fs, &t, rc, false);
	if (rc == -EFBIG)
		hdb_fs_log("%s: %zu documents are more than one atomic batch holds; nothing imported", what_of(im),
		           im->norder);
	if (!rc)
		notify_kernel(im);
	return rc;
}

int fs_import(hdb_fs *fs, uint64_t coll, const void *buf, size_t len, const fs_import_opts *o,
              fs_import_result *res)
{
	struct imp im = { .fs = fs, .coll = coll, .o = o, .res = res };
	memset(res, 0, sizeof(*res));
	if (fs->opt.read_only)
		return -EROFS;
	im.table = fs_table_get(fs, coll);
	int rc = read_all(&im, buf, len);
	if (!rc)
		rc = check_recs(&im, im.table);
	if (!rc)
		rc = sort_recs(&im);
	res->lines = im.n;
	if (!rc && im.norder && !o->check_only)
		rc = apply(&im);
	if (!rc && fs->q && !o->check_only) {
		atomic_fetch_add(&fs->q->imports, 1);
		atomic_fetch_add(&fs->q->imported, im.norder);
	} else if (rc && fs->q) {
		atomic_fetch_add(&fs->q->import_errors, 1);
	}
	if (rc) {
		res->created = res->replaced = 0;
	}
	fs_table_put(im.table);
	free(im.recs);
	free(im.names);
	free(im.bodies);
	free(im.order);
	return rc;
}
