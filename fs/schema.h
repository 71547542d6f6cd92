/*
 * schema.h — table schemas: parsing `<collection>/.schema`, checking a
 * document against it, the file name its key gives a document, whether a
 * schema change needs the documents read again, and a document's CSV row.
 * Pure code over byte buffers: the file system (fs/) stores the schema and
 * calls these at the right moments.
 *
 * Schema JSON (decisions):
 *   {"columns": {"id": "integer", "name": "string", ...},
 *    "required": ["name"], "key": "id", "additional": false}
 *   - "columns" (required): an object of at least one column, name -> one
 *     of "integer", "number", "string", "boolean", "array", "object".  The
 *     order written is the column order (the CSV column order).  Names are
 *     compared after their escapes are decoded; a name must be 1 to 255
 *     bytes without NUL; at most HDB_SCHEMA_MAX_COLS columns (a CSV record
 *     holds at most that many fields).  Duplicate names are an error.
 *   - "required" (optional): an array of column names, no duplicates.
 *   - "key" (optional): the name of an "integer" or "string" column; it is
 *     implicitly required.
 *   - "additional" (optional, default true): a boolean, whether members not
 *     named in "columns" are allowed.
 *   - Any other top-level member, a member given twice, a top level that is
 *     not an object or bytes that are not JSON: -EINVAL with a reason.
 *
 * Documents (decisions):
 *   - The top level must be an object.
 *   - integer: a JSON number without fraction and exponent, any magnitude
 *     (`-0` is an integer, `1.0` and `1e3` are not); number: any JSON
 *     number; string, boolean, array, object: that JSON kind.
 *   - A member whose value is `null` counts as missing.  A missing member
 *     is an error only for a required column.
 *   - Members are matched by decoded name.  With duplicate members every
 *     one must have the column's type, and the last one decides whether a
 *     required column is present (as hdb_json_lookup() answers the last).
 *   - With a key, the document's file name must be `<key value>.json`: an
 *     integer key's JSON text (`-7.json`) or a string key's decoded text,
 *     which must be a valid name: 1 to HDB_SCHEMA_KEY_MAX bytes, no '/',
 *     no NUL, not "." or "..", not starting with '.'.
 *
 * Re-validation (hdb_schema_needs_revalidation): the new schema may be
 * applied without reading a document only when every document valid under
 * the old one is certainly valid under the new one: same key column,
 * "additional" not turned from true to false, no column's type changed, no
 * column newly required, no column removed while the new "additional" is
 * false, and every added column not required and added to a table whose
 * old "additional" was false (with true, an old document may hold a member
 * of that name with another type).
 *
 * CSV rows (hdb_schema_csv_header/_row, quoting by hdb_csv_put_field):
 * one field per column in column order; a string is its decoded text (an
 * empty string is written `""`), an integer, number or boolean its JSON
 * text, an array or object its minified JSON text; a missing or null
 * member an empty unquoted field.  Members that are not columns are not
 * written.  Records end with "\n".
 *
 * Memory: hdb_schema_parse() fills a caller-owned hdb_schema whose arrays
 * it allocates; hdb_schema_free() releases them (also safe on a zeroed or
 * already freed schema).
 *
 * Thread safety: no shared state.  A parsed schema is never modified by
 * these functions, so one schema may be used by many threads at once.
 */
#ifndef HDB_FS_SCHEMA_H
#define HDB_FS_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wbuf.h"

#define HDB_SCHEMA_MAX_COLS 4096  /* columns in a schema (= CSV field limit) */
#define HDB_SCHEMA_NAME_MAX 255   /* bytes in a column name */
#define HDB_SCHEMA_KEY_MAX 250    /* bytes in a key value used as a name */
#define HDB_SCHEMA_FILE_MAX 256   /* room for a key's file name + ".json" + NUL */

typedef enum hdb_col_type {
	HDB_COL_INTEGER,
	HDB_COL_NUMBER,
	HDB_COL_STRING,
	HDB_COL_BOOLEAN,
	HDB_COL_ARRAY,
	HDB_COL_OBJECT,
} hdb_col_type;

