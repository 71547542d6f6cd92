/*
 * sst_format.h — the on-disk format of an SSTable (NNNNNN.sst).
 *
 * Every integer is little-endian.  "varint" is the 7-bits-per-byte unsigned
 * encoding of coding.h (low groups first, high bit = more bytes follow).
 *
 * File layout
 * -----------
 *   offset 0   data block 0   ‖ trailer
 *              data block 1   ‖ trailer
 *              ...            (contiguous, in key order)
 *              filter block   ‖ trailer   (absent when the filter handle is 0,0)
 *              index block    ‖ trailer
 *   size - 56  footer
 *
 * Block contents (data and index blocks, before compression)
 * ----------------------------------------------------------
 *   entry*:  varint shared    bytes of the key shared with the previous key
 *            varint unshared  bytes of the key that follow
 *            varint vlen      bytes of value
 *            key[shared..shared+unshared)   (the key's unshared suffix)
 *            value[vlen]
 *   restart: u32 offset of an entry, num_restarts times, ascending
 *   u32 num_restarts
 *
 * The entry at a restart point has shared = 0 (its key is stored whole);
 * restart[0] = 0.  Every HDB_SST_RESTART_INTERVAL entries start a new
 * restart point, so a seek is a binary search over the restart keys and a
 * scan of at most one interval.  An empty block is just num_restarts = 0.
 * Keys are internal keys (ikey.h) in internal-key order.
 *
 * Block on disk
 * -------------
 *   stored bytes [size]     the contents, or (type 1) their compressed form
 *   u8  type                0 = none, 1 = zlib raw deflate
 *   u32 crc                 CRC-32 (zlib's crc32) over stored bytes ‖ type
 *
 *   Type 1 stored bytes: varint uncompressed length, then a raw deflate
 *   stream (zlib windowBits -15: no zlib header or adler32, the block CRC
 *   covers it) that inflates to exactly that many bytes with no input left
 *   over.  Readers reject lengths above HDB_SST_MAX_BLOCK_CONTENTS.  A
 *   writer keeps the compressed form only when it saves at least 1/8 of the
 *   contents; filter and index blocks are always type 0.
 *
 * Block handle (value of an index entry)
 * --------------------------------------
 *   varint offset   file offset of the block's first stored byte
 *   varint size     stored bytes, excluding the 5-byte trailer
 *
 * Index block: one entry per data block, in order, restart interval 1.
 *   key   = a separator S with  last key of block i <= S < first key of
 *           block i+1 (internal-key order).  The writer uses the shortest
 *           user key u with  last user key < u < next user key  when one
 *           exists (S = u ‖ tag(HDB_MAX_SEQ, HDB_TYPE_SEEK)), otherwise the
 *           block's last key; the last block's separator is its last key.
 *   value = block handle of block i.
 *
 * Filter block: one Bloom filter over the distinct user keys (internal key
 * minus its 8-byte tag) of the whole table:
 *   bit array [m bytes]   bit b is byte b/8, mask 1 << (b % 8)
 *   u8 k                  number of probes
 *   hash h = MurmurHash3_x86_32(user key, seed HDB_BLOOM_SEED); probe j
 *   (0 <= j < k) tests bit (h + j * delta) mod (8m),
 *   with delta = h rotated right by 17, "(h + j * delta)" wrapping at 2^32.
 *   Writers use k = floor(bits_per_key * 0.69) (~ln 2) clamped to 1..30 and
 *   m = max(64 bits, keys * bits_per_key) rounded up to whole bytes.
 *   Readers answer "may contain" for a filter with k = 0 or k > 30
 *   (reserved for future encodings) or shorter than 2 bytes.
 *
 * Footer (HDB_SST_FOOTER_SIZE = 56 bytes at the end of the file)
 * ----------------------------------------------------------------
 *   off  size  field
 *     0     8  u64 index block offset
 *     8     8  u64 index block size (stored bytes, excluding trailer)
 *    16     8  u64 filter block offset (0 with size 0: no filter)
 *    24     8  u64 filter block size
 *    32     8  u64 number of entries in the table
 *    40     4  u32 format version (HDB_SST_VERSION)
 *    44     4  u32 CRC-32 over footer bytes [0, 44)
 *    48     8  u64 magic (HDB_SST_MAGIC)
 *
 * A reader checks the magic, then the footer CRC (both HDB_ECORRUPT), then
 * the version (newer: HDB_EVERSION).  Later versions keep the last 16 bytes
 * of this layout.
 */
