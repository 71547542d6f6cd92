/*
 * compaction.c — choosing what to compact: the size-triggered pick, manual
 * ranges, trivial moves, and the base-level test for dropping tombstones.
 *
 * Every input set is closed under user-key overlap within its level: in L0
 * files overlap freely, and in higher levels neighbours may share a boundary
 * user key.  All versions of a user key in a level must move down together,
 * or a read would find an older version above a newer one.
 */
#include "version.h"

#include <assert.h>
#include <stdlib.h>

/* Growing inputs[0] for free stops at this many target file sizes. */
#define EXPAND_LIMIT_FILES 25
/* A file overlapping more than this many target sizes of level + 2 is
 * rewritten rather than moved, so that its later compaction stays cheap. */
#define GRANDPARENT_LIMIT_FILES 10

static int ucmp(hdb_slice a, hdb_slice b)
{
	return hdb_bytes_cmp(a.data, a.len, b.data, b.len);
}

static hdb_slice user_smallest(const hdb_fmeta *f)
{
	return hdb_ikey_user(f->smallest, f->smallest_len);
}

static hdb_slice user_largest(const hdb_fmeta *f)
{
	return hdb_ikey_user(f->largest, f->largest_len);
}

/* Widens [*lo, *hi] to cover the user keys of files. */
static void widen_range(hdb_fmeta *const *files, size_t n, hdb_slice *lo, hdb_slice *hi)
{
	for (size_t i = 0; i < n; i++) {
		hdb_slice s = user_smallest(files[i]), l = user_largest(files[i]);
		if (!lo->data || ucmp(s, *lo) < 0)
			*lo = s;
		if (!hi->data || ucmp(l, *hi) > 0)
			*hi = l;
	}
}

static void user_range(hdb_fmeta *const *files, size_t n, hdb_slice *lo, hdb_slice *hi)
{
	*lo = *hi = hdb_slice_make(NULL, 0);
	widen_range(files, n, lo, hi);
}

static uint64_t total_bytes(hdb_fmeta *const *files, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += files[i]->size;
	return sum;
}

/* Files of level overlapping the user range [lo, hi]. */
static int overlapping(const hdb_version *v, int level, hdb_slice lo, hdb_slice hi,
                       hdb_fmeta ***out, size_t *n)
{
	return hdb_version_overlapping(v, level, lo.data, lo.len, hi.data, hi.len, out, n);
}

/* Replaces *files (a non-empty malloc'd set of level's files) with every
 * file of level transitively overlapping them. */
static int close_over_level(const hdb_version *v, int level, hdb_fmeta ***files, size_t *n)
{
	for (;;) {
		hdb_slice lo, hi;
		hdb_fmeta **wider;
		size_t m;
		user_range(*files, *n, &lo, &hi);
		int rc = overlapping(v, level, lo, hi, &wider, &m);
		if (rc)
			return rc;
		/* The result holds the set itself, so an equal count means
		 * nothing was added. */
		assert(m >= *n);
		if (m == *n) {
			free(wider);
			return 0;
		}
		free(*files);
		*files = wider;
		*n = m;
	}
}

static hdb_compaction *compaction_new(hdb_vset *vs, hdb_version *v, int level)
{
	hdb_compaction *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->level = level;
	c->version = v;
	hdb_version_ref(v);
	c->max_output_size = hdb_vset_options_of(vs)->target_file_size;
	hdb_vedit_init(&c->edit);
	return c;
}

void hdb_compaction_free(hdb_compaction *c)
{
	if (!c)
		return;
	hdb_version_unref(c->version);
	free(c->inputs[0]);
	free(c->inputs[1]);
	hdb_vedit_free(&c->edit);
	free(c);
}

/* Takes more files of level into inputs[0] when that pulls in no more files
 * of level + 1: they are merged at no extra cost in rewritten bytes there. */
static int try_expand(hdb_vset *vs, hdb_compaction *c)
{
	const hdb_version *v = c->version;
	uint64_t limit = EXPAND_LIMIT_FILES * hdb_vset_options_of(vs)->target_file_size;
	hdb_fmeta **more0 = NULL, **more1 = NULL;
	size_t n0 = 0, n1 = 0;
	hdb_slice lo, hi;
	int rc;

	if (!c->ninputs[1])
		return 0;
	user_range(c->inputs[0], c->ninputs[0], &lo, &hi);
	widen_range(c->inputs[1], c->ninputs[1], &lo, &hi);
	rc = overlapping(v, c->level, lo, hi, &more0, &n0);
	if (!rc && n0)
		rc = close_over_level(v, c->level, &more0, &n0);
	if (rc || n0 <= c->ninputs[0] ||
	    total_bytes(more0, n0) + total_bytes(c->inputs[1], c->ninputs[1]) >= limit)
		goto out;
	user_range(more0, n0, &lo, &hi);
	rc = overlapping(v, c->level + 1, lo, hi, &more1, &n1);
	if (rc || n1 != c->ninputs[1])
		goto out;
	free(c->inputs[0]);
	c->inputs[0] = more0;
	c->ninputs[0] = n0;
	more0 = NULL;
out:
	free(more0);
	free(more1);
	return rc;
}

static int delete_inputs(hdb_compaction *c)
{
	for (int w = 0; w < 2; w++)
		for (size_t i = 0; i < c->ninputs[w]; i++) {
			int rc = hdb_vedit_delete_file(&c->edit, c->level + w, c->inputs[w][i]->number);
			if (rc)
				return rc;
		}
	return 0;
}

