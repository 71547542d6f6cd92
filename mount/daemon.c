/*
 * daemon.c — mount, serve, shut down.
 */
#define FUSE_USE_VERSION 314

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"

/* Worker threads: twice the CPUs, within these bounds.  More threads than
 * that mostly contend on /dev/fuse. */
#define MIN_WORKER_THREADS 4
#define MAX_WORKER_THREADS 16

void hdb_put_shell_word(FILE *f, const char *s)
{
	static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+.,:/@";
	if (*s && s[strspn(s, plain)] == 0) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

void hdb_print_error(const char *what, int rc)
{
	const char *detail = hdb_errdetail();
	const char *msg;
	switch (rc) {
	case HDB_ENOTDB:
		msg = "not a hybriddb data directory";
		break;
	case HDB_EVERSION:
		msg = "written by a newer version of hybriddb";
		break;
	case HDB_ELOCKED:
		msg = "in use by another process (already mounted?)";
		break;
	default:
		msg = hdb_strerror(rc);
	}
	if (rc == HDB_ECORRUPT && detail && strstr(detail, ".wal offset ")) {
		fprintf(stderr, "hybriddb: %s: %s (%s); `hybriddb recover ", what, msg, detail);
		hdb_put_shell_word(stderr, what);
		fputs("` accepts the loss\n", stderr);
	} else if (detail && *detail && rc != HDB_ELOCKED)
		fprintf(stderr, "hybriddb: %s: %s (%s)\n", what, msg, detail);
	else
		fprintf(stderr, "hybriddb: %s: %s\n", what, msg);
}

static void syslog_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	/* fuse_log_level mirrors syslog's priorities. */
	vsyslog((int)level, fmt, ap);
}

static void engine_log(void *ctx, const char *msg)
{
	fuse_log(FUSE_LOG_NOTICE, "hybriddb: engine: %s\n", msg);
}

/* "fsname=<data>" with the commas and backslashes libfuse would split on
 * escaped. */
static int add_fsname(char *out, size_t cap, const char *data)
{
	size_t n = (size_t)snprintf(out, cap, "fsname=");
	for (const char *p = data; *p && n + 3 < cap; p++) {
		if (*p == ',' || *p == '\\')
			out[n++] = '\\';
		out[n++] = *p;
	}
	out[n] = 0;
	return n + 3 < cap ? 0 : -ENAMETOOLONG;
}

static char *build_fuse_opts(const hdb_mount_cfg *cfg)
{
	char fsname[PATH_MAX * 2 + 16];
	const char *user = cfg->fuse_opts ? cfg->fuse_opts : "";
	bool has_fsname = strstr(user, "fsname=") != NULL, has_subtype = strstr(user, "subtype=") != NULL;
	if (add_fsname(fsname, sizeof(fsname), cfg->data))
		return NULL;
	char *s = NULL;
	if (asprintf(&s, "default_permissions%s%s%s%s", has_fsname ? "" : ",", has_fsname ? "" : fsname,
	             has_subtype ? "" : ",subtype=hybriddb", *user ? "," : "") < 0)
		return NULL;
	char *all = NULL;
	if (asprintf(&all, "%s%s", s, user) < 0)
		all = NULL;
	free(s);
	return all;
}

static struct fuse_session *new_session(const hdb_mount_cfg *cfg, hdb_fs *fs)
{
	char *opts = build_fuse_opts(cfg);
	if (!opts)
		return NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	if (!fuse_opt_add_arg(&args, "hybriddb") && !fuse_opt_add_arg(&args, "-o") &&
	    !fuse_opt_add_arg(&args, opts) && !(cfg->debug && fuse_opt_add_arg(&args, "-d")))
		se = fuse_session_new(&args, hdb_fs_ops(), sizeof(struct fuse_lowlevel_ops), fs);
	fuse_opt_free_args(&args);
	free(opts);
	return se;
}

/* Tells the waiting parent how the mount went (no-op in the foreground). */
static void report(int *fd, int code)
{
	if (*fd < 0)
		return;
	unsigned char c = (unsigned char)code;
	if (write(*fd, &c, 1) != 1)
		perror("hybriddb: reporting to the parent");
	close(*fd);
	*fd = -1;
}

