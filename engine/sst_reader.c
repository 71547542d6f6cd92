/*
 * sst_reader.c — reading SSTables through mmap (format in sst_format.h).
 *
 * The footer, index and filter are verified once at open and then used in
 * place in the mapping.  Data blocks are verified on every read: a raw
 * block is iterated straight from the mapping after its CRC is checked; a
 * compressed one is looked up in the block cache and, on a miss, checked,
 * inflated into a malloc'd buffer and (if asked) inserted, so that cached
 * blocks are always verified ones.  Every byte of the file is treated as
 * hostile: a bad table yields HDB_ECORRUPT naming the file and offset.
 *
 * hdb_sst_check runs the same code with a report callback installed on a
 * private reader, so each problem is reported where it is detected.
 */
#include "sst.h"

#include "block.h"
#include "bloom.h"
#include "errors.h"
#include "hybriddb.h"
#include "memtable.h"
#include "sst_format.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

typedef void (*report_fn)(void *ctx, const char *file, uint64_t offset, const char *what);

struct hdb_sst_reader {
	atomic_int refs;
	uint64_t number;        /* cache key */
	hdb_cache *cache;       /* may be NULL */
	const uint8_t *map;     /* the whole file, read-only */
	size_t len;
	hdb_slice index;        /* index block contents, in map */
	uint64_t index_off;
	hdb_slice filter;       /* filter contents in map; len 0: none */
	uint64_t data_end;      /* data blocks lie in [0, data_end) */
	atomic_uint inflates;   /* blocks inflated, for drop_data */
	uint64_t entries;       /* from the footer */
	report_fn report;       /* hdb_sst_check only */
	void *report_ctx;
	char name[];            /* basename of the path, for error details */
};

/* A data block's contents and what keeps them alive. */
struct blk {
	const uint8_t *data;
	size_t n;
	hdb_cache_handle *ch;   /* pinned cache entry, or NULL */
	uint8_t *heap;          /* malloc'd contents not handed to the cache */
};

static int sst_corrupt(hdb_sst_reader *r, uint64_t off, const char *what)
{
	if (r->report)
		r->report(r->report_ctx, r->name, off, what);
	return hdb_corrupt(r->name, off, what);
}

static uint64_t footer_off(const hdb_sst_reader *r)
{
	return r->len - HDB_SST_FOOTER_SIZE;
}

/* Bounds- and CRC-checks the block at h; *stored points into the map. */
static int read_stored(hdb_sst_reader *r, const hdb_sst_handle *h, hdb_slice *stored, uint8_t *type)
{
	uint64_t end = footer_off(r);
	if (h->offset > end || h->size > end - h->offset ||
	    HDB_SST_BLOCK_TRAILER_SIZE > end - h->offset - h->size)
		return sst_corrupt(r, h->offset, "block handle out of range");
	const uint8_t *p = r->map + h->offset;
	const uint8_t *t = p + h->size;
	if (hdb_get_u32(t + 1) != hdb_sst_block_crc(p, (size_t)h->size, t[0]))
		return sst_corrupt(r, h->offset, "block checksum mismatch");
	*stored = hdb_slice_make(p, (size_t)h->size);
	*type = t[0];
	return 0;
}

static int parse_footer(hdb_sst_reader *r, hdb_sst_footer *f)
{
	if (r->len < HDB_SST_FOOTER_SIZE)
		return sst_corrupt(r, 0, "file too short for a table footer");
	const uint8_t *p = r->map + footer_off(r);
	if (hdb_get_u64(p + HDB_SST_FOOTER_MAGIC_OFF) != HDB_SST_MAGIC)
		return sst_corrupt(r, footer_off(r), "bad table magic");
	if (hdb_get_u32(p + HDB_SST_FOOTER_CRC_OFF) != hdb_crc32(p, HDB_SST_FOOTER_CRC_OFF))
		return sst_corrupt(r, footer_off(r), "footer checksum mismatch");
	hdb_sst_footer_decode(p, f);
	if (f->version == 0)
		return sst_corrupt(r, footer_off(r), "bad format version 0");
	if (f->version > HDB_SST_VERSION) {
		if (r->report)
			r->report(r->report_ctx, r->name, footer_off(r), "table format version is newer than supported");
		hdb_set_errdetail("%s offset %llu: table format version %u is newer than supported (%u)",
		                  r->name, (unsigned long long)footer_off(r), f->version, HDB_SST_VERSION);
		return HDB_EVERSION;
	}
	r->entries = f->entries;
	return 0;
}

