/*
 * test_model.c — random operations against the engine and an in-memory
 * model, checked at every step.
 *
 * The model is a fixed, sorted key space; each key holds a version number
 * (0 = absent) and a value is a pure function of (key, version), so the
 * model and a snapshot of it are plain arrays of integers.  A small MemTable
 * and small tables keep flushes and background compactions running all the
 * time; the database is closed and reopened every REOPEN_EVERY operations
 * and then compared in full.
 *
 * The seed is printed; HDB_SEED=<n> replays a run, HDB_MODEL_OPS=<n>
 * changes the number of operations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hybriddb.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NKEYS 8000
#define MAX_KEY 16
#define MAX_VALUE 200
#define MAX_SNAPSHOTS 4
#define SCAN_LIMIT 50
#define REOPEN_EVERY 5000
#define DEFAULT_OPS 200000
#define DEFAULT_SEED UINT64_C(0x5eed0001)

struct mkey {
	uint8_t b[MAX_KEY];
	size_t n;
};

struct msnap {
	const hdb_snapshot *snap; /* NULL: slot free */
	uint32_t *ver;            /* the model when it was taken */
};

struct model {
	char dir[64];
	char path[96];
	hdb_options opt;
	hdb_db *db;
	uint64_t rng;
	uint64_t op;                 /* index of the operation running */
	struct mkey keys[NKEYS];     /* sorted, distinct */
	uint32_t ver[NKEYS];         /* 0: absent */
	uint32_t next_ver;
	struct msnap snaps[MAX_SNAPSHOTS];
	uint8_t vbuf[MAX_VALUE];
	uint64_t flushes;            /* over all opens */
	uint64_t compactions;
};

static uint64_t rnd(struct model *m)
{
	/* splitmix64 */
	uint64_t z = (m->rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned rnd_below(struct model *m, unsigned n)
{
	return (unsigned)(rnd(m) % n);
}

static int key_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int r = n ? memcmp(a, b, n) : 0;
	if (r)
		return r;
	return an < bn ? -1 : an > bn;
}

static int mkey_cmp(const void *a, const void *b)
{
	const struct mkey *x = a, *y = b;
	return key_cmp(x->b, x->n, y->b, y->n);
}

/* Random bytes from a small alphabet, so that keys share prefixes and
 * straddle the signed/unsigned byte boundary. */
static void random_bytes(struct model *m, uint8_t *b, size_t n)
{
	static const uint8_t alphabet[] = { 0x00, 0x01, 'a', 'b', 'c', 0x7f, 0x80, 0xff };
	for (size_t i = 0; i < n; i++)
		b[i] = alphabet[rnd_below(m, sizeof(alphabet))];
}

static void make_keys(struct model *m)
{
	size_t n = 0;
	m->keys[n++].n = 0; /* the empty key is a key too */
	while (n < NKEYS) {
		struct mkey *k = &m->keys[n++];
		k->n = 1 + rnd_below(m, MAX_KEY);
		random_bytes(m, k->b, k->n);
	}
	qsort(m->keys, NKEYS, sizeof(m->keys[0]), mkey_cmp);
	/* replace duplicates by fresh long keys until all are distinct */
	for (;;) {
		bool dup = false;
		for (size_t i = 1; i < NKEYS; i++) {
			if (!mkey_cmp(&m->keys[i - 1], &m->keys[i])) {
				m->keys[i].n = MAX_KEY;
				random_bytes(m, m->keys[i].b, MAX_KEY);
				dup = true;
			}
		}
		if (!dup)
			break;
		qsort(m->keys, NKEYS, sizeof(m->keys[0]), mkey_cmp);
	}
}

/* The value of version v of key i: its length and bytes derive from both. */
static size_t value_of(struct model *m, size_t i, uint32_t v)
{
	uint64_t s = (uint64_t)i * UINT64_C(0x100000001b3) ^ (uint64_t)v * UINT64_C(0x9e3779b97f4a7c15);
	s ^= s >> 29;
	size_t n = (size_t)(s % MAX_VALUE);
	for (size_t j = 0; j < n; j++) {
		s = s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
		m->vbuf[j] = (uint8_t)(s >> 56);
	}
	return n;
}

static void print_key(const uint8_t *b, size_t n, char *out, size_t cap)
{
	size_t w = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && w + 3 < cap; i++)
		w += (size_t)snprintf(out + w, cap - w, "%02x", b[i]);
}

#define model_fail(m, ...)                                                                       \
	do {                                                                                     \
		print_message("model test failed at operation %" PRIu64 " (seed %" PRIu64 ")\n",  \
		              (m)->op, seed_used);                                                \
		fail_msg(__VA_ARGS__);                                                           \
	} while (0)

static uint64_t seed_used;

