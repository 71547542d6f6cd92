/*
 * query.c — condition parsing, typed JSON comparison and index value
 * encoding (see query.h for the rules).
 */
#include "query.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jwalk.h"

/* ---- typed values ---- */

static int parse_number(const uint8_t *raw, size_t n, double *out)
{
	char small[64], *buf = small;
	if (n >= sizeof(small)) {
		buf = malloc(n + 1);
		if (!buf)
			return -ENOMEM;
	}
	memcpy(buf, raw, n);
	buf[n] = 0;
	*out = strtod(buf, NULL);
	if (buf != small)
		free(buf);
	return 0;
}

int hdb_jval_decode(const uint8_t *raw, size_t n, hdb_jval *v)
{
	memset(v, 0, sizeof(*v));
	if (!n)
		return 0;
	v->raw = raw;
	v->rawlen = n;
	switch (raw[0]) {
	case 'n':
		v->type = HDB_JNULL;
		return 0;
	case 't':
	case 'f':
		v->type = HDB_JBOOL;
		v->b = raw[0] == 't';
		return 0;
	case '[':
		v->type = HDB_JARR;
		return 0;
	case '{':
		v->type = HDB_JOBJ;
		return 0;
	case '"':
		v->type = HDB_JSTR;
		if (n < 2)
			return 0;
		if (!hdb_jw_has_escape(raw, n)) {
			v->str = raw + 1;
			v->slen = n - 2;
			return 0;
		}
		v->own = malloc(n);
		if (!v->own)
			return -ENOMEM;
		v->slen = hdb_jw_unescape(raw, n, v->own);
		v->str = v->own;
		return 0;
	default:
		v->type = HDB_JNUM;
		return parse_number(raw, n, &v->num);
	}
}

void hdb_jval_free(hdb_jval *v)
{
	free(v->own);
	v->own = NULL;
}

static bool str_equal(const hdb_jval *a, const hdb_jval *b)
{
	return a->slen == b->slen && (!a->slen || !memcmp(a->str, b->str, a->slen));
}

static bool raw_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);

/* Member names of two objects: equal after decoding. */
static bool key_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	if (!hdb_jw_has_escape(a, an) && !hdb_jw_has_escape(b, bn))
		return an == bn && !memcmp(a, b, an);
	hdb_jval x, y;
	if (hdb_jval_decode(a, an, &x))
		return false;
	bool eq = false;
	if (!hdb_jval_decode(b, bn, &y)) {
		eq = str_equal(&x, &y);
		hdb_jval_free(&y);
	}
	hdb_jval_free(&x);
	return eq;
}

static bool containers_equal(const hdb_jval *a, const hdb_jval *b)
{
	hdb_jw_iter x, y;
	hdb_jw_iter_init(&x, a->raw, a->rawlen);
	hdb_jw_iter_init(&y, b->raw, b->rawlen);
	for (;;) {
		const uint8_t *xk = NULL, *yk = NULL, *xv, *yv;
		size_t xkl = 0, ykl = 0, xvl, yvl;
		bool hx = hdb_jw_iter_next(&x, &xk, &xkl, &xv, &xvl);
		bool hy = hdb_jw_iter_next(&y, &yk, &ykl, &yv, &yvl);
		if (hx != hy)
			return false;
		if (!hx)
			return true;
		if (a->type == HDB_JOBJ && !key_equal(xk, xkl, yk, ykl))
			return false;
		if (!raw_equal(xv, xvl, yv, yvl))
			return false;
	}
}

bool hdb_jval_equal(const hdb_jval *a, const hdb_jval *b)
{
	if (a->type != b->type || a->type == HDB_JMISSING)
		return false;
	switch (a->type) {
	case HDB_JNULL:
		return true;
	case HDB_JBOOL:
		return a->b == b->b;
	case HDB_JNUM:
		return a->num == b->num;
	case HDB_JSTR:
		return str_equal(a, b);
	default:
		return containers_equal(a, b);
	}
}

static bool raw_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	hdb_jval x, y;
	if (hdb_jval_decode(a, an, &x))
		return false;
	bool eq = false;
	if (!hdb_jval_decode(b, bn, &y)) {
		eq = hdb_jval_equal(&x, &y);
		hdb_jval_free(&y);
	}
	hdb_jval_free(&x);
	return eq;
}

bool hdb_jval_order(const hdb_jval *a, const hdb_jval *b, int *cmp)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case HDB_JNULL:
		*cmp = 0;
		return true;
	case HDB_JBOOL:
		*cmp = (int)a->b - (int)b->b;
		return true;
	case HDB_JNUM:
		*cmp = a->num < b->num ? -1 : a->num > b->num;
		return true;
	case HDB_JSTR: {
		size_t m = a->slen < b->slen ? a->slen : b->slen;
		int c = m ? memcmp(a->str, b->str, m) : 0;
		*cmp = c ? c : (a->slen < b->slen ? -1 : a->slen > b->slen);
		return true;
	}
	default:
		return false;
	}
}