/* Detaches from the terminal once the mount works: logs go to syslog. */
static void detach(void)
{
	openlog("hybriddb", LOG_PID, LOG_DAEMON);
	fuse_set_log_func(syslog_log);
	if (chdir("/"))
		fuse_log(FUSE_LOG_WARNING, "hybriddb: chdir /: %s\n", strerror(errno));
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
}

static int serve(struct fuse_session *se, bool clone_fd)
{
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	if (!lc)
		return -ENOMEM;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long threads = cpus > 0 ? 2 * cpus : MIN_WORKER_THREADS;
	if (threads < MIN_WORKER_THREADS)
		threads = MIN_WORKER_THREADS;
	if (threads > MAX_WORKER_THREADS)
		threads = MAX_WORKER_THREADS;
	fuse_loop_cfg_set_clone_fd(lc, clone_fd ? 1 : 0);
	fuse_loop_cfg_set_max_threads(lc, (unsigned)threads);
	int rc = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return rc;
}

/* Everything after the fork (or in the foreground). */
static int run(hdb_mount_cfg *cfg, int status_fd)
{
	hdb_db *db = NULL;
	hdb_fs *fs = NULL;
	struct fuse_session *se = NULL;
	int code = HDB_EXIT_FAILURE;

	cfg->eng.log = engine_log;
	cfg->fs.data_dir = cfg->data;
	int rc = hdb_open(cfg->data, &cfg->eng, &db);
	if (rc) {
		hdb_print_error(cfg->data, rc);
		goto out;
	}
	rc = hdb_fs_new(db, &cfg->fs, &fs);
	if (rc) {
		hdb_print_error(cfg->data, rc);
		goto out;
	}
	se = new_session(cfg, fs);
	if (!se) {
		code = HDB_EXIT_USAGE; /* libfuse printed which option it rejected */
		goto out;
	}
	if (fuse_set_signal_handlers(se)) {
		fprintf(stderr, "hybriddb: cannot install signal handlers\n");
		goto out;
	}
	if (fuse_session_mount(se, cfg->mnt)) {
		fprintf(stderr, "hybriddb: %s: cannot mount\n", cfg->mnt);
		fuse_remove_signal_handlers(se);
		goto out;
	}
	hdb_fs_set_session(fs, se);
	if (status_fd >= 0)
		detach();
	report(&status_fd, HDB_EXIT_OK);
	rc = serve(se, cfg->clone_fd);
	if (rc < 0)
		fuse_log(FUSE_LOG_ERR, "hybriddb: session ended: %s\n", strerror(-rc));
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	hdb_fs_set_session(fs, NULL); /* no notices to a closed session */
	code = HDB_EXIT_OK;
out:
	report(&status_fd, code);
	if (se)
		fuse_session_destroy(se);
	hdb_fs_free(fs);
	if (db) {
		rc = hdb_close(db);
		if (rc) {
			fuse_log(FUSE_LOG_ERR, "hybriddb: closing the database: %s\n", hdb_strerror(rc));
			code = HDB_EXIT_FAILURE;
		}
	}
	return code;
}

int hdb_daemon_mount(hdb_mount_cfg *cfg)
{
	if (cfg->foreground || cfg->debug)
		return run(cfg, -1);
	int fds[2];
	if (pipe(fds)) {
		perror("hybriddb: pipe");
		return HDB_EXIT_FAILURE;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("hybriddb: fork");
		return HDB_EXIT_FAILURE;
	}
	if (pid > 0) {
		unsigned char c;
		close(fds[1]);
		ssize_t n;
		do
			n = read(fds[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1) {
			/* The child died before it could say: reap it for its status. */
			int st;
			waitpid(pid, &st, 0);
			fprintf(stderr, "hybriddb: the mount daemon exited early\n");
			_exit(HDB_EXIT_FAILURE);
		}
		_exit(c);
	}
	close(fds[0]);
	if (setsid() < 0)
		perror("hybriddb: setsid");
	return run(cfg, fds[1]);
}
