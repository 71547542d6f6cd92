/*
 * test_db.c — the engine's public API (hybriddb.h), one behaviour per test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hybriddb.h"

#include "db_fixture.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/* Small MemTable and tables so that a few hundred KiB exercise every layer. */
static void small_options(hdb_options *o)
{
	hdb_options_init(o);
	o->memtable_size = 64 << 10;
	o->target_file_size = 64 << 10;
	o->block_size = 4 << 10;
	o->sync = HDB_SYNC_NEVER;
}

static void open_db(struct fixture *f, const hdb_options *o)
{
	assert_int_equal(hdb_open(f->path, o, &f->db), 0);
}

static void reopen_db(struct fixture *f, const hdb_options *o)
{
	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;
	open_db(f, o);
}

static void put_str(hdb_db *db, const char *k, const char *v)
{
	assert_int_equal(hdb_put(db, k, strlen(k), v, strlen(v), false), 0);
}

/* Asserts that k reads as exactly v (NULL: absent). */
static void expect_at(hdb_db *db, const hdb_snapshot *snap, const char *k, const char *v)
{
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.snapshot = snap;
	void *got = NULL;
	size_t n = 0;
	int rc = hdb_get(db, &ro, k, strlen(k), &got, &n);
	if (!v) {
		assert_int_equal(rc, HDB_ENOTFOUND);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, strlen(v));
	assert_memory_equal(got, v, n);
	free(got);
}

static void expect(hdb_db *db, const char *k, const char *v)
{
	expect_at(db, NULL, k, v);
}

static void key_of(char *buf, size_t cap, unsigned i)
{
	snprintf(buf, cap, "key%06u", i);
}

/* A value that names its key and version, padded to len bytes. */
static size_t value_of(char *buf, size_t cap, unsigned i, unsigned version, size_t len)
{
	int n = snprintf(buf, cap, "val%06u.%u.", i, version);
	size_t w = (size_t)n;
	while (w < len && w + 1 < cap) {
		buf[w] = (char)('a' + (i + w + version) % 26);
		w++;
	}
	buf[w] = 0;
	return w;
}

static void put_many(hdb_db *db, unsigned from, unsigned to, unsigned version, size_t vlen)
{
	char k[32], v[1024];
	for (unsigned i = from; i < to; i++) {
		key_of(k, sizeof(k), i);
		value_of(v, sizeof(v), i, version, vlen);
		put_str(db, k, v);
	}
}

static void expect_many(hdb_db *db, unsigned from, unsigned to, unsigned version, size_t vlen)
{
	char k[32], v[1024];
	for (unsigned i = from; i < to; i++) {
		key_of(k, sizeof(k), i);
		value_of(v, sizeof(v), i, version, vlen);
		expect(db, k, v);
	}
}

static uint64_t total_tables(const hdb_stats *s)
{
	uint64_t n = 0;
	for (int l = 0; l < HDB_MAX_LEVELS; l++)
		n += s->tables[l];
	return n;
}

/* --- point operations ------------------------------------------------- */

static void test_db_put_then_get_returns_value(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "alpha", "one");
	expect(f->db, "alpha", "one");
}

static void test_db_get_missing_returns_notfound(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "alpha", "one");
	void *v = (void *)0x1;
	size_t n = 0;
	assert_int_equal(hdb_get(f->db, NULL, "beta", 4, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_get(f->db, NULL, "alph", 4, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_get(f->db, NULL, "alphaa", 6, &v, &n), HDB_ENOTFOUND);
}

static void test_db_delete_makes_key_absent(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "alpha", "one");
	put_str(f->db, "beta", "two");
	assert_int_equal(hdb_delete(f->db, "alpha", 5, false), 0);
	expect(f->db, "alpha", NULL);
	expect(f->db, "beta", "two");
}

static void test_db_delete_of_missing_key_succeeds(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	assert_int_equal(hdb_delete(f->db, "ghost", 5, true), 0);
	expect(f->db, "ghost", NULL);
}

static void test_db_overwrite_returns_newest_value(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "alpha", "one");
	put_str(f->db, "alpha", "two, longer");
	put_str(f->db, "alpha", "3");
	expect(f->db, "alpha", "3");
}

