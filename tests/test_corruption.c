/*
 * test_corruption.c — damaged files and foreign directories: hdb_check
 * names the damage, reads fail with HDB_ECORRUPT instead of returning wrong
 * bytes, undamaged data stays readable, and hdb_open refuses what it must.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hybriddb.h"

#include "db_fixture.h"

#include "coding.h"
#include "manifest_format.h"
#include "sst.h"
#include "sst_format.h"
#include "wal_format.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NKEYS 3000
#define VLEN 100


static void small_options(hdb_options *o)
{
	hdb_options_init(o);
	o->memtable_size = 64 << 10;
	o->target_file_size = 64 << 10;
	o->block_size = 4 << 10;
	o->compression = false; /* the test values compress too well to fill tables */
	o->sync = HDB_SYNC_NEVER;
}

static size_t key_of(char *buf, size_t cap, unsigned i)
{
	return (size_t)snprintf(buf, cap, "key%06u", i);
}

static size_t value_of(char *buf, size_t cap, unsigned i)
{
	int n = snprintf(buf, cap, "value-%06u-", i);
	size_t w = (size_t)n;
	while (w < VLEN && w + 1 < cap) {
		buf[w] = (char)('A' + (i * 7 + w) % 26);
		w++;
	}
	buf[w] = 0;
	return w;
}

/* key<i> for the key as written by key_of; -1 when it is not one. */
static int index_of_key(const void *k, size_t n)
{
	char buf[32];
	if (n < 4 || n >= sizeof(buf))
		return -1;
	memcpy(buf, k, n);
	buf[n] = 0;
	unsigned i;
	char extra;
	return sscanf(buf, "key%u%c", &i, &extra) == 1 ? (int)i : -1;
}

static void put_range(hdb_db *db, unsigned from, unsigned to)
{
	char k[32], v[VLEN + 1];
	for (unsigned i = from; i < to; i++) {
		size_t kl = key_of(k, sizeof(k), i), vl = value_of(v, sizeof(v), i);
		assert_int_equal(hdb_put(db, k, kl, v, vl, false), 0);
	}
}

/* 0 when key i reads back exactly, else the error (or -EBADMSG for wrong
 * bytes, which must never happen). */
static int read_back(hdb_db *db, unsigned i)
{
	char k[32], v[VLEN + 1];
	size_t kl = key_of(k, sizeof(k), i), vl = value_of(v, sizeof(v), i);
	void *got;
	size_t n;
	int rc = hdb_get(db, NULL, k, kl, &got, &n);
	if (rc)
		return rc;
	rc = n == vl && !memcmp(got, v, n) ? 0 : -EBADMSG;
	free(got);
	return rc;
}

/* A closed database of NKEYS keys fully compacted into several tables, so
 * every key lives in exactly one table. */
static void build_tables(struct fixture *f)
{
	hdb_options o;
	small_options(&o);
	assert_int_equal(hdb_open(f->path, &o, &f->db), 0);
	put_range(f->db, 0, NKEYS);
	assert_int_equal(hdb_compact_range(f->db, NULL, 0, NULL, 0), 0);
	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;
}

/* --- file helpers ------------------------------------------------------ */

static void flip_byte(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Numbers of the files in dir named NNNNNN<suffix>, ascending. */
static size_t list_numbered(const char *dir, const char *suffix, uint64_t *out, size_t cap)
{
	char **names;
	size_t n, cnt = 0;
	assert_int_equal(hdb_list_dir(dir, &names, &n), 0);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]), sl = strlen(suffix);
		if (len <= sl || strcmp(names[i] + len - sl, suffix) || cnt == cap)
			continue;
		out[cnt++] = strtoull(names[i], NULL, 10);
	}
	hdb_free_names(names, n);
	qsort(out, cnt, sizeof(*out), cmp_u64);
	return cnt;
}