/* ---- conditions ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hdb_q_unescape(const char *s, size_t n, char *out)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[len++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -EINVAL;
		int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
		if (h < 0 || l < 0)
			return -EINVAL;
		out[len++] = (char)(h * 16 + l);
		i += 2;
	}
	return (int)len;
}

size_t hdb_q_escape(const char *s, size_t n, char *out)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%' || c == '/' || c < 0x20 || c == 0x7F) {
			out[len++] = '%';
			out[len++] = digits[c >> 4];
			out[len++] = digits[c & 15];
		} else {
			out[len++] = (char)c;
		}
	}
	out[len] = 0;
	return len;
}

static bool is_op_char(char c)
{
	return c == '=' || c == '!' || c == '<' || c == '>' || c == '@' || c == '~';
}

/* Reads the operator at text[i]; returns its length, 0 when malformed. */
static size_t read_op(const char *text, size_t n, size_t i, enum hdb_qop *op)
{
	bool eq_next = i + 1 < n && text[i + 1] == '=';
	switch (text[i]) {
	case '=': *op = HDB_QOP_EQ; return 1;
	case '!': *op = HDB_QOP_NE; return eq_next ? 2 : 0;
	case '<': *op = eq_next ? HDB_QOP_LE : HDB_QOP_LT; return eq_next ? 2 : 1;
	case '>': *op = eq_next ? HDB_QOP_GE : HDB_QOP_GT; return eq_next ? 2 : 1;
	case '@': *op = HDB_QOP_HAS; return 1;
	default: *op = HDB_QOP_RE; return 1;
	}
}

static bool is_ordered_op(enum hdb_qop op)
{
	return op == HDB_QOP_LT || op == HDB_QOP_LE || op == HDB_QOP_GT || op == HDB_QOP_GE;
}

static int parse_field(hdb_qcond *c, const char *text, size_t n, const char **why)
{
	c->field = malloc(n + 1);
	if (!c->field)
		return -ENOMEM;
	int len = hdb_q_unescape(text, n, c->field);
	if (len < 0) {
		*why = "bad %XX escape in the field";
		return -EINVAL;
	}
	if (!len) {
		*why = "empty field name";
		return -EINVAL;
	}
	if (memchr(c->field, 0, (size_t)len)) {
		*why = "NUL byte in the field name";
		return -EINVAL;
	}
	c->field[len] = 0;
	c->flen = (size_t)len;
	return 0;
}

/* The operand: a JSON text when it is one, else a string of its bytes. */
static int parse_operand(hdb_qcond *c, size_t vl, const char **why)
{
	const uint8_t *p = c->vbuf, *end = c->vbuf + vl;
	if (hdb_json_validate(p, vl, NULL) != 0) {
		c->v = (hdb_jval){ .type = HDB_JSTR, .str = p, .slen = vl };
		return 0;
	}
	p = hdb_jw_skip_ws(p, end);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	int rc = hdb_jval_decode(p, (size_t)(end - p), &c->v);
	if (rc)
		return rc;
	if (is_ordered_op(c->op) && (c->v.type == HDB_JARR || c->v.type == HDB_JOBJ)) {
		*why = "an ordered comparison needs a number, string, boolean or null";
		return -EINVAL;
	}
	return 0;
}

/* An upper bound of how many times regcomp copies parts of re: glibc
 * writes a+ as aa* and a{n,m} as n to m copies of a, so nested
 * repetitions multiply (a name like "f~(((a+)+)+)..." would make it
 * allocate and compile without end).  Every '+' counts 2 and every bound
 * {n,m} counts its largest number, all multiplied as if nested.  A
 * repetition directly after another ("a*+", "a**") is undefined in POSIX
 * EREs and costs glibc as much as nesting: it gives HUGE_VAL. */