typedef struct hdb_schema_col {
	char *name;         /* decoded, NUL-terminated, malloc'd */
	size_t nlen;        /* bytes in name, 1..HDB_SCHEMA_NAME_MAX */
	hdb_col_type type;
	bool required;      /* listed in "required", or the key */
} hdb_schema_col;

typedef struct hdb_schema {
	hdb_schema_col *cols; /* in the order written */
	size_t ncols;         /* 1..HDB_SCHEMA_MAX_COLS */
	ssize_t key;          /* index into cols, or -1 */
	bool additional;      /* members outside "columns" allowed */
	size_t *by_name;      /* indexes of cols sorted by name, for lookups */
} hdb_schema;

/*
 * Parses and checks schema JSON buf[0..len) (any bytes: it validates them
 * itself).  0 with *out filled (free with hdb_schema_free), or -EINVAL
 * (-ENOMEM) with *out zeroed and a reason, NUL-terminated and truncated to
 * fit, in err[0..errlen) (err may be NULL when errlen is 0).
 */
int hdb_schema_parse(const void *buf, size_t len, hdb_schema *out, char *err, size_t errlen);
void hdb_schema_free(hdb_schema *s);

/* The name of a type as the schema writes it ("integer", …). */
const char *hdb_col_type_name(hdb_col_type t);

/* The index of the column named name[0..nlen) (decoded), or -1. */
ssize_t hdb_schema_find(const hdb_schema *s, const void *name, size_t nlen);

/* Why a document does not fit: the column or member concerned (decoded,
 * NUL-terminated, truncated to fit; empty when the reason is about the
 * whole document) and a reason. */
typedef struct hdb_schema_violation {
	char column[256];
	char reason[160];
} hdb_schema_violation;

/* Fills *v (when not NULL) with column and the printf-formatted reason;
 * returns -EINVAL, so that a check can `return hdb_schema_violate(...)`. */
int hdb_schema_violate(hdb_schema_violation *v, const char *column, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Checks document doc[0..len) (already accepted by hdb_json_validate())
 * stored under file name name[0..nlen) (with ".json") against s: 0, or
 * -EINVAL with *v filled (-ENOMEM possible).  With name NULL the file name
 * is not checked against the key (the key member must still be valid).
 */
int hdb_schema_check(const hdb_schema *s, const void *doc, size_t len, const char *name, size_t nlen,
		     hdb_schema_violation *v);

/* Whether moving from old to new_ can make a valid document invalid (the
 * rules above); true when old is NULL (a schemaless collection). */
bool hdb_schema_needs_revalidation(const hdb_schema *old, const hdb_schema *new_);

/*
 * The file name (with ".json", NUL-terminated) a document must have under
 * s's key, written to out (room for HDB_SCHEMA_FILE_MAX bytes) with its
 * length (without NUL) in *outlen: 0, -ENOENT when s has no key, -EINVAL
 * when doc is not an object or the key member is missing, null, of the
 * wrong type, or does not give a valid name.
 */
int hdb_schema_key_name(const hdb_schema *s, const void *doc, size_t len, char *out, size_t *outlen);

/* The same from the key member's raw JSON value val[0..vlen) (quotes
 * included for a string): 0, -ENOENT when s has no key, or -EINVAL; a
 * static reason in *why either way. */
int hdb_schema_key_name_of(const hdb_schema *s, const void *val, size_t vlen, char *out, size_t *outlen,
			   const char **why);

/* Appends the CSV header record ("\n"-terminated) of s to out: 0 or
 * -ENOMEM (nothing appended). */
int hdb_schema_csv_header(const hdb_schema *s, hdb_wbuf *out);

/* Appends the CSV record of doc (valid JSON) in s's column order to out:
 * 0, -EINVAL when doc's top level is not an object, or -ENOMEM; on error
 * nothing is appended. */
int hdb_schema_csv_row(const hdb_schema *s, const void *doc, size_t len, hdb_wbuf *out);

#endif
