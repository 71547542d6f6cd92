/*
 * test_wal.c — WAL writer and replay: round trips, torn tails, damage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "env.h"
#include "wal.h"
#include "wal_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char path[128];   /* the segment under test */
	char scratch[128]; /* a damaged copy */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/hdbtest.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/000001.wal", f->dir);
	snprintf(f->scratch, sizeof(f->scratch), "%s/damaged.wal", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	unlink(f->scratch);
	int rc = rmdir(f->dir);
	free(f);
	return rc;
}

/* Records collected by replay. */
struct collected {
	size_t n;
	size_t len[16];
	uint8_t *data[16];
	int fail_at; /* return -42 when delivering this record; -1 never */
};

static int collect(void *ctx, const uint8_t *payload, size_t n)
{
	struct collected *c = ctx;
	if ((int)c->n == c->fail_at)
		return -42;
	assert_true(c->n < 16);
	c->data[c->n] = malloc(n ? n : 1);
	assert_non_null(c->data[c->n]);
	memcpy(c->data[c->n], payload, n);
	c->len[c->n++] = n;
	return 0;
}

static void collected_free(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->data[i]);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7);
}

/* Writes records of the given sizes (content from fill(i)); returns the
 * offset at which each record starts in offs (one more for the end). */
static void write_records(const char *path, const size_t *sizes, size_t n, uint64_t *offs)
{
	hdb_wal_writer *w;
	assert_int_equal(hdb_wal_writer_open(hdb_env_posix(), path, &w), 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = malloc(sizes[i] ? sizes[i] : 1);
		assert_non_null(p);
		fill(p, sizes[i], (unsigned)i);
		if (offs)
			offs[i] = hdb_wal_size(w);
		assert_int_equal(hdb_wal_append(w, p, sizes[i]), 0);
		free(p);
	}
	if (offs)
		offs[n] = hdb_wal_size(w);
	assert_int_equal(hdb_wal_sync(w), 0);
	assert_int_equal(hdb_wal_writer_close(w), 0);
}

static void write_file(const char *path, const uint8_t *data, size_t n)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void read_whole(const char *path, uint8_t **data, size_t *n)
{
	assert_int_equal(hdb_read_file(path, data, n), 0);
}

/* Appends raw bytes to path. */
static void append_raw(const char *path, const uint8_t *data, size_t n)
{
	FILE *fp = fopen(path, "ab");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* A record header with a correct CRC for (type, payload). */
static void make_record(uint8_t *rec, uint8_t type, const uint8_t *payload, uint32_t n)
{
	rec[HDB_WAL_OFF_TYPE] = type;
	memcpy(rec + HDB_WAL_HEADER_SIZE, payload, n);
	hdb_put_u32(rec + HDB_WAL_OFF_LENGTH, n);
	hdb_put_u32(rec + HDB_WAL_OFF_CRC, hdb_crc32(rec + HDB_WAL_OFF_TYPE, 1 + (size_t)n));
}

static void test_wal_round_trip_delivers_every_record(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 0, 1, 2, 127, 4096, 1u << 20, 33, 0, 65537 };
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	uint64_t offs[sizeof(sizes) / sizeof(sizes[0]) + 1];
	write_records(f->path, sizes, n, offs);

	struct collected c = { .fail_at = -1 };
	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->path, collect, &c, &r), 0);
	assert_int_equal(c.n, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *want = malloc(sizes[i] ? sizes[i] : 1);
		assert_non_null(want);
		fill(want, sizes[i], (unsigned)i);
		assert_int_equal(c.len[i], sizes[i]);
		assert_memory_equal(c.data[i], want, sizes[i]);
		free(want);
	}
	assert_int_equal(r.records, n);
	assert_int_equal(r.valid_end, offs[n]);
	assert_int_equal(r.file_size, offs[n]);
	assert_null(r.tail_why);
	collected_free(&c);
}

