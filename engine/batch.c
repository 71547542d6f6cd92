/*
 * batch.c — building and parsing encoded write batches (format in batch.h).
 *
 * A batch whose rep is still empty (e.g. a zeroed struct on the stack) is
 * valid: the first operation that needs the header adds it.
 */
#include "batch.h"

#include "errors.h"
#include "wal_format.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#define BATCH_OFF_SEQ   0
#define BATCH_OFF_COUNT 8

/* A batch is written as one WAL record, so it can never grow past one. */
#define BATCH_MAX_BYTES HDB_WAL_MAX_RECORD

/* Every op takes at least a type byte and a one-byte key length, so a batch
 * within BATCH_MAX_BYTES cannot overflow its u32 count. */
_Static_assert(BATCH_MAX_BYTES / 2 < UINT32_MAX, "op count fits in u32");

static int batch_ensure_header(hdb_batch *b)
{
	static const uint8_t zero[HDB_BATCH_HEADER];

	if (b->rep.len >= HDB_BATCH_HEADER)
		return 0;
	assert(b->rep.len == 0 && b->count == 0);
	return hdb_buf_append(&b->rep, zero, sizeof(zero));
}

hdb_batch *hdb_batch_new(void)
{
	hdb_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	if (batch_ensure_header(b)) {
		free(b);
		return NULL;
	}
	return b;
}

void hdb_batch_free(hdb_batch *b)
{
	if (!b)
		return;
	hdb_buf_free(&b->rep);
	free(b);
}

void hdb_batch_clear(hdb_batch *b)
{
	b->count = 0;
	b->rep.len = 0;
	/* Cannot fail once the buffer has held a header; if it never has, an
	 * empty rep is the valid unused state. */
	(void)batch_ensure_header(b);
}

/* Reserves room for an op of `need` bytes so the append that follows cannot
 * fail half-way and leave a partial op behind. */
static int batch_reserve_op(hdb_batch *b, size_t need)
{
	int rc = batch_ensure_header(b);
	if (rc)
		return rc;
	if (need > BATCH_MAX_BYTES - b->rep.len)
		return -EFBIG;
	return hdb_buf_reserve(&b->rep, need);
}

static void batch_count_ops(hdb_batch *b, uint32_t added)
{
	assert(b->count <= UINT32_MAX - added);
	b->count += added;
	hdb_put_u32(b->rep.data + BATCH_OFF_COUNT, b->count);
}

static uint8_t *batch_put_field(uint8_t *p, const void *data, size_t n)
{
	p += hdb_put_varint(p, n);
	if (n)
		memcpy(p, data, n);
	return p + n;
}

/* Appends an op; vlen is ignored for deletes.  Lengths over the batch limit
 * are refused before any arithmetic on them can overflow. */
static int batch_add(hdb_batch *b, enum hdb_vtype t, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
	if (klen > BATCH_MAX_BYTES || vlen > BATCH_MAX_BYTES)
		return -EFBIG;
	size_t need = 1 + hdb_varint_len(klen) + klen;
	if (t == HDB_TYPE_VALUE)
		need += hdb_varint_len(vlen) + vlen;
	int rc = batch_reserve_op(b, need);
	if (rc)
		return rc;

	uint8_t *p = b->rep.data + b->rep.len;
	*p++ = (uint8_t)t;
	p = batch_put_field(p, key, klen);
	if (t == HDB_TYPE_VALUE)
		p = batch_put_field(p, val, vlen);
	b->rep.len = (size_t)(p - b->rep.data);
	batch_count_ops(b, 1);
	return 0;
}

int hdb_batch_put(hdb_batch *b, const void *key, size_t klen, const void *val, size_t vlen)
{
	return batch_add(b, HDB_TYPE_VALUE, key, klen, val, vlen);
}

int hdb_batch_delete(hdb_batch *b, const void *key, size_t klen)
{
	return batch_add(b, HDB_TYPE_DELETE, key, klen, NULL, 0);
}

uint32_t hdb_batch_count(const hdb_batch *b)
{
	return b->count;
}

size_t hdb_batch_bytes(const hdb_batch *b)
{
	return b->rep.len;
}

void hdb_batch_set_seq(hdb_batch *b, uint64_t seq)
{
	/* A batch that cannot hold its header has no ops to number. */
	if (batch_ensure_header(b))
		return;
	hdb_put_u64(b->rep.data + BATCH_OFF_SEQ, seq);
}

