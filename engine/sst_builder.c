/*
 * sst_builder.c — writes an SSTable (format in sst_format.h) through an env.
 *
 * Output goes through a buffer flushed in chunks of at least
 * HDB_SST_WRITE_CHUNK bytes, so a table costs few write calls.  The index
 * entry of a data block is added only when the next key is known, so that
 * it can be a short separator between the two blocks.  After the first
 * error every call returns it again.
 */
#include "sst.h"

#include "block.h"
#include "bloom.h"
#include "hybriddb.h"
#include "sst_format.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

struct hdb_sst_builder {
	hdb_env *env;
	int fd;                     /* -1 once closed */
	hdb_sst_options opt;
	hdb_block_builder *data;    /* the data block being filled */
	hdb_block_builder *index;
	hdb_buf out;                /* bytes not yet handed to env->write */
	uint64_t offset;            /* file size once out is written */
	hdb_buf last_key;           /* last internal key added */
	bool pending_index;         /* a data block awaits its index entry */
	hdb_sst_handle pending;     /* ... and this is its handle */
	uint32_t *hashes;           /* Bloom hashes of distinct user keys */
	size_t nhashes, caphashes;
	hdb_buf zbuf;               /* scratch for compressed blocks */
	z_stream zs;                /* deflate state, reused across blocks */
	bool zs_ready;              /* zs initialised */
	uint64_t entries;
	int err;                    /* first error, sticky */
};

static void builder_options(hdb_sst_options *o, const hdb_sst_options *in)
{
	*o = *in;
	if (!o->block_size)
		o->block_size = HDB_SST_DEFAULT_BLOCK_SIZE;
	if (o->restart_interval < 1)
		o->restart_interval = HDB_SST_RESTART_INTERVAL;
	if (o->compression_level < Z_DEFAULT_COMPRESSION || o->compression_level > Z_BEST_COMPRESSION)
		o->compression_level = Z_DEFAULT_COMPRESSION;
	if (o->bloom_bits_per_key < 0)
		o->bloom_bits_per_key = 0;
}

