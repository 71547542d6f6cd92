/*
 * hdb_bench.c — hdb-bench: hybriddb against LevelDB, RocksDB and SQLite on
 * identical keys and values, in the manner of LevelDB's db_bench.
 *
 * Every engine runs the chosen workloads in order, alone, in a child
 * process of its own, so that the peak RSS wait4() reports is that engine's
 * and nothing one engine leaves in memory helps or hurts the next.  The
 * children write their timings into a shared anonymous mapping; the parent
 * prints one Markdown table (settings, throughput per engine, the ratios
 * hybriddb / other, bytes on disk after a full compaction, peak RSS) fit to
 * paste into BENCHMARKS.md.  Progress goes to stderr.
 *
 * Keys are 16 decimal digits, so numeric and byte order agree; values are
 * 100 bytes, 50 pseudo-random then 50 repeating the first 10, which
 * compresses to about half.  Both derive from a fixed seed and the entry's
 * number only, never from the engine.  Random orders are permutations of
 * 0..N-1 computed on the fly (a Feistel network with cycle walking), so a
 * random fill writes every key exactly once and costs no memory.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define KEY_SIZE      16
#define VALUE_SIZE    100
#define RANDOM_PART   50  /* leading value bytes that are random */
#define REPEAT_UNIT   10  /* the rest repeats this many leading bytes */
#define BENCH_SEED    UINT64_C(0x6864622d62656e63) /* "hdb-benc" */
#define SEEK_NEXTS    100 /* nexts after each seekrandom seek */
#define MAX_BENCH     32  /* workloads in one --benchmarks list */
#define MAX_NUM       UINT64_C(1000000000000) /* far below the 16-digit key space */
#define PERM_ROUNDS   4

#define DEFAULT_NUM        1000000
#define DEFAULT_BENCHMARKS "fillseq,fillrandom,overwrite,readrandom,readseq,seekrandom,compact,fillsync"

_Static_assert(REPEAT_UNIT <= RANDOM_PART && RANDOM_PART <= VALUE_SIZE,
	       "the repeated unit comes from the random part");

static const struct bench_engine *const all_engines[] = {
#ifdef BENCH_HAVE_HYBRIDDB
	&bench_hybriddb,
#endif
#ifdef BENCH_HAVE_LEVELDB
	&bench_leveldb,
#endif
#ifdef BENCH_HAVE_ROCKSDB
	&bench_rocksdb,
#endif
#ifdef BENCH_HAVE_SQLITE
	&bench_sqlite,
#endif
	NULL,
};
#define MAX_ENGINES (sizeof(all_engines) / sizeof(all_engines[0]))

/* What one workload measured in one engine. */
struct result {
	bool done;           /* ran to completion */
	double secs;         /* wall time of the timed part */
	uint64_t ops;        /* operations timed (seeks for seekrandom) */
	uint64_t found;      /* gets or seeks that landed on an entry */
	uint64_t bytes;      /* key + value bytes written or read */
	uint64_t disk_bytes; /* compact: file bytes in the db directory after */
};

/* Written by the engine's child, read by the parent after wait4(). */
struct engine_result {
	struct result r[MAX_BENCH];
	bool exited_ok;      /* parent: the child exited with status 0 */
	long maxrss_kib;     /* parent: ru_maxrss of the child */
};

/* The child's state while it runs one engine. */
struct run {
	const struct bench_engine *e;
	char dir[PATH_MAX];   /* the engine's database directory */
	struct bench_db *db;  /* NULL while closed */
	uint64_t num;
};

/* How a workload's results become table rows. */
enum report_kind {
	REPORT_RATE,      /* operations per second */
	REPORT_RATE_MIBS, /* operations and MiB per second */
	REPORT_COMPACT,   /* seconds taken, then bytes on disk */
};

struct workload {
	const char *name;
	int (*run)(struct run *r, struct result *res);
	enum report_kind report;
	const char *label; /* first column of its table row */
	const char *what;  /* for the report header */
};

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void make_key(uint64_t i, char *key)
{
	for (int p = KEY_SIZE - 1; p >= 0; p--) {
		key[p] = (char)('0' + i % 10);
		i /= 10;
	}
}

