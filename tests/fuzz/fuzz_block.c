/*
 * fuzz_block.c — libFuzzer target for the block iterator (engine/block.c).
 *
 * Input: one mode byte, then the mode's bytes.
 *   mode even: the bytes are block contents (sst_format.h), iterated with
 *     hdb_ikey_cmp_fn: seek_first/next through every entry, then seeks to
 *     the keys met and to keys cut from the input.  The harness also parses
 *     the block itself; when it is well formed (entries tile the area
 *     before the restart array, restart points are ascending entry starts
 *     with no shared prefix, keys strictly increase), every seek must land
 *     on the first entry >= its target.
 *   mode odd: the bytes are a list of entries (u8 key length, u8 value
 *     length, key, value; keys padded to internal keys), sorted and built
 *     into a block with hdb_block_builder (restart interval from the next
 *     byte), then read back: every entry must come back exactly, and seeks
 *     must land where a linear search says.
 *
 * A malformed block may only end iteration with HDB_ECORRUPT; every key
 * and value handed out must lie inside what the block can describe.
 *
 * Build: see tests/fuzz/meson.build or scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "hybriddb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct entry {
	const uint8_t *key, *val;
	size_t klen, vlen;
	uint8_t *owned; /* key copy when key does not point into stable bytes */
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static void push(struct entries *es, struct entry e)
{
	if (es->n == es->cap) {
		es->cap = es->cap ? 2 * es->cap : 16;
		es->v = realloc(es->v, es->cap * sizeof(*es->v));
		if (!es->v)
			abort();
	}
	es->v[es->n++] = e;
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		free(es->v[i].owned);
	free(es->v);
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return hdb_ikey_cmp(x->key, x->klen, y->key, y->klen);
}

static void release_count(void *ctx)
{
	(*(int *)ctx)++;
}

/* Index of the first entry >= target, by linear search. */
static size_t lower_bound(const struct entries *es, const uint8_t *t, size_t tn)
{
	size_t i = 0;

	while (i < es->n && hdb_ikey_cmp(es->v[i].key, es->v[i].klen, t, tn) < 0)
		i++;
	return i;
}

/* Seeks t and checks the landing against the entries, which are known to
 * be exactly the block's, sorted. */
static void check_seek(hdb_iiter *it, const struct entries *es, const uint8_t *t, size_t tn)
{
	size_t want = lower_bound(es, t, tn);

	hdb_iiter_seek(it, t, tn);
	if (hdb_iiter_status(it))
		abort();
	if (want == es->n) {
		if (hdb_iiter_valid(it))
			abort();
		return;
	}
	if (!hdb_iiter_valid(it))
		abort();
	hdb_slice k = hdb_iiter_key(it), v = hdb_iiter_value(it);
	const struct entry *e = &es->v[want];
	if (hdb_bytes_cmp(k.data, k.len, e->key, e->klen) || hdb_bytes_cmp(v.data, v.len, e->val, e->vlen))
		abort();
}

/*
 * Mode even: hostile block contents.
 */

/* The harness's own parse of the block; true when it is well formed. */
static bool reference_parse(const uint8_t *b, size_t n, struct entries *es)
{
	if (n < 4)
		return false;
	uint32_t nr = hdb_get_u32(b + n - 4);
	if (nr > (n - 4) / 4)
		return false;
	size_t limit = n - 4 - 4 * (size_t)nr, at = 0, r = 0;
	if (nr == 0)
		return limit == 0;
	hdb_buf key = { 0 };
	bool ok = true;
	while (ok && at < limit) {
		const uint8_t *p = b + at, *end = b + limit;
		uint64_t shared, unshared, vlen;
		bool restart = r < nr && hdb_get_u32(b + limit + 4 * r) == at;
		if (restart)
			r++;
		ok = hdb_get_varint(&p, end, &shared) && hdb_get_varint(&p, end, &unshared) &&
		     hdb_get_varint(&p, end, &vlen) && unshared <= (uint64_t)(end - p) &&
		     vlen <= (uint64_t)(end - p) - unshared && shared <= key.len &&
		     (!restart || shared == 0) && (at > 0 || restart);
		if (!ok)
			break;
		key.len = (size_t)shared;
		if (hdb_buf_append(&key, p, (size_t)unshared))
			abort();
		struct entry e = { .klen = key.len, .val = p + unshared, .vlen = (size_t)vlen };
		e.owned = dup_bytes(key.data, key.len);
		e.key = e.owned;
		if (es->n && hdb_ikey_cmp(es->v[es->n - 1].key, es->v[es->n - 1].klen, e.key, e.klen) >= 0)
			ok = false;
		if (e.klen < HDB_TAG_SIZE)
			ok = false; /* the comparator is only a total order on internal keys */
		push(es, e);
		at = (size_t)(p + unshared + vlen - b);
	}
	hdb_buf_free(&key);
	return ok && at == limit && r == nr;
}

static void check_kv(hdb_iiter *it, const uint8_t *b, size_t n)
{
	hdb_slice k = hdb_iiter_key(it), v = hdb_iiter_value(it);

	if (k.len > n || (k.len && !k.data))
		abort();
	if (v.len && (v.data < b || v.len > n || (size_t)(v.data - b) > n - v.len))
		abort();
}

