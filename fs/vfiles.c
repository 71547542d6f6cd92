/*
 * vfiles.c — /.control and /.stats.
 */
#include "vfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "fs_internal.h"

static const struct {
	uint64_t ino;
	const char *name;
	mode_t mode;
} vfiles[] = {
	{ HDB_VFILE_CONTROL_INO, ".control", S_IFREG | 0600 },
	{ HDB_VFILE_STATS_INO, ".stats", S_IFREG | 0444 },
};

#define NVFILES (sizeof(vfiles) / sizeof(vfiles[0]))

_Static_assert(HDB_VFILE_STATS_INO < HDB_FS_FIRST_INO, "virtual inodes are reserved");

uint64_t hdb_vfile_by_name(const char *name)
{
	for (size_t i = 0; i < NVFILES; i++)
		if (!strcmp(vfiles[i].name, name))
			return vfiles[i].ino;
	return 0;
}

bool hdb_vfile_is(uint64_t ino)
{
	return ino > HDB_FS_ROOT_INO && ino < HDB_FS_FIRST_INO;
}

uint64_t hdb_vfile_at(size_t i)
{
	return i < NVFILES ? vfiles[i].ino : 0;
}

static int slot(uint64_t ino)
{
	for (size_t i = 0; i < NVFILES; i++)
		if (vfiles[i].ino == ino)
			return (int)i;
	return -1;
}

const char *hdb_vfile_name(uint64_t ino)
{
	int s = slot(ino);
	return s < 0 ? NULL : vfiles[s].name;
}

void hdb_vfile_stat(const hdb_fs *fs, uint64_t ino, struct stat *st)
{
	int s = slot(ino);
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = s < 0 ? S_IFREG : vfiles[s].mode;
	st->st_nlink = 1;
	st->st_uid = fs->opt.owner_uid;
	st->st_gid = fs->opt.owner_gid;
	st->st_blksize = 4096;
	if (ino == HDB_VFILE_CONTROL_INO)
		st->st_size = strlen(hdb_control_help);
	/* The mount's start: a stable time for tools that compare them. */
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = fs->mounted_at.sec;
	st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = fs->mounted_at.nsec;
}

int hdb_vfile_open(hdb_fs *fs, uint64_t ino, int flags, hdb_wbuf *content)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	if (ino == HDB_VFILE_STATS_INO) {
		if (writing)
			return -EACCES;
		char *json;
		int rc = hdb_fs_stats_json(fs, &json);
		if (rc)
			return rc;
		hdb_wbuf_adopt(content, json, strlen(json));
		return 0;
	}
	if (ino != HDB_VFILE_CONTROL_INO)
		return -ENOENT;
	char *help = strdup(hdb_control_help);
	if (!help)
		return -ENOMEM;
	hdb_wbuf_adopt(content, help, strlen(hdb_control_help));
	return 0;
}

static int cmd_compact(hdb_db *db)
{
	return hdb_compact_range(db, NULL, 0, NULL, 0);
}

static int cmd_checkpoint(hdb_db *db)
{
	int rc = hdb_flush(db);
	return rc ? rc : hdb_sync(db);
}

static int run(hdb_db *db, enum hdb_control_cmd c)
{
	switch (c) {
	case HDB_CONTROL_COMPACT:
		return cmd_compact(db);
	case HDB_CONTROL_FLUSH:
		return hdb_flush(db);
	case HDB_CONTROL_SYNC:
		return hdb_sync(db);
	case HDB_CONTROL_CHECKPOINT:
		return cmd_checkpoint(db);
	default:
		return -EINVAL;
	}
}

int hdb_vfile_write(hdb_fs *fs, uint64_t ino, const char *buf, size_t n)
{
	if (ino != HDB_VFILE_CONTROL_INO)
		return -EACCES;
	if (fs->opt.read_only)
		return -EROFS;
	if (n > HDB_VFILE_CONTROL_WRITE_MAX) {
		hdb_fs_log(".control: a write of %zu bytes (at most %u): nothing run", n,
			   HDB_VFILE_CONTROL_WRITE_MAX);
		return -EINVAL;
	}
	/* The whole write is parsed first, so a write with a bad word runs
	 * nothing (control.h). */
	enum hdb_control_cmd cmds[HDB_CONTROL_MAX_WORDS];
	size_t ncmds, bad, badlen;
	if (hdb_control_parse(buf, n, cmds, &ncmds, &bad, &badlen)) {
		hdb_fs_log(".control: unknown command \"%.*s\"", (int)(badlen > 64 ? 64 : badlen), buf + bad);
		return -EINVAL;
	}
	for (size_t i = 0; i < ncmds; i++) {
		int rc = run(fs->db, cmds[i]);
		if (rc) {
			hdb_fs_log(".control: %s failed: %s", hdb_control_name(cmds[i]), hdb_strerror(rc));
			return -hdb_fs_errno(rc);
		}
	}
	return 0;
}
