/*
 * block.c — building and iterating prefix-compressed blocks (sst_format.h).
 *
 * The iterator treats the block bytes as hostile: every varint, length and
 * restart offset is checked against the block's bounds before use, so a
 * malformed block can only end iteration with HDB_ECORRUPT.
 */
#include "block.h"

#include "errors.h"
#include "hybriddb.h"
#include "sst_format.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct hdb_block_builder {
	hdb_buf buf;           /* entries, then the restart array once finished */
	uint32_t *restarts;    /* entry offsets of restart points; [0] = 0 */
	size_t nrestarts, caprestarts;
	int interval;          /* entries per restart point */
	int counter;           /* entries since the last restart point */
	hdb_buf last_key;      /* key of the last entry added */
	bool finished;
};

hdb_block_builder *hdb_block_builder_new(int restart_interval)
{
	hdb_block_builder *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->interval = restart_interval < 1 ? 1 : restart_interval;
	b->caprestarts = 16;
	b->restarts = malloc(b->caprestarts * sizeof(*b->restarts));
	if (!b->restarts) {
		free(b);
		return NULL;
	}
	hdb_block_builder_reset(b);
	return b;
}

void hdb_block_builder_free(hdb_block_builder *b)
{
	if (!b)
		return;
	hdb_buf_free(&b->buf);
	hdb_buf_free(&b->last_key);
	free(b->restarts);
	free(b);
}

void hdb_block_builder_reset(hdb_block_builder *b)
{
	b->buf.len = 0;
	b->restarts[0] = 0;
	b->nrestarts = 1;
	b->counter = 0;
	b->last_key.len = 0;
	b->finished = false;
}

