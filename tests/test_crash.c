/*
 * test_crash.c — power loss at every sync point of a workload, and a full
 * disk, simulated under the engine by tests/fault_env.c.
 *
 * The workload is a fixed script (puts, overwrites, deletes, batches, some
 * synced; flushes; compactions; a close and reopen) on a database with a
 * small MemTable, so tables, WAL segments and manifests rotate.  For each
 * chosen sync point k the script runs in a fresh directory until the power
 * fails after the k-th sync, the crash is simulated on the real files, and
 * the database is reopened with plain POSIX I/O.  It must open, and its
 * content must be the state after some prefix of the script that contains
 * every operation acknowledged as durable (a synced write, hdb_sync,
 * hdb_flush, hdb_compact_range or a clean close that returned 0): that
 * covers "nothing synced is lost", "no value that was never written" and
 * batch atomicity at once.  After a close, hdb_check must pass.
 *
 * HDB_SEED=<n> changes the script, HDB_CRASH_POINTS=<n> the number of sync
 * points tried (spread evenly over the workload).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "hybriddb.h"

#include "db_fixture.h"
#include "fault_env.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NKEYS 300
#define SCRIPT_OPS 2400
#define DEFAULT_POINTS 60
#define DEFAULT_SEED UINT64_C(0xc0ffee01)

static int read_whole(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, cap);
	close(fd);
	if (n < 0)
		return -errno;
	*len = (size_t)n;
	return 0;
}

static void write_str(hdb_env *env, int fd, const char *s)
{
	assert_int_equal(env->write(env, fd, s, strlen(s)), 0);
}

static void expect_content(const char *path, const char *want)
{
	char buf[256];
	size_t n;
	assert_int_equal(read_whole(path, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
}

/* --- the fault env itself ------------------------------------------------ */

