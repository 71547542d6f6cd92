/*
 * json.c — strict JSON validator and dotted-path lookup (see json.h).
 *
 * The validator is a state machine over three states — expecting a value,
 * expecting an object key, after a value — with the kind of each open
 * container (object or array) kept as one bit in a fixed bit stack.  That
 * makes the nesting limit a property of a 64-byte array instead of the C
 * stack, and a million '[' cost one bounds check each until the limit.
 *
 * String bodies are the bulk of typical documents, so they are scanned eight
 * bytes at a time: a word with no quote, backslash, control byte or byte
 * >= 0x80 is skipped whole, and otherwise the lowest flagged byte is found
 * with a count of trailing zeros.
 */
#include "json.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

_Static_assert(HDB_JSON_MAX_DEPTH % 64 == 0, "bit stack is whole words");

struct scanner {
	const uint8_t *base;                      /* first byte of the input */
	const uint8_t *end;                       /* one past the last byte */
	hdb_json_error *err;                      /* where failures are reported */
	unsigned depth;                           /* open containers */
	uint64_t objects[HDB_JSON_MAX_DEPTH / 64]; /* bit d set: level d is an object */
};

static const uint8_t *fail(struct scanner *s, const uint8_t *at, const char *reason)
{
	s->err->offset = (size_t)(at - s->base);
	s->err->reason = reason;
	return NULL;
}

static const uint8_t *fail_eoi(struct scanner *s)
{
	return fail(s, s->end, "unexpected end of input");
}

/* Loads 8 bytes so that the byte at p is the least significant one. */
static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t x;

	memcpy(&x, p, sizeof(x));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

/*
 * High bit set in each byte of x equal to zero.  A borrow only starts at a
 * zero byte and only moves to more significant bytes, so the lowest flag is
 * always exact; flags above it may be spurious, and we never look at them.
 */
static inline uint64_t zero_bytes(uint64_t x)
{
	return (x - ONES) & ~x & HIGHS;
}

/* Flags the bytes that end an ASCII run in a string: '"', '\\', < 0x20, >= 0x80. */
static inline uint64_t string_stops(uint64_t x)
{
	uint64_t ctrl = (x - 0x20 * ONES) & ~x;

	return (ctrl | zero_bytes(x ^ ('"' * ONES)) | zero_bytes(x ^ ('\\' * ONES)) | x) & HIGHS;
}

/* Flags quotes and backslashes only: enough to skip a string known to be valid. */
static inline uint64_t quote_stops(uint64_t x)
{
	return zero_bytes(x ^ ('"' * ONES)) | zero_bytes(x ^ ('\\' * ONES));
}

static inline bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline bool is_digit(uint8_t c)
{
	return (uint8_t)(c - '0') < 10;
}

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
	/* Pretty-printed documents indent with runs of spaces. */
	while (end - p >= 8 && load_le64(p) == ' ' * ONES)
		p += 8;
	while (p < end && is_ws(*p))
		p++;
	return p;
}

static inline int hex_value(uint8_t c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Reads the four hex digits at p; returns the code unit, -1 if the input
 * ends first, or -2 - i for a bad digit at p[i].
 */
static long hex4(const uint8_t *p, const uint8_t *end)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		if (p + i == end)
			return -1;
		int h = hex_value(p[i]);
		if (h < 0)
			return -2 - i;
		v = v << 4 | h;
	}
	return v;
}

/* p is at a backslash inside a string; returns the byte after the escape. */
static const uint8_t *scan_escape(struct scanner *s, const uint8_t *p)
{
	const uint8_t *end = s->end;
	long u, lo;

	if (end - p < 2)
		return fail_eoi(s);
	switch (p[1]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
		return p + 2;
	case 'u':
		break;
	default:
		return fail(s, p + 1, "invalid escape");
	}
	u = hex4(p + 2, end);
	if (u == -1)
		return fail_eoi(s);
	if (u < 0)
		return fail(s, p + 2 + (-2 - u), "invalid \\u escape");
	if (u >= 0xDC00 && u <= 0xDFFF)
		return fail(s, p, "lone surrogate escape");
	if (u < 0xD800 || u > 0xDBFF)
		return p + 6;
	/* A high surrogate: the low half must follow as the very next escape. */
	if (end - p == 6 || (end - p == 7 && p[6] == '\\'))
		return fail_eoi(s);
	if (end - p == 7 || p[6] != '\\' || p[7] != 'u')
		return fail(s, p, "lone surrogate escape");
	lo = hex4(p + 8, end);
	if (lo == -1)
		return fail_eoi(s);
	if (lo < 0)
		return fail(s, p + 8 + (-2 - lo), "invalid \\u escape");
	if (lo < 0xDC00 || lo > 0xDFFF)
		return fail(s, p, "lone surrogate escape");
	return p + 12;
}

