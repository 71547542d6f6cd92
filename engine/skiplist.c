/*
 * skiplist.c — lock-free-read skiplist over byte strings in an arena.
 *
 * Thread safety: exactly one thread at a time calls reserve/link/insert (the
 * caller serialises them); readers (cursors) run concurrently with it and
 * take no lock.  The writer alone touches `rng` and the nodes it has
 * reserved but not yet linked.
 *
 * Invariants:
 *  - Level 0 is a sorted singly linked list of every linked node, strictly
 *    ascending under cmp; level i > 0 is a sorted sublist of level i - 1.
 *  - A node's fields and entry bytes are written before it is published: the
 *    node's own next pointers with relaxed stores, then its predecessors'
 *    with release stores, bottom level first.  Readers load next pointers
 *    with acquire, so any node a reader reaches is fully initialised, and a
 *    node reachable at level i is already reachable at level 0.
 *  - `height` only grows.  It is relaxed: a reader that sees a new height
 *    before the head's pointers at the new levels sees NULL there and simply
 *    descends, which is correct.
 *  - Nodes are never unlinked or modified after linking, so a reader's node
 *    pointer stays valid as long as the arena lives.
 */
#include "skiplist.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#define HDB_SKIP_MAX_HEIGHT 12
#define HDB_SKIP_BRANCHING 4

struct hdb_skipnode {
	size_t len;                     /* entry bytes; set at reserve */
	size_t keylen;                  /* key prefix cmp orders by; set at link */
	int height;                     /* levels in next[], 1..MAX_HEIGHT */
	_Atomic(hdb_skipnode *) next[]; /* height links; the entry follows */
};

/* Writer-only fields are guarded by the caller's insert serialisation. */
struct hdb_skiplist {
	hdb_arena *arena;   /* holds every node; outlives the list */
	hdb_cmp_fn cmp;     /* orders entries by their key prefix */
	hdb_skipnode *head; /* sentinel with MAX_HEIGHT links, no entry */
	atomic_int height;  /* levels in use, >= 1; relaxed (see above) */
	uint64_t rng;       /* xorshift64 state; writer only */
};

static uint8_t *node_entry(const hdb_skipnode *x)
{
	return (uint8_t *)&x->next[x->height];
}

static hdb_skipnode *node_next(const hdb_skipnode *x, int level)
{
	return atomic_load_explicit(&x->next[level], memory_order_acquire);
}

/* Allocates a node with `height` links and room for n entry bytes after
 * them. */
static hdb_skipnode *node_alloc(hdb_skiplist *sl, int height, size_t n)
{
	size_t links = (size_t)height * sizeof(_Atomic(hdb_skipnode *));
	if (n > SIZE_MAX - sizeof(hdb_skipnode) - links)
		return NULL;
	hdb_skipnode *x = hdb_arena_alloc(sl->arena, sizeof(*x) + links + n);
	if (!x)
		return NULL;
	x->len = n;
	x->keylen = 0;
	x->height = height;
	for (int i = 0; i < height; i++)
		atomic_init(&x->next[i], NULL);
	return x;
}

hdb_skiplist *hdb_skiplist_new(hdb_arena *arena, hdb_cmp_fn cmp)
{
	hdb_skiplist *sl = malloc(sizeof(*sl));
	if (!sl)
		return NULL;
	sl->arena = arena;
	sl->cmp = cmp;
	/* A fixed seed keeps the shape, and so any failure, reproducible. */
	sl->rng = UINT64_C(0x9e3779b97f4a7c15);
	atomic_init(&sl->height, 1);
	sl->head = node_alloc(sl, HDB_SKIP_MAX_HEIGHT, 0);
	if (!sl->head) {
		free(sl);
		return NULL;
	}
	return sl;
}

void hdb_skiplist_free(hdb_skiplist *sl)
{
	free(sl);
}

static uint64_t skip_rand(hdb_skiplist *sl)
{
	uint64_t x = sl->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	sl->rng = x;
	return x;
}

/* Height h with probability (1/BRANCHING)^(h-1), capped. */
static int random_height(hdb_skiplist *sl)
{
	int h = 1;
	while (h < HDB_SKIP_MAX_HEIGHT && skip_rand(sl) % HDB_SKIP_BRANCHING == 0)
		h++;
	return h;
}

