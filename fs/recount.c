/*
 * recount.c — the superblock rebuilt from the other keys, for a mount whose
 * superblock key cannot be read (fs_format.h, "A superblock that cannot be
 * read").
 *
 * Decisions: the counters come from one scan of the entries ('E'): regular
 * files with their entry's size, documents among them, directories (the
 * root excluded) and symlinks; next_ino is one above the largest inode
 * number of an entry or an orphan record ('O'), so no number in use or
 * still owning content is handed out again.  The format version is the
 * lowest one that explains the key tags present, found by seeking from one
 * tag to the next (content is not read): 3 when schema keys ('S') exist
 * or their range cannot be read, else 2 when index keys ('I', 'X') do (or
 * cannot be read), else 1; an unknown tag means a newer format.  Nothing is written: fs->sb takes the result and the next change
 * writes it, as it would anyway.
 *
 * Thread safety: runs once in hdb_fs_new, before any operation.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "errors.h"
#include "fs_internal.h"
#include "keys.h"

static bool known_tag(uint8_t tag)
{
	return tag == HDB_FS_KEY_SUPER[0] || tag == HDB_FS_TAG_DATA || tag == HDB_FS_TAG_ENTRY ||
	       tag == HDB_FS_TAG_PENDING || tag == HDB_FS_TAG_ORPHAN || tag == HDB_FS_TAG_INDEX ||
	       tag == HDB_FS_TAG_IENTRY || tag == HDB_FS_TAG_SCHEMA;
}

/* The lowest format version that has keys with this tag. */
static uint32_t version_of_tag(uint8_t tag)
{
	if (tag == HDB_FS_TAG_SCHEMA)
		return HDB_FS_VERSION_TABLES;
	if (tag == HDB_FS_TAG_INDEX || tag == HDB_FS_TAG_IENTRY)
		return HDB_FS_VERSION_INDEXES;
	return 1;
}

/* The first byte of the first key at or after tag into *first (-1: no
 * such key).  A fresh iterator each time: an iterator stays failed once a
 * block it read failed. */
static int first_tag_from(hdb_fs *fs, uint8_t tag, int *first)
{
	hdb_iter *it;
	int rc = hdb_iter_new(fs->db, NULL, &it);
	if (rc)
		return rc;
	hdb_iter_seek(it, &tag, 1);
	rc = hdb_iter_status(it);
	*first = -1;
	if (!rc && hdb_iter_valid(it)) {
		size_t kl;
		const uint8_t *k = hdb_iter_key(it, &kl);
		*first = kl ? k[0] : 0;
	}
	hdb_iter_free(it);
	return rc;
}

/* The format version the key tags call for.  A tag range that cannot be
 * read is skipped, except that unreadable index ranges count as present. */
static int version_from_tags(hdb_fs *fs, uint32_t *version)
{
	*version = 1;
	for (unsigned tag = 0; tag < 256;) {
		int first;
		int rc = first_tag_from(fs, (uint8_t)tag, &first);
		if (rc == HDB_ECORRUPT) {
			if (version_of_tag((uint8_t)tag) > *version)
				*version = version_of_tag((uint8_t)tag);
			tag++;
			continue;
		}
		if (rc)
			return rc;
		if (first < 0)
			break;
		if (!known_tag((uint8_t)first)) {
			hdb_set_errdetail("fs key with unknown tag 0x%02x and no readable superblock", first);
			return HDB_EVERSION;
		}
		if (version_of_tag((uint8_t)first) > *version)
			*version = version_of_tag((uint8_t)first);
		tag = (unsigned)first + 1;
	}
	return 0;
}

static int count_entry(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	hdb_fs_super *sb = ctx;
	uint64_t parent;
	const uint8_t *name;
	size_t nlen;
	hdb_fs_attr a;
	int rc = hdb_fs_entry_key_decode(k, kl, &parent, &name, &nlen);
	if (!rc)
		rc = hdb_fs_attr_decode(v, vl, &a);
	if (rc)
		return rc;
	if (a.ino >= sb->next_ino)
		sb->next_ino = a.ino + 1;
	if (a.ino == HDB_FS_ROOT_INO)
		return 0;
	if (S_ISDIR(a.mode)) {
		sb->dirs++;
	} else if (S_ISLNK(a.mode)) {
		sb->symlinks++;
	} else {
		sb->files++;
		sb->bytes += a.size;
		sb->docs += hdb_fs_is_doc_name((const char *)name, nlen);
	}
	return 0;
}

static int count_orphan(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	hdb_fs_super *sb = ctx;
	uint64_t ino;
	(void)v;
	(void)vl;
	int rc = hdb_fs_ino_key_decode(k, kl, HDB_FS_TAG_ORPHAN, &ino);
	if (!rc && ino >= sb->next_ino)
		sb->next_ino = ino + 1;
	return rc;
}

int fs_recount_super(hdb_fs *fs, hdb_fs_super *sb)
{
	*sb = (hdb_fs_super){ .version = HDB_FS_VERSION, .next_ino = HDB_FS_FIRST_INO };
	int rc = version_from_tags(fs, &sb->version);
	if (!rc)
		rc = fs_scan_tag(fs, HDB_FS_TAG_ENTRY, count_entry, sb, NULL);
	if (!rc)
		rc = fs_scan_tag(fs, HDB_FS_TAG_ORPHAN, count_orphan, sb, NULL);
	return rc;
}
