#include "coding.h"

#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

int hdb_buf_reserve(hdb_buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap - b->len < extra) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int hdb_buf_append(hdb_buf *b, const void *p, size_t n)
{
	int rc = hdb_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int hdb_buf_append_varint(hdb_buf *b, uint64_t v)
{
	uint8_t tmp[HDB_VARINT64_MAX];
	return hdb_buf_append(b, tmp, hdb_put_varint(tmp, v));
}

int hdb_buf_append_u32(hdb_buf *b, uint32_t v)
{
	uint8_t tmp[4];
	hdb_put_u32(tmp, v);
	return hdb_buf_append(b, tmp, 4);
}

int hdb_buf_append_u64(hdb_buf *b, uint64_t v)
{
	uint8_t tmp[8];
	hdb_put_u64(tmp, v);
	return hdb_buf_append(b, tmp, 8);
}

int hdb_buf_append_lp(hdb_buf *b, const void *p, size_t n)
{
	int rc = hdb_buf_append_varint(b, n);
	return rc ? rc : hdb_buf_append(b, p, n);
}

void hdb_buf_free(hdb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint32_t hdb_crc32_extend(uint32_t crc, const void *p, size_t n)
{
	const Bytef *q = p;
	while (n > 0) {
		uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
		crc = (uint32_t)crc32(crc, q, chunk);
		q += chunk;
		n -= chunk;
	}
	return crc;
}

uint32_t hdb_crc32(const void *p, size_t n)
{
	return hdb_crc32_extend(0, p, n);
}
