/*
 * fuzz_sst.c — libFuzzer target for SSTable reading and checking
 * (engine/sst_reader.c, block.c, bloom.c, cache.c) and, in one mode, for
 * the builder (engine/sst_builder.c).
 *
 * Tables are read through mmap, so each run writes its bytes to one fixed
 * path in a per-process temporary directory (under $TMPDIR, default /tmp),
 * overwritten every run (the reader is closed before).  Input: one mode
 * byte, then the mode's bytes.
 *   mode % 3 == 0: the bytes are a table file;
 *   mode % 3 == 1: the same, after the harness has set the footer's magic
 *     and recomputed the footer CRC and every block trailer CRC it can
 *     locate (index, filter, and the data blocks the index names), so the
 *     fuzzer reaches the block and index parsers without forging CRCs;
 *   mode % 3 == 2: the bytes choose builder options and a list of entries
 *     (internal keys), written with hdb_sst_builder and read back.
 *
 * Checks, beyond "no crash, no out-of-bounds read" (ASan):
 *   - open and check fail only with HDB_ECORRUPT or HDB_EVERSION, and a
 *     table check accepts is one open accepts;
 *   - on a table check accepts, a full scan succeeds with the footer's
 *     entry count, and a point read of each key's newest version agrees
 *     with the scan or is "absent" (see check_get);
 *   - in the builder mode, everything comes back exactly: scan, a point
 *     read at every entry's own sequence number, seeks, and check = 0.
 *
 * Build: see tests/fuzz/meson.build or scripts/fuzz.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hybriddb.h"
#include "block.h"
#include "memtable.h"
#include "sst.h"
#include "sst_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];
static char path[320];
/* A new block cache per run: the file changes under the same number, and
 * blocks kept across runs would make libFuzzer see leaks (and run LSan). */
static hdb_cache *cache;
static hdb_env nosync_env;

static void remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

static int no_sync(hdb_env *env, int fd)
{
	return 0;
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dir[0])
		return;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/hdbfuzz-sst.XXXXXX", tmp) >= sizeof(dir))
		abort();
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/000007.sst", dir);
	atexit(remove_dir);
	/* The builder's fsync only costs time here. */
	nosync_env = *hdb_env_posix();
	nosync_env.sync = no_sync;
}

static void write_file(const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		abort();
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
	}
	if (close(fd))
		abort();
}

static void ignore_report(void *ctx, const char *file, uint64_t offset, const char *what)
{
	(*(int *)ctx)++;
	if (!file || !what)
		abort();
}

/* One table entry, owned. */
struct entry {
	uint8_t *key, *val;
	size_t klen, vlen;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static void push(struct entries *es, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn)
{
	if (es->n == es->cap) {
		es->cap = es->cap ? 2 * es->cap : 16;
		es->v = realloc(es->v, es->cap * sizeof(*es->v));
		if (!es->v)
			abort();
	}
	struct entry *e = &es->v[es->n++];
	e->key = malloc(kn ? kn : 1);
	e->val = malloc(vn ? vn : 1);
	if (!e->key || !e->val)
		abort();
	if (kn)
		memcpy(e->key, k, kn);
	if (vn)
		memcpy(e->val, v, vn);
	e->klen = kn;
	e->vlen = vn;
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		free(es->v[i].key);
		free(es->v[i].val);
	}
	free(es->v);
	memset(es, 0, sizeof(*es));
}

/* Scans the whole table; returns the iterator's status. */
static int scan(hdb_sst_reader *r, bool fill_cache, struct entries *out)
{
	hdb_iiter *it = hdb_sst_iter_new(r, fill_cache);

	if (!it)
		abort();
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it)) {
		hdb_slice k = hdb_iiter_key(it), v = hdb_iiter_value(it);
		push(out, k.data, k.len, v.data, v.len);
	}
	int st = hdb_iiter_status(it);
	/* Seeks to keys met must not misbehave, whatever the table holds. */
	for (size_t i = 0; i < out->n; i += 1 + out->n / 3) {
		hdb_iiter_seek(it, out->v[i].key, out->v[i].klen);
		if (hdb_iiter_valid(it))
			(void)hdb_iiter_value(it);
	}
	hdb_iiter_destroy(it);
	return st;
}

