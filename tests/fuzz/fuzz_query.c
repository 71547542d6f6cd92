/*
 * fuzz_query.c — libFuzzer target for the query path parser and evaluator
 * (fs/query.c, fs/jwalk.c) and the JSON Lines reader (fs/jsonl.c): every
 * name under a .where directory and every line written to .import is
 * untrusted.
 *
 * The input is split at its first NUL byte: the part before is a condition
 * (a file name, as the kernel hands it over), the rest a document.  Beyond
 * "no crash, no out-of-bounds read" (ASan), it checks:
 *   - a rejected condition gives a reason; an accepted one has a non-empty
 *     field without NUL;
 *   - NE is exactly the negation of EQ on the same document;
 *   - for an indexable condition, the index encoding of the document's
 *     value decodes back to an equal value, and testing that value gives
 *     the same answer as matching the document (when it is not truncated);
 *   - the rest, read as JSON Lines, never reports an offset past its end.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I fs \
 *        fs/json.c fs/jwalk.c fs/query.c fs/jsonl.c fs/wbuf.c \
 *        tests/fuzz/fuzz_query.c -o fuzz_query
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonl.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_negation(const hdb_qcond *c, const uint8_t *doc, size_t dlen)
{
	if (c->op != HDB_QOP_EQ)
		return;
	hdb_qcond ne = *c;
	ne.op = HDB_QOP_NE;
	if (hdb_qcond_match(c, doc, dlen) == hdb_qcond_match(&ne, doc, dlen))
		abort();
}

static void check_encoding(const hdb_qcond *c, const uint8_t *doc, size_t dlen)
{
	const uint8_t *val;
	size_t vlen;
	if (!hdb_qcond_indexable(c) || !dlen || hdb_json_lookup(doc, dlen, c->field, c->flen, &val, &vlen))
		return;
	hdb_jval v, back;
	if (hdb_jval_decode(val, vlen, &v))
		return;
	uint8_t k[HDB_QKEY_VAL_MAX], scratch[HDB_QKEY_STR_MAX];
	size_t kl = hdb_qkey_encode(&v, k), used;
	bool trunc;
	if (kl) {
		if (hdb_qkey_decode(k, kl, &back, scratch, &used, &trunc) || used != kl)
			abort();
		if (!trunc && (!hdb_jval_equal(&v, &back) || hdb_qcond_test(c, &back) != hdb_qcond_match(c, doc, dlen)))
			abort();
	}
	hdb_jval_free(&v);
}

static void check_lines(const uint8_t *p, size_t n)
{
	size_t pos = 0, line = 0;
	hdb_jsonl_rec r;
	hdb_jsonl_error err;
	int rc;
	while ((rc = hdb_jsonl_next(p, n, &pos, &line, &r, &err)) == 1) {
		uint8_t *body = malloc(r.len + 1);
		char id[HDB_JSONL_ID_MAX];
		if (!body)
			abort();
		size_t bl = hdb_jsonl_body(&r, body);
		if (bl > r.len + 1 || hdb_json_validate(body, bl, NULL))
			abort();
		if (hdb_jsonl_id(&r, id) > HDB_JSONL_ID_MAX)
			abort();
		free(body);
	}
	if (rc == -EINVAL && (err.offset > n || !err.reason || !err.line))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t clen = nul ? (size_t)(nul - data) : size;
	const uint8_t *doc = nul ? nul + 1 : data + size;
	size_t dlen = size - clen - (nul ? 1 : 0);
	hdb_qcond c;
	const char *why = NULL;
	int rc = hdb_qcond_parse((const char *)data, clen, &c, &why);
	if (rc && (rc != -EINVAL || !why))
		abort();
	bool valid_doc = dlen && hdb_json_validate(doc, dlen, NULL) == 0;
	if (!rc) {
		if (!c.flen || memchr(c.field, 0, c.flen))
			abort();
		if (valid_doc) {
			check_negation(&c, doc, dlen);
			check_encoding(&c, doc, dlen);
		}
		hdb_qcond_free(&c);
	}
	check_lines(doc, dlen);
	return 0;
}
