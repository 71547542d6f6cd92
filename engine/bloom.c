/*
 * bloom.c — Bloom filters with double hashing (format in sst_format.h).
 *
 * One 32-bit hash per key; the k probes are h, h + delta, h + 2 delta, ...
 * (delta derived from h), which behaves like k independent hashes for the
 * filter sizes used here and costs one pass over the key.
 */
#include "bloom.h"

#include "sst_format.h"

#include <errno.h>

static inline uint32_t rotl32(uint32_t x, int r)
{
	return x << r | x >> (32 - r);
}

static inline uint32_t murmur_mix_k(uint32_t k)
{
	k *= 0xcc9e2d51u;
	k = rotl32(k, 15);
	return k * 0x1b873593u;
}

/* MurmurHash3_x86_32: its output is part of the file format. */
uint32_t hdb_bloom_hash(const void *key, size_t n)
{
	const uint8_t *p = key;
	uint32_t h = HDB_BLOOM_SEED;
	size_t i;

	for (i = 0; i + 4 <= n; i += 4) {
		h ^= murmur_mix_k(hdb_get_u32(p + i));
		h = rotl32(h, 13);
		h = h * 5 + 0xe6546b64u;
	}
	uint32_t k = 0;
	switch (n & 3) {
	case 3:
		k ^= (uint32_t)p[i + 2] << 16;
		/* fall through */
	case 2:
		k ^= (uint32_t)p[i + 1] << 8;
		/* fall through */
	case 1:
		k ^= p[i];
		h ^= murmur_mix_k(k);
	}
	h ^= (uint32_t)n;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static inline uint32_t probe_delta(uint32_t h)
{
	return h >> 17 | h << 15;
}

int hdb_bloom_build(hdb_buf *out, const uint32_t *hashes, size_t n, int bits_per_key)
{
	if (bits_per_key < 1)
		bits_per_key = 1;
	/* The bit index is computed in 32 bits, so a filter tops out at 2^32 bits. */
	if (n > (UINT32_MAX - 7) / (uint32_t)bits_per_key)
		return -EFBIG;
	uint32_t k = (uint32_t)(bits_per_key * 0.69); /* ln 2 minimises false positives */
	if (k < 1)
		k = 1;
	if (k > HDB_BLOOM_MAX_K)
		k = HDB_BLOOM_MAX_K;
	uint64_t bits = (uint64_t)n * (uint32_t)bits_per_key;
	if (bits < HDB_BLOOM_MIN_BITS)
		bits = HDB_BLOOM_MIN_BITS;
	size_t bytes = (size_t)((bits + 7) / 8);
	bits = (uint64_t)bytes * 8;

	int rc = hdb_buf_reserve(out, bytes + 1);
	if (rc)
		return rc;
	uint8_t *f = out->data + out->len;
	memset(f, 0, bytes);
	for (size_t i = 0; i < n; i++) {
		uint32_t h = hashes[i], delta = probe_delta(h);
		for (uint32_t j = 0; j < k; j++) {
			uint32_t b = (uint32_t)(h % bits);
			f[b / 8] |= (uint8_t)(1u << (b % 8));
			h += delta;
		}
	}
	f[bytes] = (uint8_t)k;
	out->len += bytes + 1;
	return 0;
}

bool hdb_bloom_may_contain(const uint8_t *filter, size_t n, uint32_t hash)
{
	if (n < 2)
		return true;
	uint32_t k = filter[n - 1];
	if (k == 0 || k > HDB_BLOOM_MAX_K)
		return true;
	uint64_t bits = (uint64_t)(n - 1) * 8;
	uint32_t h = hash, delta = probe_delta(hash);
	for (uint32_t j = 0; j < k; j++) {
		uint64_t b = h % bits;
		if (!(filter[b / 8] & (1u << (b % 8))))
			return false;
		h += delta;
	}
	return true;
}
