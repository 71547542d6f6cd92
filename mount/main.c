/*
 * main.c — the `hybriddb` command: argument parsing and the subcommands
 * mount, check, recover, stats, compact, import, export and find.
 *
 *   hybriddb mount DATA MNT [-f] [-d] [-o opts]
 *   hybriddb DATA MNT -o opts           (as run by mount(8) via mount.fuse3)
 *   hybriddb check DATA | recover DATA | stats DATA | compact DATA
 *   hybriddb import [--csv] DATA COLL FILE | export [--csv] DATA COLL
 *   hybriddb find DATA COLL COND...
 *   hybriddb --help | --version;  hybriddb <subcommand> --help
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 check found
 * corruption (see daemon.h and hybriddb.1).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#if __has_include("config.h")
#include "config.h"
#endif
#ifndef HDB_VERSION
#define HDB_VERSION "unknown"
#endif

#include "daemon.h"
#include "fs.h"
#include "hybriddb.h"
#include "options.h"

static const char usage_main[] =
	"usage: hybriddb <command> [arguments]\n"
	"\n"
	"commands:\n"
	"  mount DATA MNT [-f] [-o opts]  mount the database in DATA on MNT\n"
	"  check DATA                     verify every checksum and the file system's structure\n"
	"  recover DATA                   accept the loss of damaged WAL records so that DATA mounts\n"
	"  stats DATA                     print the statistics JSON\n"
	"  compact DATA                   compact an unmounted database fully\n"
	"  import DATA COLL FILE.jsonl    load JSON Lines into a collection (unmounted)\n"
	"  import --csv DATA TABLE FILE   load CSV into a table (unmounted)\n"
	"  export [--csv] DATA COLL       print a collection as JSON Lines (a table as CSV)\n"
	"  find DATA COLL COND...         print the documents matching every condition\n"
	"\n"
	"  hybriddb DATA MNT -o opts is `mount` (the form mount(8) uses).\n"
	"  hybriddb <command> --help      help on one command\n"
	"  hybriddb --version             print the version\n"
	"\n"
	"exit codes: 0 ok, 1 failure, 2 usage error, 3 corruption found.  See hybriddb(1).\n";

static const char usage_mount[] =
	"usage: hybriddb mount DATA MNT [-f] [-d] [-o opt[,opt...]]\n"
	"\n"
	"Mounts the database in directory DATA (created when missing or empty) on MNT.\n"
	"Runs in the background once the mount is ready, unless -f.\n"
	"\n"
	"  -f                 stay in the foreground, log to stderr\n"
	"  -d                 foreground with libfuse's request trace\n"
	"  -o sync=MODE       always | periodic (default) | never\n"
	"  -o memtable_size=N MemTable size before a flush (default 16M)\n"
	"  -o cache_size=N    block cache size (default 32M)\n"
	"  -o max_doc_size=N  largest file (default 64M); a larger write fails with EFBIG\n"
	"  -o compression=on|off   zlib per table block (default on)\n"
	"  -o ro              read-only\n"
	"  -o noatime         never update access times\n"
	"  -o clone_fd, -o splice  FUSE transport tuning (off; see the man page)\n"
	"  other -o options go to libfuse (allow_other, auto_unmount, ...);\n"
	"  default_permissions is always on.  Sizes take k, M or G suffixes.\n"
	"Unmount with: fusermount3 -u MNT\n";

static const char usage_check[] =
	"usage: hybriddb check DATA\n"
	"\n"
	"Verifies every checksum of the unmounted database in DATA and the file\n"
	"system stored in it; prints each problem.  Exit 0 when sound, 3 when\n"
	"corruption was found, 1 when the check could not run.\n";

static const char usage_recover[] =
	"usage: hybriddb recover DATA\n"
	"\n"
	"Opens the unmounted database in DATA accepting the loss of a damaged WAL\n"
	"record that intact records follow (mount refuses such a database): the\n"
	"log is replayed up to the damage, the rest of that segment is kept as\n"
	"NNNNNN.wal.damaged, and each cut is printed with its file, offset and\n"
	"bytes.  Afterwards the database mounts and holds what was written up to\n"
	"the damage.  Damaged tables are not changed: their documents keep failing\n"
	"with EIO (see hybriddb check).  Exit 0 when the database opens (with or\n"
	"without a cut), 1 when it cannot be opened.\n";

static const char usage_stats[] =
	"usage: hybriddb stats DATA\n"
	"\n"
	"Prints the statistics of the database in DATA as JSON (opened read-only;\n"
	"the same figures as MNT/.stats, with no operation counts).\n";

static const char usage_compact[] =
	"usage: hybriddb compact DATA\n"
	"\n"
	"Flushes and compacts the unmounted database in DATA down to the bottom\n"
	"level.  For a mounted database: echo compact > MNT/.control\n";

static const char usage_import[] =
	"usage: hybriddb import DATA COLLECTION FILE.jsonl\n"
	"       hybriddb import --csv DATA TABLE FILE.csv\n"
	"\n"
	"Loads JSON Lines (one object per line; FILE - reads standard input) into\n"
	"COLLECTION (a path such as users or a/b, created when missing) of the\n"
	"unmounted database in DATA (created when missing).  Each line creates or\n"
	"replaces the document named by its _id member (generated when absent).\n"
	"Every line is checked first: a bad one is reported with its line number\n"
	"and byte offset, and nothing is imported.  Up to 512 MiB is applied as\n"
	"one atomic batch; larger input in batches of whole lines.  Shows a\n"
	"progress bar when standard error is a terminal.\n"
	"\n"
	"  --csv   FILE is CSV with a header, and TABLE an existing collection\n"
	"          with a schema: each row becomes a typed document named by the\n"
	"          key column, exactly as MNT/TABLE/.import.csv does.  A bad row\n"
	"          is reported with its line and byte, and nothing is imported.\n"
	"          One atomic batch, so at most 512 MiB.\n"
	"A FILE whose name ends in .csv needs --csv (it is never read as JSON).\n"
	"For a mounted database: cp FILE.jsonl MNT/COLLECTION/.import,\n"
	"cp FILE.csv MNT/TABLE/.import.csv\n";

static const char usage_export[] =
	"usage: hybriddb export [--csv] DATA COLLECTION\n"
	"\n"
	"Prints every document of COLLECTION as one line of JSON with an _id\n"
	"member (its file name without .json), in name order.  DATA must not be\n"
	"mounted (it is read as it is on disk, read-only).\n"
	"\n"
	"  --csv   COLLECTION must be a table (a collection with a schema):\n"
	"          prints its header and one row per document, in name order,\n"
	"          exactly as MNT/COLLECTION/.export.csv does.\n"
	"For a mounted database: cat MNT/COLLECTION/.export.jsonl (or .export.csv)\n";

static const char usage_find[] =
	"usage: hybriddb find DATA COLLECTION [-c | -l] COND...\n"
	"\n"
	"Prints the documents of COLLECTION that satisfy every condition, as JSON\n"
	"Lines (like export).  A condition is FIELD OP VALUE with OP one of\n"
	"= != < <= > >= @ (array contains) ~ (extended regular expression), FIELD\n"
	"a name or dotted path, VALUE JSON or a bare string: age>=30, city=Paris,\n"
	"address.zip=\"75001\", tags@red, name~^A.  See hybriddb(1).\n"
	"\n"
	"  -c, --count   print the number of matches only\n"
	"  -l, --names   print the matching file names only\n"
	"For a mounted database: ls 'MNT/COLLECTION/.where/age>=30/city=Paris'\n";

static int usage_error(const char *usage, const char *fmt, const char *arg)
{
	fprintf(stderr, "hybriddb: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage);
	return HDB_EXIT_USAGE;
}

static bool is_help(const char *a)
{
	return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* An absolute form of path, which need not exist: the daemon changes to
 * "/" and the engine keeps using the path. */
