/*
 * version.c — file metadata, versions, version edits, the level iterator,
 * and the version set with its MANIFEST (format in manifest_format.h).
 *
 * A new version is built by loading a base version into a builder (a hash
 * map from file number to level and file), applying an edit to it, and
 * laying the map out as sorted per-level arrays.  Recovery uses the same
 * builder for a whole manifest, so replay costs one map operation per file
 * touched, not a copy of every level per record.
 *
 * Locking: the DB mutex (passed to hdb_vset_log_and_apply) guards the
 * counters, the current version, the manifest and the compact pointers.
 * list_mu guards only the list of live versions, so that a version's last
 * unref may come from any thread.  Lock order: DB mutex, then list_mu.
 */
#include "version.h"

#include "errors.h"
#include "manifest_format.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Past this size the next edit starts a new manifest with a snapshot. */
#define MANIFEST_ROLL_BYTES (UINT64_C(64) << 20)

struct hdb_vset {
	hdb_env *env;
	char *dir;
	hdb_vset_options opt;
	bool read_only;               /* writes nothing */
	uint64_t next_file;           /* next number to hand out */
	uint64_t last_seq;
	uint64_t log_number;          /* WAL segments below are obsolete */
	hdb_version *current;         /* one reference held by the vset */
	hdb_version live;             /* list head (dummy) of live versions; list_mu */
	pthread_mutex_t list_mu;
	int manifest_fd;              /* -1: the next apply starts a new manifest */
	uint64_t manifest_number;     /* the manifest CURRENT names */
	uint64_t manifest_bytes;
	uint64_t pending_manifest;    /* being created by log_and_apply; 0: none */
	uint64_t *orphans;            /* manifests CURRENT may name after a failed switch */
	size_t norphans;
	hdb_buf compact_ptr[HDB_MAX_LEVELS]; /* largest ikey of the level's last pick */
};

/* ---- file metadata ---------------------------------------------------- */

hdb_fmeta *hdb_fmeta_new(uint64_t number, uint64_t size, const uint8_t *smallest, size_t slen,
                         const uint8_t *largest, size_t llen)
{
	assert(slen >= HDB_TAG_SIZE && llen >= HDB_TAG_SIZE);
	hdb_fmeta *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->smallest = malloc(slen);
	f->largest = malloc(llen);
	if (!f->smallest || !f->largest) {
		free(f->smallest);
		free(f->largest);
		free(f);
		return NULL;
	}
	memcpy(f->smallest, smallest, slen);
	memcpy(f->largest, largest, llen);
	f->smallest_len = slen;
	f->largest_len = llen;
	f->number = number;
	f->size = size;
	f->refs = 1;
	return f;
}

static void fmeta_ref(hdb_fmeta *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

void hdb_fmeta_unref(hdb_fmeta *f)
{
	if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free(f->smallest);
	free(f->largest);
	free(f);
}

static hdb_slice fmeta_user_smallest(const hdb_fmeta *f)
{
	return hdb_ikey_user(f->smallest, f->smallest_len);
}

static hdb_slice fmeta_user_largest(const hdb_fmeta *f)
{
	return hdb_ikey_user(f->largest, f->largest_len);
}

static int slice_cmp(hdb_slice a, const uint8_t *b, size_t bn)
{
	return hdb_bytes_cmp(a.data, a.len, b, bn);
}

/* ---- versions ---------------------------------------------------------- */

static hdb_version *version_alloc(hdb_vset *vs)
{
	hdb_version *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->vset = vs;
	v->compaction_level = -1;
	return v;
}

static void version_destroy(hdb_version *v)
{
	for (int l = 0; l < HDB_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->nfiles[l]; i++)
			hdb_fmeta_unref(v->files[l][i]);
		free(v->files[l]);
	}
	free(v);
}

static void version_link(hdb_vset *vs, hdb_version *v)
{
	pthread_mutex_lock(&vs->list_mu);
	v->prev = vs->live.prev;
	v->next = &vs->live;
	v->prev->next = v;
	vs->live.prev = v;
	pthread_mutex_unlock(&vs->list_mu);
}

void hdb_version_ref(hdb_version *v)
{
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
}

