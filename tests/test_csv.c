/*
 * test_csv.c — CSV reading, field quoting and import conversion
 * (fs/csv.c), and a round trip document -> CSV row -> record -> document
 * over generated documents (fs/schema.c's export side).  Pure code: no
 * engine.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "csv.h"
#include "schema.h"

/* A record as text: fields joined by '|', a quoted field in <…>. */
static void record_text(const hdb_csv_field *f, size_t n, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s%.*s%s", i ? "|" : "", f[i].quoted ? "<" : "",
					(int)f[i].n, (const char *)f[i].p, f[i].quoted ? ">" : "");
}

/* Reads csv[0..len) and asserts its records, then the end. */
static void assert_records_n(const char *csv, size_t len, const char *const *want, size_t nwant)
{
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n;
	char got[512];
	hdb_csv_reader_init(&r, csv, len);
	for (size_t i = 0; i < nwant; i++) {
		int rc = hdb_csv_next(&r, &f, &n);
		if (rc != 1)
			fail_msg("record %zu: %d (%s)", i, rc, rc < 0 ? r.reason : "end");
		record_text(f, n, got, sizeof(got));
		assert_string_equal(got, want[i]);
	}
	assert_int_equal(hdb_csv_next(&r, &f, &n), 0);
	assert_int_equal(hdb_csv_next(&r, &f, &n), 0);
	hdb_csv_reader_free(&r);
}

#define assert_records(csv, ...)                                                                         \
	do {                                                                                             \
		static const char *const want_[] = { __VA_ARGS__ };                                      \
		assert_records_n(csv, strlen(csv), want_, sizeof(want_) / sizeof(want_[0]));            \
	} while (0)

static void assert_no_records(const char *csv)
{
	assert_records_n(csv, strlen(csv), NULL, 0);
}

/* Asserts that csv fails at its record `nth` (0-based) with the reason,
 * record line and byte offset. */
static void assert_malformed(const char *csv, size_t nth, const char *reason, size_t line, size_t offset)
{
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n;
	hdb_csv_reader_init(&r, csv, strlen(csv));
	for (size_t i = 0; i < nth; i++)
		assert_int_equal(hdb_csv_next(&r, &f, &n), 1);
	assert_int_equal(hdb_csv_next(&r, &f, &n), -EINVAL);
	assert_string_equal(r.reason, reason);
	assert_int_equal(hdb_csv_record_line(&r), line);
	assert_int_equal(r.offset, offset);
	/* It stays at the error. */
	assert_int_equal(hdb_csv_next(&r, &f, &n), -EINVAL);
	assert_int_equal(hdb_csv_record_line(&r), line);
	hdb_csv_reader_free(&r);
}

static void test_csv_reads_plain_records(void **state)
{
	assert_records("a,b,c\n1,2,3\n", "a|b|c", "1|2|3");
	assert_records("a,b\r\n1,2\r\n", "a|b", "1|2");
	assert_records("a,b\n1,2", "a|b", "1|2");
	assert_records("a,b\r", "a|b");
	assert_records("one", "one");
	assert_records("a,\n,b\n,\n", "a|", "|b", "|");
	assert_records("a\rb,c\n", "a\rb|c");
}

static void test_csv_reads_quoted_fields(void **state)
{
	assert_records("\"a,b\",\"c\"\"d\"\"\",\"\"\"\"\n", "<a,b>|<c\"d\">|<\">");
	assert_records("\"multi\nline\",\"crlf\r\ninside\"\r\nx,y\n", "<multi\nline>|<crlf\r\ninside>", "x|y");
	assert_records("\"\",,\"\"\n", "<>||<>");
	assert_records("\" lead\",\"trail \"", "< lead>|<trail >");
	assert_records("\"a\"\"\"\"b\",\"\"\"x\"", "<a\"\"b>|<\"x>");
	assert_records("x,\"\"", "x|<>");
}