#ifndef HDB_SST_FORMAT_H
#define HDB_SST_FORMAT_H

#include "coding.h"

#define HDB_SST_MAGIC UINT64_C(0x4244542e42445948) /* "HYDB.TDB" as LE bytes */
#define HDB_SST_VERSION 1

#define HDB_SST_BLOCK_TRAILER_SIZE 5
#define HDB_SST_FOOTER_SIZE 56
#define HDB_SST_FOOTER_CRC_OFF 44   /* CRC covers footer bytes before this */
#define HDB_SST_FOOTER_VERSION_OFF 40
#define HDB_SST_FOOTER_MAGIC_OFF 48

#define HDB_SST_COMPRESS_NONE 0
#define HDB_SST_COMPRESS_ZLIB 1

#define HDB_SST_DEFAULT_BLOCK_SIZE (16 * 1024)
#define HDB_SST_RESTART_INTERVAL 16
#define HDB_SST_INDEX_RESTART_INTERVAL 1
#define HDB_SST_MAX_BLOCK_CONTENTS (64u * 1024 * 1024) /* bound on inflate */
#define HDB_SST_WRITE_CHUNK (64 * 1024)                /* builder write size */

#define HDB_BLOOM_SEED UINT32_C(0xbc9f1d34)
#define HDB_BLOOM_MAX_K 30
#define HDB_BLOOM_MIN_BITS 64

/* Room for an encoded handle: two varints. */
#define HDB_SST_HANDLE_MAX (2 * HDB_VARINT64_MAX)

typedef struct hdb_sst_handle {
	uint64_t offset; /* first stored byte */
	uint64_t size;   /* stored bytes, trailer excluded */
} hdb_sst_handle;

static inline size_t hdb_sst_handle_encode(uint8_t *p, const hdb_sst_handle *h)
{
	size_t n = hdb_put_varint(p, h->offset);
	return n + hdb_put_varint(p + n, h->size);
}

/* False unless v is exactly two varints. */
static inline bool hdb_sst_handle_decode(hdb_slice v, hdb_sst_handle *h)
{
	const uint8_t *p = v.data, *end = v.data + v.len;
	return hdb_get_varint(&p, end, &h->offset) && hdb_get_varint(&p, end, &h->size) && p == end;
}

typedef struct hdb_sst_footer {
	hdb_sst_handle index;
	hdb_sst_handle filter; /* 0,0: no filter */
	uint64_t entries;
	uint32_t version;
} hdb_sst_footer;

static inline void hdb_sst_footer_encode(uint8_t p[HDB_SST_FOOTER_SIZE], const hdb_sst_footer *f)
{
	hdb_put_u64(p, f->index.offset);
	hdb_put_u64(p + 8, f->index.size);
	hdb_put_u64(p + 16, f->filter.offset);
	hdb_put_u64(p + 24, f->filter.size);
	hdb_put_u64(p + 32, f->entries);
	hdb_put_u32(p + HDB_SST_FOOTER_VERSION_OFF, f->version);
	hdb_put_u32(p + HDB_SST_FOOTER_CRC_OFF, hdb_crc32(p, HDB_SST_FOOTER_CRC_OFF));
	hdb_put_u64(p + HDB_SST_FOOTER_MAGIC_OFF, HDB_SST_MAGIC);
}

/* Fields only; the caller checks magic, CRC and version. */
static inline void hdb_sst_footer_decode(const uint8_t p[HDB_SST_FOOTER_SIZE], hdb_sst_footer *f)
{
	f->index.offset = hdb_get_u64(p);
	f->index.size = hdb_get_u64(p + 8);
	f->filter.offset = hdb_get_u64(p + 16);
	f->filter.size = hdb_get_u64(p + 24);
	f->entries = hdb_get_u64(p + 32);
	f->version = hdb_get_u32(p + HDB_SST_FOOTER_VERSION_OFF);
}

/* CRC a block trailer carries: over stored bytes ‖ type. */
static inline uint32_t hdb_sst_block_crc(const uint8_t *stored, size_t n, uint8_t type)
{
	return hdb_crc32_extend(hdb_crc32(stored, n), &type, 1);
}

#endif
