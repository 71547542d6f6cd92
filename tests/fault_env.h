/*
 * fault_env.h — an hdb_env for tests that simulates power loss and a full
 * disk.
 *
 * It forwards every call to hdb_env_posix() and remembers what the
 * durability model of engine/env.h says has reached stable storage:
 *   - bytes written to an fd are durable after sync(fd) returns 0;
 *   - a file's creation, a rename or an unlink is durable after sync_dir()
 *     of its directory returns 0.
 *
 * Model.  Every file the env touches is a node (an inode): its current
 * name (or none once unlinked or replaced), its size, and its durable
 * length (the size at its last successful sync).  A second table holds the
 * durable directory entries (name -> node).  sync_dir(dir) replaces the
 * durable entries of dir by the current names in dir.  A file the env meets
 * for the first time that already exists (rename target, unlink, truncate,
 * append-open) is adopted as fully durable under its name.  Files the env
 * never touches (LOCK, taken with plain POSIX calls) are left alone, and
 * directories made through mkdir() count as durable at once.  Names are
 * compared as strings: the engine must spell a directory the same way in
 * sync_dir() as in the paths of the files in it (it does: dir "/" name).
 *
 * A simulated crash (fault_env_simulate_crash) rewrites the real files to
 * what the model says survived: every current name is removed, then every
 * durable entry is written back with the first durable-length bytes of its
 * node (plus, with fault_env_keep_unsynced, a random part of the bytes
 * written after that, as a torn write would leave).  So a file whose
 * creation was not made durable disappears, a rename not made durable is
 * undone (restoring the replaced file's content), an unlink not made
 * durable is undone, and unsynced data is lost.
 *
 * Sync points are the sync() and sync_dir() calls, counted from the start
 * of the env's life.  Once the power has failed (see the two arming calls
 * below) every mutating call (wopen, write, sync, truncate, rename, unlink,
 * mkdir, sync_dir) fails with -EIO and changes nothing; close() always
 * succeeds.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * serialises the forwarded calls.  fault_env_simulate_crash REQUIRES that
 * no database is open on the env (close it first, whatever hdb_close says).
 */
#ifndef HDB_TEST_FAULT_ENV_H
#define HDB_TEST_FAULT_ENV_H

#include "env.h"

#include <stdbool.h>
#include <stdint.h>

/* A new fault env (NULL on ENOMEM); free with fault_env_free. */
hdb_env *fault_env_new(void);
void fault_env_free(hdb_env *env);

/* Sync points (successful sync + sync_dir calls) since fault_env_new. */
uint64_t fault_env_sync_count(hdb_env *env);

/* Lose power right after the n-th sync point: every later mutating call
 * fails (n <= the sync points passed so far: at once).  n < 0 disarms. */
void fault_env_set_crash_after(hdb_env *env, int64_t n);
/* Lose power during the k-th sync point (k >= 1): the calls before it
 * succeed, so the bytes and names they changed since the (k-1)-th are in
 * place but not durable; the k-th sync and every later mutating call fail.
 * This is the crash that loses the most acknowledged-but-unsynced work.
 * k <= 0 disarms. */
void fault_env_set_crash_at_sync(hdb_env *env, int64_t k);
/* True once the power has failed (until fault_env_simulate_crash). */
bool fault_env_crashed(hdb_env *env);

/* With seed != 0, a crash keeps a pseudo-random prefix (chosen from seed)
 * of each surviving file's unsynced bytes instead of none. */
void fault_env_keep_unsynced(hdb_env *env, uint64_t seed);

/* From now on wopen and write fail with err (e.g. -ENOSPC) and change
 * nothing; err = 0 lets them through again. */
void fault_env_fail_writes_with(hdb_env *env, int err);

/* Rewrites the real files to their state after the power failure (see the
 * model above), then forgets every node, fd and durable entry and disarms
 * the crash and write failure.  Returns 0 or -errno. */
int fault_env_simulate_crash(hdb_env *env);

#endif