/* Compares a value read from the engine with version v of key i. */
static void check_value(struct model *m, size_t i, uint32_t v, const void *got, size_t n, const char *what)
{
	char kh[2 * MAX_KEY + 1];
	size_t want = value_of(m, i, v);
	if (n != want || (n && memcmp(got, m->vbuf, n))) {
		print_key(m->keys[i].b, m->keys[i].n, kh, sizeof(kh));
		model_fail(m, "%s: key %s version %u: got %zu bytes, want %zu", what, kh, v, n, want);
	}
}

/* --- writes ----------------------------------------------------------- */

static void op_put(struct model *m)
{
	size_t i = rnd_below(m, NKEYS);
	uint32_t v = ++m->next_ver;
	size_t n = value_of(m, i, v);
	int rc = hdb_put(m->db, m->keys[i].b, m->keys[i].n, m->vbuf, n, false);
	if (rc)
		model_fail(m, "put: %s %s", hdb_strerror(rc), hdb_errdetail());
	m->ver[i] = v;
}

static void op_delete(struct model *m)
{
	/* mostly keys that exist, so deletes matter */
	size_t i = rnd_below(m, NKEYS);
	for (int tries = 0; tries < 4 && !m->ver[i]; tries++)
		i = rnd_below(m, NKEYS);
	int rc = hdb_delete(m->db, m->keys[i].b, m->keys[i].n, false);
	if (rc)
		model_fail(m, "delete: %s %s", hdb_strerror(rc), hdb_errdetail());
	m->ver[i] = 0;
}

static void op_batch(struct model *m, hdb_batch *b)
{
	size_t idx[20];
	uint32_t vers[20];
	unsigned n = 1 + rnd_below(m, 20);
	hdb_batch_clear(b);
	for (unsigned j = 0; j < n; j++) {
		/* neighbouring keys, sometimes the same one twice */
		idx[j] = j && rnd_below(m, 3) == 0 ? (idx[j - 1] + rnd_below(m, 3)) % NKEYS : rnd_below(m, NKEYS);
		const struct mkey *k = &m->keys[idx[j]];
		int rc;
		if (rnd_below(m, 4) == 0) {
			vers[j] = 0;
			rc = hdb_batch_delete(b, k->b, k->n);
		} else {
			vers[j] = ++m->next_ver;
			size_t vl = value_of(m, idx[j], vers[j]);
			rc = hdb_batch_put(b, k->b, k->n, m->vbuf, vl);
		}
		if (rc)
			model_fail(m, "batch build: %s", hdb_strerror(rc));
	}
	int rc = hdb_write(m->db, b, false);
	if (rc)
		model_fail(m, "write batch of %u: %s %s", n, hdb_strerror(rc), hdb_errdetail());
	for (unsigned j = 0; j < n; j++)
		m->ver[idx[j]] = vers[j];
}

/* --- reads ------------------------------------------------------------ */

static void check_get(struct model *m, const hdb_snapshot *snap, const uint32_t *ver, size_t i)
{
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.snapshot = snap;
	void *val = NULL;
	size_t n = 0;
	int rc = hdb_get(m->db, &ro, m->keys[i].b, m->keys[i].n, &val, &n);
	char kh[2 * MAX_KEY + 1];
	if (!ver[i]) {
		if (rc != HDB_ENOTFOUND) {
			print_key(m->keys[i].b, m->keys[i].n, kh, sizeof(kh));
			model_fail(m, "get%s %s: want absent, got %s (%zu bytes)", snap ? " (snapshot)" : "", kh,
			           rc ? hdb_strerror(rc) : "a value", n);
		}
		return;
	}
	if (rc) {
		print_key(m->keys[i].b, m->keys[i].n, kh, sizeof(kh));
		model_fail(m, "get%s %s: %s %s", snap ? " (snapshot)" : "", kh, hdb_strerror(rc), hdb_errdetail());
	}
	check_value(m, i, ver[i], val, n, snap ? "get (snapshot)" : "get");
	free(val);
}