static void fuzz_raw(const uint8_t *b, size_t n)
{
	struct entries scan = { 0 }, ref = { 0 };
	int released = 0;
	hdb_iiter *it = hdb_block_iter_new(b, n, hdb_ikey_cmp_fn, release_count, &released, "fuzz", 0);

	if (!it)
		abort();
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it)) {
		check_kv(it, b, n);
		if (scan.n > n)
			abort(); /* every entry takes at least 3 bytes: a loop */
		hdb_slice k = hdb_iiter_key(it), v = hdb_iiter_value(it);
		struct entry e = { .klen = k.len, .val = v.data, .vlen = v.len };
		e.owned = dup_bytes(k.data, k.len);
		e.key = e.owned;
		push(&scan, e);
	}
	int st = hdb_iiter_status(it);
	if (st && st != HDB_ECORRUPT)
		abort();

	bool wellformed = reference_parse(b, n, &ref);
	if (wellformed) {
		if (st || ref.n != scan.n)
			abort();
		for (size_t i = 0; i < ref.n; i++)
			if (hdb_bytes_cmp(ref.v[i].key, ref.v[i].klen, scan.v[i].key, scan.v[i].klen) ||
			    ref.v[i].val != scan.v[i].val || ref.v[i].vlen != scan.v[i].vlen)
				abort();
	}

	/* Seek to keys met, and to keys cut from the input. */
	const struct entries *keys = wellformed ? &ref : &scan;
	for (size_t i = 0; i < keys->n; i += 1 + keys->n / 4) {
		const struct entry *e = &keys->v[i];
		if (wellformed) {
			check_seek(it, &ref, e->key, e->klen);
			continue;
		}
		hdb_iiter_seek(it, e->key, e->klen);
		if (hdb_iiter_valid(it))
			check_kv(it, b, n);
	}
	for (size_t len = 0; len <= 16 && len <= n; len += 8) {
		const uint8_t *t = b + (n - len) / 2;
		if (wellformed && len >= HDB_TAG_SIZE) {
			check_seek(it, &ref, t, len);
			continue;
		}
		hdb_iiter_seek(it, t, len);
		if (hdb_iiter_valid(it))
			check_kv(it, b, n);
	}
	hdb_iiter_destroy(it);
	if (released != 1)
		abort();
	entries_free(&scan);
	entries_free(&ref);
}

/*
 * Mode odd: build, then read back.
 */

/* Entries described by the input: keys padded or cut to internal keys. */
static void parse_entries(const uint8_t *p, size_t n, struct entries *es)
{
	while (n >= 2) {
		size_t klen = p[0] % 24, vlen = p[1] % 32;
		p += 2;
		n -= 2;
		if (klen + vlen > n)
			break;
		uint8_t *k = calloc(1, klen + HDB_TAG_SIZE);
		if (!k)
			abort();
		memcpy(k, p, klen);
		struct entry e = { .key = k, .klen = klen + HDB_TAG_SIZE, .val = p + klen, .vlen = vlen,
				   .owned = k };
		/* The last key bytes double as the tag, so versions vary. */
		if (klen >= 2)
			memcpy(k + klen, p + klen - 2, 2);
		push(es, e);
		p += klen + vlen;
		n -= klen + vlen;
	}
	if (!es->n)
		return;
	qsort(es->v, es->n, sizeof(*es->v), cmp_entry);
	size_t w = 1;
	for (size_t i = 1; i < es->n; i++) {
		if (cmp_entry(&es->v[w - 1], &es->v[i]) == 0) {
			free(es->v[i].owned);
			continue;
		}
		es->v[w++] = es->v[i];
	}
	es->n = w;
}

static void fuzz_roundtrip(const uint8_t *p, size_t n)
{
	struct entries es = { 0 };
	hdb_slice out;

	if (n < 1)
		return;
	hdb_block_builder *bb = hdb_block_builder_new(1 + p[0] % 16);
	if (!bb)
		abort();
	parse_entries(p + 1, n - 1, &es);
	for (size_t i = 0; i < es.n; i++)
		if (hdb_block_builder_add(bb, es.v[i].key, es.v[i].klen, es.v[i].val, es.v[i].vlen))
			abort();
	size_t est = hdb_block_builder_size(bb);
	if (hdb_block_builder_empty(bb) != (es.n == 0) || hdb_block_builder_finish(bb, &out))
		abort();
	if (out.len != est)
		abort();

	hdb_iiter *it = hdb_block_iter_new(out.data, out.len, hdb_ikey_cmp_fn, NULL, NULL, NULL, 0);
	if (!it)
		abort();
	size_t i = 0;
	for (hdb_iiter_seek_first(it); hdb_iiter_valid(it); hdb_iiter_next(it), i++) {
		hdb_slice k = hdb_iiter_key(it), v = hdb_iiter_value(it);
		if (i >= es.n || hdb_bytes_cmp(k.data, k.len, es.v[i].key, es.v[i].klen) ||
		    hdb_bytes_cmp(v.data, v.len, es.v[i].val, es.v[i].vlen))
			abort();
	}
	if (i != es.n || hdb_iiter_status(it))
		abort();
	for (i = 0; i < es.n; i++) {
		const struct entry *e = &es.v[i];
		uint8_t t[32 + HDB_TAG_SIZE];
		check_seek(it, &es, e->key, e->klen);
		/* Just past and just before this key's version. */
		memcpy(t, e->key, e->klen);
		hdb_put_u64(t + e->klen - HDB_TAG_SIZE, hdb_ikey_tag(e->key, e->klen) - 1);
		check_seek(it, &es, t, e->klen);
		hdb_put_u64(t + e->klen - HDB_TAG_SIZE, hdb_ikey_tag(e->key, e->klen) + 1);
		check_seek(it, &es, t, e->klen);
	}
	hdb_iiter_destroy(it);
	hdb_block_builder_free(bb);
	entries_free(&es);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_roundtrip(data + 1, size - 1);
	else
		fuzz_raw(data + 1, size - 1);
	return 0;
}