static char *absolute(const char *path)
{
	char *r = realpath(path, NULL);
	if (r || path[0] == '/')
		return r ? r : strdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&r, "%s/%s", cwd, path) < 0)
		return NULL;
	return r;
}

static int parse_mount(int argc, char **argv, hdb_mount_cfg *cfg)
{
	const char *pos[2];
	int npos = 0;
	char err[256] = "";
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *opts = NULL;
		if (!strcmp(a, "-f") || !strcmp(a, "--foreground")) {
			cfg->foreground = true;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--debug")) {
			cfg->debug = true;
		} else if (!strcmp(a, "-o")) {
			if (++i == argc)
				return usage_error(usage_mount, "%s needs an argument", a);
			opts = argv[i];
		} else if (!strncmp(a, "-o", 2)) {
			opts = a + 2;
		} else if (a[0] == '-' && a[1]) {
			return usage_error(usage_mount, "unknown flag %s", a);
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			return usage_error(usage_mount, "unexpected argument %s", a);
		}
		if (opts) {
			int rc = hdb_mount_apply_opts(cfg, opts, err, sizeof(err));
			if (rc == -EINVAL)
				return usage_error(usage_mount, "%s", err);
			if (rc)
				return HDB_EXIT_FAILURE;
		}
	}
	if (npos != 2)
		return usage_error(usage_mount, "%s", "DATA and MNT are required");
	cfg->data = pos[0];
	cfg->mnt = pos[1];
	return HDB_EXIT_OK;
}

