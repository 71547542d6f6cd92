/*
 * test_json.c — the doc layer: strict JSON validation and dotted-path lookup.
 *
 * The conformance suite lives in tests/json_conformance/: y_*.json must be
 * accepted, n_*.json rejected, and i_*.json (implementation-defined) must
 * match the decisions in i_decisions[] below and in fs/json.h.  The suite
 * directory comes from $HDB_JSON_SUITE, by default the path relative to the
 * source root.
 */

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

#define SUITE_DEFAULT "tests/json_conformance"

/* ---- helpers ---- */

/* Copies s into a buffer of exactly n bytes, so ASan sees any over-read. */
static uint8_t *exact_copy(const void *s, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	assert_non_null(b);
	memcpy(b, s, n);
	return b;
}

/* Validates the first n bytes of s from an exact-size copy. */
static int validate_n(const void *s, size_t n, hdb_json_error *err)
{
	uint8_t *b = exact_copy(s, n);
	int rc = hdb_json_validate(b, n, err);

	free(b);
	return rc;
}

static int validate_str(const char *s, hdb_json_error *err)
{
	return validate_n(s, strlen(s), err);
}

static void expect_error(const void *s, size_t n, size_t offset, const char *reason)
{
	hdb_json_error err = { 12345, NULL };

	if (validate_n(s, n, &err) != -EINVAL || err.offset != offset ||
	    !err.reason || strcmp(err.reason, reason) != 0) {
		print_error("input \"%.*s\" (%zu bytes): got offset %zu \"%s\", want %zu \"%s\"\n",
			    (int)(n < 60 ? n : 60), (const char *)s, n, err.offset,
			    err.reason ? err.reason : "(accepted)", offset, reason);
		fail();
	}
}

#define EXPECT_ERROR(lit, off, why) expect_error(lit, sizeof(lit) - 1, off, why)

struct suite_file {
	char name[256];
	uint8_t *data; /* exactly len bytes */
	size_t len;
};

static const char *suite_dir(void)
{
	const char *d = getenv("HDB_JSON_SUITE");

	return d && *d ? d : SUITE_DEFAULT;
}

static void read_suite_file(const char *dir, const char *name, struct suite_file *f)
{
	char path[4096];
	FILE *fp;
	long len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	assert_true(len >= 0);
	rewind(fp);
	f->len = (size_t)len;
	f->data = malloc(f->len ? f->len : 1);
	assert_non_null(f->data);
	assert_int_equal(fread(f->data, 1, f->len, fp), f->len);
	fclose(fp);
	snprintf(f->name, sizeof(f->name), "%s", name);
}

static bool is_suite_name(const char *name, char kind)
{
	size_t n = strlen(name);

	return name[0] == kind && name[1] == '_' && n > 7 && strcmp(name + n - 5, ".json") == 0;
}

/* Calls fn on each suite file of the given kind ('y', 'n', 'i'); returns the count. */
static int for_each_suite_file(char kind, void (*fn)(const struct suite_file *))
{
	const char *dir = suite_dir();
	DIR *d = opendir(dir);
	struct dirent *de;
	int count = 0;

	if (!d)
		print_error("cannot open conformance suite %s (set HDB_JSON_SUITE)\n", dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		struct suite_file f;

		if (!is_suite_name(de->d_name, kind))
			continue;
		read_suite_file(dir, de->d_name, &f);
		fn(&f);
		free(f.data);
		count++;
	}
	closedir(d);
	return count;
}

/* ---- conformance suite ---- */

static void check_accepted(const struct suite_file *f)
{
	hdb_json_error err = { 0, NULL };
	int rc = hdb_json_validate(f->data, f->len, &err);

	if (rc != 0) {
		print_error("%s: rejected at %zu: %s\n", f->name, err.offset, err.reason);
		fail();
	}
}

static void check_rejected(const struct suite_file *f)
{
	hdb_json_error err = { SIZE_MAX, NULL };
	int rc = hdb_json_validate(f->data, f->len, &err);

	if (rc != -EINVAL) {
		print_error("%s: accepted (rc %d)\n", f->name, rc);
		fail();
	}
	assert_non_null(err.reason);
	assert_true(err.offset <= f->len);
}

static void test_json_conformance_y_files_are_accepted(void **state)
{
	assert_true(for_each_suite_file('y', check_accepted) >= 60);
}

