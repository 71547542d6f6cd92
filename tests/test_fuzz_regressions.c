/*
 * test_fuzz_regressions.c — inputs found by fuzzing (tests/fuzz) or by
 * reviewing what the fuzz targets drive, kept as regression tests.
 *
 * Each case runs the engine in a child process, so that an abort (an
 * assert on bytes from disk) fails the one test instead of the runner.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "batch.h"
#include "block.h"
#include "db_fixture.h"
#include "env.h"
#include "hybriddb.h"
#include "memtable.h"
#include "sst.h"
#include "sst_format.h"
#include "wal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs fn(arg) in a child; returns its exit status, or 128 + the signal
 * that ended it. */
static int run_in_child(int (*fn)(const char *), const char *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(fn(arg));
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void make_empty_db(const char *dir)
{
	hdb_options o;
	hdb_db *db;

	hdb_options_init(&o);
	assert_int_equal(hdb_open(dir, &o, &db), 0);
	assert_int_equal(hdb_close(db), 0);
}

/* Writes segment `number` holding `copies` identical records: one batch
 * putting k = v at sequence 5. */
static void write_wal(const char *dir, uint64_t number, int copies)
{
	char path[256];
	hdb_wal_writer *w;
	hdb_batch *b = hdb_batch_new();

	assert_non_null(b);
	assert_int_equal(hdb_batch_put(b, "k", 1, "v", 1), 0);
	hdb_batch_set_seq(b, 5);
	snprintf(path, sizeof(path), "%s/%06llu.wal", dir, (unsigned long long)number);
	assert_int_equal(hdb_wal_writer_open(hdb_env_posix(), path, &w), 0);
	for (int i = 0; i < copies; i++)
		assert_int_equal(hdb_wal_append(w, b->rep.data, b->rep.len), 0);
	assert_int_equal(hdb_wal_sync(w), 0);
	assert_int_equal(hdb_wal_writer_close(w), 0);
	hdb_batch_free(b);
}

/* Exit codes of open_and_read: 0 opened and read k = v, 1 refused with
 * HDB_ECORRUPT; anything else is a failure. */
static int open_and_read(const char *dir)
{
	hdb_options o;
	hdb_db *db;
	void *val = NULL;
	size_t vlen = 0;

	hdb_options_init(&o);
	o.background_compaction = false;
	int rc = hdb_open(dir, &o, &db);
	if (rc == HDB_ECORRUPT)
		return 1;
	if (rc)
		return 2;
	rc = hdb_get(db, NULL, "k", 1, &val, &vlen);
	int ok = rc == 0 && vlen == 1 && !memcmp(val, "v", 1);
	free(val);
	return hdb_close(db) == 0 && ok ? 0 : 3;
}

/*
 * Two intact WAL records carrying the same sequence number and key (a
 * segment with a record written twice, or two segments replaying the same
 * batch) make recovery insert the same internal key twice into the
 * MemTable, where the skiplist asserts that keys are unique
 * (skiplist.c, hdb_skiplist_link): hdb_open aborts on bytes read from
 * disk.  Found while writing tests/fuzz/fuzz_wal.c.  Expected: open
 * either refuses the segment as corrupt or replays it, never aborts.
 */
static void test_wal_replay_duplicate_record_does_not_abort(void **state)
{
	struct fixture *f = *state;

	make_empty_db(f->dir);
	write_wal(f->dir, 900, 2);
	int st = run_in_child(open_and_read, f->dir);
	assert_true(st == 0 || st == 1);
}

/* The same batch in two segments: the second replays sequence numbers
 * the first already used. */
static void test_wal_replay_batch_in_two_segments_does_not_abort(void **state)
{
	struct fixture *f = *state;

	make_empty_db(f->dir);
	write_wal(f->dir, 900, 1);
	write_wal(f->dir, 901, 1);
	int st = run_in_child(open_and_read, f->dir);
	assert_true(st == 0 || st == 1);
}

/*
 * SSTables whose data block has a bad restart array but intact CRCs.
 * Scans walk entries in order and never read the restart array, and
 * neither does hdb_sst_check, so check passes the table while a point read
 * that binary-searches the block fails with HDB_ECORRUPT ("restart entry
 * shares a prefix").  Found by tests/fuzz/fuzz_sst.c (mode 1, CRCs
 * recomputed).  Expected: check reports what reads will trip on.
 */

#define SST_KEYS 40

static void build_one_block_table(const char *path)
{
	hdb_sst_options o = { .block_size = 1 << 16, .restart_interval = 4, .compression = false,
			      .bloom_bits_per_key = 0 };
	hdb_sst_builder *b;
	hdb_buf k = { 0 };
	char u[16];

	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), path, &o, &b), 0);
	for (int i = 0; i < SST_KEYS; i++) {
		snprintf(u, sizeof(u), "key%03d", i);
		k.len = 0;
		assert_int_equal(hdb_ikey_build(&k, u, strlen(u), 100, HDB_TYPE_VALUE), 0);
		assert_int_equal(hdb_sst_builder_add(b, k.data, k.len, (const uint8_t *)"value", 5), 0);
	}
	assert_int_equal(hdb_sst_builder_finish(b, NULL), 0);
	hdb_sst_builder_free(b);
	hdb_buf_free(&k);
}

