/*
 * env.h — the engine's file I/O layer.
 *
 * Every operation that changes files on disk goes through an hdb_env, so a
 * test can interpose one that remembers what has been made durable and
 * simulates power loss (tests/fault_env.c), or fails with ENOSPC.  Reads
 * (whole-file reads, mmap) are plain POSIX: a simulated crash rewrites the
 * real files, so readers need no interposition.
 *
 * Durability model the engine relies on, and that a fault env must honour:
 *   - bytes written to an fd are durable after sync(fd) returns 0;
 *   - a file's creation, a rename or an unlink is durable after sync_dir()
 *     of its directory returns 0.
 *
 * All functions return 0 or -errno.  Thread safety: every function may be
 * called from any thread; an fd is used by one thread at a time.
 */
#ifndef HDB_ENV_H
#define HDB_ENV_H

#include <stddef.h>
#include <stdint.h>

enum {
	HDB_WOPEN_TRUNC = 1,  /* create or truncate to empty */
	HDB_WOPEN_APPEND = 2, /* create if missing, append at the end */
	HDB_WOPEN_EXCL = 4,   /* with TRUNC: fail with -EEXIST if it exists */
};

typedef struct hdb_env hdb_env;
struct hdb_env {
	int (*wopen)(hdb_env *env, const char *path, int flags, int *fd);
	int (*write)(hdb_env *env, int fd, const void *buf, size_t n); /* all n bytes */
	int (*sync)(hdb_env *env, int fd);
	int (*close)(hdb_env *env, int fd);
	int (*truncate)(hdb_env *env, const char *path, uint64_t size);
	int (*rename)(hdb_env *env, const char *from, const char *to);
	int (*unlink)(hdb_env *env, const char *path);
	int (*mkdir)(hdb_env *env, const char *path);
	int (*sync_dir)(hdb_env *env, const char *dir);
};

hdb_env *hdb_env_posix(void);

/* Plain POSIX helpers used by every env. */

/* Reads a whole file into a malloc'd buffer (NUL-terminated, not counted). */
int hdb_read_file(const char *path, uint8_t **data, size_t *len);
int hdb_file_size(const char *path, uint64_t *size);

/* Maps a whole file read-only; *len = 0 and *addr = NULL for an empty file. */
int hdb_mmap_file(const char *path, const uint8_t **addr, size_t *len);
void hdb_munmap(const uint8_t *addr, size_t len);

/* Lists regular file names in dir: a malloc'd array of malloc'd strings. */
int hdb_list_dir(const char *dir, char ***names, size_t *n);
void hdb_free_names(char **names, size_t n);

/* Takes an exclusive advisory lock on path (creating it); -HDB_ELOCKED style
 * contention is reported as HDB_ELOCKED. */
int hdb_lock_file(const char *path, int *fd);
void hdb_unlock_file(int fd);

/* Writes data to path atomically through env: write tmp, sync, rename over,
 * sync the directory. */
int hdb_env_write_atomic(hdb_env *env, const char *dir, const char *name, const void *data, size_t n);

#endif