static void test_wal_size_counts_header_and_payload(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 0, 10, 300 };
	uint64_t offs[4];
	write_records(f->path, sizes, 3, offs);
	assert_int_equal(offs[0], 0);
	assert_int_equal(offs[1], 9);
	assert_int_equal(offs[2], 9 + 19);
	assert_int_equal(offs[3], 9 + 19 + 309);
	uint64_t size;
	assert_int_equal(hdb_file_size(f->path, &size), 0);
	assert_int_equal(size, offs[3]);
}

static void test_wal_record_bytes_match_format(void **state)
{
	struct fixture *f = *state;
	hdb_wal_writer *w;
	assert_int_equal(hdb_wal_writer_open(hdb_env_posix(), f->path, &w), 0);
	assert_int_equal(hdb_wal_append(w, (const uint8_t *)"abc", 3), 0);
	assert_int_equal(hdb_wal_writer_close(w), 0);

	uint8_t *data;
	size_t n;
	read_whole(f->path, &data, &n);
	const uint8_t body[] = { HDB_WAL_TYPE_FULL, 'a', 'b', 'c' };
	uint8_t want[12] = { 0, 0, 0, 0, 3, 0, 0, 0, HDB_WAL_TYPE_FULL, 'a', 'b', 'c' };
	hdb_put_u32(want, hdb_crc32(body, sizeof(body)));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(data, want, sizeof(want));
	free(data);
}

static void test_wal_open_refuses_existing_file(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, (const uint8_t *)"x", 1);
	hdb_wal_writer *w = NULL;
	assert_int_equal(hdb_wal_writer_open(hdb_env_posix(), f->path, &w), -EEXIST);
	assert_null(w);
}

static void test_wal_torn_tail_delivers_earlier_records(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 10, 20, 300 };
	uint64_t offs[4];
	write_records(f->path, sizes, 3, offs);
	uint8_t *data;
	size_t n;
	read_whole(f->path, &data, &n);

	for (uint64_t cut = offs[2]; cut < offs[3]; cut++) {
		write_file(f->scratch, data, cut);
		struct collected c = { .fail_at = -1 };
		hdb_wal_replay_result r;
		assert_int_equal(hdb_wal_replay(f->scratch, collect, &c, &r), 0);
		assert_int_equal(c.n, 2);
		assert_int_equal(c.len[1], 20);
		assert_int_equal(r.records, 2);
		assert_int_equal(r.valid_end, offs[2]);
		assert_int_equal(r.file_size, cut);
		if (cut == offs[2])
			assert_null(r.tail_why);
		else if (cut < offs[2] + HDB_WAL_HEADER_SIZE)
			assert_string_equal(r.tail_why, "truncated record header");
		else
			assert_string_equal(r.tail_why, "truncated record payload");
		collected_free(&c);
	}
	free(data);
}

static void test_wal_flipped_byte_stops_replay_at_damaged_record(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 40, 50, 60 };
	uint64_t offs[4];
	write_records(f->path, sizes, 3, offs);
	uint8_t *data;
	size_t n;
	read_whole(f->path, &data, &n);

	for (uint64_t at = offs[1]; at < offs[2]; at++) {
		data[at] ^= 0x20;
		write_file(f->scratch, data, n);
		data[at] ^= 0x20;
		struct collected c = { .fail_at = -1 };
		hdb_wal_replay_result r;
		assert_int_equal(hdb_wal_replay(f->scratch, collect, &c, &r), 0);
		assert_int_equal(c.n, 1);
		assert_int_equal(r.records, 1);
		assert_int_equal(r.valid_end, offs[1]);
		assert_int_equal(r.file_size, n);
		assert_non_null(r.tail_why);
		collected_free(&c);
	}
	free(data);
}

