/*
 * fs_format.h — how the file system is laid out in the engine's key space.
 *
 * The engine stores byte-string keys ordered by memcmp; the fs owns the
 * schema below.  Integers inside KEYS are big-endian, so that numeric order
 * is byte order and one directory's entries form one contiguous range.
 * Integers inside VALUES are little-endian, like every other on-disk integer
 * in hybriddb (engine/coding.h).  The engine checksums every record and
 * block, so values carry no checksum of their own.
 *
 * Keys
 * ----
 *   superblock   "\0super"                          (6 bytes)
 *   entry        'E' | parent ino u64 BE | name     (9 + 0..255 bytes)
 *   content      'D' | ino u64 BE                   (9 bytes)
 *   pending      'P' | ino u64 BE                   (9 bytes)
 *   orphan       'O' | ino u64 BE                   (9 bytes, empty value)
 *   index def    'I' | coll ino u64 BE | field       (9 + 1..255 bytes)
 *   index entry  'X' | coll ino u64 BE | field | 0x00 | value | name
 *                                                   (empty value)
 *   schema       'S' | coll ino u64 BE              (9 bytes)
 *
 *   The root directory (ino 1) has the entry 'E' | 0 | "" (parent 0, empty
 *   name).  No directory has ino 0, so the root's entry lies in no listing.
 *   A directory's listing is the range ['E'|ino, 'E'|ino+1).  Renaming a
 *   directory rewrites its own entry only: children are keyed by its ino.
 *   Hard links are refused, so every inode has exactly one entry and its
 *   attributes live in that entry's value (as in TableFS): `ls -l` is one
 *   range scan with no further reads.
 *
 * Superblock value (HDB_FS_SUPER_SIZE = 56 bytes, LE)
 * ---------------------------------------------------
 *   off  size  field
 *     0     4  magic        HDB_FS_MAGIC ("HDBF" read as LE u32)
 *     4     4  version      HDB_FS_VERSION; a larger one is refused
 *     8     8  next_ino     next inode number to hand out (never reused)
 *    16     8  files        regular files (documents included)
 *    24     8  dirs         directories, the root excluded (collections)
 *    32     8  docs         regular files whose name ends in ".json"
 *    40     8  symlinks     symbolic links
 *    48     8  bytes        content bytes of all regular files
 *
 *   The superblock is rewritten in the same atomic batch as every change
 *   that moves a counter or allocates an inode number, so it is exact after
 *   any crash and statfs never scans.
 *
 * A superblock that cannot be read
 * --------------------------------
 *   When the superblock's key fails its checksum (HDB_ECORRUPT), a mount
 *   logs it and rebuilds it from the other keys (fs/recount.c) instead of
 *   refusing the database: files, dirs, docs, symlinks and bytes from one
 *   scan of the entries (sizes from the entries' attributes); next_ino one
 *   above the largest inode of an entry or an orphan record.  The version
 *   field is decided from the key tags present: 3 when 'S' keys exist,
 *   else 2 when 'I' or 'X' keys do (a range that cannot be read counts as
 *   present), else 1, the lowest version that
 *   reads the keys correctly, so that a version-1 database stays readable
 *   by a version-1 program; a tag this version does not know means a newer
 *   format, refused as a newer version field would be.  Nothing is written
 *   at mount: the next change that carries the superblock writes the
 *   rebuilt one.  Keys in the damaged block keep failing with EIO.
 *
 *   A mount that cannot read what its writes depend on (entries for the
 *   recount, pending or orphan records, index definitions) logs it and
 *   serves read-only: reads work for everything undamaged and fail with
 *   EIO for the rest, and changes fail with EROFS.  A damaged root entry
 *   refuses the mount.
 *
 * Entry value (HDB_FS_ENTRY_SIZE = 64 bytes, LE)
 * ----------------------------------------------
 *   off  size  field
 *     0     8  ino
 *     8     4  mode         file type and permission bits (S_IFREG, S_IFDIR
 *                           or S_IFLNK only)
 *    12     4  uid
 *    16     4  gid
 *    20     8  size         content length (regular files, symlinks; 0 for
 *                           directories); the 'D' value is authoritative
 *    28     8  atime sec    signed, two's complement
 *    36     4  atime nsec   < 1e9
 *    40     8  mtime sec
 *    48     4  mtime nsec
 *    52     8  ctime sec
 *    60     4  ctime nsec
 *
 * Content value
 * -------------
 *   The file's bytes exactly, or a symlink's target (no NUL).  An empty
 *   regular file may have no content key.
 *
 * Pending value
 * -------------
 *   The entry key ('E'|parent|name) of a document created by an open that
 *   has not finished: written in the batch that creates the entry, moved by
 *   renames, deleted by the batch of the first commit of content or by the
 *   creating handle's release.  A mount (read-write) removes every document
 *   that is still pending, with its entry, and fixes the counters: a crash
 *   never leaves behind a document that was created but never closed.
 *
 * Orphan records
 * --------------
 *   A file removed (unlink, or replaced by a rename) while the kernel still
 *   references it keeps its content key, so that an open racing with the
 *   removal reads the old bytes as POSIX wants.  The removal's batch writes
 *   'O'|ino; the batch that deletes the content when the kernel forgets the
 *   inode deletes it too; a mount deletes the content of every orphan left
 *   by a crash.  Orphans are not counted in the superblock.
 *
 * Secondary indexes (format version 2)
 * ------------------------------------
 *   An index is defined per collection (directory) coll on one field, the
 *   dotted path of query.h with its %XX escapes decoded (1..255 bytes, no
 *   NUL).  Its definition is the 'I' key; its value:
 *     off  size  field
 *       0     1  state   0 building, 1 ready, 2 dropping
 *       1     *  cursor  building: the name of the last entry of coll whose
 *                        documents the build has indexed (empty: none yet);
 *                        otherwise empty
 *   An index entry exists for every document of coll (a regular file named
 *   "*.json" directly in coll) whose committed content has the field with
 *   a null, boolean, number or string value; value is that value's
 *   order-preserving encoding (query.h, hdb_qkey_encode: a type byte, then
 *   the value; strings are escaped and terminated, so value never is a
 *   prefix of another and the name that follows is what remains of the
 *   key), and name is the document's file name.  Arrays, objects and
 *   missing fields have no entry.
 *
 *   Every change of a document's content, name or existence in a
 *   collection with an index in state building or ready carries that
 *   index's entry changes in its own batch (deletions of the old entries
 *   first, then the new ones), so indexes are exactly as durable and
 *   crash-atomic as the documents.  A build runs in chunks, each one batch
 *   under commit_mu that adds the entries of the next documents after
 *   cursor and moves cursor (and at the end sets state ready); writers
 *   maintain a building index already, so chunks and writes may interleave
 *   in any order.  A drop first sets state dropping (writers stop), then
 *   deletes the entries in chunks, and deletes the 'I' key with the last
 *   chunk.  A mount resumes every build and drop a stop interrupted; an 'I'
 *   value it cannot decode is dropped.  Removing a collection deletes its
 *   'I' keys in the rmdir's batch (it holds no documents, so no entries).
 *
 *   New databases are version 2.  A version-1 database (which has no
 *   index) is read as it is, and the batch that defines its first index
 *   writes version 2 into its superblock, so that a version-1 program,
 *   which would not maintain indexes, refuses it from then on.
 *
 * Table schemas (format version 3)
 * -------------------------------
 *   A collection (directory) coll with a schema is a table (fs/tables.h).
 *   Its 'S' key holds the schema exactly as written to <coll>/.schema (JSON,
 *   fs/schema.h; at most FS_SCHEMA_MAX bytes).  The key is keyed by the
 *   collection's inode, like the index keys, so renaming a table keeps its
 *   schema and its listing range holds no schema.  Every document of coll
 *   (a regular file named "*.json" directly in coll) whose content is not
 *   empty fits the schema: the batch that stores a schema is written only
 *   after every document was checked against it under commit_mu (unless
 *   hdb_schema_needs_revalidation says the old schema implies the new),
 *   and every later change of a document's content or name in coll is
 *   checked under commit_mu before its batch is written.  Removing the
 *   schema deletes the key; removing the collection (rmdir, or a rename
 *   that replaces it) deletes it in the same batch.  A mount loads every
 *   'S' key; one that does not parse is logged, and the documents of its
 *   collection cannot be changed (EIO) until a new schema is written or the
 *   schema removed.
 *
 *   New databases are version 3.  A version-1 or version-2 database is
 *   read as it is; the batch that stores its first schema writes version 3
 *   into its superblock, so that an older program, which would not enforce
 *   schemas, refuses it from then on (and defining an index writes
 *   version 2 only into a version-1 superblock).
 *
 * Inode numbers
 * -------------
 *   1 is the root; 2..HDB_FS_FIRST_INO-1 are reserved for virtual files
 *   (never stored); numbers from HDB_FS_FIRST_INO up are handed out from the
 *   superblock's next_ino and never reused, so they are stable across
 *   remounts and need no generation number.  Numbers with the top bit set
 *   (HDB_FS_VIRT_INO) name the virtual files and directories of queries
 *   (.where, .indexes, ...: fs/qvfs.h); they live in memory only, for one
 *   mount, and next_ino never reaches them.
 */