static int load_index(hdb_sst_reader *r, const hdb_sst_footer *f)
{
	hdb_slice s;
	uint8_t type;
	int rc = read_stored(r, &f->index, &s, &type);
	if (rc)
		return rc;
	if (type != HDB_SST_COMPRESS_NONE)
		return sst_corrupt(r, f->index.offset, "index block is not stored raw");
	r->index = s;
	r->index_off = f->index.offset;
	r->data_end = f->index.offset;
	return 0;
}

static int load_filter(hdb_sst_reader *r, const hdb_sst_footer *f)
{
	hdb_slice s;
	uint8_t type;
	if (!f->filter.offset && !f->filter.size)
		return 0;
	int rc = read_stored(r, &f->filter, &s, &type);
	if (rc)
		return rc;
	if (type != HDB_SST_COMPRESS_NONE)
		return sst_corrupt(r, f->filter.offset, "filter block is not stored raw");
	r->filter = s;
	if (f->filter.offset < r->data_end)
		r->data_end = f->filter.offset;
	return 0;
}

static int reader_new(const char *path, hdb_sst_reader **out)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	hdb_sst_reader *r = calloc(1, sizeof(*r) + n + 1);
	if (!r)
		return -ENOMEM;
	memcpy(r->name, base, n);
	atomic_init(&r->refs, 1);
	int rc = hdb_mmap_file(path, &r->map, &r->len);
	if (rc) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int hdb_sst_open(const char *path, uint64_t number, hdb_cache *cache, hdb_sst_reader **out)
{
	hdb_sst_reader *r;
	hdb_sst_footer f;
	int rc = reader_new(path, &r);
	if (rc)
		return rc;
	r->number = number;
	r->cache = cache;
	rc = parse_footer(r, &f);
	if (!rc)
		rc = load_index(r, &f);
	/* The filter only saves reads: a damaged one is left out (every probe
	 * then reads the table) rather than making the table unreadable;
	 * hdb_sst_check still reports it. */
	if (!rc) {
		rc = load_filter(r, &f);
		if (rc == HDB_ECORRUPT) {
			r->filter = (hdb_slice){ 0 };
			rc = 0;
		}
	}
	if (rc) {
		hdb_sst_unref(r);
		return rc;
	}
	/* Point reads touch scattered pages; read-ahead would be wasted.  Only
	 * advice: a failure changes nothing. */
	(void)madvise((void *)r->map, r->len, MADV_RANDOM);
	*out = r;
	return 0;
}