static void numbered_path(char *buf, size_t cap, const char *dir, uint64_t num, const char *suffix)
{
	snprintf(buf, cap, "%s/%06" PRIu64 "%s", dir, num, suffix);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* --- hdb_check reports -------------------------------------------------- */

struct reports {
	size_t n;
	char file[16][128];
	uint64_t off[16];
	char what[16][160];
};

static void collect_report(void *ctx, const char *file, uint64_t off, const char *what)
{
	struct reports *r = ctx;
	if (r->n < 16) {
		snprintf(r->file[r->n], sizeof(r->file[0]), "%s", file ? file : "");
		snprintf(r->what[r->n], sizeof(r->what[0]), "%s", what ? what : "");
		r->off[r->n] = off;
	}
	r->n++;
}

/* Asserts some report names `name` (by base name) at an offset in [lo, hi). */
static void expect_report(const struct reports *r, const char *name, uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < r->n && i < 16; i++)
		if (!strcmp(base_name(r->file[i]), name) && r->off[i] >= lo && r->off[i] < hi)
			return;
	for (size_t i = 0; i < r->n && i < 16; i++)
		print_message("report %zu: %s offset %" PRIu64 ": %s\n", i, r->file[i], r->off[i], r->what[i]);
	fail_msg("no report names %s at an offset in [%" PRIu64 ", %" PRIu64 ")", name, lo, hi);
}

/* --- tables ------------------------------------------------------------- */

struct table_info {
	char path[160];
	char name[160];
	hdb_sst_handle block0; /* first data block */
	int first_key;         /* index of the table's first key */
};

/* Reads the footer and the first index entry (the handle of block 0), and
 * the table's first key through a reader. */
static void inspect_table(const char *dir, uint64_t num, struct table_info *t)
{
	numbered_path(t->path, sizeof(t->path), dir, num, ".sst");
	snprintf(t->name, sizeof(t->name), "%s", base_name(t->path));
	uint8_t *data;
	size_t len;
	assert_int_equal(hdb_read_file(t->path, &data, &len), 0);
	assert_true(len >= HDB_SST_FOOTER_SIZE);
	hdb_sst_footer ft;
	hdb_sst_footer_decode(data + len - HDB_SST_FOOTER_SIZE, &ft);
	assert_true(ft.index.offset + ft.index.size + HDB_SST_BLOCK_TRAILER_SIZE <= len);
	assert_int_equal(data[ft.index.offset + ft.index.size], HDB_SST_COMPRESS_NONE);
	const uint8_t *p = data + ft.index.offset, *end = p + ft.index.size;
	uint64_t shared = 0, unshared = 0, vlen = 0;
	assert_true(hdb_get_varint(&p, end, &shared));
	assert_true(hdb_get_varint(&p, end, &unshared));
	assert_true(hdb_get_varint(&p, end, &vlen));
	assert_int_equal(shared, 0);
	assert_true(unshared + vlen <= (uint64_t)(end - p));
	assert_true(hdb_sst_handle_decode(hdb_slice_make(p + unshared, vlen), &t->block0));
	assert_int_equal(t->block0.offset, 0);
	free(data);

	hdb_sst_reader *r;
	assert_int_equal(hdb_sst_open(t->path, 0, NULL, &r), 0);
	hdb_iiter *it = hdb_sst_iter_new(r, false);
	assert_non_null(it);
	hdb_iiter_seek_first(it);
	assert_true(hdb_iiter_valid(it));
	hdb_slice k = hdb_iiter_key(it);
	t->first_key = index_of_key(k.data, k.len - HDB_TAG_SIZE);
	assert_true(t->first_key >= 0);
	hdb_iiter_destroy(it);
	hdb_sst_unref(r);
}

/* Damages the middle of the first data block of the lowest-numbered table;
 * t describes it, other the table after it. */
static void damage_table(struct fixture *f, struct table_info *t, struct table_info *other)
{
	build_tables(f);
	uint64_t nums[64];
	size_t n = list_numbered(f->path, ".sst", nums, 64);
	assert_true(n >= 2);
	inspect_table(f->path, nums[0], t);
	inspect_table(f->path, nums[1], other);
	flip_byte(t->path, t->block0.offset + t->block0.size / 2);
}