static void test_db_overwrite_across_flush_returns_newest_value(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	open_db(f, &o);
	put_str(f->db, "alpha", "old");
	assert_int_equal(hdb_flush(f->db), 0);
	put_str(f->db, "alpha", "new");
	expect(f->db, "alpha", "new");
	assert_int_equal(hdb_flush(f->db), 0);
	expect(f->db, "alpha", "new");
	assert_int_equal(hdb_delete(f->db, "alpha", 5, false), 0);
	assert_int_equal(hdb_flush(f->db), 0);
	expect(f->db, "alpha", NULL);
}

static void test_db_empty_key_and_empty_value_round_trip(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	open_db(f, &o);
	assert_int_equal(hdb_put(f->db, "", 0, "empty key", 9, false), 0);
	assert_int_equal(hdb_put(f->db, "k", 1, "", 0, false), 0);
	expect(f->db, "", "empty key");
	expect(f->db, "k", "");
	assert_int_equal(hdb_flush(f->db), 0);
	reopen_db(f, &o);
	expect(f->db, "", "empty key");
	expect(f->db, "k", "");

	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	hdb_iter_seek_first(it);
	assert_true(hdb_iter_valid(it));
	size_t kl = 99, vl = 0;
	hdb_iter_key(it, &kl);
	hdb_iter_value(it, &vl);
	assert_int_equal(kl, 0);
	assert_int_equal(vl, 9);
	hdb_iter_free(it);
}

static void test_db_large_value_round_trips(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	open_db(f, &o);
	size_t n = 1 << 20;
	uint8_t *big = malloc(n);
	assert_non_null(big);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		big[i] = (uint8_t)(x >> 16);
	}
	assert_int_equal(hdb_put(f->db, "big", 3, big, n, false), 0);
	put_str(f->db, "small", "after");

	void *v;
	size_t vl;
	assert_int_equal(hdb_get(f->db, NULL, "big", 3, &v, &vl), 0);
	assert_int_equal(vl, n);
	assert_memory_equal(v, big, n);
	free(v);
	assert_int_equal(hdb_flush(f->db), 0);
	reopen_db(f, &o);
	assert_int_equal(hdb_get(f->db, NULL, "big", 3, &v, &vl), 0);
	assert_int_equal(vl, n);
	assert_memory_equal(v, big, n);
	free(v);
	expect(f->db, "small", "after");
	free(big);
}

/* --- batches ---------------------------------------------------------- */

static void test_db_batch_applies_every_operation(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "gone", "x");
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	assert_int_equal(hdb_batch_put(b, "a", 1, "1", 1), 0);
	assert_int_equal(hdb_batch_put(b, "b", 1, "2", 1), 0);
	assert_int_equal(hdb_batch_delete(b, "gone", 4), 0);
	assert_int_equal(hdb_batch_put(b, "a", 1, "3", 1), 0);
	assert_int_equal(hdb_batch_count(b), 4);
	assert_int_equal(hdb_write(f->db, b, false), 0);
	hdb_batch_free(b);
	expect(f->db, "a", "3");
	expect(f->db, "b", "2");
	expect(f->db, "gone", NULL);
}

struct batch_race {
	hdb_db *db;
	atomic_int stop;
	int rounds;
	int bad;   /* reads that saw a half-applied batch */
	int err;   /* first unexpected error */
};

/* Writes batches that set a and b to the same counter. */
static void *batch_writer(void *arg)
{
	struct batch_race *r = arg;
	hdb_batch *b = hdb_batch_new();
	char v[16];
	for (int i = 1; i <= r->rounds && !r->err; i++) {
		int n = snprintf(v, sizeof(v), "%d", i);
		hdb_batch_clear(b);
		if (hdb_batch_put(b, "a", 1, v, (size_t)n) || hdb_batch_put(b, "b", 1, v, (size_t)n)) {
			r->err = -ENOMEM;
			break;
		}
		int rc = hdb_write(r->db, b, false);
		if (rc)
			r->err = rc;
	}
	hdb_batch_free(b);
	atomic_store(&r->stop, 1);
	return NULL;
}