void hdb_sst_ref(hdb_sst_reader *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void hdb_sst_unref(hdb_sst_reader *r)
{
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	hdb_munmap(r->map, r->len);
	free(r);
}

uint64_t hdb_sst_file_size(const hdb_sst_reader *r)
{
	return r->len;
}

uint64_t hdb_sst_entries(const hdb_sst_reader *r)
{
	return r->entries;
}

size_t hdb_sst_memory(const hdb_sst_reader *r)
{
	return sizeof(*r) + strlen(r->name) + 1;
}

/*
 * Data blocks.
 */

/* Inflates type-1 stored bytes into a malloc'd buffer of exactly the
 * recorded length. */
static int inflate_block(hdb_sst_reader *r, uint64_t off, hdb_slice s, uint8_t **out, size_t *n)
{
	const uint8_t *p = s.data, *end = s.data + s.len;
	uint64_t ulen;
	if (!hdb_get_varint(&p, end, &ulen) || ulen > HDB_SST_MAX_BLOCK_CONTENTS)
		return sst_corrupt(r, off, "bad uncompressed block length");
	if ((size_t)(end - p) > UINT_MAX)
		return sst_corrupt(r, off, "compressed block too large");
	uint8_t *buf = malloc(ulen ? (size_t)ulen : 1);
	if (!buf)
		return -ENOMEM;

	z_stream zs = { 0 };
	if (inflateInit2(&zs, -15) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)p;
	zs.avail_in = (uInt)(end - p);
	zs.next_out = buf;
	zs.avail_out = (uInt)ulen;
	int zrc = inflate(&zs, Z_FINISH);
	bool exact = zrc == Z_STREAM_END && zs.total_out == ulen && zs.avail_in == 0;
	inflateEnd(&zs);
	if (zrc == Z_MEM_ERROR) {
		free(buf);
		return -ENOMEM;
	}
	if (!exact) {
		free(buf);
		return sst_corrupt(r, off, "compressed block does not inflate to its length");
	}
	*out = buf;
	*n = (size_t)ulen;
	return 0;
}

/* Blocks a reader inflates between two drop_data calls. */
#define DROP_EVERY 16

/* How far a scan runs before it drops the mapped pages behind it. */
#define SWEEP_BYTES ((uint64_t)1 << 20)

/*
 * Table bytes that were read do not stay in this process's resident set:
 * an inflated block is read from its buffer (or the cache) from then on,
 * and a scan does not return behind itself.  The pages leave the mapping,
 * not the page cache, so a later read finds them there (a minor fault);
 * this changes nothing but the process's size, which would otherwise grow
 * by every table page a scan, a compaction or a point read touched (a
 * mount's memory budget, BENCHMARKS.md).  A pointer into the mapping stays
 * valid: madvise only unmaps the pages.  The kernel maps more than the
 * pages a read touches (fault-around, large folios), so whole ranges are
 * dropped: [0, to) of the data blocks, never the index and filter.
 */
static void drop_data(const hdb_sst_reader *r, uint64_t to)
{
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0 || !r->map)
		return;
	if (to > r->data_end)
		to = r->data_end;
	size_t n = (size_t)to & ~((size_t)page - 1);
	if (n)
		(void)madvise((void *)r->map, n, MADV_DONTNEED); /* a hint: failure changes nothing */
}

static void release_block(hdb_sst_reader *r, struct blk *b)
{
	if (b->ch)
		hdb_cache_release(r->cache, b->ch);
	free(b->heap);
	memset(b, 0, sizeof(*b));
}

static int load_block(hdb_sst_reader *r, const hdb_sst_handle *h, bool fill_cache,
                      hdb_sst_counters *ctr, struct blk *b)
{
	hdb_slice s;
	uint8_t type;
	uint64_t end = footer_off(r);

	memset(b, 0, sizeof(*b));
	/* Only verified blocks enter the cache, so a hit needs no CRC. */
	if (r->cache && h->offset <= end && h->size < end - h->offset &&
	    r->map[h->offset + h->size] == HDB_SST_COMPRESS_ZLIB) {
		b->ch = hdb_cache_lookup(r->cache, r->number, h->offset);
		if (b->ch) {
			if (ctr)
				ctr->cache_hits++;
			b->data = hdb_cache_data(b->ch, &b->n);
			return 0;
		}
		if (ctr)
			ctr->cache_misses++;
	}
	int rc = read_stored(r, h, &s, &type);
	if (rc)
		return rc;
	if (type == HDB_SST_COMPRESS_NONE) {
		b->data = s.data;
		b->n = s.len;
		return 0;
	}
	if (type != HDB_SST_COMPRESS_ZLIB)
		return sst_corrupt(r, h->offset, "unknown block compression type");
	uint8_t *buf = NULL;
	size_t n = 0;
	rc = inflate_block(r, h->offset, s, &buf, &n);
	if (rc)
		return rc;
	/* Point reads drop every DROP_EVERY blocks: a few calls, and what the
	 * faults in between mapped stays bounded. */
	if (atomic_fetch_add_explicit(&r->inflates, 1, memory_order_relaxed) % DROP_EVERY == DROP_EVERY - 1)
		drop_data(r, r->data_end);
	if (r->cache && fill_cache) {
		b->ch = hdb_cache_insert(r->cache, r->number, h->offset, buf, n);
		if (!b->ch)
			return -ENOMEM;
		b->data = hdb_cache_data(b->ch, &b->n);
		return 0;
	}
	b->heap = buf;
	b->data = buf;
	b->n = n;
	return 0;
}

