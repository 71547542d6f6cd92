/*
 * fs_dir.h — open directories and their listings (readdir, readdirplus).
 *
 * Thread safety: a handle has its own mutex; the kernel may use it from
 * any worker thread.
 */
#ifndef HDB_FS_DIR_H
#define HDB_FS_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fs_internal.h"

typedef struct fs_dh fs_dh;

/* -ENOENT, -ENOTDIR, -ENOMEM or 0 with *out owned by the caller. */
int fs_dir_open(hdb_fs *fs, uint64_t ino, fs_dh **out);
void fs_dir_release(hdb_fs *fs, fs_dh *dh);

/*
 * Fills a reply of at most size bytes with the entries after offset off
 * (req is the fuse_req_t, needed by libfuse's entry encoders).  With plus,
 * every stored entry in the reply carries a lookup reference.  On success
 * *buf (malloc'd, caller frees) holds *len bytes; 0 bytes is end of
 * directory.
 */
int fs_dir_fill(hdb_fs *fs, void *req, fs_dh *dh, size_t size, off_t off, bool plus, char **buf, size_t *len);

#endif