static void test_corruption_table_block_reported_by_check(void **state)
{
	struct fixture *f = *state;
	struct table_info t, u;
	damage_table(f, &t, &u);
	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), HDB_ECORRUPT);
	expect_report(&r, t.name, t.block0.offset, t.block0.offset + t.block0.size + HDB_SST_BLOCK_TRAILER_SIZE);
}

static void test_corruption_table_block_read_fails_with_detail(void **state)
{
	struct fixture *f = *state;
	struct table_info t, u;
	damage_table(f, &t, &u);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	assert_int_equal(read_back(f->db, (unsigned)t.first_key), HDB_ECORRUPT);
	const char *d = hdb_errdetail();
	if (!strstr(d, t.name))
		fail_msg("errdetail \"%s\" does not name %s", d, t.name);
	/* and again: a failed block must not be cached as good */
	assert_int_equal(read_back(f->db, (unsigned)t.first_key), HDB_ECORRUPT);
}

static void test_corruption_table_block_leaves_other_tables_readable(void **state)
{
	struct fixture *f = *state;
	struct table_info t, u;
	damage_table(f, &t, &u);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	assert_int_equal(read_back(f->db, (unsigned)u.first_key), 0);
	/* every key reads right or fails cleanly; only block 0 of t may fail */
	unsigned failed = 0;
	for (unsigned i = 0; i < NKEYS; i++) {
		int rc = read_back(f->db, i);
		if (rc == HDB_ECORRUPT)
			failed++;
		else
			assert_int_equal(rc, 0);
	}
	assert_true(failed >= 1);
	assert_true(failed < NKEYS / 4);
}

/* The Bloom filter only saves reads: a damaged one is left out, every key
 * of its table still reads back, and check still reports it. */
static void test_corruption_table_filter_is_left_out(void **state)
{
	struct fixture *f = *state;
	build_tables(f);
	uint64_t nums[64];
	assert_true(list_numbered(f->path, ".sst", nums, 64) >= 1);
	char path[160];
	numbered_path(path, sizeof(path), f->path, nums[0], ".sst");
	uint8_t *data;
	size_t len;
	assert_int_equal(hdb_read_file(path, &data, &len), 0);
	hdb_sst_footer ft;
	hdb_sst_footer_decode(data + len - HDB_SST_FOOTER_SIZE, &ft);
	free(data);
	assert_true(ft.filter.size > 0);
	flip_byte(path, ft.filter.offset + ft.filter.size / 2);

	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), HDB_ECORRUPT);
	expect_report(&r, base_name(path), ft.filter.offset, ft.filter.offset + ft.filter.size + 5);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	for (unsigned i = 0; i < NKEYS; i++)
		assert_int_equal(read_back(f->db, i), 0);
}

static void test_corruption_table_block_stops_iterator_with_error(void **state)
{
	struct fixture *f = *state;
	struct table_info t, u;
	damage_table(f, &t, &u);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	for (hdb_iter_seek_first(it); hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t kl, vl;
		const void *k = hdb_iter_key(it, &kl);
		const void *v = hdb_iter_value(it, &vl);
		int i = index_of_key(k, kl);
		assert_true(i >= 0 && i < NKEYS);
		char want[VLEN + 1];
		assert_int_equal(vl, value_of(want, sizeof(want), (unsigned)i));
		assert_memory_equal(v, want, vl);
	}
	assert_int_equal(hdb_iter_status(it), HDB_ECORRUPT);
	hdb_iter_free(it);
}

/* --- WAL ---------------------------------------------------------------- */

#define WAL_KEYS 200

/* A child writes WAL_KEYS keys (one record each), syncs and dies without
 * closing, so the WAL keeps them.  Returns the path of that segment. */
