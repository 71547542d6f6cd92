/*
 * cache.c — sharded LRU block cache.
 *
 * Thread safety: the cache is split into CACHE_SHARDS shards by the hash of
 * the key; each shard's state is guarded by its own mutex, and an entry is
 * only ever touched under the mutex of the shard its hash selects.  Data is
 * freed after the mutex is dropped.
 *
 * Invariants (per shard, with the mutex held):
 *   - an entry is in the hash table iff in_table; usage is the sum of len
 *     over those entries and entries is their number;
 *   - refs counts one reference for the table (while in_table) plus one per
 *     handle; an entry is freed exactly when refs drops to zero;
 *   - an entry in the table with refs == 1 (unpinned) is on the lru list,
 *     ordered oldest use first; one with refs >= 2 (pinned) is on the
 *     in_use list; an entry out of the table is on neither;
 *   - after every insert and release, usage <= capacity or the lru list is
 *     empty: only pinned entries can hold the shard over its budget.
 */
#include "cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define CACHE_SHARD_BITS 4
#define CACHE_SHARDS (1u << CACHE_SHARD_BITS)
#define CACHE_MIN_BUCKETS 16

struct hdb_cache_handle {
	uint64_t file, offset;         /* the key */
	uint64_t hash;                 /* of the key: shard from the top bits, bucket from the low */
	void *data;                    /* malloc'd block, freed with the entry */
	size_t len;                    /* bytes of data, charged against the budget */
	uint32_t refs;                 /* see Invariants */
	bool in_table;                 /* reachable by lookup */
	struct hdb_cache_handle *chain; /* next in the bucket, or in a list to free */
	struct hdb_cache_handle *prev, *next; /* lru or in_use list */
};

/* Guarded by mu, except capacity, which never changes. */
struct cache_shard {
	pthread_mutex_t mu;
	hdb_cache_handle **buckets; /* nbuckets chains */
	size_t nbuckets;            /* a power of two */
	size_t entries;             /* in the table */
	size_t capacity;            /* byte budget */
	size_t usage;               /* bytes in the table */
	hdb_cache_handle lru;       /* list head: next is the least recently used */
	hdb_cache_handle in_use;    /* list head: pinned entries */
	uint64_t hits, misses;
};

struct hdb_cache {
	size_t capacity; /* total budget, split among the shards */
	struct cache_shard shards[CACHE_SHARDS];
};

/* Mixes both key halves into every bit, so the top bits (shard) and the low
 * bits (bucket) are independent even for regular offsets. */
static uint64_t cache_hash(uint64_t file, uint64_t offset)
{
	uint64_t h = file * UINT64_C(0x9e3779b97f4a7c15) ^ offset;
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	return h ^ (h >> 31);
}

static struct cache_shard *cache_shard_of(hdb_cache *c, uint64_t hash)
{
	return &c->shards[hash >> (64 - CACHE_SHARD_BITS)];
}

static void list_init(hdb_cache_handle *head)
{
	head->prev = head->next = head;
}