static hdb_iiter *index_iter(hdb_sst_reader *r)
{
	return hdb_block_iter_new(r->index.data, r->index.len, hdb_ikey_cmp_fn, NULL, NULL, r->name,
	                          r->index_off);
}

/* Handle stored as the value of the index iterator's current entry. */
static int index_handle(hdb_sst_reader *r, hdb_iiter *ix, hdb_sst_handle *h)
{
	if (!hdb_sst_handle_decode(hdb_iiter_value(ix), h))
		return sst_corrupt(r, r->index_off, "bad block handle in index");
	return 0;
}

/*
 * Point lookups.
 */

static int match_entry(hdb_sst_reader *r, uint64_t off, hdb_iiter *it, const void *ukey,
                       size_t ulen, void **val, size_t *vlen)
{
	hdb_slice k = hdb_iiter_key(it);
	if (k.len < HDB_TAG_SIZE)
		return sst_corrupt(r, off, "internal key shorter than its tag");
	hdb_slice u = hdb_ikey_user(k.data, k.len);
	if (hdb_bytes_cmp(u.data, u.len, ukey, ulen))
		return HDB_LOOKUP_ABSENT;
	switch (hdb_ikey_type(k.data, k.len)) {
	case HDB_TYPE_DELETE:
		return HDB_LOOKUP_DELETED;
	case HDB_TYPE_VALUE: {
		hdb_slice v = hdb_iiter_value(it);
		void *copy = malloc(v.len ? v.len : 1);
		if (!copy)
			return -ENOMEM;
		if (v.len)
			memcpy(copy, v.data, v.len);
		*val = copy;
		*vlen = v.len;
		return HDB_LOOKUP_FOUND;
	}
	}
	return sst_corrupt(r, off, "unknown value type");
}

/* Seeks lk in the block the index points at.  A key past a block's last
 * entry but within its separator cannot match (see sst_format.h). */
static int get_in_block(hdb_sst_reader *r, hdb_iiter *ix, const uint8_t *lk, size_t lkn,
                        const void *ukey, size_t ulen, void **val, size_t *vlen, bool fill_cache,
                        hdb_sst_counters *ctr)
{
	hdb_sst_handle h;
	struct blk b;
	int rc = index_handle(r, ix, &h);
	if (rc)
		return rc;
	rc = load_block(r, &h, fill_cache, ctr, &b);
	if (rc)
		return rc;
	hdb_iiter *it = hdb_block_iter_new(b.data, b.n, hdb_ikey_cmp_fn, NULL, NULL, r->name, h.offset);
	if (!it) {
		release_block(r, &b);
		return -ENOMEM;
	}
	hdb_iiter_seek(it, lk, lkn);
	if (hdb_iiter_valid(it))
		rc = match_entry(r, h.offset, it, ukey, ulen, val, vlen);
	else
		rc = hdb_iiter_status(it);
	hdb_iiter_destroy(it);
	release_block(r, &b);
	return rc;
}

