/*
 * arena.c — bump allocator in 64 KiB blocks.
 *
 * Allocations are carved from the current block.  When it cannot hold a
 * request, one larger than a quarter of a block gets a block of its own and
 * the current block stays in use; a smaller one starts a new current block,
 * so at most a quarter of a block is abandoned each time.  Usage counts
 * every byte taken from malloc, block headers included: a standard block
 * costs exactly HDB_ARENA_BLOCK.
 */
#include "arena.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define HDB_ARENA_BLOCK (64 * 1024)
#define HDB_ARENA_ALIGN 8

_Static_assert(alignof(uint64_t) <= HDB_ARENA_ALIGN, "arena alignment too small for uint64_t");
_Static_assert(alignof(void *) <= HDB_ARENA_ALIGN, "arena alignment too small for pointers");

struct arena_block {
	struct arena_block *next;  /* older block, freed with this one */
	max_align_t data[];        /* allocations start here, aligned */
};

/* Allocation is single-writer (the caller serialises); only usage is read
 * concurrently. */
struct hdb_arena {
	uint8_t *ptr;                /* next free byte of the current block */
	size_t left;                 /* free bytes at ptr */
	struct arena_block *blocks;  /* every block, newest first */
	atomic_size_t usage;         /* bytes malloc'd for blocks; relaxed */
};

hdb_arena *hdb_arena_new(void)
{
	hdb_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	atomic_init(&a->usage, 0);
	return a;
}

void hdb_arena_free(hdb_arena *a)
{
	if (!a)
		return;
	struct arena_block *b = a->blocks;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	free(a);
}

/* A block with `payload` usable bytes; returns its first byte. */
static uint8_t *arena_new_block(hdb_arena *a, size_t payload)
{
	size_t total = offsetof(struct arena_block, data) + payload;
	struct arena_block *b = malloc(total);
	if (!b)
		return NULL;
	b->next = a->blocks;
	a->blocks = b;
	/* Only this thread writes usage, so load + store cannot lose updates. */
	size_t u = atomic_load_explicit(&a->usage, memory_order_relaxed);
	atomic_store_explicit(&a->usage, u + total, memory_order_relaxed);
	return (uint8_t *)b->data;
}

void *hdb_arena_alloc(hdb_arena *a, size_t n)
{
	if (n > SIZE_MAX - HDB_ARENA_BLOCK)
		return NULL;
	/* Zero bytes still get a distinct, valid pointer. */
	size_t need = (n + HDB_ARENA_ALIGN - 1) & ~(size_t)(HDB_ARENA_ALIGN - 1);
	if (need == 0)
		need = HDB_ARENA_ALIGN;

	if (need <= a->left) {
		uint8_t *p = a->ptr;
		a->ptr += need;
		a->left -= need;
		return p;
	}
	if (need > HDB_ARENA_BLOCK / 4)
		return arena_new_block(a, need); /* current block stays in use */

	size_t payload = HDB_ARENA_BLOCK - offsetof(struct arena_block, data);
	uint8_t *p = arena_new_block(a, payload);
	if (!p)
		return NULL;
	assert(((uintptr_t)p & (HDB_ARENA_ALIGN - 1)) == 0);
	a->ptr = p + need;
	a->left = payload - need;
	return p;
}

size_t hdb_arena_usage(const hdb_arena *a)
{
	return atomic_load_explicit(&a->usage, memory_order_relaxed);
}
