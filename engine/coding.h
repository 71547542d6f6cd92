/*
 * coding.h — little-endian fixed-width and varint encodings, and byte slices.
 * Every on-disk integer in hybriddb is little-endian.
 */
#ifndef HDB_CODING_H
#define HDB_CODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct hdb_slice {
	const uint8_t *data;
	size_t len;
} hdb_slice;

static inline hdb_slice hdb_slice_make(const void *p, size_t n)
{
	return (hdb_slice){ (const uint8_t *)p, n };
}

/* memcmp order, shorter first on a common prefix. */
static inline int hdb_bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int r = n ? memcmp(a, b, n) : 0;
	if (r)
		return r;
	return an < bn ? -1 : an > bn;
}

static inline void hdb_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void hdb_put_u64(uint8_t *p, uint64_t v)
{
	hdb_put_u32(p, (uint32_t)v);
	hdb_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t hdb_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hdb_get_u64(const uint8_t *p)
{
	return (uint64_t)hdb_get_u32(p) | (uint64_t)hdb_get_u32(p + 4) << 32;
}

#define HDB_VARINT64_MAX 10

/* Writes v at p (room for HDB_VARINT64_MAX bytes); returns bytes written. */
static inline size_t hdb_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Reads a varint from [*p, end); advances *p.  False on truncation or
 * overlong encoding: never reads past end. */
static inline bool hdb_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

static inline size_t hdb_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* A growable byte buffer. */
typedef struct hdb_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} hdb_buf;

int hdb_buf_reserve(hdb_buf *b, size_t extra);      /* 0 or -ENOMEM */
int hdb_buf_append(hdb_buf *b, const void *p, size_t n);
int hdb_buf_append_varint(hdb_buf *b, uint64_t v);
int hdb_buf_append_u32(hdb_buf *b, uint32_t v);
int hdb_buf_append_u64(hdb_buf *b, uint64_t v);
/* varint length then bytes */
int hdb_buf_append_lp(hdb_buf *b, const void *p, size_t n);
void hdb_buf_free(hdb_buf *b);

/* zlib's CRC-32 over p[0..n). */
uint32_t hdb_crc32(const void *p, size_t n);
uint32_t hdb_crc32_extend(uint32_t crc, const void *p, size_t n);

#endif
