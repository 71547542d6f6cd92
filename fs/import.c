/*
 * import.c — JSON Lines into a collection, in one batch (see import.h).
 */
#include "import.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coding.h"
#include "jsonl.h"
#include "qindex.h"
#include "qvfs.h"


struct rec {
	size_t line;
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
	struct rec *recs;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	uint8_t *bodies;
	size_t bodies_len, bodies_cap;
	size_t *order;      /* recs sorted by name, last line per name kept */
	size_t norder;
};

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

static int add_rec(struct imp *im, const hdb_jsonl_rec *r, const uint8_t *buf, size_t len)
{
	char id[HDB_JSONL_ID_MAX + 1];
	size_t idlen = hdb_jsonl_id(r, id);
	if (!idlen) {
		hdb_jsonl_gen_id(id);
		idlen = strlen(id);
	}
	int rc = grow((void **)&im->recs, &im->cap, im->n + 1, sizeof(*im->recs));
	if (!rc)
		rc = grow((void **)&im->names, &im->names_cap, im->names_len + idlen + 6, 1);
	if (rc)
		return rc;
	struct rec *x = &im->recs[im->n++];
	*x = (struct rec){ .line = r->line, .name_off = im->names_len, .nlen = idlen + 5 };
	memcpy(im->names + im->names_len, id, idlen);
	memcpy(im->names + im->names_len + idlen, ".json", 6);
	im->names_len += idlen + 6;
	const uint8_t *after = r->obj + r->len;
	if (!r->nids && after < (const uint8_t *)buf + len && *after == '\n') {
		/* the line as it is, with its newline: no copy */
		x->body = r->obj;
		x->blen = r->len + 1;
		return 0;
	}
	rc = grow((void **)&im->bodies, &im->bodies_cap, im->bodies_len + r->len + 1, 1);
	if (rc)
		return rc;
	x->body_off = im->bodies_len;
	x->blen = hdb_jsonl_body(r, im->bodies + im->bodies_len);
	im->bodies_len += x->blen;
	return 0;
}

static int parse_all(struct imp *im, const uint8_t *buf, size_t len)
{
	size_t pos = 0, line = 0, next_report = 0;
	hdb_jsonl_rec r;
	hdb_jsonl_error err;
	int rc;
	while ((rc = hdb_jsonl_next(buf, len, &pos, &line, &r, &err)) == 1) {
		rc = add_rec(im, &r, buf, len);
		if (rc)
			return rc;
		if (im->o->progress && pos >= next_report) {
			im->o->progress(im->o->ctx, pos, len);
			next_report = pos + (len >> 7) + 1;
		}
	}
	if (rc == -EINVAL) {
		im->res->err_line = err.line;
		im->res->err_offset = err.offset;
		hdb_fs_log("%s: line %zu, byte %zu: %s; nothing imported", im->o->what ? im->o->what : "import",
		           err.line, err.offset, err.reason);
	}
	if (!rc && im->o->progress)
		im->o->progress(im->o->ctx, len, len);
	return rc;
}

static const uint8_t *body_of(const struct imp *im, const struct rec *x)
{
	return x->body ? x->body : im->bodies + x->body_off;
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
			return -EINVAL;
		}
		rc = fs_index_on_commit(fs, t, im->coll, name, x->nlen, a->ino, body, x->blen);
		t->sb.bytes = sub_sat(t->sb.bytes, a->size) + x->blen;
		hdb_itable_lock(fs->itab);
		hdb_inode *i = hdb_itable_get(fs->itab, a->ino);
		bool pending = i && i->pending;
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
	uint8_t lower[HDB_FS_KEY_PREFIX], upper[HDB_FS_KEY_PREFIX], key[HDB_FS_KEY_MAX];
	hdb_fs_dir_bounds(lower, upper, im->coll);
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.lower = lower;
	ro.lower_len = sizeof(lower);
	ro.upper = upper;
	ro.upper_len = sizeof(upper);
	hdb_iter *it;
	int rc = hdb_iter_new(fs->db, &ro, &it);
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
		i->attr.size = i->dsize = x->blen;
		i->pending = false;
		i->attr.mtime = i->attr.ctime = hdb_fs_now();
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
	rc = build_batch(im, &t);
	if (!rc)
		rc = fs_txn_write(im->fs, &t);
	if (!rc)
		update_table(im);
	rc = fs_txn_end(im->fs, &t, rc, false);
	if (rc == -EFBIG)
		hdb_fs_log("%s: %zu documents are more than one atomic batch holds; nothing imported",
		           im->o->what ? im->o->what : "import", im->norder);
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
	int rc = parse_all(&im, buf, len);
	if (!rc)
		rc = sort_recs(&im);
	res->lines = im.n;
	if (!rc && im.norder)
		rc = apply(&im);
	if (!rc && fs->q) {
		atomic_fetch_add(&fs->q->imports, 1);
		atomic_fetch_add(&fs->q->imported, im.norder);
	} else if (rc && fs->q) {
		atomic_fetch_add(&fs->q->import_errors, 1);
	}
	if (rc) {
		res->created = res->replaced = 0;
	}
	free(im.recs);
	free(im.names);
	free(im.bodies);
	free(im.order);
	return rc;
}
