/*
 * batch.h — the encoding of a write batch, shared by the WAL and the writer.
 *
 *   batch   := seq u64 LE | count u32 LE | op*count
 *   op      := type u8 (0 delete, 1 put) | varint klen | key
 *              [ | varint vlen | value ]   (puts only)
 *
 * A WAL record's payload is exactly one encoded batch.
 */
#ifndef HDB_BATCH_H
#define HDB_BATCH_H

#include "hybriddb.h"
#include "ikey.h"

#define HDB_BATCH_HEADER 12

struct hdb_batch {
	hdb_buf rep; /* header + ops; rep.len >= HDB_BATCH_HEADER once used */
	uint32_t count;
};

void hdb_batch_set_seq(hdb_batch *b, uint64_t seq);
uint64_t hdb_batch_seq(const hdb_batch *b);
/* Appends src's operations to dst (group commit). */
int hdb_batch_append(hdb_batch *dst, const hdb_batch *src);

typedef int (*hdb_batch_op_fn)(void *ctx, uint64_t seq, enum hdb_vtype type, const uint8_t *key,
                               size_t klen, const uint8_t *val, size_t vlen);

/* Walks an encoded batch (from the WAL: untrusted), calling fn with each
 * op's sequence number (the batch's first plus the op's index).  Returns
 * HDB_ECORRUPT on malformed input (nothing past the end is read), or fn's
 * non-zero return.  The whole batch is validated before fn is first called,
 * so a malformed batch delivers no op.  fn may be NULL (validate only);
 * count, if not NULL, receives the number of ops on success. */
int hdb_batch_iterate(const uint8_t *rep, size_t n, hdb_batch_op_fn fn, void *ctx, uint32_t *count);

#endif