/* `pass` tells apart the values of successive writes of the same key. */
static void make_value(uint64_t i, unsigned pass, char *val)
{
	uint64_t state = BENCH_SEED ^ (i * UINT64_C(0xd1342543de82ef95)) ^ ((uint64_t)pass << 56);
	uint64_t r = 0;

	for (int p = 0; p < RANDOM_PART; p++) {
		if (p % 8 == 0)
			r = splitmix64(&state);
		val[p] = (char)(r & 0xff);
		r >>= 8;
	}
	for (int p = RANDOM_PART; p < VALUE_SIZE; p++)
		val[p] = val[(p - RANDOM_PART) % REPEAT_UNIT];
}

/*
 * A pseudo-random permutation of [0, n): a balanced Feistel network is a
 * bijection on [0, 4^half) >= n, and walking its cycle until the result
 * falls below n restricts it to a bijection on [0, n).
 */
struct perm {
	uint64_t n;
	unsigned half;           /* bits per Feistel half */
	uint64_t mask;           /* (1 << half) - 1 */
	uint64_t key[PERM_ROUNDS];
};

static void perm_init(struct perm *p, uint64_t n, uint64_t seed)
{
	p->n = n;
	p->half = 1;
	while ((UINT64_C(1) << (2 * p->half)) < n)
		p->half++;
	p->mask = (UINT64_C(1) << p->half) - 1;
	for (int i = 0; i < PERM_ROUNDS; i++)
		p->key[i] = splitmix64(&seed);
}

static uint64_t feistel(const struct perm *p, uint64_t x)
{
	uint64_t l = x >> p->half, r = x & p->mask;

	for (int i = 0; i < PERM_ROUNDS; i++) {
		uint64_t s = r ^ p->key[i];
		uint64_t t = l ^ (splitmix64(&s) & p->mask);

		l = r;
		r = t;
	}
	return (l << p->half) | r;
}

static uint64_t perm_at(const struct perm *p, uint64_t i)
{
	uint64_t x = i;

	do
		x = feistel(p, x);
	while (x >= p->n);
	return x;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bench_error(const char *engine, const char *op, const char *msg)
{
	fprintf(stderr, "hdb-bench: %s: %s: %s\n", engine, op, msg);
	return -1;
}

/* A failure of the driver itself. */
static int fail(const char *what, const char *msg)
{
	fprintf(stderr, "hdb-bench: %s: %s\n", what, msg);
	return -1;
}

/* nftw() passes no context; the walks below run one at a time. */
static uint64_t walk_bytes;

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (remove(path) && errno != ENOENT)
		fprintf(stderr, "hdb-bench: remove %s: %s\n", path, strerror(errno));
	return 0;
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int du_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F && S_ISREG(st->st_mode))
		walk_bytes += (uint64_t)st->st_size;
	return 0;
}

/* Apparent size of every file under path: what the engine keeps. */
static int dir_bytes(const char *path, uint64_t *out)
{
	walk_bytes = 0;
	if (nftw(path, du_entry, 16, FTW_PHYS))
		return fail(path, strerror(errno));
	*out = walk_bytes;
	return 0;
}

static int db_close(struct run *r)
{
	int err = 0;

	if (r->db)
		err = r->e->close(r->db);
	r->db = NULL;
	return err;
}

static int db_open(struct run *r)
{
	if (r->db)
		return 0;
	if (mkdir(r->dir, 0700) && errno != EEXIST)
		return bench_error(r->e->name, r->dir, strerror(errno));
	return r->e->open(r->dir, &r->db);
}

static int db_fresh(struct run *r)
{
	if (db_close(r))
		return -1;
	rm_tree(r->dir);
	return db_open(r);
}

/* Write n entries: key i, or the i-th of `order` when given. */
static int fill(struct run *r, struct result *res, uint64_t n, const struct perm *order,
		unsigned pass, bool sync)
{
	char key[KEY_SIZE], val[VALUE_SIZE];
	double t0 = now();

	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = order ? perm_at(order, i) : i;

		make_key(k, key);
		make_value(k, pass, val);
		if (r->e->put(r->db, key, KEY_SIZE, val, VALUE_SIZE, sync))
			return -1;
	}
	if (r->e->finish && r->e->finish(r->db))
		return -1;
	res->secs = now() - t0;
	res->ops = n;
	res->bytes = n * (KEY_SIZE + VALUE_SIZE);
	return 0;
}