static void test_wal_flipped_payload_byte_reports_checksum(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 40, 50, 60 };
	uint64_t offs[4];
	write_records(f->path, sizes, 3, offs);
	uint8_t *data;
	size_t n;
	read_whole(f->path, &data, &n);
	data[offs[1] + HDB_WAL_HEADER_SIZE + 25] ^= 1;
	write_file(f->scratch, data, n);
	free(data);

	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->scratch, NULL, NULL, &r), 0);
	assert_int_equal(r.records, 1);
	assert_int_equal(r.valid_end, offs[1]);
	assert_string_equal(r.tail_why, "record checksum mismatch");
}

static void test_wal_bad_type_stops_replay(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 5 };
	uint64_t offs[2];
	write_records(f->path, sizes, 1, offs);
	uint8_t rec[HDB_WAL_HEADER_SIZE + 4];
	make_record(rec, 2, (const uint8_t *)"abcd", 4);
	append_raw(f->path, rec, sizeof(rec));

	struct collected c = { .fail_at = -1 };
	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->path, collect, &c, &r), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(r.valid_end, offs[1]);
	assert_int_equal(r.file_size, offs[1] + sizeof(rec));
	assert_string_equal(r.tail_why, "bad record type");
	collected_free(&c);
}

static void test_wal_length_over_limit_stops_replay(void **state)
{
	struct fixture *f = *state;
	uint8_t rec[HDB_WAL_HEADER_SIZE] = { 0 };
	hdb_put_u32(rec + HDB_WAL_OFF_LENGTH, HDB_WAL_MAX_RECORD + 1);
	rec[HDB_WAL_OFF_TYPE] = HDB_WAL_TYPE_FULL;
	write_file(f->path, rec, sizeof(rec));

	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->path, NULL, NULL, &r), 0);
	assert_int_equal(r.records, 0);
	assert_int_equal(r.valid_end, 0);
	assert_string_equal(r.tail_why, "record length over the limit");
}

static void test_wal_zero_filled_tail_is_rejected(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 7, 8 };
	uint64_t offs[3];
	write_records(f->path, sizes, 2, offs);
	uint8_t zeros[4096] = { 0 };
	append_raw(f->path, zeros, sizeof(zeros));

	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->path, NULL, NULL, &r), 0);
	assert_int_equal(r.records, 2);
	assert_int_equal(r.valid_end, offs[2]);
	assert_int_equal(r.file_size, offs[2] + sizeof(zeros));
	assert_string_equal(r.tail_why, "record checksum mismatch");
}

static void test_wal_empty_file_has_no_records(void **state)
{
	struct fixture *f = *state;
	hdb_wal_writer *w;
	assert_int_equal(hdb_wal_writer_open(hdb_env_posix(), f->path, &w), 0);
	assert_int_equal(hdb_wal_size(w), 0);
	assert_int_equal(hdb_wal_writer_close(w), 0);

	struct collected c = { .fail_at = -1 };
	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->path, collect, &c, &r), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(r.records, 0);
	assert_int_equal(r.valid_end, 0);
	assert_int_equal(r.file_size, 0);
	assert_null(r.tail_why);
}

static void test_wal_replay_of_missing_file_returns_enoent(void **state)
{
	struct fixture *f = *state;
	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->path, NULL, NULL, &r), -ENOENT);
	assert_int_equal(r.records, 0);
}

static void test_wal_callback_error_stops_replay(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = { 1, 2, 3 };
	uint64_t offs[4];
	write_records(f->path, sizes, 3, offs);

	struct collected c = { .fail_at = 1 };
	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->path, collect, &c, &r), -42);
	assert_int_equal(c.n, 1);
	assert_int_equal(r.records, 1);
	assert_int_equal(r.valid_end, offs[1]);
	collected_free(&c);
}

