/*
 * test_schema.c — table schemas (fs/schema.c): parsing and its errors,
 * document checks per type, key names, re-validation rules and CSV rows.
 * Pure code: no engine.
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

#include "schema.h"

#define FULL "{\"columns\": {\"id\": \"integer\", \"name\": \"string\", \"score\": \"number\", " \
	     "\"active\": \"boolean\", \"tags\": \"array\", \"meta\": \"object\"}, " \
	     "\"required\": [\"id\", \"name\"], \"key\": \"id\", \"additional\": false}"

static hdb_schema parse_ok(const char *text)
{
	hdb_schema s;
	char err[200];
	int rc = hdb_schema_parse(text, strlen(text), &s, err, sizeof(err));
	if (rc)
		fail_msg("%s: %s", text, err);
	return s;
}

/* Asserts that text is refused with a reason holding `why`. */
static void parse_fails(const char *text, const char *why)
{
	hdb_schema s;
	char err[200];
	int rc = hdb_schema_parse(text, strlen(text), &s, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("%s: accepted", text);
	if (!strstr(err, why))
		fail_msg("%s: reason \"%s\" does not say \"%s\"", text, err, why);
	assert_null(s.cols);
	assert_int_equal(s.ncols, 0);
}

/* hdb_schema_check of doc under schema text, named name (NULL: unchecked);
 * the violation's column goes to col when it is not NULL. */
static int check(const char *schema, const char *doc, const char *name, hdb_schema_violation *v)
{
	hdb_schema s = parse_ok(schema);
	hdb_schema_violation tmp;
	int rc = hdb_schema_check(&s, doc, strlen(doc), name, name ? strlen(name) : 0, v ? v : &tmp);
	hdb_schema_free(&s);
	return rc;
}

static void test_schema_parses_full_example(void **state)
{
	hdb_schema s = parse_ok(FULL);
	static const char *const names[] = { "id", "name", "score", "active", "tags", "meta" };
	static const hdb_col_type types[] = { HDB_COL_INTEGER, HDB_COL_STRING, HDB_COL_NUMBER,
					      HDB_COL_BOOLEAN, HDB_COL_ARRAY, HDB_COL_OBJECT };
	assert_int_equal(s.ncols, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(s.cols[i].name, names[i]);
		assert_int_equal(s.cols[i].nlen, strlen(names[i]));
		assert_int_equal(s.cols[i].type, types[i]);
		assert_int_equal(s.cols[i].required, i < 2);
		assert_int_equal(hdb_schema_find(&s, names[i], strlen(names[i])), (ssize_t)i);
	}
	assert_int_equal(s.key, 0);
	assert_false(s.additional);
	assert_int_equal(hdb_schema_find(&s, "nope", 4), -1);
	assert_int_equal(hdb_schema_find(&s, "i", 1), -1);
	hdb_schema_free(&s);
	hdb_schema_free(&s); /* safe twice */
}

static void test_schema_defaults_and_escaped_names(void **state)
{
	hdb_schema s = parse_ok(" {\"c\\u006flumns\": {\"a\\\"b\": \"str\\u0069ng\", \"b\": \"integer\"}}\n");
	assert_int_equal(s.ncols, 2);
	assert_string_equal(s.cols[0].name, "a\"b");
	assert_int_equal(s.cols[0].type, HDB_COL_STRING);
	assert_int_equal(s.key, -1);
	assert_true(s.additional);
	assert_false(s.cols[0].required);
	assert_false(s.cols[1].required);
	hdb_schema_free(&s);
}

static void test_schema_key_is_implicitly_required(void **state)
{
	hdb_schema s = parse_ok("{\"columns\": {\"n\": \"integer\", \"k\": \"string\"}, \"key\": \"k\"}");
	assert_int_equal(s.key, 1);
	assert_true(s.cols[1].required);
	assert_false(s.cols[0].required);
	hdb_schema_free(&s);
}

static void test_schema_every_parse_error_is_einval_with_reason(void **state)
{
	parse_fails("", "not valid JSON");
	parse_fails("{\"columns\": {\"a\": \"integer\"}", "not valid JSON");
	parse_fails("[]", "must be a JSON object");
	parse_fails("\"columns\"", "must be a JSON object");
	parse_fails("{}", "\"columns\" is missing");
	parse_fails("{\"columns\": [\"a\"]}", "\"columns\" must be an object");
	parse_fails("{\"columns\": {}}", "at least one column");
	parse_fails("{\"columns\": {\"a\": \"int\"}}", "the type must be one of");
	parse_fails("{\"columns\": {\"a\": \"Integer\"}}", "the type must be one of");
	parse_fails("{\"columns\": {\"a\": 1}}", "the type must be one of");
	parse_fails("{\"columns\": {\"a\": \"null\"}}", "the type must be one of");
	parse_fails("{\"columns\": {\"a\": \"integer\", \"a\": \"string\"}}", "column \"a\" is given twice");
	parse_fails("{\"columns\": {\"a\": \"integer\", \"\\u0061\": \"string\"}}", "column \"a\" is given twice");
	parse_fails("{\"columns\": {\"\": \"integer\"}}", "a column name is empty");
	parse_fails("{\"columns\": {\"a\\u0000\": \"integer\"}}", "NUL");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"required\": \"a\"}", "\"required\" must be an array");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"required\": [1]}", "with strings");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"required\": [\"b\"]}", "names \"b\", which is not a column");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"required\": [\"a\", \"a\"]}", "names \"a\" twice");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"key\": 1}", "with strings");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"key\": \"b\"}", "which is not a column");
	parse_fails("{\"columns\": {\"a\": \"number\"}, \"key\": \"a\"}", "integer or string");
	parse_fails("{\"columns\": {\"a\": \"boolean\"}, \"key\": \"a\"}", "integer or string");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"additional\": \"no\"}", "true or false");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"additional\": null}", "true or false");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"extra\": 1}", "unknown member \"extra\"");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"columns\": {\"b\": \"integer\"}}", "given twice");
	parse_fails("{\"columns\": {\"a\": \"integer\"}, \"key\": \"a\", \"key\": \"a\"}", "given twice");
}