static void write_wal_and_die(struct fixture *f, char *wal, size_t cap)
{
	build_tables(f); /* tables too, so the WAL is not the only file */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hdb_options o;
		small_options(&o);
		o.memtable_size = 8 << 20;
		hdb_db *db;
		if (hdb_open(f->path, &o, &db))
			_exit(2);
		char k[32], v[VLEN + 1];
		for (unsigned i = NKEYS; i < NKEYS + WAL_KEYS; i++) {
			size_t kl = key_of(k, sizeof(k), i), vl = value_of(v, sizeof(v), i);
			if (hdb_put(db, k, kl, v, vl, false))
				_exit(3);
		}
		_exit(hdb_sync(db) ? 4 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	uint64_t nums[16];
	size_t n = list_numbered(f->path, ".wal", nums, 16);
	assert_true(n >= 1);
	numbered_path(wal, cap, f->path, nums[n - 1], ".wal");
}

/* Offsets of the WAL's records: rec[i] .. rec[i + 1]. */
static size_t wal_records(const char *path, uint64_t *rec, size_t cap)
{
	uint8_t *data;
	size_t len, n = 0;
	uint64_t off = 0;
	assert_int_equal(hdb_read_file(path, &data, &len), 0);
	while (off + HDB_WAL_HEADER_SIZE <= len && n + 1 < cap) {
		rec[n++] = off;
		off += HDB_WAL_HEADER_SIZE + hdb_get_u32(data + off + HDB_WAL_OFF_LENGTH);
	}
	rec[n] = off;
	free(data);
	return n;
}

static void test_corruption_wal_record_reported_by_check(void **state)
{
	struct fixture *f = *state;
	char wal[160];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	assert_int_equal(wal_records(wal, rec, WAL_KEYS + 2), WAL_KEYS);
	unsigned bad = WAL_KEYS / 2;
	flip_byte(wal, rec[bad] + (rec[bad + 1] - rec[bad]) / 2);
	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), HDB_ECORRUPT);
	expect_report(&r, base_name(wal), rec[bad], rec[bad + 1]);
	if (!strstr(r.what[0], "damaged record with intact records after it"))
		fail_msg("check does not tell damage from a torn tail: %s", r.what[0]);
}

/* Every file of dir (names sorted) with its size and bytes, malloc'd: two
 * snapshots are equal when nothing in dir changed. */