static int cmd_mount(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (is_help(argv[i])) {
			fputs(usage_mount, stdout);
			return HDB_EXIT_OK;
		}
	hdb_mount_cfg cfg;
	hdb_mount_cfg_init(&cfg);
	int code = parse_mount(argc, argv, &cfg);
	if (code)
		goto out;
	char *data = absolute(cfg.data), *mnt = realpath(cfg.mnt, NULL);
	if (!data || !mnt) {
		fprintf(stderr, "hybriddb: %s: %s\n", data ? cfg.mnt : cfg.data, strerror(errno));
		free(data);
		free(mnt);
		code = HDB_EXIT_FAILURE;
		goto out;
	}
	cfg.data = data;
	cfg.mnt = mnt;
	code = hdb_daemon_mount(&cfg);
	free(data);
	free(mnt);
out:
	hdb_mount_cfg_free(&cfg);
	return code;
}

/* The single DATA argument of check, stats and compact. */
static int one_data_arg(int argc, char **argv, const char *usage, const char **data)
{
	if (argc == 1 && is_help(argv[0])) {
		fputs(usage, stdout);
		return -1;
	}
	if (argc != 1 || argv[0][0] == '-') {
		usage_error(usage, "%s", "exactly one DATA argument is expected");
		return HDB_EXIT_USAGE;
	}
	*data = argv[0];
	return HDB_EXIT_OK;
}

static int open_db(const char *data, bool read_only, hdb_db **db)
{
	hdb_options o;
	hdb_options_init(&o);
	o.create_if_missing = false;
	o.read_only = read_only;
	int rc = hdb_open(data, &o, db);
	if (rc)
		hdb_print_error(data, rc);
	return rc;
}

struct check_ctx {
	const char *data;
	unsigned problems;
	unsigned wal_problems; /* in NNNNNN.wal segments */
};

static bool is_wal_name(const char *file)
{
	size_t n = strlen(file);
	return n > 4 && !strcmp(file + n - 4, ".wal");
}

static void report_engine(void *ctx, const char *file, uint64_t offset, const char *what)
{
	struct check_ctx *c = ctx;
	c->problems++;
	c->wal_problems += is_wal_name(file);
	printf("%s: %s offset %llu: %s\n", c->data, file, (unsigned long long)offset, what);
}

static void report_fs(void *ctx, const char *what)
{
	struct check_ctx *c = ctx;
	c->problems++;
	printf("%s: file system: %s\n", c->data, what);
}

static int cmd_check(int argc, char **argv)
{
	const char *data;
	int code = one_data_arg(argc, argv, usage_check, &data);
	if (code)
		return code < 0 ? HDB_EXIT_OK : code;
	struct check_ctx ctx = { .data = data };
	int rc = hdb_check(data, report_engine, &ctx);
	if (rc && rc != HDB_ECORRUPT) {
		hdb_print_error(data, rc);
		return HDB_EXIT_FAILURE;
	}
	if (!rc) {
		/* The tables are sound: now the file system stored in them. */
		hdb_db *db;
		if (open_db(data, true, &db))
			return HDB_EXIT_FAILURE;
		rc = hdb_fs_check(db, report_fs, &ctx);
		hdb_close(db);
		if (rc && rc != HDB_ECORRUPT) {
			hdb_print_error(data, rc);
			return HDB_EXIT_FAILURE;
		}
	}
	if (ctx.problems || rc == HDB_ECORRUPT) {
		printf("%s: %u problem(s) found\n", data, ctx.problems);
		if (ctx.wal_problems) {
			printf("%s: `hybriddb recover ", data);
			hdb_put_shell_word(stdout, data);
			printf("` accepts the loss of the WAL records above "
			       "(kept as NNNNNN.wal.damaged) so that the database mounts\n");
		}
		return HDB_EXIT_CORRUPT;
	}
	printf("%s: ok\n", data);
	return HDB_EXIT_OK;
}