static void test_schema_long_names_and_too_many_columns_fail(void **state)
{
	char name[300], text[400];
	memset(name, 'x', 256);
	name[256] = 0;
	snprintf(text, sizeof(text), "{\"columns\": {\"%s\": \"integer\"}}", name);
	parse_fails(text, "longer than 255");
	name[255] = 0;
	snprintf(text, sizeof(text), "{\"columns\": {\"%s\": \"integer\"}}", name);
	hdb_schema s = parse_ok(text);
	assert_int_equal(s.cols[0].nlen, 255);
	hdb_schema_free(&s);

	size_t cap = 20 * 4200;
	char *big = malloc(cap);
	assert_non_null(big);
	for (int ncols = 4096; ncols <= 4097; ncols++) {
		size_t n = (size_t)snprintf(big, cap, "{\"columns\": {");
		for (int i = 0; i < ncols; i++)
			n += (size_t)snprintf(big + n, cap - n, "%s\"c%d\":\"integer\"", i ? "," : "", i);
		snprintf(big + n, cap - n, "}}");
		if (ncols == 4097) {
			parse_fails(big, "more than 4096 columns");
		} else {
			s = parse_ok(big);
			assert_int_equal(s.ncols, 4096);
			assert_int_equal(hdb_schema_find(&s, "c4095", 5), 4095);
			hdb_schema_free(&s);
		}
	}
	free(big);
}

#define INT_SCHEMA "{\"columns\": {\"v\": \"integer\"}}"
#define NUM_SCHEMA "{\"columns\": {\"v\": \"number\"}}"

