/*
 * jwalk.c — walking validated JSON text (see jwalk.h).
 */
#include "jwalk.h"

#include <string.h>

static inline bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

const uint8_t *hdb_jw_skip_ws(const uint8_t *p, const uint8_t *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

/* p at an opening quote: past the closing one.  A quote ends the string
 * unless an odd run of backslashes precedes it. */
static const uint8_t *string_end(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *q = p + 1;
	while (q < end) {
		const uint8_t *hit = memchr(q, '"', (size_t)(end - q));
		if (!hit)
			return end;
		size_t bs = 0;
		while (hit - bs > p + 1 && hit[-1 - (ptrdiff_t)bs] == '\\')
			bs++;
		if (!(bs & 1))
			return hit + 1;
		q = hit + 1;
	}
	return end;
}

static const uint8_t *container_end(const uint8_t *p, const uint8_t *end)
{
	size_t depth = 0;
	while (p < end) {
		uint8_t c = *p;
		if (c == '"') {
			p = string_end(p, end);
			continue;
		}
		if (c == '[' || c == '{') {
			depth++;
		} else if (c == ']' || c == '}') {
			if (--depth == 0)
				return p + 1;
		}
		p++;
	}
	return end;
}

const uint8_t *hdb_jw_value_end(const uint8_t *p, const uint8_t *end)
{
	if (p >= end)
		return end;
	if (*p == '"')
		return string_end(p, end);
	if (*p == '[' || *p == '{')
		return container_end(p, end);
	while (p < end && !is_ws(*p) && *p != ',' && *p != ']' && *p != '}' && *p != ':')
		p++;
	return p;
}

void hdb_jw_iter_init(hdb_jw_iter *it, const uint8_t *raw, size_t n)
{
	it->p = raw + (n ? 1 : 0);
	it->end = raw + n;
	it->object = n && raw[0] == '{';
	it->done = !n;
}

bool hdb_jw_iter_next(hdb_jw_iter *it, const uint8_t **key, size_t *klen, const uint8_t **val, size_t *vlen)
{
	if (it->done)
		return false;
	const uint8_t *p = hdb_jw_skip_ws(it->p, it->end);
	if (p < it->end && *p == ',')
		p = hdb_jw_skip_ws(p + 1, it->end);
	if (p >= it->end || *p == ']' || *p == '}') {
		it->done = true;
		return false;
	}
	if (it->object) {
		const uint8_t *ke = string_end(p, it->end);
		if (key) {
			*key = p;
			*klen = (size_t)(ke - p);
		}
		p = hdb_jw_skip_ws(ke, it->end);
		if (p < it->end && *p == ':')
			p++;
		p = hdb_jw_skip_ws(p, it->end);
	}
	const uint8_t *ve = hdb_jw_value_end(p, it->end);
	if (ve == p) {
		it->done = true; /* broken input: stop rather than loop */
		return false;
	}
	*val = p;
	*vlen = (size_t)(ve - p);
	it->p = ve;
	return true;
}

static int hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at p (p + 4 <= end), or -1. */
static long hex4(const uint8_t *p, const uint8_t *end)
{
	if (end - p < 4)
		return -1;
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hex(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t put_utf8(uint8_t *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | (cp >> 6));
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | (cp >> 12));
		out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | (cp >> 18));
	out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* p just past "\u": decodes one code point (a surrogate pair counts as
 * one), advancing *pp past what it used. */
static unsigned long decode_u(const uint8_t **pp, const uint8_t *end)
{
	const uint8_t *p = *pp;
	long hi = hex4(p, end);
	if (hi < 0) {
		*pp = end;
		return 0xFFFD;
	}
	p += 4;
	unsigned long cp = (unsigned long)hi;
	if (hi >= 0xD800 && hi <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
		long lo = hex4(p + 2, end);
		if (lo >= 0xDC00 && lo <= 0xDFFF) {
			cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
			p += 6;
		}
	}
	if (cp >= 0xD800 && cp <= 0xDFFF)
		cp = 0xFFFD;
	*pp = p;
	return cp;
}

size_t hdb_jw_unescape(const uint8_t *raw, size_t n, uint8_t *out)
{
	if (n < 2)
		return 0;
	const uint8_t *p = raw + 1, *end = raw + n - 1;
	size_t len = 0;
	while (p < end) {
		const uint8_t *bs = memchr(p, '\\', (size_t)(end - p));
		size_t run = (size_t)((bs ? bs : end) - p);
		memcpy(out + len, p, run);
		len += run;
		if (!bs)
			break;
		p = bs + 1;
		if (p >= end)
			break;
		uint8_t c = *p++;
		switch (c) {
		case 'b': out[len++] = '\b'; break;
		case 'f': out[len++] = '\f'; break;
		case 'n': out[len++] = '\n'; break;
		case 'r': out[len++] = '\r'; break;
		case 't': out[len++] = '\t'; break;
		case 'u': len += put_utf8(out + len, decode_u(&p, end)); break;
		default: out[len++] = c; break; /* \" \\ \/ */
		}
	}
	return len;
}

bool hdb_jw_has_escape(const uint8_t *raw, size_t n)
{
	return memchr(raw, '\\', n) != NULL;
}

size_t hdb_jw_minify(const uint8_t *p, size_t n, uint8_t *out)
{
	const uint8_t *end = p + n;
	size_t len = 0;
	while (p < end) {
		if (*p == '"') {
			const uint8_t *e = string_end(p, end);
			memcpy(out + len, p, (size_t)(e - p));
			len += (size_t)(e - p);
			p = e;
		} else if (is_ws(*p)) {
			p++;
		} else {
			out[len++] = *p++;
		}
	}
	return len;
}
