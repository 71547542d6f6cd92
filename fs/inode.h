/*
 * inode.h — the in-memory inode table: every inode the kernel holds a
 * reference to, with its place in the tree, and the state of the inodes
 * in use.
 *
 * The kernel names inodes by number in most requests (getattr, open, read,
 * setattr ...), but the fs keys entries by (parent, name).  The table maps
 * the number back to the entry key.
 *
 * Idle and loaded inodes.  The kernel keeps a dentry, so a reference, for
 * every file it has seen (after `cp -r` or `ls -l` of a million documents,
 * a million of them), and the daemon keeps an inode for each reference, so
 * an idle inode holds only what is needed to find its entry: number,
 * parent, name, lookup count, file type and flags, in 56 bytes with a
 * name of up to 15 bytes inline.  Its attributes are read from its entry
 * when asked for (the kernel caches them, so that is rare).  An inode in
 * use carries its attributes and its open state in an hdb_inode_ext
 * (`x`): every directory (touched by every change inside it), the root,
 * an inode with open handles or a creation not finished, and an unlinked
 * inode (its entry is gone).  While x is there its attributes are
 * authoritative: every change passes through this daemon and updates them
 * (fs_txn_write), so getattr of an open file never reads the engine.  x
 * is dropped again (hdb_itable_drop_unused) when nothing needs it.
 *
 * Lifetime: an inode enters with its first lookup (lookup, create, mkdir,
 * symlink, mknod, readdirplus) and leaves when the kernel has forgotten
 * every lookup and no file handle is open on it.  Pinned inodes (the root,
 * and an inode whose lookup count would pass 2^32 - 1) never leave.
 *
 * Thread safety: one mutex guards the table and every field of every
 * inode in it; all functions except hdb_itable_new/free/lock/unlock
 * REQUIRE it held.  An hdb_inode pointer is valid only while the lock is
 * held (or while the caller holds a reference that keeps it: nlookup > 0
 * or nopen > 0, and then only its fields under the lock).  The epoch is a
 * sequence count over changes: odd from when a change is in the engine
 * until the table reflects it (hdb_itable_change_begin/end), so a reader
 * of an idle inode's entry with the lock dropped keeps what it read only
 * if the epoch was even and did not move meanwhile (fs_read_idle).
 *
 * Invariants: nlookup + nopen > 0 or pinned, for every inode in the table;
 * the name is NUL-terminated and nlen == strlen(name); x != NULL for
 * directories, pinned, unlinked and open inodes.
 */
#ifndef HDB_FS_INODE_H
#define HDB_FS_INODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

struct fs_fh;

/* The state of an inode in use (see above). */
typedef struct hdb_inode_ext {
	hdb_fs_attr attr;       /* live attributes; size is the committed size */
	uint64_t dsize;         /* content length committed to the engine */
	uint64_t cgen;          /* generation of the committed content: bumped
	                           by every commit that changes it */
	struct fs_fh *writers;  /* open handles holding uncommitted writes
	                           (fs_fh.wnext); the fs layer's */
	struct fs_fh *readers;  /* open readers served from the page cache
	                           (fs_fh.rnext) */
	uint32_t nopen;         /* open file handles */
	uint32_t ndirty;        /* length of writers */
	uint32_t nrewrite;      /* open handles writing it in place (not created
	                           by them): new readers bypass the page cache */
	uint32_t npush;         /* opens handing the content to the kernel now
	                           (fs_file_push): other opens meanwhile bypass
	                           the page cache */
	int creator;            /* pending: the creating thread (fuse ctx pid),
	                           0 if unknown */
	bool pending;           /* a document created by an open that has not
	                           finished: its 'P' record exists */
	bool kcached;           /* the kernel may hold this file's pages (a
	                           keep_cache open, or it was idle): a content
	                           commit must invalidate them */
} hdb_inode_ext;

#define HDB_INODE_NAME_INLINE 16 /* names shorter than this live inline */