static int w_fillseq(struct run *r, struct result *res)
{
	if (db_fresh(r))
		return -1;
	return fill(r, res, r->num, NULL, 0, false);
}

static int w_fillrandom(struct run *r, struct result *res)
{
	struct perm order;

	if (db_fresh(r))
		return -1;
	perm_init(&order, r->num, BENCH_SEED + 1);
	return fill(r, res, r->num, &order, 1, false);
}

static int w_overwrite(struct run *r, struct result *res)
{
	struct perm order;

	if (db_open(r))
		return -1;
	perm_init(&order, r->num, BENCH_SEED + 2);
	return fill(r, res, r->num, &order, 2, false);
}

static int w_fillsync(struct run *r, struct result *res)
{
	uint64_t n = r->num / 100 ? r->num / 100 : 1;
	struct perm order;

	if (db_fresh(r))
		return -1;
	perm_init(&order, r->num, BENCH_SEED + 3);
	return fill(r, res, n, &order, 3, true);
}

static int w_readrandom(struct run *r, struct result *res)
{
	uint64_t state = BENCH_SEED + 4;
	char key[KEY_SIZE];
	size_t vlen;
	double t0;

	if (db_open(r))
		return -1;
	t0 = now();
	for (uint64_t i = 0; i < r->num; i++) {
		int found;

		make_key(splitmix64(&state) % r->num, key);
		found = r->e->get(r->db, key, KEY_SIZE, &vlen);
		if (found < 0)
			return -1;
		if (found) {
			res->found++;
			res->bytes += KEY_SIZE + vlen;
		}
	}
	res->secs = now() - t0;
	res->ops = r->num;
	return 0;
}

/* Count the entry the iterator is on, if any; false past the end. */
static bool take_entry(struct run *r, struct bench_iter *it, struct result *res)
{
	size_t klen, vlen;

	if (!r->e->iter_entry(it, &klen, &vlen))
		return false;
	res->bytes += klen + vlen;
	return true;
}

static int w_readseq(struct run *r, struct result *res)
{
	struct bench_iter *it;
	double t0;
	int err = -1;

	if (db_open(r) || r->e->iter_new(r->db, &it))
		return -1;
	t0 = now();
	if (r->e->iter_seek(it, NULL, 0))
		goto out;
	while (take_entry(r, it, res)) {
		res->ops++;
		if (r->e->iter_next(it))
			goto out;
	}
	res->secs = now() - t0;
	res->found = res->ops;
	err = 0;
out:
	r->e->iter_free(it);
	return err;
}

static int seek_and_scan(struct run *r, struct bench_iter *it, const char *key,
			 struct result *res)
{
	if (r->e->iter_seek(it, key, KEY_SIZE))
		return -1;
	if (!take_entry(r, it, res))
		return 0;
	res->found++;
	for (int j = 0; j < SEEK_NEXTS; j++) {
		if (r->e->iter_next(it))
			return -1;
		if (!take_entry(r, it, res))
			break;
	}
	return 0;
}

static int w_seekrandom(struct run *r, struct result *res)
{
	uint64_t n = r->num / 10 ? r->num / 10 : 1;
	uint64_t state = BENCH_SEED + 5;
	struct bench_iter *it;
	char key[KEY_SIZE];
	double t0;
	int err = -1;

	if (db_open(r) || r->e->iter_new(r->db, &it))
		return -1;
	t0 = now();
	for (uint64_t i = 0; i < n; i++) {
		make_key(splitmix64(&state) % r->num, key);
		if (seek_and_scan(r, it, key, res))
			goto out;
	}
	res->secs = now() - t0;
	res->ops = n;
	err = 0;
out:
	r->e->iter_free(it);
	return err;
}

static int w_compact(struct run *r, struct result *res)
{
	double t0;

	if (db_open(r))
		return -1;
	t0 = now();
	if (r->e->compact(r->db))
		return -1;
	res->secs = now() - t0;
	res->ops = 1;
	return dir_bytes(r->dir, &res->disk_bytes);
}

