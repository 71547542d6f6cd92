/*
 * csv.c — the CSV reader, field quoting, and CSV import rows (see csv.h).
 *
 * The reader keeps, per field of the current record, either a pointer into
 * the input or an offset into its scratch buffer (for quoted fields with
 * doubled quotes); offsets become pointers once the record is complete, as
 * the scratch buffer may move while it grows.
 */
#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jwalk.h"

#define IN_INPUT SIZE_MAX /* soff of a field that points into the input */

static int append(hdb_wbuf *b, const void *p, size_t n)
{
	return hdb_wbuf_write(b, b->len, p, n, UINT64_MAX);
}

/* Reading. */

void hdb_csv_reader_init(hdb_csv_reader *r, const void *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->len = len;
	hdb_wbuf_init(&r->scratch);
}

void hdb_csv_reader_free(hdb_csv_reader *r)
{
	free(r->fields);
	free(r->soff);
	hdb_wbuf_free(&r->scratch);
	r->fields = NULL;
	r->soff = NULL;
	r->cap = 0;
}

size_t hdb_csv_record_line(const hdb_csv_reader *r)
{
	return r->line;
}

static int malformed(hdb_csv_reader *r, size_t offset, const char *reason)
{
	r->offset = offset;
	r->reason = reason;
	return -EINVAL;
}

/* Room for field index nf. */
static int reserve_field(hdb_csv_reader *r, size_t nf)
{
	if (nf < r->cap)
		return 0;
	size_t cap = r->cap ? 2 * r->cap : 16;
	if (cap > HDB_CSV_MAX_FIELDS)
		cap = HDB_CSV_MAX_FIELDS;
	hdb_csv_field *f = realloc(r->fields, cap * sizeof(*f));
	if (!f)
		return -ENOMEM;
	r->fields = f;
	size_t *s = realloc(r->soff, cap * sizeof(*s));
	if (!s)
		return -ENOMEM;
	r->soff = s;
	r->cap = cap;
	return 0;
}

/* Whether a record ends at i: "\n", "\r\n", or '\r' as the last byte. */
static bool record_ends_at(const hdb_csv_reader *r, size_t i)
{
	if (r->buf[i] == '\n')
		return true;
	return r->buf[i] == '\r' && (i + 1 == r->len || r->buf[i + 1] == '\n');
}

static int read_unquoted(hdb_csv_reader *r, size_t *pos, hdb_csv_field *f)
{
	size_t i = *pos;
	while (i < r->len && r->buf[i] != ',' && !record_ends_at(r, i)) {
		if (r->buf[i] == '"')
			return malformed(r, i, "a quote inside an unquoted field");
		i++;
	}
	*f = (hdb_csv_field){ .p = r->buf + *pos, .n = i - *pos, .quoted = false };
	*pos = i;
	return 0;
}

static void count_lines(hdb_csv_reader *r, size_t from, size_t to)
{
	const uint8_t *p = r->buf + from, *end = r->buf + to;
	while ((p = memchr(p, '\n', (size_t)(end - p)))) {
		r->lines++;
		p++;
	}
}

/* *pos at the opening quote of field nf. */
static int read_quoted(hdb_csv_reader *r, size_t *pos, size_t nf)
{
	size_t open = *pos, seg = open + 1, i = seg;
	r->soff[nf] = IN_INPUT;
	for (;;) {
		const uint8_t *q = memchr(r->buf + i, '"', r->len - i);
		if (!q)
			return malformed(r, open, "unterminated quoted field");
		size_t qi = (size_t)(q - r->buf);
		count_lines(r, i, qi);
		if (qi + 1 < r->len && r->buf[qi + 1] == '"') {
			if (r->soff[nf] == IN_INPUT)
				r->soff[nf] = r->scratch.len;
			if (append(&r->scratch, r->buf + seg, qi + 1 - seg))
				return -ENOMEM;
			seg = i = qi + 2;
			continue;
		}
		i = qi + 1;
		if (i < r->len && r->buf[i] != ',' && !record_ends_at(r, i))
			return malformed(r, i, "text after a closing quote");
		hdb_csv_field *f = &r->fields[nf];
		*f = (hdb_csv_field){ .p = r->buf + seg, .n = qi - seg, .quoted = true };
		if (r->soff[nf] != IN_INPUT) {
			if (append(&r->scratch, r->buf + seg, qi - seg))
				return -ENOMEM;
			f->n = r->scratch.len - r->soff[nf];
		}
		*pos = i;
		return 0;
	}
}