static void test_json_conformance_n_files_are_rejected(void **state)
{
	assert_true(for_each_suite_file('n', check_rejected) >= 100);
}

/* Our answers where RFC 8259 leaves the choice to the implementation. */
static const struct {
	const char *name;
	size_t offset;      /* when rejected */
	const char *reason; /* NULL: accepted */
} i_decisions[] = {
	{ "i_bom_before_object.json", 0, "byte order mark" },
	{ "i_bom_before_string.json", 0, "byte order mark" },
	{ "i_bom_only.json", 0, "byte order mark" },
	{ "i_object_duplicate_keys.json", 0, NULL },
	{ "i_object_duplicate_keys_different_values.json", 0, NULL },
	{ "i_number_huge_exp.json", 0, NULL },
	{ "i_number_negative_huge_exp.json", 0, NULL },
	{ "i_number_tiny_exp.json", 0, NULL },
	{ "i_number_big_integer.json", 0, NULL },
	{ "i_number_400_digits.json", 0, NULL },
	{ "i_number_long_exp.json", 0, NULL },
	{ "i_number_precision.json", 0, NULL },
	{ "i_string_u_escape_nul.json", 0, NULL },
	{ "i_string_u_escape_nul_in_key.json", 0, NULL },
	{ "i_string_u_escape_noncharacter.json", 0, NULL },
	{ "i_string_utf8_noncharacter.json", 0, NULL },
	{ "i_string_lone_high_surrogate.json", 1, "lone surrogate escape" },
	{ "i_string_lone_low_surrogate.json", 1, "lone surrogate escape" },
	{ "i_string_high_surrogate_then_char.json", 1, "lone surrogate escape" },
	{ "i_string_high_surrogate_then_bmp_escape.json", 1, "lone surrogate escape" },
	{ "i_string_high_surrogate_then_other_escape.json", 1, "lone surrogate escape" },
	{ "i_string_two_high_surrogates.json", 1, "lone surrogate escape" },
	{ "i_string_reversed_surrogate_pair.json", 1, "lone surrogate escape" },
	{ "i_string_lone_surrogate_in_key.json", 2, "lone surrogate escape" },
	{ "i_nesting_512_arrays.json", 0, NULL },
	{ "i_nesting_513_arrays.json", 512, "nesting too deep" },
	{ "i_nesting_512_mixed.json", 0, NULL },
	{ "i_nesting_513_mixed.json", 1536, "nesting too deep" },
};

#define N_DECISIONS (sizeof(i_decisions) / sizeof(i_decisions[0]))

static int i_seen[N_DECISIONS];

static void check_decision(const struct suite_file *f)
{
	hdb_json_error err = { 0, NULL };

	for (size_t k = 0; k < N_DECISIONS; k++) {
		if (strcmp(f->name, i_decisions[k].name) != 0)
			continue;
		int rc = hdb_json_validate(f->data, f->len, &err);
		if (!i_decisions[k].reason) {
			if (rc != 0)
				print_error("%s: rejected at %zu: %s\n", f->name, err.offset, err.reason);
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_int_equal(err.offset, i_decisions[k].offset);
			assert_string_equal(err.reason, i_decisions[k].reason);
		}
		i_seen[k]++;
		return;
	}
	print_error("%s: no decision recorded in i_decisions[]\n", f->name);
	fail();
}

static void test_json_conformance_i_files_match_decisions(void **state)
{
	memset(i_seen, 0, sizeof(i_seen));
	assert_int_equal(for_each_suite_file('i', check_decision), N_DECISIONS);
	for (size_t k = 0; k < N_DECISIONS; k++) {
		if (i_seen[k] != 1)
			print_error("%s: missing from the suite\n", i_decisions[k].name);
		assert_int_equal(i_seen[k], 1);
	}
}

/* ---- exact error offsets ---- */

