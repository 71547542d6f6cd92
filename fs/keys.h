/*
 * keys.h — encoding and decoding of the fs key schema (see fs_format.h).
 *
 * Encoders write into caller buffers of fixed maximum size and cannot fail
 * except on a name that is too long.  Decoders treat their input as hostile:
 * every length and field is checked, and a bad value yields HDB_ECORRUPT
 * with a detail naming the key (hdb_errdetail()).
 *
 * Thread safety: no state; call from any thread.
 */
#ifndef HDB_FS_KEYS_H
#define HDB_FS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_format.h"

typedef struct hdb_fs_ts {
	int64_t sec;
	uint32_t nsec; /* < 1e9 */
} hdb_fs_ts;

/* What an entry value holds. */
typedef struct hdb_fs_attr {
	uint64_t ino;
	uint32_t mode; /* S_IFREG, S_IFDIR or S_IFLNK | permission bits */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	hdb_fs_ts atime;
	hdb_fs_ts mtime;
	hdb_fs_ts ctime;
} hdb_fs_attr;

/* What the superblock holds. */
typedef struct hdb_fs_super {
	uint32_t version;
	uint64_t next_ino;
	uint64_t files;
	uint64_t dirs;
	uint64_t docs;
	uint64_t symlinks;
	uint64_t bytes;
} hdb_fs_super;

/* Encodes 'E'|parent|name into key[HDB_FS_KEY_MAX]; returns its length, or
 * 0 when name is longer than HDB_FS_NAME_MAX. */
size_t hdb_fs_entry_key(uint8_t *key, uint64_t parent, const char *name, size_t nlen);
/* The range bounds of directory dir's listing: 'E'|dir and 'E'|dir+1
 * (HDB_FS_KEY_PREFIX bytes each). */
void hdb_fs_dir_bounds(uint8_t *lower, uint8_t *upper, uint64_t dir);
/* Encodes 'D'|ino into key[HDB_FS_KEY_PREFIX]; returns its length. */
size_t hdb_fs_data_key(uint8_t *key, uint64_t ino);

/* Encodes tag|ino ('P' pending, 'O' orphan) into key[HDB_FS_KEY_PREFIX];
 * returns its length. */
size_t hdb_fs_ino_key(uint8_t *key, uint8_t tag, uint64_t ino);
/* The inode of a 'D' or 'P' key; HDB_ECORRUPT when malformed. */
int hdb_fs_ino_key_decode(const uint8_t *key, size_t klen, uint8_t tag, uint64_t *ino);

/* Splits an entry key into parent and name (pointing into key).  Returns 0
 * or HDB_ECORRUPT. */
int hdb_fs_entry_key_decode(const uint8_t *key, size_t klen, uint64_t *parent, const uint8_t **name,
                            size_t *nlen);

void hdb_fs_attr_encode(uint8_t *val, const hdb_fs_attr *a); /* HDB_FS_ENTRY_SIZE bytes */
int hdb_fs_attr_decode(const uint8_t *val, size_t vlen, hdb_fs_attr *a);

void hdb_fs_super_encode(uint8_t *val, const hdb_fs_super *s); /* HDB_FS_SUPER_SIZE bytes */
/* HDB_ECORRUPT on a bad length, magic or field; HDB_EVERSION when written
 * by a newer format version. */
int hdb_fs_super_decode(const uint8_t *val, size_t vlen, hdb_fs_super *s);

/* True for names ending in ".json" (".json" itself included): documents,
 * whose content must be valid JSON whenever it is committed. */
bool hdb_fs_is_doc_name(const char *name, size_t nlen);

#endif