/* Whether what is left is one blank line, which is not a record. */
static bool only_blank_line_left(const hdb_csv_reader *r)
{
	size_t left = r->len - r->pos;
	const uint8_t *p = r->buf + r->pos;
	return (left == 1 && (p[0] == '\n' || p[0] == '\r')) || (left == 2 && p[0] == '\r' && p[1] == '\n');
}

static int read_field(hdb_csv_reader *r, size_t *pos, size_t nf)
{
	if (nf == HDB_CSV_MAX_FIELDS)
		return malformed(r, *pos, "more than 4096 fields");
	int rc = reserve_field(r, nf);
	if (rc)
		return rc;
	if (*pos < r->len && r->buf[*pos] == '"')
		return read_quoted(r, pos, nf);
	r->soff[nf] = IN_INPUT;
	return read_unquoted(r, pos, &r->fields[nf]);
}

/* Reads the fields of the record at r->pos; returns their count or a
 * negative errno; *end is where the next record begins. */
static int read_record(hdb_csv_reader *r, size_t *end, size_t *nfields)
{
	size_t i = r->pos, nf = 0;
	for (;;) {
		int rc = read_field(r, &i, nf);
		if (rc)
			return rc;
		nf++;
		if (i < r->len && r->buf[i] == ',') {
			i++;
			continue;
		}
		if (i < r->len && r->buf[i] == '\r')
			i++;
		if (i < r->len && r->buf[i] == '\n') {
			i++;
			r->lines++;
		}
		*end = i;
		*nfields = nf;
		return 0;
	}
}

int hdb_csv_next(hdb_csv_reader *r, const hdb_csv_field **fields, size_t *nfields)
{
	if (r->pos >= r->len || only_blank_line_left(r)) {
		r->pos = r->len;
		return 0;
	}
	size_t lines = r->lines, end, nf;
	r->line = lines + 1;
	r->scratch.len = 0;
	int rc = read_record(r, &end, &nf);
	if (rc) {
		r->lines = lines;
		return rc;
	}
	for (size_t i = 0; i < nf; i++)
		if (r->soff[i] != IN_INPUT)
			r->fields[i].p = r->scratch.data + r->soff[i];
	r->pos = end;
	*fields = r->fields;
	*nfields = nf;
	return 1;
}

/* Writing. */