static void test_schema_integer_has_no_fraction_or_exponent(void **state)
{
	static const char *const good[] = { "{\"v\": 42}", "{\"v\": -7}", "{\"v\": 0}", "{\"v\": -0}",
					    "{\"v\": 123456789012345678901234567890}" };
	static const char *const bad[] = { "{\"v\": 1.0}", "{\"v\": 1e3}", "{\"v\": 1E3}", "{\"v\": -0.0}",
					   "{\"v\": \"1\"}", "{\"v\": true}", "{\"v\": [1]}", "{\"v\": {}}" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(check(INT_SCHEMA, good[i], NULL, NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hdb_schema_violation v;
		assert_int_equal(check(INT_SCHEMA, bad[i], NULL, &v), -EINVAL);
		assert_string_equal(v.column, "v");
		assert_non_null(strstr(v.reason, "integer"));
	}
}

static void test_schema_number_accepts_any_number(void **state)
{
	static const char *const good[] = { "{\"v\": 42}", "{\"v\": 1.5}", "{\"v\": 1e3}", "{\"v\": -0}",
					    "{\"v\": 1e400}" };
	static const char *const bad[] = { "{\"v\": \"1.5\"}", "{\"v\": false}", "{\"v\": []}" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(check(NUM_SCHEMA, good[i], NULL, NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(check(NUM_SCHEMA, bad[i], NULL, NULL), -EINVAL);
}

static void test_schema_each_type_accepts_its_kind_only(void **state)
{
	static const struct {
		const char *type, *good, *bad;
	} cases[] = {
		{ "string", "\"x\"", "1" },     { "string", "\"\"", "[\"x\"]" },
		{ "boolean", "true", "\"true\"" }, { "boolean", "false", "0" },
		{ "array", "[1, {\"a\": 2}]", "{}" }, { "array", "[]", "\"[]\"" },
		{ "object", "{\"a\": [1]}", "[]" }, { "object", "{}", "\"{}\"" },
	};
	char schema[100], good[100], bad[100];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(schema, sizeof(schema), "{\"columns\": {\"v\": \"%s\"}}", cases[i].type);
		snprintf(good, sizeof(good), "{\"v\": %s}", cases[i].good);
		snprintf(bad, sizeof(bad), "{\"v\": %s}", cases[i].bad);
		assert_int_equal(check(schema, good, NULL, NULL), 0);
		assert_int_equal(check(schema, bad, NULL, NULL), -EINVAL);
	}
}

static void test_schema_null_counts_as_missing(void **state)
{
	const char *schema = "{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"required\": [\"b\"]}";
	hdb_schema_violation v;
	assert_int_equal(check(schema, "{\"a\": null, \"b\": \"x\"}", NULL, NULL), 0);
	assert_int_equal(check(schema, "{\"b\": \"x\"}", NULL, NULL), 0);
	assert_int_equal(check(schema, "{\"a\": 1, \"b\": null}", NULL, &v), -EINVAL);
	assert_string_equal(v.column, "b");
	assert_non_null(strstr(v.reason, "required"));
	assert_int_equal(check(schema, "{\"a\": 1}", NULL, &v), -EINVAL);
	assert_string_equal(v.column, "b");
	/* The last of duplicate members decides presence, every one its type. */
	assert_int_equal(check(schema, "{\"b\": \"x\", \"b\": null}", NULL, &v), -EINVAL);
	assert_int_equal(check(schema, "{\"b\": null, \"b\": \"x\"}", NULL, NULL), 0);
	assert_int_equal(check(schema, "{\"b\": 1, \"b\": \"x\"}", NULL, &v), -EINVAL);
	assert_string_equal(v.column, "b");
}

static void test_schema_document_must_be_an_object(void **state)
{
	hdb_schema_violation v;
	assert_int_equal(check(INT_SCHEMA, "[{\"v\": 1}]", NULL, &v), -EINVAL);
	assert_string_equal(v.column, "");
	assert_non_null(strstr(v.reason, "not a JSON object"));
	assert_int_equal(check(INT_SCHEMA, " 42 ", NULL, NULL), -EINVAL);
	assert_int_equal(check(INT_SCHEMA, " {} \n", NULL, NULL), 0);
}

static void test_schema_additional_false_refuses_other_members(void **state)
{
	const char *closed = "{\"columns\": {\"a\": \"integer\"}, \"additional\": false}";
	const char *open = "{\"columns\": {\"a\": \"integer\"}}";
	hdb_schema_violation v;
	assert_int_equal(check(closed, "{\"a\": 1}", NULL, NULL), 0);
	assert_int_equal(check(closed, "{\"a\": 1, \"b\\u0021\": 2}", NULL, &v), -EINVAL);
	assert_string_equal(v.column, "b!");
	assert_non_null(strstr(v.reason, "not a column"));
	assert_int_equal(check(closed, "{\"\\u0061\": 1}", NULL, NULL), 0);
	assert_int_equal(check(open, "{\"a\": 1, \"b\": [2]}", NULL, NULL), 0);
}

#define IKEY "{\"columns\": {\"id\": \"integer\", \"x\": \"string\"}, \"key\": \"id\"}"
#define SKEY "{\"columns\": {\"id\": \"string\"}, \"key\": \"id\"}"

static void test_schema_integer_key_names_the_document(void **state)
{
	hdb_schema_violation v;
	assert_int_equal(check(IKEY, "{\"id\": 42}", "42.json", NULL), 0);
	assert_int_equal(check(IKEY, "{\"id\": -7}", "-7.json", NULL), 0);
	assert_int_equal(check(IKEY, "{\"id\": 42}", "43.json", &v), -EINVAL);
	assert_string_equal(v.column, "id");
	assert_non_null(strstr(v.reason, "\"42.json\""));
	assert_int_equal(check(IKEY, "{\"id\": 42}", "42", NULL), -EINVAL);
	assert_int_equal(check(IKEY, "{\"id\": 42}", NULL, NULL), 0);
	assert_int_equal(check(IKEY, "{\"x\": \"a\"}", "42.json", &v), -EINVAL);
	assert_string_equal(v.column, "id");
	assert_int_equal(check(IKEY, "{\"id\": \"42\"}", "42.json", NULL), -EINVAL);
}

static void test_schema_string_key_names_the_document(void **state)
{
	assert_int_equal(check(SKEY, "{\"id\": \"alice\"}", "alice.json", NULL), 0);
	assert_int_equal(check(SKEY, "{\"id\": \"al\\u0069ce\"}", "alice.json", NULL), 0);
	assert_int_equal(check(SKEY, "{\"id\": \"caf\\u00e9 1\"}", "caf\xc3\xa9 1.json", NULL), 0);
	assert_int_equal(check(SKEY, "{\"id\": \"a.b\"}", "a.b.json", NULL), 0);
	assert_int_equal(check(SKEY, "{\"id\": \"alice\"}", "bob.json", NULL), -EINVAL);
	assert_int_equal(check(SKEY, "{\"id\": 1}", "1.json", NULL), -EINVAL);
}

static void test_schema_invalid_key_names_fail(void **state)
{
	static const char *const bad[] = { "\"\"", "\".\"", "\"..\"", "\".hidden\"", "\"a/b\"", "\"a\\u0000b\"",
					   "\"\\/x\"" };
	hdb_schema s = parse_ok(SKEY);
	char doc[700], out[HDB_SCHEMA_FILE_MAX];
	size_t olen;
	hdb_schema_violation v;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"id\": %s}", bad[i]);
		assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), -EINVAL);
		assert_int_equal(hdb_schema_check(&s, doc, strlen(doc), NULL, 0, &v), -EINVAL);
		assert_string_equal(v.column, "id");
	}
	/* 250 bytes fit, 251 do not, also when written with escapes. */
	char key[260];
	memset(key, 'k', 251);
	key[250] = 0;
	snprintf(doc, sizeof(doc), "{\"id\": \"%s\"}", key);
	assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), 0);
	assert_int_equal(olen, 255);
	assert_int_equal(strlen(out), 255);
	key[250] = 'k';
	key[251] = 0;
	snprintf(doc, sizeof(doc), "{\"id\": \"%s\"}", key);
	assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), -EINVAL);
	size_t n = (size_t)snprintf(doc, sizeof(doc), "{\"id\": \"");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\\u00e9");
	snprintf(doc + n, sizeof(doc) - n, "\"}");
	assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), 0);
	assert_int_equal(olen, 205);
	hdb_schema_free(&s);
}