/* What a point read of entry i's user key at seq must answer, from the
 * sorted, verified entries: the first version of that key at or below seq. */
static const struct entry *expected(const struct entries *es, size_t i, uint64_t seq)
{
	const struct entry *e = &es->v[i];
	hdb_slice u = hdb_ikey_user(e->key, e->klen);

	while (i > 0) {
		hdb_slice p = hdb_ikey_user(es->v[i - 1].key, es->v[i - 1].klen);
		if (hdb_bytes_cmp(p.data, p.len, u.data, u.len))
			break;
		i--;
	}
	for (; i < es->n; i++) {
		hdb_slice p = hdb_ikey_user(es->v[i].key, es->v[i].klen);
		if (hdb_bytes_cmp(p.data, p.len, u.data, u.len))
			return NULL;
		if (hdb_ikey_seq(es->v[i].key, es->v[i].klen) <= seq)
			return &es->v[i];
	}
	return NULL;
}

/* Point read of entry i's user key at seq against the scan.  For a table
 * the builder wrote the answer must be exact; for any other table that
 * check accepts, "absent" is allowed (a Bloom negative, or an index
 * separator that is valid by the format yet not one the builder makes)
 * but any other answer must be the right one: never wrong bytes. */
static void check_get(hdb_sst_reader *r, const struct entries *es, size_t i, uint64_t seq,
		      bool exact)
{
	const struct entry *want = expected(es, i, seq);
	hdb_slice u = hdb_ikey_user(es->v[i].key, es->v[i].klen);
	void *val = NULL;
	size_t vlen = 0;
	int rc = hdb_sst_get(r, u.data, u.len, seq, &val, &vlen, true, NULL);

	if (rc == HDB_LOOKUP_ABSENT && !exact) {
		return;
	} else if (!want) {
		if (rc != HDB_LOOKUP_ABSENT)
			abort();
	} else if (hdb_ikey_type(want->key, want->klen) == HDB_TYPE_DELETE) {
		if (rc != HDB_LOOKUP_DELETED)
			abort();
	} else if (hdb_ikey_type(want->key, want->klen) == HDB_TYPE_VALUE) {
		if (rc != HDB_LOOKUP_FOUND || hdb_bytes_cmp(val, vlen, want->val, want->vlen))
			abort();
	} else if (rc != HDB_ECORRUPT) {
		abort(); /* an unknown type byte is corruption */
	}
	free(val);
}

/*
 * Modes 0 and 1: a table file from the input.
 */

static void fix_trailer(uint8_t *p, size_t n, const hdb_sst_handle *h)
{
	uint64_t end = n - HDB_SST_FOOTER_SIZE;

	if (h->offset > end || h->size > end - h->offset ||
	    HDB_SST_BLOCK_TRAILER_SIZE > end - h->offset - h->size)
		return;
	uint8_t *t = p + h->offset + h->size;
	hdb_put_u32(t + 1, hdb_sst_block_crc(p + h->offset, (size_t)h->size, t[0]));
}

/* Makes every checksum the harness can locate match. */
static void fix_crcs(uint8_t *p, size_t n)
{
	hdb_sst_footer f;

	if (n < HDB_SST_FOOTER_SIZE)
		return;
	uint8_t *foot = p + n - HDB_SST_FOOTER_SIZE;
	hdb_put_u64(foot + HDB_SST_FOOTER_MAGIC_OFF, HDB_SST_MAGIC);
	hdb_put_u32(foot + HDB_SST_FOOTER_CRC_OFF, hdb_crc32(foot, HDB_SST_FOOTER_CRC_OFF));
	hdb_sst_footer_decode(foot, &f);

	uint64_t end = n - HDB_SST_FOOTER_SIZE;
	if (f.index.offset <= end && f.index.size <= end - f.index.offset) {
		/* Walk a copy: fixing a data block may write into the index. */
		uint8_t *ix = malloc(f.index.size ? (size_t)f.index.size : 1);
		if (!ix)
			abort();
		memcpy(ix, p + f.index.offset, (size_t)f.index.size);
		hdb_iiter *it = hdb_block_iter_new(ix, (size_t)f.index.size, hdb_ikey_cmp_fn, NULL, NULL,
						   NULL, 0);
		if (!it)
			abort();
		for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it)) {
			hdb_sst_handle h;
			if (hdb_sst_handle_decode(hdb_iiter_value(it), &h))
				fix_trailer(p, n, &h);
		}
		hdb_iiter_destroy(it);
		free(ix);
	}
	if (f.filter.offset || f.filter.size)
		fix_trailer(p, n, &f.filter);
	fix_trailer(p, n, &f.index);
}