static void test_json_error_offsets_structure(void **state)
{
	EXPECT_ERROR("", 0, "empty input");
	EXPECT_ERROR(" \n ", 3, "unexpected end of input");
	EXPECT_ERROR("[1,2", 4, "unexpected end of input");
	EXPECT_ERROR("[1,2,]", 5, "trailing comma");
	EXPECT_ERROR("{\"a\":1 , }", 9, "trailing comma");
	EXPECT_ERROR("[1 2]", 3, "expected ',' or ']'");
	EXPECT_ERROR("{\"a\":1]", 6, "expected ',' or '}'");
	EXPECT_ERROR("{\"a\" 1}", 5, "expected ':'");
	EXPECT_ERROR("{ a:1}", 2, "expected string key");
	EXPECT_ERROR("{\"a\":1,\n  b:2}", 10, "expected string key");
	EXPECT_ERROR("[] x", 3, "trailing data");
	EXPECT_ERROR("{}}", 2, "trailing data");
	EXPECT_ERROR("[?]", 1, "unexpected character");
	EXPECT_ERROR("\xEF\xBB\xBF[]", 0, "byte order mark");
	EXPECT_ERROR("[\v]", 1, "unexpected character");
}

static void test_json_error_offsets_literals_and_numbers(void **state)
{
	EXPECT_ERROR("[tru]", 4, "invalid literal");
	EXPECT_ERROR("nul", 3, "unexpected end of input");
	EXPECT_ERROR("[fAlse]", 2, "invalid literal");
	EXPECT_ERROR("[0123]", 2, "leading zero");
	EXPECT_ERROR("-0.", 3, "unexpected end of input");
	EXPECT_ERROR("[-x]", 2, "invalid number");
	EXPECT_ERROR("[1.x]", 3, "invalid number");
	EXPECT_ERROR("[1e+x]", 4, "invalid number");
	EXPECT_ERROR("[.5]", 1, "unexpected character");
	EXPECT_ERROR("+1", 0, "unexpected character");
	EXPECT_ERROR("0x10", 1, "trailing data");
}

static void test_json_error_offsets_strings(void **state)
{
	EXPECT_ERROR("\"abc", 4, "unexpected end of input");
	EXPECT_ERROR("[\"a\tb\"]", 3, "unescaped control character");
	EXPECT_ERROR("\"a\\qb\"", 3, "invalid escape");
	EXPECT_ERROR("\"\\u12x4\"", 5, "invalid \\u escape");
	EXPECT_ERROR("\"ab\\uDC00\"", 3, "lone surrogate escape");
	EXPECT_ERROR("\"ab\\uD800\\u0041\"", 3, "lone surrogate escape");
	EXPECT_ERROR("\"\\uD800\\uDCxx\"", 11, "invalid \\u escape");
	EXPECT_ERROR("\"\\uD800", 7, "unexpected end of input");
	EXPECT_ERROR("\"\\uD800\\", 8, "unexpected end of input");
	EXPECT_ERROR("\"\\uD800\\uDC", 11, "unexpected end of input");
}

static void test_json_error_offsets_utf8(void **state)
{
	EXPECT_ERROR("\"ab\x80\"", 3, "invalid UTF-8");
	EXPECT_ERROR("\"\xC0\xAF\"", 1, "invalid UTF-8");
	EXPECT_ERROR("\"xx\xE0\x9F\xBF\"", 3, "invalid UTF-8");
	EXPECT_ERROR("\"\xED\xA0\x80\"", 1, "invalid UTF-8");
	EXPECT_ERROR("\"\xF4\x90\x80\x80\"", 1, "invalid UTF-8");
	EXPECT_ERROR("\"\xC3\xA9\xE2\x82\"", 3, "invalid UTF-8");
	EXPECT_ERROR("\"\xF0\x9F\x98", 1, "invalid UTF-8");
	EXPECT_ERROR("{\"k\":1,\"\xFF\":2}", 8, "invalid UTF-8");
	EXPECT_ERROR("[\xC3\xA9]", 1, "unexpected character");
}

/* ---- the 8-byte fast path inside strings ---- */