static void test_fault_env_crash_drops_unsynced_bytes(void **state)
{
	char dir[64], p[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(p, sizeof(p), "%s/f", dir);
	hdb_env *env = fault_env_new();
	assert_non_null(env);
	int fd;
	assert_int_equal(env->wopen(env, p, HDB_WOPEN_TRUNC, &fd), 0);
	write_str(env, fd, "durable");
	assert_int_equal(env->sync(env, fd), 0);
	assert_int_equal(env->sync_dir(env, dir), 0);
	write_str(env, fd, "+lost");
	assert_int_equal(env->close(env, fd), 0);
	assert_int_equal(fault_env_sync_count(env), 2);
	assert_int_equal(fault_env_simulate_crash(env), 0);
	expect_content(p, "durable");
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
}

static void test_fault_env_crash_removes_file_whose_creation_was_not_synced(void **state)
{
	char dir[64], p[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(p, sizeof(p), "%s/f", dir);
	hdb_env *env = fault_env_new();
	int fd;
	assert_int_equal(env->wopen(env, p, HDB_WOPEN_TRUNC | HDB_WOPEN_EXCL, &fd), 0);
	write_str(env, fd, "data");
	assert_int_equal(env->sync(env, fd), 0);
	assert_int_equal(env->close(env, fd), 0);
	assert_int_equal(fault_env_simulate_crash(env), 0);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
}

static void test_fault_env_crash_undoes_unsynced_rename_over_file(void **state)
{
	char dir[64], a[128], tmp[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(tmp, sizeof(tmp), "%s/a.tmp", dir);
	hdb_env *env = fault_env_new();
	int fd;
	assert_int_equal(env->wopen(env, a, HDB_WOPEN_TRUNC, &fd), 0);
	write_str(env, fd, "old");
	assert_int_equal(env->sync(env, fd), 0);
	assert_int_equal(env->close(env, fd), 0);
	assert_int_equal(env->sync_dir(env, dir), 0);
	assert_int_equal(env->wopen(env, tmp, HDB_WOPEN_TRUNC, &fd), 0);
	write_str(env, fd, "new");
	assert_int_equal(env->sync(env, fd), 0);
	assert_int_equal(env->close(env, fd), 0);
	assert_int_equal(env->rename(env, tmp, a), 0);
	expect_content(a, "new");
	assert_int_equal(fault_env_simulate_crash(env), 0);
	expect_content(a, "old");
	assert_int_equal(access(tmp, F_OK), -1);
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
}

static void test_fault_env_synced_rename_survives_crash(void **state)
{
	char dir[64], a[128], tmp[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(tmp, sizeof(tmp), "%s/a.tmp", dir);
	hdb_env *env = fault_env_new();
	assert_int_equal(hdb_env_write_atomic(env, dir, "a", "old", 3), 0);
	assert_int_equal(hdb_env_write_atomic(env, dir, "a", "newer", 5), 0);
	assert_int_equal(fault_env_simulate_crash(env), 0);
	expect_content(a, "newer");
	assert_int_equal(access(tmp, F_OK), -1);
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
}

static void test_fault_env_crash_undoes_unsynced_unlink(void **state)
{
	char dir[64], p[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(p, sizeof(p), "%s/f", dir);
	hdb_env *env = fault_env_new();
	assert_int_equal(hdb_env_write_atomic(env, dir, "f", "keep", 4), 0);
	assert_int_equal(env->unlink(env, p), 0);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(fault_env_simulate_crash(env), 0);
	expect_content(p, "keep");
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
}

static void test_fault_env_crash_after_fails_later_mutations(void **state)
{
	char dir[64], p[128], q[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(p, sizeof(p), "%s/f", dir);
	snprintf(q, sizeof(q), "%s/g", dir);
	hdb_env *env = fault_env_new();
	fault_env_set_crash_after(env, 2);
	int fd, fd2;
	assert_int_equal(env->wopen(env, p, HDB_WOPEN_TRUNC, &fd), 0);
	write_str(env, fd, "one");
	assert_int_equal(env->sync(env, fd), 0);
	assert_false(fault_env_crashed(env));
	assert_int_equal(env->sync_dir(env, dir), 0);
	assert_true(fault_env_crashed(env));
	assert_int_equal(env->write(env, fd, "two", 3), -EIO);
	assert_int_equal(env->sync(env, fd), -EIO);
	assert_int_equal(env->sync_dir(env, dir), -EIO);
	assert_int_equal(env->wopen(env, q, HDB_WOPEN_TRUNC, &fd2), -EIO);
	assert_int_equal(env->unlink(env, p), -EIO);
	assert_int_equal(env->close(env, fd), 0);
	assert_int_equal(fault_env_sync_count(env), 2);
	expect_content(p, "one");
	assert_int_equal(access(q, F_OK), -1);
	assert_int_equal(fault_env_simulate_crash(env), 0);
	expect_content(p, "one");
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
}

static void test_fault_env_crash_at_sync_fails_that_sync(void **state)
{
	char dir[64], p[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(p, sizeof(p), "%s/f", dir);
	hdb_env *env = fault_env_new();
	fault_env_set_crash_at_sync(env, 2);
	int fd;
	assert_int_equal(env->wopen(env, p, HDB_WOPEN_TRUNC, &fd), 0);
	write_str(env, fd, "one");
	assert_int_equal(env->sync_dir(env, dir), 0);
	write_str(env, fd, "two");
	assert_false(fault_env_crashed(env));
	assert_int_equal(env->sync(env, fd), -EIO);
	assert_true(fault_env_crashed(env));
	assert_int_equal(env->write(env, fd, "three", 5), -EIO);
	assert_int_equal(env->close(env, fd), 0);
	assert_int_equal(fault_env_sync_count(env), 1);
	expect_content(p, "onetwo");
	assert_int_equal(fault_env_simulate_crash(env), 0);
	expect_content(p, "");
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
}

static void test_fault_env_keep_unsynced_keeps_a_prefix(void **state)
{
	char dir[64], p[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(p, sizeof(p), "%s/f", dir);
	bool saw_partial = false;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		hdb_env *env = fault_env_new();
		fault_env_keep_unsynced(env, seed);
		int fd;
		assert_int_equal(env->wopen(env, p, HDB_WOPEN_TRUNC, &fd), 0);
		write_str(env, fd, "0123");
		assert_int_equal(env->sync(env, fd), 0);
		assert_int_equal(env->sync_dir(env, dir), 0);
		write_str(env, fd, "456789");
		assert_int_equal(env->close(env, fd), 0);
		assert_int_equal(fault_env_simulate_crash(env), 0);
		char buf[32];
		size_t n;
		assert_int_equal(read_whole(p, buf, sizeof(buf), &n), 0);
		assert_true(n >= 4 && n <= 10);
		assert_memory_equal(buf, "0123456789", n);
		saw_partial |= n > 4 && n < 10;
		fault_env_free(env);
	}
	assert_true(saw_partial);
	db_fixture_rm_tmp(dir);
}

static void test_fault_env_fail_writes_returns_error(void **state)
{
	char dir[64], p[128];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(p, sizeof(p), "%s/f", dir);
	hdb_env *env = fault_env_new();
	int fd, fd2;
	assert_int_equal(env->wopen(env, p, HDB_WOPEN_TRUNC, &fd), 0);
	fault_env_fail_writes_with(env, -ENOSPC);
	assert_int_equal(env->write(env, fd, "x", 1), -ENOSPC);
	assert_int_equal(env->wopen(env, p, HDB_WOPEN_APPEND, &fd2), -ENOSPC);
	fault_env_fail_writes_with(env, 0);
	assert_int_equal(env->write(env, fd, "y", 1), 0);
	assert_int_equal(env->close(env, fd), 0);
	expect_content(p, "y");
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
}

/* --- the workload -------------------------------------------------------- */

enum op_kind { OP_PUT, OP_DEL, OP_BATCH, OP_FLUSH, OP_COMPACT, OP_SYNC, OP_REOPEN };

struct sub {
	uint32_t key;
	bool del;
};

struct op {
	enum op_kind kind;
	bool sync;
	uint32_t first, n;  /* subs[first .. first + n) for PUT, DEL, BATCH */
	int32_t lo, hi;     /* COMPACT range as key indices, -1 = open */
};

/* One version of a key: after op `pos` (1-based count of ops applied) the
 * key holds sub `sub`'s value, or nothing when del. */
struct version {
	uint32_t pos;
	uint32_t sub;
	bool del;
};

struct script {
	struct op ops[SCRIPT_OPS];
	size_t nops;
	struct sub *subs;
	size_t nsubs, capsubs;
	struct version *hist[NKEYS]; /* per key, by pos */
	size_t nhist[NKEYS], caphist[NKEYS];
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static size_t key_bytes(char *buf, size_t cap, uint32_t key)
{
	return (size_t)snprintf(buf, cap, "key%05u", key);
}

/* The value sub s writes: unique per sub, 40 .. 439 bytes. */
static size_t value_bytes(uint8_t *buf, size_t cap, uint32_t s)
{
	uint64_t h = (uint64_t)s * UINT64_C(0x9e3779b97f4a7c15) + 7;
	size_t n = 40 + (size_t)((h >> 20) % 400);
	assert_true(n <= cap);
	int w = snprintf((char *)buf, cap, "sub%08u:", s);
	for (size_t i = (size_t)w; i < n; i++) {
		h = h * UINT64_C(6364136223846793005) + 1;
		buf[i] = (uint8_t)('a' + (h >> 59));
	}
	return n;
}

static void add_sub(struct script *sc, uint32_t key, bool del)
{
	if (sc->nsubs == sc->capsubs) {
		sc->capsubs = sc->capsubs ? sc->capsubs * 2 : 1024;
		sc->subs = realloc(sc->subs, sc->capsubs * sizeof(*sc->subs));
		assert_non_null(sc->subs);
	}
	sc->subs[sc->nsubs++] = (struct sub){ key, del };
}

static void add_version(struct script *sc, uint32_t key, uint32_t pos, uint32_t sub, bool del)
{
	size_t n = sc->nhist[key];
	if (n && sc->hist[key][n - 1].pos == pos) {
		/* a batch writing a key twice: the later op wins */
		sc->hist[key][n - 1] = (struct version){ pos, sub, del };
		return;
	}
	if (n == sc->caphist[key]) {
		sc->caphist[key] = n ? n * 2 : 8;
		sc->hist[key] = realloc(sc->hist[key], sc->caphist[key] * sizeof(**sc->hist));
		assert_non_null(sc->hist[key]);
	}
	sc->hist[key][sc->nhist[key]++] = (struct version){ pos, sub, del };
}

static void add_writes(struct script *sc, struct op *o, unsigned n, int del_pct)
{
	o->first = (uint32_t)sc->nsubs;
	o->n = n;
	uint32_t key = below(NKEYS);
	for (unsigned j = 0; j < n; j++) {
		/* batches touch neighbouring keys, sometimes the same one */
		if (j)
			key = below(4) ? (key + below(3)) % NKEYS : below(NKEYS);
		bool del = (int)below(100) < del_pct;
		add_version(sc, key, (uint32_t)sc->nops + 1, (uint32_t)sc->nsubs, del);
		add_sub(sc, key, del);
	}
}

static struct script *make_script(uint64_t seed)
{
	struct script *sc = calloc(1, sizeof(*sc));
	assert_non_null(sc);
	rng_state = seed;
	for (sc->nops = 0; sc->nops < SCRIPT_OPS; sc->nops++) {
		struct op *o = &sc->ops[sc->nops];
		unsigned r = below(1000);
		memset(o, 0, sizeof(*o));
		if (sc->nops == SCRIPT_OPS / 3 || sc->nops == 2 * SCRIPT_OPS / 3) {
			o->kind = OP_REOPEN;
		} else if (r < 600) {
			o->kind = OP_PUT;
			o->sync = below(100) < 4;
			add_writes(sc, o, 1, 0);
		} else if (r < 750) {
			o->kind = OP_DEL;
			o->sync = below(100) < 4;
			add_writes(sc, o, 1, 100);
		} else if (r < 975) {
			o->kind = OP_BATCH;
			o->sync = below(100) < 8;
			add_writes(sc, o, 1 + below(20), 20);
		} else if (r < 987) {
			o->kind = OP_FLUSH;
		} else if (r < 993) {
			o->kind = OP_COMPACT;
			o->lo = below(3) ? (int32_t)below(NKEYS) : -1;
			o->hi = below(3) ? o->lo + (int32_t)below(NKEYS / 2) : -1;
		} else {
			o->kind = OP_SYNC;
		}
	}
	return sc;
}

static void free_script(struct script *sc)
{
	for (size_t k = 0; k < NKEYS; k++)
		free(sc->hist[k]);
	free(sc->subs);
	free(sc);
}

static void workload_options(hdb_options *o, hdb_env *env)
{
	hdb_options_init(o);
	o->memtable_size = 64 << 10;
	o->target_file_size = 64 << 10;
	o->level1_max_bytes = 256 << 10;
	o->block_size = 4 << 10;
	o->sync = HDB_SYNC_NEVER; /* only the script decides what is synced */
	o->env = env;
}

struct outcome {
	size_t durable;   /* ops acknowledged durable: the state has at least these */
	size_t attempted; /* ops that may have been applied */
	int first_error;  /* what stopped the script, or 0 */
	size_t stopped_at;
};

static int run_op(hdb_db **db, const char *path, const hdb_options *opt, const struct script *sc,
                  const struct op *o, hdb_batch *b)
{
	char k[32];
	uint8_t v[512];
	int rc = 0;
	switch (o->kind) {
	case OP_PUT:
	case OP_DEL:
	case OP_BATCH:
		hdb_batch_clear(b);
		for (uint32_t j = 0; j < o->n && !rc; j++) {
			const struct sub *s = &sc->subs[o->first + j];
			size_t kl = key_bytes(k, sizeof(k), s->key);
			rc = s->del ? hdb_batch_delete(b, k, kl)
			            : hdb_batch_put(b, k, kl, v, value_bytes(v, sizeof(v), o->first + j));
		}
		if (!rc && o->kind == OP_PUT) {
			size_t kl = key_bytes(k, sizeof(k), sc->subs[o->first].key);
			return hdb_put(*db, k, kl, v, value_bytes(v, sizeof(v), o->first), o->sync);
		}
		if (!rc && o->kind == OP_DEL) {
			size_t kl = key_bytes(k, sizeof(k), sc->subs[o->first].key);
			return hdb_delete(*db, k, kl, o->sync);
		}
		return rc ? rc : hdb_write(*db, b, o->sync);
	case OP_FLUSH:
		return hdb_flush(*db);
	case OP_COMPACT: {
		char lo[32], hi[32];
		size_t ll = o->lo >= 0 ? key_bytes(lo, sizeof(lo), (uint32_t)o->lo) : 0;
		size_t hl = o->hi >= 0 ? key_bytes(hi, sizeof(hi), (uint32_t)o->hi) : 0;
		return hdb_compact_range(*db, o->lo >= 0 ? lo : NULL, ll, o->hi >= 0 ? hi : NULL, hl);
	}
	case OP_SYNC:
		return hdb_sync(*db);
	case OP_REOPEN:
		rc = hdb_close(*db);
		*db = NULL;
		return rc ? rc : hdb_open(path, opt, db);
	}
	return -EINVAL;
}

/* Runs the script until it ends or an operation fails, and closes. */
static void run_workload(const char *path, hdb_env *env, const struct script *sc, struct outcome *out)
{
	hdb_options opt;
	workload_options(&opt, env);
	memset(out, 0, sizeof(*out));
	hdb_batch *b = hdb_batch_new();
	assert_non_null(b);
	hdb_db *db = NULL;
	int rc = hdb_open(path, &opt, &db);
	size_t i = 0;
	for (; i < sc->nops && !rc; i++) {
		const struct op *o = &sc->ops[i];
		rc = run_op(&db, path, &opt, sc, o, b);
		if (rc)
			break;
		if (o->sync || o->kind >= OP_FLUSH)
			out->durable = i + 1;
	}
	out->first_error = rc;
	out->stopped_at = i;
	out->attempted = rc ? i + 1 : sc->nops;
	if (db) {
		int crc = hdb_close(db);
		if (!rc && !crc)
			out->durable = sc->nops;
	}
	hdb_batch_free(b);
}

/* --- checking a recovered database --------------------------------------- */

struct found {
	bool present;
	uint32_t sub; /* which write's value it holds */
};

/* Identifies the value v of key among the key's writes; false if it was
 * never written for that key. */
static bool identify(const struct script *sc, uint32_t key, const void *v, size_t vl, uint32_t *sub)
{
	uint8_t want[512];
	for (size_t j = 0; j < sc->nhist[key]; j++) {
		const struct version *ver = &sc->hist[key][j];
		if (ver->del)
			continue;
		size_t n = value_bytes(want, sizeof(want), ver->sub);
		if (n == vl && !memcmp(want, v, n)) {
			*sub = ver->sub;
			return true;
		}
	}
	return false;
}

/* Reads the whole database into found[]; problems go to msg. */
static void read_state(hdb_db *db, const struct script *sc, struct found *found, char *msg, size_t cap)
{
	hdb_iter *it;
	int rc = hdb_iter_new(db, NULL, &it);
	if (rc) {
		db_fixture_appendf(msg, cap, "iter_new: %s; ", hdb_strerror(rc));
		return;
	}
	for (hdb_iter_seek_first(it); hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = hdb_iter_key(it, &kl);
		const void *v = hdb_iter_value(it, &vl);
		unsigned key;
		char kbuf[32], extra;
		snprintf(kbuf, sizeof(kbuf), "%.*s", (int)(kl < 31 ? kl : 31), k);
		if (sscanf(kbuf, "key%u%c", &key, &extra) != 1 || key >= NKEYS) {
			db_fixture_appendf(msg, cap, "unknown key \"%s\"; ", kbuf);
			continue;
		}
		if (!identify(sc, key, v, vl, &found[key].sub)) {
			db_fixture_appendf(msg, cap, "key%05u holds a value never written for it (%zu bytes); ", key, vl);
			continue;
		}
		found[key].present = true;
	}
	if ((rc = hdb_iter_status(it)))
		db_fixture_appendf(msg, cap, "scan stopped: %s %s; ", hdb_strerror(rc), hdb_errdetail());
	hdb_iter_free(it);

	/* point reads must agree with the scan */
	unsigned disagree = 0;
	for (uint32_t key = 0; key < NKEYS; key++) {
		char k[32];
		size_t kl = key_bytes(k, sizeof(k), key);
		void *v = NULL;
		size_t vl;
		rc = hdb_get(db, NULL, k, kl, &v, &vl);
		uint32_t sub = 0;
		bool agree;
		if (rc == HDB_ENOTFOUND)
			agree = !found[key].present;
		else
			agree = !rc && found[key].present && identify(sc, key, v, vl, &sub) && sub == found[key].sub;
		if (!agree && disagree++ < 3)
			db_fixture_appendf(msg, cap, "get key%05u (%s) disagrees with the scan; ", key, hdb_strerror(rc));
		free(v);
	}
	if (disagree > 3)
		db_fixture_appendf(msg, cap, "%u more gets disagree; ", disagree - 3);
}

/* The state after `pos` ops for key: its sub, or -1 when absent. */
static int64_t state_at(const struct script *sc, uint32_t key, size_t pos)
{
	int64_t s = -1;
	for (size_t j = 0; j < sc->nhist[key] && sc->hist[key][j].pos <= pos; j++)
		s = sc->hist[key][j].del ? -1 : (int64_t)sc->hist[key][j].sub;
	return s;
}

/*
 * Is found[] the state after some prefix P with durable <= P <= attempted?
 * Each key allows a union of intervals of P; count, for every P, the keys
 * that allow it.
 */
static void check_prefix(const struct script *sc, const struct found *found, const struct outcome *out,
                         char *msg, size_t cap)
{
	size_t lo = out->durable, hi = out->attempted, span = hi - lo + 1;
	uint32_t *cnt = calloc(span + 1, sizeof(*cnt));
	assert_non_null(cnt);
	size_t keys = 0;
	for (uint32_t key = 0; key < NKEYS; key++) {
		size_t n = sc->nhist[key];
		keys++;
		/* interval j: [start_j, end_j) over which the key holds version j (j = -1: before any) */
		for (size_t j = 0; j <= n; j++) {
			size_t start = j ? sc->hist[key][j - 1].pos : 0;
			size_t end = j < n ? sc->hist[key][j].pos : SIZE_MAX;
			bool absent = !j || sc->hist[key][j - 1].del;
			bool match = found[key].present ? !absent && sc->hist[key][j - 1].sub == found[key].sub : absent;
			if (!match)
				continue;
			size_t a = start > lo ? start : lo, b = end - 1 < hi ? end - 1 : hi;
			if (end == 0 || a > b)
				continue;
			cnt[a - lo]++;
			cnt[b - lo + 1]--;
		}
	}
	uint32_t run = 0;
	for (size_t p = 0; p < span; p++) {
		run += cnt[p];
		if (run == keys) {
			free(cnt);
			return;
		}
	}
	free(cnt);
	db_fixture_appendf(msg, cap, "the state is no prefix of the script in [%zu, %zu]; ", lo, hi);
	/* name the keys that disagree with the acknowledged state */
	unsigned shown = 0;
	for (uint32_t key = 0; key < NKEYS && shown < 5; key++) {
		int64_t want = state_at(sc, key, lo);
		int64_t got = found[key].present ? (int64_t)found[key].sub : -1;
		bool later = false;
		for (size_t j = 0; j < sc->nhist[key]; j++) {
			const struct version *v = &sc->hist[key][j];
			if (v->pos > lo && v->pos <= hi && (v->del ? -1 : (int64_t)v->sub) == got)
				later = true;
		}
		if (want != got && !later) {
			char g[32] = "absent", w[32] = "absent";
			if (got >= 0)
				snprintf(g, sizeof(g), "sub %" PRId64, got);
			if (want >= 0)
				snprintf(w, sizeof(w), "sub %" PRId64, want);
			db_fixture_appendf(msg, cap, "key%05u: has %s, acknowledged %s; ", key, g, w);
			shown++;
		}
	}
}

struct check_reports {
	unsigned n, wal, other;
	char first_other[256];
};

static void count_report(void *ctx, const char *file, uint64_t off, const char *what)
{
	struct check_reports *r = ctx;
	r->n++;
	size_t fl = file ? strlen(file) : 0;
	if (fl > 4 && !strcmp(file + fl - 4, ".wal")) {
		r->wal++;
	} else if (!r->other++) {
		snprintf(r->first_other, sizeof(r->first_other), "%s offset %" PRIu64 ": %s", file ? file : "?", off,
		         what);
	}
}

struct totals {
	unsigned points, crashed, torn_wal_reports, failures;
	char failure[8][1400];
};

/* One crash point: run, crash, recover, verify.  Failures go to t. */
/* after_sync: power fails right after sync point k, so the next mutating
 * call fails; else during sync point k, so the writes since sync point
 * k - 1 were acknowledged but are not durable. */
static void crash_at(const struct script *sc, int64_t k, bool after_sync, uint64_t seed, struct totals *t)
{
	char dir[64], path[96], msg[1024] = "";
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	assert_non_null(env);
	if (after_sync)
		fault_env_set_crash_after(env, k);
	else
		fault_env_set_crash_at_sync(env, k);
	if ((k + after_sync) % 2)
		fault_env_keep_unsynced(env, seed ^ (uint64_t)k); /* torn writes at every other point */
	struct outcome out;
	run_workload(path, env, sc, &out);
	t->crashed += fault_env_crashed(env);
	assert_int_equal(fault_env_simulate_crash(env), 0);
	fault_env_free(env);

	/* before recovery, only a WAL tail may look damaged */
	struct check_reports before = { 0 };
	int rc = hdb_check(path, count_report, &before);
	t->torn_wal_reports += before.wal;
	if (rc && rc != HDB_ECORRUPT && !(rc == -ENOENT && out.durable == 0))
		db_fixture_appendf(msg, sizeof(msg), "check before reopen: %s; ", hdb_strerror(rc));
	if (before.other)
		db_fixture_appendf(msg, sizeof(msg), "check before reopen: %s; ", before.first_other);

	hdb_options opt;
	workload_options(&opt, NULL);
	hdb_db *db = NULL;
	rc = hdb_open(path, &opt, &db);
	if (rc) {
		db_fixture_appendf(msg, sizeof(msg), "reopen failed: %s %s; ", hdb_strerror(rc), hdb_errdetail());
	} else {
		struct found *found = calloc(NKEYS, sizeof(*found));
		assert_non_null(found);
		read_state(db, sc, found, msg, sizeof(msg));
		check_prefix(sc, found, &out, msg, sizeof(msg));
		free(found);
		rc = hdb_close(db);
		if (rc)
			db_fixture_appendf(msg, sizeof(msg), "close after recovery: %s; ", hdb_strerror(rc));
		struct check_reports after = { 0 };
		rc = hdb_check(path, count_report, &after);
		if (rc)
			db_fixture_appendf(msg, sizeof(msg), "check after recovery: %s (%u problems; %s); ", hdb_strerror(rc), after.n,
			                   after.other ? after.first_other : "WAL");
	}
	t->points++;
	if (msg[0]) {
		if (t->failures < 8)
			snprintf(t->failure[t->failures], sizeof(t->failure[0]),
			         "crash %s sync %" PRId64 " (script stopped at op %zu by %s; durable %zu, attempted %zu): %s",
			         after_sync ? "after" : "during", k, out.stopped_at, hdb_strerror(out.first_error), out.durable,
			         out.attempted, msg);
		t->failures++;
	}
	db_fixture_rm_tmp(dir);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static void test_crash_every_sync_point_recovers_acknowledged_writes(void **state)
{
	uint64_t seed = env_u64("HDB_SEED", DEFAULT_SEED);
	uint64_t points = env_u64("HDB_CRASH_POINTS", DEFAULT_POINTS);
	struct script *sc = make_script(seed);

	/* a run without a crash counts the sync points and must itself pass */
	char dir[64], path[96];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	struct outcome out;
	run_workload(path, env, sc, &out);
	uint64_t total = fault_env_sync_count(env);
	fault_env_free(env);
	db_fixture_rm_tmp(dir);
	if (out.first_error)
		fail_msg("the workload fails without a crash at op %zu: %s %s", out.stopped_at,
		         hdb_strerror(out.first_error), hdb_errdetail());
	print_message("crash test: seed %" PRIu64 ", %zu ops, %" PRIu64 " sync points, trying %" PRIu64 "\n", seed,
	              sc->nops, total, points < total ? points : total);
	assert_true(total >= 50);

	struct totals t = { 0 };
	crash_at(sc, 0, true, seed, &t);
	uint64_t n = points < total ? points : total;
	int64_t prev = 0;
	for (uint64_t j = 0; j < n; j++) {
		int64_t k = n > 1 ? 1 + (int64_t)(j * (total - 1) / (n - 1)) : 1;
		if (k == prev)
			continue;
		crash_at(sc, k, true, seed, &t);
		crash_at(sc, k, false, seed, &t);
		prev = k;
	}
	print_message("crash test: %u runs, %u crashed mid-workload, %u torn-WAL reports from hdb_check before "
	              "recovery, %u failed\n",
	              t.points, t.crashed, t.torn_wal_reports, t.failures);
	for (unsigned i = 0; i < t.failures && i < 8; i++)
		print_message("  %s\n\n", t.failure[i]);
	free_script(sc);
	assert_int_equal(t.failures, 0);
}

/* --- single crash scenarios ------------------------------------------------ */

static void put_n(hdb_db *db, unsigned from, unsigned to, bool sync_last);
static void expect_n(hdb_db *db, unsigned from, unsigned to);

/* Power fails right after the call that acknowledged durability returns. */
static void crash_now_and_reopen(hdb_env *env, hdb_db *db, const char *path, hdb_db **out)
{
	fault_env_set_crash_after(env, (int64_t)fault_env_sync_count(env));
	hdb_close(db);
	assert_int_equal(fault_env_simulate_crash(env), 0);
	hdb_options opt;
	workload_options(&opt, NULL);
	int rc = hdb_open(path, &opt, out);
	if (rc)
		fail_msg("reopen after the crash: %s %s", hdb_strerror(rc), hdb_errdetail());
}

/* A table's directory entry must be durable before a manifest record that
 * names it is: else power loss leaves the manifest pointing at nothing. */
static void test_crash_flushed_table_survives_power_loss(void **state)
{
	char dir[64], path[96];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	hdb_options opt;
	workload_options(&opt, env);
	hdb_db *db;
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	put_n(db, 0, 50, false);
	assert_int_equal(hdb_flush(db), 0);
	crash_now_and_reopen(env, db, path, &db);
	fault_env_free(env);
	expect_n(db, 0, 50);
	assert_int_equal(hdb_close(db), 0);
	assert_int_equal(hdb_check(path, NULL, NULL), 0);
	db_fixture_rm_tmp(dir);
}

static void test_crash_compacted_tables_survive_power_loss(void **state)
{
	char dir[64], path[96];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	hdb_options opt;
	workload_options(&opt, env);
	hdb_db *db;
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	put_n(db, 0, 50, false);
	assert_int_equal(hdb_flush(db), 0);
	put_n(db, 25, 100, false);
	assert_int_equal(hdb_compact_range(db, NULL, 0, NULL, 0), 0);
	crash_now_and_reopen(env, db, path, &db);
	fault_env_free(env);
	expect_n(db, 0, 100);
	assert_int_equal(hdb_close(db), 0);
	assert_int_equal(hdb_check(path, NULL, NULL), 0);
	db_fixture_rm_tmp(dir);
}

/* Power lost while hdb_open creates a database (nothing acknowledged yet)
 * must leave a directory that the next hdb_open accepts. */
static void test_crash_during_create_leaves_openable_directory(void **state)
{
	for (int64_t k = 0; k <= 6; k++) {
		char dir[64], path[96];
		db_fixture_tmp(dir, sizeof(dir), NULL);
		snprintf(path, sizeof(path), "%s/db", dir);
		hdb_env *env = fault_env_new();
		hdb_options opt;
		workload_options(&opt, env);
		fault_env_set_crash_after(env, k);
		hdb_db *db = NULL;
		if (!hdb_open(path, &opt, &db))
			hdb_close(db);
		assert_int_equal(fault_env_simulate_crash(env), 0);
		fault_env_free(env);
		workload_options(&opt, NULL);
		int rc = hdb_open(path, &opt, &db);
		if (rc) {
			db_fixture_rm_tmp(dir);
			fail_msg("power lost after sync point %" PRId64 " of the creating open: reopen fails: %s %s", k,
			         hdb_strerror(rc), hdb_errdetail());
		}
		assert_int_equal(hdb_put(db, "k", 1, "v", 1, true), 0);
		assert_int_equal(hdb_close(db), 0);
		assert_int_equal(hdb_check(path, NULL, NULL), 0);
		db_fixture_rm_tmp(dir);
	}
}

static void test_crash_synced_write_survives_power_loss(void **state)
{
	char dir[64], path[96];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	hdb_options opt;
	workload_options(&opt, env);
	hdb_db *db;
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	put_n(db, 0, 50, true);
	crash_now_and_reopen(env, db, path, &db);
	fault_env_free(env);
	expect_n(db, 0, 50);
	assert_int_equal(hdb_close(db), 0);
	assert_int_equal(hdb_check(path, NULL, NULL), 0);
	db_fixture_rm_tmp(dir);
}

/* --- a full disk ---------------------------------------------------------- */

static void put_n(hdb_db *db, unsigned from, unsigned to, bool sync_last)
{
	char k[32];
	uint8_t v[512];
	for (unsigned i = from; i < to; i++) {
		size_t kl = key_bytes(k, sizeof(k), i);
		assert_int_equal(hdb_put(db, k, kl, v, value_bytes(v, sizeof(v), i), sync_last && i + 1 == to), 0);
	}
}

static void expect_n(hdb_db *db, unsigned from, unsigned to)
{
	char k[32];
	uint8_t want[512];
	for (unsigned i = from; i < to; i++) {
		size_t kl = key_bytes(k, sizeof(k), i), wl = value_bytes(want, sizeof(want), i);
		void *v;
		size_t vl;
		assert_int_equal(hdb_get(db, NULL, k, kl, &v, &vl), 0);
		assert_int_equal(vl, wl);
		assert_memory_equal(v, want, vl);
		free(v);
	}
}

static void test_crash_disk_full_fails_write_and_keeps_reads(void **state)
{
	char dir[64], path[96];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	hdb_options opt;
	workload_options(&opt, env);
	hdb_db *db;
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	put_n(db, 0, 100, true);
	fault_env_fail_writes_with(env, -ENOSPC);
	char k[32];
	uint8_t v[512];
	size_t kl = key_bytes(k, sizeof(k), 100);
	assert_int_equal(hdb_put(db, k, kl, v, value_bytes(v, sizeof(v), 100), false), -ENOSPC);
	expect_n(db, 0, 100);
	void *got;
	size_t gl;
	assert_int_equal(hdb_get(db, NULL, k, kl, &got, &gl), HDB_ENOTFOUND);
	fault_env_fail_writes_with(env, 0);
	hdb_close(db);
	fault_env_free(env);

	workload_options(&opt, NULL);
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	expect_n(db, 0, 100);
	assert_int_equal(hdb_put(db, k, kl, v, value_bytes(v, sizeof(v), 100), false), 0);
	assert_int_equal(hdb_close(db), 0);
	assert_int_equal(hdb_check(path, NULL, NULL), 0);
	db_fixture_rm_tmp(dir);
}

static void test_crash_disk_full_during_flush_keeps_acknowledged(void **state)
{
	char dir[64], path[96];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	hdb_options opt;
	workload_options(&opt, env);
	hdb_db *db;
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	put_n(db, 0, 100, true);
	fault_env_fail_writes_with(env, -ENOSPC);
	int rc = hdb_flush(db);
	assert_int_equal(rc, -ENOSPC);
	expect_n(db, 0, 100);
	fault_env_fail_writes_with(env, 0);
	hdb_close(db);
	fault_env_free(env);

	workload_options(&opt, NULL);
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	expect_n(db, 0, 100);
	assert_int_equal(hdb_close(db), 0);
	assert_int_equal(hdb_check(path, NULL, NULL), 0);
	db_fixture_rm_tmp(dir);
}

/* A full disk is not the end: once space is back, writes and flushes
 * succeed again in the same session, and nothing acknowledged is lost. */
static void test_crash_disk_full_writes_resume_when_space_returns(void **state)
{
	char dir[64], path[96];
	db_fixture_tmp(dir, sizeof(dir), NULL);
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	hdb_options opt;
	workload_options(&opt, env);
	hdb_db *db;
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	put_n(db, 0, 100, true);

	fault_env_fail_writes_with(env, -ENOSPC);
	char k[32];
	uint8_t v[512];
	size_t kl = key_bytes(k, sizeof(k), 100);
	assert_int_equal(hdb_put(db, k, kl, v, value_bytes(v, sizeof(v), 100), false), -ENOSPC);
	assert_int_equal(hdb_flush(db), -ENOSPC);
	expect_n(db, 0, 100);

	fault_env_fail_writes_with(env, 0);
	assert_int_equal(hdb_put(db, k, kl, v, value_bytes(v, sizeof(v), 100), true), 0);
	assert_int_equal(hdb_flush(db), 0);
	expect_n(db, 0, 101);
	assert_int_equal(hdb_close(db), 0);
	fault_env_free(env);
	assert_int_equal(hdb_check(path, NULL, NULL), 0);

	workload_options(&opt, NULL);
	assert_int_equal(hdb_open(path, &opt, &db), 0);
	expect_n(db, 0, 101);
	assert_int_equal(hdb_close(db), 0);
	db_fixture_rm_tmp(dir);
}

#define T(fn) cmocka_unit_test_teardown(fn, db_fixture_rm_tmp_dirs)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_fault_env_crash_drops_unsynced_bytes),
		T(test_fault_env_crash_removes_file_whose_creation_was_not_synced),
		T(test_fault_env_crash_undoes_unsynced_rename_over_file),
		T(test_fault_env_synced_rename_survives_crash),
		T(test_fault_env_crash_undoes_unsynced_unlink),
		T(test_fault_env_crash_after_fails_later_mutations),
		T(test_fault_env_crash_at_sync_fails_that_sync),
		T(test_fault_env_keep_unsynced_keeps_a_prefix),
		T(test_fault_env_fail_writes_returns_error),
		T(test_crash_during_create_leaves_openable_directory),
		T(test_crash_synced_write_survives_power_loss),
		T(test_crash_flushed_table_survives_power_loss),
		T(test_crash_compacted_tables_survive_power_loss),
		T(test_crash_disk_full_fails_write_and_keeps_reads),
		T(test_crash_disk_full_during_flush_keeps_acknowledged),
		T(test_crash_disk_full_writes_resume_when_space_returns),
		T(test_crash_every_sync_point_recovers_acknowledged_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