static void test_schema_key_name_errors(void **state)
{
	hdb_schema s = parse_ok(IKEY), nokey = parse_ok(INT_SCHEMA);
	char out[HDB_SCHEMA_FILE_MAX];
	size_t olen;
	const char *doc = "{\"x\": \"a\", \"id\": -12}";
	assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), 0);
	assert_string_equal(out, "-12.json");
	assert_int_equal(olen, 8);
	assert_int_equal(hdb_schema_key_name(&nokey, doc, strlen(doc), out, &olen), -ENOENT);
	doc = "{\"x\": \"a\"}";
	assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), -EINVAL);
	doc = "{\"id\": null}";
	assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), -EINVAL);
	doc = "{\"id\": 1.5}";
	assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), -EINVAL);
	doc = "[1]";
	assert_int_equal(hdb_schema_key_name(&s, doc, strlen(doc), out, &olen), -EINVAL);
	hdb_schema_free(&s);
	hdb_schema_free(&nokey);
}

/* needs_revalidation between two schema texts. */
static bool needs(const char *old, const char *new_)
{
	hdb_schema o = parse_ok(old), n = parse_ok(new_);
	bool r = hdb_schema_needs_revalidation(&o, &n);
	hdb_schema_free(&o);
	hdb_schema_free(&n);
	return r;
}