/* Every byte value alone in a string: only printable ASCII but '"' and '\\' pass. */
static void test_json_string_single_byte_classes(void **state)
{
	for (int b = 0; b < 256; b++) {
		uint8_t doc[3] = { '"', (uint8_t)b, '"' };
		hdb_json_error err = { 0, NULL };
		int rc = validate_n(doc, 3, &err);
		bool ok = b >= 0x20 && b < 0x80 && b != '"' && b != '\\';

		if (ok) {
			assert_int_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		if (b == '"') {
			assert_int_equal(err.offset, 2);
			assert_string_equal(err.reason, "trailing data");
		} else if (b == '\\') {
			assert_int_equal(err.offset, 3);
			assert_string_equal(err.reason, "unexpected end of input");
		} else {
			assert_int_equal(err.offset, 1);
			assert_string_equal(err.reason, b < 0x20 ? "unescaped control character"
								 : "invalid UTF-8");
		}
	}
}

/* A bad byte at every position of strings of every length up to 40 is found exactly. */
static void test_json_string_bad_byte_found_at_every_position(void **state)
{
	static const struct {
		uint8_t byte;
		const char *reason;
	} bad[] = {
		{ 0x01, "unescaped control character" },
		{ 0x1F, "unescaped control character" },
		{ 0x80, "invalid UTF-8" },
		{ 0xFF, "invalid UTF-8" },
	};
	uint8_t doc[64];

	for (size_t len = 1; len <= 40; len++) {
		for (size_t k = 0; k < len; k++) {
			for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
				doc[0] = '"';
				memset(doc + 1, 'a' + (int)(k % 26), len);
				doc[1 + k] = bad[b].byte;
				doc[1 + len] = '"';
				expect_error(doc, len + 2, 1 + k, bad[b].reason);
			}
			/* An early quote closes the string; the rest is trailing data. */
			memset(doc, 'z', len + 2);
			doc[0] = '"';
			doc[1 + k] = '"';
			expect_error(doc, len + 2, 2 + k, "trailing data");
		}
	}
}

/* Encodes cp as UTF-8 with plain bit math. */
static size_t encode_utf8(uint32_t cp, uint8_t *out)
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
		out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* Every scalar value U+0080..U+10FFFF is accepted; every UTF-16 surrogate is not. */
static void test_json_utf8_every_code_point(void **state)
{
	uint8_t doc[8];

	for (uint32_t cp = 0x80; cp <= 0x10FFFF; cp++) {
		size_t len = encode_utf8(cp, doc + 1);
		int rc;

		doc[0] = '"';
		doc[len + 1] = '"';
		rc = hdb_json_validate(doc, len + 2, NULL);
		if (rc != (cp >= 0xD800 && cp <= 0xDFFF ? -EINVAL : 0)) {
			print_error("U+%04X: rc %d\n", (unsigned)cp, rc);
			fail();
		}
	}
}

/* A two-byte sequence is accepted exactly when it is the shortest form of its code point. */
static void test_json_utf8_every_two_byte_sequence(void **state)
{
	for (int b0 = 0x80; b0 < 0x100; b0++) {
		for (int b1 = 0; b1 < 0x100; b1++) {
			uint8_t doc[4] = { '"', (uint8_t)b0, (uint8_t)b1, '"' };
			uint32_t cp = (uint32_t)(b0 & 0x1F) << 6 | (b1 & 0x3F);
			bool ok = (b0 & 0xE0) == 0xC0 && (b1 & 0xC0) == 0x80 && cp >= 0x80;

			assert_int_equal(hdb_json_validate(doc, 4, NULL), ok ? 0 : -EINVAL);
		}
	}
}

/* ---- nesting ---- */

static void test_json_nesting_100k_arrays_rejected_at_limit(void **state)
{
	size_t n = 100000;
	uint8_t *doc = malloc(n);
	hdb_json_error err = { 0, NULL };

	assert_non_null(doc);
	memset(doc, '[', n);
	assert_int_equal(hdb_json_validate(doc, n, &err), -EINVAL);
	assert_int_equal(err.offset, HDB_JSON_MAX_DEPTH);
	assert_string_equal(err.reason, "nesting too deep");
	free(doc);
}

static void test_json_nesting_100k_objects_rejected_at_limit(void **state)
{
	static const char level[] = "{\"a\":";
	size_t step = sizeof(level) - 1, n = 100000 * step;
	uint8_t *doc = malloc(n);
	hdb_json_error err = { 0, NULL };

	assert_non_null(doc);
	for (size_t i = 0; i < n; i += step)
		memcpy(doc + i, level, step);
	assert_int_equal(hdb_json_validate(doc, n, &err), -EINVAL);
	assert_int_equal(err.offset, HDB_JSON_MAX_DEPTH * step);
	assert_string_equal(err.reason, "nesting too deep");
	free(doc);
}