static void fuzz_file(const uint8_t *p, size_t n)
{
	hdb_sst_reader *r = NULL;
	struct entries es = { 0 };
	int problems = 0;

	write_file(p, n);
	int crc = hdb_sst_check(path, ignore_report, &problems);
	if (crc && crc != HDB_ECORRUPT && crc != HDB_EVERSION && crc != -ENOMEM)
		abort();
	if ((crc == 0 && problems) || (crc == HDB_ECORRUPT && !problems))
		abort();
	int orc = hdb_sst_open(path, 7, cache, &r);
	if (orc) {
		if (orc != HDB_ECORRUPT && orc != HDB_EVERSION && orc != -ENOMEM)
			abort();
		if (!crc)
			abort(); /* check passed a table open refuses */
		return;
	}
	if (hdb_sst_file_size(r) != n)
		abort();
	int st = scan(r, true, &es);
	if (st && st != HDB_ECORRUPT && st != -ENOMEM)
		abort();
	if (!crc) {
		/* A verified table: the scan is whole and sorted. */
		if (st || es.n != hdb_sst_entries(r))
			abort();
		for (size_t i = 0; i < es.n; i += 1 + es.n / 4)
			check_get(r, &es, i, HDB_MAX_SEQ, false);
	} else {
		for (size_t i = 0; i < es.n && i < 3; i++) {
			void *val = NULL;
			size_t vlen;
			if (es.v[i].klen < HDB_TAG_SIZE)
				continue;
			hdb_slice u = hdb_ikey_user(es.v[i].key, es.v[i].klen);
			if (hdb_sst_get(r, u.data, u.len, HDB_MAX_SEQ, &val, &vlen, false, NULL) ==
			    HDB_LOOKUP_FOUND)
				free(val);
		}
	}
	entries_free(&es);
	hdb_sst_unref(r);
}

/*
 * Mode 2: build a table, read it back.
 */

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return hdb_ikey_cmp(x->key, x->klen, y->key, y->klen);
}

/* Entries from the input: user key, then a tag cut from the key's last
 * bytes (types 0 and 1 only), then a value; sorted, duplicates dropped. */
static void parse_entries(const uint8_t *p, size_t n, struct entries *es)
{
	while (n >= 2) {
		size_t ulen = p[0] % 24, vlen = p[1] % 64;
		uint8_t k[24 + HDB_TAG_SIZE] = { 0 };
		p += 2;
		n -= 2;
		if (ulen + vlen > n)
			break;
		memcpy(k, p, ulen);
		uint64_t seq = ulen >= 2 ? (uint64_t)p[ulen - 1] << 8 | p[ulen - 2] : 0;
		hdb_put_u64(k + ulen, hdb_tag(seq >> 1, (enum hdb_vtype)(seq & 1)));
		push(es, k, ulen + HDB_TAG_SIZE, p + ulen, vlen);
		p += ulen + vlen;
		n -= ulen + vlen;
	}
	if (!es->n)
		return;
	qsort(es->v, es->n, sizeof(*es->v), cmp_entry);
	size_t w = 1;
	for (size_t i = 1; i < es->n; i++) {
		if (cmp_entry(&es->v[w - 1], &es->v[i]) == 0) {
			free(es->v[i].key);
			free(es->v[i].val);
			continue;
		}
		es->v[w++] = es->v[i];
	}
	es->n = w;
}

