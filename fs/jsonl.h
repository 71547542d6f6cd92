/*
 * jsonl.h — JSON Lines for import and export: splitting and checking the
 * lines of an import, the `_id` member, the stored document, and the
 * export line of a document.  Pure code over byte buffers (fs/import.c
 * applies an import to the file system; fs/qvfs.c streams exports).
 *
 * Import lines (decisions):
 *   - Lines end at '\n'; a '\r' before it is whitespace.  Lines holding
 *     only whitespace are skipped, so an empty file imports nothing.
 *   - Every other line must be one JSON object (hdb_json_validate's rules:
 *     RFC 8259, UTF-8, no BOM).
 *   - The top-level `_id` member names the document: a string (the file
 *     name is that string plus ".json") or an integer (its digits).  It
 *     must leave a valid name: 1 to 250 bytes, no '/' and no NUL.  With
 *     several `_id` members the last one counts.  Any other `_id` value
 *     is an error.  Without one an id is generated (hdb_jsonl_gen_id).
 *   - The stored document is the line's object without its `_id` members
 *     (the name carries the id), the other members' bytes as written, then
 *     "\n".  A line without `_id` is stored as it is (trimmed) plus "\n".
 *
 * Export lines: `{"_id":"<name without .json>",<the document's members
 * but its own top-level _id, minified>}` and "\n".  Only documents whose
 * top level is an object are exported (others are skipped);
 * the id is written as a JSON string with '"', '\\' and control bytes
 * escaped (other bytes as they are in the name).
 *
 * Thread safety: no shared state except the generated-id counter (atomic).
 */
#ifndef HDB_FS_JSONL_H
#define HDB_FS_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wbuf.h"

#define HDB_JSONL_ID_MAX 250 /* 255 minus ".json" */

typedef struct hdb_jsonl_error {
	size_t line;        /* 1-based line number */
	size_t offset;      /* byte offset in the input of the offending byte */
	const char *reason; /* static string */
} hdb_jsonl_error;

/* One accepted line. */
typedef struct hdb_jsonl_rec {
	const uint8_t *obj;   /* the object's text, trimmed */
	size_t len;
	const uint8_t *id;    /* the last _id value's raw text, or NULL */
	size_t idlen;
	size_t nids;          /* _id members */
	size_t line;          /* 1-based */
	size_t offset;        /* of obj in the input */
} hdb_jsonl_rec;

/*
 * Reads the next non-blank line of buf[0..n) from *pos (start at 0, with
 * *line 0): 1 with *r filled, 0 at the end, or -EINVAL with *err.  The
 * _id member is checked too.
 */
int hdb_jsonl_next(const uint8_t *buf, size_t n, size_t *pos, size_t *line, hdb_jsonl_rec *r, hdb_jsonl_error *err);

/* Writes r's id (decoded, not NUL-terminated) into id[HDB_JSONL_ID_MAX];
 * returns its length, 0 when r has no _id. */
size_t hdb_jsonl_id(const hdb_jsonl_rec *r, char *id);

/* Writes the document to store for r into out (room: r->len + 1); returns
 * its length. */
size_t hdb_jsonl_body(const hdb_jsonl_rec *r, uint8_t *out);

/* A new id: 24 lowercase hex digits, like a MongoDB ObjectId: seconds
 * since 1970, a random part drawn once per process, and a counter (so ids
 * of one process sort by time and differ); out gets 25 bytes with NUL. */
void hdb_jsonl_gen_id(char *out);

/* Appends the export line of document doc[0..dlen) named id[0..idlen)
 * (without ".json") to out: 1 when appended, 0 when skipped (not an
 * object), -ENOMEM. */
int hdb_jsonl_export_line(const char *id, size_t idlen, const uint8_t *doc, size_t dlen, hdb_wbuf *out);

#endif