uint64_t hdb_batch_seq(const hdb_batch *b)
{
	if (b->rep.len < HDB_BATCH_HEADER)
		return 0;
	return hdb_get_u64(b->rep.data + BATCH_OFF_SEQ);
}

int hdb_batch_append(hdb_batch *dst, const hdb_batch *src)
{
	if (src->count == 0)
		return 0;
	size_t n = src->rep.len - HDB_BATCH_HEADER;
	int rc = batch_reserve_op(dst, n);
	if (rc)
		return rc;
	memcpy(dst->rep.data + dst->rep.len, src->rep.data + HDB_BATCH_HEADER, n);
	dst->rep.len += n;
	batch_count_ops(dst, src->count);
	return 0;
}

/* One parsed op; pointers into the encoded batch. */
struct batch_op {
	enum hdb_vtype type;
	const uint8_t *key, *val;
	size_t klen, vlen;
};

static int batch_corrupt(const uint8_t *rep, const uint8_t *at, const char *what)
{
	return hdb_corrupt("batch", (uint64_t)(at - rep), what);
}

/* Reads a varint length and that many bytes from [*p, end). */
static int batch_get_field(const uint8_t *rep, const uint8_t **p, const uint8_t *end, const uint8_t **out,
                           size_t *len)
{
	const uint8_t *start = *p;
	uint64_t n;
	if (!hdb_get_varint(p, end, &n))
		return batch_corrupt(rep, start, "truncated or overlong length varint");
	if (n > BATCH_MAX_BYTES)
		return batch_corrupt(rep, start, "length over the limit");
	if (n > (uint64_t)(end - *p))
		return batch_corrupt(rep, start, "length runs past the end of the batch");
	*out = *p;
	*len = (size_t)n;
	*p += n;
	return 0;
}

static int batch_parse_op(const uint8_t *rep, const uint8_t **p, const uint8_t *end, struct batch_op *op)
{
	if (*p == end)
		return batch_corrupt(rep, *p, "fewer operations than the count");
	const uint8_t *start = (*p)++;
	if (*start != HDB_TYPE_DELETE && *start != HDB_TYPE_VALUE)
		return batch_corrupt(rep, start, "bad operation type");
	op->type = (enum hdb_vtype)*start;
	int rc = batch_get_field(rep, p, end, &op->key, &op->klen);
	if (rc)
		return rc;
	op->val = NULL;
	op->vlen = 0;
	if (op->type == HDB_TYPE_VALUE)
		rc = batch_get_field(rep, p, end, &op->val, &op->vlen);
	return rc;
}

/* Parses the whole batch, calling fn per op when fn is not NULL. */
static int batch_walk(const uint8_t *rep, size_t n, hdb_batch_op_fn fn, void *ctx, uint32_t *count)
{
	if (n < HDB_BATCH_HEADER)
		return hdb_corrupt("batch", 0, "batch shorter than its header");
	uint64_t seq = hdb_get_u64(rep + BATCH_OFF_SEQ);
	uint32_t cnt = hdb_get_u32(rep + BATCH_OFF_COUNT);
	if (cnt && seq > HDB_MAX_SEQ - (cnt - 1))
		return batch_corrupt(rep, rep + BATCH_OFF_SEQ, "sequence numbers overflow");

	const uint8_t *p = rep + HDB_BATCH_HEADER, *end = rep + n;
	for (uint32_t i = 0; i < cnt; i++) {
		struct batch_op op;
		int rc = batch_parse_op(rep, &p, end, &op);
		if (!rc && fn)
			rc = fn(ctx, seq + i, op.type, op.key, op.klen, op.val, op.vlen);
		if (rc)
			return rc;
	}
	if (p != end)
		return batch_corrupt(rep, p, "bytes after the last operation");
	*count = cnt;
	return 0;
}

/*
 * Validates everything before delivering anything, so a malformed batch
 * applies no op at all: a batch is atomic even when its bytes are bad.
 */
int hdb_batch_iterate(const uint8_t *rep, size_t n, hdb_batch_op_fn fn, void *ctx, uint32_t *count)
{
	uint32_t cnt;
	int rc = batch_walk(rep, n, NULL, NULL, &cnt);
	if (!rc && fn)
		rc = batch_walk(rep, n, fn, ctx, &cnt);
	if (!rc && count)
		*count = cnt;
	return rc;
}
