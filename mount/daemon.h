/*
 * daemon.h — the mounted file system's life cycle.
 *
 * hdb_daemon_mount() opens the engine, attaches the fs, mounts it and serves
 * requests until the file system is unmounted or the process gets SIGTERM,
 * SIGINT or SIGHUP; then it unmounts and closes the engine (everything is
 * flushed to the WAL; nothing is lost).
 *
 * Without foreground it daemonizes first: the calling process waits until
 * the child has mounted (or failed) and exits with the child's status, so
 * a shell sees 0 only once the mount is ready.  The child logs to syslog;
 * in the foreground, logs go to stderr.
 */
#ifndef HDB_MOUNT_DAEMON_H
#define HDB_MOUNT_DAEMON_H

#include <stdio.h>

#include "options.h"

/* Exit codes of the hybriddb command (documented in hybriddb.1). */
enum {
	HDB_EXIT_OK = 0,
	HDB_EXIT_FAILURE = 1,
	HDB_EXIT_USAGE = 2,
	HDB_EXIT_CORRUPT = 3,
};

/* Returns the exit code (in the daemonizing parent it does not return). */
int hdb_daemon_mount(hdb_mount_cfg *cfg);

/* Prints "hybriddb: <what>: <reason>" for an engine or errno code, with the
 * engine's detail when it has one; WAL damage that the open refused also
 * names `hybriddb recover <what>`, which accepts the loss. */
void hdb_print_error(const char *what, int rc);

/* Writes s to f as one shell word that pastes back as s: as it is when no
 * shell gives any of its characters a meaning, else in single quotes (for
 * the commands the messages suggest). */
void hdb_put_shell_word(FILE *f, const char *s);

#endif