static int read_key(hdb_db *db, const hdb_snapshot *s, const char *k, char *out, size_t cap)
{
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.snapshot = s;
	void *v;
	size_t n;
	int rc = hdb_get(db, &ro, k, strlen(k), &v, &n);
	if (rc)
		return rc;
	snprintf(out, cap, "%.*s", (int)n, (const char *)v);
	free(v);
	return 0;
}

static void test_db_batch_is_visible_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	open_db(f, &o);
	struct batch_race r = { .db = f->db, .rounds = 3000 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, batch_writer, &r), 0);
	int reads = 0;
	while (!atomic_load(&r.stop)) {
		const hdb_snapshot *s = hdb_snapshot_new(f->db);
		char a[16] = "", b[16] = "";
		int ra = read_key(f->db, s, "a", a, sizeof(a));
		int rb = read_key(f->db, s, "b", b, sizeof(b));
		hdb_snapshot_release(f->db, s);
		if (ra != rb || strcmp(a, b))
			r.bad++;
		reads++;
	}
	pthread_join(t, NULL);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.bad, 0);
	assert_true(reads > 0);
	expect(f->db, "a", "3000");
	expect(f->db, "b", "3000");
}

static void test_db_empty_batch_write_succeeds(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	assert_int_equal(hdb_write(f->db, b, true), 0);
	hdb_batch_free(b);
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(s.last_sequence, 0);
}

/* --- persistence ------------------------------------------------------ */

static void test_db_reopen_after_flush_keeps_data(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	open_db(f, &o);
	put_many(f->db, 0, 500, 1, 100);
	assert_int_equal(hdb_flush(f->db), 0);
	reopen_db(f, &o);
	expect_many(f->db, 0, 500, 1, 100);
}

static void test_db_reopen_without_flush_keeps_data(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	o.memtable_size = 8 << 20; /* everything stays in the MemTable */
	open_db(f, &o);
	put_many(f->db, 0, 500, 1, 100);
	assert_int_equal(hdb_delete(f->db, "key000007", 9, false), 0);
	reopen_db(f, &o);
	expect_many(f->db, 0, 7, 1, 100);
	expect(f->db, "key000007", NULL);
	expect_many(f->db, 8, 500, 1, 100);
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(s.last_sequence, 501);
}

static void test_db_sequence_continues_after_reopen(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "a", "1");
	put_str(f->db, "b", "2");
	reopen_db(f, NULL);
	put_str(f->db, "c", "3");
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(s.last_sequence, 3);
}

/* A child writes with sync=always and dies without closing; every write
 * it made must be there.  The child also checks that each write synced. */
static void test_db_sync_always_survives_process_death(void **state)
{
	struct fixture *f = *state;
	const unsigned n = 200;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		hdb_options o;
		small_options(&o);
		o.sync = HDB_SYNC_ALWAYS;
		hdb_db *db;
		if (hdb_open(f->path, &o, &db))
			_exit(2);
		char k[32], v[256];
		for (unsigned i = 0; i < n; i++) {
			key_of(k, sizeof(k), i);
			size_t vl = value_of(v, sizeof(v), i, 1, 100);
			if (hdb_put(db, k, strlen(k), v, vl, false))
				_exit(3);
		}
		hdb_stats s;
		if (hdb_get_stats(db, &s) || s.wal_syncs < n)
			_exit(4);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	open_db(f, NULL);
	expect_many(f->db, 0, n, 1, 100);
}

/* --- iterators -------------------------------------------------------- */

/* Collects the iterator's keys from its position, as "k1,k2,...". */
static void collect_keys(hdb_iter *it, char *out, size_t cap)
{
	size_t w = 0;
	out[0] = 0;
	for (; hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t kl;
		const char *k = hdb_iter_key(it, &kl);
		int n = snprintf(out + w, cap - w, "%s%.*s", w ? "," : "", (int)kl, k);
		assert_true(n > 0 && (size_t)n < cap - w);
		w += (size_t)n;
	}
	assert_int_equal(hdb_iter_status(it), 0);
}

