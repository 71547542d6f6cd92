/*
 * test_query.c — the condition parser, typed JSON comparison and the index
 * value encoding (fs/query.c, fs/jwalk.c).  Pure code: no engine.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsonl.h"
#include "jwalk.h"
#include "query.h"

static hdb_qcond parse_ok(const char *text)
{
	hdb_qcond c;
	const char *why = NULL;
	int rc = hdb_qcond_parse(text, strlen(text), &c, &why);
	if (rc)
		fail_msg("%s: %s", text, why ? why : "?");
	return c;
}

static int parse_rc(const char *text)
{
	hdb_qcond c;
	const char *why = NULL;
	int rc = hdb_qcond_parse(text, strlen(text), &c, &why);
	if (!rc)
		hdb_qcond_free(&c);
	else
		assert_non_null(why);
	return rc;
}

/* Whether the document matches the condition text. */
static bool match(const char *cond, const char *doc)
{
	hdb_qcond c = parse_ok(cond);
	bool m = hdb_qcond_match(&c, doc, strlen(doc));
	hdb_qcond_free(&c);
	return m;
}

static void test_query_parses_every_operator(void **state)
{
	static const struct {
		const char *text;
		enum hdb_qop op;
		const char *field;
	} cases[] = {
		{ "a=1", HDB_QOP_EQ, "a" },   { "ab!=1", HDB_QOP_NE, "ab" }, { "a<1", HDB_QOP_LT, "a" },
		{ "a<=1", HDB_QOP_LE, "a" },  { "a>1", HDB_QOP_GT, "a" },    { "a>=1", HDB_QOP_GE, "a" },
		{ "a@1", HDB_QOP_HAS, "a" },  { "a~^x", HDB_QOP_RE, "a" },   { "x.y.z=1", HDB_QOP_EQ, "x.y.z" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hdb_qcond c = parse_ok(cases[i].text);
		assert_int_equal(c.op, cases[i].op);
		assert_string_equal(c.field, cases[i].field);
		assert_int_equal(c.flen, strlen(cases[i].field));
		hdb_qcond_free(&c);
	}
}

static void test_query_operand_is_json_when_it_parses(void **state)
{
	hdb_qcond c = parse_ok("a=30");
	assert_int_equal(c.v.type, HDB_JNUM);
	assert_true(c.v.num == 30.0);
	hdb_qcond_free(&c);
	c = parse_ok("a=\"30\"");
	assert_int_equal(c.v.type, HDB_JSTR);
	assert_int_equal(c.v.slen, 2);
	assert_memory_equal(c.v.str, "30", 2);
	hdb_qcond_free(&c);
	c = parse_ok("a=Paris");
	assert_int_equal(c.v.type, HDB_JSTR);
	assert_int_equal(c.v.slen, 5);
	assert_memory_equal(c.v.str, "Paris", 5);
	hdb_qcond_free(&c);
	c = parse_ok("a=true");
	assert_int_equal(c.v.type, HDB_JBOOL);
	assert_true(c.v.b);
	hdb_qcond_free(&c);
	c = parse_ok("a=null");
	assert_int_equal(c.v.type, HDB_JNULL);
	hdb_qcond_free(&c);
	c = parse_ok("a=[1,2]");
	assert_int_equal(c.v.type, HDB_JARR);
	hdb_qcond_free(&c);
	c = parse_ok("a=");
	assert_int_equal(c.v.type, HDB_JSTR);
	assert_int_equal(c.v.slen, 0);
	hdb_qcond_free(&c);
}

static void test_query_percent_escapes_decode_in_field_and_value(void **state)
{
	hdb_qcond c = parse_ok("a%2Fb%3D=x%2Fy%25");
	assert_string_equal(c.field, "a/b=");
	assert_int_equal(c.op, HDB_QOP_EQ);
	assert_int_equal(c.v.slen, 4);
	assert_memory_equal(c.v.str, "x/y%", 4);
	hdb_qcond_free(&c);
}

/* glibc compiles stacked repetitions by copying, and its time grows about
 * 4.5x per extra '+' (found by fuzz_query: "C*" and twelve '+' took 10 s,
 * and twenty '*' as long): the bounds keep compilation in milliseconds. */
static void test_query_regex_stacked_repetitions_are_bounded(void **state)
{
	assert_int_equal(parse_rc("f~8C*++++++++++++"), -EINVAL);
	assert_int_equal(parse_rc("f~((((C+)+)+)+)"), 0);
	assert_int_equal(parse_rc("f~((((((((((C+)+)+)+)+)+)+)+)+)+)"), -EINVAL);
	assert_int_equal(parse_rc("f~^[a-z]+@[a-z]+[.]com$"), 0);
	assert_int_equal(parse_rc("f~^[0-9]{3}-[0-9]{4}$"), 0);
	/* adjacent repetitions are undefined in POSIX EREs and as costly */
	assert_int_equal(parse_rc("f~C************"), -EINVAL);
	assert_int_equal(parse_rc("f~C*?"), -EINVAL);
	assert_int_equal(parse_rc("f~C{2}*"), -EINVAL);
	assert_int_equal(parse_rc("f~[*+]*\\*x?"), 0);
}

static void test_query_malformed_conditions_are_einval(void **state)
{
	static const char *bad[] = {
		"age", "=1", "a!1", "a%2=1", "a=%zz", "a=%", "%00=1", "a~(", "a~x%00", "a>[1]", "a<{}", "",
		"a~a+++++++++++++++++++++++++++", "a~((a{100}){100}){100}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_rc(bad[i]) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
}

static void test_query_numbers_compare_numerically(void **state)
{
	assert_true(match("a=1", "{\"a\":1.0}"));
	assert_true(match("a=1e2", "{\"a\":100}"));
	assert_true(match("a=0", "{\"a\":-0}"));
	assert_true(match("a>9", "{\"a\":10}"));
	assert_false(match("a>10", "{\"a\":10}"));
	assert_true(match("a>=10", "{\"a\":10}"));
	assert_true(match("a<-1.5", "{\"a\":-2}"));
	assert_true(match("a<=2.5", "{\"a\":2.5}"));
	assert_true(match("a>1e300", "{\"a\":1e400}"));
}

static void test_query_types_never_mix(void **state)
{
	assert_false(match("a=30", "{\"a\":\"30\"}"));
	assert_true(match("a!=30", "{\"a\":\"30\"}"));
	assert_false(match("a<100", "{\"a\":\"30\"}"));
	assert_false(match("a>0", "{\"a\":true}"));
	assert_false(match("a=null", "{\"a\":false}"));
	assert_false(match("a=1", "{\"a\":[1]}"));
	assert_false(match("a>a", "{\"a\":5}"));
}

static void test_query_missing_field_matches_only_ne(void **state)
{
	static const char *conds[] = { "b=1", "b<1", "b<=1", "b>1", "b>=1", "b@1", "b~.", "b=null" };
	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
		assert_false(match(conds[i], "{\"a\":1}"));
	assert_true(match("b!=1", "{\"a\":1}"));
	assert_true(match("b!=null", "{\"a\":1}"));
	assert_true(match("a!=1", "[1,2]"));
	assert_false(match("a=1", "42"));
}

static void test_query_strings_compare_bytewise_after_unescaping(void **state)
{
	assert_true(match("a=\xc3\xa9t\xc3\xa9", "{\"a\":\"\\u00e9t\\u00e9\"}"));
	assert_true(match("a=x\"y", "{\"a\":\"x\\\"y\"}"));
	assert_true(match("a<b", "{\"a\":\"abc\"}"));
	assert_true(match("a<abc", "{\"a\":\"ab\"}"));
	assert_false(match("a<ab", "{\"a\":\"ab\"}"));
	assert_true(match("a>Z", "{\"a\":\"a\"}"));
	assert_true(match("a=%F0%9F%98%80", "{\"a\":\"\\ud83d\\ude00\"}"));
}

static void test_query_booleans_and_null_order(void **state)
{
	assert_true(match("a<true", "{\"a\":false}"));
	assert_false(match("a<false", "{\"a\":false}"));
	assert_true(match("a<=null", "{\"a\":null}"));
	assert_true(match("a>=null", "{\"a\":null}"));
	assert_false(match("a<null", "{\"a\":null}"));
	assert_false(match("a>null", "{\"a\":null}"));
}

static void test_query_nested_paths_reach_into_objects(void **state)
{
	const char *doc = "{\"address\":{\"city\":\"Paris\",\"geo\":{\"lat\":48.8}},\"tags\":[\"x\"]}";
	assert_true(match("address.city=Paris", doc));
	assert_true(match("address.geo.lat>48", doc));
	assert_false(match("address.zip=1", doc));
	assert_true(match("address.zip!=1", doc));
	assert_false(match("tags.0=x", doc));
}

static void test_query_has_tests_array_membership(void **state)
{
	const char *doc = "{\"t\":[\"a\",2,null,[1,2],{\"k\":1}],\"s\":\"a\"}";
	assert_true(match("t@a", doc));
	assert_true(match("t@2.0", doc));
	assert_true(match("t@null", doc));
	assert_true(match("t@[1,2]", doc));
	assert_true(match("t@{\"k\":1}", doc));
	assert_false(match("t@b", doc));
	assert_false(match("t@\"2\"", doc));
	assert_false(match("s@a", doc));
}

static void test_query_arrays_and_objects_compare_structurally(void **state)
{
	assert_true(match("a=[1,\"x\",[true]]", "{\"a\": [ 1.0 , \"\\u0078\", [ true ] ] }"));
	assert_false(match("a=[1,2]", "{\"a\":[2,1]}"));
	assert_false(match("a=[1,2]", "{\"a\":[1,2,3]}"));
	assert_true(match("a={\"x\":1,\"y\":[2]}", "{\"a\":{\"x\":1.0,\"y\":[2]}}"));
	assert_false(match("a={\"x\":1,\"y\":2}", "{\"a\":{\"y\":2,\"x\":1}}"));
	assert_true(match("a!={\"x\":1}", "{\"a\":{\"x\":2}}"));
}

static void test_query_regex_matches_strings_only(void **state)
{
	assert_true(match("name~^Al", "{\"name\":\"Alice\"}"));
	assert_true(match("name~ic", "{\"name\":\"Alice\"}"));
	assert_false(match("name~^ic", "{\"name\":\"Alice\"}"));
	assert_true(match("name~^(Bob|Alice)$", "{\"name\":\"Alice\"}"));
	assert_false(match("n~1", "{\"n\":1}"));
	assert_true(match("name~b$", "{\"name\":\"a\\u0000b\"}"));
	assert_true(match("zip~^[0-9]{5}$", "{\"zip\":\"75001\"}"));
	assert_true(match("p~^[+{]+x{2,3}$", "{\"p\":\"+{xx\"}"));
}

static void test_query_indexable_only_for_scalar_eq_and_ranges(void **state)
{
	static const struct {
		const char *text;
		bool yes;
	} cases[] = {
		{ "a=1", true },    { "a<x", true },   { "a>=null", true }, { "a<=true", true },
		{ "a!=1", false },  { "a@1", false },  { "a~x", false },    { "a=[1]", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hdb_qcond c = parse_ok(cases[i].text);
		assert_int_equal(hdb_qcond_indexable(&c), cases[i].yes);
		hdb_qcond_free(&c);
	}
}

/* ---- index encoding ---- */

static hdb_jval jv(const char *raw)
{
	hdb_jval v;
	assert_int_equal(hdb_jval_decode((const uint8_t *)raw, strlen(raw), &v), 0);
	return v;
}

static int memcmp_len(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t m = an < bn ? an : bn;
	int c = memcmp(a, b, m);
	return c ? c : (an < bn ? -1 : an > bn);
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static void test_query_key_order_matches_value_order(void **state)
{
	static const char *vals[] = {
		"-1e308", "-2.5", "-1", "-0", "0", "1e-300", "0.5", "1", "2", "10", "1e20", "1e400", "-1e400",
		"\"\"", "\"a\"", "\"a\\u0000\"", "\"a\\u0000b\"", "\"ab\"", "\"b\"", "\"\\u00e9\"",
		"false", "true", "null",
	};
	size_t n = sizeof(vals) / sizeof(vals[0]);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			hdb_jval a = jv(vals[i]), b = jv(vals[j]);
			uint8_t ka[HDB_QKEY_VAL_MAX], kb[HDB_QKEY_VAL_MAX];
			size_t la = hdb_qkey_encode(&a, ka), lb = hdb_qkey_encode(&b, kb);
			int cmp;
			assert_true(la > 0 && lb > 0);
			if (hdb_jval_order(&a, &b, &cmp)) {
				if (sign(memcmp_len(ka, la, kb, lb)) != sign(cmp))
					fail_msg("%s vs %s: keys order %d, values %d", vals[i], vals[j],
					         memcmp_len(ka, la, kb, lb), cmp);
			} else {
				assert_int_not_equal(ka[0], kb[0]);
			}
			/* no encoding is a proper prefix of another */
			if (la < lb)
				assert_true(memcmp(ka, kb, la) != 0);
			hdb_jval_free(&a);
			hdb_jval_free(&b);
		}
	}
}

static void test_query_key_decode_round_trips(void **state)
{
	static const char *vals[] = { "null", "true", "false", "-3.25", "0", "1e400", "\"\"", "\"x\\u0000y\"" };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		hdb_jval a = jv(vals[i]), b;
		uint8_t k[HDB_QKEY_VAL_MAX + 3], scratch[HDB_QKEY_STR_MAX];
		size_t len = hdb_qkey_encode(&a, k), used;
		bool trunc;
		memcpy(k + len, "doc", 3); /* a document name follows in a key */
		assert_int_equal(hdb_qkey_decode(k, len + 3, &b, scratch, &used, &trunc), 0);
		assert_int_equal(used, len);
		assert_false(trunc);
		assert_true(hdb_jval_equal(&a, &b));
		hdb_jval_free(&a);
	}
}

static void test_query_long_strings_are_truncated_and_marked(void **state)
{
	size_t n = HDB_QKEY_STR_MAX + 10;
	char *raw = malloc(n + 3);
	assert_non_null(raw);
	raw[0] = '"';
	memset(raw + 1, 'q', n);
	raw[n + 1] = '"';
	raw[n + 2] = 0;
	hdb_jval a = jv(raw), b;
	uint8_t k[HDB_QKEY_VAL_MAX], scratch[HDB_QKEY_STR_MAX];
	size_t len = hdb_qkey_encode(&a, k), used;
	bool trunc;
	assert_int_equal(len, 1 + HDB_QKEY_STR_MAX + 2);
	assert_int_equal(k[len - 1], 2);
	assert_int_equal(hdb_qkey_decode(k, len, &b, scratch, &used, &trunc), 0);
	assert_true(trunc);
	assert_int_equal(b.slen, HDB_QKEY_STR_MAX);
	free(raw);
}

static void test_query_key_decode_rejects_garbage(void **state)
{
	static const struct {
		const char *k;
		size_t n;
	} bad[] = { { "", 0 }, { "\x09", 1 }, { "\x02\x05", 2 }, { "\x03\x01\x02", 3 }, { "\x04" "ab", 3 },
	            { "\x04" "a\x00\x07", 4 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hdb_jval v;
		uint8_t scratch[HDB_QKEY_STR_MAX];
		size_t used;
		bool trunc;
		assert_int_equal(hdb_qkey_decode((const uint8_t *)bad[i].k, bad[i].n, &v, scratch, &used, &trunc),
		                 -EINVAL);
	}
}

static void test_query_name_escape_round_trips(void **state)
{
	const char raw[] = "a/b%c\x01.d";
	char enc[3 * sizeof(raw) + 1], dec[sizeof(enc)];
	size_t n = hdb_q_escape(raw, sizeof(raw) - 1, enc);
	assert_string_equal(enc, "a%2Fb%25c%01.d");
	assert_int_equal(hdb_q_unescape(enc, n, dec), sizeof(raw) - 1);
	assert_memory_equal(dec, raw, sizeof(raw) - 1);
}

/* ---- jwalk ---- */

static void test_jwalk_minify_keeps_strings(void **state)
{
	const char in[] = " { \"a b\" : [ 1 , \"x \\\" y\" ] ,\n\"c\":\t{} } ";
	uint8_t out[sizeof(in)];
	size_t n = hdb_jw_minify((const uint8_t *)in, sizeof(in) - 1, out);
	assert_int_equal(n, strlen("{\"a b\":[1,\"x \\\" y\"],\"c\":{}}"));
	assert_memory_equal(out, "{\"a b\":[1,\"x \\\" y\"],\"c\":{}}", n);
}

static void test_jwalk_iterates_members(void **state)
{
	const char in[] = "{\"a\":1, \"b\\\\\" : [2,{\"x\":\"]\"}] ,\"c\":\"}\"}";
	hdb_jw_iter it;
	const uint8_t *k, *v;
	size_t kl, vl;
	hdb_jw_iter_init(&it, (const uint8_t *)in, sizeof(in) - 1);
	assert_true(hdb_jw_iter_next(&it, &k, &kl, &v, &vl));
	assert_memory_equal(k, "\"a\"", kl);
	assert_memory_equal(v, "1", vl);
	assert_true(hdb_jw_iter_next(&it, &k, &kl, &v, &vl));
	assert_memory_equal(k, "\"b\\\\\"", kl);
	assert_int_equal(vl, strlen("[2,{\"x\":\"]\"}]"));
	assert_true(hdb_jw_iter_next(&it, &k, &kl, &v, &vl));
	assert_memory_equal(v, "\"}\"", vl);
	assert_false(hdb_jw_iter_next(&it, &k, &kl, &v, &vl));
}

/* ---- jsonl ---- */

static void test_jsonl_body_drops_id_members(void **state)
{
	const char in[] = " {\"_id\" : \"a\", \"x\": [1, 2],\"\\u005fid\":\"b\" , \"y\":{}}\r\n";
	size_t pos = 0, line = 0;
	hdb_jsonl_rec r;
	hdb_jsonl_error err;
	assert_int_equal(hdb_jsonl_next((const uint8_t *)in, sizeof(in) - 1, &pos, &line, &r, &err), 1);
	assert_int_equal(r.nids, 2);
	char id[HDB_JSONL_ID_MAX];
	assert_int_equal(hdb_jsonl_id(&r, id), 1);
	assert_memory_equal(id, "b", 1);
	uint8_t out[sizeof(in)];
	size_t n = hdb_jsonl_body(&r, out);
	assert_int_equal(n, strlen("{\"x\": [1, 2],\"y\":{}}\n"));
	assert_memory_equal(out, "{\"x\": [1, 2],\"y\":{}}\n", n);
	assert_int_equal(hdb_jsonl_next((const uint8_t *)in, sizeof(in) - 1, &pos, &line, &r, &err), 0);
}

static void test_jsonl_integer_ids_and_bad_ids(void **state)
{
	static const struct {
		const char *line;
		int rc;
	} cases[] = {
		{ "{\"_id\":42}", 1 },       { "{\"_id\":-7}", 1 },     { "{\"_id\":4.2}", -EINVAL },
		{ "{\"_id\":null}", -EINVAL }, { "{\"_id\":\"\"}", -EINVAL }, { "{\"_id\":\"a\\u0000\"}", -EINVAL },
		{ "{\"_id\":[1]}", -EINVAL }, { "[]", -EINVAL },           { "{\"a\":1} x", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t pos = 0, line = 0;
		hdb_jsonl_rec r;
		hdb_jsonl_error err;
		int rc = hdb_jsonl_next((const uint8_t *)cases[i].line, strlen(cases[i].line), &pos, &line, &r, &err);
		if (rc != cases[i].rc)
			fail_msg("%s: %d", cases[i].line, rc);
		if (rc < 0)
			assert_int_equal(err.line, 1);
	}
}

static void test_jsonl_export_line_puts_id_first(void **state)
{
	hdb_wbuf b;
	hdb_wbuf_init(&b);
	const char doc[] = "{ \"b\" : [ 1, \"x y\" ], \"_id\": 5, \"c\": {\"d\" : null} }\n";
	assert_int_equal(hdb_jsonl_export_line("a\"b", 3, (const uint8_t *)doc, sizeof(doc) - 1, &b), 1);
	const char want[] = "{\"_id\":\"a\\\"b\",\"b\":[1,\"x y\"],\"c\":{\"d\":null}}\n";
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	assert_int_equal(hdb_jsonl_export_line("n", 1, (const uint8_t *)"[1]", 3, &b), 0);
	assert_int_equal(hdb_jsonl_export_line("n", 1, NULL, 0, &b), 0);
	assert_int_equal(b.len, sizeof(want) - 1);
	free(b.data);
}

static void test_jsonl_generated_ids_differ(void **state)
{
	char a[25], b[25];
	hdb_jsonl_gen_id(a);
	hdb_jsonl_gen_id(b);
	assert_int_equal(strlen(a), 24);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_parses_every_operator),
		cmocka_unit_test(test_query_operand_is_json_when_it_parses),
		cmocka_unit_test(test_query_percent_escapes_decode_in_field_and_value),
		cmocka_unit_test(test_query_malformed_conditions_are_einval),
		cmocka_unit_test(test_query_regex_stacked_repetitions_are_bounded),
		cmocka_unit_test(test_query_numbers_compare_numerically),
		cmocka_unit_test(test_query_types_never_mix),
		cmocka_unit_test(test_query_missing_field_matches_only_ne),
		cmocka_unit_test(test_query_strings_compare_bytewise_after_unescaping),
		cmocka_unit_test(test_query_booleans_and_null_order),
		cmocka_unit_test(test_query_nested_paths_reach_into_objects),
		cmocka_unit_test(test_query_has_tests_array_membership),
		cmocka_unit_test(test_query_arrays_and_objects_compare_structurally),
		cmocka_unit_test(test_query_regex_matches_strings_only),
		cmocka_unit_test(test_query_indexable_only_for_scalar_eq_and_ranges),
		cmocka_unit_test(test_query_key_order_matches_value_order),
		cmocka_unit_test(test_query_key_decode_round_trips),
		cmocka_unit_test(test_query_long_strings_are_truncated_and_marked),
		cmocka_unit_test(test_query_key_decode_rejects_garbage),
		cmocka_unit_test(test_query_name_escape_round_trips),
		cmocka_unit_test(test_jwalk_minify_keeps_strings),
		cmocka_unit_test(test_jwalk_iterates_members),
		cmocka_unit_test(test_jsonl_body_drops_id_members),
		cmocka_unit_test(test_jsonl_integer_ids_and_bad_ids),
		cmocka_unit_test(test_jsonl_export_line_puts_id_first),
		cmocka_unit_test(test_jsonl_generated_ids_differ),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