struct dir_snapshot {
	uint8_t *bytes;
	size_t len;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void snapshot_dir(const char *dir, struct dir_snapshot *s)
{
	char **names, path[256];
	size_t n;
	assert_int_equal(hdb_list_dir(dir, &names, &n), 0);
	qsort(names, n, sizeof(*names), cmp_name);
	FILE *m = open_memstream((char **)&s->bytes, &s->len);
	assert_non_null(m);
	for (size_t i = 0; i < n; i++) {
		uint8_t *data;
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		assert_int_equal(hdb_read_file(path, &data, &len), 0);
		fprintf(m, "%s %zu\n", names[i], len);
		assert_int_equal(fwrite(data ? (void *)data : (void *)"", 1, len, m), len);
		free(data);
	}
	assert_int_equal(fclose(m), 0);
	hdb_free_names(names, n);
}

static void assert_dir_unchanged(const char *dir, struct dir_snapshot *before)
{
	struct dir_snapshot after;
	snapshot_dir(dir, &after);
	assert_int_equal(after.len, before->len);
	assert_memory_equal(after.bytes, before->bytes, after.len);
	free(after.bytes);
	free(before->bytes);
}

/*
 * A bad record followed by intact ones is damage, not a torn tail: the
 * records after it were written (and here synced) later.  The open refuses
 * the database with HDB_ECORRUPT naming the segment and offset, and leaves
 * every file as it was; silently dropping the later records would serve
 * older versions of them.
 */
static void test_corruption_wal_damage_with_records_after_fails_open(void **state)
{
	struct fixture *f = *state;
	char wal[160], what[256];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	assert_int_equal(wal_records(wal, rec, WAL_KEYS + 2), WAL_KEYS);
	unsigned bad = WAL_KEYS / 2;
	flip_byte(wal, rec[bad] + (rec[bad + 1] - rec[bad]) / 2);
	struct dir_snapshot before;
	snapshot_dir(f->path, &before);

	assert_int_equal(hdb_open(f->path, NULL, &f->db), HDB_ECORRUPT);
	assert_null(f->db);
	snprintf(what, sizeof(what), "%s offset %" PRIu64 ":", base_name(wal), rec[bad]);
	if (!strstr(hdb_errdetail(), what))
		fail_msg("errdetail does not name \"%s\": %s", what, hdb_errdetail());
	assert_dir_unchanged(f->path, &before);
}

/* Read-only opens refuse too: serving the prefix would be wrong bytes. */
static void test_corruption_wal_damage_fails_read_only_open(void **state)
{
	struct fixture *f = *state;
	char wal[160];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	assert_int_equal(wal_records(wal, rec, WAL_KEYS + 2), WAL_KEYS);
	flip_byte(wal, rec[3] + HDB_WAL_OFF_CRC);
	hdb_options o;
	hdb_options_init(&o);
	o.read_only = true;
	assert_int_equal(hdb_open(f->path, &o, &f->db), HDB_ECORRUPT);
}

/* A damaged length field can make a middle record look like a torn last
 * one (its claimed extent runs past the end); the CRC still finds where it
 * really ends, and the intact records there make it damage. */
static void test_corruption_wal_damaged_length_is_not_a_torn_tail(void **state)
{
	struct fixture *f = *state;
	char wal[160];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	assert_int_equal(wal_records(wal, rec, WAL_KEYS + 2), WAL_KEYS);
	unsigned bad = WAL_KEYS / 2;
	flip_byte(wal, rec[bad] + HDB_WAL_OFF_LENGTH + 2); /* + 0x5a << 16: past the end */
	struct dir_snapshot before;
	snapshot_dir(f->path, &before);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), HDB_ECORRUPT);
	assert_dir_unchanged(f->path, &before);
}

struct log_capture {
	char text[4096];
	size_t len;
};

static void capture_log(void *ctx, const char *msg)
{
	struct log_capture *c = ctx;
	int n = snprintf(c->text + c->len, sizeof(c->text) - c->len, "%s\n", msg);
	if (n > 0 && c->len + (size_t)n < sizeof(c->text))
		c->len += (size_t)n;
}

/* HDB_WAL_POINT_IN_TIME accepts the loss, never silently: the log names the
 * segment, offset and bytes, every byte not replayed is kept in
 * NNNNNN.wal.damaged, and the database then opens in strict mode. */
static void test_corruption_wal_point_in_time_accepts_the_loss(void **state)
{
	struct fixture *f = *state;
	char wal[160], damaged[200], what[256];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	assert_int_equal(wal_records(wal, rec, WAL_KEYS + 2), WAL_KEYS);
	unsigned bad = WAL_KEYS / 2;
	flip_byte(wal, rec[bad] + (rec[bad + 1] - rec[bad]) / 2);
	uint64_t size = file_size(wal);

	hdb_options o;
	hdb_options_init(&o);
	o.wal_recovery = HDB_WAL_POINT_IN_TIME;
	struct log_capture log = { .len = 0 };
	o.log = capture_log;
	o.log_ctx = &log;
	assert_int_equal(hdb_open(f->path, &o, &f->db), 0);
	for (unsigned i = 0; i < NKEYS + bad; i++)
		assert_int_equal(read_back(f->db, i), 0);
	assert_int_equal(read_back(f->db, NKEYS + bad), HDB_ENOTFOUND);

	snprintf(what, sizeof(what), "%s offset %" PRIu64 ":", base_name(wal), rec[bad]);
	if (!strstr(log.text, what))
		fail_msg("log does not name \"%s\": %s", what, log.text);
	snprintf(what, sizeof(what), "%" PRIu64 " bytes", size - rec[bad]);
	if (!strstr(log.text, what))
		fail_msg("log does not count \"%s\": %s", what, log.text);
	snprintf(damaged, sizeof(damaged), "%s.damaged", wal);
	assert_int_equal(file_size(damaged), size - rec[bad]);

	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	assert_int_equal(read_back(f->db, NKEYS + bad - 1), 0);
	struct reports r = { 0 };
	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;
	assert_int_equal(hdb_check(f->path, collect_report, &r), 0);
	assert_int_equal(file_size(damaged), size - rec[bad]);
}