static void test_csv_doubled_quotes_use_scratch_across_records(void **state)
{
	/* Pointers into the scratch buffer stay right while it grows. */
	char big[5000];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"%d\"\"%040d\"", i ? "," : "", i, i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\n\"a\"\"\"\n");
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t nf;
	hdb_csv_reader_init(&r, big, n);
	assert_int_equal(hdb_csv_next(&r, &f, &nf), 1);
	assert_int_equal(nf, 40);
	for (int i = 0; i < 40; i++) {
		char want[64];
		int wl = snprintf(want, sizeof(want), "%d\"%040d", i, i);
		assert_int_equal(f[i].n, (size_t)wl);
		assert_memory_equal(f[i].p, want, (size_t)wl);
	}
	assert_int_equal(hdb_csv_next(&r, &f, &nf), 1);
	assert_int_equal(nf, 1);
	assert_int_equal(f[0].n, 2);
	assert_memory_equal(f[0].p, "a\"", 2);
	assert_int_equal(hdb_csv_next(&r, &f, &nf), 0);
	hdb_csv_reader_free(&r);
}

static void test_csv_blank_lines(void **state)
{
	assert_no_records("");
	assert_no_records("\n");
	assert_no_records("\r\n");
	assert_records("a\n\n", "a");
	assert_records("a\r\n\r\n", "a");
	assert_records("a\n\nb\n", "a", "", "b");
	assert_records("a\n\n\n", "a", "");
	assert_records("\n\n", "");
}

static void test_csv_counts_lines_per_record(void **state)
{
	const char *csv = "h\n\"a\nb\nc\"\nx\r\n\"\r\n\"\nlast";
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n;
	static const size_t lines[] = { 1, 2, 5, 6, 8 };
	hdb_csv_reader_init(&r, csv, strlen(csv));
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(hdb_csv_next(&r, &f, &n), 1);
		assert_int_equal(hdb_csv_record_line(&r), lines[i]);
	}
	assert_int_equal(hdb_csv_next(&r, &f, &n), 0);
	hdb_csv_reader_free(&r);
}

static void test_csv_malformed_records(void **state)
{
	assert_malformed("a,b\n\"open,1\n2\n", 1, "unterminated quoted field", 2, 4);
	assert_malformed("\"", 0, "unterminated quoted field", 1, 0);
	assert_malformed("x,\"a\"\"", 0, "unterminated quoted field", 1, 2);
	assert_malformed("a,b\nx,y\"z\n", 2 - 1, "a quote inside an unquoted field", 2, 7);
	assert_malformed("ab\"\n", 0, "a quote inside an unquoted field", 1, 2);
	assert_malformed("h\n\"a\nb\"c,d\n", 1, "text after a closing quote", 2, 7);
	assert_malformed("\"a\" ,b\n", 0, "text after a closing quote", 1, 3);
	assert_malformed("\"a\"\rb\n", 0, "text after a closing quote", 1, 3);
}

static void test_csv_refuses_more_than_4096_fields(void **state)
{
	char *csv = malloc(2 * 4097 + 2);
	assert_non_null(csv);
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n;
	for (size_t nf = 4096; nf <= 4097; nf++) {
		memset(csv, ',', nf - 1);
		csv[nf - 1] = '\n';
		hdb_csv_reader_init(&r, csv, nf);
		if (nf == 4096) {
			assert_int_equal(hdb_csv_next(&r, &f, &n), 1);
			assert_int_equal(n, 4096);
		} else {
			assert_int_equal(hdb_csv_next(&r, &f, &n), -EINVAL);
			assert_string_equal(r.reason, "more than 4096 fields");
		}
		hdb_csv_reader_free(&r);
	}
	free(csv);
}

static void assert_put_n(const char *field, size_t n, bool force, const char *want, size_t wlen)
{
	hdb_wbuf out;
	hdb_wbuf_init(&out);
	assert_int_equal(hdb_wbuf_write(&out, 0, "x", 1, 100), 0);
	assert_int_equal(hdb_csv_put_field(&out, field, n, force), 0);
	assert_int_equal(out.len, 1 + wlen);
	assert_memory_equal(out.data + 1, want, wlen);
	hdb_wbuf_free(&out);
}

#define assert_put(field, n, force, want) assert_put_n(field, n, force, want, sizeof(want) - 1)

static void test_csv_put_field_quotes_when_needed(void **state)
{
	assert_put("plain", 5, false, "plain");
	assert_put("plain", 5, true, "plain");
	assert_put("", 0, false, "");
	assert_put("", 0, true, "\"\"");
	assert_put("a,b", 3, false, "\"a,b\"");
	assert_put("say \"hi\"", 8, false, "\"say \"\"hi\"\"\"");
	assert_put("\"", 1, false, "\"\"\"\"");
	assert_put("a\nb", 3, false, "\"a\nb\"");
	assert_put("a\rb", 3, false, "\"a\rb\"");
	assert_put(" a", 2, false, "\" a\"");
	assert_put("a ", 2, false, "\"a \"");
	assert_put("\ta", 2, false, "\"\ta\"");
	assert_put("a b", 3, false, "a b");
	assert_put("a\0b", 3, false, "a\0b");
}