static void fill_letters(hdb_db *db)
{
	/* spread over a table, the MemTable and overwrites */
	put_str(db, "d", "d0");
	put_str(db, "b", "b0");
	put_str(db, "f", "f0");
	assert_int_equal(hdb_flush(db), 0);
	put_str(db, "a", "a1");
	put_str(db, "e", "e1");
	put_str(db, "c", "c1");
	put_str(db, "d", "d1");
}

static void test_db_iter_returns_keys_in_order(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	fill_letters(f->db);
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	hdb_iter_seek_first(it);
	char keys[128];
	collect_keys(it, keys, sizeof(keys));
	assert_string_equal(keys, "a,b,c,d,e,f");
	hdb_iter_free(it);
}

static void test_db_iter_value_is_newest_version(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	fill_letters(f->db);
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	hdb_iter_seek(it, "d", 1);
	assert_true(hdb_iter_valid(it));
	size_t vl;
	const char *v = hdb_iter_value(it, &vl);
	assert_int_equal(vl, 2);
	assert_memory_equal(v, "d1", 2);
	hdb_iter_free(it);
}

static void test_db_iter_orders_bytewise_shorter_first(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	assert_int_equal(hdb_put(f->db, "ab", 2, "", 0, false), 0);
	assert_int_equal(hdb_put(f->db, "a", 1, "", 0, false), 0);
	assert_int_equal(hdb_put(f->db, "a\xff", 2, "", 0, false), 0);
	assert_int_equal(hdb_put(f->db, "a\0", 2, "", 0, false), 0);
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	const char *want[] = { "a", "a\0", "ab", "a\xff" };
	size_t i = 0;
	for (hdb_iter_seek_first(it); hdb_iter_valid(it); hdb_iter_next(it), i++) {
		size_t kl;
		const void *k = hdb_iter_key(it, &kl);
		assert_true(i < 4);
		assert_int_equal(kl, i == 0 ? 1 : 2);
		assert_memory_equal(k, want[i], kl);
	}
	assert_int_equal(i, 4);
	hdb_iter_free(it);
}

static void test_db_iter_seek_finds_first_key_at_or_after(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	fill_letters(f->db);
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	char keys[128];
	hdb_iter_seek(it, "c", 1);
	collect_keys(it, keys, sizeof(keys));
	assert_string_equal(keys, "c,d,e,f");
	hdb_iter_seek(it, "cc", 2);
	collect_keys(it, keys, sizeof(keys));
	assert_string_equal(keys, "d,e,f");
	hdb_iter_seek(it, "g", 1);
	assert_false(hdb_iter_valid(it));
	hdb_iter_free(it);
}

static void test_db_iter_bounds_limit_range(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	fill_letters(f->db);
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.lower = "b";
	ro.lower_len = 1;
	ro.upper = "e";
	ro.upper_len = 1;
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, &ro, &it), 0);
	char keys[128];
	hdb_iter_seek_first(it);
	collect_keys(it, keys, sizeof(keys));
	assert_string_equal(keys, "b,c,d");
	/* seeking below the lower bound lands on it; above upper is the end */
	hdb_iter_seek(it, "a", 1);
	collect_keys(it, keys, sizeof(keys));
	assert_string_equal(keys, "b,c,d");
	hdb_iter_seek(it, "e", 1);
	assert_false(hdb_iter_valid(it));
	hdb_iter_free(it);
}

static void test_db_iter_hides_deleted_keys(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	fill_letters(f->db);
	assert_int_equal(hdb_delete(f->db, "b", 1, false), 0); /* lives in a table */
	assert_int_equal(hdb_delete(f->db, "e", 1, false), 0); /* lives in the MemTable */
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	char keys[128];
	hdb_iter_seek_first(it);
	collect_keys(it, keys, sizeof(keys));
	assert_string_equal(keys, "a,c,d,f");
	hdb_iter_free(it);
}

static void test_db_iter_does_not_see_later_writes(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	fill_letters(f->db);
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	put_str(f->db, "bb", "new");
	assert_int_equal(hdb_delete(f->db, "c", 1, false), 0);
	char keys[128];
	hdb_iter_seek_first(it);
	collect_keys(it, keys, sizeof(keys));
	assert_string_equal(keys, "a,b,c,d,e,f");
	hdb_iter_free(it);
}