static const struct workload workloads[] = {
	{ "fillseq", w_fillseq, REPORT_RATE, "fillseq",
	  "N puts in key order into a fresh database" },
	{ "fillrandom", w_fillrandom, REPORT_RATE, "fillrandom",
	  "N puts in random order (each key once) into a fresh database" },
	{ "overwrite", w_overwrite, REPORT_RATE, "overwrite",
	  "N puts in another random order over the existing keys" },
	{ "readrandom", w_readrandom, REPORT_RATE, "readrandom",
	  "N gets of uniformly random keys (all present after the fills)" },
	{ "readseq", w_readseq, REPORT_RATE_MIBS, "readseq",
	  "one iterator over the whole database" },
	{ "seekrandom", w_seekrandom, REPORT_RATE, "seekrandom (seeks)",
	  "N/10 seeks to random keys, each followed by 100 nexts; seeks/s" },
	{ "compact", w_compact, REPORT_COMPACT, "compact",
	  "compact the whole key range (SQLite: VACUUM + WAL checkpoint), "
	  "then sum the file sizes in the database directory" },
	{ "fillsync", w_fillsync, REPORT_RATE, "fillsync",
	  "N/100 durable puts in random order into a fresh database" },
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

struct config {
	uint64_t num;
	const struct bench_engine *engines[MAX_ENGINES];
	size_t nengines;
	const struct workload *bench[MAX_BENCH];
	size_t nbench;
	const char *base;     /* where the temporary directory goes */
	char tmp[PATH_MAX];   /* the temporary directory, removed at exit */
};

static void print_progress(const struct bench_engine *e, const struct workload *w,
			   const struct result *res)
{
	if (w->report == REPORT_COMPACT) {
		fprintf(stderr, "%-9s %-11s %9.3f s, %.1f MiB on disk\n", e->name, w->name,
			res->secs, (double)res->disk_bytes / 1048576.0);
		return;
	}
	fprintf(stderr, "%-9s %-11s %12" PRIu64 " ops %9.3f s %12.0f ops/s", e->name, w->name,
		res->ops, res->secs, res->secs > 0 ? (double)res->ops / res->secs : 0.0);
	if (w->run == w_readrandom || w->run == w_seekrandom)
		fprintf(stderr, ", %" PRIu64 " found", res->found);
	fprintf(stderr, "\n");
}

static int engine_dir(const struct config *cfg, const struct bench_engine *e, char *buf)
{
	if ((size_t)snprintf(buf, PATH_MAX, "%s/%s", cfg->tmp, e->name) >= PATH_MAX)
		return bench_error(e->name, cfg->tmp, "path too long");
	return 0;
}

/* Runs in the child: every workload in order, stopping at the first error. */
static int run_engine(const struct config *cfg, const struct bench_engine *e,
		      struct engine_result *out)
{
	struct run r = { .e = e, .num = cfg->num };
	int err;

	err = engine_dir(cfg, e, r.dir);
	for (size_t i = 0; i < cfg->nbench && !err; i++) {
		struct result *res = &out->r[i];

		err = cfg->bench[i]->run(&r, res);
		if (err)
			break;
		res->done = true;
		print_progress(e, cfg->bench[i], res);
	}
	if (db_close(&r))
		err = -1;
	return err;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void run_child(const struct config *cfg, const struct bench_engine *e,
		      struct engine_result *out)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	_exit(run_engine(cfg, e, out) ? 1 : 0);
}

static int run_all(const struct config *cfg, struct engine_result *res)
{
	for (size_t i = 0; i < cfg->nengines && !interrupted; i++) {
		struct rusage ru;
		char dir[PATH_MAX];
		int status;
		pid_t pid;

		fflush(NULL);
		pid = fork();
		if (pid < 0)
			return fail("fork", strerror(errno));
		if (pid == 0)
			run_child(cfg, cfg->engines[i], &res[i]);
		while (wait4(pid, &status, 0, &ru) < 0) {
			if (errno != EINTR)
				return fail("wait4", strerror(errno));
			/* The signal may have been meant for us alone. */
			kill(pid, SIGTERM);
		}
		res[i].exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		res[i].maxrss_kib = ru.ru_maxrss;
		if (WIFSIGNALED(status))
			fprintf(stderr, "hdb-bench: %s killed by signal %d\n",
				cfg->engines[i]->name, WTERMSIG(status));
		else if (!res[i].exited_ok)
			fprintf(stderr, "hdb-bench: %s failed\n", cfg->engines[i]->name);
		/* Free the disk, and write back the dirty pages now rather than
		 * during the next engine's run. */
		if (!engine_dir(cfg, cfg->engines[i], dir))
			rm_tree(dir);
		sync();
	}
	return interrupted ? -1 : 0;
}

/* ---- report ---- */

enum unit { UNIT_OPS, UNIT_MIBS, UNIT_SECS, UNIT_MIB };

static const char *const unit_names[] = {
	[UNIT_OPS] = "ops/s", [UNIT_MIBS] = "MiB/s", [UNIT_SECS] = "s", [UNIT_MIB] = "MiB",
};

static void fmt_thousands(double v, char *buf, size_t len)
{
	char digits[32];
	size_t n, o = 0;

	snprintf(digits, sizeof(digits), "%.0f", v);
	n = strlen(digits);
	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

static void fmt_value(enum unit u, double v, char *buf, size_t len)
{
	switch (u) {
	case UNIT_OPS:
		fmt_thousands(v, buf, len);
		break;
	case UNIT_SECS:
		snprintf(buf, len, "%.2f", v);
		break;
	default:
		snprintf(buf, len, "%.1f", v);
		break;
	}
}

/* One table row: a label, a unit and one value per engine (< 0: none). */
static void print_row(const struct config *cfg, const char *label, enum unit u,
		      const double *v, ssize_t hdb)
{
	char cell[48];

	printf("| %s | %s |", label, unit_names[u]);
	for (size_t i = 0; i < cfg->nengines; i++) {
		if (v[i] < 0) {
			printf(" failed |");
			continue;
		}
		fmt_value(u, v[i], cell, sizeof(cell));
		printf(" %s |", cell);
	}
	for (size_t i = 0; hdb >= 0 && i < cfg->nengines; i++) {
		if ((ssize_t)i == hdb)
			continue;
		if (v[hdb] < 0 || v[i] <= 0)
			printf(" - |");
		else
			printf(" %.2f |", v[hdb] / v[i]);
	}
	printf("\n");
}

static double rate(const struct result *res, double amount)
{
	if (!res->done || res->secs <= 0)
		return -1;
	return amount / res->secs;
}

static void print_bench_rows(const struct config *cfg, const struct engine_result *res,
			     size_t b, ssize_t hdb)
{
	const struct workload *w = cfg->bench[b];
	double v[MAX_ENGINES], mib[MAX_ENGINES];

	for (size_t i = 0; i < cfg->nengines; i++) {
		const struct result *r = &res[i].r[b];

		if (w->report == REPORT_COMPACT) {
			v[i] = r->done ? r->secs : -1;
			mib[i] = r->done ? (double)r->disk_bytes / 1048576.0 : -1;
		} else {
			v[i] = rate(r, (double)r->ops);
			mib[i] = rate(r, (double)r->bytes / 1048576.0);
		}
	}
	if (w->report == REPORT_COMPACT) {
		print_row(cfg, "compact (time)", UNIT_SECS, v, hdb);
		print_row(cfg, "disk after compact", UNIT_MIB, mib, hdb);
		return;
	}
	print_row(cfg, w->label, UNIT_OPS, v, hdb);
	if (w->report == REPORT_RATE_MIBS)
		print_row(cfg, w->label, UNIT_MIBS, mib, hdb);
}

/* Reads that missed mean the comparison is not like for like: say so. */
static void print_misses(const struct config *cfg, const struct engine_result *res)
{
	for (size_t b = 0; b < cfg->nbench; b++) {
		const struct workload *w = cfg->bench[b];

		if (w->run != w_readrandom && w->run != w_seekrandom)
			continue;
		for (size_t i = 0; i < cfg->nengines; i++) {
			const struct result *r = &res[i].r[b];

			if (r->done && r->found != r->ops)
				printf("- %s %s: %" PRIu64 " of %" PRIu64 " lookups found an entry\n",
				       cfg->engines[i]->name, w->name, r->found, r->ops);
		}
	}
}

static bool first_use(const struct config *cfg, size_t b)
{
	for (size_t i = 0; i < b; i++) {
		if (cfg->bench[i] == cfg->bench[b])
			return false;
	}
	return true;
}

static void print_header(const struct config *cfg)
{
	char line[1024];

	printf("## hdb-bench: hybriddb vs LevelDB, RocksDB, SQLite\n\n");
	printf("- Entries N = %" PRIu64 ": keys %d bytes (decimal, zero-padded), values %d bytes "
	       "(%d pseudo-random, then the first %d repeated: compressible to about half); "
	       "%.1f MiB raw. Identical keys and values for every engine (fixed seed).\n",
	       cfg->num, KEY_SIZE, VALUE_SIZE, RANDOM_PART, REPEAT_UNIT,
	       (double)cfg->num * (KEY_SIZE + VALUE_SIZE) / 1048576.0);
	printf("- Each engine runs alone in its own process, one client thread, the workloads in "
	       "the order of the table; the OS page cache stays warm.\n");
	printf("- Shared budgets: cache %u MiB, write buffer / MemTable %u MiB (LSMs), "
	       "Bloom filter %d bits/key (LSMs), compression on (LSMs).\n",
	       BENCH_CACHE_BYTES >> 20, BENCH_WRITE_BUFFER_BYTES >> 20, BENCH_BLOOM_BITS);
	for (size_t i = 0; i < cfg->nengines; i++) {
		cfg->engines[i]->describe(line, sizeof(line));
		printf("- %s.\n", line);
	}
	printf("- Workloads:\n");
	for (size_t b = 0; b < cfg->nbench; b++) {
		if (first_use(cfg, b))
			printf("  - %s: %s.\n", cfg->bench[b]->name, cfg->bench[b]->what);
	}
	printf("- Disk: sum of file sizes (apparent) in the engine's directory after compact. "
	       "Peak RSS: ru_maxrss of the engine's process.\n");
	printf("- Ratios are hybriddb / other: above 1 is better for rates, "
	       "below 1 is better for time, disk and RSS.\n\n");
}

static void print_report(const struct config *cfg, const struct engine_result *res)
{
	double rss[MAX_ENGINES];
	ssize_t hdb = -1;

	for (size_t i = 0; i < cfg->nengines; i++) {
		if (strcmp(cfg->engines[i]->name, "hybriddb") == 0)
			hdb = (ssize_t)i;
	}
	print_header(cfg);
	printf("| benchmark | unit |");
	for (size_t i = 0; i < cfg->nengines; i++)
		printf(" %s |", cfg->engines[i]->name);
	for (size_t i = 0; hdb >= 0 && i < cfg->nengines; i++) {
		if ((ssize_t)i != hdb)
			printf(" hdb/%s |", cfg->engines[i]->name);
	}
	printf("\n|---|---|");
	for (size_t i = 0; i < cfg->nengines + (hdb >= 0 ? cfg->nengines - 1 : 0); i++)
		printf("---:|");
	printf("\n");
	for (size_t b = 0; b < cfg->nbench; b++)
		print_bench_rows(cfg, res, b, hdb);
	for (size_t i = 0; i < cfg->nengines; i++)
		rss[i] = res[i].exited_ok ? (double)res[i].maxrss_kib / 1024.0 : -1;
	print_row(cfg, "peak RSS", UNIT_MIB, rss, hdb);
	printf("\n");
	print_misses(cfg, res);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hdb-bench [--num N] [--engines LIST] [--benchmarks LIST] [--dir DIR]\n"
		"  --num N            entries per workload (default %d)\n"
		"  --engines LIST     comma-separated, from:",
		DEFAULT_NUM);
	for (size_t i = 0; all_engines[i]; i++)
		fprintf(f, " %s", all_engines[i]->name);
	fprintf(f, " (default all)\n"
		"  --benchmarks LIST  comma-separated, run in order (default\n"
		"                     %s)\n"
		"  --dir DIR          where to make the temporary database directory\n"
		"                     (default $TMPDIR or /tmp); removed afterwards\n",
		DEFAULT_BENCHMARKS);
}

static const struct bench_engine *find_engine(const char *name)
{
	for (size_t i = 0; all_engines[i]; i++) {
		if (strcmp(all_engines[i]->name, name) == 0)
			return all_engines[i];
	}
	return NULL;
}

static const struct workload *find_workload(const char *name)
{
	for (size_t i = 0; i < NWORKLOADS; i++) {
		if (strcmp(workloads[i].name, name) == 0)
			return &workloads[i];
	}
	return NULL;
}

static int parse_engines(struct config *cfg, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int err = 0;

	if (!copy)
		return fail("--engines", "out of memory");
	cfg->nengines = 0;
	for (char *t = strtok_r(copy, ",", &save); t && !err; t = strtok_r(NULL, ",", &save)) {
		const struct bench_engine *e = find_engine(t);

		if (!e)
			err = fail(t, "unknown engine or not built in");
		else if (cfg->nengines == MAX_ENGINES - 1)
			err = fail(t, "engine listed twice");
		else
			cfg->engines[cfg->nengines++] = e;
	}
	for (size_t i = 0; i < cfg->nengines && !err; i++) {
		for (size_t j = 0; j < i && !err; j++) {
			if (cfg->engines[i] == cfg->engines[j])
				err = fail(cfg->engines[i]->name, "listed twice");
		}
	}
	free(copy);
	if (!err && cfg->nengines == 0)
		err = fail("--engines", "no engine");
	return err;
}

static int parse_benchmarks(struct config *cfg, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	int err = 0;

	if (!copy)
		return fail("--benchmarks", "out of memory");
	cfg->nbench = 0;
	for (char *t = strtok_r(copy, ",", &save); t && !err; t = strtok_r(NULL, ",", &save)) {
		const struct workload *w = find_workload(t);

		if (!w)
			err = fail(t, "unknown benchmark");
		else if (cfg->nbench == MAX_BENCH)
			err = fail("--benchmarks", "too many");
		else
			cfg->bench[cfg->nbench++] = w;
	}
	free(copy);
	if (!err && cfg->nbench == 0)
		err = fail("--benchmarks", "no benchmark");
	return err;
}

static int parse_num(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v == 0 || v > MAX_NUM)
		return fail("--num", "expected an integer from 1 to 10^12");
	*out = v;
	return 0;
}