static int push_restart(hdb_block_builder *b, uint32_t off)
{
	if (b->nrestarts == b->caprestarts) {
		size_t cap = b->caprestarts * 2;
		uint32_t *r = realloc(b->restarts, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		b->restarts = r;
		b->caprestarts = cap;
	}
	b->restarts[b->nrestarts++] = off;
	return 0;
}

static size_t shared_prefix(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t n = an < bn ? an : bn, i = 0;
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

int hdb_block_builder_add(hdb_block_builder *b, const uint8_t *key, size_t klen,
                          const uint8_t *val, size_t vlen)
{
	assert(!b->finished);
	size_t shared = 0;
	int rc;

	/* Restart offsets are u32: refuse to grow a block past what they address. */
	if (klen > UINT32_MAX || vlen > UINT32_MAX ||
	    (uint64_t)b->buf.len + klen + vlen + 3 * HDB_VARINT64_MAX + (b->nrestarts + 2) * 4 > UINT32_MAX)
		return -EFBIG;

	if (b->counter < b->interval) {
		shared = shared_prefix(b->last_key.data, b->last_key.len, key, klen);
	} else {
		rc = push_restart(b, (uint32_t)b->buf.len);
		if (rc)
			return rc;
		b->counter = 0;
	}
	size_t unshared = klen - shared;
	uint8_t hdr[3 * HDB_VARINT64_MAX];
	size_t h = hdb_put_varint(hdr, shared);
	h += hdb_put_varint(hdr + h, unshared);
	h += hdb_put_varint(hdr + h, vlen);

	rc = hdb_buf_reserve(&b->buf, h + unshared + vlen);
	if (rc)
		return rc;
	rc = hdb_buf_reserve(&b->last_key, unshared);
	if (rc)
		return rc;
	/* Appends cannot fail after the reserves above. */
	hdb_buf_append(&b->buf, hdr, h);
	hdb_buf_append(&b->buf, key + shared, unshared);
	hdb_buf_append(&b->buf, val, vlen);
	b->last_key.len = shared;
	hdb_buf_append(&b->last_key, key + shared, unshared);
	b->counter++;
	return 0;
}

size_t hdb_block_builder_size(const hdb_block_builder *b)
{
	if (b->finished)
		return b->buf.len;
	if (!b->buf.len)
		return 4; /* just the restart count */
	return b->buf.len + b->nrestarts * 4 + 4;
}

bool hdb_block_builder_empty(const hdb_block_builder *b)
{
	return b->buf.len == 0;
}

int hdb_block_builder_finish(hdb_block_builder *b, hdb_slice *out)
{
	if (!b->finished) {
		/* An empty block has no entry for restart[0] to point at. */
		size_t n = b->buf.len ? b->nrestarts : 0;
		int rc = hdb_buf_reserve(&b->buf, n * 4 + 4);
		if (rc)
			return rc;
		/* Appends cannot fail after the reserve above. */
		for (size_t i = 0; i < n; i++)
			hdb_buf_append_u32(&b->buf, b->restarts[i]);
		hdb_buf_append_u32(&b->buf, (uint32_t)n);
		b->finished = true;
	}
	*out = hdb_slice_make(b->buf.data, b->buf.len);
	return 0;
}

/*
 * Iterator.
 */

struct block_iter {
	hdb_iiter base;
	const uint8_t *data;   /* block contents */
	size_t limit;          /* end of the entries = start of the restart array */
	uint32_t nrestarts;
	hdb_cmp_fn cmp;
	void (*release)(void *ctx);
	void *release_ctx;
	uint64_t offset;       /* the block's offset in its file, for errors */
	size_t cur;            /* offset of the current entry; limit: invalid */
	size_t next;           /* offset just past the current entry */
	hdb_buf key;           /* current key, rebuilt from the prefix chain */
	hdb_slice val;         /* current value, inside data */
	int status;
	char file[];           /* copy of the file name for errors ("" if none) */
};

static void bi_fail(struct block_iter *it, size_t at, const char *why)
{
	char what[96];
	snprintf(what, sizeof(what), "malformed block entry at +%zu: %s", at, why);
	it->status = hdb_corrupt(it->file[0] ? it->file : "block", it->offset, what);
	it->cur = it->limit;
}

/* Decodes one entry header at data[at]; bounds-checked against limit. */
static bool bi_decode(struct block_iter *it, size_t at, uint64_t *shared, uint64_t *unshared,
                      uint64_t *vlen, const uint8_t **body)
{
	const uint8_t *p = it->data + at, *end = it->data + it->limit;
	if (!hdb_get_varint(&p, end, shared) || !hdb_get_varint(&p, end, unshared) ||
	    !hdb_get_varint(&p, end, vlen)) {
		bi_fail(it, at, "truncated entry header");
		return false;
	}
	size_t left = (size_t)(end - p);
	if (*unshared > left || *vlen > left - *unshared) {
		bi_fail(it, at, "entry overruns block");
		return false;
	}
	*body = p;
	return true;
}

/* Makes the entry at data[at] current; the key buffer holds the previous key. */
static void bi_parse(struct block_iter *it, size_t at)
{
	uint64_t shared, unshared, vlen;
	const uint8_t *body;

	if (!bi_decode(it, at, &shared, &unshared, &vlen, &body))
		return;
	if (shared > it->key.len) {
		bi_fail(it, at, "shared prefix longer than previous key");
		return;
	}
	it->key.len = (size_t)shared;
	int rc = hdb_buf_append(&it->key, body, (size_t)unshared);
	if (rc) {
		it->status = rc;
		it->cur = it->limit;
		return;
	}
	it->val = hdb_slice_make(body + unshared, (size_t)vlen);
	it->cur = at;
	it->next = (size_t)(body + unshared + vlen - it->data);
}

/* Key stored whole at restart point i, without touching the current entry. */
static bool bi_restart_key(struct block_iter *it, uint32_t i, size_t *at, hdb_slice *key)
{
	uint64_t shared, unshared, vlen;
	const uint8_t *body;

	*at = hdb_get_u32(it->data + it->limit + 4 * (size_t)i);
	if (*at >= it->limit) {
		bi_fail(it, it->limit + 4 * (size_t)i, "restart offset out of range");
		return false;
	}
	if (!bi_decode(it, *at, &shared, &unshared, &vlen, &body))
		return false;
	if (shared) {
		bi_fail(it, *at, "restart entry shares a prefix");
		return false;
	}
	*key = hdb_slice_make(body, (size_t)unshared);
	return true;
}

static bool bi_valid(hdb_iiter *base)
{
	struct block_iter *it = (struct block_iter *)base;
	return it->status == 0 && it->cur < it->limit;
}

static void bi_seek_first(hdb_iiter *base)
{
	struct block_iter *it = (struct block_iter *)base;
	if (it->status)
		return;
	it->key.len = 0;
	it->cur = it->limit;
	if (it->limit)
		bi_parse(it, 0);
}

static void bi_next(hdb_iiter *base)
{
	struct block_iter *it = (struct block_iter *)base;
	assert(bi_valid(base));
	if (it->next >= it->limit)
		it->cur = it->limit;
	else
		bi_parse(it, it->next);
}

static void bi_seek(hdb_iiter *base, const uint8_t *target, size_t n)
{
	struct block_iter *it = (struct block_iter *)base;
	size_t at;
	hdb_slice k;

	if (it->status)
		return;
	it->cur = it->limit;
	if (!it->nrestarts)
		return;
	/* Last restart point whose key is < target: the answer is at or after it. */
	uint32_t lo = 0, hi = it->nrestarts - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		if (!bi_restart_key(it, mid, &at, &k))
			return;
		if (it->cmp(k.data, k.len, target, n) < 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (!bi_restart_key(it, lo, &at, &k))
		return;
	it->key.len = 0;
	bi_parse(it, at);
	while (bi_valid(base) && it->cmp(it->key.data, it->key.len, target, n) < 0)
		bi_next(base);
}

static hdb_slice bi_key(hdb_iiter *base)
{
	struct block_iter *it = (struct block_iter *)base;
	assert(bi_valid(base));
	return hdb_slice_make(it->key.data, it->key.len);
}

static hdb_slice bi_value(hdb_iiter *base)
{
	struct block_iter *it = (struct block_iter *)base;
	assert(bi_valid(base));
	return it->val;
}

static int bi_status(hdb_iiter *base)
{
	return ((struct block_iter *)base)->status;
}

static void bi_destroy(hdb_iiter *base)
{
	struct block_iter *it = (struct block_iter *)base;
	if (it->release)
		it->release(it->release_ctx);
	hdb_buf_free(&it->key);
	free(it);
}

static const struct hdb_iiter_ops block_iter_ops = {
	.valid = bi_valid,
	.seek_first = bi_seek_first,
	.seek = bi_seek,
	.next = bi_next,
	.key = bi_key,
	.value = bi_value,
	.status = bi_status,
	.destroy = bi_destroy,
};

int hdb_block_verify_restarts(hdb_iiter *base)
{
	struct block_iter *it = (struct block_iter *)base;
	uint32_t r = 0;
	size_t at;
	hdb_slice k;
	for (bi_seek_first(base); bi_valid(base); bi_next(base)) {
		/* restart points due at or before this entry must sit exactly on it */
		while (r < it->nrestarts && hdb_get_u32(it->data + it->limit + 4 * (size_t)r) <= it->cur) {
			if (hdb_get_u32(it->data + it->limit + 4 * (size_t)r) < it->cur) {
				bi_fail(it, it->limit + 4 * (size_t)r, "restart offset not at an entry");
				return it->status;
			}
			if (!bi_restart_key(it, r, &at, &k))
				return it->status;
			r++;
		}
	}
	if (!it->status && r < it->nrestarts)
		bi_fail(it, it->limit + 4 * (size_t)r, "restart offset not at an entry");
	return it->status;
}

/* Checks the restart array so that iteration may index it freely. */
static void bi_check_layout(struct block_iter *it, size_t n)
{
	if (n < 4) {
		bi_fail(it, 0, "block shorter than its restart count");
		return;
	}
	uint32_t nr = hdb_get_u32(it->data + n - 4);
	if (nr > (n - 4) / 4) {
		bi_fail(it, n - 4, "restart count exceeds block");
		return;
	}
	it->nrestarts = nr;
	it->limit = n - 4 - 4 * (size_t)nr;
	if (nr == 0 && it->limit != 0)
		bi_fail(it, n - 4, "entries without restart points");
	else if (nr > 0 && hdb_get_u32(it->data + it->limit) != 0)
		bi_fail(it, it->limit, "first restart point is not at offset 0");
	else
		it->cur = it->limit;
}

hdb_iiter *hdb_block_iter_new(const uint8_t *data, size_t n, hdb_cmp_fn cmp,
                              void (*release)(void *ctx), void *release_ctx,
                              const char *file, uint64_t offset)
{
	size_t flen = file ? strlen(file) : 0;
	struct block_iter *it = calloc(1, sizeof(*it) + flen + 1);
	if (!it) {
		if (release)
			release(release_ctx);
		return NULL;
	}
	it->base.ops = &block_iter_ops;
	it->data = data;
	it->cmp = cmp;
	it->release = release;
	it->release_ctx = release_ctx;
	it->offset = offset;
	if (flen)
		memcpy(it->file, file, flen);
	bi_check_layout(it, n);
	return &it->base;
}