/* --- snapshots -------------------------------------------------------- */

static void test_db_snapshot_sees_values_before_overwrite_and_delete(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "a", "old-a");
	put_str(f->db, "b", "old-b");
	const hdb_snapshot *s = hdb_snapshot_new(f->db);
	assert_non_null(s);
	put_str(f->db, "a", "new-a");
	assert_int_equal(hdb_delete(f->db, "b", 1, false), 0);
	put_str(f->db, "c", "new-c");
	expect_at(f->db, s, "a", "old-a");
	expect_at(f->db, s, "b", "old-b");
	expect_at(f->db, s, "c", NULL);
	expect(f->db, "a", "new-a");
	expect(f->db, "b", NULL);
	hdb_snapshot_release(f->db, s);
}

static void test_db_snapshot_survives_flush_and_compaction(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	open_db(f, &o);
	put_many(f->db, 0, 1000, 1, 100);
	const hdb_snapshot *s = hdb_snapshot_new(f->db);
	put_many(f->db, 0, 1000, 2, 100);
	for (unsigned i = 0; i < 1000; i += 2) {
		char k[32];
		key_of(k, sizeof(k), i);
		assert_int_equal(hdb_delete(f->db, k, strlen(k), false), 0);
	}
	assert_int_equal(hdb_flush(f->db), 0);
	assert_int_equal(hdb_compact_range(f->db, NULL, 0, NULL, 0), 0);

	char k[32], v[256];
	for (unsigned i = 0; i < 1000; i++) {
		key_of(k, sizeof(k), i);
		value_of(v, sizeof(v), i, 1, 100);
		expect_at(f->db, s, k, v);
		value_of(v, sizeof(v), i, 2, 100);
		expect(f->db, k, i % 2 ? v : NULL);
	}
	/* the snapshot's iterator sees the old state too */
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.snapshot = s;
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, &ro, &it), 0);
	unsigned n = 0;
	for (hdb_iter_seek_first(it); hdb_iter_valid(it); hdb_iter_next(it))
		n++;
	assert_int_equal(hdb_iter_status(it), 0);
	assert_int_equal(n, 1000);
	hdb_iter_free(it);
	assert_int_equal(hdb_snapshot_seq(s), 1000);
	hdb_snapshot_release(f->db, s);
}

/* --- flush, compaction, stats ------------------------------------------ */

static void test_db_flush_creates_level0_table(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	o.background_compaction = false;
	open_db(f, &o);
	put_str(f->db, "a", "1");
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(s.tables[0], 0);
	assert_int_equal(hdb_flush(f->db), 0);
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(s.tables[0], 1);
	assert_int_equal(s.flushes, 1);
	assert_true(s.level_bytes[0] > 0);
	expect(f->db, "a", "1");
}

static void test_db_flush_of_empty_memtable_creates_nothing(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	assert_int_equal(hdb_flush(f->db), 0);
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(total_tables(&s), 0);
}

static void test_db_full_compaction_leaves_one_level(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	o.background_compaction = false;
	open_db(f, &o);
	for (unsigned round = 0; round < 4; round++) {
		put_many(f->db, round * 300, round * 300 + 600, round, 120);
		assert_int_equal(hdb_flush(f->db), 0);
	}
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_true(s.tables[0] >= 4);
	assert_int_equal(hdb_compact_range(f->db, NULL, 0, NULL, 0), 0);
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	int levels = 0;
	for (int l = 0; l < HDB_MAX_LEVELS; l++)
		levels += s.tables[l] > 0;
	assert_int_equal(levels, 1);
	assert_int_equal(s.tables[0], 0);
	for (unsigned round = 0; round < 4; round++)
		expect_many(f->db, round * 300, round * 300 + 300, round, 120);
	expect_many(f->db, 1200, 1500, 3, 120);
}