void hdb_version_unref(hdb_version *v)
{
	if (!v || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (v->vset) {
		/* neighbours relink under list_mu, so v's links are read under it */
		pthread_mutex_lock(&v->vset->list_mu);
		if (v->next) {
			v->prev->next = v->next;
			v->next->prev = v->prev;
		}
		pthread_mutex_unlock(&v->vset->list_mu);
	}
	version_destroy(v);
}

size_t hdb_version_find_file(const hdb_version *v, int level, const uint8_t *ikey, size_t n)
{
	assert(level >= 0 && level < HDB_MAX_LEVELS);
	size_t lo = 0, hi = v->nfiles[level];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const hdb_fmeta *f = v->files[level][mid];
		if (hdb_ikey_cmp(f->largest, f->largest_len, ikey, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool before_range(const hdb_fmeta *f, const uint8_t *ubegin, size_t blen)
{
	return ubegin && slice_cmp(fmeta_user_largest(f), ubegin, blen) < 0;
}

static bool after_range(const hdb_fmeta *f, const uint8_t *uend, size_t elen)
{
	return uend && slice_cmp(fmeta_user_smallest(f), uend, elen) > 0;
}

/* First file of a sorted level whose largest user key >= ubegin. */
static size_t first_not_before(const hdb_version *v, int level, const uint8_t *ubegin, size_t blen)
{
	size_t lo = 0, hi = v->nfiles[level];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (before_range(v->files[level][mid], ubegin, blen))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int hdb_version_overlapping(const hdb_version *v, int level, const uint8_t *ubegin, size_t blen,
                            const uint8_t *uend, size_t elen, hdb_fmeta ***out, size_t *n)
{
	assert(level >= 0 && level < HDB_MAX_LEVELS);
	size_t cnt = 0, start = level == 0 ? 0 : first_not_before(v, level, ubegin, blen);
	hdb_fmeta **arr = NULL;

	*out = NULL;
	*n = 0;
	if (start == v->nfiles[level])
		return 0;
	arr = malloc((v->nfiles[level] - start) * sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	for (size_t i = start; i < v->nfiles[level]; i++) {
		hdb_fmeta *f = v->files[level][i];
		if (after_range(f, uend, elen)) {
			if (level > 0)
				break;
			continue;
		}
		if (!before_range(f, ubegin, blen))
			arr[cnt++] = f;
	}
	if (!cnt) {
		free(arr);
		return 0;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

uint64_t hdb_version_level_bytes(const hdb_version *v, int level)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < v->nfiles[level]; i++)
		sum += v->files[level][i]->size;
	return sum;
}

static double level_max_bytes(const hdb_vset_options *o, int level)
{
	double max = o->level1_max_bytes ? (double)o->level1_max_bytes : 1.0;
	for (int l = 1; l < level; l++)
		max *= 10;
	return max;
}

/* Scores every level but the last, which has nowhere to compact to. */
static void version_score(hdb_version *v, const hdb_vset_options *o)
{
	v->compaction_level = -1;
	v->compaction_score = 0;
	for (int l = 0; l < HDB_MAX_LEVELS - 1; l++) {
		double score;
		if (l == 0)
			score = (double)v->nfiles[0] /
			        (o->l0_compaction_trigger > 0 ? o->l0_compaction_trigger : 1);
		else
			score = (double)hdb_version_level_bytes(v, l) / level_max_bytes(o, l);
		if (v->compaction_level < 0 || score > v->compaction_score) {
			v->compaction_level = l;
			v->compaction_score = score;
		}
	}
}

/* ---- version edits ----------------------------------------------------- */

void hdb_vedit_init(hdb_vedit *e)
{
	memset(e, 0, sizeof(*e));
}

void hdb_vedit_free(hdb_vedit *e)
{
	for (size_t i = 0; i < e->nadded; i++)
		hdb_fmeta_unref(e->added[i].f);
	free(e->added);
	free(e->deleted);
	hdb_vedit_init(e);
}

static int vfile_push(hdb_vedit_file **arr, size_t *n, size_t *cap, hdb_vedit_file x)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		hdb_vedit_file *p = realloc(*arr, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = x;
	return 0;
}

/* Takes over the caller's reference to f, also on failure. */
static int vedit_add_owned(hdb_vedit *e, int level, hdb_fmeta *f)
{
	hdb_vedit_file x = { .level = level, .f = f, .number = f->number };
	int rc = vfile_push(&e->added, &e->nadded, &e->capadded, x);
	if (rc)
		hdb_fmeta_unref(f);
	return rc;
}

int hdb_vedit_add_file(hdb_vedit *e, int level, hdb_fmeta *f)
{
	if (level < 0 || level >= HDB_MAX_LEVELS)
		return -EINVAL;
	fmeta_ref(f);
	return vedit_add_owned(e, level, f);
}

int hdb_vedit_delete_file(hdb_vedit *e, int level, uint64_t number)
{
	if (level < 0 || level >= HDB_MAX_LEVELS)
		return -EINVAL;
	hdb_vedit_file x = { .level = level, .f = NULL, .number = number };
	return vfile_push(&e->deleted, &e->ndeleted, &e->capdeleted, x);
}

static int put_field(hdb_buf *out, enum hdb_vedit_tag tag, uint64_t v)
{
	int rc = hdb_buf_append_varint(out, tag);
	return rc ? rc : hdb_buf_append_varint(out, v);
}

static int put_added(hdb_buf *out, const hdb_vedit_file *a)
{
	int rc = put_field(out, HDB_VEDIT_ADDED_FILE, (uint64_t)a->level);
	if (!rc)
		rc = hdb_buf_append_varint(out, a->f->number);
	if (!rc)
		rc = hdb_buf_append_varint(out, a->f->size);
	if (!rc)
		rc = hdb_buf_append_lp(out, a->f->smallest, a->f->smallest_len);
	if (!rc)
		rc = hdb_buf_append_lp(out, a->f->largest, a->f->largest_len);
	return rc;
}

int hdb_vedit_encode(const hdb_vedit *e, hdb_buf *out)
{
	int rc = 0;
	if (e->has_log_number)
		rc = put_field(out, HDB_VEDIT_LOG_NUMBER, e->log_number);
	if (!rc && e->has_next_file)
		rc = put_field(out, HDB_VEDIT_NEXT_FILE, e->next_file);
	if (!rc && e->has_last_seq)
		rc = put_field(out, HDB_VEDIT_LAST_SEQ, e->last_seq);
	for (size_t i = 0; !rc && i < e->ndeleted; i++) {
		rc = put_field(out, HDB_VEDIT_DELETED_FILE, (uint64_t)e->deleted[i].level);
		if (!rc)
			rc = hdb_buf_append_varint(out, e->deleted[i].number);
	}
	for (size_t i = 0; !rc && i < e->nadded; i++)
		rc = put_added(out, &e->added[i]);
	return rc;
}

/* A cursor over an edit's bytes; `what` is set by the first failure. */
struct dec {
	const uint8_t *p, *end;
	const char *what;
};

static bool dec_varint(struct dec *d, uint64_t *v, const char *what)
{
	if (d->what)
		return false;
	if (hdb_get_varint(&d->p, d->end, v))
		return true;
	d->what = what;
	return false;
}

static bool dec_level(struct dec *d, int *level)
{
	uint64_t v;
	if (!dec_varint(d, &v, "truncated level"))
		return false;
	if (v >= HDB_MAX_LEVELS) {
		d->what = "level out of range";
		return false;
	}
	*level = (int)v;
	return true;
}

static bool dec_ikey(struct dec *d, hdb_slice *k)
{
	uint64_t len;
	if (!dec_varint(d, &len, "truncated key length"))
		return false;
	if (len > (uint64_t)(d->end - d->p)) {
		d->what = "truncated key";
		return false;
	}
	if (len < HDB_TAG_SIZE) {
		d->what = "internal key shorter than its tag";
		return false;
	}
	*k = hdb_slice_make(d->p, (size_t)len);
	d->p += len;
	return true;
}

static int dec_added(struct dec *d, hdb_vedit *e)
{
	int level;
	uint64_t number, size;
	hdb_slice s, l;
	if (!dec_level(d, &level) || !dec_varint(d, &number, "truncated file number") ||
	    !dec_varint(d, &size, "truncated file size") || !dec_ikey(d, &s) || !dec_ikey(d, &l))
		return HDB_ECORRUPT;
	if (hdb_ikey_cmp(s.data, s.len, l.data, l.len) > 0) {
		d->what = "smallest key above largest key";
		return HDB_ECORRUPT;
	}
	hdb_fmeta *f = hdb_fmeta_new(number, size, s.data, s.len, l.data, l.len);
	if (!f)
		return -ENOMEM;
	return vedit_add_owned(e, level, f);
}

static int dec_field(struct dec *d, hdb_vedit *e)
{
	uint64_t tag, number;
	int level;

	if (!dec_varint(d, &tag, "truncated field tag"))
		return HDB_ECORRUPT;
	switch (tag) {
	case HDB_VEDIT_LOG_NUMBER:
		e->has_log_number = dec_varint(d, &e->log_number, "truncated log number");
		return e->has_log_number ? 0 : HDB_ECORRUPT;
	case HDB_VEDIT_NEXT_FILE:
		e->has_next_file = dec_varint(d, &e->next_file, "truncated next file number");
		return e->has_next_file ? 0 : HDB_ECORRUPT;
	case HDB_VEDIT_LAST_SEQ:
		e->has_last_seq = dec_varint(d, &e->last_seq, "truncated last sequence");
		return e->has_last_seq ? 0 : HDB_ECORRUPT;
	case HDB_VEDIT_DELETED_FILE:
		if (!dec_level(d, &level) || !dec_varint(d, &number, "truncated file number"))
			return HDB_ECORRUPT;
		return hdb_vedit_delete_file(e, level, number);
	case HDB_VEDIT_ADDED_FILE:
		return dec_added(d, e);
	default:
		d->what = "unknown field tag";
		return HDB_ECORRUPT;
	}
}

int hdb_vedit_decode(hdb_vedit *e, const uint8_t *p, size_t n, const char *file, uint64_t offset)
{
	struct dec d = { .p = p, .end = p + n, .what = NULL };
	int rc = 0;

	hdb_vedit_init(e);
	while (d.p < d.end) {
		const uint8_t *field = d.p;
		rc = dec_field(&d, e);
		if (rc == HDB_ECORRUPT) {
			rc = hdb_corrupt(file, offset + (uint64_t)(field - p), d.what);
			break;
		}
		if (rc)
			break;
	}
	if (rc)
		hdb_vedit_free(e);
	return rc;
}

/* ---- builder: file number -> (level, file) ----------------------------- */

struct bslot {
	hdb_fmeta *f; /* NULL: empty slot */
	int level;
};

struct builder {
	struct bslot *slots; /* open addressing, linear probing */
	size_t cap;          /* power of two */
	size_t count;
	uint64_t max_number; /* largest number ever added */
};

static size_t bhome(const struct builder *b, uint64_t number)
{
	number ^= number >> 31;
	number *= UINT64_C(0x9e3779b97f4a7c15);
	return (size_t)(number >> 17) & (b->cap - 1);
}

static size_t bfind(const struct builder *b, uint64_t number)
{
	size_t i = bhome(b, number);
	while (b->slots[i].f && b->slots[i].f->number != number)
		i = (i + 1) & (b->cap - 1);
	return i;
}

static int bgrow(struct builder *b)
{
	struct builder nb = { .cap = b->cap ? b->cap * 2 : 64, .count = b->count,
	                      .max_number = b->max_number };
	nb.slots = calloc(nb.cap, sizeof(*nb.slots));
	if (!nb.slots)
		return -ENOMEM;
	for (size_t i = 0; i < b->cap; i++)
		if (b->slots[i].f)
			nb.slots[bfind(&nb, b->slots[i].f->number)] = b->slots[i];
	free(b->slots);
	*b = nb;
	return 0;
}

static void builder_free(struct builder *b)
{
	for (size_t i = 0; i < b->cap; i++)
		hdb_fmeta_unref(b->slots[i].f);
	free(b->slots);
	memset(b, 0, sizeof(*b));
}

/* Takes a new reference to f.  1 when the number is already present. */
static int builder_add(struct builder *b, int level, hdb_fmeta *f)
{
	if ((b->count + 1) * 4 > b->cap * 3) {
		int rc = bgrow(b);
		if (rc)
			return rc;
	}
	size_t i = bfind(b, f->number);
	if (b->slots[i].f)
		return 1;
	fmeta_ref(f);
	b->slots[i] = (struct bslot){ .f = f, .level = level };
	b->count++;
	if (f->number > b->max_number)
		b->max_number = f->number;
	return 0;
}

/* Removes slot i, shifting later members of its probe run back into the
 * hole so that lookups never stop early. */
static void builder_remove_at(struct builder *b, size_t i)
{
	size_t mask = b->cap - 1;
	hdb_fmeta_unref(b->slots[i].f);
	for (size_t j = (i + 1) & mask; b->slots[j].f; j = (j + 1) & mask) {
		size_t home = bhome(b, b->slots[j].f->number);
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			b->slots[i] = b->slots[j];
			i = j;
		}
	}
	b->slots[i].f = NULL;
	b->count--;
}

static int builder_load(struct builder *b, const hdb_version *v)
{
	for (int l = 0; l < HDB_MAX_LEVELS; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			int rc = builder_add(b, l, v->files[l][i]);
			if (rc)
				return rc < 0 ? rc : -EINVAL;
		}
	return 0;
}

/* 0, -ENOMEM, or HDB_ECORRUPT with *what saying which rule e breaks. */
static int builder_apply(struct builder *b, const hdb_vedit *e, const char **what)
{
	for (size_t i = 0; i < e->ndeleted; i++) {
		const hdb_vedit_file *d = &e->deleted[i];
		size_t s = b->cap ? bfind(b, d->number) : 0;
		if (!b->cap || !b->slots[s].f) {
			*what = "edit deletes a file that is not live";
			return HDB_ECORRUPT;
		}
		if (b->slots[s].level != d->level) {
			*what = "edit deletes a file from the wrong level";
			return HDB_ECORRUPT;
		}
		builder_remove_at(b, s);
	}
	for (size_t i = 0; i < e->nadded; i++) {
		const hdb_vedit_file *a = &e->added[i];
		if (a->level < 0 || a->level >= HDB_MAX_LEVELS) {
			*what = "edit adds a file at a level out of range";
			return HDB_ECORRUPT;
		}
		int rc = builder_add(b, a->level, a->f);
		if (rc < 0)
			return rc;
		if (rc) {
			*what = "edit adds a file that is already live";
			return HDB_ECORRUPT;
		}
	}
	return 0;
}

static int cmp_by_number(const void *a, const void *b)
{
	const hdb_fmeta *x = *(hdb_fmeta *const *)a, *y = *(hdb_fmeta *const *)b;
	return x->number < y->number ? -1 : x->number > y->number;
}

static int cmp_by_smallest(const void *a, const void *b)
{
	const hdb_fmeta *x = *(hdb_fmeta *const *)a, *y = *(hdb_fmeta *const *)b;
	int r = hdb_ikey_cmp(x->smallest, x->smallest_len, y->smallest, y->smallest_len);
	return r ? r : cmp_by_number(a, b);
}

static bool level_disjoint(const hdb_version *v, int level)
{
	for (size_t i = 1; i < v->nfiles[level]; i++) {
		const hdb_fmeta *p = v->files[level][i - 1], *f = v->files[level][i];
		if (hdb_ikey_cmp(p->largest, p->largest_len, f->smallest, f->smallest_len) >= 0)
			return false;
	}
	return true;
}

/* Lays the builder out as a new version (refs = 1, not linked). */
static int builder_finish(const struct builder *b, hdb_vset *vs, hdb_version **out, const char **what)
{
	size_t fill[HDB_MAX_LEVELS] = { 0 };
	hdb_version *v = version_alloc(vs);
	int rc = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < b->cap; i++)
		if (b->slots[i].f)
			v->nfiles[b->slots[i].level]++;
	for (int l = 0; l < HDB_MAX_LEVELS; l++) {
		if (v->nfiles[l] && !(v->files[l] = malloc(v->nfiles[l] * sizeof(hdb_fmeta *)))) {
			v->nfiles[l] = 0; /* nothing of this level is referenced yet */
			rc = -ENOMEM;
		}
	}
	for (size_t i = 0; i < b->cap; i++) {
		const struct bslot *s = &b->slots[i];
		if (!s->f || !v->files[s->level])
			continue;
		fmeta_ref(s->f);
		v->files[s->level][fill[s->level]++] = s->f;
	}
	for (int l = 0; l < HDB_MAX_LEVELS; l++)
		v->nfiles[l] = fill[l];
	if (rc)
		goto out;
	for (int l = 0; l < HDB_MAX_LEVELS; l++) {
		if (v->nfiles[l] > 1)
			qsort(v->files[l], v->nfiles[l], sizeof(hdb_fmeta *),
			      l == 0 ? cmp_by_number : cmp_by_smallest);
		if (l > 0 && !level_disjoint(v, l)) {
			*what = "files overlap in a level >= 1";
			rc = HDB_ECORRUPT;
			goto out;
		}
	}
	version_score(v, &vs->opt);
	v->refs = 1;
	*out = v;
	v = NULL;
out:
	if (v)
		version_destroy(v);
	return rc;
}

/* current + e as a new version (refs = 1, not linked).  A broken edit is
 * the caller's bug, reported as -EINVAL with a detail. */
static int version_apply(hdb_vset *vs, const hdb_vedit *e, hdb_version **out)
{
	struct builder b = { 0 };
	const char *what = NULL;
	int rc = builder_load(&b, vs->current);
	if (!rc)
		rc = builder_apply(&b, e, &what);
	if (!rc)
		rc = builder_finish(&b, vs, out, &what);
	builder_free(&b);
	if (rc == HDB_ECORRUPT) {
		hdb_set_errdetail("version edit rejected: %s", what);
		rc = -EINVAL;
	}
	return rc;
}

/* ---- level iterator ---------------------------------------------------- */

struct level_iter {
	hdb_iiter base;
	hdb_version *v;       /* referenced */
	int level;
	hdb_open_table_fn open;
	void *ctx;
	size_t idx;           /* file of cur */
	hdb_iiter *cur;       /* NULL: positioned past the end */
	int err;              /* first error met; sticky */
};

static void li_set_file(struct level_iter *li, size_t idx)
{
	if (li->cur && li->idx == idx)
		return;
	hdb_iiter_destroy(li->cur);
	li->cur = NULL;
	li->idx = idx;
	if (idx >= li->v->nfiles[li->level])
		return;
	li->cur = li->open(li->ctx, li->v->files[li->level][idx]);
	if (!li->cur && !li->err)
		li->err = -ENOMEM;
}

/* Moves past exhausted files until an entry, the end, or an error. */
static void li_skip_empty(struct level_iter *li)
{
	while (li->cur && !hdb_iiter_valid(li->cur)) {
		int st = hdb_iiter_status(li->cur);
		if (st) {
			if (!li->err)
				li->err = st;
			return;
		}
		li_set_file(li, li->idx + 1);
		if (li->cur)
			hdb_iiter_seek_first(li->cur);
	}
}

static bool li_valid(hdb_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	return !li->err && li->cur && hdb_iiter_valid(li->cur);
}

static void li_seek_first(hdb_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	li_set_file(li, 0);
	if (li->cur)
		hdb_iiter_seek_first(li->cur);
	li_skip_empty(li);
}

static void li_seek(hdb_iiter *it, const uint8_t *key, size_t n)
{
	struct level_iter *li = (struct level_iter *)it;
	li_set_file(li, hdb_version_find_file(li->v, li->level, key, n));
	if (li->cur)
		hdb_iiter_seek(li->cur, key, n);
	li_skip_empty(li);
}

static void li_next(hdb_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	assert(li_valid(it));
	hdb_iiter_next(li->cur);
	li_skip_empty(li);
}

static hdb_slice li_key(hdb_iiter *it)
{
	return hdb_iiter_key(((struct level_iter *)it)->cur);
}

static hdb_slice li_value(hdb_iiter *it)
{
	return hdb_iiter_value(((struct level_iter *)it)->cur);
}

static int li_status(hdb_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	if (li->err)
		return li->err;
	return li->cur ? hdb_iiter_status(li->cur) : 0;
}

static void li_destroy(hdb_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	hdb_iiter_destroy(li->cur);
	hdb_version_unref(li->v);
	free(li);
}

static const struct hdb_iiter_ops level_iter_ops = {
	.valid = li_valid,
	.seek_first = li_seek_first,
	.seek = li_seek,
	.next = li_next,
	.key = li_key,
	.value = li_value,
	.status = li_status,
	.destroy = li_destroy,
};

hdb_iiter *hdb_level_iter_new(hdb_version *v, int level, hdb_open_table_fn open, void *ctx)
{
	assert(level >= 1 && level < HDB_MAX_LEVELS);
	struct level_iter *li = calloc(1, sizeof(*li));
	if (!li)
		return NULL;
	li->base.ops = &level_iter_ops;
	li->v = v;
	li->level = level;
	li->open = open;
	li->ctx = ctx;
	hdb_version_ref(v);
	return &li->base;
}

/* ---- manifest writing -------------------------------------------------- */

static char *path_join(const char *dir, const char *name)
{
	char *p;
	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static void manifest_name(char *buf, size_t n, uint64_t number)
{
	snprintf(buf, n, HDB_MANIFEST_PREFIX "%06" PRIu64, number);
}

/* Appends one framed record holding e to rec. */
static int frame_record(hdb_buf *rec, const hdb_vedit *e)
{
	size_t start = rec->len;
	uint8_t hdr[HDB_MANIFEST_REC_HEADER] = { 0 };
	int rc = hdb_buf_append(rec, hdr, sizeof(hdr));
	if (!rc)
		rc = hdb_vedit_encode(e, rec);
	if (rc)
		return rc;
	size_t len = rec->len - start - HDB_MANIFEST_REC_HEADER;
	if (len > HDB_MANIFEST_MAX_RECORD)
		return -EFBIG;
	uint8_t *r = rec->data + start;
	r[HDB_MANIFEST_OFF_TYPE] = HDB_MANIFEST_TYPE_EDIT;
	hdb_put_u32(r + HDB_MANIFEST_OFF_LENGTH, (uint32_t)len);
	hdb_put_u32(r + HDB_MANIFEST_OFF_CRC, hdb_crc32(r + HDB_MANIFEST_OFF_TYPE, len + 1));
	return 0;
}

static int append_header(hdb_buf *b)
{
	uint8_t h[HDB_MANIFEST_HEADER_SIZE];
	memcpy(h, HDB_MANIFEST_MAGIC, HDB_MANIFEST_MAGIC_SIZE);
	hdb_put_u32(h + 8, HDB_MANIFEST_VERSION);
	hdb_put_u32(h + 12, hdb_crc32(h, 12));
	return hdb_buf_append(b, h, sizeof(h));
}

/* Header plus one snapshot record: every file of v, and the counters. */
static int encode_snapshot(const hdb_version *v, uint64_t log_number, uint64_t next_file,
                           uint64_t last_seq, hdb_buf *out)
{
	hdb_vedit e;
	int rc = 0;

	hdb_vedit_init(&e);
	e.has_log_number = e.has_next_file = e.has_last_seq = true;
	e.log_number = log_number;
	e.next_file = next_file;
	e.last_seq = last_seq;
	for (int l = 0; !rc && l < HDB_MAX_LEVELS; l++)
		for (size_t i = 0; !rc && i < v->nfiles[l]; i++)
			rc = hdb_vedit_add_file(&e, l, v->files[l][i]);
	if (!rc)
		rc = append_header(out);
	if (!rc)
		rc = frame_record(out, &e);
	hdb_vedit_free(&e);
	return rc;
}

static void unlink_manifest(hdb_vset *vs, uint64_t number)
{
	char name[48];
	manifest_name(name, sizeof(name), number);
	char *path = path_join(vs->dir, name);
	if (path)
		vs->env->unlink(vs->env, path); /* leftovers are harmless garbage */
	free(path);
}

/* Makes room to remember one more orphan before a switch is tried, so that
 * recording it afterwards cannot fail. */
static int reserve_orphan(hdb_vset *vs)
{
	uint64_t *p = realloc(vs->orphans, (vs->norphans + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	vs->orphans = p;
	return 0;
}

/*
 * Writes MANIFEST-number holding `content` (header and snapshot), makes it
 * and its directory entry durable, then points CURRENT at it.  Touches no
 * vset state, so it may run without the DB mutex.  On failure *fd is -1 and
 * *orphan says whether CURRENT may already name the new file, which must
 * then be kept.
 */
static int manifest_create(hdb_vset *vs, uint64_t number, const hdb_buf *content, int *fd,
                           bool *orphan)
{
	hdb_env *env = vs->env;
	char name[48], cur[64];
	char *path;
	int rc;

	*fd = -1;
	*orphan = false;
	manifest_name(name, sizeof(name), number);
	path = path_join(vs->dir, name);
	if (!path)
		return -ENOMEM;
	rc = env->wopen(env, path, HDB_WOPEN_TRUNC, fd);
	if (rc)
		goto out;
	rc = env->write(env, *fd, content->data, content->len);
	if (!rc)
		rc = env->sync(env, *fd);
	if (!rc)
		rc = env->sync_dir(env, vs->dir);
	if (rc)
		goto fail;
	int n = snprintf(cur, sizeof(cur), "%s\n", name);
	rc = hdb_env_write_atomic(env, vs->dir, HDB_CURRENT_NAME, cur, (size_t)n);
	if (!rc)
		goto out;
	*orphan = true;
fail:
	env->close(env, *fd);
	*fd = -1;
	if (!*orphan)
		env->unlink(env, path);
out:
	free(path);
	return rc;
}

/* Records the outcome of manifest_create.  On success CURRENT durably
 * names the new manifest, so the old one and every orphan are garbage. */
static void manifest_settle(hdb_vset *vs, uint64_t number, int rc, int fd, bool orphan,
                            uint64_t bytes)
{
	vs->pending_manifest = 0;
	if (rc) {
		if (orphan)
			vs->orphans[vs->norphans++] = number; /* room reserved */
		return;
	}
	if (vs->manifest_fd >= 0)
		vs->env->close(vs->env, vs->manifest_fd);
	if (vs->manifest_number)
		unlink_manifest(vs, vs->manifest_number);
	for (size_t i = 0; i < vs->norphans; i++)
		unlink_manifest(vs, vs->orphans[i]);
	vs->norphans = 0;
	vs->manifest_fd = fd;
	vs->manifest_number = number;
	vs->manifest_bytes = bytes;
}

/* ---- recovery ------------------------------------------------------------ */

/* Parses CURRENT into the manifest's name and number. */
static int parse_current(const uint8_t *data, size_t len, char *name, size_t cap, uint64_t *number)
{
	size_t plen = strlen(HDB_MANIFEST_PREFIX);
	size_t digits = 0;
	uint64_t v = 0;

	if (len < plen || memcmp(data, HDB_MANIFEST_PREFIX, plen))
		return hdb_corrupt(HDB_CURRENT_NAME, 0, "does not name a manifest");
	while (plen + digits < len && data[plen + digits] >= '0' && data[plen + digits] <= '9') {
		unsigned d = data[plen + digits] - '0';
		if (v > (UINT64_MAX - d) / 10)
			return hdb_corrupt(HDB_CURRENT_NAME, plen + digits, "manifest number too large");
		v = v * 10 + d;
		digits++;
	}
	if (digits < HDB_MANIFEST_MIN_DIGITS || digits > HDB_MANIFEST_MAX_DIGITS)
		return hdb_corrupt(HDB_CURRENT_NAME, plen, "malformed manifest number");
	if (len != plen + digits + 1 || data[len - 1] != '\n')
		return hdb_corrupt(HDB_CURRENT_NAME, plen + digits, "expected a single newline");
	if (plen + digits >= cap)
		return hdb_corrupt(HDB_CURRENT_NAME, 0, "manifest name too long");
	memcpy(name, data, plen + digits);
	name[plen + digits] = '\0';
	*number = v;
	return 0;
}

static int check_header(const uint8_t *data, size_t len, const char *name)
{
	if (len < HDB_MANIFEST_HEADER_SIZE)
		return hdb_corrupt(name, 0, "manifest header truncated");
	if (memcmp(data, HDB_MANIFEST_MAGIC, HDB_MANIFEST_MAGIC_SIZE))
		return hdb_corrupt(name, 0, "bad manifest magic");
	if (hdb_get_u32(data + 12) != hdb_crc32(data, 12))
		return hdb_corrupt(name, 12, "manifest header checksum mismatch");
	uint32_t version = hdb_get_u32(data + 8);
	if (version == 0)
		return hdb_corrupt(name, 8, "manifest format version 0");
	if (version > HDB_MANIFEST_VERSION) {
		hdb_set_errdetail("%s: format version %" PRIu32 ", newer than %d", name, version,
		                  HDB_MANIFEST_VERSION);
		return HDB_EVERSION;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Recovery state gathered from the records. */
struct replay {
	struct builder b;
	bool has_next_file, has_last_seq;
	uint64_t next_file, last_seq, log_number;
	uint64_t valid_end; /* offset past the last intact record */
};

static int replay_edit(struct replay *r, const uint8_t *payload, size_t n, const char *name,
                       uint64_t off)
{
	hdb_vedit e;
	const char *what = NULL;
	int rc = hdb_vedit_decode(&e, payload, n, name, off + HDB_MANIFEST_REC_HEADER);
	if (rc)
		return rc;
	rc = builder_apply(&r->b, &e, &what);
	if (rc == HDB_ECORRUPT)
		rc = hdb_corrupt(name, off, what);
	if (!rc && e.has_log_number)
		r->log_number = e.log_number;
	if (!rc && e.has_next_file) {
		r->has_next_file = true;
		r->next_file = e.next_file;
	}
	if (!rc && e.has_last_seq) {
		r->has_last_seq = true;
		r->last_seq = e.last_seq;
	}
	hdb_vedit_free(&e);
	return rc;
}

/* Applies every intact record of the manifest to r (see manifest_format.h
 * for what counts as a torn tail). */
static int replay_records(struct replay *r, const uint8_t *data, size_t len, const char *name)
{
	uint64_t off = HDB_MANIFEST_HEADER_SIZE;
	int rc = 0;

	r->valid_end = off;
	while (off < len) {
		const uint8_t *rec = data + off;
		size_t rest = len - (size_t)off;
		if (rest < HDB_MANIFEST_REC_HEADER)
			break;
		uint32_t plen = hdb_get_u32(rec + HDB_MANIFEST_OFF_LENGTH);
		if ((uint64_t)plen + HDB_MANIFEST_REC_HEADER > rest)
			break;
		if (plen > HDB_MANIFEST_MAX_RECORD)
			return hdb_corrupt(name, off, "record longer than the maximum");
		size_t end = HDB_MANIFEST_REC_HEADER + plen;
		if (hdb_get_u32(rec + HDB_MANIFEST_OFF_CRC) !=
		    hdb_crc32(rec + HDB_MANIFEST_OFF_TYPE, (size_t)plen + 1)) {
			if (end == rest || all_zero(rec, rest))
				break;
			return hdb_corrupt(name, off, "record checksum mismatch before the end");
		}
		if (rec[HDB_MANIFEST_OFF_TYPE] != HDB_MANIFEST_TYPE_EDIT)
			return hdb_corrupt(name, off, "unknown record type");
		rc = replay_edit(r, rec + HDB_MANIFEST_REC_HEADER, plen, name, off);
		if (rc)
			return rc;
		off += end;
		r->valid_end = off;
	}
	if (!r->has_next_file || !r->has_last_seq)
		return hdb_corrupt(name, off, "manifest lacks next file number or last sequence");
	return 0;
}

/* Reads the manifest CURRENT names into vs (current version, counters). */
static int recover(hdb_vset *vs, const uint8_t *cur, size_t curlen)
{
	char name[48];
	uint64_t number = 0;
	uint8_t *data = NULL;
	size_t len = 0;
	char *path = NULL;
	struct replay r = { 0 };
	const char *what = NULL;
	int rc = parse_current(cur, curlen, name, sizeof(name), &number);

	if (rc)
		return rc;
	if (!(path = path_join(vs->dir, name)))
		return -ENOMEM;
	rc = hdb_read_file(path, &data, &len);
	if (rc == -ENOENT)
		rc = hdb_corrupt(name, 0, "the manifest CURRENT names is missing");
	if (!rc)
		rc = check_header(data, len, name);
	if (!rc)
		rc = replay_records(&r, data, len, name);
	if (!rc) {
		rc = builder_finish(&r.b, vs, &vs->current, &what);
		if (rc == HDB_ECORRUPT)
			rc = hdb_corrupt(name, r.valid_end, what);
	}
	if (rc)
		goto out;
	version_link(vs, vs->current);
	vs->manifest_number = number;
	vs->manifest_bytes = r.valid_end;
	vs->log_number = r.log_number;
	vs->last_seq = r.last_seq;
	vs->next_file = r.next_file;
	hdb_vset_mark_file_number_used(vs, number);
	hdb_vset_mark_file_number_used(vs, r.b.max_number);
out:
	builder_free(&r.b);
	free(data);
	free(path);
	return rc;
}

/* ---- version set --------------------------------------------------------- */

static hdb_vset *vset_alloc(hdb_env *env, const char *dir, const hdb_vset_options *o)
{
	hdb_vset *vs = calloc(1, sizeof(*vs));
	if (!vs)
		return NULL;
	if (!(vs->dir = strdup(dir)) || pthread_mutex_init(&vs->list_mu, NULL)) {
		free(vs->dir);
		free(vs);
		return NULL;
	}
	vs->env = env;
	vs->opt = *o;
	vs->live.prev = vs->live.next = &vs->live;
	vs->manifest_fd = -1;
	vs->next_file = 1; /* the first manifest of a new set is number 1 */
	return vs;
}

static int vset_start_empty(hdb_vset *vs)
{
	const char *what = NULL;
	struct builder b = { 0 };
	int rc = builder_finish(&b, vs, &vs->current, &what);
	if (rc)
		return rc;
	version_link(vs, vs->current);
	return 0;
}

/* Starts a fresh manifest holding a snapshot of the current version. */
static int vset_rewrite_manifest(hdb_vset *vs)
{
	hdb_buf content = { 0 };
	uint64_t number = hdb_vset_new_file_number(vs);
	int fd;
	bool orphan;
	int rc = reserve_orphan(vs);
	if (!rc)
		rc = encode_snapshot(vs->current, vs->log_number, vs->next_file, vs->last_seq, &content);
	if (rc)
		goto out;
	rc = manifest_create(vs, number, &content, &fd, &orphan);
	manifest_settle(vs, number, rc, fd, orphan, content.len);
out:
	hdb_buf_free(&content);
	return rc;
}

int hdb_vset_open(hdb_env *env, const char *dir, const hdb_vset_options *o, bool create,
                  bool read_only, hdb_vset **out)
{
	uint8_t *cur = NULL;
	size_t curlen = 0;
	char *path = path_join(dir, HDB_CURRENT_NAME);
	hdb_vset *vs = NULL;
	int rc;

	*out = NULL;
	if (!path)
		return -ENOMEM;
	rc = hdb_read_file(path, &cur, &curlen);
	if (rc && (rc != -ENOENT || !create || read_only))
		goto out;
	if (!(vs = vset_alloc(env, dir, o))) {
		rc = -ENOMEM;
		goto out;
	}
	vs->read_only = read_only;
	if (rc == -ENOENT) {
		rc = vset_start_empty(vs);
		if (!rc)
			rc = vset_rewrite_manifest(vs);
	} else {
		rc = recover(vs, cur, curlen);
		/* A failed switch leaves the recovered manifest current and
		 * the next apply retries, so a full or read-only disk still
		 * opens for reading. */
		if (!rc && !read_only)
			(void)vset_rewrite_manifest(vs);
	}
	if (rc)
		goto out;
	*out = vs;
	vs = NULL;
out:
	hdb_vset_free(vs);
	free(cur);
	free(path);
	return rc;
}

void hdb_vset_free(hdb_vset *vs)
{
	if (!vs)
		return;
	if (vs->manifest_fd >= 0)
		vs->env->close(vs->env, vs->manifest_fd);
	hdb_version_unref(vs->current);
	assert(vs->live.next == &vs->live);
	for (int l = 0; l < HDB_MAX_LEVELS; l++)
		hdb_buf_free(&vs->compact_ptr[l]);
	pthread_mutex_destroy(&vs->list_mu);
	free(vs->orphans);
	free(vs->dir);
	free(vs);
}

hdb_version *hdb_vset_current(hdb_vset *vs)
{
	return vs->current;
}

uint64_t hdb_vset_new_file_number(hdb_vset *vs)
{
	return vs->next_file++;
}

void hdb_vset_mark_file_number_used(hdb_vset *vs, uint64_t number)
{
	if (vs->next_file <= number)
		vs->next_file = number + 1;
}

uint64_t hdb_vset_last_seq(const hdb_vset *vs)
{
	return vs->last_seq;
}

void hdb_vset_set_last_seq(hdb_vset *vs, uint64_t seq)
{
	assert(seq >= vs->last_seq);
	vs->last_seq = seq;
}

uint64_t hdb_vset_log_number(const hdb_vset *vs)
{
	return vs->log_number;
}

uint64_t hdb_vset_manifest_bytes(const hdb_vset *vs)
{
	return vs->manifest_bytes;
}

/* Fills the counters every record carries; they never move backwards. */
static void fill_counters(hdb_vset *vs, hdb_vedit *e)
{
	if (e->has_next_file && e->next_file > 0)
		hdb_vset_mark_file_number_used(vs, e->next_file - 1);
	for (size_t i = 0; i < e->nadded; i++)
		hdb_vset_mark_file_number_used(vs, e->added[i].f->number);
	if (!e->has_log_number || e->log_number < vs->log_number)
		e->log_number = vs->log_number;
	if (!e->has_last_seq || e->last_seq < vs->last_seq)
		e->last_seq = vs->last_seq;
	e->has_log_number = e->has_last_seq = e->has_next_file = true;
	e->next_file = vs->next_file;
}

/* Writes what log_and_apply prepared; runs without the DB mutex. */
static int manifest_write(hdb_vset *vs, uint64_t fresh, const hdb_buf *rec, int *fd, bool *orphan)
{
	if (fresh)
		return manifest_create(vs, fresh, rec, fd, orphan);
	int rc = vs->env->write(vs->env, vs->manifest_fd, rec->data, rec->len);
	return rc ? rc : vs->env->sync(vs->env, vs->manifest_fd);
}

/* After a write: adopts a new manifest, or retires a failed append target. */
static void manifest_after_write(hdb_vset *vs, uint64_t fresh, int rc, int fd, bool orphan,
                                 uint64_t bytes)
{
	if (fresh) {
		manifest_settle(vs, fresh, rc, fd, orphan, bytes);
	} else if (rc) {
		/* The record may be half written: never append after it. */
		vs->env->close(vs->env, vs->manifest_fd);
		vs->manifest_fd = -1;
	} else {
		vs->manifest_bytes += bytes;
	}
}

int hdb_vset_log_and_apply(hdb_vset *vs, hdb_vedit *e, pthread_mutex_t *mu)
{
	uint64_t fresh = 0; /* number of a new manifest to start, or 0 */
	hdb_version *v = NULL;
	hdb_buf rec = { 0 };
	int fd = -1, rc;
	bool orphan = false;

	if (vs->read_only)
		return -EROFS;
	if (vs->manifest_fd < 0 || vs->manifest_bytes >= MANIFEST_ROLL_BYTES) {
		rc = reserve_orphan(vs);
		if (rc)
			return rc;
		fresh = hdb_vset_new_file_number(vs);
	}
	fill_counters(vs, e);
	rc = version_apply(vs, e, &v);
	if (rc)
		return rc;
	if (fresh)
		rc = encode_snapshot(v, e->log_number, e->next_file, e->last_seq, &rec);
	else
		rc = frame_record(&rec, e);
	if (rc)
		goto out;
	/* Listed before the write, so live_files protects the new files and
	 * the new manifest while the mutex is released. */
	version_link(vs, v);
	vs->pending_manifest = fresh;

	pthread_mutex_unlock(mu);
	rc = manifest_write(vs, fresh, &rec, &fd, &orphan);
	pthread_mutex_lock(mu);

	manifest_after_write(vs, fresh, rc, fd, orphan, rec.len);
	if (rc)
		goto out;
	/* Writers may have moved the counters on while the mutex was out. */
	if (e->log_number > vs->log_number)
		vs->log_number = e->log_number;
	if (e->last_seq > vs->last_seq)
		vs->last_seq = e->last_seq;
	hdb_version_unref(vs->current);
	vs->current = v;
	v = NULL;
out:
	hdb_version_unref(v);
	hdb_buf_free(&rec);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int hdb_vset_live_files(hdb_vset *vs, uint64_t **numbers, size_t *n)
{
	size_t cnt = 0, cap = 2 + vs->norphans, w = 0;
	uint64_t *arr;

	pthread_mutex_lock(&vs->list_mu);
	for (hdb_version *v = vs->live.next; v != &vs->live; v = v->next)
		for (int l = 0; l < HDB_MAX_LEVELS; l++)
			cap += v->nfiles[l];
	arr = malloc(cap * sizeof(*arr));
	if (!arr) {
		pthread_mutex_unlock(&vs->list_mu);
		return -ENOMEM;
	}
	for (hdb_version *v = vs->live.next; v != &vs->live; v = v->next)
		for (int l = 0; l < HDB_MAX_LEVELS; l++)
			for (size_t i = 0; i < v->nfiles[l]; i++)
				arr[cnt++] = v->files[l][i]->number;
	pthread_mutex_unlock(&vs->list_mu);
	if (vs->manifest_number)
		arr[cnt++] = vs->manifest_number;
	if (vs->pending_manifest)
		arr[cnt++] = vs->pending_manifest;
	for (size_t i = 0; i < vs->norphans; i++)
		arr[cnt++] = vs->orphans[i];
	qsort(arr, cnt, sizeof(*arr), cmp_u64);
	for (size_t i = 0; i < cnt; i++)
		if (!w || arr[w - 1] != arr[i])
			arr[w++] = arr[i];
	*numbers = arr;
	*n = w;
	return 0;
}

const hdb_vset_options *hdb_vset_options_of(const hdb_vset *vs)
{
	return &vs->opt;
}

hdb_buf *hdb_vset_compact_pointer(hdb_vset *vs, int level)
{
	assert(level >= 0 && level < HDB_MAX_LEVELS);
	return &vs->compact_ptr[level];
}