/*
 * p is at a byte >= 0x80; checks one UTF-8 sequence against Unicode's
 * table of well-formed byte sequences and returns the byte after it.
 */
static const uint8_t *scan_utf8(struct scanner *s, const uint8_t *p)
{
	size_t avail = (size_t)(s->end - p);
	uint8_t c = p[0], lo = 0x80, hi = 0xBF;
	size_t len;

	if (c < 0xC2) {
		return fail(s, p, "invalid UTF-8"); /* continuation byte or overlong C0/C1 */
	} else if (c < 0xE0) {
		len = 2;
	} else if (c < 0xF0) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;                  /* overlong below U+0800 */
		else if (c == 0xED)
			hi = 0x9F;                  /* U+D800..DFFF */
	} else if (c < 0xF5) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;                  /* overlong below U+10000 */
		else if (c == 0xF4)
			hi = 0x8F;                  /* above U+10FFFF */
	} else {
		return fail(s, p, "invalid UTF-8");
	}
	if (avail < len || p[1] < lo || p[1] > hi)
		return fail(s, p, "invalid UTF-8");
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return fail(s, p, "invalid UTF-8");
	return p + len;
}

/* p is at the opening quote; returns the byte after the closing one. */
static const uint8_t *scan_string(struct scanner *s, const uint8_t *p)
{
	const uint8_t *end = s->end;

	p++;
	for (;;) {
		while (end - p >= 8) {
			uint64_t m = string_stops(load_le64(p));
			if (m) {
				p += __builtin_ctzll(m) >> 3;
				break;
			}
			p += 8;
		}
		if (p == end)
			return fail_eoi(s);
		uint8_t c = *p;
		if (c == '"')
			return p + 1;
		if (c == '\\')
			p = scan_escape(s, p);
		else if (c >= 0x80)
			p = scan_utf8(s, p);
		else if (c < 0x20)
			return fail(s, p, "unescaped control character");
		else
			p++;
		if (!p)
			return NULL;
	}
}

static inline const uint8_t *skip_digits(const uint8_t *p, const uint8_t *end)
{
	while (p < end && is_digit(*p))
		p++;
	return p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? — the grammar only. */
static const uint8_t *scan_number(struct scanner *s, const uint8_t *p)
{
	const uint8_t *end = s->end;

	if (*p == '-' && ++p == end)
		return fail_eoi(s);
	if (*p == '0') {
		p++;
		if (p < end && is_digit(*p))
			return fail(s, p, "leading zero");
	} else if (is_digit(*p)) {
		p = skip_digits(p + 1, end);
	} else {
		return fail(s, p, "invalid number");
	}
	if (p < end && *p == '.') {
		if (++p == end)
			return fail_eoi(s);
		if (!is_digit(*p))
			return fail(s, p, "invalid number");
		p = skip_digits(p + 1, end);
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end)
			return fail_eoi(s);
		if (!is_digit(*p))
			return fail(s, p, "invalid number");
		p = skip_digits(p + 1, end);
	}
	return p;
}

static const uint8_t *scan_literal(struct scanner *s, const uint8_t *p,
				   const char *word, size_t len)
{
	if ((size_t)(s->end - p) >= len && memcmp(p, word, len) == 0)
		return p + len;
	for (size_t i = 1; i < len; i++) {
		if (p + i == s->end)
			return fail_eoi(s);
		if (p[i] != (uint8_t)word[i])
			return fail(s, p + i, "invalid literal");
	}
	return NULL; /* not reached: the first byte chose the word */
}

static inline bool push(struct scanner *s, bool object)
{
	unsigned d = s->depth;

	if (d == HDB_JSON_MAX_DEPTH)
		return false;
	if (object)
		s->objects[d / 64] |= 1ULL << (d % 64);
	else
		s->objects[d / 64] &= ~(1ULL << (d % 64));
	s->depth = d + 1;
	return true;
}

static inline bool in_object(const struct scanner *s)
{
	unsigned d = s->depth - 1;

	return s->objects[d / 64] >> (d % 64) & 1;
}