int hdb_sst_get(hdb_sst_reader *r, const void *ukey, size_t ulen, uint64_t seq,
                void **val, size_t *vlen, bool fill_cache, hdb_sst_counters *ctr)
{
	if (r->filter.len && !hdb_bloom_may_contain(r->filter.data, r->filter.len,
	                                            hdb_bloom_hash(ukey, ulen))) {
		if (ctr)
			ctr->bloom_negative++;
		return HDB_LOOKUP_ABSENT;
	}
	uint8_t small[256];
	size_t lkn = ulen + HDB_TAG_SIZE;
	uint8_t *lk = lkn <= sizeof(small) ? small : malloc(lkn);
	if (!lk)
		return -ENOMEM;
	if (ulen)
		memcpy(lk, ukey, ulen);
	hdb_put_u64(lk + ulen, hdb_tag(seq > HDB_MAX_SEQ ? HDB_MAX_SEQ : seq, HDB_TYPE_SEEK));

	int rc = -ENOMEM;
	hdb_iiter *ix = index_iter(r);
	if (!ix)
		goto out;
	hdb_iiter_seek(ix, lk, lkn);
	if (hdb_iiter_valid(ix))
		rc = get_in_block(r, ix, lk, lkn, ukey, ulen, val, vlen, fill_cache, ctr);
	else
		rc = hdb_iiter_status(ix);
	hdb_iiter_destroy(ix);
out:
	if (lk != small)
		free(lk);
	return rc;
}

/*
 * Two-level iterator: index entries lead to data blocks.
 */

struct sst_iter {
	hdb_iiter base;
	hdb_sst_reader *r;      /* referenced */
	bool fill_cache;
	hdb_iiter *index;
	hdb_iiter *data;        /* over blk; NULL when not positioned */
	struct blk blk;
	int status;             /* first error of the iterator itself */
	bool read_any;          /* a data block was loaded */
	uint64_t swept;         /* mapped pages before this offset dropped */
};

static void si_drop_data(struct sst_iter *si)
{
	hdb_iiter_destroy(si->data);
	si->data = NULL;
	release_block(si->r, &si->blk);
}

/* Opens the data block of the index entry under si->index. */
static void si_open_data(struct sst_iter *si)
{
	hdb_sst_handle h;
	si_drop_data(si);
	if (!hdb_iiter_valid(si->index))
		return;
	int rc = index_handle(si->r, si->index, &h);
	if (!rc)
		rc = load_block(si->r, &h, si->fill_cache, NULL, &si->blk);
	if (rc) {
		si->status = rc;
		return;
	}
	si->read_any = true;
	if (h.offset > si->swept && h.offset - si->swept >= SWEEP_BYTES) {
		drop_data(si->r, h.offset); /* behind the scan */
		si->swept = h.offset;
	}
	si->data = hdb_block_iter_new(si->blk.data, si->blk.n, hdb_ikey_cmp_fn, NULL, NULL, si->r->name,
	                              h.offset);
	if (!si->data) {
		release_block(si->r, &si->blk);
		si->status = -ENOMEM;
	}
}

/* Moves past exhausted blocks (empty ones included) to the next entry. */
static void si_skip_forward(struct sst_iter *si)
{
	while (!si->status && (!si->data || !hdb_iiter_valid(si->data))) {
		if (si->data && hdb_iiter_status(si->data)) {
			si->status = hdb_iiter_status(si->data);
			break;
		}
		if (!hdb_iiter_valid(si->index)) {
			si_drop_data(si);
			si->status = hdb_iiter_status(si->index);
			break;
		}
		hdb_iiter_next(si->index);
		si_open_data(si);
		if (si->data)
			hdb_iiter_seek_first(si->data);
	}
	if (si->status)
		si_drop_data(si);
}

static bool si_valid(hdb_iiter *base)
{
	struct sst_iter *si = (struct sst_iter *)base;
	return !si->status && si->data && hdb_iiter_valid(si->data);
}

static void si_seek_first(hdb_iiter *base)
{
	struct sst_iter *si = (struct sst_iter *)base;
	if (si->status)
		return;
	hdb_iiter_seek_first(si->index);
	si_open_data(si);
	if (si->data)
		hdb_iiter_seek_first(si->data);
	si_skip_forward(si);
}

static void si_seek(hdb_iiter *base, const uint8_t *k, size_t n)
{
	struct sst_iter *si = (struct sst_iter *)base;
	if (si->status)
		return;
	hdb_iiter_seek(si->index, k, n);
	si_open_data(si);
	if (si->data)
		hdb_iiter_seek(si->data, k, n);
	si_skip_forward(si);
}