/* A zero-filled page with intact records after it is an unsynced write
 * whose pages reached the disk out of order: nothing after it can have been
 * acknowledged by an fsync, so the open replays up to it (keeping the rest
 * as NNNNNN.wal.damaged); check still reports it. */
static void test_corruption_wal_zero_hole_opens_point_in_time(void **state)
{
	struct fixture *f = *state;
	char wal[160], damaged[200];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	size_t n = wal_records(wal, rec, WAL_KEYS + 2);
	assert_int_equal(n, WAL_KEYS);
	uint64_t hole = 2 * HDB_WAL_PAGE;
	assert_true(rec[n] > hole + 2 * HDB_WAL_PAGE);
	unsigned first = 0; /* the record the hole starts in */
	while (rec[first + 1] <= hole)
		first++;
	int fd = open(wal, O_WRONLY);
	assert_true(fd >= 0);
	static const uint8_t zeros[HDB_WAL_PAGE];
	assert_int_equal(pwrite(fd, zeros, sizeof(zeros), (off_t)hole), (ssize_t)sizeof(zeros));
	close(fd);

	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), HDB_ECORRUPT);
	expect_report(&r, base_name(wal), rec[first], rec[first] + 1);
	if (!strstr(r.what[0], "hole"))
		fail_msg("check does not call it a hole: %s", r.what[0]);

	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	for (unsigned i = 0; i < NKEYS + first; i++)
		assert_int_equal(read_back(f->db, i), 0);
	assert_int_equal(read_back(f->db, NKEYS + first), HDB_ENOTFOUND);
	snprintf(damaged, sizeof(damaged), "%s.damaged", wal);
	assert_int_equal(file_size(damaged), rec[n] - rec[first]);
}

/* Garbage from the last record to the end (no intact record in it) is a
 * torn tail: cut, and the open succeeds without a .damaged file. */
static void test_corruption_wal_garbage_tail_is_torn(void **state)
{
	struct fixture *f = *state;
	char wal[160], damaged[200];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	assert_int_equal(wal_records(wal, rec, WAL_KEYS + 2), WAL_KEYS);
	int fd = open(wal, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	uint8_t junk[3000];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7) | 1;
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), 0);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	for (unsigned i = 0; i < NKEYS + WAL_KEYS; i++)
		assert_int_equal(read_back(f->db, i), 0);
	snprintf(damaged, sizeof(damaged), "%s.damaged", wal);
	assert_int_equal(access(damaged, F_OK), -1);
}

static void test_corruption_wal_record_never_returns_wrong_bytes(void **state)
{
	struct fixture *f = *state;
	char wal[160];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	assert_int_equal(wal_records(wal, rec, WAL_KEYS + 2), WAL_KEYS);
	unsigned bad = WAL_KEYS / 2;
	flip_byte(wal, rec[bad] + (rec[bad + 1] - rec[bad]) / 2);
	if (hdb_open(f->path, NULL, &f->db))
		return; /* refusing is fine; the test above checks how */
	for (unsigned i = 0; i < NKEYS + WAL_KEYS; i++) {
		int r = read_back(f->db, i);
		assert_true(r == 0 || r == HDB_ENOTFOUND || r == HDB_ECORRUPT);
	}
	/* the records before the damage always survive */
	for (unsigned i = 0; i < NKEYS + bad; i++)
		assert_int_equal(read_back(f->db, i), 0);
}

/* A record cut short at the end of the newest segment is what power loss
 * leaves: the open drops it, keeps the rest, and the result checks clean. */