struct recover_ctx {
	const char *data;
	unsigned cuts; /* engine messages: each names a cut */
};

static void print_cut(void *ctx, const char *msg)
{
	struct recover_ctx *r = ctx;
	r->cuts++;
	printf("%s: %s\n", r->data, msg);
}

static int cmd_recover(int argc, char **argv)
{
	const char *data;
	int code = one_data_arg(argc, argv, usage_recover, &data);
	if (code)
		return code < 0 ? HDB_EXIT_OK : code;
	struct recover_ctx r = { .data = data };
	hdb_options o;
	hdb_options_init(&o);
	o.create_if_missing = false;
	o.wal_recovery = HDB_WAL_POINT_IN_TIME;
	o.log = print_cut;
	o.log_ctx = &r;
	hdb_db *db;
	int rc = hdb_open(data, &o, &db);
	if (rc) {
		hdb_print_error(data, rc);
		return HDB_EXIT_FAILURE;
	}
	rc = hdb_close(db);
	if (rc) {
		hdb_print_error(data, rc);
		return HDB_EXIT_FAILURE;
	}
	printf(r.cuts ? "%s: recovered; it mounts now\n" : "%s: nothing to recover\n", data);
	return HDB_EXIT_OK;
}

static int cmd_stats(int argc, char **argv)
{
	const char *data;
	int code = one_data_arg(argc, argv, usage_stats, &data);
	if (code)
		return code < 0 ? HDB_EXIT_OK : code;
	hdb_db *db;
	if (open_db(data, true, &db))
		return HDB_EXIT_FAILURE;
	hdb_fs_opts fo;
	hdb_fs_opts_init(&fo);
	fo.read_only = true;
	hdb_fs *fs = NULL;
	char *json = NULL;
	int rc = hdb_fs_new(db, &fo, &fs);
	if (!rc)
		rc = hdb_fs_stats_json(fs, &json);
	if (rc)
		hdb_print_error(data, rc);
	else
		fputs(json, stdout);
	free(json);
	hdb_fs_free(fs);
	hdb_close(db);
	return rc ? HDB_EXIT_FAILURE : HDB_EXIT_OK;
}

static int cmd_compact(int argc, char **argv)
{
	const char *data;
	int code = one_data_arg(argc, argv, usage_compact, &data);
	if (code)
		return code < 0 ? HDB_EXIT_OK : code;
	hdb_db *db;
	if (open_db(data, false, &db))
		return HDB_EXIT_FAILURE;
	int rc = hdb_compact_range(db, NULL, 0, NULL, 0);
	if (rc)
		hdb_print_error(data, rc);
	int crc = hdb_close(db);
	if (crc && !rc) {
		hdb_print_error(data, crc);
		rc = crc;
	}
	return rc ? HDB_EXIT_FAILURE : HDB_EXIT_OK;
}

/* ---- import, export, find ---- */

static int open_fs(const char *data, bool read_only, bool create, hdb_db **db, hdb_fs **fs)
{
	hdb_options o;
	hdb_options_init(&o);
	o.create_if_missing = create;
	o.read_only = read_only;
	int rc = hdb_open(data, &o, db);
	if (rc) {
		hdb_print_error(data, rc);
		return rc;
	}
	hdb_fs_opts fo;
	hdb_fs_opts_init(&fo);
	fo.read_only = read_only;
	rc = hdb_fs_new(*db, &fo, fs);
	if (rc) {
		hdb_print_error(data, rc);
		hdb_close(*db);
	}
	return rc;
}

static int close_fs(const char *data, hdb_db *db, hdb_fs *fs, int rc)
{
	hdb_fs_free(fs);
	int crc = hdb_close(db);
	if (crc && !rc) {
		hdb_print_error(data, crc);
		rc = crc;
	}
	return rc;
}

/* The whole of file path ("-": standard input), malloc'd; -EFBIG past
 * max bytes (a regular file that large is not read at all). */
