/*
 * fuzz_csv.c — libFuzzer target for the CSV reader and the import
 * conversion (fs/csv.c), with the CSV export of fs/schema.c: every byte
 * written to a table's .import.csv is untrusted.
 *
 * The input is a whole CSV file for a fixed table (one column of each type
 * and an integer key).  Beyond "no crash, no out-of-bounds read" (ASan), it
 * checks:
 *   - an error has a reason, an offset inside the input (or at its end)
 *     and a line;
 *   - every field, written back with hdb_csv_put_field and read again,
 *     gives the same bytes and quotedness (an empty field aside);
 *   - a record the import accepts gives valid JSON that passes the schema
 *     under the file name it got, and exporting that document and
 *     importing the row again gives the same document.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I fs \
 *        fs/json.c fs/jwalk.c fs/wbuf.c fs/schema.c fs/csv.c \
 *        tests/fuzz/fuzz_csv.c -o fuzz_csv
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "json.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char table[] =
	"{\"columns\": {\"id\": \"integer\", \"name\": \"string\", \"score\": \"number\", \"active\": \"boolean\", "
	"\"tags\": \"array\", \"meta\": \"object\", \"note\": \"string\"}, \"required\": [\"name\"], \"key\": \"id\"}";

static void check_field_round_trip(const hdb_csv_field *f)
{
	if (!f->n && !f->quoted)
		return;
	hdb_wbuf out;
	hdb_csv_reader r;
	const hdb_csv_field *g;
	size_t n;
	hdb_wbuf_init(&out);
	if (hdb_csv_put_field(&out, f->p, f->n, f->quoted))
		abort();
	hdb_csv_reader_init(&r, out.data, out.len);
	if (hdb_csv_next(&r, &g, &n) != 1 || n != 1 || g[0].n != f->n || memcmp(g[0].p, f->p, f->n))
		abort();
	if (!f->n && !g[0].quoted)
		abort();
	if (hdb_csv_next(&r, &g, &n) != 0)
		abort();
	hdb_csv_reader_free(&r);
	hdb_wbuf_free(&out);
}

/* Imports the one record of csv[0..len) under im into doc. */
static int import_text(const hdb_csv_import *im, const uint8_t *csv, size_t len, hdb_wbuf *doc, char *name,
		       size_t *namelen)
{
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n;
	hdb_schema_violation v;
	hdb_csv_reader_init(&r, csv, len);
	int rc = hdb_csv_next(&r, &f, &n);
	if (rc != 1)
		abort();
	rc = hdb_csv_import_row(im, f, n, doc, name, namelen, &v);
	hdb_csv_reader_free(&r);
	return rc;
}

/* doc (accepted by the import) exported in header order and imported
 * again is the same document. */
static void check_export_round_trip(const hdb_schema *s, const hdb_wbuf *doc, const char *name, size_t namelen)
{
	hdb_wbuf row, again;
	hdb_csv_import im;
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n, nl;
	char err[200], name2[HDB_SCHEMA_FILE_MAX];
	hdb_wbuf_init(&row);
	hdb_wbuf_init(&again);
	if (hdb_schema_csv_header(s, &row))
		abort();
	hdb_csv_reader_init(&r, row.data, row.len);
	if (hdb_csv_next(&r, &f, &n) != 1 || hdb_csv_import_header(&im, s, f, n, err, sizeof(err)))
		abort();
	hdb_csv_reader_free(&r);
	row.len = 0;
	if (hdb_schema_csv_row(s, doc->data, doc->len, &row))
		abort();
	if (import_text(&im, row.data, row.len, &again, name2, &nl))
		abort();
	if (again.len != doc->len || memcmp(again.data, doc->data, doc->len))
		abort();
	if (nl != namelen || memcmp(name, name2, nl))
		abort();
	hdb_csv_import_free(&im);
	hdb_wbuf_free(&row);
	hdb_wbuf_free(&again);
}

static void check_row(const hdb_schema *s, const hdb_csv_import *im, const hdb_csv_field *f, size_t n)
{
	hdb_wbuf doc;
	hdb_schema_violation v;
	char name[HDB_SCHEMA_FILE_MAX];
	size_t namelen;
	hdb_wbuf_init(&doc);
	int rc = hdb_csv_import_row(im, f, n, &doc, name, &namelen, &v);
	if (rc && (rc != -EINVAL || !v.reason[0] || doc.len || namelen))
		abort();
	if (!rc) {
		if (!namelen || namelen >= HDB_SCHEMA_FILE_MAX || strlen(name) != namelen)
			abort();
		if (hdb_json_validate(doc.data, doc.len, NULL) || doc.data[doc.len - 1] != '\n')
			abort();
		if (hdb_schema_check(s, doc.data, doc.len, name, namelen, &v))
			abort();
		check_export_round_trip(s, &doc, name, namelen);
	}
	hdb_wbuf_free(&doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static hdb_schema s;
	static bool parsed;
	char err[200];
	if (!parsed) {
		if (hdb_schema_parse(table, strlen(table), &s, err, sizeof(err)))
			abort();
		parsed = true;
	}
	hdb_csv_reader r;
	hdb_csv_import im = { 0 };
	const hdb_csv_field *f;
	size_t n, records = 0;
	bool header_ok = false;
	int rc;
	hdb_csv_reader_init(&r, data, size);
	while ((rc = hdb_csv_next(&r, &f, &n)) == 1) {
		if (!n || n > HDB_CSV_MAX_FIELDS || hdb_csv_record_line(&r) <= records)
			abort();
		for (size_t i = 0; i < n; i++)
			check_field_round_trip(&f[i]);
		if (!records++)
			header_ok = hdb_csv_import_header(&im, &s, f, n, err, sizeof(err)) == 0;
		else if (header_ok)
			check_row(&s, &im, f, n);
	}
	if (rc == -EINVAL && (!r.reason || r.offset > size || !r.line))
		abort();
	if (rc != 0 && rc != -EINVAL)
		abort();
	hdb_csv_import_free(&im);
	hdb_csv_reader_free(&r);
	return 0;
}
