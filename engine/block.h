/*
 * block.h — sorted blocks of prefix-compressed entries with restart points
 * (format in sst_format.h).  Used for SSTable data and index blocks.
 *
 * Thread safety: a builder belongs to one thread; a block's bytes are
 * immutable, so any number of iterators may read one block concurrently.
 */
#ifndef HDB_BLOCK_H
#define HDB_BLOCK_H

#include "iter.h"

typedef struct hdb_block_builder hdb_block_builder;

hdb_block_builder *hdb_block_builder_new(int restart_interval);
void hdb_block_builder_free(hdb_block_builder *b);
/* REQUIRES: key greater than every key added since the last reset. */
int hdb_block_builder_add(hdb_block_builder *b, const uint8_t *key, size_t klen,
                          const uint8_t *val, size_t vlen);
/* Bytes the finished block would take now. */
size_t hdb_block_builder_size(const hdb_block_builder *b);
bool hdb_block_builder_empty(const hdb_block_builder *b);
/* Appends the restart array; *out is valid until the next reset/free. */
int hdb_block_builder_finish(hdb_block_builder *b, hdb_slice *out);
void hdb_block_builder_reset(hdb_block_builder *b);

/* Iterates the uncompressed block contents data[0..n), which must stay valid
 * until release(release_ctx) is called by destroy (release may be NULL).
 * A malformed block makes the iterator invalid with status HDB_ECORRUPT and
 * a detail naming `file` and `offset` (the block's offset in its file);
 * file may be NULL.  NULL only on ENOMEM (release is then called). */
hdb_iiter *hdb_block_iter_new(const uint8_t *data, size_t n, hdb_cmp_fn cmp,
                              void (*release)(void *ctx), void *release_ctx,
                              const char *file, uint64_t offset);

/* Walks a block iterator's entries and checks that every restart point sits
 * on an entry boundary and stores its key whole (a sequential scan never
 * reads them; seeks do).  0 or HDB_ECORRUPT; the iterator is left at the
 * end.  REQUIRES: it was made by hdb_block_iter_new. */
int hdb_block_verify_restarts(hdb_iiter *it);

#endif