static int read_input(const char *path, uint64_t max, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return -errno;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	struct stat st;
	int rc = 0;
	if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		rc = -EFBIG;
	while (!rc) {
		if (cap - n < 1 << 20) {
			cap = cap ? cap * 2 : 4 << 20;
			char *nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n > max)
			rc = -EFBIG;
		if (got == 0) {
			if (ferror(f))
				rc = -EIO;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

struct bar {
	int last;
};

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct bar *b = ctx;
	int pct = total ? (int)(done * 100 / total) : 100;
	if (pct == b->last)
		return;
	b->last = pct;
	fprintf(stderr, "\rimporting [%-40.*s] %3d%%", pct * 40 / 100, "########################################",
	        pct);
	fflush(stderr);
}

/* The arguments of import and export: --csv anywhere, and exactly npos
 * others ("-" is one).  HDB_EXIT_OK, -1 once the help is printed, or
 * HDB_EXIT_USAGE (reported). */
static int parse_transfer(int argc, char **argv, const char *usage, const char **pos, int npos,
                          const char *missing, bool *csv)
{
	int got = 0;
	*csv = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (is_help(a)) {
			fputs(usage, stdout);
			return -1;
		}
		if (!strcmp(a, "--csv"))
			*csv = true;
		else if (a[0] == '-' && a[1])
			return usage_error(usage, "unknown flag %s", a);
		else if (got < npos)
			pos[got++] = a;
		else
			return usage_error(usage, "unexpected argument %s", a);
	}
	return got == npos ? HDB_EXIT_OK : usage_error(usage, "%s", missing);
}

static bool is_csv_name(const char *file)
{
	size_t n = strlen(file);
	return n > 4 && !strcasecmp(file + n - 4, ".csv");
}

/* --csv: 0 when coll is a table; else -1, reported in one line. */
static int need_table(hdb_fs *fs, const char *coll)
{
	int rc = hdb_fs_is_table(fs, coll);
	if (rc == 1)
		return 0;
	if (!rc)
		fprintf(stderr, "hybriddb: %s: not a table (it has no .schema); --csv needs one\n", coll);
	else if (rc == -EIO)
		fprintf(stderr, "hybriddb: %s: its .schema does not parse; write it again or remove it\n", coll);
	else
		hdb_print_error(coll, rc);
	return -1;
}

static int import_failed(const char *file, const char *coll, int rc, const hdb_fs_import_stats *st)
{
	if (rc == -EINVAL && st->err_line)
		fprintf(stderr, "hybriddb: %s: line %zu, byte %zu: invalid; nothing imported\n", file, st->err_line,
		        st->err_offset);
	else if (rc == -EFBIG)
		fprintf(stderr, "hybriddb: %s: too large for one atomic import; nothing imported: split it\n", file);
	else
		hdb_print_error(coll, rc);
	return HDB_EXIT_FAILURE;
}

static int cmd_import(int argc, char **argv)
{
	const char *pos[3];
	bool csv;
	int code = parse_transfer(argc, argv, usage_import, pos, 3, "DATA, COLLECTION and FILE are required", &csv);
	if (code)
		return code < 0 ? HDB_EXIT_OK : code;
	const char *data = pos[0], *coll = pos[1], *file = pos[2];
	/* Read as JSON Lines, CSV fails at line 1 with a reason that misleads. */
	if (!csv && is_csv_name(file)) {
		fprintf(stderr, "hybriddb: %s names CSV, which goes into a table with --csv: hybriddb import --csv",
		        file);
		const char *words[] = { data, coll, file };
		for (size_t i = 0; i < 3; i++) {
			fputc(' ', stderr);
			hdb_put_shell_word(stderr, words[i]);
		}
		fputc('\n', stderr);
		return HDB_EXIT_USAGE;
	}
	char *buf = NULL;
	size_t len = 0;
	int rc = read_input(file, csv ? HDB_FS_IMPORT_MAX : UINT64_MAX, &buf, &len);
	if (rc == -EFBIG)
		fprintf(stderr, "hybriddb: %s: more than %llu MiB of CSV, which one atomic import takes at most; "
		        "split it into files that each start with the header\n",
		        file, (unsigned long long)(HDB_FS_IMPORT_MAX >> 20));
	else if (rc)
		fprintf(stderr, "hybriddb: %s: %s\n", file, strerror(-rc));
	if (rc)
		return HDB_EXIT_FAILURE;
	hdb_db *db;
	hdb_fs *fs;
	/* A table has a schema, so --csv never creates the database. */
	if (open_fs(data, false, !csv, &db, &fs)) {
		free(buf);
		return HDB_EXIT_FAILURE;
	}
	if (csv && need_table(fs, coll)) {
		free(buf);
		close_fs(data, db, fs, 0);
		return HDB_EXIT_FAILURE;
	}
	bool tty = isatty(2);
	struct bar bar = { .last = -1 };
	hdb_fs_import_stats st;
	rc = hdb_fs_import(fs, coll, csv ? HDB_FS_IMPORT_CSV : HDB_FS_IMPORT_JSONL, buf, len,
	                   tty ? show_progress : NULL, &bar, &st);
	if (tty)
		fputc('\n', stderr);
	free(buf);
	rc = close_fs(data, db, fs, rc);
	if (rc)
		return import_failed(file, coll, rc, &st);
	if (tty)
		fprintf(stderr, "%s: %llu documents (%llu created, %llu replaced)\n", coll,
		        (unsigned long long)(st.created + st.replaced), (unsigned long long)st.created,
		        (unsigned long long)st.replaced);
	return HDB_EXIT_OK;
}

static int find_out(const char *data, const char *coll, const char *const *conds, size_t n,
                    enum hdb_fs_find_output what)
{
	hdb_db *db;
	hdb_fs *fs;
	if (open_fs(data, true, false, &db, &fs))
		return HDB_EXIT_FAILURE;
	if (what == HDB_FS_FIND_CSV && need_table(fs, coll)) {
		close_fs(data, db, fs, 0);
		return HDB_EXIT_FAILURE;
	}
	const char *why;
	uint64_t matches;
	int rc = hdb_fs_find(fs, coll, conds, n, what, stdout, &why, &matches);
	if (!rc && fflush(stdout))
		rc = -errno;
	rc = close_fs(data, db, fs, rc);
	if (rc == -EINVAL && why) {
		fprintf(stderr, "hybriddb: find: bad condition: %s (see hybriddb find --help)\n", why);
		return HDB_EXIT_USAGE;
	}
	if (rc) {
		hdb_print_error(coll, rc);
		return HDB_EXIT_FAILURE;
	}
	return HDB_EXIT_OK;
}

static int cmd_export(int argc, char **argv)
{
	const char *pos[2];
	bool csv;
	int code = parse_transfer(argc, argv, usage_export, pos, 2, "DATA and COLLECTION are required", &csv);
	if (code)
		return code < 0 ? HDB_EXIT_OK : code;
	return find_out(pos[0], pos[1], NULL, 0, csv ? HDB_FS_FIND_CSV : HDB_FS_FIND_JSONL);
}

static int cmd_find(int argc, char **argv)
{
	enum hdb_fs_find_output what = HDB_FS_FIND_JSONL;
	const char *pos[2];
	const char **conds = calloc((size_t)argc + 1, sizeof(*conds));
	size_t npos = 0, n = 0;
	if (!conds)
		return HDB_EXIT_FAILURE;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (is_help(a)) {
			fputs(usage_find, stdout);
			free(conds);
			return HDB_EXIT_OK;
		}
		if (!strcmp(a, "-c") || !strcmp(a, "--count"))
			what = HDB_FS_FIND_COUNT;
		else if (!strcmp(a, "-l") || !strcmp(a, "--names"))
			what = HDB_FS_FIND_NAMES;
		else if (npos < 2)
			pos[npos++] = a;
		else
			conds[n++] = a;
	}
	int code = npos < 2 || !n ? usage_error(usage_find, "%s", "DATA, COLLECTION and a condition are required")
	                          : find_out(pos[0], pos[1], conds, n, what);
	free(conds);
	return code;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(usage_main, "%s", "a command is required");
	const char *cmd = argv[1];
	if (is_help(cmd)) {
		fputs(usage_main, stdout);
		return HDB_EXIT_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("hybriddb %s\n", HDB_VERSION);
		return HDB_EXIT_OK;
	}
	if (!strcmp(cmd, "mount"))
		return cmd_mount(argc - 2, argv + 2);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 2, argv + 2);
	if (!strcmp(cmd, "recover"))
		return cmd_recover(argc - 2, argv + 2);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc - 2, argv + 2);
	if (!strcmp(cmd, "compact"))
		return cmd_compact(argc - 2, argv + 2);
	if (!strcmp(cmd, "import"))
		return cmd_import(argc - 2, argv + 2);
	if (!strcmp(cmd, "export"))
		return cmd_export(argc - 2, argv + 2);
	if (!strcmp(cmd, "find"))
		return cmd_find(argc - 2, argv + 2);
	/* mount(8) through mount.fuse3: `hybriddb DATA MNT -o opts`. */
	if (cmd[0] != '-' && argc >= 3 && argv[2][0] != '-')
		return cmd_mount(argc - 1, argv + 1);
	return usage_error(usage_main, "unknown command %s", cmd);
}
