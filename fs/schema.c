/*
 * schema.c — table schemas: parsing, document checks, key names,
 * re-validation and CSV rows (see schema.h).
 *
 * Member names are compared decoded.  A name is decoded into a stack buffer
 * only when it can fit a column name: a raw name longer than 6 bytes per
 * column-name byte cannot (an escape is at most 6 bytes for 1), so no name,
 * however long, costs an allocation.
 */
#include "schema.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "json.h"
#include "jwalk.h"

#define RAW_NAME_MAX (6 * HDB_SCHEMA_NAME_MAX + 2) /* longest raw name that may decode to a column name */
#define NOT_A_NAME SIZE_MAX

static const char *const type_names[] = {
	[HDB_COL_INTEGER] = "integer", [HDB_COL_NUMBER] = "number", [HDB_COL_STRING] = "string",
	[HDB_COL_BOOLEAN] = "boolean", [HDB_COL_ARRAY] = "array",   [HDB_COL_OBJECT] = "object",
};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

const char *hdb_col_type_name(hdb_col_type t)
{
	return (size_t)t < NTYPES ? type_names[t] : "unknown";
}

/* The kinds of JSON value, as the first byte of valid JSON tells them. */
enum kind { K_NULL, K_INTEGER, K_FRACTION, K_STRING, K_BOOLEAN, K_ARRAY, K_OBJECT };

static bool is_integral(const uint8_t *v, size_t vl)
{
	for (size_t i = 0; i < vl; i++)
		if (v[i] == '.' || v[i] == 'e' || v[i] == 'E')
			return false;
	return true;
}

static enum kind kind_of(const uint8_t *v, size_t vl)
{
	switch (v[0]) {
	case 'n': return K_NULL;
	case '"': return K_STRING;
	case 't':
	case 'f': return K_BOOLEAN;
	case '[': return K_ARRAY;
	case '{': return K_OBJECT;
	default: return is_integral(v, vl) ? K_INTEGER : K_FRACTION;
	}
}

static const char *kind_name(enum kind k)
{
	static const char *const names[] = {
		[K_NULL] = "null", [K_INTEGER] = "an integer", [K_FRACTION] = "a number with a fraction or exponent",
		[K_STRING] = "a string", [K_BOOLEAN] = "a boolean", [K_ARRAY] = "an array", [K_OBJECT] = "an object",
	};
	return names[k];
}

static bool type_accepts(hdb_col_type t, enum kind k)
{
	switch (t) {
	case HDB_COL_INTEGER: return k == K_INTEGER;
	case HDB_COL_NUMBER: return k == K_INTEGER || k == K_FRACTION;
	case HDB_COL_STRING: return k == K_STRING;
	case HDB_COL_BOOLEAN: return k == K_BOOLEAN;
	case HDB_COL_ARRAY: return k == K_ARRAY;
	case HDB_COL_OBJECT: return k == K_OBJECT;
	}
	return false;
}

/* Decodes the raw JSON string raw[0..rl) into out (HDB_SCHEMA_NAME_MAX + 1
 * bytes, NUL-terminated); returns its length, or NOT_A_NAME when it is
 * longer than a column name may be. */
static size_t decode_name(const uint8_t *raw, size_t rl, char *out)
{
	size_t n;
	if (rl < 2)
		return NOT_A_NAME;
	if (!hdb_jw_has_escape(raw, rl)) {
		n = rl - 2;
		if (n > HDB_SCHEMA_NAME_MAX)
			return NOT_A_NAME;
		memcpy(out, raw + 1, n);
	} else {
		uint8_t tmp[RAW_NAME_MAX];
		if (rl > RAW_NAME_MAX)
			return NOT_A_NAME;
		n = hdb_jw_unescape(raw, rl, tmp);
		if (n > HDB_SCHEMA_NAME_MAX)
			return NOT_A_NAME;
		memcpy(out, tmp, n);
	}
	out[n] = 0;
	return n;
}

/* A member name for messages: decoded when short enough, else its raw
 * text cut to fit; NUL bytes show as '?'. */