/* Handle of the table's first data block, from its footer and index. */
static hdb_sst_handle first_block(const uint8_t *file, size_t n)
{
	hdb_sst_footer f;
	hdb_sst_handle h = { 0 };

	assert_true(n >= HDB_SST_FOOTER_SIZE);
	hdb_sst_footer_decode(file + n - HDB_SST_FOOTER_SIZE, &f);
	hdb_iiter *ix = hdb_block_iter_new(file + f.index.offset, (size_t)f.index.size, hdb_ikey_cmp_fn,
					   NULL, NULL, NULL, 0);
	assert_non_null(ix);
	hdb_iiter_seek_first(ix);
	assert_true(hdb_iiter_valid(ix));
	assert_true(hdb_sst_handle_decode(hdb_iiter_value(ix), &h));
	hdb_iiter_destroy(ix);
	return h;
}

/* Offset of the entry after the one at `at` in block contents b. */
static uint32_t next_entry(const uint8_t *b, size_t limit, uint32_t at)
{
	const uint8_t *p = b + at;
	uint64_t shared = 0, unshared = 0, vlen = 0;

	assert_true(hdb_get_varint(&p, b + limit, &shared));
	assert_true(hdb_get_varint(&p, b + limit, &unshared));
	assert_true(hdb_get_varint(&p, b + limit, &vlen));
	return (uint32_t)(p - b + unshared + vlen);
}

/* Sets restart point 1 of the first data block to `offset` (or, with
 * offset UINT32_MAX, to the entry after entry 0, which shares a prefix
 * with it) and recomputes the block's CRC. */
static void damage_restart(const char *path, uint32_t offset)
{
	uint8_t *file;
	size_t n;

	assert_int_equal(hdb_read_file(path, &file, &n), 0);
	hdb_sst_handle h = first_block(file, n);
	uint8_t *b = file + h.offset;
	assert_int_equal(b[h.size], HDB_SST_COMPRESS_NONE);
	uint32_t nr = hdb_get_u32(b + h.size - 4);
	assert_true(nr >= 2);
	size_t limit = (size_t)h.size - 4 - 4 * (size_t)nr;
	if (offset == UINT32_MAX)
		offset = next_entry(b, limit, 0);
	hdb_put_u32(b + limit + 4, offset);
	hdb_put_u32(b + h.size + 1, hdb_sst_block_crc(b, (size_t)h.size, b[h.size]));

	int fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, file, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	free(file);
}

static void count_report(void *ctx, const char *file, uint64_t offset, const char *what)
{
	(*(int *)ctx)++;
}