static void si_next(hdb_iiter *base)
{
	struct sst_iter *si = (struct sst_iter *)base;
	hdb_iiter_next(si->data);
	si_skip_forward(si);
}

static hdb_slice si_key(hdb_iiter *base)
{
	return hdb_iiter_key(((struct sst_iter *)base)->data);
}

static hdb_slice si_value(hdb_iiter *base)
{
	return hdb_iiter_value(((struct sst_iter *)base)->data);
}

static int si_status(hdb_iiter *base)
{
	struct sst_iter *si = (struct sst_iter *)base;
	return si->status ? si->status : hdb_iiter_status(si->index);
}

static void si_destroy(hdb_iiter *base)
{
	struct sst_iter *si = (struct sst_iter *)base;
	si_drop_data(si);
	if (si->read_any)
		drop_data(si->r, si->r->data_end);
	hdb_iiter_destroy(si->index);
	hdb_sst_unref(si->r);
	free(si);
}

static const struct hdb_iiter_ops sst_iter_ops = {
	.valid = si_valid,
	.seek_first = si_seek_first,
	.seek = si_seek,
	.next = si_next,
	.key = si_key,
	.value = si_value,
	.status = si_status,
	.destroy = si_destroy,
};

hdb_iiter *hdb_sst_iter_new(hdb_sst_reader *r, bool fill_cache)
{
	struct sst_iter *si = calloc(1, sizeof(*si));
	if (!si)
		return NULL;
	si->base.ops = &sst_iter_ops;
	si->fill_cache = fill_cache;
	si->index = index_iter(r);
	if (!si->index) {
		free(si);
		return NULL;
	}
	hdb_sst_ref(r);
	si->r = r;
	return &si->base;
}

/*
 * Offline verification.
 */

struct check_state {
	hdb_sst_reader *r;
	hdb_buf prev;           /* last good key seen, across blocks */
	hdb_buf sep;            /* previous index separator */
	uint64_t expect_off;    /* where the next data block should start */
	uint64_t entries;
	bool bad;
};

static void check_problem(struct check_state *cs, uint64_t off, const char *what)
{
	sst_corrupt(cs->r, off, what);
	cs->bad = true;
}

/* Reports an iterator failure; its detail reads "<file> offset <n>: <what>". */
static int check_iter_error(struct check_state *cs, uint64_t off, int st)
{
	if (st != HDB_ECORRUPT)
		return st;
	char what[160];
	const char *d = hdb_errdetail(), *w = strstr(d, ": ");
	snprintf(what, sizeof(what), "%s", w ? w + 2 : "malformed block");
	check_problem(cs, off, what);
	return 0;
}

/* First problem with key k of a block, or NULL. */
static const char *check_key(struct check_state *cs, hdb_slice k, bool first)
{
	if (k.len < HDB_TAG_SIZE)
		return "internal key shorter than its tag";
	if (cs->prev.len && hdb_ikey_cmp(cs->prev.data, cs->prev.len, k.data, k.len) >= 0)
		return "keys out of order";
	if (first && cs->sep.len && hdb_ikey_cmp(cs->sep.data, cs->sep.len, k.data, k.len) >= 0)
		return "first key not above the previous index separator";
	return NULL;
}

/* Every key of one block: well formed, strictly increasing from the
 * previous block's, and within (previous separator, this separator].  One
 * report per block; the rest of a bad block is only counted. */
static int check_block_keys(struct check_state *cs, uint64_t off, hdb_iiter *it, hdb_slice sep)
{
	bool first = true, reported = false;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it), first = false) {
		hdb_slice k = hdb_iiter_key(it);
		cs->entries++;
		if (reported)
			continue;
		const char *what = check_key(cs, k, first);
		if (what) {
			check_problem(cs, off, what);
			reported = true;
			continue;
		}
		cs->prev.len = 0;
		int rc = hdb_buf_append(&cs->prev, k.data, k.len);
		if (rc)
			return rc;
	}
	if (hdb_iiter_status(it))
		return check_iter_error(cs, off, hdb_iiter_status(it));
	if (!first && !reported && hdb_ikey_cmp(cs->prev.data, cs->prev.len, sep.data, sep.len) > 0)
		check_problem(cs, off, "last key above its index separator");
	return 0;
}