static int node_cmp(const hdb_skiplist *sl, const hdb_skipnode *x, const uint8_t *key, size_t n)
{
	return sl->cmp(node_entry(x), x->keylen, key, n);
}

/* First node whose key >= key, or NULL.  When prev is given, prev[i] is the
 * last node before that position at level i, for every level in use. */
static hdb_skipnode *find_ge(const hdb_skiplist *sl, const uint8_t *key, size_t n,
                             hdb_skipnode **prev)
{
	hdb_skipnode *x = sl->head;
	int level = atomic_load_explicit(&sl->height, memory_order_relaxed) - 1;
	for (;;) {
		hdb_skipnode *next = node_next(x, level);
		if (next && node_cmp(sl, next, key, n) < 0) {
			x = next;
			continue;
		}
		if (prev)
			prev[level] = x;
		if (level == 0)
			return next;
		level--;
	}
}

uint8_t *hdb_skiplist_reserve(hdb_skiplist *sl, size_t n, hdb_skipnode **node)
{
	hdb_skipnode *x = node_alloc(sl, random_height(sl), n);
	if (!x)
		return NULL;
	*node = x;
	return node_entry(x);
}

void hdb_skiplist_link(hdb_skiplist *sl, hdb_skipnode *node, size_t keylen)
{
	hdb_skipnode *prev[HDB_SKIP_MAX_HEIGHT];
	const uint8_t *key = node_entry(node);

	assert(keylen <= node->len);
	assert(node->height >= 1 && node->height <= HDB_SKIP_MAX_HEIGHT);
	node->keylen = keylen;

	hdb_skipnode *succ = find_ge(sl, key, keylen, prev);
	(void)succ; /* only the asserts below use it */
	/* Keys are unique: the successor must be strictly greater. */
	assert(!succ || node_cmp(sl, succ, key, keylen) > 0);
	assert(prev[0] == sl->head || node_cmp(sl, prev[0], key, keylen) < 0);

	int height = atomic_load_explicit(&sl->height, memory_order_relaxed);
	if (node->height > height) {
		for (int i = height; i < node->height; i++)
			prev[i] = sl->head;
		atomic_store_explicit(&sl->height, node->height, memory_order_relaxed);
	}

	for (int i = 0; i < node->height; i++) {
		/* Only this thread writes links, so a relaxed load of prev's link
		 * is current; the release store publishes node and its bytes. */
		hdb_skipnode *next = atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed);
		atomic_store_explicit(&node->next[i], next, memory_order_relaxed);
		atomic_store_explicit(&prev[i]->next[i], node, memory_order_release);
	}
}

int hdb_skiplist_insert(hdb_skiplist *sl, const uint8_t *entry, size_t n)
{
	hdb_skipnode *node;
	uint8_t *p = hdb_skiplist_reserve(sl, n, &node);
	if (!p)
		return -ENOMEM;
	if (n)
		memcpy(p, entry, n);
	hdb_skiplist_link(sl, node, n);
	return 0;
}

void hdb_skipcursor_init(hdb_skipcursor *c, const hdb_skiplist *sl)
{
	c->sl = sl;
	c->node = NULL;
}

bool hdb_skipcursor_valid(const hdb_skipcursor *c)
{
	return c->node != NULL;
}

void hdb_skipcursor_seek_first(hdb_skipcursor *c)
{
	c->node = node_next(c->sl->head, 0);
}

void hdb_skipcursor_seek(hdb_skipcursor *c, const uint8_t *key, size_t n)
{
	c->node = find_ge(c->sl, key, n, NULL);
}

void hdb_skipcursor_next(hdb_skipcursor *c)
{
	assert(c->node);
	c->node = node_next(c->node, 0);
}

const uint8_t *hdb_skipcursor_entry(const hdb_skipcursor *c, size_t *n, size_t *keylen)
{
	assert(c->node);
	if (n)
		*n = c->node->len;
	if (keylen)
		*keylen = c->node->keylen;
	return node_entry(c->node);
}