static void test_json_nesting_at_limit_is_accepted(void **state)
{
	size_t d = HDB_JSON_MAX_DEPTH;
	uint8_t doc[2 * HDB_JSON_MAX_DEPTH + 2];
	hdb_json_error err = { 0, NULL };

	memset(doc, '[', d);
	memset(doc + d, ']', d);
	assert_int_equal(validate_n(doc, 2 * d, NULL), 0);
	memset(doc, '[', d + 1);
	memset(doc + d + 1, ']', d + 1);
	assert_int_equal(validate_n(doc, 2 * d + 2, &err), -EINVAL);
	assert_int_equal(err.offset, d);
	assert_string_equal(err.reason, "nesting too deep");
}

static void test_json_nesting_kinds_unwind_correctly(void **state)
{
	/* 130 levels cross two words of the bit stack on the way in and out. */
	char doc[4096];
	size_t n = 0;

	for (int i = 0; i < 130; i++)
		n += (size_t)sprintf(doc + n, i % 3 ? "[" : "{\"k\":");
	n += (size_t)sprintf(doc + n, "0");
	for (int i = 129; i >= 0; i--)
		n += (size_t)sprintf(doc + n, i % 3 ? ",1]" : ",\"x\":2}");
	assert_int_equal(validate_n(doc, n, NULL), 0);
	/* Swap the last closer: the outermost container is an object. */
	doc[n - 1] = ']';
	expect_error(doc, n, n - 1, "expected ',' or '}'");
}

/* ---- misc validation ---- */

static void test_json_validate_reads_only_n_bytes(void **state)
{
	hdb_json_error err = { 0, NULL };

	/* The closing bracket is past n. */
	assert_int_equal(hdb_json_validate("[1]", 2, &err), -EINVAL);
	assert_int_equal(err.offset, 2);
	assert_string_equal(err.reason, "unexpected end of input");
	/* Junk past n is not looked at. */
	assert_int_equal(hdb_json_validate("[1]junk", 3, NULL), 0);
}

static void test_json_validate_accepts_null_err(void **state)
{
	assert_int_equal(hdb_json_validate("{\"a\":", 5, NULL), -EINVAL);
	assert_int_equal(hdb_json_validate("{\"a\":[]}", 8, NULL), 0);
}

static void test_json_validate_accepts_nul_inside_escaped_string(void **state)
{
	assert_int_equal(validate_str("{\"\\u0000\":\"a\\u0000b\"}", NULL), 0);
}

/* ---- lookup ---- */

static const char person[] =
	"{\n"
	"  \"name\": \"Alice\",\n"
	"  \"note\": \"\\\"city\\\": \\\"Rome\\\", {\\\"zip\\\": 1}\",\n"
	"  \"tags\": [ {\"city\": \"Oslo\"}, \"x\" ],\n"
	"  \"address\": { \"street\": \"1 Main St\", \"city\": \"Paris\",\n"
	"               \"geo\": { \"lat\": 48.85 , \"lon\": 2.35 } },\n"
	"  \"age\": 30\n"
	"}\n";

/* Looks path up in doc (from an exact-size copy) and checks the value's bytes. */
static void expect_lookup(const char *doc, const char *path, int want_rc, const char *want)
{
	size_t n = strlen(doc);
	uint8_t *b = exact_copy(doc, n);
	const uint8_t *val = NULL;
	size_t vlen = 0;
	int rc = hdb_json_lookup(b, n, path, strlen(path), &val, &vlen);

	if (rc != want_rc)
		print_error("lookup \"%s\": rc %d, want %d\n", path, rc, want_rc);
	assert_int_equal(rc, want_rc);
	if (want) {
		assert_true(val >= b && val + vlen <= b + n);
		assert_int_equal(vlen, strlen(want));
		assert_memory_equal(val, want, vlen);
	}
	free(b);
}

static void test_json_lookup_finds_top_level_field(void **state)
{
	assert_int_equal(validate_str(person, NULL), 0);
	expect_lookup(person, "name", 0, "\"Alice\"");
	expect_lookup(person, "age", 0, "30");
}

static void test_json_lookup_finds_nested_path(void **state)
{
	expect_lookup(person, "address.city", 0, "\"Paris\"");
	expect_lookup(person, "address.geo.lat", 0, "48.85");
	expect_lookup(person, "address.geo.lon", 0, "2.35");
}