/* What a point read of every key answers: 0 when all are found. */
static int get_all(const char *path)
{
	hdb_sst_reader *r;
	char u[16];
	int bad = 0;

	assert_int_equal(hdb_sst_open(path, 1, NULL, &r), 0);
	for (int i = 0; i < SST_KEYS; i++) {
		void *val = NULL;
		size_t vlen;
		snprintf(u, sizeof(u), "key%03d", i);
		int rc = hdb_sst_get(r, u, strlen(u), HDB_MAX_SEQ, &val, &vlen, false, NULL);
		if (rc != HDB_LOOKUP_FOUND)
			bad = rc;
		free(val);
	}
	hdb_sst_unref(r);
	return bad;
}

static void sst_path(const struct fixture *f, char *buf, size_t n)
{
	snprintf(buf, n, "%s/000001.sst", f->dir);
}

static void test_sst_check_reports_restart_point_with_shared_prefix(void **state)
{
	struct fixture *f = *state;
	char path[128];
	int problems = 0;

	sst_path(f, path, sizeof(path));
	build_one_block_table(path);
	assert_int_equal(get_all(path), 0);
	damage_restart(path, UINT32_MAX);
	/* Reads trip on it ... */
	assert_int_equal(get_all(path), HDB_ECORRUPT);
	/* ... so check must report it. */
	assert_int_equal(hdb_sst_check(path, count_report, &problems), HDB_ECORRUPT);
	assert_true(problems > 0);
}

static void test_sst_check_reports_restart_point_past_entries(void **state)
{
	struct fixture *f = *state;
	char path[128];
	int problems = 0;

	sst_path(f, path, sizeof(path));
	build_one_block_table(path);
	damage_restart(path, 0x7fffffff);
	assert_int_equal(get_all(path), HDB_ECORRUPT);
	assert_int_equal(hdb_sst_check(path, count_report, &problems), HDB_ECORRUPT);
	assert_true(problems > 0);
}

/* The same in the index block: check walked the index in order and never
 * read its restart array, which every point read binary-searches. */
static void test_sst_check_reports_index_restart_point_past_entries(void **state)
{
	struct fixture *f = *state;
	char path[128];
	int problems = 0;
	hdb_sst_options o = { .block_size = 64, .restart_interval = 1, .compression = false,
			      .bloom_bits_per_key = 0 };
	hdb_sst_builder *b;
	hdb_buf k = { 0 };
	char u[16];

	sst_path(f, path, sizeof(path));
	assert_int_equal(hdb_sst_builder_new(hdb_env_posix(), path, &o, &b), 0);
	for (int i = 0; i < SST_KEYS; i++) {
		snprintf(u, sizeof(u), "key%03d", i);
		k.len = 0;
		assert_int_equal(hdb_ikey_build(&k, u, strlen(u), 100, HDB_TYPE_VALUE), 0);
		assert_int_equal(hdb_sst_builder_add(b, k.data, k.len, (const uint8_t *)"value", 5), 0);
	}
	assert_int_equal(hdb_sst_builder_finish(b, NULL), 0);
	hdb_sst_builder_free(b);
	hdb_buf_free(&k);

	uint8_t *file;
	size_t n;
	hdb_sst_footer ft;
	assert_int_equal(hdb_read_file(path, &file, &n), 0);
	hdb_sst_footer_decode(file + n - HDB_SST_FOOTER_SIZE, &ft);
	uint8_t *ix = file + ft.index.offset;
	size_t isz = (size_t)ft.index.size;
	uint32_t nr = hdb_get_u32(ix + isz - 4);
	assert_true(nr >= 2);
	hdb_put_u32(ix + isz - 4 - 4 * (size_t)nr + 4, 0x7fffffff);
	hdb_put_u32(ix + isz + 1, hdb_sst_block_crc(ix, isz, ix[isz]));
	int fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, file, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	free(file);

	assert_int_equal(get_all(path), HDB_ECORRUPT);
	assert_int_equal(hdb_sst_check(path, count_report, &problems), HDB_ECORRUPT);
	assert_true(problems > 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, db_fixture_setup, db_fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_wal_replay_duplicate_record_does_not_abort),
		T(test_wal_replay_batch_in_two_segments_does_not_abort),
		T(test_sst_check_reports_restart_point_with_shared_prefix),
		T(test_sst_check_reports_restart_point_past_entries),
		T(test_sst_check_reports_index_restart_point_past_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
