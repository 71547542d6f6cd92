/*
 * jsonl.c — JSON Lines import parsing and export lines (see jsonl.h).
 */
#include "jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "jwalk.h"

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_id_key(const uint8_t *k, size_t kl)
{
	if (kl == 5)
		return !memcmp(k, "\"_id\"", 5);
	if (kl > 5 && kl <= 32 && hdb_jw_has_escape(k, kl)) {
		uint8_t tmp[32];
		size_t n = hdb_jw_unescape(k, kl, tmp);
		return n == 3 && !memcmp(tmp, "_id", 3);
	}
	return false;
}

static bool is_integer(const uint8_t *p, size_t n)
{
	size_t i = n && p[0] == '-';
	if (i == n)
		return false;
	for (; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* Why the _id value v cannot name a document, or NULL. */
static const char *bad_id(const uint8_t *v, size_t vl)
{
	if (v[0] == '"') {
		uint8_t *tmp = malloc(vl);
		if (!tmp)
			return "out of memory";
		size_t n = hdb_jw_unescape(v, vl, tmp);
		const char *why = !n ? "_id is empty"
		                  : n > HDB_JSONL_ID_MAX ? "_id is longer than 250 bytes"
		                  : memchr(tmp, '/', n) ? "_id holds '/'"
		                  : memchr(tmp, 0, n) ? "_id holds a NUL character" : NULL;
		free(tmp);
		return why;
	}
	if (!is_integer(v, vl))
		return "_id must be a string or an integer";
	return vl > HDB_JSONL_ID_MAX ? "_id is longer than 250 bytes" : NULL;
}

static int line_error(hdb_jsonl_error *err, size_t line, size_t offset, const char *reason)
{
	if (err)
		*err = (hdb_jsonl_error){ .line = line, .offset = offset, .reason = reason };
	return -EINVAL;
}

/* Fills r from the object buf[s..e) on line `line`. */
static int read_object(const uint8_t *buf, size_t s, size_t e, size_t line, hdb_jsonl_rec *r, hdb_jsonl_error *err)
{
	hdb_json_error je;
	if (hdb_json_validate(buf + s, e - s, &je))
		return line_error(err, line, s + je.offset, je.reason ? je.reason : "invalid JSON");
	if (buf[s] != '{')
		return line_error(err, line, s, "not a JSON object");
	*r = (hdb_jsonl_rec){ .obj = buf + s, .len = e - s, .line = line, .offset = s };
	hdb_jw_iter it;
	const uint8_t *k, *v;
	size_t kl, vl;
	hdb_jw_iter_init(&it, buf + s, e - s);
	while (hdb_jw_iter_next(&it, &k, &kl, &v, &vl)) {
		if (!is_id_key(k, kl))
			continue;
		r->id = v;
		r->idlen = vl;
		r->nids++;
	}
	const char *why = r->id ? bad_id(r->id, r->idlen) : NULL;
	if (why)
		return line_error(err, line, (size_t)(r->id - buf), why);
	return 0;
}

int hdb_jsonl_next(const uint8_t *buf, size_t n, size_t *pos, size_t *line, hdb_jsonl_rec *r, hdb_jsonl_error *err)
{
	while (*pos < n) {
		size_t start = *pos;
		const uint8_t *nl = memchr(buf + start, '\n', n - start);
		size_t end = nl ? (size_t)(nl - buf) : n;
		*pos = nl ? end + 1 : n;
		(*line)++;
		size_t s = start, e = end;
		while (s < e && is_ws(buf[s]))
			s++;
		while (e > s && is_ws(buf[e - 1]))
			e--;
		if (s == e)
			continue;
		int rc = read_object(buf, s, e, *line, r, err);
		return rc ? rc : 1;
	}
	return 0;
}

size_t hdb_jsonl_id(const hdb_jsonl_rec *r, char *id)
{
	if (!r->id)
		return 0;
	if (r->id[0] != '"') {
		memcpy(id, r->id, r->idlen);
		return r->idlen;
	}
	if (!hdb_jw_has_escape(r->id, r->idlen)) {
		memcpy(id, r->id + 1, r->idlen - 2);
		return r->idlen - 2;
	}
	/* Decoding never grows and the decoded id was checked to fit, but
	 * the raw text may be longer than id's room: go through a copy. */
	uint8_t tmp[6 * HDB_JSONL_ID_MAX + 2];
	if (r->idlen > sizeof(tmp))
		return 0;
	size_t n = hdb_jw_unescape(r->id, r->idlen, tmp);
	memcpy(id, tmp, n);
	return n;
}

size_t hdb_jsonl_body(const hdb_jsonl_rec *r, uint8_t *out)
{
	size_t len = 0;
	if (!r->nids) {
		memcpy(out, r->obj, r->len);
		len = r->len;
	} else {
		hdb_jw_iter it;
		const uint8_t *k, *v;
		size_t kl, vl;
		out[len++] = '{';
		hdb_jw_iter_init(&it, r->obj, r->len);
		while (hdb_jw_iter_next(&it, &k, &kl, &v, &vl)) {
			if (is_id_key(k, kl))
				continue;
			if (len > 1)
				out[len++] = ',';
			size_t m = (size_t)(v + vl - k);
			memcpy(out + len, k, m);
			len += m;
		}
		out[len++] = '}';
	}
	out[len++] = '\n';
	return len;
}

void hdb_jsonl_gen_id(char *out)
{
	static atomic_uint_fast64_t counter;
	static atomic_uint_fast64_t rnd;
	uint64_t r = atomic_load(&rnd);
	if (!r) {
		uint64_t seed = 0;
		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			seed = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u ^ (uint64_t)getpid();
		}
		seed |= 1;
		uint_fast64_t expected = 0;
		atomic_compare_exchange_strong(&rnd, &expected, seed);
		atomic_store(&counter, (seed >> 40) & 0xFFFFFF);
		r = atomic_load(&rnd);
	}
	uint64_t c = atomic_fetch_add(&counter, 1);
	snprintf(out, 25, "%08llx%010llx%06llx", (unsigned long long)(time(NULL) & 0xFFFFFFFF),
	         (unsigned long long)(r & 0xFFFFFFFFFFull), (unsigned long long)(c & 0xFFFFFF));
}

static int reserve(hdb_wbuf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < extra)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

static void put(hdb_wbuf *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void put_id(hdb_wbuf *b, const char *id, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c == '"' || c == '\\') {
			b->data[b->len++] = '\\';
			b->data[b->len++] = c;
		} else if (c < 0x20) {
			put(b, "\\u00", 4);
			b->data[b->len++] = (uint8_t)hex[c >> 4];
			b->data[b->len++] = (uint8_t)hex[c & 15];
		} else {
			b->data[b->len++] = c;
		}
	}
}

int hdb_jsonl_export_line(const char *id, size_t idlen, const uint8_t *doc, size_t dlen, hdb_wbuf *out)
{
	const uint8_t *p = doc ? hdb_jw_skip_ws(doc, doc + dlen) : NULL;
	if (!p || p == doc + dlen || *p != '{')
		return 0;
	size_t olen = (size_t)(doc + dlen - p);
	if (reserve(out, 6 * idlen + olen + 16))
		return -ENOMEM;
	put(out, "{\"_id\":\"", 8);
	put_id(out, id, idlen);
	out->data[out->len++] = '"';
	hdb_jw_iter it;
	const uint8_t *k, *v;
	size_t kl, vl;
	hdb_jw_iter_init(&it, p, olen);
	while (hdb_jw_iter_next(&it, &k, &kl, &v, &vl)) {
		if (is_id_key(k, kl))
			continue;
		out->data[out->len++] = ',';
		put(out, k, kl);
		out->data[out->len++] = ':';
		out->len += hdb_jw_minify(v, vl, out->data + out->len);
	}
	put(out, "}\n", 2);
	return 1;
}