static void test_corruption_wal_torn_tail_is_dropped_on_open(void **state)
{
	struct fixture *f = *state;
	char wal[160];
	uint64_t rec[WAL_KEYS + 2];
	write_wal_and_die(f, wal, sizeof(wal));
	assert_int_equal(wal_records(wal, rec, WAL_KEYS + 2), WAL_KEYS);
	unsigned last = WAL_KEYS - 1;
	assert_int_equal(truncate(wal, (off_t)(rec[last] + (rec[last + 1] - rec[last]) / 2)), 0);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	for (unsigned i = 0; i < NKEYS + last; i++)
		assert_int_equal(read_back(f->db, i), 0);
	assert_int_equal(read_back(f->db, NKEYS + last), HDB_ENOTFOUND);
	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;
	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), 0);
	assert_int_equal(r.n, 0);
}

/* --- MANIFEST ------------------------------------------------------------ */

/* The manifest CURRENT names, with at least two records (the snapshot and
 * later edits): the first record spans [*rec0, *rec1). */
static void manifest_with_edits(struct fixture *f, char *path, size_t cap, uint64_t *rec0, uint64_t *rec1)
{
	build_tables(f);
	hdb_options o;
	small_options(&o);
	assert_int_equal(hdb_open(f->path, &o, &f->db), 0);
	put_range(f->db, NKEYS, NKEYS + 100);
	assert_int_equal(hdb_flush(f->db), 0);
	put_range(f->db, NKEYS + 100, NKEYS + 200);
	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;

	char cur[160];
	snprintf(cur, sizeof(cur), "%s/%s", f->path, HDB_CURRENT_NAME);
	uint8_t *data;
	size_t len;
	assert_int_equal(hdb_read_file(cur, &data, &len), 0);
	assert_true(len > 1 && data[len - 1] == '\n');
	snprintf(path, cap, "%s/%.*s", f->path, (int)(len - 1), (const char *)data);
	free(data);

	assert_int_equal(hdb_read_file(path, &data, &len), 0);
	assert_true(len > HDB_MANIFEST_HEADER_SIZE + HDB_MANIFEST_REC_HEADER);
	*rec0 = HDB_MANIFEST_HEADER_SIZE;
	*rec1 = *rec0 + HDB_MANIFEST_REC_HEADER + hdb_get_u32(data + *rec0 + HDB_MANIFEST_OFF_LENGTH);
	assert_true(*rec1 + HDB_MANIFEST_REC_HEADER < len); /* a second record follows */
	free(data);
}

static void test_corruption_manifest_record_reported_by_check(void **state)
{
	struct fixture *f = *state;
	char man[160];
	uint64_t r0, r1;
	manifest_with_edits(f, man, sizeof(man), &r0, &r1);
	flip_byte(man, r0 + (r1 - r0) / 2);
	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), HDB_ECORRUPT);
	expect_report(&r, base_name(man), r0, r1);
}

static void test_corruption_manifest_record_fails_open(void **state)
{
	struct fixture *f = *state;
	char man[160];
	uint64_t r0, r1;
	manifest_with_edits(f, man, sizeof(man), &r0, &r1);
	flip_byte(man, r0 + (r1 - r0) / 2);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), HDB_ECORRUPT);
	assert_null(f->db);
	if (!strstr(hdb_errdetail(), base_name(man)))
		fail_msg("errdetail \"%s\" does not name %s", hdb_errdetail(), base_name(man));
}

static void test_corruption_manifest_header_fails_open(void **state)
{
	struct fixture *f = *state;
	char man[160];
	uint64_t r0, r1;
	manifest_with_edits(f, man, sizeof(man), &r0, &r1);
	flip_byte(man, 2); /* inside the magic */
	assert_int_equal(hdb_open(f->path, NULL, &f->db), HDB_ECORRUPT);
	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), HDB_ECORRUPT);
	expect_report(&r, base_name(man), 0, HDB_MANIFEST_HEADER_SIZE);
}