#define TABLE "{\"columns\": {\"id\": \"integer\", \"name\": \"string\", \"score\": \"number\", " \
	      "\"active\": \"boolean\", \"tags\": \"array\", \"meta\": \"object\"}, " \
	      "\"required\": [\"name\"], \"key\": \"id\"}"

static hdb_schema parse_schema(const char *text)
{
	hdb_schema s;
	char err[200];
	if (hdb_schema_parse(text, strlen(text), &s, err, sizeof(err)))
		fail_msg("%s: %s", text, err);
	return s;
}

/* The import of header record text under schema s: its return code, with
 * the reason in err. */
static int header(hdb_csv_import *im, const hdb_schema *s, const char *text, char *err, size_t errlen)
{
	hdb_csv_reader r;
	const hdb_csv_field *f;
	size_t n;
	hdb_csv_reader_init(&r, text, strlen(text));
	assert_int_equal(hdb_csv_next(&r, &f, &n), 1);
	int rc = hdb_csv_import_header(im, s, f, n, err, errlen);
	hdb_csv_reader_free(&r);
	return rc;
}

static void assert_header_fails(const char *text, const char *why)
{
	hdb_schema s = parse_schema(TABLE);
	hdb_csv_import im;
	char err[200];
	assert_int_equal(header(&im, &s, text, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("%s: reason \"%s\" does not say \"%s\"", text, err, why);
	hdb_csv_import_free(&im);
	hdb_schema_free(&s);
}

static void test_csv_header_errors(void **state)
{
	assert_header_fails("id,name,color\n", "header field 3, \"color\", is not a column");
	assert_header_fails("id,name,\n", "header field 3, \"\", is not a column");
	assert_header_fails("id,name,Name\n", "\"Name\", is not a column");
	assert_header_fails("id,name,id\n", "column \"id\" appears twice");
	assert_header_fails("id,\"name\",name\n", "column \"name\" appears twice");
	assert_header_fails("id,score\n", "the required column \"name\" is missing");
	assert_header_fails("name,score\n", "the key column \"id\" is missing");
}

static void test_csv_header_maps_fields_to_columns(void **state)
{
	hdb_schema s = parse_schema(TABLE);
	hdb_csv_import im;
	char err[200];
	assert_int_equal(header(&im, &s, "meta,name,\"id\"\n", err, sizeof(err)), 0);
	assert_int_equal(im.ncols, 3);
	assert_int_equal(im.col_of[0], 5);
	assert_int_equal(im.col_of[1], 1);
	assert_int_equal(im.col_of[2], 0);
	assert_int_equal(im.field_of[0], 2);
	assert_int_equal(im.field_of[3], SIZE_MAX);
	hdb_csv_import_free(&im);
	hdb_schema_free(&s);
}

/* Imports text (a header then one record) under schema text; returns the
 * code, the document in doc (NUL-terminated), the name and violation. */
static int import_one(const char *schema, const char *text, char *doc, size_t cap, char *name,
		      hdb_schema_violation *v)
{
	hdb_schema s = parse_schema(schema);
	hdb_csv_reader r;
	hdb_csv_import im;
	const hdb_csv_field *f;
	size_t n, namelen = 99;
	char err[200];
	hdb_wbuf out;
	hdb_wbuf_init(&out);
	hdb_csv_reader_init(&r, text, strlen(text));
	assert_int_equal(hdb_csv_next(&r, &f, &n), 1);
	if (hdb_csv_import_header(&im, &s, f, n, err, sizeof(err)))
		fail_msg("%s: %s", text, err);
	assert_int_equal(hdb_csv_next(&r, &f, &n), 1);
	int rc = hdb_csv_import_row(&im, f, n, &out, name, &namelen, v);
	if (rc) {
		assert_int_equal(out.len, 0);
		assert_int_equal(namelen, 0);
	} else if (s.key < 0) {
		assert_int_equal(namelen, 0);
		name[0] = 0;
	} else {
		assert_int_equal(strlen(name), namelen);
	}
	assert_true(out.len < cap);
	if (out.len)
		memcpy(doc, out.data, out.len);
	doc[out.len] = 0;
	if (!rc) {
		hdb_schema_violation cv;
		if (hdb_schema_check(&s, out.data, out.len, s.key >= 0 ? name : NULL, namelen, &cv))
			fail_msg("%s: import gave %s, which fails %s: %s", text, doc, cv.column, cv.reason);
	}
	hdb_wbuf_free(&out);
	hdb_csv_import_free(&im);
	hdb_csv_reader_free(&r);
	hdb_schema_free(&s);
	return rc;
}

static void assert_import(const char *text, const char *want_doc, const char *want_name)
{
	char doc[1024], name[HDB_SCHEMA_FILE_MAX];
	hdb_schema_violation v;
	if (import_one(TABLE, text, doc, sizeof(doc), name, &v))
		fail_msg("%s: %s: %s", text, v.column, v.reason);
	assert_string_equal(doc, want_doc);
	assert_string_equal(name, want_name);
}

static void assert_import_fails(const char *schema, const char *text, const char *column, const char *why)
{
	char doc[1024], name[HDB_SCHEMA_FILE_MAX];
	hdb_schema_violation v;
	assert_int_equal(import_one(schema, text, doc, sizeof(doc), name, &v), -EINVAL);
	assert_string_equal(v.column, column);
	if (!strstr(v.reason, why))
		fail_msg("%s: reason \"%s\" does not say \"%s\"", text, v.reason, why);
}

static void test_csv_import_builds_typed_documents_in_column_order(void **state)
{
	assert_import("meta,tags,active,score,name,id\n"
		      "\"{ \"\"a\"\" : [1, 2] }\",\"[ \"\"x\"\", null ]\",true,-1.5e3,Alice,42\n",
		      "{\"id\":42,\"name\":\"Alice\",\"score\":-1.5e3,\"active\":true,\"tags\":[\"x\",null],"
		      "\"meta\":{\"a\":[1,2]}}\n",
		      "42.json");
	assert_import("id,name,active\n-7,\"\",false\n", "{\"id\":-7,\"name\":\"\",\"active\":false}\n", "-7.json");
	assert_import("id,name,score\n0,x,12\n", "{\"id\":0,\"name\":\"x\",\"score\":12}\n", "0.json");
	assert_import("id,name,tags,meta\n1,x,[],{}\n", "{\"id\":1,\"name\":\"x\",\"tags\":[],\"meta\":{}}\n",
		      "1.json");
	assert_import("id,name,tags,meta\n1,\"y\",\"   []\",\"{}\t\"\n",
		      "{\"id\":1,\"name\":\"y\",\"tags\":[],\"meta\":{}}\n", "1.json");
}

static void test_csv_import_empty_field_is_missing_quoted_empty_is_string(void **state)
{
	assert_import("id,name,score,active,tags,meta\n5,n,,,,\n", "{\"id\":5,\"name\":\"n\"}\n", "5.json");
	assert_import_fails(TABLE, "id,name\n5,\n", "name", "required");
	assert_import_fails(TABLE, "id,name\n,x\n", "id", "required");
	assert_import_fails(TABLE, "id,name,score\n5,x,\"\"\n", "score", "empty string");
	assert_import_fails(TABLE, "id,name,active\n5,x,\"\"\n", "active", "empty string");
	assert_import_fails(TABLE, "id,name\n\"\",x\n", "id", "empty string");
}

static void test_csv_import_strings_are_taken_as_they_are(void **state)
{
	assert_import("id,name\n1,\"say \"\"hi\"\", a\\b\"\n", "{\"id\":1,\"name\":\"say \\\"hi\\\", a\\\\b\"}\n",
		      "1.json");
	assert_import("id,name\n1,\"two\r\nlines\ttab\"\n", "{\"id\":1,\"name\":\"two\\r\\nlines\\ttab\"}\n", "1.json");
	assert_import("id,name\n1,\x01\x1f\x7f caf\xc3\xa9\n", "{\"id\":1,\"name\":\"\\u0001\\u001f\x7f caf\xc3\xa9\"}\n",
		      "1.json");
	assert_import("id,name\n1,\b\f\n", "{\"id\":1,\"name\":\"\\b\\f\"}\n", "1.json");
	assert_import("id,name\n1, null \n", "{\"id\":1,\"name\":\" null \"}\n", "1.json");
	assert_import("id,name\n1,\\u0041\n", "{\"id\":1,\"name\":\"\\\\u0041\"}\n", "1.json");
	assert_import_fails(TABLE, "id,name\n1,\xc3\n", "name", "UTF-8");
	assert_import_fails(TABLE, "id,name\n1,\xed\xa0\x80\n", "name", "UTF-8");
}

static void test_csv_import_numbers_must_be_exact_json(void **state)
{
	static const char *const bad_int[] = { "1.0", "1e3", "+1", " 1", "1 ", "01", "0x10", "-", "1.", "abc", "true" };
	static const char *const bad_num[] = { "+1", " 1", ".5", "1.", "1e", "1e+", "NaN", "Infinity", "--1", "1,5" };
	char text[100];
	for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++) {
		snprintf(text, sizeof(text), "name,id\nx,\"%s\"\n", bad_int[i]);
		assert_import_fails(TABLE, text, "id", "not an integer");
	}
	for (size_t i = 0; i < sizeof(bad_num) / sizeof(bad_num[0]); i++) {
		snprintf(text, sizeof(text), "id,name,score\n1,x,\"%s\"\n", bad_num[i]);
		assert_import_fails(TABLE, text, "score", "not a number");
	}
	assert_import("id,name,score\n123456789012345678901234567890,x,-0.5E-7\n",
		      "{\"id\":123456789012345678901234567890,\"name\":\"x\",\"score\":-0.5E-7}\n",
		      "123456789012345678901234567890.json");
	assert_import("id,name,score\n-0,x,1e+2\n", "{\"id\":-0,\"name\":\"x\",\"score\":1e+2}\n", "-0.json");
}

static void test_csv_import_booleans_arrays_objects(void **state)
{
	assert_import_fails(TABLE, "id,name,active\n1,x,TRUE\n", "active", "true or false");
	assert_import_fails(TABLE, "id,name,active\n1,x,1\n", "active", "true or false");
	assert_import_fails(TABLE, "id,name,active\n1,x,\" true\"\n", "active", "true or false");
	assert_import_fails(TABLE, "id,name,tags\n1,x,\"{}\"\n", "tags", "not a JSON array");
	assert_import_fails(TABLE, "id,name,tags\n1,x,\"[1,]\"\n", "tags", "not a JSON array");
	assert_import_fails(TABLE, "id,name,tags\n1,x,\"[1] [2]\"\n", "tags", "not a JSON array");
	assert_import_fails(TABLE, "id,name,meta\n1,x,\"[]\"\n", "meta", "not a JSON object");
	assert_import_fails(TABLE, "id,name,meta\n1,x,\"{\"\"a\"\":}\"\n", "meta", "not a JSON object");
	assert_import_fails(TABLE, "id,name,meta\n1,x,null\n", "meta", "not a JSON object");
}

static void test_csv_import_wrong_field_count(void **state)
{
	assert_import_fails(TABLE, "id,name\n1,x,y\n", "", "3 fields, but the header has 2");
	assert_import_fails(TABLE, "id,name\n1\n", "", "1 field, but the header has 2");
	assert_import_fails(TABLE, "id,name\n\nx\n", "", "1 field, but the header has 2");
}

#define SKEY "{\"columns\": {\"k\": \"string\", \"v\": \"integer\"}, \"key\": \"k\"}"
#define NOKEY "{\"columns\": {\"k\": \"string\", \"v\": \"integer\"}, \"required\": [\"v\"]}"

static void test_csv_import_names_from_the_key(void **state)
{
	char doc[1024], name[HDB_SCHEMA_FILE_MAX];
	hdb_schema_violation v;
	assert_int_equal(import_one(SKEY, "v,k\n3,caf\xc3\xa9 au lait\n", doc, sizeof(doc), name, &v), 0);
	assert_string_equal(name, "caf\xc3\xa9 au lait.json");
	assert_string_equal(doc, "{\"k\":\"caf\xc3\xa9 au lait\",\"v\":3}\n");
	assert_int_equal(import_one(NOKEY, "v\n3\n", doc, sizeof(doc), name, &v), 0);
	assert_string_equal(doc, "{\"v\":3}\n");
	assert_string_equal(name, "");
	assert_import_fails(SKEY, "k\n.hidden\n", "k", "starts with '.'");
	assert_import_fails(SKEY, "k\n..\n", "k", "starts with '.'");
	assert_import_fails(SKEY, "k\na/b\n", "k", "'/'");
	assert_import_fails(SKEY, "k\n\"\"\n", "k", "empty string");
	assert_import_fails(NOKEY, "v,k\n,x\n", "v", "required");
	char text[400];
	memset(text, 'k', sizeof(text));
	memcpy(text, "k\n", 2);
	snprintf(text + 2 + 251, sizeof(text) - 253, "\n");
	assert_import_fails(SKEY, text, "k", "longer than 250");
	snprintf(text + 2 + 250, sizeof(text) - 252, "\n");
	assert_int_equal(import_one(SKEY, text, doc, sizeof(doc), name, &v), 0);
	assert_int_equal(strlen(name), 255);
}

/* Found by fuzz_schema: a one-column table's document without that column
 * exports as a blank line, a document without members inside the file,
 * and nothing as its last line. */
static void test_csv_one_column_missing_value_is_a_blank_row(void **state)
{
	hdb_schema s = parse_schema("{\"columns\": {\"c\": \"string\"}}");
	hdb_wbuf out;
	hdb_wbuf_init(&out);
	assert_int_equal(hdb_schema_csv_row(&s, "{\"x\": 1}", 8, &out), 0);
	assert_int_equal(out.len, 1);
	assert_int_equal(out.data[0], '\n');
	hdb_wbuf_free(&out);
	hdb_schema_free(&s);
	char doc[64], name[HDB_SCHEMA_FILE_MAX];
	hdb_schema_violation v;
	assert_int_equal(import_one("{\"columns\": {\"c\": \"string\"}}", "c\n\nx\n", doc, sizeof(doc), name, &v), 0);
	assert_string_equal(doc, "{}\n");
	assert_records("c\n\n", "c");
}

/*
 * Round trip: generated documents, written with every kind of escape and
 * spacing, go through hdb_schema_csv_row into one CSV text; reading and
 * importing it gives each document back in compact form, with members in
 * column order and strings escaped the one way the import writes them.
 */

#define RT_SCHEMA "{\"columns\": {\"id\": \"integer\", \"name\": \"string\", \"score\": \"number\", " \
		  "\"active\": \"boolean\", \"tags\": \"array\", \"meta\": \"object\", " \
		  "\"we,ird \\\"col\\\"\\n\": \"string\"}, \"key\": \"id\"}"
#define RT_DOCS 300

static const char *const rt_keys[][2] = { /* as written in a document, as the import writes it */
	{ "\"id\"", "\"id\"" },       { "\"name\"", "\"name\"" },  { "\"score\"", "\"score\"" },
	{ "\"active\"", "\"active\"" }, { "\"tags\"", "\"tags\"" }, { "\"meta\"", "\"meta\"" },
	{ "\"we,ird \\\"col\\u0022\\n\"", "\"we,ird \\\"col\\\"\\n\"" },
};

static const char *const string_pieces[][2] = {
	{ "a", "a" },           { ",", "," },               { "\\\"", "\\\"" },       { "\\n", "\\n" },
	{ "\\r\\n", "\\r\\n" }, { "\\u00e9", "\xc3\xa9" },  { "\xc3\xa9", "\xc3\xa9" }, { "\\u0001", "\\u0001" },
	{ "\\t", "\\t" },       { "\\/", "/" },             { "\\ud83d\\ude00", "\xf0\x9f\x98\x80" },
	{ " ", " " },           { "\\\\", "\\\\" },         { "\\b\\f", "\\b\\f" },   { "\\u001F", "\\u001f" },
	{ "\\u0000", "\\u0000" }, { "\x7f", "\x7f" },       { "\\u2028", "\xe2\x80\xa8" },
	{ "\\r", "\\r" },       { "x y", "x y" },           { "\\u0022,\\u0022", "\\\",\\\"" },
};

static const char *const number_values[] = { "1.5", "-0", "1e3", "12345678901234567890", "0.000001", "-2E-2", "7" };
static const char *const array_values[][2] = {
	{ "[]", "[]" },
	{ "[ 1 , \"a,b\" ]", "[1,\"a,b\"]" },
	{ "[{\"x\" : \"y\\\"\\n\"}, null, true]", "[{\"x\":\"y\\\"\\n\"},null,true]" },
	{ "[\n\t[ ]\r\n]", "[[]]" },
};
static const char *const object_values[][2] = {
	{ "{}", "{}" },
	{ "{ \"a\" : [ 1, 2 ] , \"b\" : \"c d\" }", "{\"a\":[1,2],\"b\":\"c d\"}" },
	{ "{\"\\u00e9\": \"\\u00e9\"}", "{\"\\u00e9\":\"\\u00e9\"}" },
};

struct text {
	char *p;
	size_t n, cap;
};

static void put_text(struct text *t, const char *s)
{
	size_t n = strlen(s);
	if (t->n + n + 1 > t->cap) {
		t->cap = 2 * (t->n + n + 1);
		t->p = realloc(t->p, t->cap);
		assert_non_null(t->p);
	}
	memcpy(t->p + t->n, s, n + 1);
	t->n += n;
}

/* A random string value: its input text and the import's text. */
static void gen_string(unsigned *seed, struct text *in, struct text *out)
{
	int pieces = rand_r(seed) % 6;
	put_text(in, "\"");
	put_text(out, "\"");
	for (int i = 0; i < pieces; i++) {
		const char *const *p = string_pieces[rand_r(seed) % (sizeof(string_pieces) / sizeof(string_pieces[0]))];
		put_text(in, p[0]);
		put_text(out, p[1]);
	}
	put_text(in, "\"");
	put_text(out, "\"");
}

/* A random value for column c: its input text and the import's text;
 * false when the member is left out (missing or null). */
static bool gen_value(unsigned *seed, size_t c, int id, struct text *in, struct text *out)
{
	char num[32];
	if (c == 0) {
		snprintf(num, sizeof(num), "%d", id);
		put_text(in, num);
		put_text(out, num);
		return true;
	}
	int r = rand_r(seed) % 8;
	if (r == 0)
		return false;
	if (r == 1) {
		put_text(in, "null");
		return false;
	}
	const char *const *v;
	switch (c) {
	case 2:
		v = &number_values[rand_r(seed) % (sizeof(number_values) / sizeof(number_values[0]))];
		put_text(in, *v);
		put_text(out, *v);
		return true;
	case 3:
		put_text(in, r & 1 ? "true" : "false");
		put_text(out, r & 1 ? "true" : "false");
		return true;
	case 4:
		v = array_values[rand_r(seed) % (sizeof(array_values) / sizeof(array_values[0]))];
		break;
	case 5:
		v = object_values[rand_r(seed) % (sizeof(object_values) / sizeof(object_values[0]))];
		break;
	default:
		gen_string(seed, in, out);
		return true;
	}
	put_text(in, v[0]);
	put_text(out, v[1]);
	return true;
}

/* A document with members in a shuffled order and random spacing, and
 * the compact document the import must give back. */
static void gen_doc(unsigned *seed, int id, struct text *in, struct text *want)
{
	size_t order[7] = { 0, 1, 2, 3, 4, 5, 6 };
	for (size_t i = 6; i > 0; i--) {
		size_t j = (size_t)rand_r(seed) % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	struct text vin[7] = { { 0 } }, vout[7] = { { 0 } };
	bool present[7];
	for (size_t c = 0; c < 7; c++) {
		put_text(&vin[c], "");
		put_text(&vout[c], "");
		present[c] = gen_value(seed, c, id, &vin[c], &vout[c]);
	}
	put_text(in, rand_r(seed) & 1 ? "{" : " {\n");
	bool first = true;
	for (size_t i = 0; i < 7; i++) {
		size_t c = order[i];
		if (!present[c] && strcmp(vin[c].p, "null"))
			continue;
		put_text(in, first ? "" : rand_r(seed) & 1 ? "," : " ,\t");
		put_text(in, rt_keys[c][0]);
		put_text(in, rand_r(seed) & 1 ? ":" : " : ");
		put_text(in, vin[c].p);
		first = false;
	}
	put_text(in, "}");
	put_text(want, "{");
	first = true;
	for (size_t c = 0; c < 7; c++) {
		if (!present[c])
			continue;
		put_text(want, first ? "" : ",");
		put_text(want, rt_keys[c][1]);
		put_text(want, ":");
		put_text(want, vout[c].p);
		first = false;
	}
	put_text(want, "}\n");
	for (size_t c = 0; c < 7; c++) {
		free(vin[c].p);
		free(vout[c].p);
	}
}

static void import_and_compare(const hdb_schema *s, const struct text *csv, struct text *want)
{
	hdb_csv_reader r;
	hdb_csv_import im;
	const hdb_csv_field *f;
	size_t n, namelen;
	char err[200], name[HDB_SCHEMA_FILE_MAX], want_name[32];
	hdb_schema_violation v;
	hdb_wbuf doc;
	hdb_wbuf_init(&doc);
	hdb_csv_reader_init(&r, csv->p, csv->n);
	assert_int_equal(hdb_csv_next(&r, &f, &n), 1);
	if (hdb_csv_import_header(&im, s, f, n, err, sizeof(err)))
		fail_msg("header: %s", err);
	for (int id = 0; id < RT_DOCS; id++) {
		int rc = hdb_csv_next(&r, &f, &n);
		if (rc != 1)
			fail_msg("doc %d: %d %s", id, rc, rc < 0 ? r.reason : "");
		doc.len = 0;
		if (hdb_csv_import_row(&im, f, n, &doc, name, &namelen, &v))
			fail_msg("doc %d: %s: %s", id, v.column, v.reason);
		if (doc.len != strlen(want[id].p) || memcmp(doc.data, want[id].p, doc.len))
			fail_msg("doc %d:\n got  %.*s want %s", id, (int)doc.len, (const char *)doc.data, want[id].p);
		snprintf(want_name, sizeof(want_name), "%d.json", id - RT_DOCS / 2);
		assert_string_equal(name, want_name);
	}
	assert_int_equal(hdb_csv_next(&r, &f, &n), 0);
	hdb_wbuf_free(&doc);
	hdb_csv_import_free(&im);
	hdb_csv_reader_free(&r);
}

static void test_csv_round_trip_of_generated_documents(void **state)
{
	hdb_schema s = parse_schema(RT_SCHEMA);
	struct text *want = calloc(RT_DOCS, sizeof(*want));
	struct text csv = { 0 };
	hdb_wbuf out;
	hdb_wbuf_init(&out);
	unsigned seed = 20240607;
	assert_non_null(want);
	assert_int_equal(hdb_schema_csv_header(&s, &out), 0);
	for (int i = 0; i < RT_DOCS; i++) {
		struct text in = { 0 };
		int id = i - RT_DOCS / 2;
		char name[32];
		gen_doc(&seed, id, &in, &want[i]);
		snprintf(name, sizeof(name), "%d.json", id);
		hdb_schema_violation v;
		if (hdb_schema_check(&s, in.p, in.n, name, strlen(name), &v))
			fail_msg("generated %s fails %s: %s", in.p, v.column, v.reason);
		assert_int_equal(hdb_schema_csv_row(&s, in.p, in.n, &out), 0);
		free(in.p);
	}
	put_text(&csv, "");
	csv.p = realloc(csv.p, out.len + 1);
	assert_non_null(csv.p);
	memcpy(csv.p, out.data, out.len);
	csv.n = out.len;
	import_and_compare(&s, &csv, want);
	for (int i = 0; i < RT_DOCS; i++)
		free(want[i].p);
	free(want);
	free(csv.p);
	hdb_wbuf_free(&out);
	hdb_schema_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_reads_plain_records),
		cmocka_unit_test(test_csv_reads_quoted_fields),
		cmocka_unit_test(test_csv_doubled_quotes_use_scratch_across_records),
		cmocka_unit_test(test_csv_blank_lines),
		cmocka_unit_test(test_csv_counts_lines_per_record),
		cmocka_unit_test(test_csv_malformed_records),
		cmocka_unit_test(test_csv_refuses_more_than_4096_fields),
		cmocka_unit_test(test_csv_put_field_quotes_when_needed),
		cmocka_unit_test(test_csv_header_errors),
		cmocka_unit_test(test_csv_header_maps_fields_to_columns),
		cmocka_unit_test(test_csv_import_builds_typed_documents_in_column_order),
		cmocka_unit_test(test_csv_import_empty_field_is_missing_quoted_empty_is_string),
		cmocka_unit_test(test_csv_import_strings_are_taken_as_they_are),
		cmocka_unit_test(test_csv_import_numbers_must_be_exact_json),
		cmocka_unit_test(test_csv_import_booleans_arrays_objects),
		cmocka_unit_test(test_csv_import_wrong_field_count),
		cmocka_unit_test(test_csv_import_names_from_the_key),
		cmocka_unit_test(test_csv_one_column_missing_value_is_a_blank_row),
		cmocka_unit_test(test_csv_round_trip_of_generated_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
