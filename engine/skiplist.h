/*
 * skiplist.h — an ordered set of byte strings in an arena.
 *
 * Thread safety: one writer at a time (the caller serialises inserts); any
 * number of readers concurrently with it and with each other, without locks.
 * Readers see every insert completed before their read began and may see
 * later ones.
 *
 * Invariants: entries are never removed or changed once inserted; node links
 * are published with release stores and read with acquire loads, so a reader
 * that sees a node sees its bytes.  Inserting a key equal to one present is
 * a caller error (MemTable keys are unique by sequence number).
 */
#ifndef HDB_SKIPLIST_H
#define HDB_SKIPLIST_H

#include "arena.h"
#include "ikey.h"

typedef struct hdb_skiplist hdb_skiplist;
typedef struct hdb_skipnode hdb_skipnode;

/* The list's memory comes from arena, which must outlive it. */
hdb_skiplist *hdb_skiplist_new(hdb_arena *arena, hdb_cmp_fn cmp);
void hdb_skiplist_free(hdb_skiplist *sl);  /* nodes live in the arena */

/* Copies entry[0..n) into the arena.  0 or -ENOMEM. */
int hdb_skiplist_insert(hdb_skiplist *sl, const uint8_t *entry, size_t n);
/* Reserves an n-byte entry to be filled by the caller before it is linked
 * with hdb_skiplist_link (saves a copy).  NULL on allocation failure. */
uint8_t *hdb_skiplist_reserve(hdb_skiplist *sl, size_t n, hdb_skipnode **node);
/* Links a reserved node; `keylen` bytes at the start of the entry are what
 * cmp orders by. */
void hdb_skiplist_link(hdb_skiplist *sl, hdb_skipnode *node, size_t keylen);

/* Iteration.  A cursor is a plain struct on the caller's stack. */
typedef struct hdb_skipcursor {
	const hdb_skiplist *sl;
	const hdb_skipnode *node; /* NULL: not positioned */
} hdb_skipcursor;

void hdb_skipcursor_init(hdb_skipcursor *c, const hdb_skiplist *sl);
bool hdb_skipcursor_valid(const hdb_skipcursor *c);
void hdb_skipcursor_seek_first(hdb_skipcursor *c);
/* First entry whose key >= key. */
void hdb_skipcursor_seek(hdb_skipcursor *c, const uint8_t *key, size_t n);
void hdb_skipcursor_next(hdb_skipcursor *c);
/* The whole entry and the length of its key prefix. */
const uint8_t *hdb_skipcursor_entry(const hdb_skipcursor *c, size_t *n, size_t *keylen);

#endif
