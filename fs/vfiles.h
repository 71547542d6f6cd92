/*
 * vfiles.h — the virtual files at the root of the mount.
 *
 *   /.control  mode 0600, owned by the mount's owner.  Each line written is
 *              a command, run before the write returns: "compact" (flush
 *              the MemTable and compact every level), "flush", "sync",
 *              "checkpoint" (flush, then sync).  An unknown command fails
 *              the write with EINVAL, and then none of the write's
 *              commands runs.  A write of more than
 *              HDB_VFILE_CONTROL_WRITE_MAX bytes fails with EINVAL too:
 *              the kernel splits a large write into requests, which would
 *              cut a word in two or run the commands before a bad one.
 *              Reading it lists the commands, one per line.
 *   /.stats    mode 0444: the JSON of hdb_fs_stats_json(), generated when
 *              the file is opened (reads of one handle are consistent).
 *              It reports size 0 and is opened with direct_io, so readers
 *              read to end of file.  Opening it for writing: EACCES.
 *
 * The names are reserved at the root only: creating, removing or renaming
 * onto them fails with EPERM.  They are never stored in the engine and
 * their inode numbers (below HDB_FS_FIRST_INO) are fixed.
 *
 * Thread safety: stateless; the fs's own locking applies.
 */
#ifndef HDB_FS_VFILES_H
#define HDB_FS_VFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs.h"
#include "wbuf.h"

#define HDB_VFILE_CONTROL_INO 2u
/* Longest write /.control accepts: one page, which the kernel never splits. */
#define HDB_VFILE_CONTROL_WRITE_MAX 4096u
#define HDB_VFILE_STATS_INO 3u

/* The virtual file's inode for a root entry name, or 0. */
uint64_t hdb_vfile_by_name(const char *name);
bool hdb_vfile_is(uint64_t ino);
/* The i-th virtual file (for listing the root), or 0 past the last. */
uint64_t hdb_vfile_at(size_t i);
const char *hdb_vfile_name(uint64_t ino);

void hdb_vfile_stat(const hdb_fs *fs, uint64_t ino, struct stat *st);
/* Opens for flags (O_ACCMODE ...): fills content for reading.  -EACCES for
 * writing a read-only virtual file. */
int hdb_vfile_open(hdb_fs *fs, uint64_t ino, int flags, hdb_wbuf *content);
/* Runs the commands in buf[0..n) written to ino.  0 or a negative errno. */
int hdb_vfile_write(hdb_fs *fs, uint64_t ino, const char *buf, size_t n);

#endif
