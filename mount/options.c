/*
 * options.c — parsing of `hybriddb mount -o` lists.
 */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MEMTABLE (64u << 10)
#define MAX_DOC_LIMIT (1ull << 30)

void hdb_mount_cfg_init(hdb_mount_cfg *c)
{
	memset(c, 0, sizeof(*c));
	hdb_options_init(&c->eng);
	/* A mount ingests at the pace of FUSE round trips (a few MB/s), which
	 * a small MemTable absorbs, and keeps an inode for every file the
	 * kernel holds: smaller buffers keep the daemon within its memory
	 * budget (BENCHMARKS.md: 128 MiB with a million documents). */
	c->eng.memtable_size = HDB_MOUNT_MEMTABLE_SIZE;
	c->eng.cache_size = HDB_MOUNT_CACHE_SIZE;
	hdb_fs_opts_init(&c->fs);
}

void hdb_mount_cfg_free(hdb_mount_cfg *c)
{
	free(c->fuse_opts);
	c->fuse_opts = NULL;
}

int hdb_parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (shift && end[0] == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Options mount(8) and mount.fuse3 put in the list for themselves. */
static bool is_mount8_noise(const char *o)
{
	static const char *const noise[] = {
		"rw", "dev", "suid", "exec", "auto", "noauto", "nouser", "user", "users", "async",
		"defaults", "_netdev", "nofail", "relatime", "strictatime", "atime", "loud",
	};
	if (!strncmp(o, "x-", 2) || !strncmp(o, "comment=", 8) || !strncmp(o, "user=", 5))
		return true;
	for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
		if (!strcmp(o, noise[i]))
			return true;
	return false;
}

static int append_fuse_opt(hdb_mount_cfg *c, const char *o)
{
	size_t old = c->fuse_opts ? strlen(c->fuse_opts) : 0, n = strlen(o);
	char *s = realloc(c->fuse_opts, old + n + 2);
	if (!s)
		return -ENOMEM;
	if (old)
		s[old++] = ',';
	memcpy(s + old, o, n + 1);
	c->fuse_opts = s;
	return 0;
}

static int size_opt(const char *val, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	if (hdb_parse_size(val, &v) || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* One option; *ours tells whether it was one of ours. */
static int apply_one(hdb_mount_cfg *c, const char *o, bool *ours)
{
	const char *eq = strchr(o, '=');
	size_t klen = eq ? (size_t)(eq - o) : strlen(o);
	const char *val = eq ? eq + 1 : NULL;
	uint64_t v;
	*ours = true;
#define KEY(k) (klen == strlen(k) && !strncmp(o, k, klen))
	if (KEY("sync") && val) {
		c->fs.sync_always = !strcmp(val, "always");
		/* With sync=always the fs calls hdb_sync after each commit, outside
		 * its commit lock, so concurrent closes share one fsync. */
		if (!strcmp(val, "always") || !strcmp(val, "periodic"))
			c->eng.sync = HDB_SYNC_PERIODIC;
		else if (!strcmp(val, "never"))
			c->eng.sync = HDB_SYNC_NEVER;
		else
			return -EINVAL;
		return 0;
	}
	if (KEY("memtable_size")) {
		if (size_opt(val, MIN_MEMTABLE, SIZE_MAX, &v))
			return -EINVAL;
		c->eng.memtable_size = (size_t)v;
		return 0;
	}
	if (KEY("cache_size")) {
		if (size_opt(val, 0, SIZE_MAX, &v))
			return -EINVAL;
		c->eng.cache_size = (size_t)v;
		return 0;
	}
	if (KEY("clone_fd") && !val) {
		c->clone_fd = true;
		return 0;
	}
	if (KEY("splice") && !val) {
		c->fs.splice = true;
		return 0;
	}
	if (KEY("max_doc_size"))
		return size_opt(val, 1, MAX_DOC_LIMIT, &c->fs.max_doc_size);
	if (KEY("compression") && val) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return -EINVAL;
		c->eng.compression = !strcmp(val, "on");
		return 0;
	}
	if (KEY("ro") && !val) {
		c->fs.read_only = c->eng.read_only = true;
		*ours = false; /* the kernel mount is read-only too */
		return 0;
	}
	if (KEY("noatime") && !val) {
		c->fs.noatime = true;
		return 0;
	}
#undef KEY
	*ours = false;
	return 0;
}

int hdb_mount_apply_opts(hdb_mount_cfg *c, const char *list, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int rc = 0;
	for (char *o = strtok_r(copy, ",", &save); o && !rc; o = strtok_r(NULL, ",", &save)) {
		bool ours;
		if (is_mount8_noise(o))
			continue;
		rc = apply_one(c, o, &ours);
		if (rc == -EINVAL)
			snprintf(err, errlen, "bad option value: %s", o);
		else if (!rc && !ours)
			rc = append_fuse_opt(c, o);
	}
	free(copy);
	return rc;
}