static double regex_copies(const char *re)
{
	double f = 1;
	bool after_repetition = false;
	for (const char *p = re; *p; p++) {
		bool repetition = *p == '*' || *p == '+' || *p == '?' || *p == '{';
		if (repetition && after_repetition)
			return HUGE_VAL;
		after_repetition = repetition;
		if (*p == '\\' && p[1]) {
			p++;
		} else if (*p == '[') {
			const char *q = p + 1;
			if (*q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			p = *q ? q : q - 1;
		} else if (*p == '+') {
			f *= 2;
		} else if (*p == '{') {
			char *end;
			unsigned long n = strtoul(p + 1, &end, 10), m = n;
			if (*end == ',')
				m = end[1] == '}' ? n : strtoul(end + 1, &end, 10);
			f *= (double)(n > m ? n : m) + 1;
			if (*end == '}')
				p = end; /* the interval is one repetition token */
		}
	}
	return f;
}

/* Longest regular expression source, and the most copies regcomp may make
 * of it (regex_copies times its length).  Compile time grows with the
 * square of the copies (measured: "8C*" with 8 stacked '+' 12 ms, with 12
 * '+' 4.7 s), so the bound stays where compiling takes milliseconds. */
#define QUERY_REGEX_MAX 255
#define QUERY_REGEX_WORK 4096.0

static int parse_regex(hdb_qcond *c, size_t vl, const char **why)
{
	if (memchr(c->vbuf, 0, vl)) {
		*why = "NUL byte in the regular expression";
		return -EINVAL;
	}
	c->vbuf[vl] = 0;
	if (vl > QUERY_REGEX_MAX || regex_copies((const char *)c->vbuf) * (double)(vl + 1) > QUERY_REGEX_WORK) {
		*why = "regular expression too long or too many repetitions";
		return -EINVAL;
	}
	c->vbuf[vl] = 0;
	if (regcomp(&c->re, (const char *)c->vbuf, REG_EXTENDED | REG_NOSUB)) {
		*why = "invalid regular expression";
		return -EINVAL;
	}
	c->has_re = true;
	return 0;
}

int hdb_qcond_parse(const char *text, size_t n, hdb_qcond *c, const char **why)
{
	memset(c, 0, sizeof(*c));
	*why = NULL;
	size_t i = 0;
	while (i < n && !is_op_char(text[i]))
		i++;
	if (i == n) {
		*why = "no operator (one of = != < <= > >= @ ~)";
		return -EINVAL;
	}
	size_t oplen = read_op(text, n, i, &c->op);
	if (!oplen) {
		*why = "'!' must be followed by '='";
		return -EINVAL;
	}
	int rc = parse_field(c, text, i, why);
	if (rc)
		goto fail;
	size_t vstart = i + oplen;
	c->vbuf = malloc(n - vstart + 1);
	if (!c->vbuf) {
		rc = -ENOMEM;
		goto fail;
	}
	int vl = hdb_q_unescape(text + vstart, n - vstart, (char *)c->vbuf);
	if (vl < 0) {
		*why = "bad %XX escape in the value";
		rc = -EINVAL;
		goto fail;
	}
	rc = c->op == HDB_QOP_RE ? parse_regex(c, (size_t)vl, why) : parse_operand(c, (size_t)vl, why);
	if (rc)
		goto fail;
	return 0;
fail:
	hdb_qcond_free(c);
	return rc;
}

void hdb_qcond_free(hdb_qcond *c)
{
	if (c->has_re)
		regfree(&c->re);
	hdb_jval_free(&c->v);
	free(c->field);
	free(c->vbuf);
	memset(c, 0, sizeof(*c));
}

static bool array_has(const hdb_jval *arr, const hdb_jval *v)
{
	hdb_jw_iter it;
	const uint8_t *ev;
	size_t el;
	hdb_jw_iter_init(&it, arr->raw, arr->rawlen);
	while (hdb_jw_iter_next(&it, NULL, NULL, &ev, &el)) {
		hdb_jval e;
		if (hdb_jval_decode(ev, el, &e))
			return false;
		bool eq = hdb_jval_equal(&e, v);
		hdb_jval_free(&e);
		if (eq)
			return true;
	}
	return false;
}

static bool regex_match(const regex_t *re, const hdb_jval *s)
{
	/* A NUL-terminated copy (regexec reads to the NUL whatever the flags),
	 * and REG_STARTEND so that a \u0000 inside does not end the string. */
	char small[256], *p = small;
	if (s->slen >= sizeof(small)) {
		p = malloc(s->slen + 1);
		if (!p)
			return false;
	}
	if (s->slen)
		memcpy(p, s->str, s->slen);
	p[s->slen] = 0;
	regmatch_t m = { .rm_so = 0, .rm_eo = (regoff_t)s->slen };
	bool ok = regexec(re, p, 1, &m, REG_STARTEND) == 0;
	if (p != small)
		free(p);
	return ok;
}

bool hdb_qcond_test(const hdb_qcond *c, const hdb_jval *field)
{
	int cmp;
	switch (c->op) {
	case HDB_QOP_EQ:
		return hdb_jval_equal(field, &c->v);
	case HDB_QOP_NE:
		return !hdb_jval_equal(field, &c->v);
	case HDB_QOP_LT:
		return hdb_jval_order(field, &c->v, &cmp) && cmp < 0;
	case HDB_QOP_LE:
		return hdb_jval_order(field, &c->v, &cmp) && cmp <= 0;
	case HDB_QOP_GT:
		return hdb_jval_order(field, &c->v, &cmp) && cmp > 0;
	case HDB_QOP_GE:
		return hdb_jval_order(field, &c->v, &cmp) && cmp >= 0;
	case HDB_QOP_HAS:
		return field->type == HDB_JARR && array_has(field, &c->v);
	case HDB_QOP_RE:
		return field->type == HDB_JSTR && regex_match(&c->re, field);
	}
	return false;
}

bool hdb_qcond_match(const hdb_qcond *c, const void *doc, size_t n)
{
	const uint8_t *val = NULL;
	size_t vlen = 0;
	hdb_jval f = { 0 };
	if (n && hdb_json_lookup(doc, n, c->field, c->flen, &val, &vlen) == 0 && hdb_jval_decode(val, vlen, &f))
		return false; /* out of memory: no match */
	bool ok = hdb_qcond_test(c, &f);
	hdb_jval_free(&f);
	return ok;
}

bool hdb_qcond_indexable(const hdb_qcond *c)
{
	if (c->op != HDB_QOP_EQ && !is_ordered_op(c->op))
		return false;
	return c->v.type == HDB_JNULL || c->v.type == HDB_JBOOL || c->v.type == HDB_JNUM || c->v.type == HDB_JSTR;
}

/* ---- index value encoding ---- */

size_t hdb_qkey_encode(const hdb_jval *v, uint8_t *out)
{
	switch (v->type) {
	case HDB_JNULL:
		out[0] = HDB_QKEY_NULL;
		return 1;
	case HDB_JBOOL:
		out[0] = HDB_QKEY_BOOL;
		out[1] = v->b;
		return 2;
	case HDB_JNUM: {
		double d = v->num == 0 ? 0.0 : v->num;
		uint64_t bits;
		memcpy(&bits, &d, sizeof(bits));
		bits = bits >> 63 ? ~bits : bits | UINT64_C(1) << 63;
		out[0] = HDB_QKEY_NUM;
		for (int i = 0; i < 8; i++)
			out[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
		return 9;
	}
	case HDB_JSTR: {
		size_t n = v->slen < HDB_QKEY_STR_MAX ? v->slen : HDB_QKEY_STR_MAX, len = 1;
		out[0] = HDB_QKEY_STR;
		for (size_t i = 0; i < n; i++) {
			out[len++] = v->str[i];
			if (!v->str[i])
				out[len++] = 0xFF;
		}
		out[len++] = 0;
		out[len++] = v->slen > HDB_QKEY_STR_MAX ? 2 : 1;
		return len;
	}
	default:
		return 0;
	}
}

static int decode_string(const uint8_t *p, size_t n, hdb_jval *v, uint8_t *scratch, size_t *used, bool *trunc)
{
	size_t i = 1, len = 0;
	for (;;) {
		if (i >= n)
			return -EINVAL;
		if (p[i]) {
			if (len == HDB_QKEY_STR_MAX)
				return -EINVAL;
			scratch[len++] = p[i++];
			continue;
		}
		if (i + 1 >= n)
			return -EINVAL;
		uint8_t d = p[i + 1];
		i += 2;
		if (d == 0xFF) {
			if (len == HDB_QKEY_STR_MAX)
				return -EINVAL;
			scratch[len++] = 0;
		} else if (d == 1 || d == 2) {
			*trunc = d == 2;
			break;
		} else {
			return -EINVAL;
		}
	}
	v->type = HDB_JSTR;
	v->str = scratch;
	v->slen = len;
	*used = i;
	return 0;
}

int hdb_qkey_decode(const uint8_t *p, size_t n, hdb_jval *v, uint8_t *scratch, size_t *used, bool *truncated)
{
	memset(v, 0, sizeof(*v));
	*truncated = false;
	if (!n)
		return -EINVAL;
	switch (p[0]) {
	case HDB_QKEY_NULL:
		v->type = HDB_JNULL;
		*used = 1;
		return 0;
	case HDB_QKEY_BOOL:
		if (n < 2 || p[1] > 1)
			return -EINVAL;
		v->type = HDB_JBOOL;
		v->b = p[1];
		*used = 2;
		return 0;
	case HDB_QKEY_NUM: {
		if (n < 9)
			return -EINVAL;
		uint64_t bits = 0;
		for (int i = 0; i < 8; i++)
			bits = bits << 8 | p[1 + i];
		bits = bits >> 63 ? bits & ~(UINT64_C(1) << 63) : ~bits;
		v->type = HDB_JNUM;
		memcpy(&v->num, &bits, sizeof(bits));
		*used = 9;
		return 0;
	}
	case HDB_QKEY_STR:
		return decode_string(p, n, v, scratch, used, truncated);
	default:
		return -EINVAL;
	}
}
