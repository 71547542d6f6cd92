/*
 * query.h — query conditions over JSON documents: the parser of the path
 * components of `.where` directories, typed comparison of JSON values, and
 * the order-preserving encoding of values inside index keys.  Pure code:
 * no I/O, no shared state (fs/qexec.c runs queries against the engine).
 *
 * A condition is `FIELD OP VALUE` written as one file name:
 *
 *   op   name  matches when the document's FIELD value ...
 *   =    EQ    equals VALUE
 *   !=   NE    does not equal VALUE, or FIELD is missing
 *   <    LT    is less than VALUE            (same type, ordered)
 *   <=   LE    is less than or equal
 *   >    GT    is greater than
 *   >=   GE    is greater than or equal
 *   @    HAS   is an array with an element equal to VALUE
 *   ~    RE    is a string that the POSIX extended regular expression
 *              VALUE matches (anywhere, unless anchored with ^ and $)
 *
 * Parsing: the operator is the first of the characters = ! < > @ ~ in the
 * name ('!' must be followed by '=', '<' and '>' may be).  FIELD is what
 * precedes it: a member name, or a dotted path into nested objects
 * (`address.city`; hdb_json_lookup's rules: arrays are not indexed, keys
 * holding '.' cannot be named).  %XX (two hex digits) stands for any byte
 * in FIELD and VALUE, so `/`, `%`, `.` in a key and the operator
 * characters can be written; a '%' not followed by two hex digits is an
 * error.  FIELD must not be empty or hold a NUL byte.
 *
 * VALUE, after %XX decoding, is read as a JSON text when it is one (`30`,
 * `2.5`, `-1e3`, `true`, `null`, `"30"`, `[1,2]`, `{"a":1}`), else as a
 * string holding exactly those bytes (`Paris`, and the empty string for
 * `f=`).  For `~` it is always the regular expression's source (no JSON
 * reading; no NUL byte; it must compile).
 *
 * Types and comparison (MongoDB's type bracketing, simplified):
 *   - JSON types are null, boolean, number, string, array and object.
 *     Values of different types are never equal and never ordered: such a
 *     condition fails, except NE, which then matches.
 *   - A missing FIELD (absent member, a path through a non-object, or a
 *     document that is not a JSON object) matches only NE.
 *   - Numbers compare numerically as IEEE-754 doubles (strtod): 1, 1.0 and
 *     1e0 are equal; integers beyond 2^53 may compare equal to their
 *     neighbours; -0 equals 0; a number too large for a double is
 *     +-infinity.
 *   - Strings compare bytewise on their UTF-8 bytes after escapes are
 *     decoded ("\u00e9" equals "é"); a prefix sorts first.
 *   - Booleans: false < true.  null equals null, and is neither less nor
 *     greater than anything.
 *   - Arrays and objects support EQ and NE only: equal when they have the
 *     same length and pairwise equal elements in the same order (objects:
 *     equal member names, in the same order, with equal values).  An
 *     ordered comparison with an array or object VALUE is a parse error.
 *   - EQ on an array FIELD compares the whole array; use `@` to test
 *     membership.
 *
 * Thread safety: a parsed condition is immutable; hdb_qcond_match may run
 * on one condition from many threads at once.
 */
#ifndef HDB_FS_QUERY_H
#define HDB_FS_QUERY_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hdb_jtype { HDB_JMISSING = 0, HDB_JNULL, HDB_JBOOL, HDB_JNUM, HDB_JSTR, HDB_JARR, HDB_JOBJ };

/* A JSON value, typed. */
typedef struct hdb_jval {
	enum hdb_jtype type;
	bool b;              /* HDB_JBOOL */
	double num;          /* HDB_JNUM */
	const uint8_t *str;  /* HDB_JSTR: the decoded bytes */
	size_t slen;
	const uint8_t *raw;  /* the JSON text of the value (every type but MISSING) */
	size_t rawlen;
	uint8_t *own;        /* malloc'd storage str points into, or NULL */
} hdb_jval;

/* Types the raw JSON value raw[0..n) (valid JSON, no surrounding space);
 * n == 0 gives HDB_JMISSING.  0 or -ENOMEM.  v borrows raw. */
