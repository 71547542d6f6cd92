/*
 * ikey.h — internal keys: how a user key is stored with its version.
 *
 *   internal key = user key ‖ tag (8 bytes, little-endian)
 *   tag          = sequence << 8 | type
 *
 * Order: user key ascending (bytewise), then tag descending, so the newest
 * version of a key comes first.  A lookup for (key, seq) builds
 * key ‖ (seq << 8 | HDB_TYPE_SEEK) and seeks to the first entry >= it: that
 * is the newest version visible at seq.
 */
#ifndef HDB_IKEY_H
#define HDB_IKEY_H

#include "coding.h"

enum hdb_vtype {
	HDB_TYPE_DELETE = 0,
	HDB_TYPE_VALUE = 1,
	HDB_TYPE_SEEK = HDB_TYPE_VALUE, /* highest type: sorts first for a sequence */
};

#define HDB_TAG_SIZE 8
#define HDB_MAX_SEQ ((UINT64_C(1) << 56) - 1)

static inline uint64_t hdb_tag(uint64_t seq, enum hdb_vtype t)
{
	return seq << 8 | (uint64_t)t;
}

/* Callers guarantee n >= HDB_TAG_SIZE (checked when read from disk). */
static inline hdb_slice hdb_ikey_user(const uint8_t *ik, size_t n)
{
	return hdb_slice_make(ik, n - HDB_TAG_SIZE);
}

static inline uint64_t hdb_ikey_tag(const uint8_t *ik, size_t n)
{
	return hdb_get_u64(ik + n - HDB_TAG_SIZE);
}

static inline uint64_t hdb_ikey_seq(const uint8_t *ik, size_t n)
{
	return hdb_ikey_tag(ik, n) >> 8;
}

static inline enum hdb_vtype hdb_ikey_type(const uint8_t *ik, size_t n)
{
	return (enum hdb_vtype)(hdb_ikey_tag(ik, n) & 0xff);
}

/* A comparator over keys of one kind; all engine structures take one. */
typedef int (*hdb_cmp_fn)(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* Internal-key order.  Keys shorter than a tag compare bytewise (they only
 * occur in corrupt input, and must not crash the comparison). */
static inline int hdb_ikey_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	if (an < HDB_TAG_SIZE || bn < HDB_TAG_SIZE)
		return hdb_bytes_cmp(a, an, b, bn);
	int r = hdb_bytes_cmp(a, an - HDB_TAG_SIZE, b, bn - HDB_TAG_SIZE);
	if (r)
		return r;
	uint64_t ta = hdb_ikey_tag(a, an), tb = hdb_ikey_tag(b, bn);
	return ta > tb ? -1 : ta < tb;
}

int hdb_ikey_cmp_fn(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
int hdb_bytes_cmp_fn(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* Appends user key ‖ tag to b. */
static inline int hdb_ikey_build(hdb_buf *b, const void *ukey, size_t n, uint64_t seq, enum hdb_vtype t)
{
	int rc = hdb_buf_append(b, ukey, n);
	return rc ? rc : hdb_buf_append_u64(b, hdb_tag(seq, t));
}

#endif