static void test_corruption_missing_table_reported(void **state)
{
	struct fixture *f = *state;
	build_tables(f);
	uint64_t nums[64];
	assert_true(list_numbered(f->path, ".sst", nums, 64) >= 2);
	char p[160];
	numbered_path(p, sizeof(p), f->path, nums[0], ".sst");
	assert_int_equal(unlink(p), 0);
	struct reports r = { 0 };
	assert_int_equal(hdb_check(f->path, collect_report, &r), HDB_ECORRUPT);
	expect_report(&r, base_name(p), 0, 1);
}

/* --- directories and locks ---------------------------------------------- */

static void test_corruption_second_open_is_locked(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
	hdb_db *second = NULL;
	assert_int_equal(hdb_open(f->path, NULL, &second), HDB_ELOCKED);
	assert_null(second);
	/* the first handle is unharmed */
	assert_int_equal(hdb_put(f->db, "k", 1, "v", 1, false), 0);
	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;
	assert_int_equal(hdb_open(f->path, NULL, &f->db), 0);
}

static void test_corruption_foreign_directory_is_not_a_database(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(mkdir(f->path, 0700), 0);
	const char *names[] = { "notes.txt", "000001.sst", "MANIFEST-000002" };
	for (size_t i = 0; i < 3; i++) {
		char p[160];
		snprintf(p, sizeof(p), "%s/%s", f->path, names[i]);
		FILE *fp = fopen(p, "w");
		assert_non_null(fp);
		fprintf(fp, "random bytes %zu\n", i);
		fclose(fp);
	}
	assert_int_equal(hdb_open(f->path, NULL, &f->db), HDB_ENOTDB);
	assert_null(f->db);
	/* nothing was added or removed */
	char **names_after;
	size_t n;
	assert_int_equal(hdb_list_dir(f->path, &names_after, &n), 0);
	size_t foreign = 0;
	for (size_t i = 0; i < n; i++)
		foreign += strcmp(names_after[i], "LOCK") != 0;
	hdb_free_names(names_after, n);
	assert_int_equal(foreign, 3);
}

static void test_corruption_current_naming_garbage_fails_open(void **state)
{
	struct fixture *f = *state;
	build_tables(f);
	char cur[160];
	snprintf(cur, sizeof(cur), "%s/%s", f->path, HDB_CURRENT_NAME);
	FILE *fp = fopen(cur, "w");
	assert_non_null(fp);
	fputs("MANIFEST-9x\n", fp);
	fclose(fp);
	assert_int_equal(hdb_open(f->path, NULL, &f->db), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errdetail(), "CURRENT"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, db_fixture_setup, db_fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_corruption_table_block_reported_by_check),
		T(test_corruption_table_block_read_fails_with_detail),
		T(test_corruption_table_block_leaves_other_tables_readable),
		T(test_corruption_table_block_stops_iterator_with_error),
		T(test_corruption_table_filter_is_left_out),
		T(test_corruption_wal_record_reported_by_check),
		T(test_corruption_wal_damage_with_records_after_fails_open),
		T(test_corruption_wal_damage_fails_read_only_open),
		T(test_corruption_wal_damaged_length_is_not_a_torn_tail),
		T(test_corruption_wal_point_in_time_accepts_the_loss),
		T(test_corruption_wal_zero_hole_opens_point_in_time),
		T(test_corruption_wal_garbage_tail_is_torn),
		T(test_corruption_wal_record_never_returns_wrong_bytes),
		T(test_corruption_wal_torn_tail_is_dropped_on_open),
		T(test_corruption_manifest_record_reported_by_check),
		T(test_corruption_manifest_record_fails_open),
		T(test_corruption_manifest_header_fails_open),
		T(test_corruption_missing_table_reported),
		T(test_corruption_second_open_is_locked),
		T(test_corruption_foreign_directory_is_not_a_database),
		T(test_corruption_current_naming_garbage_fails_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