/* Remembers where the level's next size-triggered pick starts. */
static int advance_pointer(hdb_vset *vs, const hdb_compaction *c)
{
	const hdb_fmeta *last = NULL;
	if (c->level == 0)
		return 0;
	for (size_t i = 0; i < c->ninputs[0]; i++) {
		const hdb_fmeta *f = c->inputs[0][i];
		if (!last || hdb_ikey_cmp(f->largest, f->largest_len, last->largest, last->largest_len) > 0)
			last = f;
	}
	hdb_buf *ptr = hdb_vset_compact_pointer(vs, c->level);
	ptr->len = 0;
	return hdb_buf_append(ptr, last->largest, last->largest_len);
}

/* Given inputs[0] (closed over its level), fills inputs[1], expands, and
 * writes the deletions into the edit. */
static int complete(hdb_vset *vs, hdb_compaction *c)
{
	hdb_slice lo, hi;
	user_range(c->inputs[0], c->ninputs[0], &lo, &hi);
	int rc = overlapping(c->version, c->level + 1, lo, hi, &c->inputs[1], &c->ninputs[1]);
	if (!rc)
		rc = try_expand(vs, c);
	if (!rc)
		rc = delete_inputs(c);
	if (!rc)
		rc = advance_pointer(vs, c);
	return rc;
}

/* The level's first file past its compact pointer, wrapping around. */
static hdb_fmeta *round_robin_file(hdb_vset *vs, const hdb_version *v, int level)
{
	const hdb_buf *ptr = hdb_vset_compact_pointer(vs, level);
	for (size_t i = 0; ptr->len && i < v->nfiles[level]; i++) {
		const hdb_fmeta *f = v->files[level][i];
		if (hdb_ikey_cmp(f->largest, f->largest_len, ptr->data, ptr->len) > 0)
			return v->files[level][i];
	}
	return v->files[level][0];
}

hdb_compaction *hdb_vset_pick_compaction(hdb_vset *vs)
{
	hdb_version *v = hdb_vset_current(vs);
	int level = v->compaction_level;
	hdb_compaction *c;

	if (v->compaction_score < 1 || level < 0 || !v->nfiles[level])
		return NULL;
	c = compaction_new(vs, v, level);
	if (!c)
		return NULL;
	c->inputs[0] = malloc(sizeof(hdb_fmeta *));
	if (!c->inputs[0])
		goto fail;
	/* L0 starts from its oldest file, so old data drains first. */
	c->inputs[0][0] = level == 0 ? v->files[0][0] : round_robin_file(vs, v, level);
	c->ninputs[0] = 1;
	if (close_over_level(v, level, &c->inputs[0], &c->ninputs[0]) || complete(vs, c))
		goto fail;
	return c;
fail:
	hdb_compaction_free(c);
	return NULL;
}

hdb_compaction *hdb_vset_compact_range(hdb_vset *vs, int level, const uint8_t *ubegin, size_t blen,
                                       const uint8_t *uend, size_t elen)
{
	hdb_version *v = hdb_vset_current(vs);
	hdb_compaction *c;

	if (level < 0 || level >= HDB_MAX_LEVELS - 1)
		return NULL;
	c = compaction_new(vs, v, level);
	if (!c)
		return NULL;
	if (hdb_version_overlapping(v, level, ubegin, blen, uend, elen, &c->inputs[0], &c->ninputs[0]) ||
	    !c->ninputs[0])
		goto fail;
	if (close_over_level(v, level, &c->inputs[0], &c->ninputs[0]) || complete(vs, c))
		goto fail;
	return c;
fail:
	hdb_compaction_free(c);
	return NULL;
}

/* Bytes of level's files overlapping f's user range. */
static uint64_t overlap_bytes(const hdb_version *v, int level, const hdb_fmeta *f)
{
	hdb_slice lo = user_smallest(f), hi = user_largest(f);
	uint64_t sum = 0;
	for (size_t i = 0; i < v->nfiles[level]; i++) {
		const hdb_fmeta *g = v->files[level][i];
		if (ucmp(user_largest(g), lo) >= 0 && ucmp(user_smallest(g), hi) <= 0)
			sum += g->size;
	}
	return sum;
}

bool hdb_compaction_is_trivial_move(const hdb_compaction *c)
{
	if (c->ninputs[0] != 1 || c->ninputs[1] != 0)
		return false;
	if (c->level + 2 >= HDB_MAX_LEVELS)
		return true;
	return overlap_bytes(c->version, c->level + 2, c->inputs[0][0]) <=
	       GRANDPARENT_LIMIT_FILES * c->max_output_size;
}

bool hdb_compaction_is_base_level_for_key(hdb_compaction *c, const uint8_t *ukey, size_t n)
{
	hdb_slice k = hdb_slice_make(ukey, n);
	for (int l = c->level + 2; l < HDB_MAX_LEVELS; l++) {
		const hdb_version *v = c->version;
		while (c->level_ptrs[l] < v->nfiles[l]) {
			const hdb_fmeta *f = v->files[l][c->level_ptrs[l]];
			if (ucmp(k, user_largest(f)) <= 0) {
				if (ucmp(k, user_smallest(f)) >= 0)
					return false;
				break;
			}
			c->level_ptrs[l]++;
		}
	}
	return true;
}
