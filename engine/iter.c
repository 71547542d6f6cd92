/*
 * iter.c — the empty iterator and the merging iterator.
 *
 * The merging iterator keeps its valid children in a binary min-heap ordered
 * by (key, child index); the top of the heap is the current entry.
 *
 * Invariants: heap[0..nheap) holds exactly the valid children; a child with
 * a non-zero status is never in the heap and its status becomes the merge's.
 */
#include "iter.h"

#include <errno.h>
#include <stdlib.h>

struct empty_iter {
	hdb_iiter base;
	int err;
};

static bool empty_valid(hdb_iiter *it) { return false; }
static void empty_seek_first(hdb_iiter *it) {}
static void empty_seek(hdb_iiter *it, const uint8_t *k, size_t n) {}
static void empty_next(hdb_iiter *it) {}
static hdb_slice empty_slice(hdb_iiter *it) { return hdb_slice_make(NULL, 0); }
static int empty_status(hdb_iiter *it) { return ((struct empty_iter *)it)->err; }
static void empty_destroy(hdb_iiter *it) { free(it); }

static const struct hdb_iiter_ops empty_ops = {
	.valid = empty_valid,
	.seek_first = empty_seek_first,
	.seek = empty_seek,
	.next = empty_next,
	.key = empty_slice,
	.value = empty_slice,
	.status = empty_status,
	.destroy = empty_destroy,
};

hdb_iiter *hdb_iiter_empty(int err)
{
	struct empty_iter *e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	e->base.ops = &empty_ops;
	e->err = err;
	return &e->base;
}

struct merge_iter {
	hdb_iiter base;
	hdb_cmp_fn cmp;
	size_t n;
	hdb_iiter **child;
	size_t *heap;  /* child indices */
	size_t nheap;
	int err;
};

static bool heap_less(struct merge_iter *m, size_t a, size_t b)
{
	hdb_slice ka = hdb_iiter_key(m->child[a]), kb = hdb_iiter_key(m->child[b]);
	int r = m->cmp(ka.data, ka.len, kb.data, kb.len);
	return r < 0 || (r == 0 && a < b);
}

static void sift_down(struct merge_iter *m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;
		if (l < m->nheap && heap_less(m, m->heap[l], m->heap[min]))
			min = l;
		if (r < m->nheap && heap_less(m, m->heap[r], m->heap[min]))
			min = r;
		if (min == i)
			return;
		size_t t = m->heap[i];
		m->heap[i] = m->heap[min];
		m->heap[min] = t;
		i = min;
	}
}

static void rebuild(struct merge_iter *m)
{
	m->nheap = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (hdb_iiter_valid(m->child[i])) {
			m->heap[m->nheap++] = i;
		} else {
			int st = hdb_iiter_status(m->child[i]);
			if (st && !m->err)
				m->err = st;
		}
	}
	for (size_t i = m->nheap / 2; i-- > 0;)
		sift_down(m, i);
}

static bool merge_valid(hdb_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	return m->nheap > 0 && !m->err;
}

static void merge_seek_first(hdb_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	for (size_t i = 0; i < m->n; i++)
		hdb_iiter_seek_first(m->child[i]);
	rebuild(m);
}

static void merge_seek(hdb_iiter *it, const uint8_t *k, size_t n)
{
	struct merge_iter *m = (struct merge_iter *)it;
	for (size_t i = 0; i < m->n; i++)
		hdb_iiter_seek(m->child[i], k, n);
	rebuild(m);
}

static void merge_next(hdb_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	size_t top = m->heap[0];
	hdb_iiter_next(m->child[top]);
	if (!hdb_iiter_valid(m->child[top])) {
		int st = hdb_iiter_status(m->child[top]);
		if (st && !m->err)
			m->err = st;
		m->heap[0] = m->heap[--m->nheap];
	}
	sift_down(m, 0);
}

static hdb_slice merge_key(hdb_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	return hdb_iiter_key(m->child[m->heap[0]]);
}

static hdb_slice merge_value(hdb_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	return hdb_iiter_value(m->child[m->heap[0]]);
}

static int merge_status(hdb_iiter *it)
{
	return ((struct merge_iter *)it)->err;
}

static void merge_destroy(hdb_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	for (size_t i = 0; i < m->n; i++)
		hdb_iiter_destroy(m->child[i]);
	free(m->child);
	free(m->heap);
	free(m);
}

static const struct hdb_iiter_ops merge_ops = {
	.valid = merge_valid,
	.seek_first = merge_seek_first,
	.seek = merge_seek,
	.next = merge_next,
	.key = merge_key,
	.value = merge_value,
	.status = merge_status,
	.destroy = merge_destroy,
};

hdb_iiter *hdb_merge_iter_new(hdb_cmp_fn cmp, hdb_iiter **children, size_t n)
{
	struct merge_iter *m = calloc(1, sizeof(*m));
	if (m) {
		m->child = malloc((n ? n : 1) * sizeof(*m->child));
		m->heap = malloc((n ? n : 1) * sizeof(*m->heap));
	}
	if (!m || !m->child || !m->heap) {
		for (size_t i = 0; i < n; i++)
			hdb_iiter_destroy(children[i]);
		if (m) {
			free(m->child);
			free(m->heap);
			free(m);
		}
		return NULL;
	}
	m->base.ops = &merge_ops;
	m->cmp = cmp;
	m->n = n;
	for (size_t i = 0; i < n; i++)
		m->child[i] = children[i];
	return &m->base;
}

int hdb_ikey_cmp_fn(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return hdb_ikey_cmp(a, an, b, bn);
}

int hdb_bytes_cmp_fn(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return hdb_bytes_cmp(a, an, b, bn);
}