static void list_remove(hdb_cache_handle *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

/* Appends e as the newest entry of the list. */
static void list_append(hdb_cache_handle *head, hdb_cache_handle *e)
{
	e->next = head;
	e->prev = head->prev;
	head->prev->next = e;
	head->prev = e;
}

static hdb_cache_handle **table_slot(struct cache_shard *s, uint64_t hash, uint64_t file, uint64_t offset)
{
	hdb_cache_handle **pp = &s->buckets[hash & (s->nbuckets - 1)];
	while (*pp && ((*pp)->hash != hash || (*pp)->file != file || (*pp)->offset != offset))
		pp = &(*pp)->chain;
	return pp;
}

/* Doubles the bucket array; on ENOMEM the chains just stay longer. */
static void table_grow(struct cache_shard *s)
{
	size_t n = s->nbuckets * 2;
	hdb_cache_handle **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < s->nbuckets; i++) {
		hdb_cache_handle *e = s->buckets[i];
		while (e) {
			hdb_cache_handle *next = e->chain;
			hdb_cache_handle **head = &b[e->hash & (n - 1)];
			e->chain = *head;
			*head = e;
			e = next;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* Drops one reference; an entry that reaches zero goes on *garbage. */
static void entry_unref(struct cache_shard *s, hdb_cache_handle *e, hdb_cache_handle **garbage)
{
	assert(e->refs > 0);
	if (--e->refs == 0) {
		assert(!e->in_table && !e->prev);
		e->chain = *garbage;
		*garbage = e;
	} else if (e->in_table && e->refs == 1) {
		list_remove(e);
		list_append(&s->lru, e);
	}
}

/* Takes e out of the table (its slot is *pp) and drops the table's ref. */
static void shard_detach(struct cache_shard *s, hdb_cache_handle **pp, hdb_cache_handle **garbage)
{
	hdb_cache_handle *e = *pp;
	*pp = e->chain;
	e->chain = NULL;
	e->in_table = false;
	list_remove(e);
	s->usage -= e->len;
	s->entries--;
	entry_unref(s, e, garbage);
}

static void shard_evict(struct cache_shard *s, hdb_cache_handle **garbage)
{
	while (s->usage > s->capacity && s->lru.next != &s->lru) {
		hdb_cache_handle *e = s->lru.next;
		assert(e->refs == 1);
		shard_detach(s, table_slot(s, e->hash, e->file, e->offset), garbage);
	}
}

static void free_garbage(hdb_cache_handle *e)
{
	while (e) {
		hdb_cache_handle *next = e->chain;
		free(e->data);
		free(e);
		e = next;
	}
}

static int shard_init(struct cache_shard *s, size_t capacity)
{
	s->buckets = calloc(CACHE_MIN_BUCKETS, sizeof(*s->buckets));
	if (!s->buckets)
		return -1;
	if (pthread_mutex_init(&s->mu, NULL)) {
		free(s->buckets);
		return -1;
	}
	s->nbuckets = CACHE_MIN_BUCKETS;
	s->capacity = capacity;
	list_init(&s->lru);
	list_init(&s->in_use);
	return 0;
}

/* REQUIRES: no entry of the shard pinned. */
static void shard_destroy(struct cache_shard *s)
{
	hdb_cache_handle *garbage = NULL;

	assert(s->in_use.next == &s->in_use);
	while (s->lru.next != &s->lru) {
		hdb_cache_handle *e = s->lru.next;
		shard_detach(s, table_slot(s, e->hash, e->file, e->offset), &garbage);
	}
	free_garbage(garbage);
	free(s->buckets);
	pthread_mutex_destroy(&s->mu);
}

hdb_cache *hdb_cache_new(size_t capacity)
{
	hdb_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->capacity = capacity;
	for (unsigned i = 0; i < CACHE_SHARDS; i++) {
		size_t cap = capacity / CACHE_SHARDS + (i < capacity % CACHE_SHARDS);
		if (shard_init(&c->shards[i], cap)) {
			while (i--)
				shard_destroy(&c->shards[i]);
			free(c);
			return NULL;
		}
	}
	return c;
}

void hdb_cache_free(hdb_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < CACHE_SHARDS; i++)
		shard_destroy(&c->shards[i]);
	free(c);
}

hdb_cache_handle *hdb_cache_lookup(hdb_cache *c, uint64_t file, uint64_t offset)
{
	uint64_t hash = cache_hash(file, offset);
	struct cache_shard *s = cache_shard_of(c, hash);

	pthread_mutex_lock(&s->mu);
	hdb_cache_handle *e = *table_slot(s, hash, file, offset);
	if (e) {
		if (e->refs++ == 1) {
			list_remove(e);
			list_append(&s->in_use, e);
		}
		s->hits++;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->mu);
	return e;
}

hdb_cache_handle *hdb_cache_insert(hdb_cache *c, uint64_t file, uint64_t offset, void *data, size_t len)
{
	hdb_cache_handle *e = calloc(1, sizeof(*e));
	if (!e) {
		free(data);
		return NULL;
	}
	e->file = file;
	e->offset = offset;
	e->hash = cache_hash(file, offset);
	e->data = data;
	e->len = len;
	e->refs = 2; /* the table's and the caller's */
	e->in_table = true;

	struct cache_shard *s = cache_shard_of(c, e->hash);
	hdb_cache_handle *garbage = NULL;
	pthread_mutex_lock(&s->mu);
	hdb_cache_handle **pp = table_slot(s, e->hash, file, offset);
	if (*pp)
		shard_detach(s, pp, &garbage);
	hdb_cache_handle **bucket = &s->buckets[e->hash & (s->nbuckets - 1)];
	e->chain = *bucket;
	*bucket = e;
	list_append(&s->in_use, e);
	s->usage += len;
	if (++s->entries > s->nbuckets)
		table_grow(s);
	shard_evict(s, &garbage);
	pthread_mutex_unlock(&s->mu);
	free_garbage(garbage);
	return e;
}

const void *hdb_cache_data(const hdb_cache_handle *h, size_t *len)
{
	if (len)
		*len = h->len;
	return h->data;
}

void hdb_cache_release(hdb_cache *c, hdb_cache_handle *h)
{
	if (!h)
		return;
	struct cache_shard *s = cache_shard_of(c, h->hash);
	hdb_cache_handle *garbage = NULL;

	pthread_mutex_lock(&s->mu);
	entry_unref(s, h, &garbage);
	shard_evict(s, &garbage);
	pthread_mutex_unlock(&s->mu);
	free_garbage(garbage);
}

void hdb_cache_get_stats(hdb_cache *c, hdb_cache_stats *st)
{
	*st = (hdb_cache_stats){ .capacity = c->capacity };
	for (unsigned i = 0; i < CACHE_SHARDS; i++) {
		struct cache_shard *s = &c->shards[i];
		pthread_mutex_lock(&s->mu);
		st->hits += s->hits;
		st->misses += s->misses;
		st->usage += s->usage;
		st->entries += s->entries;
		pthread_mutex_unlock(&s->mu);
	}
}
