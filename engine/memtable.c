/*
 * memtable.c — the write buffer: internal keys and values in a skiplist.
 *
 * Entry layout, in arena memory:
 *
 *   user key (klen) | tag (8 bytes LE: seq << 8 | type) | value (vlen)
 *
 * The skiplist node's key length is klen + 8, so the list orders entries by
 * internal key and the value is the rest of the entry.
 */
#include "memtable.h"

#include "arena.h"
#include "skiplist.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

/* A lookup key up to this size is built on the stack. */
#define HDB_MEM_LOOKUP_STACK 256

/* Inserts are serialised by the caller (single writer); the counters are
 * atomic so that readers on other threads can read them. */
struct hdb_mem {
	atomic_uint refs;              /* frees the table at zero */
	atomic_uint_least64_t entries; /* entries added; writer stores, relaxed */
	hdb_arena *arena;              /* owns every entry */
	hdb_skiplist *list;            /* entries in internal-key order */
};

hdb_mem *hdb_mem_new(void)
{
	hdb_mem *m = malloc(sizeof(*m));
	if (!m)
		return NULL;
	m->arena = hdb_arena_new();
	if (!m->arena)
		goto fail;
	m->list = hdb_skiplist_new(m->arena, hdb_ikey_cmp_fn);
	if (!m->list)
		goto fail;
	atomic_init(&m->refs, 1);
	atomic_init(&m->entries, 0);
	return m;
fail:
	hdb_arena_free(m->arena);
	free(m);
	return NULL;
}

void hdb_mem_ref(hdb_mem *m)
{
	unsigned old = atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	assert(old > 0);
	(void)old;
}

void hdb_mem_unref(hdb_mem *m)
{
	/* acq_rel: every holder's last use happens before the free. */
	unsigned old = atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel);
	assert(old > 0);
	if (old != 1)
		return;
	hdb_skiplist_free(m->list);
	hdb_arena_free(m->arena);
	free(m);
}

int hdb_mem_add(hdb_mem *m, uint64_t seq, enum hdb_vtype type,
                const void *key, size_t klen, const void *val, size_t vlen)
{
	assert(seq <= HDB_MAX_SEQ);
	assert(type == HDB_TYPE_VALUE || type == HDB_TYPE_DELETE);
	if (klen > SIZE_MAX - HDB_TAG_SIZE || vlen > SIZE_MAX - HDB_TAG_SIZE - klen)
		return -ENOMEM;

	size_t iklen = klen + HDB_TAG_SIZE;
	hdb_skipnode *node;
	uint8_t *p = hdb_skiplist_reserve(m->list, iklen + vlen, &node);
	if (!p)
		return -ENOMEM;
	if (klen)
		memcpy(p, key, klen);
	hdb_put_u64(p + klen, hdb_tag(seq, type));
	if (vlen)
		memcpy(p + iklen, val, vlen);
	hdb_skiplist_link(m->list, node, iklen);

	uint64_t n = atomic_load_explicit(&m->entries, memory_order_relaxed);
	atomic_store_explicit(&m->entries, n + 1, memory_order_relaxed);
	return 0;
}

/* Returns a malloc'd copy of v[0..vlen) in *val (never NULL, even for an
 * empty value). */
static int mem_copy_value(const uint8_t *v, size_t vlen, void **val, size_t *outlen)
{
	void *copy = malloc(vlen ? vlen : 1);
	if (!copy)
		return -ENOMEM;
	if (vlen)
		memcpy(copy, v, vlen);
	*val = copy;
	*outlen = vlen;
	return HDB_LOOKUP_FOUND;
}