static void test_json_lookup_returns_raw_container_bytes(void **state)
{
	expect_lookup(person, "address.geo", 0, "{ \"lat\": 48.85 , \"lon\": 2.35 }");
	expect_lookup(person, "tags", 0, "[ {\"city\": \"Oslo\"}, \"x\" ]");
	expect_lookup("{\"a\" : null ,\"b\":{}}", "a", 0, "null");
	expect_lookup("{\"a\":1,\"b\":{}}", "b", 0, "{}");
}

static void test_json_lookup_missing_field_is_enoent(void **state)
{
	expect_lookup(person, "phone", -ENOENT, NULL);
	expect_lookup(person, "address.country", -ENOENT, NULL);
	expect_lookup(person, "Name", -ENOENT, NULL);
	expect_lookup("{}", "a", -ENOENT, NULL);
}

static void test_json_lookup_missing_intermediate_is_enoent(void **state)
{
	expect_lookup(person, "office.city", -ENOENT, NULL);
	expect_lookup(person, "address.geo.alt.x", -ENOENT, NULL);
}

static void test_json_lookup_through_non_object_is_enoent(void **state)
{
	expect_lookup(person, "name.first", -ENOENT, NULL);
	expect_lookup(person, "age.x", -ENOENT, NULL);
	/* Arrays are not indexed, by number or by reaching into their objects. */
	expect_lookup(person, "tags.0", -ENOENT, NULL);
	expect_lookup(person, "tags.city", -ENOENT, NULL);
}

static void test_json_lookup_ignores_keys_inside_strings(void **state)
{
	expect_lookup(person, "city", -ENOENT, NULL);
	expect_lookup(person, "zip", -ENOENT, NULL);
	expect_lookup("{\"a\":\"\\\\\",\"b\":\"{\\\"c\\\":1}\"}", "c", -ENOENT, NULL);
	expect_lookup("{\"a\":\"\\\\\",\"b\":\"{\\\"c\\\":1}\"}", "b", 0, "\"{\\\"c\\\":1}\"");
}

static void test_json_lookup_ignores_keys_at_other_levels(void **state)
{
	expect_lookup("{\"x\":{\"b\":1},\"b\":2}", "b", 0, "2");
	expect_lookup("{\"b\":{\"b\":{\"b\":3}}}", "b.b", 0, "{\"b\":3}");
	expect_lookup("{\"a\":[{\"b\":1}],\"c\":{\"a\":{\"b\":5}}}", "a.b", -ENOENT, NULL);
	expect_lookup("{\"a\":[{\"b\":1}],\"c\":{\"a\":{\"b\":5}}}", "c.a.b", 0, "5");
}

static void test_json_lookup_needs_whole_key_match(void **state)
{
	expect_lookup("{\"cityx\":1,\"cit\":2,\"xcity\":3}", "city", -ENOENT, NULL);
	expect_lookup("{\"cityx\":1,\"city\":2}", "city", 0, "2");
}

static void test_json_lookup_decodes_escaped_keys(void **state)
{
	expect_lookup("{\"c\\u0069ty\":1}", "city", 0, "1");
	expect_lookup("{\"a\\\"b\":2}", "a\"b", 0, "2");
	expect_lookup("{\"caf\\u00e9\":3}", "caf\xC3\xA9", 0, "3");
	expect_lookup("{\"\\uD83D\\uDE00\":4}", "\xF0\x9F\x98\x80", 0, "4");
	expect_lookup("{\"t\\tab\":5}", "t\tab", 0, "5");
	expect_lookup("{\"c\\u0069ty\":1}", "c\\u0069ty", -ENOENT, NULL);
}

static void test_json_lookup_duplicate_keys_last_wins(void **state)
{
	expect_lookup("{\"a\":1,\"b\":0,\"a\":{\"c\":2}}", "a", 0, "{\"c\":2}");
	expect_lookup("{\"a\":{\"c\":1},\"a\":{\"d\":2}}", "a.c", -ENOENT, NULL);
}

static void test_json_lookup_top_level_not_object_is_enoent(void **state)
{
	expect_lookup("[{\"a\":1}]", "a", -ENOENT, NULL);
	expect_lookup("\"a\"", "a", -ENOENT, NULL);
	expect_lookup("  42 ", "a", -ENOENT, NULL);
}