int hdb_sst_builder_new(hdb_env *env, const char *path, const hdb_sst_options *o,
                        hdb_sst_builder **out)
{
	hdb_sst_builder *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->env = env;
	b->fd = -1;
	builder_options(&b->opt, o);
	b->data = hdb_block_builder_new(b->opt.restart_interval);
	b->index = hdb_block_builder_new(HDB_SST_INDEX_RESTART_INTERVAL);
	if (!b->data || !b->index) {
		hdb_sst_builder_free(b);
		return -ENOMEM;
	}
	int rc = env->wopen(env, path, HDB_WOPEN_TRUNC | HDB_WOPEN_EXCL, &b->fd);
	if (rc) {
		b->fd = -1;
		hdb_sst_builder_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void hdb_sst_builder_free(hdb_sst_builder *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		(void)b->env->close(b->env, b->fd); /* abandoned: its contents do not matter */
	hdb_block_builder_free(b->data);
	hdb_block_builder_free(b->index);
	hdb_buf_free(&b->out);
	hdb_buf_free(&b->last_key);
	hdb_buf_free(&b->zbuf);
	if (b->zs_ready)
		deflateEnd(&b->zs);
	free(b->hashes);
	free(b);
}

static int flush_out(hdb_sst_builder *b)
{
	if (!b->out.len)
		return 0;
	int rc = b->env->write(b->env, b->fd, b->out.data, b->out.len);
	if (rc)
		return rc;
	b->out.len = 0;
	return 0;
}

/* Compresses contents into b->zbuf; false when it would not save 1/8. */
static int compress_block(hdb_sst_builder *b, hdb_slice c, bool *keep)
{
	*keep = false;
	if (c.len > HDB_SST_MAX_BLOCK_CONTENTS)
		return 0;
	uLong bound = compressBound((uLong)c.len);
	b->zbuf.len = 0;
	int rc = hdb_buf_reserve(&b->zbuf, HDB_VARINT64_MAX + bound);
	if (rc)
		return rc;
	b->zbuf.len = hdb_put_varint(b->zbuf.data, c.len);

	z_stream *zs = &b->zs;
	if (!b->zs_ready) {
		if (deflateInit2(zs, b->opt.compression_level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		b->zs_ready = true;
	} else if (deflateReset(zs) != Z_OK) {
		return -EINVAL;
	}
	zs->next_in = (Bytef *)c.data;
	zs->avail_in = (uInt)c.len;
	zs->next_out = b->zbuf.data + b->zbuf.len;
	zs->avail_out = (uInt)bound;
	if (deflate(zs, Z_FINISH) != Z_STREAM_END)
		return 0; /* cannot happen with compressBound room; store it raw */
	b->zbuf.len += zs->total_out;
	*keep = b->zbuf.len <= c.len - c.len / 8;
	return 0;
}

/* Appends contents as one block with its trailer; *h locates it. */
static int write_block(hdb_sst_builder *b, hdb_slice c, bool may_compress, hdb_sst_handle *h)
{
	uint8_t type = HDB_SST_COMPRESS_NONE;
	hdb_slice stored = c;
	int rc;

	if (may_compress && b->opt.compression) {
		bool keep;
		rc = compress_block(b, c, &keep);
		if (rc)
			return rc;
		if (keep) {
			type = HDB_SST_COMPRESS_ZLIB;
			stored = hdb_slice_make(b->zbuf.data, b->zbuf.len);
		}
	}
	uint8_t trailer[HDB_SST_BLOCK_TRAILER_SIZE];
	trailer[0] = type;
	hdb_put_u32(trailer + 1, hdb_sst_block_crc(stored.data, stored.len, type));

	/* Big blocks go straight out rather than through a copy. */
	if (stored.len >= HDB_SST_WRITE_CHUNK) {
		rc = flush_out(b);
		if (!rc)
			rc = b->env->write(b->env, b->fd, stored.data, stored.len);
	} else {
		rc = hdb_buf_append(&b->out, stored.data, stored.len);
	}
	if (!rc)
		rc = hdb_buf_append(&b->out, trailer, sizeof(trailer));
	if (!rc && b->out.len >= HDB_SST_WRITE_CHUNK)
		rc = flush_out(b);
	if (rc)
		return rc;
	h->offset = b->offset;
	h->size = stored.len;
	b->offset += stored.len + HDB_SST_BLOCK_TRAILER_SIZE;
	return 0;
}

static int flush_data_block(hdb_sst_builder *b)
{
	hdb_slice c;
	int rc = hdb_block_builder_finish(b->data, &c);
	if (!rc)
		rc = write_block(b, c, true, &b->pending);
	if (rc)
		return rc;
	hdb_block_builder_reset(b->data);
	b->pending_index = true;
	return 0;
}

/*
 * Separator for the index: the shortest user key u with a < u < next (user
 * keys of the block's last key and the next block's first key), tagged to
 * sort before every real version of u; or the last key itself when the user
 * keys leave no room.  last <= separator < next in internal-key order.
 */
static int make_separator(hdb_buf *sep, const uint8_t *last, size_t ln, const uint8_t *next,
                          size_t nn)
{
	hdb_slice a = hdb_ikey_user(last, ln), n = hdb_ikey_user(next, nn);
	size_t i = 0, min = a.len < n.len ? a.len : n.len;
	sep->len = 0;
	while (i < min && a.data[i] == n.data[i])
		i++;
	if (i < min && a.data[i] < 0xff && a.data[i] + 1 < n.data[i] && i + 1 < a.len) {
		uint8_t c = (uint8_t)(a.data[i] + 1);
		int rc = hdb_buf_append(sep, a.data, i);
		if (!rc)
			rc = hdb_buf_append(sep, &c, 1);
		return rc ? rc : hdb_buf_append_u64(sep, hdb_tag(HDB_MAX_SEQ, HDB_TYPE_SEEK));
	}
	return hdb_buf_append(sep, last, ln);
}

static int add_index_entry(hdb_sst_builder *b, const uint8_t *next, size_t nn)
{
	hdb_buf sep = { 0 };
	uint8_t hv[HDB_SST_HANDLE_MAX];
	size_t hn = hdb_sst_handle_encode(hv, &b->pending);
	int rc;

	if (next)
		rc = make_separator(&sep, b->last_key.data, b->last_key.len, next, nn);
	else
		rc = hdb_buf_append(&sep, b->last_key.data, b->last_key.len);
	if (!rc)
		rc = hdb_block_builder_add(b->index, sep.data, sep.len, hv, hn);
	hdb_buf_free(&sep);
	if (!rc)
		b->pending_index = false;
	return rc;
}

static int add_hash(hdb_sst_builder *b, const uint8_t *ukey, size_t n)
{
	if (b->nhashes == b->caphashes) {
		size_t cap = b->caphashes ? b->caphashes * 2 : 1024;
		uint32_t *h = realloc(b->hashes, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		b->hashes = h;
		b->caphashes = cap;
	}
	b->hashes[b->nhashes++] = hdb_bloom_hash(ukey, n);
	return 0;
}

static int builder_add(hdb_sst_builder *b, const uint8_t *ikey, size_t klen, const uint8_t *val,
                       size_t vlen)
{
	int rc;

	if (b->pending_index) {
		rc = add_index_entry(b, ikey, klen);
		if (rc)
			return rc;
	}
	hdb_slice u = hdb_ikey_user(ikey, klen);
	bool new_user_key = !b->entries ||
	                    hdb_bytes_cmp(u.data, u.len, b->last_key.data, b->last_key.len - HDB_TAG_SIZE);
	if (b->opt.bloom_bits_per_key && new_user_key) {
		rc = add_hash(b, u.data, u.len);
		if (rc)
			return rc;
	}
	rc = hdb_block_builder_add(b->data, ikey, klen, val, vlen);
	if (rc)
		return rc;
	b->last_key.len = 0;
	rc = hdb_buf_append(&b->last_key, ikey, klen);
	if (rc)
		return rc;
	b->entries++;
	if (hdb_block_builder_size(b->data) >= b->opt.block_size)
		return flush_data_block(b);
	return 0;
}

int hdb_sst_builder_add(hdb_sst_builder *b, const uint8_t *ikey, size_t klen,
                        const uint8_t *val, size_t vlen)
{
	if (b->err)
		return b->err;
	if (b->fd < 0)
		return -EINVAL;
	if (klen < HDB_TAG_SIZE)
		return -EINVAL;
	assert(!b->entries || hdb_ikey_cmp(b->last_key.data, b->last_key.len, ikey, klen) < 0);
	b->err = builder_add(b, ikey, klen, val, vlen);
	return b->err;
}

uint64_t hdb_sst_builder_entries(const hdb_sst_builder *b)
{
	return b->entries;
}

uint64_t hdb_sst_builder_size(const hdb_sst_builder *b)
{
	uint64_t n = b->offset;
	if (!hdb_block_builder_empty(b->data))
		n += hdb_block_builder_size(b->data) + HDB_SST_BLOCK_TRAILER_SIZE;
	return n;
}

static int write_meta(hdb_sst_builder *b, hdb_sst_footer *f)
{
	hdb_buf filter = { 0 };
	hdb_slice c;
	int rc = 0;

	if (b->opt.bloom_bits_per_key) {
		rc = hdb_bloom_build(&filter, b->hashes, b->nhashes, b->opt.bloom_bits_per_key);
		if (!rc)
			rc = write_block(b, hdb_slice_make(filter.data, filter.len), false, &f->filter);
		hdb_buf_free(&filter);
		if (rc)
			return rc;
	}
	rc = hdb_block_builder_finish(b->index, &c);
	return rc ? rc : write_block(b, c, false, &f->index);
}

static int builder_finish(hdb_sst_builder *b)
{
	hdb_sst_footer f = { .entries = b->entries, .version = HDB_SST_VERSION };
	uint8_t foot[HDB_SST_FOOTER_SIZE];
	int rc = 0;

	if (!hdb_block_builder_empty(b->data))
		rc = flush_data_block(b);
	if (!rc && b->pending_index)
		rc = add_index_entry(b, NULL, 0);
	if (!rc)
		rc = write_meta(b, &f);
	if (rc)
		return rc;
	hdb_sst_footer_encode(foot, &f);
	rc = hdb_buf_append(&b->out, foot, sizeof(foot));
	if (!rc)
		rc = flush_out(b);
	if (!rc)
		rc = b->env->sync(b->env, b->fd);
	if (rc)
		return rc;
	b->offset += sizeof(foot);
	int fd = b->fd;
	b->fd = -1;
	return b->env->close(b->env, fd);
}

int hdb_sst_builder_finish(hdb_sst_builder *b, uint64_t *file_size)
{
	if (b->err)
		return b->err;
	if (b->fd < 0)
		return -EINVAL;
	b->err = builder_finish(b);
	if (!b->err && file_size)
		*file_size = b->offset;
	return b->err;
}
