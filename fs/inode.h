/*
 * inode.h — the in-memory inode table: every inode the kernel holds a
 * reference to, with its place in the tree and its attributes.
 *
 * The kernel names inodes by number in most requests (getattr, open, read,
 * setattr ...), but the fs keys entries by (parent, name).  The table maps
 * the number back to the entry key, and it caches the attributes: every
 * change passes through this daemon, so the cached attributes are
 * authoritative and getattr never reads the engine.
 *
 * Lifetime: an inode enters with its first lookup (lookup, create, mkdir,
 * symlink, mknod, readdirplus) and leaves when the kernel has forgotten
 * every lookup and no file handle is open on it.  Pinned inodes (the root)
 * never leave.
 *
 * Thread safety: one mutex guards the table and every field of every
 * inode in it; all functions except hdb_itable_new/free/lock/unlock
 * REQUIRE it held.  An hdb_inode pointer is valid only while the lock is
 * held (or while the caller holds a reference that keeps it: nlookup > 0
 * or nopen > 0, and then only its fields under the lock).
 *
 * Invariants: nlookup + nopen > 0 or pinned, for every inode in the table;
 * name is NUL-terminated and nlen == strlen(name).
 */
#ifndef HDB_FS_INODE_H
#define HDB_FS_INODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

struct fs_fh;

typedef struct hdb_inode {
	uint64_t ino;
	uint64_t parent;        /* parent directory; 0 for the root */
	char *name;             /* entry name, malloc'd; "" for the root */
	size_t nlen;            /* strlen(name) */
	uint64_t nlookup;       /* lookups the kernel has not forgotten */
	uint32_t nopen;         /* open file handles */
	uint32_t ndirty;        /* open handles holding uncommitted writes */
	struct fs_fh *writers;  /* those handles (fs_fh.wnext); the fs layer's */
	struct fs_fh *readers;  /* open readers served from the page cache
	                           (fs_fh.rnext) */
	uint32_t nrewrite;      /* open handles writing it in place (not created
	                           by them): new readers bypass the page cache */
	bool unlinked;          /* entry removed while still referenced */
	bool pinned;            /* never dropped (the root) */
	bool pending;           /* a document created by an open that has not
	                           finished: its 'P' record exists */
	int creator;            /* pending: the creating thread (fuse ctx pid),
	                           0 if unknown */
	bool orphan;            /* unlinked while referenced: its content stays
	                           (with an 'O' record) until it is dropped */
	uint64_t cgen;          /* generation of the committed content: bumped
	                           by every commit that changes it */
	bool kcached;           /* the kernel may hold this file's pages (a
	                           keep_cache open): a content commit must
	                           invalidate them */
	hdb_fs_attr attr;       /* live attributes; size is the committed size */
	uint64_t dsize;         /* content length committed to the engine */
	struct hdb_inode *next; /* hash chain */
} hdb_inode;

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
 * (parent, name, attr) when absent.  An inode already present keeps its own
 * attributes and place (they are newer than any read from the engine).
 * Returns 0 or -ENOMEM; *out (may be NULL) gets the inode.
 */
int hdb_itable_ref(hdb_itable *t, uint64_t parent, const char *name, size_t nlen, const hdb_fs_attr *attr,
                   uint64_t n, hdb_inode **out);

/* Drops n lookup references (the kernel's forget); frees the inode when
 * nothing references it any more.  Returns true when it freed an orphan,
 * whose content the caller must now delete. */
bool hdb_itable_forget(hdb_itable *t, uint64_t ino, uint64_t n);

/* Frees ino if nothing references it any more (after nopen drops); same
 * return as hdb_itable_forget. */
bool hdb_itable_drop_unused(hdb_itable *t, hdb_inode *ino);

/* Moves the inode to (parent, name).  name is malloc'd, NUL-terminated,
 * and passes to the inode (allocated before the change is committed, so
 * that applying a committed rename cannot fail). */
void hdb_inode_set_name(hdb_inode *ino, uint64_t parent, char *name);

size_t hdb_itable_count(const hdb_itable *t);

#endif