#define CLOSED_AB "{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"additional\": false}"
#define OPEN_AB "{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}}"

static void test_schema_revalidation_rules(void **state)
{
	hdb_schema s = parse_ok(OPEN_AB);
	assert_true(hdb_schema_needs_revalidation(NULL, &s));
	hdb_schema_free(&s);
	/* Nothing changed, or only relaxed. */
	assert_false(needs(CLOSED_AB, CLOSED_AB));
	assert_false(needs(OPEN_AB, OPEN_AB));
	assert_false(needs(CLOSED_AB, OPEN_AB));
	assert_false(needs("{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"required\": [\"a\"]}", OPEN_AB));
	assert_false(needs(OPEN_AB, "{\"columns\": {\"b\": \"string\", \"a\": \"integer\"}}"));
	/* Adding a column that is not required. */
	assert_false(needs(CLOSED_AB, "{\"columns\": {\"a\": \"integer\", \"b\": \"string\", \"c\": \"array\"}, "
				      "\"additional\": false}"));
	assert_true(needs(OPEN_AB, "{\"columns\": {\"a\": \"integer\", \"b\": \"string\", \"c\": \"array\"}}"));
	assert_true(needs(CLOSED_AB, "{\"columns\": {\"a\": \"integer\", \"b\": \"string\", \"c\": \"array\"}, "
				     "\"required\": [\"c\"], \"additional\": false}"));
	/* A type changed, even to a wider one. */
	assert_true(needs(OPEN_AB, "{\"columns\": {\"a\": \"number\", \"b\": \"string\"}}"));
	/* Newly required. */
	assert_true(needs(OPEN_AB, "{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"required\": [\"b\"]}"));
	/* "additional" from true to false. */
	assert_true(needs(OPEN_AB, CLOSED_AB));
	/* A column removed: only when other members are refused. */
	assert_false(needs(OPEN_AB, "{\"columns\": {\"a\": \"integer\"}}"));
	assert_false(needs(CLOSED_AB, "{\"columns\": {\"a\": \"integer\"}}"));
	assert_true(needs(CLOSED_AB, "{\"columns\": {\"a\": \"integer\"}, \"additional\": false}"));
	/* The key: added, removed or moved. */
	assert_true(needs(OPEN_AB, "{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"key\": \"a\", "
				   "\"required\": [\"a\"]}"));
	assert_true(needs("{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"key\": \"a\"}",
			  "{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"required\": [\"a\"]}"));
	assert_true(needs("{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"key\": \"a\", \"required\": [\"b\"]}",
			  "{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"key\": \"b\", \"required\": [\"a\"]}"));
	assert_false(needs("{\"columns\": {\"a\": \"integer\", \"b\": \"string\"}, \"key\": \"a\"}",
			   "{\"columns\": {\"b\": \"string\", \"a\": \"integer\"}, \"key\": \"a\"}"));
}

/* Asserts the CSV row of doc under the full example schema (without key). */
static void assert_row_n(const char *doc, const char *want, size_t wlen)
{
	hdb_schema s = parse_ok("{\"columns\": {\"id\": \"integer\", \"name\": \"string\", \"score\": \"number\", "
				"\"active\": \"boolean\", \"tags\": \"array\", \"meta\": \"object\"}}");
	hdb_wbuf out;
	hdb_wbuf_init(&out);
	assert_int_equal(hdb_schema_csv_row(&s, doc, strlen(doc), &out), 0);
	if (out.len != wlen || memcmp(out.data, want, wlen))
		fail_msg("%s: got \"%.*s\"", doc, (int)out.len, (const char *)out.data);
	hdb_wbuf_free(&out);
	hdb_schema_free(&s);
}

#define assert_row(doc, want) assert_row_n(doc, want, sizeof(want) - 1)