#ifndef HDB_FS_FORMAT_H
#define HDB_FS_FORMAT_H

#include <stdint.h>

#define HDB_FS_MAGIC 0x46424448u /* "HDBF" */
#define HDB_FS_VERSION 3u /* 2: index keys 'I' and 'X'; 3: schema keys 'S' */
#define HDB_FS_VERSION_INDEXES 2u /* the first version with index keys */
#define HDB_FS_VERSION_TABLES 3u  /* the first version with schema keys */

#define HDB_FS_KEY_SUPER "\0super"
#define HDB_FS_KEY_SUPER_LEN 6
#define HDB_FS_TAG_ENTRY 'E'
#define HDB_FS_TAG_DATA 'D'
#define HDB_FS_TAG_PENDING 'P'
#define HDB_FS_TAG_ORPHAN 'O'
#define HDB_FS_TAG_INDEX 'I'
#define HDB_FS_TAG_IENTRY 'X'
#define HDB_FS_TAG_SCHEMA 'S'

#define HDB_FS_NAME_MAX 255
#define HDB_FS_KEY_PREFIX 9 /* tag + u64 */
#define HDB_FS_KEY_MAX (HDB_FS_KEY_PREFIX + HDB_FS_NAME_MAX)

#define HDB_FS_SUPER_SIZE 56
#define HDB_FS_ENTRY_SIZE 64

#define HDB_FS_ROOT_INO 1u
#define HDB_FS_FIRST_INO 16u
#define HDB_FS_VIRT_INO (UINT64_C(1) << 63)

#define HDB_FS_INDEX_BUILDING 0
#define HDB_FS_INDEX_READY 1
#define HDB_FS_INDEX_DROPPING 2

#endif
