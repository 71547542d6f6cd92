/*
 * keys.c — the fs key schema; the format itself is documented in
 * fs_format.h.
 */
#include "keys.h"

#include <string.h>
#include <sys/stat.h>

#include "coding.h"
#include "errors.h"
#include "hybriddb.h"

_Static_assert(HDB_FS_ENTRY_SIZE == 8 + 4 * 3 + 8 + 3 * 12, "entry value layout");
_Static_assert(HDB_FS_SUPER_SIZE == 4 + 4 + 6 * 8, "superblock layout");

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t hdb_fs_entry_key(uint8_t *key, uint64_t parent, const char *name, size_t nlen)
{
	if (nlen > HDB_FS_NAME_MAX)
		return 0;
	key[0] = HDB_FS_TAG_ENTRY;
	put_be64(key + 1, parent);
	if (nlen)
		memcpy(key + HDB_FS_KEY_PREFIX, name, nlen);
	return HDB_FS_KEY_PREFIX + nlen;
}

void hdb_fs_dir_bounds(uint8_t *lower, uint8_t *upper, uint64_t dir)
{
	lower[0] = HDB_FS_TAG_ENTRY;
	put_be64(lower + 1, dir);
	upper[0] = HDB_FS_TAG_ENTRY;
	put_be64(upper + 1, dir + 1);
}

size_t hdb_fs_data_key(uint8_t *key, uint64_t ino)
{
	key[0] = HDB_FS_TAG_DATA;
	put_be64(key + 1, ino);
	return HDB_FS_KEY_PREFIX;
}

size_t hdb_fs_ino_key(uint8_t *key, uint8_t tag, uint64_t ino)
{
	key[0] = tag;
	put_be64(key + 1, ino);
	return HDB_FS_KEY_PREFIX;
}

int hdb_fs_ino_key_decode(const uint8_t *key, size_t klen, uint8_t tag, uint64_t *ino)
{
	if (klen != HDB_FS_KEY_PREFIX || key[0] != tag) {
		hdb_set_errdetail("fs '%c' key of %zu bytes is malformed", tag, klen);
		return HDB_ECORRUPT;
	}
	*ino = get_be64(key + 1);
	return 0;
}

int hdb_fs_entry_key_decode(const uint8_t *key, size_t klen, uint64_t *parent, const uint8_t **name,
                            size_t *nlen)
{
	if (klen < HDB_FS_KEY_PREFIX || klen > HDB_FS_KEY_MAX || key[0] != HDB_FS_TAG_ENTRY) {
		hdb_set_errdetail("fs entry key of %zu bytes is malformed", klen);
		return HDB_ECORRUPT;
	}
	*parent = get_be64(key + 1);
	*name = key + HDB_FS_KEY_PREFIX;
	*nlen = klen - HDB_FS_KEY_PREFIX;
	return 0;
}

static void put_ts(uint8_t *p, hdb_fs_ts t)
{
	hdb_put_u64(p, (uint64_t)t.sec);
	hdb_put_u32(p + 8, t.nsec);
}

static hdb_fs_ts get_ts(const uint8_t *p)
{
	return (hdb_fs_ts){ .sec = (int64_t)hdb_get_u64(p), .nsec = hdb_get_u32(p + 8) };
}

void hdb_fs_attr_encode(uint8_t *val, const hdb_fs_attr *a)
{
	hdb_put_u64(val, a->ino);
	hdb_put_u32(val + 8, a->mode);
	hdb_put_u32(val + 12, a->uid);
	hdb_put_u32(val + 16, a->gid);
	hdb_put_u64(val + 20, a->size);
	put_ts(val + 28, a->atime);
	put_ts(val + 40, a->mtime);
	put_ts(val + 52, a->ctime);
}

static bool mode_ok(uint32_t mode)
{
	uint32_t type = mode & S_IFMT;
	return (type == S_IFREG || type == S_IFDIR || type == S_IFLNK) && !(mode & ~(uint32_t)(S_IFMT | 07777));
}

int hdb_fs_attr_decode(const uint8_t *val, size_t vlen, hdb_fs_attr *a)
{
	if (vlen != HDB_FS_ENTRY_SIZE) {
		hdb_set_errdetail("fs entry value of %zu bytes (expected %d)", vlen, HDB_FS_ENTRY_SIZE);
		return HDB_ECORRUPT;
	}
	a->ino = hdb_get_u64(val);
	a->mode = hdb_get_u32(val + 8);
	a->uid = hdb_get_u32(val + 12);
	a->gid = hdb_get_u32(val + 16);
	a->size = hdb_get_u64(val + 20);
	a->atime = get_ts(val + 28);
	a->mtime = get_ts(val + 40);
	a->ctime = get_ts(val + 52);
	if (!a->ino || !mode_ok(a->mode) || a->atime.nsec >= 1000000000u || a->mtime.nsec >= 1000000000u ||
	    a->ctime.nsec >= 1000000000u) {
		hdb_set_errdetail("fs entry value for inode %llu has a bad field", (unsigned long long)a->ino);
		return HDB_ECORRUPT;
	}
	return 0;
}

void hdb_fs_super_encode(uint8_t *val, const hdb_fs_super *s)
{
	hdb_put_u32(val, HDB_FS_MAGIC);
	hdb_put_u32(val + 4, s->version);
	hdb_put_u64(val + 8, s->next_ino);
	hdb_put_u64(val + 16, s->files);
	hdb_put_u64(val + 24, s->dirs);
	hdb_put_u64(val + 32, s->docs);
	hdb_put_u64(val + 40, s->symlinks);
	hdb_put_u64(val + 48, s->bytes);
}

int hdb_fs_super_decode(const uint8_t *val, size_t vlen, hdb_fs_super *s)
{
	if (vlen < 8 || hdb_get_u32(val) != HDB_FS_MAGIC) {
		hdb_set_errdetail("fs superblock: bad magic");
		return HDB_ECORRUPT;
	}
	s->version = hdb_get_u32(val + 4);
	if (s->version > HDB_FS_VERSION) {
		hdb_set_errdetail("fs format version %u is newer than this program's %u", s->version,
		                  HDB_FS_VERSION);
		return HDB_EVERSION;
	}
	if (vlen != HDB_FS_SUPER_SIZE || s->version == 0) {
		hdb_set_errdetail("fs superblock of %zu bytes, version %u, is malformed", vlen, s->version);
		return HDB_ECORRUPT;
	}
	s->next_ino = hdb_get_u64(val + 8);
	s->files = hdb_get_u64(val + 16);
	s->dirs = hdb_get_u64(val + 24);
	s->docs = hdb_get_u64(val + 32);
	s->symlinks = hdb_get_u64(val + 40);
	s->bytes = hdb_get_u64(val + 48);
	if (s->next_ino < HDB_FS_FIRST_INO || s->next_ino == UINT64_MAX) {
		hdb_set_errdetail("fs superblock: next inode %llu out of range", (unsigned long long)s->next_ino);
		return HDB_ECORRUPT;
	}
	return 0;
}

bool hdb_fs_is_doc_name(const char *name, size_t nlen)
{
	return nlen >= 5 && memcmp(name + nlen - 5, ".json", 5) == 0;
}