/* First model index whose key is >= (b, n). */
static size_t lower_index(struct model *m, const uint8_t *b, size_t n)
{
	size_t lo = 0, hi = NKEYS;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(m->keys[mid].b, m->keys[mid].n, b, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A random bound: a model key, a key with a byte appended or cut, or junk. */
static void random_bound(struct model *m, uint8_t *b, size_t *n)
{
	const struct mkey *k = &m->keys[rnd_below(m, NKEYS)];
	switch (rnd_below(m, 4)) {
	case 0:
		*n = 1 + rnd_below(m, MAX_KEY);
		random_bytes(m, b, *n);
		return;
	case 1:
		memcpy(b, k->b, k->n);
		*n = k->n;
		if (*n < MAX_KEY + 1)
			random_bytes(m, b + (*n)++, 1);
		return;
	case 2:
		memcpy(b, k->b, k->n);
		*n = k->n ? k->n - 1 : 0;
		return;
	default:
		memcpy(b, k->b, k->n);
		*n = k->n;
	}
}

/* Walks the iterator from its position and the model from index i, up to
 * `limit` entries (0: all), within [.., end). */
static void compare_scan(struct model *m, hdb_iter *it, const uint32_t *ver, size_t i, size_t end,
                         size_t limit, const char *what)
{
	size_t seen = 0;
	char kh[2 * MAX_KEY + 1];
	for (;;) {
		while (i < end && !ver[i])
			i++;
		if (limit && seen == limit)
			break;
		bool valid = hdb_iter_valid(it);
		if (i >= end) {
			if (valid) {
				size_t kl;
				const void *k = hdb_iter_key(it, &kl);
				print_key(k, kl, kh, sizeof(kh));
				model_fail(m, "%s: engine has extra key %s after %zu entries", what, kh, seen);
			}
			break;
		}
		if (!valid) {
			print_key(m->keys[i].b, m->keys[i].n, kh, sizeof(kh));
			model_fail(m, "%s: engine ended (status %s) after %zu entries; model has %s", what,
			           hdb_strerror(hdb_iter_status(it)), seen, kh);
		}
		size_t kl, vl;
		const void *k = hdb_iter_key(it, &kl);
		if (key_cmp(k, kl, m->keys[i].b, m->keys[i].n)) {
			char gh[2 * MAX_KEY + 1];
			print_key(k, kl, gh, sizeof(gh));
			print_key(m->keys[i].b, m->keys[i].n, kh, sizeof(kh));
			model_fail(m, "%s: entry %zu: engine key %s, model key %s", what, seen, gh, kh);
		}
		const void *v = hdb_iter_value(it, &vl);
		check_value(m, i, ver[i], v, vl, what);
		seen++;
		i++;
		hdb_iter_next(it);
	}
	if (hdb_iter_status(it))
		model_fail(m, "%s: iterator status %s %s", what, hdb_strerror(hdb_iter_status(it)), hdb_errdetail());
}

static void op_scan(struct model *m, const hdb_snapshot *snap, const uint32_t *ver)
{
	uint8_t lo[MAX_KEY + 1], hi[MAX_KEY + 1], sk[MAX_KEY + 1];
	size_t lon = 0, hin = 0, skn = 0;
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.snapshot = snap;
	size_t start = 0, end = NKEYS;
	if (rnd_below(m, 3)) {
		random_bound(m, lo, &lon);
		ro.lower = lo;
		ro.lower_len = lon;
		start = lower_index(m, lo, lon);
	}
	if (rnd_below(m, 3)) {
		random_bound(m, hi, &hin);
		ro.upper = hi;
		ro.upper_len = hin;
		end = lower_index(m, hi, hin);
	}
	hdb_iter *it;
	int rc = hdb_iter_new(m->db, &ro, &it);
	if (rc)
		model_fail(m, "iter_new: %s", hdb_strerror(rc));
	if (rnd_below(m, 2)) {
		hdb_iter_seek_first(it);
	} else {
		random_bound(m, sk, &skn);
		hdb_iter_seek(it, sk, skn);
		size_t s = lower_index(m, sk, skn);
		if (s > start)
			start = s;
	}
	if (end < start)
		end = start;
	compare_scan(m, it, ver, start, end, SCAN_LIMIT, snap ? "scan (snapshot)" : "scan");
	hdb_iter_free(it);
}

static void full_scan(struct model *m)
{
	hdb_iter *it;
	int rc = hdb_iter_new(m->db, NULL, &it);
	if (rc)
		model_fail(m, "iter_new: %s", hdb_strerror(rc));
	hdb_iter_seek_first(it);
	compare_scan(m, it, m->ver, 0, NKEYS, 0, "full scan");
	hdb_iter_free(it);
}

/* --- snapshots -------------------------------------------------------- */

static struct msnap *pick_snapshot(struct model *m)
{
	struct msnap *s = &m->snaps[rnd_below(m, MAX_SNAPSHOTS)];
	return s->snap ? s : NULL;
}

static void snapshot_take(struct model *m)
{
	struct msnap *s = &m->snaps[rnd_below(m, MAX_SNAPSHOTS)];
	if (s->snap)
		return;
	s->snap = hdb_snapshot_new(m->db);
	if (!s->snap)
		model_fail(m, "snapshot_new returned NULL");
	memcpy(s->ver, m->ver, sizeof(m->ver));
}

static void snapshot_release(struct model *m, struct msnap *s)
{
	hdb_snapshot_release(m->db, s->snap);
	s->snap = NULL;
}

/* --- driver ----------------------------------------------------------- */

static void db_open(struct model *m)
{
	int rc = hdb_open(m->path, &m->opt, &m->db);
	if (rc)
		model_fail(m, "open: %s %s", hdb_strerror(rc), hdb_errdetail());
}

static void reopen(struct model *m)
{
	for (size_t s = 0; s < MAX_SNAPSHOTS; s++)
		if (m->snaps[s].snap)
			snapshot_release(m, &m->snaps[s]);
	full_scan(m);
	hdb_stats st;
	int rc = hdb_get_stats(m->db, &st);
	if (rc)
		model_fail(m, "stats: %s", hdb_strerror(rc));
	m->flushes += st.flushes;
	m->compactions += st.compactions;
	rc = hdb_close(m->db);
	m->db = NULL;
	if (rc)
		model_fail(m, "close: %s %s", hdb_strerror(rc), hdb_errdetail());
	db_open(m);
	full_scan(m);
}

static void step(struct model *m, hdb_batch *b)
{
	unsigned r = rnd_below(m, 100);
	struct msnap *s;
	if (r < 28) {
		op_put(m);
	} else if (r < 38) {
		op_delete(m);
	} else if (r < 45) {
		op_batch(m, b);
	} else if (r < 73) {
		check_get(m, NULL, m->ver, rnd_below(m, NKEYS));
	} else if (r < 81) {
		if ((s = pick_snapshot(m)))
			check_get(m, s->snap, s->ver, rnd_below(m, NKEYS));
	} else if (r < 86) {
		op_scan(m, NULL, m->ver);
	} else if (r < 88) {
		if ((s = pick_snapshot(m)))
			op_scan(m, s->snap, s->ver);
	} else if (r < 89) {
		snapshot_take(m);
	} else if (r < 90) {
		if ((s = pick_snapshot(m)))
			snapshot_release(m, s);
	} else {
		op_put(m); /* overwrites dominate real workloads */
	}
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct model *m = calloc(1, sizeof(*m));
	if (!m)
		return -1;
	strcpy(m->dir, "/tmp/hdbtest.XXXXXX");
	if (!mkdtemp(m->dir)) {
		free(m);
		return -1;
	}
	snprintf(m->path, sizeof(m->path), "%s/db", m->dir);
	for (size_t s = 0; s < MAX_SNAPSHOTS; s++)
		if (!(m->snaps[s].ver = malloc(sizeof(m->ver))))
			return -1;
	*state = m;
	return 0;
}

/* Also after a failure: the database may still be open. */
static int teardown(void **state)
{
	struct model *m = *state;
	if (m->db) {
		for (size_t s = 0; s < MAX_SNAPSHOTS; s++)
			if (m->snaps[s].snap)
				hdb_snapshot_release(m->db, m->snaps[s].snap);
		hdb_close(m->db);
	}
	for (size_t s = 0; s < MAX_SNAPSHOTS; s++)
		free(m->snaps[s].ver);
	int rc = nftw(m->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(m);
	return rc;
}

static void test_model_random_operations_match_model(void **state)
{
	struct model *m = *state;
	seed_used = env_u64("HDB_SEED", DEFAULT_SEED);
	uint64_t ops = env_u64("HDB_MODEL_OPS", DEFAULT_OPS);
	print_message("model test: seed %" PRIu64 " (set HDB_SEED to replay), %" PRIu64 " operations\n", seed_used,
	              ops);
	m->rng = seed_used;
	make_keys(m);

	hdb_options_init(&m->opt);
	m->opt.memtable_size = 64 << 10;
	m->opt.target_file_size = 64 << 10;
	m->opt.level1_max_bytes = 256 << 10;
	m->opt.block_size = 4 << 10;
	m->opt.cache_size = 256 << 10;
	m->opt.sync = HDB_SYNC_NEVER;
	m->opt.background_compaction = true;
	db_open(m);

	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	for (m->op = 0; m->op < ops; m->op++) {
		step(m, b);
		if ((m->op + 1) % REOPEN_EVERY == 0)
			reopen(m);
	}
	hdb_batch_free(b);
	reopen(m);

	hdb_stats st;
	assert_int_equal(hdb_get_stats(m->db, &st), 0);
	char levels[128] = "";
	for (int l = 0, w = 0; l < HDB_MAX_LEVELS; l++)
		w += snprintf(levels + w, sizeof(levels) - (size_t)w, " %" PRIu64, st.tables[l]);
	print_message("model test: %" PRIu64 " flushes, %" PRIu64 " compactions; tables per level:%s\n", m->flushes,
	              m->compactions, levels);
	int rc = hdb_close(m->db);
	m->db = NULL;
	assert_int_equal(rc, 0);
	/* the run must have exercised what it is meant to */
	if (ops >= DEFAULT_OPS) {
		assert_true(m->flushes >= 100);
		assert_true(m->compactions >= 20);
	}
	assert_int_equal(hdb_check(m->path, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_model_random_operations_match_model, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