int hdb_jval_decode(const uint8_t *raw, size_t n, hdb_jval *v);
void hdb_jval_free(hdb_jval *v);

/* Whether a and b are equal under the rules above. */
bool hdb_jval_equal(const hdb_jval *a, const hdb_jval *b);

/* Orders a against b: true with *cmp < 0, 0, > 0 when both have the same
 * ordered type (null, boolean, number, string); false otherwise. */
bool hdb_jval_order(const hdb_jval *a, const hdb_jval *b, int *cmp);

enum hdb_qop { HDB_QOP_EQ, HDB_QOP_NE, HDB_QOP_LT, HDB_QOP_LE, HDB_QOP_GT, HDB_QOP_GE, HDB_QOP_HAS, HDB_QOP_RE };

typedef struct hdb_qcond {
	char *field;      /* decoded path, NUL-terminated (no NUL inside); malloc'd */
	size_t flen;
	enum hdb_qop op;
	hdb_jval v;       /* the operand (not for RE); its raw text is in vbuf */
	uint8_t *vbuf;    /* malloc'd */
	bool has_re;
	regex_t re;       /* RE: compiled with REG_EXTENDED | REG_NOSUB */
} hdb_qcond;

/*
 * Parses the condition text[0..n).  On success fills *c (free with
 * hdb_qcond_free) and returns 0; on a malformed condition returns -EINVAL
 * with *why set to a static reason; -ENOMEM.
 */
int hdb_qcond_parse(const char *text, size_t n, hdb_qcond *c, const char **why);
void hdb_qcond_free(hdb_qcond *c);

/* Whether the document doc[0..n) (valid JSON, or empty) satisfies c. */
bool hdb_qcond_match(const hdb_qcond *c, const void *doc, size_t n);

/* Whether a FIELD value (HDB_JMISSING when absent) satisfies c. */
bool hdb_qcond_test(const hdb_qcond *c, const hdb_jval *field);

/* Whether an index over c->field can answer c: EQ, LT, LE, GT or GE with a
 * null, boolean, number or string operand. */
bool hdb_qcond_indexable(const hdb_qcond *c);

/*
 * Index value encoding (fs_format.h, 'X' keys): one type byte, then
 *   null     nothing
 *   boolean  0x00 false, 0x01 true
 *   number   8 bytes: the double's bits big-endian, sign bit flipped for
 *            positives and every bit flipped for negatives (-0 as 0)
 *   string   the decoded bytes with 0x00 written 0x00 0xFF, then 0x00 0x01;
 *            a string over HDB_QKEY_STR_MAX bytes keeps its first
 *            HDB_QKEY_STR_MAX bytes and ends 0x00 0x02 instead ("truncated":
 *            its document must be read to compare it exactly)
 * so that memcmp order of encodings is the order of hdb_jval_order within
 * a type, and an encoding is never a prefix of another.
 */
#define HDB_QKEY_NULL 0x01
#define HDB_QKEY_BOOL 0x02
#define HDB_QKEY_NUM 0x03
#define HDB_QKEY_STR 0x04
#define HDB_QKEY_STR_MAX 512
#define HDB_QKEY_VAL_MAX (1 + 2 * HDB_QKEY_STR_MAX + 2)

/* Encodes v into out[HDB_QKEY_VAL_MAX]; returns the length, or 0 when v
 * is not indexed (missing, array, object). */
size_t hdb_qkey_encode(const hdb_jval *v, uint8_t *out);

/*
 * Decodes the encoded value at p[0..n): *v (strings decoded into
 * scratch[HDB_QKEY_STR_MAX]), *used bytes consumed, *truncated for a
 * truncated string.  0, or -EINVAL when malformed.
 */
int hdb_qkey_decode(const uint8_t *p, size_t n, hdb_jval *v, uint8_t *scratch, size_t *used, bool *truncated);

/* Decodes %XX escapes of s[0..n) into out (n bytes of room); returns the
 * length, or -EINVAL for a bad escape. */
int hdb_q_unescape(const char *s, size_t n, char *out);

/* Writes s[0..n) as a file name: '%', '/' and bytes below 0x20 or 0x7F as
 * %XX.  out needs 3 * n + 1 bytes; NUL-terminated; returns the length. */
size_t hdb_q_escape(const char *s, size_t n, char *out);

#endif
