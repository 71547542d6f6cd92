/*
 * json.h — the doc layer: strict JSON validation and field lookup.
 *
 * Every `*.json` file is checked with hdb_json_validate() when it is closed,
 * so this is the write path's hot loop: one pass over the bytes, no
 * recursion, no allocation, an 8-bytes-at-a-time fast path through ASCII
 * runs inside strings, and the byte offset of the first error for the log.
 *
 * What "valid" means here (RFC 8259 over UTF-8), decisions included:
 *   - The top level may be any value: `42`, `"x"`, `null` are documents.
 *   - Leading and trailing whitespace (space, tab, LF, CR only) is allowed;
 *     any other byte after the value is "trailing data".  Empty input and
 *     whitespace-only input are rejected.
 *   - A UTF-8 byte order mark is rejected.  RFC 8259 says writers must not
 *     add one and readers may ignore it; we reject it so that what `cat`
 *     shows is exactly what every parser of the file sees.
 *   - The bytes must be well-formed UTF-8 everywhere (Unicode table 3-7):
 *     overlong forms, UTF-8-encoded surrogates (ED A0..BF), code points over
 *     U+10FFFF, stray continuation bytes and truncated sequences are
 *     rejected.  Bytes >= 0x80 outside strings are "unexpected character".
 *   - \u escapes must form whole code points: a high surrogate escape must be
 *     followed at once by a low surrogate escape; anything else is a "lone
 *     surrogate escape".  \u0000 is accepted.
 *   - Unescaped control characters U+0000..U+001F inside strings are
 *     rejected; DEL (0x7F) is accepted, as the RFC's grammar allows.
 *   - Numbers are checked against the grammar only; any magnitude or
 *     precision is accepted (`1e400`, `-0`, 400 digits).
 *   - Duplicate keys in an object are accepted: the RFC says they SHOULD be
 *     unique, and we store documents byte for byte as written.
 *     hdb_json_lookup() answers with the last of them, as jq and
 *     JavaScript do.
 *   - Nesting of objects and arrays is limited to HDB_JSON_MAX_DEPTH levels;
 *     the first bracket past it is "nesting too deep".
 *   - No extension of the grammar is accepted: comments, single quotes,
 *     unquoted keys, trailing commas, NaN and Infinity are errors, as are
 *     NUL bytes anywhere outside a \u0000 escape.
 *
 * Error offsets: err->offset is the byte offset of the first byte that can
 * not be accepted where it stands (for an ill-formed UTF-8 sequence, its
 * first byte, even when the input ends inside it; for a lone surrogate, the
 * backslash of its escape).  When the
 * input ends where more is required, offset is n and the reason is
 * "unexpected end of input".
 *
 * Thread safety: the functions keep no state; call them from any thread.
 */
#ifndef HDB_JSON_H
#define HDB_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Deepest nesting of objects and arrays hdb_json_validate() accepts. */
#define HDB_JSON_MAX_DEPTH 512

typedef struct hdb_json_error {
	size_t offset;      /* byte offset of the first offending byte, or n */
	const char *reason; /* static string, e.g. "invalid UTF-8" */
} hdb_json_error;

/*
 * Returns 0 if buf[0..n) is exactly one valid JSON text, else -EINVAL with
 * *err filled in (err may be NULL).  Reads no byte outside buf[0..n).
 */
int hdb_json_validate(const void *buf, size_t n, hdb_json_error *err);

/*
 * Finds the value named by a dotted path ("address.city") in a JSON object
 * document.  The path is split at every '.'; each piece (possibly empty) is
 * compared with the object keys after their escapes are decoded, so
 * "c\u0069ty" matches "city".  Keys that contain '.' cannot be named, and
 * arrays are not indexed: a path that reaches a non-object value before its
 * last piece is absent.  With duplicate keys the last one wins.
 *
 * On success sets *val and *vlen to the value's raw bytes inside doc (no
 * copy, no surrounding whitespace; strings keep their quotes) and returns
 * 0.  Returns -ENOENT if the path is absent.
 *
 * doc should have passed hdb_json_validate().  On other bytes the answer is
 * unspecified, but the call stays inside doc[0..n) and returns -EINVAL
 * when it meets broken structure.
 */
int hdb_json_lookup(const void *doc, size_t n, const char *path, size_t pathlen,
		    const uint8_t **val, size_t *vlen);

#endif
