/*
 * park.h — parking an open until other processes' page-cache readers are
 * gone (park.c).  Include after defining FUSE_USE_VERSION.
 */
#ifndef HDB_FS_PARK_H
#define HDB_FS_PARK_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "fs_internal.h"

/* For an open that rewrites in place (fh->rewriter, fi set up): true when
 * it was parked, and its reply (fuse_reply_open, or a release of fh when
 * that fails) will be sent once no other process reads the file through
 * the page cache, or after FS_REWRITE_WAIT_MS; false when the caller
 * answers now. */
bool fs_park_open(hdb_fs *fs, fuse_req_t req, const struct fuse_file_info *fi, fs_fh *fh);

#endif
