/*
 * csv.h — CSV (RFC 4180) for tables: a reader of records over one buffer,
 * field quoting for export, and the conversion of imported records into
 * typed documents under a schema (fs/schema.h).  Pure code over byte
 * buffers: the file system applies imports and streams exports.
 *
 * Reading (decisions):
 *   - Fields are separated by ','; a record ends at "\n" or "\r\n" (a '\r'
 *     just before the end of the input ends it too); any other '\r' is a
 *     byte of its field.  Lines are counted at every '\n', also inside
 *     quoted fields.
 *   - A field that starts with '"' is quoted: it runs to the next '"' not
 *     doubled, "" inside stands for one '"', and it may hold ',', '\r' and
 *     '\n'.  After its closing quote only ',', the end of the record or of
 *     the input may follow ("text after a closing quote").  A '"' inside
 *     an unquoted field is "a quote inside an unquoted field"; the input
 *     ending inside a quoted field is "unterminated quoted field".
 *   - Every record has at least one field: a blank line is one empty
 *     unquoted field.  A blank last line (the input ends with "\n\n" or
 *     "\n\r\n", or is just "\n") is not a record.  Empty input has no
 *     records.  So the one row CSV cannot carry back is a blank last row:
 *     in a one-column table without key, a document lacking that column
 *     exports as a blank line, which is read back as a document without
 *     members anywhere but at the end of the file.
 *   - A record of more than HDB_CSV_MAX_FIELDS fields is refused.
 *   - Any bytes are accepted in fields (UTF-8 is checked where a field
 *     becomes a JSON string, in hdb_csv_import_row()).
 *   - Cost: one pass; a field without doubled quotes points into the
 *     input, one with doubled quotes into a scratch buffer reused for every
 *     record, so no byte is copied more than once.
 *
 * Writing (hdb_csv_put_field): a field is quoted when it holds ',', '"',
 * '\r' or '\n', starts or ends with a space or tab, or is empty and the
 * caller forces quotes (an empty string value); a '"' is doubled.
 *
 * Import (decisions):
 *   - The first record is the header: every field must name a column of
 *     the schema (compared byte for byte), no name twice, and every
 *     required column (the key included) must be there.
 *   - Every later record must have as many fields as the header.  An
 *     unquoted empty field is a missing member (an error for a required
 *     column); a quoted empty field `""` is the empty string (an error for
 *     a column that is not "string").
 *   - integer and number: the field must be exactly a JSON number of that
 *     type (no '+', no spaces); boolean: `true` or `false`; array and
 *     object: JSON text of that kind (whitespace around and inside is
 *     allowed and removed); string: the field's bytes as they are, which
 *     must be valid UTF-8.
 *   - The document is a compact JSON object with the present members in
 *     column order, then "\n".  Its file name comes from the key column
 *     (hdb_schema_key_name's rules); without a key the caller generates one.
 *
 * Thread safety: no shared state; a reader or import state belongs to one
 * thread at a time.
 */
#ifndef HDB_FS_CSV_H
#define HDB_FS_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema.h"
#include "wbuf.h"

#define HDB_CSV_MAX_FIELDS 4096

typedef struct hdb_csv_field {
	const uint8_t *p; /* the field's bytes, quotes removed and "" undoubled */
	size_t n;
	bool quoted;      /* it was written in quotes (tells "" from empty) */
} hdb_csv_field;

typedef struct hdb_csv_reader {
	const uint8_t *buf; /* the input, not owned */
	size_t len;
	size_t pos;         /* where the next record begins */
	size_t lines;       /* '\n' seen before pos */
	size_t line;        /* 1-based line where the last record (or error) began */
	size_t offset;      /* on error: byte offset of the offending byte */
	const char *reason; /* on error: static text */
	hdb_csv_field *fields; /* the last record's fields; malloc'd */
	size_t *soff;       /* per field: its offset in scratch, or SIZE_MAX */
	size_t cap;         /* room in fields and soff */
	hdb_wbuf scratch;   /* undoubled quoted fields of the last record */
} hdb_csv_reader;

/* Starts reading buf[0..len), which must stay valid while the reader is
 * used.  No allocation until the first record. */
void hdb_csv_reader_init(hdb_csv_reader *r, const void *buf, size_t len);

/*
 * The next record: 1 with *fields and *nfields (valid until the next call
 * or hdb_csv_reader_free), 0 at the end, -EINVAL on a malformed record
 * (r->line, r->offset and r->reason set; the reader stays at the error) or
 * -ENOMEM.
 */
int hdb_csv_next(hdb_csv_reader *r, const hdb_csv_field **fields, size_t *nfields);
void hdb_csv_reader_free(hdb_csv_reader *r);

/* The 1-based line where the last record returned (or the error) began. */
size_t hdb_csv_record_line(const hdb_csv_reader *r);

/* Appends field p[0..n) to out, quoted when needed (force_quote: quote an
 * empty field, for an empty string).  0 or -ENOMEM (nothing appended). */
int hdb_csv_put_field(hdb_wbuf *out, const void *p, size_t n, bool force_quote);

/* An import's header, mapped onto the schema's columns. */
typedef struct hdb_csv_import {
	const hdb_schema *s; /* not owned; must outlive the import */
	size_t ncols;        /* fields in the header (and in every record) */
	size_t *col_of;      /* header index -> schema column; malloc'd */
	size_t *field_of;    /* schema column -> header index or SIZE_MAX; malloc'd */
} hdb_csv_import;

/*
 * Checks the header record f[0..n) against s and fills *im (free with
 * hdb_csv_import_free, also after an error): 0, or -EINVAL (-ENOMEM) with
 * a reason, NUL-terminated and truncated to fit, in err[0..errlen).
 */
int hdb_csv_import_header(hdb_csv_import *im, const hdb_schema *s, const hdb_csv_field *f, size_t n,
			  char *err, size_t errlen);

/*
 * Converts the record f[0..n) to a document: appends it (compact JSON and
 * "\n") to doc and writes its file name (with ".json", NUL-terminated) into
 * name (room for HDB_SCHEMA_FILE_MAX bytes) and its length into *namelen,
 * or sets *namelen to 0 when the schema has no key.  0, or -EINVAL with *v
 * (the column, or "" for the record as a whole, and the reason), or
 * -ENOMEM; on error nothing is appended to doc.
 */
int hdb_csv_import_row(const hdb_csv_import *im, const hdb_csv_field *f, size_t n, hdb_wbuf *doc,
		       char *name, size_t *namelen, hdb_schema_violation *v);
void hdb_csv_import_free(hdb_csv_import *im);

#endif