static void test_json_lookup_empty_segment_names_empty_key(void **state)
{
	expect_lookup("{\"a\":{\"\":3}}", "a.", 0, "3");
	expect_lookup("{\"\":{\"b\":4}}", ".b", 0, "4");
	expect_lookup("{\"\":5}", "", 0, "5");
	expect_lookup("{\"a\":{\"b\":1}}", "a..b", -ENOENT, NULL);
}

static void test_json_lookup_uses_only_pathlen_bytes(void **state)
{
	const uint8_t *val;
	size_t vlen;

	assert_int_equal(hdb_json_lookup(person, sizeof(person) - 1, "address.cityXYZ", 12,
					 &val, &vlen), 0);
	assert_int_equal(vlen, 7);
	assert_memory_equal(val, "\"Paris\"", 7);
}

static void test_json_lookup_broken_document_stays_in_bounds(void **state)
{
	static const char *const broken[] = {
		"{\"a\":\"abc", "{\"a\":{\"b\":[1,2", "{\"a\"", "{\"a\":", "{\"a\":1",
		"{\"a\\", "{\"\\u12", "{\"\\uD800\":1}", "{\"a\" 1}", "{\"a\":1 x}", "{", "",
	};

	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		uint8_t *b = exact_copy(broken[i], strlen(broken[i]));
		const uint8_t *val;
		size_t vlen;
		int rc = hdb_json_lookup(b, strlen(broken[i]), "a.b", 3, &val, &vlen);

		if (rc != -EINVAL && rc != -ENOENT)
			print_error("\"%s\": rc %d\n", broken[i], rc);
		assert_true(rc == -EINVAL || rc == -ENOENT);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_conformance_y_files_are_accepted),
		cmocka_unit_test(test_json_conformance_n_files_are_rejected),
		cmocka_unit_test(test_json_conformance_i_files_match_decisions),
		cmocka_unit_test(test_json_error_offsets_structure),
		cmocka_unit_test(test_json_error_offsets_literals_and_numbers),
		cmocka_unit_test(test_json_error_offsets_strings),
		cmocka_unit_test(test_json_error_offsets_utf8),
		cmocka_unit_test(test_json_string_single_byte_classes),
		cmocka_unit_test(test_json_string_bad_byte_found_at_every_position),
		cmocka_unit_test(test_json_utf8_every_code_point),
		cmocka_unit_test(test_json_utf8_every_two_byte_sequence),
		cmocka_unit_test(test_json_nesting_100k_arrays_rejected_at_limit),
		cmocka_unit_test(test_json_nesting_100k_objects_rejected_at_limit),
		cmocka_unit_test(test_json_nesting_at_limit_is_accepted),
		cmocka_unit_test(test_json_nesting_kinds_unwind_correctly),
		cmocka_unit_test(test_json_validate_reads_only_n_bytes),
		cmocka_unit_test(test_json_validate_accepts_null_err),
		cmocka_unit_test(test_json_validate_accepts_nul_inside_escaped_string),
		cmocka_unit_test(test_json_lookup_finds_top_level_field),
		cmocka_unit_test(test_json_lookup_finds_nested_path),
		cmocka_unit_test(test_json_lookup_returns_raw_container_bytes),
		cmocka_unit_test(test_json_lookup_missing_field_is_enoent),
		cmocka_unit_test(test_json_lookup_missing_intermediate_is_enoent),
		cmocka_unit_test(test_json_lookup_through_non_object_is_enoent),
		cmocka_unit_test(test_json_lookup_ignores_keys_inside_strings),
		cmocka_unit_test(test_json_lookup_ignores_keys_at_other_levels),
		cmocka_unit_test(test_json_lookup_needs_whole_key_match),
		cmocka_unit_test(test_json_lookup_decodes_escaped_keys),
		cmocka_unit_test(test_json_lookup_duplicate_keys_last_wins),
		cmocka_unit_test(test_json_lookup_top_level_not_object_is_enoent),
		cmocka_unit_test(test_json_lookup_empty_segment_names_empty_key),
		cmocka_unit_test(test_json_lookup_uses_only_pathlen_bytes),
		cmocka_unit_test(test_json_lookup_broken_document_stays_in_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
