/*
 * jwalk.h — walking JSON text that hdb_json_validate() has accepted: where
 * a value ends, the elements of an array or the members of an object,
 * string unescaping and minifying.  Used by the query evaluator (query.c)
 * and by JSON Lines import and export (jsonl.c).
 *
 * The functions trust that their input is valid JSON (they do not check
 * the grammar again), but they never read outside [p, end): on broken input
 * they stop early and give a short or empty answer, never a crash.
 *
 * Thread safety: no state; call from any thread.
 */
#ifndef HDB_FS_JWALK_H
#define HDB_FS_JWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

const uint8_t *hdb_jw_skip_ws(const uint8_t *p, const uint8_t *end);

/* p points at the first byte of a value; returns the byte just past it. */
const uint8_t *hdb_jw_value_end(const uint8_t *p, const uint8_t *end);

/* The elements of an array or the members of an object. */
typedef struct hdb_jw_iter {
	const uint8_t *p, *end;
	bool object;
	bool done;
} hdb_jw_iter;

/* raw[0..n) is an array or object ('[' or '{' first, no leading space). */
void hdb_jw_iter_init(hdb_jw_iter *it, const uint8_t *raw, size_t n);

/* The next element: *val and *vlen, its raw text (no surrounding space); for an
 * object also *key and *klen, the member name's raw text with its quotes (key
 * may be NULL for arrays).  Returns false after the last one. */
bool hdb_jw_iter_next(hdb_jw_iter *it, const uint8_t **key, size_t *klen, const uint8_t **val, size_t *vlen);

/* Decodes the raw JSON string raw[0..n) (quotes included) into out, which
 * must hold n bytes (decoding never grows a string); returns the length.
 * \u escapes become UTF-8; a lone surrogate (rejected by the validator)
 * becomes U+FFFD. */
size_t hdb_jw_unescape(const uint8_t *raw, size_t n, uint8_t *out);

/* Whether the raw string raw[0..n) (with quotes) holds a backslash. */
bool hdb_jw_has_escape(const uint8_t *raw, size_t n);

/* Copies the JSON text p[0..n) to out (n bytes of room) without the
 * whitespace outside strings; returns the length written. */
size_t hdb_jw_minify(const uint8_t *p, size_t n, uint8_t *out);

#endif
