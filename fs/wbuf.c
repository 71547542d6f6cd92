/*
 * wbuf.c — open files' content buffers.
 */
#include "wbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void hdb_wbuf_init(hdb_wbuf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void hdb_wbuf_free(hdb_wbuf *b)
{
	free(b->data);
	hdb_wbuf_init(b);
}

void hdb_wbuf_adopt(hdb_wbuf *b, void *data, size_t len)
{
	free(b->data);
	b->data = data;
	b->len = len;
	b->cap = data ? len : 0;
}

/* Makes room for need bytes, growing by half again at least, so that a
 * file written in many small appends costs amortized linear copying. */
static int reserve(hdb_wbuf *b, size_t need)
{
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap + b->cap / 2;
	if (cap < need)
		cap = need;
	if (cap < 256)
		cap = 256;
	uint8_t *d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int hdb_wbuf_write(hdb_wbuf *b, uint64_t off, const void *p, size_t n, uint64_t max)
{
	if (off > max || n > max - off)
		return -EFBIG;
	if (off + n > SIZE_MAX)
		return -ENOMEM;
	size_t end = (size_t)(off + n);
	if (!n)
		return 0;
	int rc = reserve(b, end);
	if (rc)
		return rc;
	if (off > b->len)
		memset(b->data + b->len, 0, (size_t)off - b->len);
	memcpy(b->data + off, p, n);
	if (end > b->len)
		b->len = end;
	return 0;
}

int hdb_wbuf_truncate(hdb_wbuf *b, uint64_t size, uint64_t max)
{
	if (size > max)
		return -EFBIG;
	if (size > SIZE_MAX)
		return -ENOMEM;
	if (size > b->len) {
		int rc = reserve(b, (size_t)size);
		if (rc)
			return rc;
		memset(b->data + b->len, 0, (size_t)size - b->len);
	}
	b->len = (size_t)size;
	return 0;
}

size_t hdb_wbuf_read(const hdb_wbuf *b, uint64_t off, size_t n, const uint8_t **p)
{
	if (off >= b->len) {
		*p = NULL;
		return 0;
	}
	size_t avail = b->len - (size_t)off;
	*p = b->data + off;
	return n < avail ? n : avail;
}
