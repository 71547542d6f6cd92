/*
 * wbuf.h — an open file's content buffer.
 *
 * A handle opened for writing holds the whole file in memory: writes land
 * here at any offset (holes read as zeros) and the buffer is committed as
 * one value when the file is closed, so readers never see a half-written
 * document.  A handle opened for reading holds the content as it was at
 * open (close-to-open consistency for the bytes it reads).
 *
 * Every growth is checked against a size limit first: a write or truncate
 * that would pass it fails with -EFBIG and leaves the buffer unchanged.
 *
 * Thread safety: none; the owner (an open file handle) serializes access.
 */
#ifndef HDB_FS_WBUF_H
#define HDB_FS_WBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct hdb_wbuf {
	uint8_t *data; /* malloc'd, cap bytes; NULL when cap == 0 */
	size_t len;    /* content length */
	size_t cap;    /* allocated bytes */
} hdb_wbuf;

void hdb_wbuf_init(hdb_wbuf *b);
void hdb_wbuf_free(hdb_wbuf *b);

/* Replaces the content with data[0..len), a malloc'd block whose ownership
 * passes to the buffer (data may be NULL when len is 0). */
void hdb_wbuf_adopt(hdb_wbuf *b, void *data, size_t len);

/* Copies p[0..n) to offset off, zero-filling any gap past the old end.
 * 0, -EFBIG (off + n > max) or -ENOMEM; the buffer is unchanged on error. */
int hdb_wbuf_write(hdb_wbuf *b, uint64_t off, const void *p, size_t n, uint64_t max);

/* Sets the length to size, zero-filling when it grows.  0, -EFBIG or
 * -ENOMEM. */
int hdb_wbuf_truncate(hdb_wbuf *b, uint64_t size, uint64_t max);

/* Points *p at up to n bytes from offset off; returns how many (0 at or
 * past the end). */
size_t hdb_wbuf_read(const hdb_wbuf *b, uint64_t off, size_t n, const uint8_t **p);

#endif
