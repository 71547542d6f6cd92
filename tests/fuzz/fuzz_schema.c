/*
 * fuzz_schema.c — libFuzzer target for schema parsing and document checks
 * (fs/schema.c), with the CSV export and import of a checked document
 * (fs/csv.c): a table's .schema and every document written to it are
 * untrusted.
 *
 * The input is split at its first NUL byte: the part before is a schema,
 * the rest a document.  Beyond "no crash, no out-of-bounds read" (ASan), it
 * checks:
 *   - a refused schema gives a reason; an accepted one has 1 to 4096
 *     columns with valid names, found again by name, and a key of type
 *     integer or string that is required;
 *   - a schema never needs re-validation against itself, always against
 *     no schema;
 *   - the CSV header, read back, is an acceptable import header;
 *   - a valid JSON document that passes under its key's file name has a
 *     CSV row that imports back into a document that passes too and whose
 *     row is the same.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I fs \
 *        fs/json.c fs/jwalk.c fs/wbuf.c fs/schema.c fs/csv.c \
 *        tests/fuzz/fuzz_schema.c -o fuzz_schema
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "json.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_schema(const hdb_schema *s)
{
	if (!s->ncols || s->ncols > HDB_SCHEMA_MAX_COLS)
		abort();
	for (size_t i = 0; i < s->ncols; i++) {
		const hdb_schema_col *c = &s->cols[i];
		if (!c->nlen || c->nlen > HDB_SCHEMA_NAME_MAX || strlen(c->name) != c->nlen)
			abort();
		if (hdb_schema_find(s, c->name, c->nlen) != (ssize_t)i)
			abort();
	}
	if (s->key >= 0) {
		const hdb_schema_col *k = &s->cols[s->key];
		if ((size_t)s->key >= s->ncols || !k->required ||
		    (k->type != HDB_COL_INTEGER && k->type != HDB_COL_STRING))
			abort();
	}
	if (hdb_schema_needs_revalidation(s, s) || !hdb_schema_needs_revalidation(NULL, s))
		abort();
}

/* The import state for s's own CSV header. */
static void import_own_header(const hdb_schema *s, hdb_csv_import *im)
{
	hdb_wbuf h;
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n;
	char err[200];
	hdb_wbuf_init(&h);
	if (hdb_schema_csv_header(s, &h))
		abort();
	hdb_csv_reader_init(&r, h.data, h.len);
	if (hdb_csv_next(&r, &f, &n) != 1 || n != s->ncols || hdb_csv_import_header(im, s, f, n, err, sizeof(err)))
		abort();
	if (hdb_csv_next(&r, &f, &n) != 0)
		abort();
	hdb_csv_reader_free(&r);
	hdb_wbuf_free(&h);
}

/* Reads the row row[0..len) and imports it into doc. */
static void import_row(const hdb_csv_import *im, const hdb_wbuf *row, hdb_wbuf *doc, char *name, size_t *namelen)
{
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n;
	hdb_schema_violation v;
	hdb_csv_reader_init(&r, row->data, row->len);
	if (hdb_csv_next(&r, &f, &n) != 1 || hdb_csv_import_row(im, f, n, doc, name, namelen, &v))
		abort();
	hdb_csv_reader_free(&r);
}

static void check_csv_round_trip(const hdb_schema *s, const uint8_t *doc, size_t dlen, const char *name,
				 size_t namelen)
{
	hdb_csv_import im;
	hdb_wbuf row, back, row2;
	hdb_schema_violation v;
	char name2[HDB_SCHEMA_FILE_MAX];
	size_t nl;
	hdb_wbuf_init(&row);
	hdb_wbuf_init(&back);
	hdb_wbuf_init(&row2);
	import_own_header(s, &im);
	if (hdb_schema_csv_row(s, doc, dlen, &row))
		abort();
	if (row.len == 1) {
		/* One column, missing: a blank line, which is not read back
		 * as the last line of a file (see csv.h). */
		if (s->ncols != 1 || s->key >= 0)
			abort();
		goto out;
	}
	import_row(&im, &row, &back, name2, &nl);
	if (hdb_json_validate(back.data, back.len, NULL) || hdb_schema_check(s, back.data, back.len, name2, nl, &v))
		abort();
	if (s->key >= 0 && (nl != namelen || memcmp(name, name2, nl)))
		abort();
	if (hdb_schema_csv_row(s, back.data, back.len, &row2))
		abort();
	if (row.len != row2.len || memcmp(row.data, row2.data, row.len))
		abort();
out:
	hdb_csv_import_free(&im);
	hdb_wbuf_free(&row);
	hdb_wbuf_free(&back);
	hdb_wbuf_free(&row2);
}

static void check_document(const hdb_schema *s, const uint8_t *doc, size_t dlen)
{
	char name[HDB_SCHEMA_FILE_MAX];
	size_t namelen = 0;
	hdb_schema_violation v;
	int krc = hdb_schema_key_name(s, doc, dlen, name, &namelen);
	if ((s->key < 0) != (krc == -ENOENT) || (krc && krc != -ENOENT && krc != -EINVAL))
		abort();
	if (!krc && (namelen < 6 || namelen >= HDB_SCHEMA_FILE_MAX || strlen(name) != namelen))
		abort();
	int rc = hdb_schema_check(s, doc, dlen, krc ? NULL : name, namelen, &v);
	if (rc && (rc != -EINVAL || !v.reason[0]))
		abort();
	if (!rc && s->key >= 0 && krc)
		abort();
	if (!rc)
		check_csv_round_trip(s, doc, dlen, name, namelen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t slen = nul ? (size_t)(nul - data) : size;
	const uint8_t *doc = nul ? nul + 1 : data + size;
	size_t dlen = size - slen - (nul ? 1 : 0);
	hdb_schema s;
	char err[200];
	int rc = hdb_schema_parse(data, slen, &s, err, sizeof(err));
	if (rc) {
		if (rc != -EINVAL || !err[0] || s.cols || s.ncols)
			abort();
		return 0;
	}
	check_schema(&s);
	if (dlen && !hdb_json_validate(doc, dlen, NULL))
		check_document(&s, doc, dlen);
	hdb_schema_free(&s);
	return 0;
}