static void test_db_full_compaction_drops_tombstones(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	o.compression = false; /* the values compress too well to fill tables */
	open_db(f, &o);
	put_many(f->db, 0, 3000, 1, 200);
	assert_int_equal(hdb_compact_range(f->db, NULL, 0, NULL, 0), 0);
	hdb_stats before, after;
	assert_int_equal(hdb_get_stats(f->db, &before), 0);
	assert_true(total_tables(&before) > 1);
	for (unsigned i = 0; i < 3000; i++) {
		char k[32];
		key_of(k, sizeof(k), i);
		assert_int_equal(hdb_delete(f->db, k, strlen(k), false), 0);
	}
	assert_int_equal(hdb_compact_range(f->db, NULL, 0, NULL, 0), 0);
	assert_int_equal(hdb_get_stats(f->db, &after), 0);
	assert_int_equal(total_tables(&after), 0);
	assert_true(after.disk_bytes < before.disk_bytes / 10);
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(f->db, NULL, &it), 0);
	hdb_iter_seek_first(it);
	assert_false(hdb_iter_valid(it));
	assert_int_equal(hdb_iter_status(it), 0);
	hdb_iter_free(it);
}

/* Without snapshots, a full compaction keeps one version of each key: a
 * key overwritten 2000 times (a counter record, say) takes the room of one
 * value on disk, not of every value it ever had. */
static void test_db_full_compaction_keeps_only_newest_versions(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	o.compression = false;
	o.memtable_size = 1 << 20; /* every version in one MemTable, flushed as one table */
	open_db(f, &o);
	char v[200];
	for (unsigned i = 0; i < 2000; i++) {
		memset(v, 'a' + i % 26, sizeof(v));
		assert_int_equal(hdb_put(f->db, "counter", 7, v, sizeof(v), false), 0);
	}
	assert_int_equal(hdb_compact_range(f->db, NULL, 0, NULL, 0), 0);
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(total_tables(&s), 1);
	assert_true(s.disk_bytes < 8 * sizeof(v) + 4096); /* 2000 versions would be ~400 KB */
	void *got;
	size_t len;
	assert_int_equal(hdb_get(f->db, NULL, "counter", 7, &got, &len), 0);
	assert_int_equal(len, sizeof(v));
	assert_int_equal(((char *)got)[0], 'a' + 1999 % 26);
	free(got);
}

static void test_db_compact_range_keeps_data_outside_and_inside(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	open_db(f, &o);
	put_many(f->db, 0, 2000, 1, 100);
	assert_int_equal(hdb_flush(f->db), 0);
	put_many(f->db, 500, 1000, 2, 100);
	assert_int_equal(hdb_compact_range(f->db, "key000400", 9, "key001100", 9), 0);
	expect_many(f->db, 0, 500, 1, 100);
	expect_many(f->db, 500, 1000, 2, 100);
	expect_many(f->db, 1000, 2000, 1, 100);
}

static void test_db_stats_json_names_expected_fields(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "a", "1");
	put_str(f->db, "b", "2");
	put_str(f->db, "c", "3");
	char *json = NULL;
	assert_int_equal(hdb_stats_json(f->db, &json), 0);
	assert_non_null(json);
	const char *keys[] = { "\"last_sequence\":3", "\"memtable_bytes\":", "\"wal_bytes\":", "\"levels\":[",
	                       "\"disk_bytes\":", "\"compactions\":", "\"flushes\":", "\"write_amplification\":",
	                       "\"read_amplification\":", "\"cache_hit_ratio\":", "\"write_stalls\":",
	                       "\"uptime_ms\":" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!strstr(json, keys[i]))
			fail_msg("stats JSON lacks %s: %s", keys[i], json);
	}
	assert_int_equal(json[0], '{');
	assert_int_equal(json[strlen(json) - 1], '}');
	free(json);
}

static void test_db_stats_count_gets_and_user_bytes(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "a", "1");
	expect(f->db, "a", "1");
	expect(f->db, "b", NULL);
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(s.gets, 2);
	assert_int_equal(s.last_sequence, 1);
	assert_true(s.bytes_written_user >= 2);
	assert_true(s.memtable_bytes > 0);
}

/* --- concurrency ------------------------------------------------------ */

struct group_arg {
	hdb_db *db;
	unsigned id;
	unsigned n;
	int rc;
};