static bool needs_quotes(const uint8_t *p, size_t n)
{
	if (p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t')
		return true;
	for (size_t i = 0; i < n; i++)
		if (p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r')
			return true;
	return false;
}

static int put_quoted(hdb_wbuf *out, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	int rc = append(out, "\"", 1);
	while (!rc && p < end) {
		const uint8_t *q = memchr(p, '"', (size_t)(end - p));
		size_t run = q ? (size_t)(q - p) + 1 : (size_t)(end - p);
		rc = append(out, p, run);
		if (!rc && q)
			rc = append(out, "\"", 1);
		p += run;
	}
	return rc ? rc : append(out, "\"", 1);
}

int hdb_csv_put_field(hdb_wbuf *out, const void *p, size_t n, bool force_quote)
{
	if (!n)
		return force_quote ? append(out, "\"\"", 2) : 0;
	if (!needs_quotes(p, n))
		return append(out, p, n);
	size_t start = out->len;
	int rc = put_quoted(out, p, n);
	if (rc)
		out->len = start;
	return rc;
}

/* Import. */

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

/* A header field for messages: at most 64 bytes, control bytes as '?'. */
static void shown_name(const hdb_csv_field *f, char out[65])
{
	size_t n = f->n < 64 ? f->n : 64;
	for (size_t i = 0; i < n; i++)
		out[i] = f->p[i] < 0x20 ? '?' : (char)f->p[i];
	out[n] = 0;
}

void hdb_csv_import_free(hdb_csv_import *im)
{
	free(im->col_of);
	free(im->field_of);
	im->col_of = NULL;
	im->field_of = NULL;
}

static int map_header(hdb_csv_import *im, const hdb_csv_field *f, size_t n, char *err, size_t errlen)
{
	const hdb_schema *s = im->s;
	char shown[65];
	for (size_t i = 0; i < n; i++) {
		ssize_t c = hdb_schema_find(s, f[i].p, f[i].n);
		shown_name(&f[i], shown);
		if (c < 0)
			return fail(err, errlen, "header field %zu, \"%s\", is not a column", i + 1, shown);
		if (im->field_of[c] != SIZE_MAX)
			return fail(err, errlen, "column \"%s\" appears twice in the header", shown);
		im->field_of[c] = i;
		im->col_of[i] = (size_t)c;
	}
	for (size_t c = 0; c < s->ncols; c++) {
		if (!s->cols[c].required || im->field_of[c] != SIZE_MAX)
			continue;
		return fail(err, errlen, "the %s column \"%s\" is missing from the header",
			    (ssize_t)c == s->key ? "key" : "required", s->cols[c].name);
	}
	return 0;
}

int hdb_csv_import_header(hdb_csv_import *im, const hdb_schema *s, const hdb_csv_field *f, size_t n,
			  char *err, size_t errlen)
{
	*im = (hdb_csv_import){ .s = s, .ncols = n };
	if (errlen)
		err[0] = 0;
	im->col_of = malloc((n ? n : 1) * sizeof(*im->col_of));
	im->field_of = malloc(s->ncols * sizeof(*im->field_of));
	if (!im->col_of || !im->field_of) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t c = 0; c < s->ncols; c++)
		im->field_of[c] = SIZE_MAX;
	return map_header(im, f, n, err, errlen);
}

/* Whether p[0..n) is exactly a JSON number (RFC 8259 grammar); *integral
 * tells whether it has neither fraction nor exponent. */
static bool is_json_number(const uint8_t *p, size_t n, bool *integral)
{
	size_t i = 0;
	if (i < n && p[i] == '-')
		i++;
	if (i == n || p[i] < '0' || p[i] > '9')
		return false;
	if (p[i++] != '0')
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	*integral = i == n;
	if (i < n && p[i] == '.') {
		size_t d = ++i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

/* Appends p[0..n) as a JSON string: '"', '\\' and control bytes escaped,
 * everything else as it is. */
static int put_json_string(hdb_wbuf *out, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;
	int rc = append(out, "\"", 1);
	for (size_t i = 0; !rc && i < n; i++) {
		uint8_t c = p[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = append(out, p + run, i - run);
		run = i + 1;
		char esc[6] = { '\\', (char)c, 0 };
		size_t el = 2;
		switch (c) {
		case '"': case '\\': break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
		}
		if (!rc)
			rc = append(out, esc, el);
	}
	if (!rc)
		rc = append(out, p + run, n - run);
	return rc ? rc : append(out, "\"", 1);
}

/* Appends the minified JSON text of the field if it is a `want` ('[' or
 * '{'); 1 when it is not. */
static int put_container(hdb_wbuf *out, const hdb_csv_field *f, uint8_t want)
{
	const uint8_t *p = hdb_jw_skip_ws(f->p, f->p + f->n);
	if (p == f->p + f->n || *p != want || hdb_json_validate(f->p, f->n, NULL))
		return 1;
	size_t start = out->len;
	int rc = hdb_wbuf_truncate(out, (uint64_t)start + f->n, UINT64_MAX);
	if (rc)
		return rc;
	out->len = start + hdb_jw_minify(f->p, f->n, out->data + start);
	return 0;
}

/* Appends a string member's value; 1 when it is not valid UTF-8. */
static int put_string(hdb_wbuf *out, const hdb_csv_field *f)
{
	size_t start = out->len;
	int rc = put_json_string(out, f->p, f->n);
	if (rc)
		return rc;
	return hdb_json_validate(out->data + start, out->len - start, NULL) ? 1 : 0;
}

/* Appends the JSON value of field f for a column of type t: 0, a negative
 * errno, or 1 with *why when the field does not fit the type. */
static int put_typed(hdb_wbuf *out, hdb_col_type t, const hdb_csv_field *f, const char **why)
{
	bool integral = false;
	int rc;
	if (t != HDB_COL_STRING && f->quoted && !f->n) {
		*why = "an empty string (\"\") in a column that is not a string";
		return 1;
	}
	switch (t) {
	case HDB_COL_INTEGER:
	case HDB_COL_NUMBER:
		if (!is_json_number(f->p, f->n, &integral) || (t == HDB_COL_INTEGER && !integral)) {
			*why = t == HDB_COL_INTEGER ? "not an integer" : "not a number";
			return 1;
		}
		return append(out, f->p, f->n);
	case HDB_COL_BOOLEAN:
		if ((f->n != 4 || memcmp(f->p, "true", 4)) && (f->n != 5 || memcmp(f->p, "false", 5))) {
			*why = "not true or false";
			return 1;
		}
		return append(out, f->p, f->n);
	case HDB_COL_ARRAY:
	case HDB_COL_OBJECT:
		rc = put_container(out, f, t == HDB_COL_ARRAY ? '[' : '{');
		*why = t == HDB_COL_ARRAY ? "not a JSON array" : "not a JSON object";
		return rc;
	case HDB_COL_STRING:
		*why = "not valid UTF-8";
		return put_string(out, f);
	}
	*why = "unknown type";
	return 1;
}

/* Appends the member of column c from field f (nothing when f is missing);
 * *vstart is where its value begins in out. */
static int put_member(hdb_wbuf *out, const hdb_schema_col *col, const hdb_csv_field *f, bool first, size_t *vstart,
		      hdb_schema_violation *v)
{
	const char *why = NULL;
	int rc = first ? 0 : append(out, ",", 1);
	if (!rc)
		rc = put_json_string(out, (const uint8_t *)col->name, col->nlen);
	if (!rc)
		rc = append(out, ":", 1);
	*vstart = out->len;
	if (!rc)
		rc = put_typed(out, col->type, f, &why);
	if (rc == 1)
		return hdb_schema_violate(v, col->name, "%s", why);
	return rc;
}

static int put_document(const hdb_csv_import *im, const hdb_csv_field *f, hdb_wbuf *doc, size_t *kstart,
			size_t *kend, hdb_schema_violation *v)
{
	const hdb_schema *s = im->s;
	bool first = true;
	int rc = append(doc, "{", 1);
	for (size_t c = 0; !rc && c < s->ncols; c++) {
		size_t i = im->field_of[c], vstart;
		if (i == SIZE_MAX || (!f[i].quoted && !f[i].n)) {
			if (s->cols[c].required)
				return hdb_schema_violate(v, s->cols[c].name, "required, but the field is empty");
			continue;
		}
		rc = put_member(doc, &s->cols[c], &f[i], first, &vstart, v);
		first = false;
		if (!rc && (ssize_t)c == s->key) {
			*kstart = vstart;
			*kend = doc->len;
		}
	}
	return rc ? rc : append(doc, "}\n", 2);
}

int hdb_csv_import_row(const hdb_csv_import *im, const hdb_csv_field *f, size_t n, hdb_wbuf *doc,
		       char *name, size_t *namelen, hdb_schema_violation *v)
{
	const hdb_schema *s = im->s;
	size_t start = doc->len, kstart = 0, kend = 0;
	const char *why;
	*namelen = 0;
	if (n != im->ncols)
		return hdb_schema_violate(v, "", "%zu field%s, but the header has %zu", n, n == 1 ? "" : "s", im->ncols);
	int rc = put_document(im, f, doc, &kstart, &kend, v);
	if (!rc && s->key >= 0 &&
	    hdb_schema_key_name_of(s, doc->data + kstart, kend - kstart, name, namelen, &why))
		rc = hdb_schema_violate(v, s->cols[s->key].name, "%s", why);
	if (rc == -ENOMEM)
		hdb_schema_violate(v, "", "out of memory");
	if (rc) {
		doc->len = start;
		*namelen = 0;
	}
	return rc;
}
