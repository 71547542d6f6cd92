/*
 * options.h — the `hybriddb mount` configuration and its -o option lists.
 *
 * Options of our own (sync=, memtable_size=, cache_size=, max_doc_size=,
 * compression=, ro, noatime) set engine and fs options; the options mount(8)
 * adds on its own (rw, defaults, auto, _netdev, x-*, ...) are dropped; every
 * other option goes to libfuse unchanged (allow_other, auto_unmount,
 * fsname=, ...), which rejects what it does not know.
 *
 * Thread safety: none needed (used before any thread starts).
 */
#ifndef HDB_MOUNT_OPTIONS_H
#define HDB_MOUNT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "hybriddb.h"

/* A mount's engine defaults where they differ from hdb_options_init's. */
#define HDB_MOUNT_MEMTABLE_SIZE ((size_t)16 << 20)
#define HDB_MOUNT_CACHE_SIZE ((size_t)32 << 20)

typedef struct hdb_mount_cfg {
	const char *data;  /* data directory, as given */
	const char *mnt;   /* mount point, as given */
	bool foreground;   /* -f: stay attached, log to stderr */
	bool debug;        /* -d: foreground plus libfuse's request trace */
	hdb_options eng;
	hdb_fs_opts fs;
	char *fuse_opts;   /* malloc'd comma list for libfuse, or NULL */
	bool clone_fd;     /* each worker thread reads its own /dev/fuse
	                      clone (BENCHMARKS.md: no faster here; off) */
} hdb_mount_cfg;

void hdb_mount_cfg_init(hdb_mount_cfg *c);
void hdb_mount_cfg_free(hdb_mount_cfg *c);

/* Applies a comma-separated option list.  0, -ENOMEM, or -EINVAL with a
 * one-line reason in err. */
int hdb_mount_apply_opts(hdb_mount_cfg *c, const char *list, char *err, size_t errlen);

/* Parses a byte count: digits with an optional k, M or G suffix (powers of
 * 1024, either case) and an optional trailing 'B'.  0 or -EINVAL. */
int hdb_parse_size(const char *s, uint64_t *out);

#endif