/* Returns 0 to run, 1 when done (--help), -1 on a bad command line. */
static int parse_args(struct config *cfg, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "num", required_argument, NULL, 'n' },
		{ "engines", required_argument, NULL, 'e' },
		{ "benchmarks", required_argument, NULL, 'b' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *engines = NULL, *benchmarks = DEFAULT_BENCHMARKS;
	int c;

	cfg->num = DEFAULT_NUM;
	cfg->base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_num(optarg, &cfg->num))
				return -1;
			break;
		case 'e':
			engines = optarg;
			break;
		case 'b':
			benchmarks = optarg;
			break;
		case 'd':
			cfg->base = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	if (engines) {
		if (parse_engines(cfg, engines))
			return -1;
	} else {
		for (cfg->nengines = 0; all_engines[cfg->nengines]; cfg->nengines++)
			cfg->engines[cfg->nengines] = all_engines[cfg->nengines];
	}
	return parse_benchmarks(cfg, benchmarks);
}

int main(int argc, char **argv)
{
	static struct config cfg;
	struct engine_result *res;
	struct sigaction sa = { .sa_handler = on_signal };
	size_t map_len;
	int err;

	err = parse_args(&cfg, argc, argv);
	if (err)
		return err < 0 ? 2 : 0;
	errno = 0;
	if ((size_t)snprintf(cfg.tmp, sizeof(cfg.tmp), "%s/hdb-bench.XXXXXX", cfg.base) >= sizeof(cfg.tmp) ||
	    !mkdtemp(cfg.tmp)) {
		fail(cfg.base, errno ? strerror(errno) : "path too long");
		return 1;
	}
	map_len = cfg.nengines * sizeof(*res);
	res = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		fail("mmap", strerror(errno));
		rm_tree(cfg.tmp);
		return 1;
	}
	/* Interrupted runs still remove their databases. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "hdb-bench: databases under %s\n", cfg.tmp);

	err = run_all(&cfg, res);
	if (!err)
		print_report(&cfg, res);
	rm_tree(cfg.tmp);
	munmap(res, map_len);
	if (interrupted)
		return 128 + interrupted;
	return err ? 1 : 0;
}