static void build(const hdb_sst_options *o, const struct entries *es)
{
	hdb_sst_builder *b;
	uint64_t size = 0;

	if (unlink(path) && errno != ENOENT)
		abort();
	if (hdb_sst_builder_new(&nosync_env, path, o, &b))
		abort();
	for (size_t i = 0; i < es->n; i++)
		if (hdb_sst_builder_add(b, es->v[i].key, es->v[i].klen, es->v[i].val, es->v[i].vlen))
			abort();
	if (hdb_sst_builder_entries(b) != es->n || hdb_sst_builder_finish(b, &size))
		abort();
	hdb_sst_builder_free(b);
}

static void same_entries(const struct entries *a, const struct entries *b)
{
	if (a->n != b->n)
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (hdb_bytes_cmp(a->v[i].key, a->v[i].klen, b->v[i].key, b->v[i].klen) ||
		    hdb_bytes_cmp(a->v[i].val, a->v[i].vlen, b->v[i].val, b->v[i].vlen))
			abort();
}

static void check_seeks(hdb_sst_reader *r, const struct entries *es)
{
	hdb_iiter *it = hdb_sst_iter_new(r, false);

	if (!it)
		abort();
	for (size_t i = 0; i < es->n; i++) {
		/* Just before entry i in internal order (tag + 1): lands on entry
		 * i, or on entry i - 1 when that is exactly the target. */
		uint8_t t[24 + HDB_TAG_SIZE];
		const struct entry *e = &es->v[i], *want = e;
		memcpy(t, e->key, e->klen);
		hdb_put_u64(t + e->klen - HDB_TAG_SIZE, hdb_ikey_tag(e->key, e->klen) + 1);
		if (i && !hdb_ikey_cmp(es->v[i - 1].key, es->v[i - 1].klen, t, e->klen))
			want = &es->v[i - 1];
		hdb_iiter_seek(it, t, e->klen);
		if (!hdb_iiter_valid(it))
			abort();
		hdb_slice k = hdb_iiter_key(it);
		if (hdb_bytes_cmp(k.data, k.len, want->key, want->klen))
			abort();
	}
	hdb_iiter_destroy(it);
}

static void fuzz_build(const uint8_t *p, size_t n)
{
	struct entries es = { 0 }, got = { 0 }, again = { 0 };
	hdb_sst_options o = { 0 };
	hdb_sst_reader *r;
	int problems = 0;

	if (n < 3)
		return;
	o.block_size = 64 + (size_t)p[0] * 8;
	o.restart_interval = 1 + p[1] % 16;
	o.compression = p[2] & 1;
	o.compression_level = 1 + (p[2] >> 1) % 9;
	o.bloom_bits_per_key = (p[2] >> 4) % 16;
	parse_entries(p + 3, n - 3, &es);
	build(&o, &es);

	if (hdb_sst_check(path, ignore_report, &problems) || problems)
		abort();
	if (hdb_sst_open(path, 7, cache, &r))
		abort();
	if (hdb_sst_entries(r) != es.n)
		abort();
	/* Twice through the cache: filled, then hit. */
	if (scan(r, true, &got) || scan(r, true, &again))
		abort();
	same_entries(&es, &got);
	same_entries(&es, &again);
	for (size_t i = 0; i < es.n; i++) {
		check_get(r, &es, i, HDB_MAX_SEQ, true);
		check_get(r, &es, i, hdb_ikey_seq(es.v[i].key, es.v[i].klen), true);
	}
	check_seeks(r, &es);
	hdb_sst_unref(r);
	entries_free(&es);
	entries_free(&got);
	entries_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	setup();
	cache = hdb_cache_new(256 * 1024);
	if (!cache)
		abort();
	switch (data[0] % 3) {
	case 0:
		fuzz_file(data + 1, size - 1);
		break;
	case 1: {
		uint8_t *copy = malloc(size);
		if (!copy)
			abort();
		memcpy(copy, data + 1, size - 1);
		fix_crcs(copy, size - 1);
		fuzz_file(copy, size - 1);
		free(copy);
		break;
	}
	default:
		fuzz_build(data + 1, size - 1);
		break;
	}
	hdb_cache_free(cache);
	return 0;
}
