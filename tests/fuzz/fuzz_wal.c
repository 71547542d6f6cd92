/*
 * fuzz_wal.c — libFuzzer target for WAL replay (engine/wal.c) and the
 * batches its records carry (engine/batch.c).
 *
 * The input is a WAL segment (wal_format.h).  Each run writes it to an
 * in-memory file (memfd) and replays it with a callback that decodes each
 * record as a batch, as recovery does.  It is then replayed a second time
 * with every record's CRC recomputed, so that the fuzzer reaches the batch
 * decoder without having to forge checksums.
 *
 * Beyond "no crash, no out-of-bounds read" (ASan), it checks:
 *   - the result describes the file: file_size is the input's size,
 *     valid_end <= file_size, and a reason is given exactly when a tail
 *     was dropped;
 *   - records counts the records delivered, each inside the file;
 *   - with recomputed CRCs, every complete record of type FULL before the
 *     first other one is delivered (unless the callback stops the replay).
 *
 * Build: see tests/fuzz/meson.build or scripts/fuzz.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "batch.h"
#include "hybriddb.h"
#include "wal.h"
#include "wal_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The segment lives in a memfd, reached by path through /proc: replay
 * opens a path, and an in-memory file spares the file system a create and
 * a truncate per run. */
static int memfd = -1;
static char path[64];

static void setup(void)
{
	if (memfd >= 0)
		return;
	memfd = memfd_create("fuzz_wal", MFD_CLOEXEC);
	if (memfd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
}

static void write_file(const uint8_t *p, size_t n)
{
	off_t off = 0;

	if (ftruncate(memfd, 0))
		abort();
	while (n) {
		ssize_t w = pwrite(memfd, p, n, off);
		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
		off += w;
	}
}

struct replay {
	size_t file_size;
	uint64_t records;  /* records the callback accepted */
	uint64_t ops;
};

static int check_op(void *ctx, uint64_t seq, enum hdb_vtype type, const uint8_t *key, size_t klen,
		    const uint8_t *val, size_t vlen)
{
	struct replay *r = ctx;

	if (seq > HDB_MAX_SEQ || (type != HDB_TYPE_VALUE && type != HDB_TYPE_DELETE))
		abort();
	if (klen > r->file_size || vlen > r->file_size || (klen && !key) || (vlen && !val))
		abort();
	r->ops++;
	return 0;
}

static int on_record(void *ctx, const uint8_t *payload, size_t n)
{
	struct replay *r = ctx;
	uint32_t count = 0;
	uint64_t before = r->ops;

	if (n > r->file_size - HDB_WAL_HEADER_SIZE || (n && !payload))
		abort();
	int rc = hdb_batch_iterate(payload, n, check_op, r, &count);
	if (rc) {
		if (rc != HDB_ECORRUPT || r->ops != before)
			abort();
		return rc;
	}
	if (r->ops - before != count)
		abort();
	r->records++;
	return 0;
}

/* Replays the file; returns the number of records delivered, or -1 when
 * a batch stopped the replay. */
static int64_t replay(size_t size)
{
	struct replay r = { .file_size = size };
	hdb_wal_replay_result res;
	int rc = hdb_wal_replay(path, on_record, &r, &res);

	if (rc == -ENOMEM)
		return -1;
	if (rc && rc != HDB_ECORRUPT)
		abort();
	if (res.file_size != size || res.valid_end > res.file_size || res.records != r.records)
		abort();
	if (rc)
		return -1;
	if ((res.tail_why != NULL) != (res.valid_end < res.file_size))
		abort();
	if (res.records * HDB_WAL_HEADER_SIZE > res.valid_end)
		abort();
	return (int64_t)res.records;
}

/* Recomputes each record's CRC in place; returns how many records replay
 * must then deliver (complete FULL records before any other). */
static uint64_t fix_crcs(uint8_t *p, size_t n)
{
	size_t pos = 0;
	uint64_t full = 0;
	int stopped = 0;

	while (n - pos >= HDB_WAL_HEADER_SIZE) {
		uint8_t *rec = p + pos;
		uint32_t len = hdb_get_u32(rec + HDB_WAL_OFF_LENGTH);
		if (len > n - pos - HDB_WAL_HEADER_SIZE)
			break;
		hdb_put_u32(rec + HDB_WAL_OFF_CRC, hdb_crc32(rec + HDB_WAL_OFF_TYPE, 1 + (size_t)len));
		if (rec[HDB_WAL_OFF_TYPE] != HDB_WAL_TYPE_FULL)
			stopped = 1;
		if (!stopped)
			full++;
		pos += HDB_WAL_HEADER_SIZE + len;
	}
	return full;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		abort();
	if (size)
		memcpy(copy, data, size);
	uint64_t expect = fix_crcs(copy, size);

	setup();
	write_file(data, size);
	int64_t got = replay(size);
	if (size && memcmp(copy, data, size)) {
		write_file(copy, size);
		got = replay(size);
	}
	if (got >= 0 && (uint64_t)got != expect)
		abort();
	free(copy);
	return 0;
}
