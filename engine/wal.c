/*
 * wal.c — write-ahead log writer and replay (format in wal_format.h).
 */
#include "wal.h"

#include "coding.h"
#include "wal_format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A scratch buffer grown past this by a large record is released after the
 * write instead of being kept for the next one. */
#define WAL_SCRATCH_KEEP (1u << 20)

struct hdb_wal_writer {
	hdb_env *env;    /* not owned; outlives the writer */
	int fd;          /* open for writing, at the end of the segment */
	char *path;      /* to cut a failed append back off */
	uint64_t size;   /* bytes written successfully */
	int err;         /* first unrecoverable write or sync failure; sticky */
	hdb_buf scratch; /* header + payload of the record being written */
};

int hdb_wal_writer_open(hdb_env *env, const char *path, hdb_wal_writer **out)
{
	hdb_wal_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	/* O_APPEND: after a failed append is cut off, the next one lands at the
	 * new end, not past it. */
	int rc = env->wopen(env, path, HDB_WOPEN_TRUNC | HDB_WOPEN_EXCL | HDB_WOPEN_APPEND, &w->fd);
	if (rc) {
		free(w);
		return rc;
	}
	w->env = env;
	w->path = strdup(path);
	if (!w->path) {
		env->close(env, w->fd);
		env->unlink(env, path);
		free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

/*
 * After a failed write the segment may end in a partial record, and after a
 * failed fsync the kernel may have dropped the dirty pages while a later
 * fsync reports success.  Either way records appended afterwards could sit
 * behind a tail that replay discards, so the writer refuses all further
 * work and the caller must move to a new segment.
 */
/* A full disk is a state the writer can leave: the partial record is cut
 * off again, so the segment stays a clean sequence of whole records. */
static bool out_of_space(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT;
}

bool hdb_wal_usable(const hdb_wal_writer *w)
{
	return w->err == 0;
}

int hdb_wal_append(hdb_wal_writer *w, const uint8_t *payload, size_t n)
{
	if (w->err)
		return w->err;
	if (n > HDB_WAL_MAX_RECORD)
		return -EFBIG;

	hdb_buf *s = &w->scratch;
	s->len = 0;
	int rc = hdb_buf_reserve(s, HDB_WAL_HEADER_SIZE + n);
	if (rc)
		return rc;
	uint8_t *rec = s->data;
	rec[HDB_WAL_OFF_TYPE] = HDB_WAL_TYPE_FULL;
	if (n)
		memcpy(rec + HDB_WAL_HEADER_SIZE, payload, n);
	hdb_put_u32(rec + HDB_WAL_OFF_LENGTH, (uint32_t)n);
	hdb_put_u32(rec + HDB_WAL_OFF_CRC, hdb_crc32(rec + HDB_WAL_OFF_TYPE, 1 + n));
	s->len = HDB_WAL_HEADER_SIZE + n;

	rc = w->env->write(w->env, w->fd, rec, s->len);
	if (!rc)
		w->size += s->len;
	else if (!out_of_space(rc) || w->env->truncate(w->env, w->path, w->size))
		w->err = rc;
	if (s->cap > WAL_SCRATCH_KEEP)
		hdb_buf_free(s);
	return rc;
}

int hdb_wal_sync(hdb_wal_writer *w)
{
	if (w->err)
		return w->err;
	int rc = w->env->sync(w->env, w->fd);
	if (rc)
		w->err = rc;
	return rc;
}

uint64_t hdb_wal_size(const hdb_wal_writer *w)
{
	return w->size;
}

int hdb_wal_writer_close(hdb_wal_writer *w)
{
	if (!w)
		return 0;
	int rc = w->env->close(w->env, w->fd);
	hdb_buf_free(&w->scratch);
	free(w->path);
	free(w);
	return rc;
}

/* Checks the record at p (avail bytes to the end of the file).  Returns NULL
 * and its payload length when it is intact, else why it is not. */
static const char *wal_check_record(const uint8_t *p, size_t avail, size_t *len)
{
	if (avail < HDB_WAL_HEADER_SIZE)
		return "truncated record header";
	uint32_t n = hdb_get_u32(p + HDB_WAL_OFF_LENGTH);
	if (n > HDB_WAL_MAX_RECORD)
		return "record length over the limit";
	if (n > avail - HDB_WAL_HEADER_SIZE)
		return "truncated record payload";
	if (hdb_crc32(p + HDB_WAL_OFF_TYPE, 1 + (size_t)n) != hdb_get_u32(p + HDB_WAL_OFF_CRC))
		return "record checksum mismatch";
	if (p[HDB_WAL_OFF_TYPE] != HDB_WAL_TYPE_FULL)
		return "bad record type";
	*len = n;
	return NULL;
}

/* An append interrupted by a crash leaves a last record that is cut short
 * (its claimed extent reaches the end of the file) or is followed only by
 * zeros (space the file system extended but never wrote). */
static bool tail_is_torn(const uint8_t *p, size_t n)
{
	if (n < HDB_WAL_HEADER_SIZE)
		return true;
	uint64_t len = hdb_get_u32(p + HDB_WAL_OFF_LENGTH);
	if (HDB_WAL_HEADER_SIZE + len >= n)
		return true;
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * The whole segment is read into memory: a segment is bounded by the
 * MemTable size, and one buffer makes every bounds check a plain comparison.
 * records and valid_end count only records fn accepted.
 */
int hdb_wal_replay(const char *path, hdb_wal_record_fn fn, void *ctx, hdb_wal_replay_result *res)
{
	hdb_wal_replay_result r = { 0 };
	uint8_t *data = NULL;
	size_t size = 0;
	int rc = hdb_read_file(path, &data, &size);
	if (rc)
		goto out;
	r.file_size = size;

	size_t pos = 0;
	while (pos < size) {
		size_t n;
		r.tail_why = wal_check_record(data + pos, size - pos, &n);
		if (r.tail_why)
			break;
		if (fn) {
			rc = fn(ctx, data + pos + HDB_WAL_HEADER_SIZE, n);
			if (rc)
				goto out;
		}
		pos += HDB_WAL_HEADER_SIZE + n;
		r.records++;
		r.valid_end = pos;
	}
	if (r.tail_why)
		r.torn = tail_is_torn(data + pos, size - pos);
out:
	free(data);
	if (res)
		*res = r;
	return rc;
}