static void *group_writer(void *p)
{
	struct group_arg *a = p;
	char k[32], v[128];
	for (unsigned i = 0; i < a->n && !a->rc; i++) {
		int kl = snprintf(k, sizeof(k), "t%u-%05u", a->id, i);
		size_t vl = value_of(v, sizeof(v), a->id * 100000 + i, a->id, 60);
		a->rc = hdb_put(a->db, k, (size_t)kl, v, vl, i % 4 == 0);
	}
	return NULL;
}

static void test_db_group_commit_concurrent_writers_all_succeed(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	open_db(f, &o);
	enum { THREADS = 8, PER = 400 };
	struct group_arg args[THREADS];
	pthread_t t[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		args[i] = (struct group_arg){ .db = f->db, .id = i, .n = PER };
		assert_int_equal(pthread_create(&t[i], NULL, group_writer, &args[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(args[i].rc, 0);
	}
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(s.last_sequence, THREADS * PER);
	reopen_db(f, &o);
	char k[32], v[128];
	for (unsigned id = 0; id < THREADS; id++) {
		for (unsigned i = 0; i < PER; i++) {
			snprintf(k, sizeof(k), "t%u-%05u", id, i);
			value_of(v, sizeof(v), id * 100000 + i, id, 60);
			expect(f->db, k, v);
		}
	}
}

struct stall_arg {
	hdb_db *db;
	atomic_int done;
	int rc;
};

static void *stall_writer(void *p)
{
	struct stall_arg *a = p;
	char k[32], v[512];
	for (unsigned i = 0; i < 1000 && !a->rc; i++) {
		key_of(k, sizeof(k), 100000 + i);
		size_t vl = value_of(v, sizeof(v), 100000 + i, 9, 400);
		a->rc = hdb_put(a->db, k, strlen(k), v, vl, false);
	}
	atomic_store(&a->done, 1);
	return NULL;
}

static void *stall_compactor(void *p)
{
	struct stall_arg *a = p;
	a->rc = hdb_compact_range(a->db, NULL, 0, NULL, 0);
	atomic_store(&a->done, 1);
	return NULL;
}

static bool wait_done(atomic_int *done, int seconds)
{
	for (int i = 0; i < seconds * 100 && !atomic_load(done); i++)
		usleep(10000);
	return atomic_load(done);
}

/* With background compaction off, a writer held up by a deep L0 and a
 * manual compaction running meanwhile must both finish, losing nothing. */
static void test_db_write_stall_and_compact_range_both_complete(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	small_options(&o);
	o.background_compaction = false;
	o.l0_compaction_trigger = 1;
	o.l0_slowdown_trigger = 2;
	o.l0_stop_trigger = 3;
	open_db(f, &o);
	for (unsigned i = 0; i < 3; i++) {
		put_many(f->db, i * 10, i * 10 + 10, 1, 50);
		assert_int_equal(hdb_flush(f->db), 0);
	}
	hdb_stats s;
	assert_int_equal(hdb_get_stats(f->db, &s), 0);
	assert_int_equal(s.tables[0], 3);

	/* 1000 x 400 bytes overflow the 64 KiB MemTable: the writer must wait */
	struct stall_arg w = { .db = f->db }, c = { .db = f->db };
	pthread_t tw, tc;
	assert_int_equal(pthread_create(&tw, NULL, stall_writer, &w), 0);
	/* call compact_range while the writer is held up, if it still is */
	for (int i = 0; i < 500 && !atomic_load(&w.done); i++) {
		assert_int_equal(hdb_get_stats(f->db, &s), 0);
		if (s.write_stalls > 0 && s.memtable_bytes > o.memtable_size)
			break;
		usleep(10000);
	}
	assert_int_equal(pthread_create(&tc, NULL, stall_compactor, &c), 0);
	if (!wait_done(&c.done, 20) || !wait_done(&w.done, 20)) {
		/* the threads are stuck inside the engine: leak the db rather
		 * than hang the suite in teardown */
		f->db = NULL;
		fail_msg("writer (done=%d) or hdb_compact_range (done=%d) still blocked after 20 s",
		         atomic_load(&w.done), atomic_load(&c.done));
	}
	pthread_join(tw, NULL);
	pthread_join(tc, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(c.rc, 0);
	expect_many(f->db, 0, 30, 1, 50);
	char k[32], v[512];
	for (unsigned i = 0; i < 1000; i++) {
		key_of(k, sizeof(k), 100000 + i);
		value_of(v, sizeof(v), 100000 + i, 9, 400);
		expect(f->db, k, v);
	}
}

/* --- options and errors ----------------------------------------------- */

static void test_db_open_without_create_if_missing_fails(void **state)
{
	struct fixture *f = *state;
	hdb_options o;
	hdb_options_init(&o);
	o.create_if_missing = false;
	assert_int_equal(hdb_open(f->path, &o, &f->db), -ENOENT);
	assert_null(f->db);
}

static void test_db_open_with_error_if_exists_fails_on_existing(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;
	hdb_options o;
	hdb_options_init(&o);
	o.error_if_exists = true;
	assert_int_equal(hdb_open(f->path, &o, &f->db), -EEXIST);
}

static void test_db_read_only_open_reads_and_refuses_writes(void **state)
{
	struct fixture *f = *state;
	open_db(f, NULL);
	put_str(f->db, "a", "1");
	assert_int_equal(hdb_close(f->db), 0);
	f->db = NULL;
	hdb_options o;
	hdb_options_init(&o);
	o.read_only = true;
	open_db(f, &o);
	expect(f->db, "a", "1");
	assert_int_equal(hdb_put(f->db, "b", 1, "2", 1, false), -EROFS);
}

static void test_db_strerror_names_engine_codes(void **state)
{
	assert_string_equal(hdb_strerror(0), "success");
	assert_string_equal(hdb_strerror(HDB_ENOTFOUND), "key not found");
	assert_string_equal(hdb_strerror(-ENOENT), strerror(ENOENT));
	assert_non_null(hdb_strerror(HDB_ECORRUPT));
	assert_non_null(hdb_strerror(12345678));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, db_fixture_setup, db_fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_db_put_then_get_returns_value),
		T(test_db_get_missing_returns_notfound),
		T(test_db_delete_makes_key_absent),
		T(test_db_delete_of_missing_key_succeeds),
		T(test_db_overwrite_returns_newest_value),
		T(test_db_overwrite_across_flush_returns_newest_value),
		T(test_db_empty_key_and_empty_value_round_trip),
		T(test_db_large_value_round_trips),
		T(test_db_batch_applies_every_operation),
		T(test_db_batch_is_visible_all_or_nothing),
		T(test_db_empty_batch_write_succeeds),
		T(test_db_reopen_after_flush_keeps_data),
		T(test_db_reopen_without_flush_keeps_data),
		T(test_db_sequence_continues_after_reopen),
		T(test_db_sync_always_survives_process_death),
		T(test_db_iter_returns_keys_in_order),
		T(test_db_iter_value_is_newest_version),
		T(test_db_iter_orders_bytewise_shorter_first),
		T(test_db_iter_seek_finds_first_key_at_or_after),
		T(test_db_iter_bounds_limit_range),
		T(test_db_iter_hides_deleted_keys),
		T(test_db_iter_does_not_see_later_writes),
		T(test_db_snapshot_sees_values_before_overwrite_and_delete),
		T(test_db_snapshot_survives_flush_and_compaction),
		T(test_db_flush_creates_level0_table),
		T(test_db_flush_of_empty_memtable_creates_nothing),
		T(test_db_full_compaction_leaves_one_level),
		T(test_db_full_compaction_drops_tombstones),
		T(test_db_full_compaction_keeps_only_newest_versions),
		T(test_db_compact_range_keeps_data_outside_and_inside),
		T(test_db_stats_json_names_expected_fields),
		T(test_db_stats_count_gets_and_user_bytes),
		T(test_db_group_commit_concurrent_writers_all_succeed),
		T(test_db_write_stall_and_compact_range_both_complete),
		T(test_db_open_without_create_if_missing_fails),
		T(test_db_open_with_error_if_exists_fails_on_existing),
		T(test_db_read_only_open_reads_and_refuses_writes),
		T(test_db_strerror_names_engine_codes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
