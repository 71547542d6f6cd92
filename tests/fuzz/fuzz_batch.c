/*
 * fuzz_batch.c — libFuzzer target for write-batch decoding (engine/batch.c).
 *
 * The input is one encoded batch, as a WAL record carries it (batch.h).
 * Beyond "no crash, no out-of-bounds read" (ASan), it checks:
 *   - a rejection is HDB_ECORRUPT and delivers no op at all;
 *   - an accepted batch delivers exactly `count` ops, numbered from the
 *     batch's sequence, each with a known type and with key and value
 *     inside the input;
 *   - re-encoding the ops with hdb_batch_put/delete gives a batch that
 *     decodes to the same ops (the writer and the reader agree);
 *   - a callback's non-zero return stops the walk and is returned.
 *
 * Build: see tests/fuzz/meson.build or scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "hybriddb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STOP_CODE 7

struct op {
	uint64_t seq;
	enum hdb_vtype type;
	const uint8_t *key, *val;
	size_t klen, vlen;
};

struct ops {
	const uint8_t *base; /* the encoded batch the pointers must lie in */
	size_t size;
	struct op *v;
	size_t n, cap;
	size_t stop_after;   /* return STOP_CODE after this many ops; 0: never */
};

static int in_bounds(const struct ops *o, const uint8_t *p, size_t n)
{
	if (!n)
		return 1;
	return p >= o->base && n <= o->size && (size_t)(p - o->base) <= o->size - n;
}

static int collect(void *ctx, uint64_t seq, enum hdb_vtype type, const uint8_t *key, size_t klen,
		   const uint8_t *val, size_t vlen)
{
	struct ops *o = ctx;

	if (seq > HDB_MAX_SEQ || (type != HDB_TYPE_VALUE && type != HDB_TYPE_DELETE))
		abort();
	if (!in_bounds(o, key, klen) || !in_bounds(o, val, vlen))
		abort();
	if (type == HDB_TYPE_DELETE && vlen)
		abort();
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 16;
		o->v = realloc(o->v, o->cap * sizeof(*o->v));
		if (!o->v)
			abort();
	}
	o->v[o->n++] = (struct op){ seq, type, key, val, klen, vlen };
	if (o->stop_after && o->n == o->stop_after)
		return STOP_CODE;
	return 0;
}

static int same_op(const struct op *a, const struct op *b)
{
	return a->seq == b->seq && a->type == b->type && a->klen == b->klen &&
	       a->vlen == b->vlen && (!a->klen || !memcmp(a->key, b->key, a->klen)) &&
	       (!a->vlen || !memcmp(a->val, b->val, a->vlen));
}

/* Encodes the ops again through the writer's API and decodes the result. */
static void check_reencode(const struct ops *o, uint64_t seq)
{
	hdb_batch *b = hdb_batch_new();
	struct ops again = { 0 };
	uint32_t count = 0;

	if (!b)
		abort();
	for (size_t i = 0; i < o->n; i++) {
		const struct op *op = &o->v[i];
		int rc = op->type == HDB_TYPE_VALUE ?
			hdb_batch_put(b, op->key, op->klen, op->val, op->vlen) :
			hdb_batch_delete(b, op->key, op->klen);
		if (rc)
			abort();
	}
	if (o->n) {
		hdb_batch_set_seq(b, seq);
		again.base = b->rep.data;
		again.size = b->rep.len;
		if (hdb_batch_iterate(b->rep.data, b->rep.len, collect, &again, &count) != 0)
			abort();
	}
	if (count != o->n || again.n != o->n || hdb_batch_count(b) != o->n)
		abort();
	for (size_t i = 0; i < o->n; i++)
		if (!same_op(&o->v[i], &again.v[i]))
			abort();
	free(again.v);
	hdb_batch_free(b);
}

static void check_stop(const uint8_t *data, size_t size, size_t total)
{
	struct ops o = { .base = data, .size = size, .stop_after = total / 2 + 1 };
	uint32_t count = 12345;

	if (hdb_batch_iterate(data, size, collect, &o, &count) != STOP_CODE)
		abort();
	if (o.n != o.stop_after || count != 12345)
		abort();
	free(o.v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ops o = { .base = data, .size = size };
	uint32_t count = 0, vcount = 0;
	int rc = hdb_batch_iterate(data, size, collect, &o, &count);
	int vrc = hdb_batch_iterate(data, size, NULL, NULL, &vcount);

	if (rc != vrc || vcount != count)
		abort();
	if (rc) {
		if (rc != HDB_ECORRUPT || o.n != 0)
			abort();
		goto out;
	}
	if (o.n != count)
		abort();
	for (size_t i = 0; i < o.n; i++)
		if (o.v[i].seq != o.v[0].seq + i)
			abort();
	check_reencode(&o, o.n ? o.v[0].seq : 0);
	if (o.n)
		check_stop(data, size, o.n);
out:
	free(o.v);
	return 0;
}