static void test_wal_append_refuses_oversized_record(void **state)
{
	struct fixture *f = *state;
	hdb_wal_writer *w;
	uint8_t byte = 0;
	assert_int_equal(hdb_wal_writer_open(hdb_env_posix(), f->path, &w), 0);
	/* Refused before the payload is read, so one byte stands for it. */
	assert_int_equal(hdb_wal_append(w, &byte, (size_t)HDB_WAL_MAX_RECORD + 1), -EFBIG);
	assert_int_equal(hdb_wal_size(w), 0);
	assert_int_equal(hdb_wal_append(w, &byte, 1), 0);
	assert_int_equal(hdb_wal_size(w), 10);
	assert_int_equal(hdb_wal_writer_close(w), 0);
}

/* An env whose writes fail with `fail` (after writing half the bytes, as
 * a file system that runs out of room mid-write does) while it is set. */
struct failing_env {
	hdb_env env;
	int fail;
};

static int failing_write(hdb_env *env, int fd, const void *buf, size_t n)
{
	struct failing_env *fe = (struct failing_env *)env;
	hdb_env *posix = hdb_env_posix();
	if (!fe->fail)
		return posix->write(posix, fd, buf, n);
	if (n > 1)
		assert_int_equal(posix->write(posix, fd, buf, n / 2), 0);
	return fe->fail;
}

static void test_wal_write_error_is_sticky(void **state)
{
	struct fixture *f = *state;
	struct failing_env fe = { .env = *hdb_env_posix() };
	fe.env.write = failing_write;
	hdb_wal_writer *w;
	assert_int_equal(hdb_wal_writer_open(&fe.env, f->path, &w), 0);
	assert_int_equal(hdb_wal_append(w, (const uint8_t *)"a", 1), 0);
	fe.fail = -EIO;
	assert_int_equal(hdb_wal_append(w, (const uint8_t *)"b", 1), -EIO);
	fe.fail = 0;
	assert_false(hdb_wal_usable(w));
	assert_int_equal(hdb_wal_append(w, (const uint8_t *)"c", 1), -EIO);
	assert_int_equal(hdb_wal_sync(w), -EIO);
	assert_int_equal(hdb_wal_size(w), 10);
	assert_int_equal(hdb_wal_writer_close(w), 0);
}

static void test_wal_disk_full_cuts_partial_record_and_recovers(void **state)
{
	struct fixture *f = *state;
	struct failing_env fe = { .env = *hdb_env_posix() };
	fe.env.write = failing_write;
	hdb_wal_writer *w;
	assert_int_equal(hdb_wal_writer_open(&fe.env, f->path, &w), 0);
	assert_int_equal(hdb_wal_append(w, (const uint8_t *)"first", 5), 0);
	fe.fail = -ENOSPC;
	assert_int_equal(hdb_wal_append(w, (const uint8_t *)"second", 6), -ENOSPC);
	assert_true(hdb_wal_usable(w));
	fe.fail = 0;
	assert_int_equal(hdb_wal_append(w, (const uint8_t *)"third", 5), 0);
	assert_int_equal(hdb_wal_sync(w), 0);
	assert_int_equal(hdb_wal_writer_close(w), 0);

	struct collected c = { .fail_at = -1 };
	hdb_wal_replay_result r;
	assert_int_equal(hdb_wal_replay(f->path, collect, &c, &r), 0);
	assert_int_equal(r.records, 2);
	assert_int_equal(r.valid_end, r.file_size);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.len[1], 5);
	assert_memory_equal(c.data[1], "third", 5);
	collected_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wal_round_trip_delivers_every_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_size_counts_header_and_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_record_bytes_match_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_open_refuses_existing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_torn_tail_delivers_earlier_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_flipped_byte_stops_replay_at_damaged_record, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_wal_flipped_payload_byte_reports_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_bad_type_stops_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_length_over_limit_stops_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_zero_filled_tail_is_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_empty_file_has_no_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_replay_of_missing_file_returns_enoent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_callback_error_stops_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_append_refuses_oversized_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_write_error_is_sticky, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_disk_full_cuts_partial_record_and_recovers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