static int scan_document(struct scanner *s)
{
	const uint8_t *p = s->base, *end = s->end;

value:
	p = skip_ws(p, end);
	if (p == end)
		goto eoi;
	switch (*p) {
	case '{':
		if (!push(s, true))
			goto too_deep;
		p = skip_ws(p + 1, end);
		if (p < end && *p == '}') {
			s->depth--;
			p++;
			goto after;
		}
		goto key;
	case '[':
		if (!push(s, false))
			goto too_deep;
		p = skip_ws(p + 1, end);
		if (p < end && *p == ']') {
			s->depth--;
			p++;
			goto after;
		}
		goto value;
	case '"':
		p = scan_string(s, p);
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		p = scan_number(s, p);
		break;
	case 't':
		p = scan_literal(s, p, "true", 4);
		break;
	case 'f':
		p = scan_literal(s, p, "false", 5);
		break;
	case 'n':
		p = scan_literal(s, p, "null", 4);
		break;
	default:
		fail(s, p, "unexpected character");
		return -EINVAL;
	}
	if (!p)
		return -EINVAL;
after:
	p = skip_ws(p, end);
	if (s->depth == 0) {
		if (p != end) {
			fail(s, p, "trailing data");
			return -EINVAL;
		}
		return 0;
	}
	if (p == end)
		goto eoi;
	if (*p == ',') {
		p = skip_ws(p + 1, end);
		if (p < end && (*p == ']' || *p == '}')) {
			fail(s, p, "trailing comma");
			return -EINVAL;
		}
		if (in_object(s))
			goto key;
		goto value;
	}
	if (*p != (in_object(s) ? '}' : ']')) {
		fail(s, p, in_object(s) ? "expected ',' or '}'" : "expected ',' or ']'");
		return -EINVAL;
	}
	s->depth--;
	p++;
	goto after;

key:
	if (p == end)
		goto eoi;
	if (*p != '"') {
		fail(s, p, "expected string key");
		return -EINVAL;
	}
	p = scan_string(s, p);
	if (!p)
		return -EINVAL;
	p = skip_ws(p, end);
	if (p == end)
		goto eoi;
	if (*p != ':') {
		fail(s, p, "expected ':'");
		return -EINVAL;
	}
	p++;
	goto value;

eoi:
	fail_eoi(s);
	return -EINVAL;
too_deep:
	fail(s, p, "nesting too deep");
	return -EINVAL;
}

int hdb_json_validate(const void *buf, size_t n, hdb_json_error *err)
{
	static const uint8_t bom[3] = { 0xEF, 0xBB, 0xBF };
	hdb_json_error ignored;
	struct scanner s = {
		.base = buf,
		.end = (const uint8_t *)buf + n,
		.err = err ? err : &ignored,
	};

	if (n == 0) {
		fail(&s, s.base, "empty input");
		return -EINVAL;
	}
	if (n >= 3 && memcmp(buf, bom, 3) == 0) {
		fail(&s, s.base, "byte order mark");
		return -EINVAL;
	}
	return scan_document(&s);
}

/*
 * Lookup.  It walks a document that is expected to be valid, so it only
 * tells structure apart (strings, brackets, scalars) and never rechecks the
 * grammar; every step is still bounds-checked, and broken structure ends
 * the walk with -EINVAL.
 */

/* p is at the opening quote; returns the byte after the closing one, or NULL. */
static const uint8_t *skip_string(const uint8_t *p, const uint8_t *end)
{
	p++;
	for (;;) {
		while (end - p >= 8) {
			uint64_t m = quote_stops(load_le64(p));
			if (m) {
				p += __builtin_ctzll(m) >> 3;
				break;
			}
			p += 8;
		}
		if (p == end)
			return NULL;
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			if (end - p < 2)
				return NULL;
			p += 2;
		} else {
			p++;
		}
	}
}

/* p is at the first byte of a value; returns the byte after it, or NULL. */
static const uint8_t *skip_value(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *start = p;
	size_t depth = 0;

	if (p == end)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	if (*p != '{' && *p != '[') {
		while (p < end && !is_ws(*p) && *p != ',' && *p != '}' && *p != ']' && *p != ':')
			p++;
		return p == start ? NULL : p;
	}
	while (p < end) {
		switch (*p) {
		case '"':
			p = skip_string(p, end);
			if (!p)
				return NULL;
			continue;
		case '{': case '[':
			depth++;
			break;
		case '}': case ']':
			if (--depth == 0)
				return p + 1;
			break;
		}
		p++;
	}
	return NULL;
}