static void name_for_message(const uint8_t *raw, size_t rl, char out[256])
{
	char tmp[HDB_SCHEMA_NAME_MAX + 1];
	size_t n = decode_name(raw, rl, tmp);
	if (n == NOT_A_NAME) {
		n = rl > 2 ? rl - 2 : 0;
		if (n > 255)
			n = 255;
		memcpy(tmp, raw + 1, n);
	}
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[i] ? tmp[i] : '?';
	out[n] = 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

ssize_t hdb_schema_find(const hdb_schema *s, const void *name, size_t nlen)
{
	size_t lo = 0, hi = s->ncols;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const hdb_schema_col *c = &s->cols[s->by_name[mid]];
		int r = name_cmp(name, nlen, c->name, c->nlen);
		if (!r)
			return (ssize_t)s->by_name[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* The column of a member named by the raw JSON string raw[0..rl), or -1. */
static ssize_t member_column(const hdb_schema *s, const uint8_t *raw, size_t rl)
{
	char name[HDB_SCHEMA_NAME_MAX + 1];
	size_t n = decode_name(raw, rl, name);
	return n == NOT_A_NAME ? -1 : hdb_schema_find(s, name, n);
}

void hdb_schema_free(hdb_schema *s)
{
	for (size_t i = 0; s->cols && i < s->ncols; i++)
		free(s->cols[i].name);
	free(s->cols);
	free(s->by_name);
	memset(s, 0, sizeof(*s));
}

/* Parsing. */

struct raw {
	const uint8_t *p; /* NULL when absent */
	size_t n;
};

/* Sorts column indexes a[0..n) by name (C11's qsort has no context
 * argument, and the indexes must be compared through s). */
static void merge_sort(const hdb_schema *s, size_t *a, size_t *tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	merge_sort(s, a, tmp, h);
	merge_sort(s, a + h, tmp, n - h);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n) {
		const hdb_schema_col *x = &s->cols[a[i]], *y = &s->cols[a[j]];
		tmp[k++] = name_cmp(x->name, x->nlen, y->name, y->nlen) <= 0 ? a[i++] : a[j++];
	}
	while (i < h)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
}

static int index_names(hdb_schema *s, char *err, size_t errlen)
{
	s->by_name = malloc(s->ncols * sizeof(*s->by_name));
	size_t *tmp = malloc(s->ncols * sizeof(*tmp));
	if (!s->by_name || !tmp) {
		free(tmp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->ncols; i++)
		s->by_name[i] = i;
	merge_sort(s, s->by_name, tmp, s->ncols);
	free(tmp);
	for (size_t i = 1; i < s->ncols; i++) {
		const hdb_schema_col *c = &s->cols[s->by_name[i]], *p = &s->cols[s->by_name[i - 1]];
		if (!name_cmp(c->name, c->nlen, p->name, p->nlen))
			return fail(err, errlen, "column \"%s\" is given twice", c->name);
	}
	return 0;
}

static int parse_type(const uint8_t *v, size_t vl, const char *col, hdb_col_type *t, char *err, size_t errlen)
{
	char name[HDB_SCHEMA_NAME_MAX + 1];
	size_t n = v[0] == '"' ? decode_name(v, vl, name) : NOT_A_NAME;
	for (size_t i = 0; n != NOT_A_NAME && i < NTYPES; i++) {
		if (!strcmp(name, type_names[i]) && strlen(type_names[i]) == n) {
			*t = (hdb_col_type)i;
			return 0;
		}
	}
	return fail(err, errlen, "column \"%s\": the type must be one of integer, number, string, boolean, array, object",
		    col);
}

static int parse_column(hdb_schema_col *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, char *err,
			size_t errlen)
{
	char name[HDB_SCHEMA_NAME_MAX + 1];
	size_t n = decode_name(k, kl, name);
	if (n == NOT_A_NAME)
		return fail(err, errlen, "a column name is longer than %d bytes", HDB_SCHEMA_NAME_MAX);
	if (!n)
		return fail(err, errlen, "a column name is empty");
	if (memchr(name, 0, n))
		return fail(err, errlen, "a column name holds a NUL character");
	int rc = parse_type(v, vl, name, &c->type, err, errlen);
	if (rc)
		return rc;
	c->name = malloc(n + 1);
	if (!c->name)
		return -ENOMEM;
	memcpy(c->name, name, n + 1);
	c->nlen = n;
	return 0;
}

static int parse_columns(hdb_schema *s, struct raw cols, char *err, size_t errlen)
{
	if (cols.p[0] != '{')
		return fail(err, errlen, "\"columns\" must be an object");
	hdb_jw_iter it;
	const uint8_t *k, *v;
	size_t kl, vl, n = 0;
	hdb_jw_iter_init(&it, cols.p, cols.n);
	while (hdb_jw_iter_next(&it, &k, &kl, &v, &vl))
		n++;
	if (!n)
		return fail(err, errlen, "\"columns\" must name at least one column");
	if (n > HDB_SCHEMA_MAX_COLS)
		return fail(err, errlen, "more than %d columns", HDB_SCHEMA_MAX_COLS);
	s->cols = calloc(n, sizeof(*s->cols));
	if (!s->cols)
		return -ENOMEM;
	hdb_jw_iter_init(&it, cols.p, cols.n);
	while (s->ncols < n && hdb_jw_iter_next(&it, &k, &kl, &v, &vl)) {
		int rc = parse_column(&s->cols[s->ncols], k, kl, v, vl, err, errlen);
		if (rc)
			return rc;
		s->ncols++;
	}
	return index_names(s, err, errlen);
}

/* The column named by the JSON string v[0..vl) of member `what`. */
static int column_named(const hdb_schema *s, const char *what, const uint8_t *v, size_t vl, size_t *col, char *err,
			size_t errlen)
{
	char shown[256];
	if (v[0] != '"')
		return fail(err, errlen, "\"%s\" must name columns with strings", what);
	ssize_t c = member_column(s, v, vl);
	if (c < 0) {
		name_for_message(v, vl, shown);
		return fail(err, errlen, "\"%s\" names \"%s\", which is not a column", what, shown);
	}
	*col = (size_t)c;
	return 0;
}

static int parse_required(hdb_schema *s, struct raw req, char *err, size_t errlen)
{
	if (req.p[0] != '[')
		return fail(err, errlen, "\"required\" must be an array of column names");
	hdb_jw_iter it;
	const uint8_t *v;
	size_t vl, col = 0;
	hdb_jw_iter_init(&it, req.p, req.n);
	while (hdb_jw_iter_next(&it, NULL, NULL, &v, &vl)) {
		int rc = column_named(s, "required", v, vl, &col, err, errlen);
		if (rc)
			return rc;
		if (s->cols[col].required)
			return fail(err, errlen, "\"required\" names \"%s\" twice", s->cols[col].name);
		s->cols[col].required = true;
	}
	return 0;
}

static int parse_key(hdb_schema *s, struct raw key, char *err, size_t errlen)
{
	size_t col = 0;
	int rc = column_named(s, "key", key.p, key.n, &col, err, errlen);
	if (rc)
		return rc;
	hdb_schema_col *c = &s->cols[col];
	if (c->type != HDB_COL_INTEGER && c->type != HDB_COL_STRING)
		return fail(err, errlen, "the key column \"%s\" must be of type integer or string", c->name);
	c->required = true;
	s->key = (ssize_t)col;
	return 0;
}

static int parse_additional(hdb_schema *s, struct raw add, char *err, size_t errlen)
{
	if (add.p[0] != 't' && add.p[0] != 'f')
		return fail(err, errlen, "\"additional\" must be true or false");
	s->additional = add.p[0] == 't';
	return 0;
}

enum member { M_COLUMNS, M_REQUIRED, M_KEY, M_ADDITIONAL, NMEMBERS };

static int split_members(const uint8_t *obj, size_t n, struct raw m[NMEMBERS], char *err, size_t errlen)
{
	static const char *const names[NMEMBERS] = { "columns", "required", "key", "additional" };
	hdb_jw_iter it;
	const uint8_t *k, *v;
	size_t kl, vl;
	hdb_jw_iter_init(&it, obj, n);
	while (hdb_jw_iter_next(&it, &k, &kl, &v, &vl)) {
		char name[HDB_SCHEMA_NAME_MAX + 1];
		size_t nl = decode_name(k, kl, name);
		size_t i = 0;
		while (i < NMEMBERS && (nl == NOT_A_NAME || nl != strlen(names[i]) || memcmp(name, names[i], nl)))
			i++;
		if (i == NMEMBERS) {
			name_for_message(k, kl, name);
			return fail(err, errlen, "unknown member \"%s\"", name);
		}
		if (m[i].p)
			return fail(err, errlen, "member \"%s\" is given twice", names[i]);
		m[i] = (struct raw){ v, vl };
	}
	if (!m[M_COLUMNS].p)
		return fail(err, errlen, "\"columns\" is missing");
	return 0;
}

static int parse_members(hdb_schema *s, const uint8_t *obj, size_t n, char *err, size_t errlen)
{
	struct raw m[NMEMBERS] = { { 0 } };
	int rc = split_members(obj, n, m, err, errlen);
	if (!rc)
		rc = parse_columns(s, m[M_COLUMNS], err, errlen);
	if (!rc && m[M_REQUIRED].p)
		rc = parse_required(s, m[M_REQUIRED], err, errlen);
	if (!rc && m[M_KEY].p)
		rc = parse_key(s, m[M_KEY], err, errlen);
	if (!rc && m[M_ADDITIONAL].p)
		rc = parse_additional(s, m[M_ADDITIONAL], err, errlen);
	return rc;
}

int hdb_schema_parse(const void *buf, size_t len, hdb_schema *out, char *err, size_t errlen)
{
	const uint8_t *p = buf, *end = p + len;
	hdb_json_error je;
	memset(out, 0, sizeof(*out));
	out->key = -1;
	out->additional = true;
	if (errlen)
		err[0] = 0;
	if (hdb_json_validate(buf, len, &je))
		return fail(err, errlen, "not valid JSON: %s at byte %zu", je.reason ? je.reason : "error", je.offset);
	p = hdb_jw_skip_ws(p, end);
	if (*p != '{')
		return fail(err, errlen, "a schema must be a JSON object");
	int rc = parse_members(out, p, (size_t)(hdb_jw_value_end(p, end) - p), err, errlen);
	if (rc == -ENOMEM)
		fail(err, errlen, "out of memory");
	if (rc)
		hdb_schema_free(out);
	return rc;
}

/* Documents. */

int hdb_schema_violate(hdb_schema_violation *v, const char *column, const char *fmt, ...)
{
	if (v) {
		snprintf(v->column, sizeof(v->column), "%s", column);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool valid_key_text(const uint8_t *p, size_t n, const char **why)
{
	*why = !n ? "the key is an empty string"
	       : n > HDB_SCHEMA_KEY_MAX ? "the key is longer than 250 bytes"
	       : p[0] == '.' ? "the key starts with '.'"
	       : memchr(p, '/', n) ? "the key holds '/'"
	       : memchr(p, 0, n) ? "the key holds a NUL character" : NULL;
	return !*why;
}

static int string_key_name(const uint8_t *v, size_t vl, char *out, size_t *outlen, const char **why)
{
	uint8_t tmp[6 * HDB_SCHEMA_KEY_MAX + 2];
	const uint8_t *p = v + 1;
	size_t n = vl - 2;
	if (hdb_jw_has_escape(v, vl)) {
		if (vl > sizeof(tmp)) {
			*why = "the key is longer than 250 bytes";
			return -EINVAL;
		}
		n = hdb_jw_unescape(v, vl, tmp);
		p = tmp;
	}
	if (!valid_key_text(p, n, why))
		return -EINVAL;
	memcpy(out, p, n);
	memcpy(out + n, ".json", 6);
	*outlen = n + 5;
	return 0;
}

int hdb_schema_key_name_of(const hdb_schema *s, const void *val, size_t vlen, char *out, size_t *outlen,
			   const char **why)
{
	const uint8_t *v = val;
	if (s->key < 0) {
		*why = "the table has no key";
		return -ENOENT;
	}
	hdb_col_type t = s->cols[s->key].type;
	enum kind k = vlen ? kind_of(v, vlen) : K_NULL;
	if (k == K_NULL) {
		*why = "the key is missing";
		return -EINVAL;
	}
	if (!type_accepts(t, k)) {
		*why = t == HDB_COL_INTEGER ? "the key must be an integer" : "the key must be a string";
		return -EINVAL;
	}
	if (t == HDB_COL_STRING)
		return string_key_name(v, vlen, out, outlen, why);
	if (vlen > HDB_SCHEMA_KEY_MAX) {
		*why = "the key is longer than 250 bytes";
		return -EINVAL;
	}
	memcpy(out, v, vlen);
	memcpy(out + vlen, ".json", 6);
	*outlen = vlen + 5;
	return 0;
}

/* The top-level object of doc, or NULL. */
static const uint8_t *object_of(const void *doc, size_t len, size_t *olen)
{
	const uint8_t *p = hdb_jw_skip_ws(doc, (const uint8_t *)doc + len);
	const uint8_t *end = (const uint8_t *)doc + len;
	if (p == end || *p != '{')
		return NULL;
	*olen = (size_t)(hdb_jw_value_end(p, end) - p);
	return p;
}

int hdb_schema_key_name(const hdb_schema *s, const void *doc, size_t len, char *out, size_t *outlen)
{
	const uint8_t *obj, *k, *v, *kv = NULL;
	size_t olen, kl, vl, kvl = 0;
	const char *why;
	if (s->key < 0)
		return -ENOENT;
	if (!(obj = object_of(doc, len, &olen)))
		return -EINVAL;
	hdb_jw_iter it;
	hdb_jw_iter_init(&it, obj, olen);
	while (hdb_jw_iter_next(&it, &k, &kl, &v, &vl)) {
		if (member_column(s, k, kl) == s->key) {
			kv = v;
			kvl = vl;
		}
	}
	return hdb_schema_key_name_of(s, kv, kvl, out, outlen, &why);
}

/* Checks one member; *col gets its column, or -1. */
static int check_member(const hdb_schema *s, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
			bool *present, ssize_t *col_out, hdb_schema_violation *viol)
{
	ssize_t c = *col_out = member_column(s, k, kl);
	char shown[256];
	if (c < 0) {
		if (s->additional)
			return 0;
		name_for_message(k, kl, shown);
		return hdb_schema_violate(viol, shown, "not a column, and the table allows no other members");
	}
	const hdb_schema_col *col = &s->cols[c];
	enum kind kd = kind_of(v, vl);
	present[c] = kd != K_NULL;
	if (kd != K_NULL && !type_accepts(col->type, kd))
		return hdb_schema_violate(viol, col->name, "must be %s %s, not %s", col->type == HDB_COL_INTEGER ? "an" : "a",
				 hdb_col_type_name(col->type), kind_name(kd));
	return 0;
}

static int check_key(const hdb_schema *s, const uint8_t *kv, size_t kvl, const char *name, size_t nlen,
		     hdb_schema_violation *viol)
{
	char want[HDB_SCHEMA_FILE_MAX];
	size_t wl;
	const char *why;
	const hdb_schema_col *key = &s->cols[s->key];
	if (hdb_schema_key_name_of(s, kv, kvl, want, &wl, &why))
		return hdb_schema_violate(viol, key->name, "%s", why);
	if (name && (wl != nlen || memcmp(want, name, nlen)))
		return hdb_schema_violate(viol, key->name, "the document must be named \"%s\" after its key", want);
	return 0;
}

int hdb_schema_check(const hdb_schema *s, const void *doc, size_t len, const char *name, size_t nlen,
		     hdb_schema_violation *viol)
{
	bool present[HDB_SCHEMA_MAX_COLS];
	const uint8_t *obj, *k, *v, *kv = NULL;
	size_t olen, kl, vl, kvl = 0;
	if (!(obj = object_of(doc, len, &olen)))
		return hdb_schema_violate(viol, "", "the document is not a JSON object");
	memset(present, 0, s->ncols * sizeof(present[0]));
	hdb_jw_iter it;
	hdb_jw_iter_init(&it, obj, olen);
	while (hdb_jw_iter_next(&it, &k, &kl, &v, &vl)) {
		ssize_t c;
		int rc = check_member(s, k, kl, v, vl, present, &c, viol);
		if (rc)
			return rc;
		if (s->key >= 0 && c == s->key) {
			kv = v;
			kvl = vl;
		}
	}
	for (size_t i = 0; i < s->ncols; i++)
		if (s->cols[i].required && !present[i])
			return hdb_schema_violate(viol, s->cols[i].name, "required, but missing or null");
	return s->key >= 0 ? check_key(s, kv, kvl, name, nlen, viol) : 0;
}

/* Re-validation. */

static bool same_name(const hdb_schema_col *a, const hdb_schema_col *b)
{
	return a->nlen == b->nlen && !memcmp(a->name, b->name, a->nlen);
}

/* Whether a document valid under old can fail new's column c. */
static bool column_can_fail(const hdb_schema *old, const hdb_schema_col *c)
{
	ssize_t o = hdb_schema_find(old, c->name, c->nlen);
	if (o < 0)
		return c->required || old->additional;
	const hdb_schema_col *oc = &old->cols[o];
	return oc->type != c->type || (c->required && !oc->required);
}

bool hdb_schema_needs_revalidation(const hdb_schema *old, const hdb_schema *new_)
{
	if (!old)
		return true;
	if ((old->key < 0) != (new_->key < 0))
		return true;
	if (old->key >= 0 && !same_name(&old->cols[old->key], &new_->cols[new_->key]))
		return true;
	if (old->additional && !new_->additional)
		return true;
	for (size_t i = 0; i < new_->ncols; i++)
		if (column_can_fail(old, &new_->cols[i]))
			return true;
	for (size_t i = 0; !new_->additional && i < old->ncols; i++)
		if (hdb_schema_find(new_, old->cols[i].name, old->cols[i].nlen) < 0)
			return true;
	return false;
}

/* CSV. */

int hdb_schema_csv_header(const hdb_schema *s, hdb_wbuf *out)
{
	size_t start = out->len;
	int rc = 0;
	for (size_t i = 0; !rc && i < s->ncols; i++) {
		if (i)
			rc = hdb_wbuf_write(out, out->len, ",", 1, UINT64_MAX);
		if (!rc)
			rc = hdb_csv_put_field(out, s->cols[i].name, s->cols[i].nlen, false);
	}
	if (!rc)
		rc = hdb_wbuf_write(out, out->len, "\n", 1, UINT64_MAX);
	if (rc)
		out->len = start;
	return rc;
}

/* Appends the CSV field of the raw JSON value v[0..vl) (NULL: missing). */
static int put_value(hdb_wbuf *out, const uint8_t *v, size_t vl)
{
	enum kind k = v ? kind_of(v, vl) : K_NULL;
	if (k == K_NULL)
		return 0;
	if (k != K_STRING && k != K_ARRAY && k != K_OBJECT)
		return hdb_csv_put_field(out, v, vl, false);
	if (k == K_STRING && !hdb_jw_has_escape(v, vl))
		return hdb_csv_put_field(out, v + 1, vl - 2, true);
	uint8_t *tmp = malloc(vl);
	if (!tmp)
		return -ENOMEM;
	size_t n = k == K_STRING ? hdb_jw_unescape(v, vl, tmp) : hdb_jw_minify(v, vl, tmp);
	int rc = hdb_csv_put_field(out, tmp, n, true);
	free(tmp);
	return rc;
}

static int put_row(const hdb_schema *s, const uint8_t *obj, size_t olen, hdb_wbuf *out, struct raw *vals)
{
	hdb_jw_iter it;
	const uint8_t *k, *v;
	size_t kl, vl;
	hdb_jw_iter_init(&it, obj, olen);
	while (hdb_jw_iter_next(&it, &k, &kl, &v, &vl)) {
		ssize_t c = member_column(s, k, kl);
		if (c >= 0)
			vals[c] = (struct raw){ v, vl };
	}
	int rc = 0;
	for (size_t i = 0; !rc && i < s->ncols; i++) {
		if (i)
			rc = hdb_wbuf_write(out, out->len, ",", 1, UINT64_MAX);
		if (!rc)
			rc = put_value(out, vals[i].p, vals[i].n);
	}
	return rc ? rc : hdb_wbuf_write(out, out->len, "\n", 1, UINT64_MAX);
}

int hdb_schema_csv_row(const hdb_schema *s, const void *doc, size_t len, hdb_wbuf *out)
{
	const uint8_t *obj;
	size_t olen, start = out->len;
	if (!(obj = object_of(doc, len, &olen)))
		return -EINVAL;
	struct raw *vals = calloc(s->ncols, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	int rc = put_row(s, obj, olen, out, vals);
	free(vals);
	if (rc)
		out->len = start;
	return rc;
}