static void test_schema_csv_header_in_column_order(void **state)
{
	hdb_schema s = parse_ok("{\"columns\": {\"z\": \"integer\", \"a b\": \"string\", \" lead\": \"string\", "
				"\"q\\\"uote\": \"number\", \"c,d\": \"boolean\"}}");
	hdb_wbuf out;
	hdb_wbuf_init(&out);
	assert_int_equal(hdb_schema_csv_header(&s, &out), 0);
	const char *want = "z,a b,\" lead\",\"q\"\"uote\",\"c,d\"\n";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	hdb_wbuf_free(&out);
	hdb_schema_free(&s);
}

static void test_schema_csv_row_converts_each_type(void **state)
{
	assert_row("{\"id\": 42, \"name\": \"Alice\", \"score\": 1.5e3, \"active\": true, "
		   "\"tags\": [ \"a\", 1 ], \"meta\": { \"k\" : { \"x\": null } }}",
		   "42,Alice,1.5e3,true,\"[\"\"a\"\",1]\",\"{\"\"k\"\":{\"\"x\"\":null}}\"\n");
	assert_row("{\"meta\": {}, \"tags\": [], \"active\": false, \"id\": -0}", "-0,,,false,[],{}\n");
}

static void test_schema_csv_row_missing_null_and_empty(void **state)
{
	assert_row("{}", ",,,,,\n");
	assert_row("{\"name\": null, \"id\": null}", ",,,,,\n");
	assert_row("{\"name\": \"\"}", ",\"\",,,,\n");
	assert_row("{\"other\": 1, \"name\": \"x\", \"name\": \"y\"}", ",y,,,,\n");
}

static void test_schema_csv_row_quotes_strings(void **state)
{
	assert_row("{\"name\": \"a,b\"}", ",\"a,b\",,,,\n");
	assert_row("{\"name\": \"say \\\"hi\\\"\"}", ",\"say \"\"hi\"\"\",,,,\n");
	assert_row("{\"name\": \"two\\nlines\\r\\n\"}", ",\"two\nlines\r\n\",,,,\n");
	assert_row("{\"name\": \" pad \"}", ",\" pad \",,,,\n");
	assert_row("{\"name\": \"caf\\u00e9\\t\\u0001\"}", ",caf\xc3\xa9\t\x01,,,,\n");
	assert_row("{\"name\": \"x\\u0000y\"}", ",x\0y,,,,\n");
}

static void test_schema_csv_row_refuses_non_objects(void **state)
{
	hdb_schema s = parse_ok(INT_SCHEMA);
	hdb_wbuf out;
	hdb_wbuf_init(&out);
	assert_int_equal(hdb_schema_csv_row(&s, "[1]", 3, &out), -EINVAL);
	assert_int_equal(hdb_schema_csv_row(&s, "1", 1, &out), -EINVAL);
	assert_int_equal(out.len, 0);
	hdb_wbuf_free(&out);
	hdb_schema_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_parses_full_example),
		cmocka_unit_test(test_schema_defaults_and_escaped_names),
		cmocka_unit_test(test_schema_key_is_implicitly_required),
		cmocka_unit_test(test_schema_every_parse_error_is_einval_with_reason),
		cmocka_unit_test(test_schema_long_names_and_too_many_columns_fail),
		cmocka_unit_test(test_schema_integer_has_no_fraction_or_exponent),
		cmocka_unit_test(test_schema_number_accepts_any_number),
		cmocka_unit_test(test_schema_each_type_accepts_its_kind_only),
		cmocka_unit_test(test_schema_null_counts_as_missing),
		cmocka_unit_test(test_schema_document_must_be_an_object),
		cmocka_unit_test(test_schema_additional_false_refuses_other_members),
		cmocka_unit_test(test_schema_integer_key_names_the_document),
		cmocka_unit_test(test_schema_string_key_names_the_document),
		cmocka_unit_test(test_schema_invalid_key_names_fail),
		cmocka_unit_test(test_schema_key_name_errors),
		cmocka_unit_test(test_schema_revalidation_rules),
		cmocka_unit_test(test_schema_csv_header_in_column_order),
		cmocka_unit_test(test_schema_csv_row_converts_each_type),
		cmocka_unit_test(test_schema_csv_row_missing_null_and_empty),
		cmocka_unit_test(test_schema_csv_row_quotes_strings),
		cmocka_unit_test(test_schema_csv_row_refuses_non_objects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
