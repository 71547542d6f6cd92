/*
 * bloom.h — Bloom filters over user keys, one per SSTable (format in
 * sst_format.h).  Pure functions; thread-safe.
 */
#ifndef HDB_BLOOM_H
#define HDB_BLOOM_H

#include "coding.h"

/* Hash of a key as the filter uses it. */
uint32_t hdb_bloom_hash(const void *key, size_t n);

/* Appends a filter for n keys, given by their hashes, to out. */
int hdb_bloom_build(hdb_buf *out, const uint32_t *hashes, size_t n, int bits_per_key);

/* False only if the key is certainly absent.  A malformed filter answers true. */
bool hdb_bloom_may_contain(const uint8_t *filter, size_t n, uint32_t hash);

#endif