static int check_data_block(struct check_state *cs, hdb_iiter *ix)
{
	hdb_sst_reader *r = cs->r;
	hdb_sst_handle h;
	struct blk b;
	hdb_slice sep = hdb_iiter_key(ix);

	if (cs->sep.len && hdb_ikey_cmp(cs->sep.data, cs->sep.len, sep.data, sep.len) >= 0)
		check_problem(cs, r->index_off, "index keys out of order");
	if (index_handle(r, ix, &h)) {
		cs->bad = true;
		return 0;
	}
	if (h.offset != cs->expect_off)
		check_problem(cs, h.offset, "data block not contiguous with the previous one");
	cs->expect_off = h.offset + h.size + HDB_SST_BLOCK_TRAILER_SIZE;

	int rc = load_block(r, &h, false, NULL, &b);
	if (rc == HDB_ECORRUPT) {
		cs->bad = true;
		rc = 0;
	} else if (!rc) {
		hdb_iiter *it = hdb_block_iter_new(b.data, b.n, hdb_ikey_cmp_fn, NULL, NULL, r->name,
		                                   h.offset);
		rc = it ? check_block_keys(cs, h.offset, it, sep) : -ENOMEM;
		if (!rc && it && !hdb_iiter_status(it) && hdb_block_verify_restarts(it))
			rc = check_iter_error(cs, h.offset, hdb_iiter_status(it));
		hdb_iiter_destroy(it);
		release_block(r, &b);
	}
	cs->sep.len = 0;
	return rc ? rc : hdb_buf_append(&cs->sep, sep.data, sep.len);
}

static int check_data(struct check_state *cs, const hdb_sst_footer *f)
{
	hdb_sst_reader *r = cs->r;
	int rc = 0;
	hdb_iiter *ix = index_iter(r);
	if (!ix)
		return -ENOMEM;
	for (hdb_iiter_seek_first(ix); !rc && hdb_iiter_valid(ix); hdb_iiter_next(ix))
		rc = check_data_block(cs, ix);
	if (!rc && !hdb_iiter_status(ix))
		hdb_block_verify_restarts(ix); /* seeks use them; the walk above did not */
	if (!rc && hdb_iiter_status(ix))
		rc = check_iter_error(cs, r->index_off, hdb_iiter_status(ix));
	hdb_iiter_destroy(ix);
	if (rc)
		return rc;

	uint64_t meta = f->filter.size || f->filter.offset ? f->filter.offset : f->index.offset;
	if (cs->expect_off != meta)
		check_problem(cs, cs->expect_off, "data blocks do not end where the filter or index starts");
	if (cs->entries != r->entries)
		check_problem(cs, footer_off(r), "entry count differs from the footer");
	return 0;
}

int hdb_sst_check(const char *path,
                  void (*report)(void *ctx, const char *file, uint64_t offset, const char *what),
                  void *ctx)
{
	hdb_sst_reader *r;
	hdb_sst_footer f;
	struct check_state cs = { 0 };
	int rc = reader_new(path, &r);
	if (rc)
		return rc;
	r->report = report;
	r->report_ctx = ctx;
	rc = parse_footer(r, &f);
	if (!rc)
		rc = load_index(r, &f);
	if (rc)
		goto out;
	cs.bad = load_filter(r, &f) != 0;
	cs.r = r;
	rc = check_data(&cs, &f);
	if (!rc && cs.bad)
		rc = HDB_ECORRUPT;
out:
	hdb_buf_free(&cs.prev);
	hdb_buf_free(&cs.sep);
	hdb_sst_unref(r);
	return rc;
}
