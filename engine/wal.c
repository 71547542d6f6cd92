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

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* True when an intact record starts at p (avail bytes to the end); the
 * bytes its checksum covered are added to *work. */
static bool intact_at(const uint8_t *p, size_t avail, uint64_t *work)
{
	if (avail < HDB_WAL_HEADER_SIZE || p[HDB_WAL_OFF_TYPE] != HDB_WAL_TYPE_FULL)
		return false;
	uint32_t n = hdb_get_u32(p + HDB_WAL_OFF_LENGTH);
	if (n > HDB_WAL_MAX_RECORD || n > avail - HDB_WAL_HEADER_SIZE)
		return false;
	*work += 1 + (uint64_t)n;
	return hdb_crc32(p + HDB_WAL_OFF_TYPE, 1 + (size_t)n) == hdb_get_u32(p + HDB_WAL_OFF_CRC);
}

/* A damaged length field: the offset just past the record at p when its
 * CRC matches over some other length and an intact record (or the end of
 * the file) follows there; 0 when none does.  One pass, extending the CRC
 * byte by byte. */
static size_t end_by_crc(const uint8_t *p, size_t avail, uint64_t *work)
{
	if (avail < HDB_WAL_HEADER_SIZE || p[HDB_WAL_OFF_TYPE] != HDB_WAL_TYPE_FULL)
		return 0;
	uint32_t want = hdb_get_u32(p + HDB_WAL_OFF_CRC), claimed = hdb_get_u32(p + HDB_WAL_OFF_LENGTH);
	uint32_t crc = hdb_crc32(p + HDB_WAL_OFF_TYPE, 1);
	size_t max = avail - HDB_WAL_HEADER_SIZE;
	for (size_t len = 0;; len++) {
		size_t end = HDB_WAL_HEADER_SIZE + len;
		if (crc == want && len != claimed && (end == avail || intact_at(p + end, avail - end, work)))
			return end;
		if (len == max || len == HDB_WAL_MAX_RECORD)
			return 0;
		crc = hdb_crc32_extend(crc, p + end, 1);
	}
}

/* Where the first intact record after the bad one at data + pos starts, or
 * 0 when none does; *settled is false when the scan ran out of budget. */
static size_t find_resume(const uint8_t *data, size_t size, size_t pos, bool *settled)
{
	const uint8_t *p = data + pos;
	size_t avail = size - pos;
	uint64_t work = 0, budget = (uint64_t)HDB_WAL_SCAN_BUDGET * avail;
	*settled = true;
	bool inside = false;
	if (avail >= HDB_WAL_HEADER_SIZE) {
		uint64_t end = HDB_WAL_HEADER_SIZE + (uint64_t)hdb_get_u32(p + HDB_WAL_OFF_LENGTH);
		inside = end < avail;
		if (inside && intact_at(p + end, avail - (size_t)end, &work))
			return pos + (size_t)end;
		size_t e = end_by_crc(p, avail, &work);
		if (e)
			return pos + e;
	}
	/* A record whose claimed extent reaches the end is a torn last write:
	 * whatever its payload holds must not be taken for later records. */
	if (!inside)
		return 0;
	for (size_t off = 1; off + HDB_WAL_HEADER_SIZE <= avail; off++) {
		if (intact_at(p + off, avail - off, &work))
			return pos + off;
		if (work > budget) {
			*settled = false;
			return 0;
		}
	}
	return 0;
}

/* A zero-filled page inside [from, to), or a span that is all zeros. */
static bool has_zero_page(const uint8_t *data, size_t from, size_t to)
{
	if (all_zero(data + from, to - from))
		return true;
	for (size_t pg = (from + HDB_WAL_PAGE - 1) / HDB_WAL_PAGE * HDB_WAL_PAGE; pg + HDB_WAL_PAGE <= to;
	     pg += HDB_WAL_PAGE)
		if (all_zero(data + pg, HDB_WAL_PAGE))
			return true;
	return false;
}

/* Classifies the bad tail that starts at pos (wal_format.h). */
static void classify_tail(const uint8_t *data, size_t size, size_t pos, hdb_wal_replay_result *r)
{
	r->tail_zero = all_zero(data + pos, size - pos);
	r->damage = HDB_WAL_TORN;
	r->resume = size;
	if (r->tail_zero)
		return;
	bool settled;
	size_t q = find_resume(data, size, pos, &settled);
	if (!settled) {
		r->damage = HDB_WAL_CORRUPT;
		return;
	}
	if (!q)
		return;
	r->resume = q;
	r->damage = has_zero_page(data, pos, q) ? HDB_WAL_HOLE : HDB_WAL_CORRUPT;
}

hdb_wal_damage hdb_wal_log_damage(const hdb_wal_replay_result *segs, size_t n, size_t i)
{
	if (segs[i].damage != HDB_WAL_TORN)
		return segs[i].damage;
	for (size_t j = i + 1; j < n; j++)
		if (segs[j].records || segs[j].damage == HDB_WAL_HOLE || segs[j].damage == HDB_WAL_CORRUPT)
			return segs[i].tail_zero ? HDB_WAL_HOLE : HDB_WAL_CORRUPT;
	return HDB_WAL_TORN;
}

const char *hdb_wal_damage_name(hdb_wal_damage d)
{
	switch (d) {
	case HDB_WAL_CLEAN:
		return "clean";
	case HDB_WAL_TORN:
		return "torn tail";
	case HDB_WAL_HOLE:
		return "zero-filled hole with intact records after it";
	case HDB_WAL_CORRUPT:
		return "damaged record with intact records after it";
	}
	return "?";
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
		classify_tail(data, size, pos, &r);
out:
	free(data);
	if (res)
		*res = r;
	return rc;
}