int hdb_mem_get(hdb_mem *m, const void *key, size_t klen, uint64_t seq,
                void **val, size_t *vlen)
{
	uint8_t stackbuf[HDB_MEM_LOOKUP_STACK];
	uint8_t *lk = stackbuf;
	int rc = HDB_LOOKUP_ABSENT;

	assert(seq <= HDB_MAX_SEQ);
	*val = NULL;
	*vlen = 0;
	if (klen > SIZE_MAX - HDB_TAG_SIZE)
		return -ENOMEM;
	size_t lklen = klen + HDB_TAG_SIZE;
	if (lklen > sizeof(stackbuf)) {
		lk = malloc(lklen);
		if (!lk)
			return -ENOMEM;
	}
	if (klen)
		memcpy(lk, key, klen);
	hdb_put_u64(lk + klen, hdb_tag(seq, HDB_TYPE_SEEK));

	hdb_skipcursor c;
	hdb_skipcursor_init(&c, m->list);
	hdb_skipcursor_seek(&c, lk, lklen);
	if (!hdb_skipcursor_valid(&c))
		goto out;

	size_t n, iklen;
	const uint8_t *e = hdb_skipcursor_entry(&c, &n, &iklen);
	assert(iklen >= HDB_TAG_SIZE && iklen <= n);
	hdb_slice user = hdb_ikey_user(e, iklen);
	if (hdb_bytes_cmp(user.data, user.len, key, klen) != 0)
		goto out;
	/* The seek key sorts before every version newer than seq. */
	assert(hdb_ikey_seq(e, iklen) <= seq);
	if (hdb_ikey_type(e, iklen) == HDB_TYPE_DELETE)
		rc = HDB_LOOKUP_DELETED;
	else
		rc = mem_copy_value(e + iklen, n - iklen, val, vlen);
out:
	if (lk != stackbuf)
		free(lk);
	return rc;
}

size_t hdb_mem_usage(const hdb_mem *m)
{
	return hdb_arena_usage(m->arena);
}

uint64_t hdb_mem_entries(const hdb_mem *m)
{
	return atomic_load_explicit(&m->entries, memory_order_relaxed);
}

/* Iterator: a skiplist cursor plus a reference that keeps the arena alive. */
struct mem_iter {
	hdb_iiter base;   /* first: the iiter handle points here */
	hdb_mem *mem;     /* referenced until destroy */
	hdb_skipcursor c;
};

static struct mem_iter *to_mem_iter(hdb_iiter *it)
{
	return (struct mem_iter *)it;
}

static bool mem_iter_valid(hdb_iiter *it)
{
	return hdb_skipcursor_valid(&to_mem_iter(it)->c);
}

static void mem_iter_seek_first(hdb_iiter *it)
{
	hdb_skipcursor_seek_first(&to_mem_iter(it)->c);
}

static void mem_iter_seek(hdb_iiter *it, const uint8_t *key, size_t n)
{
	hdb_skipcursor_seek(&to_mem_iter(it)->c, key, n);
}

static void mem_iter_next(hdb_iiter *it)
{
	hdb_skipcursor_next(&to_mem_iter(it)->c);
}

static hdb_slice mem_iter_key(hdb_iiter *it)
{
	size_t n, iklen;
	const uint8_t *e = hdb_skipcursor_entry(&to_mem_iter(it)->c, &n, &iklen);
	return hdb_slice_make(e, iklen);
}

static hdb_slice mem_iter_value(hdb_iiter *it)
{
	size_t n, iklen;
	const uint8_t *e = hdb_skipcursor_entry(&to_mem_iter(it)->c, &n, &iklen);
	return hdb_slice_make(e + iklen, n - iklen);
}

/* Memory cannot fail a read: the status is always 0. */
static int mem_iter_status(hdb_iiter *it)
{
	return 0;
}

static void mem_iter_destroy(hdb_iiter *it)
{
	struct mem_iter *mi = to_mem_iter(it);
	hdb_mem_unref(mi->mem);
	free(mi);
}

static const struct hdb_iiter_ops mem_iter_ops = {
	.valid = mem_iter_valid,
	.seek_first = mem_iter_seek_first,
	.seek = mem_iter_seek,
	.next = mem_iter_next,
	.key = mem_iter_key,
	.value = mem_iter_value,
	.status = mem_iter_status,
	.destroy = mem_iter_destroy,
};

hdb_iiter *hdb_mem_iter_new(hdb_mem *m)
{
	struct mem_iter *mi = malloc(sizeof(*mi));
	if (!mi)
		return NULL;
	mi->base.ops = &mem_iter_ops;
	hdb_mem_ref(m);
	mi->mem = m;
	hdb_skipcursor_init(&mi->c, m->list);
	return &mi->base;
}