typedef struct hdb_inode {
	uint64_t ino;
	uint64_t parent;        /* parent directory; 0 for the root */
	struct hdb_inode *next; /* hash chain */
	hdb_inode_ext *x;       /* NULL while idle */
	uint32_t nlookup;       /* lookups the kernel has not forgotten */
	uint8_t nlen;           /* strlen(name) */
	uint8_t type;           /* the file type: mode's S_IFMT bits >> 12 */
	bool unlinked : 1;      /* entry removed while still referenced */
	bool pinned : 1;        /* never dropped */
	bool orphan : 1;        /* unlinked while referenced: its content stays
	                           (with an 'O' record) until it is dropped */
	union {
		char in[HDB_INODE_NAME_INLINE]; /* nlen < HDB_INODE_NAME_INLINE */
		char *out;                       /* otherwise, malloc'd */
	} nm;
} hdb_inode;

/* The entry name ("" for the root), NUL-terminated. */
static inline const char *hdb_inode_name(const hdb_inode *i)
{
	return i->nlen < HDB_INODE_NAME_INLINE ? i->nm.in : i->nm.out;
}

/* The file type bits of the mode (S_IFREG, S_IFDIR, S_IFLNK). */
static inline uint32_t hdb_inode_type(const hdb_inode *i)
{
	return (uint32_t)i->type << 12;
}

typedef struct hdb_itable hdb_itable;

int hdb_itable_new(hdb_itable **out);
/* Frees the table and every inode in it.  No lock needed: no other user. */
void hdb_itable_free(hdb_itable *t);

void hdb_itable_lock(hdb_itable *t);
void hdb_itable_unlock(hdb_itable *t);

/* The inode numbered ino, or NULL. */
hdb_inode *hdb_itable_get(hdb_itable *t, uint64_t ino);

/*
 * Takes n lookup references on inode attr->ino, inserting it from
 * (parent, name, attr) when absent: idle, unless it is a directory or
 * load is set (then with x holding attr).  An inode already present keeps
 * its own attributes and place (they are newer than any read from the
 * engine), and gets x from attr if load is set and it has none.  Returns 0
 * or -ENOMEM; *out (may be NULL) gets the inode.
 */
int hdb_itable_ref(hdb_itable *t, uint64_t parent, const char *name, size_t nlen, const hdb_fs_attr *attr,
                   uint64_t n, bool load, hdb_inode **out);

/* Gives ino an x holding attr (its attributes as stored) if it has none;
 * the kernel may hold its pages.  The x is *spare when spare and *spare
 * are not NULL (it passes to the inode: *spare becomes NULL), so that it
 * cannot fail; else allocated.  0 or -ENOMEM. */
int hdb_inode_load(hdb_itable *t, hdb_inode *ino, const hdb_fs_attr *attr, hdb_inode_ext **spare);

/* The epoch; a change begins (makes it odd unless it is) and ends (makes
 * it even unless it is). */
uint64_t hdb_itable_epoch(const hdb_itable *t);
void hdb_itable_change_begin(hdb_itable *t);
void hdb_itable_change_end(hdb_itable *t);

/* Drops n lookup references (the kernel's forget); frees the inode when
 * nothing references it any more.  Returns true when it freed an orphan,
 * whose content the caller must now delete. */
bool hdb_itable_forget(hdb_itable *t, uint64_t ino, uint64_t n);

/* Frees ino if nothing references it any more (after nopen drops), else
 * drops its x if nothing needs it; same return as hdb_itable_forget. */
bool hdb_itable_drop_unused(hdb_itable *t, hdb_inode *ino);

/* Moves the inode to (parent, name).  name is malloc'd, NUL-terminated,
 * and passes to the inode, which frees it if it keeps the name inline
 * (allocated before the change is committed, so that applying a committed
 * rename cannot fail). */
void hdb_inode_set_name(hdb_inode *ino, uint64_t parent, char *name);

/* Inodes in the table, and how many of them are loaded (have x). */
size_t hdb_itable_count(const hdb_itable *t);
size_t hdb_itable_loaded(const hdb_itable *t);

#endif
