/*
 * fuzz_json.c — libFuzzer target for the doc layer (fs/json.c).
 *
 * Beyond "no crash, no out-of-bounds read" (ASan), it checks invariants
 * that tie the answers together:
 *   - a rejection names an offset within the input and a reason;
 *   - an accepted text followed by '}' is rejected, and followed by
 *     whitespace is still accepted;
 *   - a proper prefix of an accepted object or array is rejected at its
 *     end (or at a UTF-8 sequence cut in two);
 *   - a value found by lookup lies inside the document and is itself a
 *     valid JSON text.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I fs fs/json.c \
 *        tests/fuzz/fuzz_json.c -o fuzz_json
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *copy_with(const uint8_t *data, size_t size, const char *tail, size_t tlen)
{
	uint8_t *b = malloc(size + tlen ? size + tlen : 1);

	if (!b)
		abort();
	if (size)
		memcpy(b, data, size);
	memcpy(b + size, tail, tlen);
	return b;
}

static void check_extended(const uint8_t *data, size_t size)
{
	uint8_t *b = copy_with(data, size, "}", 1);
	hdb_json_error err;

	if (hdb_json_validate(b, size + 1, &err) != -EINVAL || err.offset > size)
		abort();
	free(b);
	b = copy_with(data, size, " \n\t\r", 4);
	if (hdb_json_validate(b, size + 4, NULL) != 0)
		abort();
	free(b);
}

static void check_prefix(const uint8_t *data, size_t size)
{
	size_t first = 0, last = size;
	hdb_json_error err;

	while (first < size && strchr(" \t\r\n", data[first]))
		first++;
	while (last > first && strchr(" \t\r\n", data[last - 1]))
		last--;
	if (first == size || (data[first] != '{' && data[first] != '['))
		return;
	/* One prefix per input keeps the run linear; the fuzzer varies which. */
	size_t k = first + (size_t)data[last - 1] * 7919 % (last - first);
	uint8_t *b = copy_with(data, k, "", 0);
	int rc = hdb_json_validate(b, k, &err);

	free(b);
	if (rc != -EINVAL)
		abort();
	if (strcmp(err.reason, "unexpected end of input") == 0 && err.offset == k)
		return;
	if (strcmp(err.reason, "empty input") == 0 && k == 0)
		return;
	if (strcmp(err.reason, "invalid UTF-8") == 0 && k - err.offset < 4)
		return;
	abort();
}

static void check_lookup(const uint8_t *data, size_t size, const char *path,
			 size_t pathlen, int valid)
{
	const uint8_t *val = NULL;
	size_t vlen = 0;
	int rc = hdb_json_lookup(data, size, path, pathlen, &val, &vlen);

	if (rc != 0 && rc != -ENOENT && rc != -EINVAL)
		abort();
	if (valid && rc == -EINVAL)
		abort();
	if (rc != 0)
		return;
	if (val < data || vlen > size || val + vlen > data + size || vlen == 0)
		abort();
	if (valid && hdb_json_validate(val, vlen, NULL) != 0)
		abort();
}

/* Uses the first string in the input as a path, so lookups can hit. */
static void lookup_first_string(const uint8_t *data, size_t size, int valid)
{
	const uint8_t *q = memchr(data, '"', size), *e;

	if (!q)
		return;
	e = memchr(q + 1, '"', size - (size_t)(q + 1 - data));
	if (!e)
		return;
	check_lookup(data, size, (const char *)q + 1, (size_t)(e - q - 1), valid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "a", "a.b", "", "a.b.c.d", "name", "." };
	hdb_json_error err = { SIZE_MAX, NULL };
	int rc = hdb_json_validate(data, size, &err);
	int valid = rc == 0;

	if (rc != 0 && rc != -EINVAL)
		abort();
	if (rc == -EINVAL && (!err.reason || err.offset > size))
		abort();
	if (valid) {
		check_extended(data, size);
		check_prefix(data, size);
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		check_lookup(data, size, paths[i], strlen(paths[i]), valid);
	lookup_first_string(data, size, valid);
	return 0;
}