/* Appends code point cp to out as UTF-8; returns the byte count. */
static size_t put_utf8(uint8_t out[4], unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decodes the escape at *pp (a backslash) into UTF-8 in out, advances *pp
 * past it and returns the byte count, or 0 if the escape is broken.
 */
static size_t decode_escape(const uint8_t **pp, const uint8_t *end, uint8_t out[4])
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const uint8_t *p = *pp;
	const char *hit;
	long u, lo;

	if (end - p < 2)
		return 0;
	if (p[1] != 'u') {
		hit = p[1] ? strchr(from, p[1]) : NULL;
		if (!hit)
			return 0;
		out[0] = (uint8_t)to[hit - from];
		*pp = p + 2;
		return 1;
	}
	u = hex4(p + 2, end);
	if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
		return 0;
	if (u < 0xD800 || u > 0xDBFF) {
		*pp = p + 6;
		return put_utf8(out, (unsigned long)u);
	}
	if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
		return 0;
	lo = hex4(p + 8, end);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return 0;
	*pp = p + 12;
	return put_utf8(out, 0x10000 + (((unsigned long)u - 0xD800) << 10) +
				 ((unsigned long)lo - 0xDC00));
}

/*
 * p is at the opening quote of a key.  Sets *after to the byte after the
 * closing quote and returns 1 if the decoded key equals name, 0 if not,
 * -EINVAL if the string is broken.
 */
static int key_equals(const uint8_t *p, const uint8_t *end, const char *name,
		      size_t len, const uint8_t **after)
{
	const uint8_t *q = p + 1;
	size_t j = 0;
	uint8_t buf[4];

	while (q < end && *q != '"') {
		const uint8_t *bytes = q;
		size_t k = 1;

		if (*q == '\\') {
			k = decode_escape(&q, end, buf);
			if (!k)
				return -EINVAL;
			bytes = buf;
		} else {
			q++;
		}
		if (len - j < k || memcmp(name + j, bytes, k) != 0)
			goto differ;
		j += k;
	}
	if (q == end)
		return -EINVAL;
	*after = q + 1;
	return j == len;
differ:
	*after = skip_string(p, end);
	return *after ? 0 : -EINVAL;
}

/*
 * *pp is at the first byte of a value.  If it is an object with a member
 * named name, points [*vs, *ve) at the member's value and returns 0.
 */
static int find_member(const uint8_t *p, const uint8_t *end, const char *name,
		       size_t len, const uint8_t **vs, const uint8_t **ve)
{
	const uint8_t *found = NULL, *found_end = NULL;

	if (p == end || *p != '{')
		return -ENOENT;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return -ENOENT;
	for (;;) {
		const uint8_t *value;
		int match;

		if (p == end || *p != '"')
			return -EINVAL;
		match = key_equals(p, end, name, len, &p);
		if (match < 0)
			return match;
		p = skip_ws(p, end);
		if (p == end || *p != ':')
			return -EINVAL;
		value = skip_ws(p + 1, end);
		p = skip_value(value, end);
		if (!p)
			return -EINVAL;
		if (match) {
			found = value;
			found_end = p;
		}
		p = skip_ws(p, end);
		if (p == end)
			return -EINVAL;
		if (*p == '}')
			break;
		if (*p != ',')
			return -EINVAL;
		p = skip_ws(p + 1, end);
	}
	if (!found)
		return -ENOENT;
	*vs = found;
	*ve = found_end;
	return 0;
}

int hdb_json_lookup(const void *doc, size_t n, const char *path, size_t pathlen,
		    const uint8_t **val, size_t *vlen)
{
	const uint8_t *end = (const uint8_t *)doc + n;
	const uint8_t *p = skip_ws(doc, end), *ve;
	const char *seg = path, *pend = path + pathlen;

	for (;;) {
		const char *dot = seg < pend ? memchr(seg, '.', (size_t)(pend - seg)) : NULL;
		const char *segend = dot ? dot : pend;
		int rc = find_member(p, end, seg, (size_t)(segend - seg), &p, &ve);

		if (rc)
			return rc;
		if (!dot)
			break;
		seg = dot + 1;
	}
	*val = p;
	*vlen = (size_t)(ve - p);
	return 0;
}
