/*
 * fs_check.c — offline verification of the fs layer (`hybriddb check`):
 * the superblock, every entry and content key, the tree's shape, documents'
 * JSON, the counters against a recount, indexes, and tables' documents
 * against their schemas.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "json.h"
#include "keys.h"
#include "qindex.h"
#include "tables.h"

struct node {
	uint64_t ino, parent, size;
	uint32_t mode;
	bool doc;
	bool seen;     /* its content key was found */
	uint8_t state; /* tree walk: 0 new, 1 on the current path, 2 reaches the root */
};

struct checker {
	hdb_db *db;
	void (*report)(void *ctx, const char *what);
	void *ctx;
	unsigned problems;
	struct node *nodes;
	size_t n, cap;
	hdb_fs_super sb;
	bool have_sb;
	uint64_t bytes;  /* content bytes of regular files found */
	uint64_t *orphans; /* sorted inode numbers of 'O' records */
	size_t norphans, orphan_cap;
};

static void problem(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct checker *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->problems++;
	c->report(c->ctx, msg);
}

static int cmp_node(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static struct node *find(struct checker *c, uint64_t ino)
{
	struct node key = { .ino = ino };
	return bsearch(&key, c->nodes, c->n, sizeof(key), cmp_node);
}

/* One tag's records, read as an offline check reads: every block's CRC
 * checked, the block cache left alone. */
static int scan(struct checker *c, uint8_t tag, fs_scan_fn fn)
{
	return fs_scan_db(c->db, FS_SCAN_NO_CACHE | FS_SCAN_VERIFY, tag, fn, c, NULL);
}

static int add_entry(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct checker *c = ctx;
	uint64_t parent;
	const uint8_t *name;
	size_t nlen;
	hdb_fs_attr a;
	if (hdb_fs_entry_key_decode(k, kl, &parent, &name, &nlen) || hdb_fs_attr_decode(v, vl, &a)) {
		problem(c, "malformed entry (%s)", hdb_errdetail());
		return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct node *nodes = realloc(c->nodes, cap * sizeof(*nodes));
		if (!nodes)
			return -ENOMEM;
		c->nodes = nodes;
		c->cap = cap;
	}
	c->nodes[c->n++] = (struct node){
		.ino = a.ino, .parent = parent, .size = a.size, .mode = a.mode,
		.doc = S_ISREG(a.mode) && hdb_fs_is_doc_name((const char *)name, nlen),
	};
	if ((parent == 0) != (a.ino == HDB_FS_ROOT_INO) || (parent == 0 && nlen))
		problem(c, "inode %" PRIu64 " has parent %" PRIu64 " and a %zu-byte name", a.ino, parent, nlen);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int add_orphan(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct checker *c = ctx;
	uint64_t ino;
	if (hdb_fs_ino_key_decode(k, kl, HDB_FS_TAG_ORPHAN, &ino)) {
		problem(c, "malformed orphan key of %zu bytes", kl);
		return 0;
	}
	if (c->norphans == c->orphan_cap) {
		size_t cap = c->orphan_cap ? c->orphan_cap * 2 : 64;
		uint64_t *o = realloc(c->orphans, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		c->orphans = o;
		c->orphan_cap = cap;
	}
	c->orphans[c->norphans++] = ino; /* scanned in key order: sorted */
	return 0;
}

static int check_pending(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct checker *c = ctx;
	uint64_t ino, parent;
	const uint8_t *name;
	size_t nlen;
	if (hdb_fs_ino_key_decode(k, kl, HDB_FS_TAG_PENDING, &ino) ||
	    hdb_fs_entry_key_decode(v, vl, &parent, &name, &nlen))
		problem(c, "malformed pending record (%s)", hdb_errdetail());
	return 0;
}

static int check_data(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct checker *c = ctx;
	uint64_t ino;
	if (hdb_fs_ino_key_decode(k, kl, HDB_FS_TAG_DATA, &ino)) {
		problem(c, "malformed content key of %zu bytes", kl);
		return 0;
	}
	struct node *n = find(c, ino);
	if (!n) {
		if (!bsearch(&ino, c->orphans, c->norphans, sizeof(ino), cmp_u64))
			problem(c, "content of inode %" PRIu64 " belongs to no entry", ino);
		return 0;
	}
	if (S_ISDIR(n->mode))
		problem(c, "directory %" PRIu64 " has content", ino);
	else if (n->size != vl)
		problem(c, "inode %" PRIu64 ": entry says %" PRIu64 " bytes, content has %zu", ino, n->size, vl);
	hdb_json_error err;
	if (n->doc && hdb_json_validate(v, vl, &err))
		problem(c, "document %" PRIu64 " is not valid JSON at byte %zu: %s", ino, err.offset, err.reason);
	n->seen = true;
	if (S_ISREG(n->mode))
		c->bytes += vl;
	return 0;
}

/* Walks up from n; every node must reach the root through directories. */
static void check_reach(struct checker *c, struct node *n)
{
	while (n->state == 0) {
		n->state = 1;
		struct node *p = n->parent ? find(c, n->parent) : NULL;
		if (!n->parent) {
			n->state = 2;
			break;
		}
		if (!p || !S_ISDIR(p->mode)) {
			problem(c, "inode %" PRIu64 ": parent %" PRIu64 " is %s", n->ino, n->parent,
			        p ? "not a directory" : "missing");
			n->state = 2; /* reported once */
			break;
		}
		if (p->state == 1) {
			problem(c, "inode %" PRIu64 " is in a directory cycle", n->ino);
			n->state = 2;
			break;
		}
		n = p;
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->nodes[i].state == 1)
			c->nodes[i].state = 2;
}

static void check_counts(struct checker *c)
{
	hdb_fs_super n = { 0 };
	uint64_t max_ino = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct node *x = &c->nodes[i];
		if (i && x->ino == c->nodes[i - 1].ino)
			problem(c, "inode %" PRIu64 " has two entries", x->ino);
		if (x->ino > max_ino)
			max_ino = x->ino;
		if (x->ino == HDB_FS_ROOT_INO)
			continue;
		if (S_ISDIR(x->mode))
			n.dirs++;
		else if (S_ISLNK(x->mode))
			n.symlinks++;
		else
			n.files++;
		if (x->doc)
			n.docs++;
	}
	if (!c->have_sb)
		return;
	if (c->sb.next_ino <= max_ino)
		problem(c, "superblock next inode %" PRIu64 " is not above inode %" PRIu64, c->sb.next_ino, max_ino);
#define CMP(f)                                                                                     \
	if (c->sb.f != n.f)                                                                        \
		problem(c, "superblock counts %" PRIu64 " " #f ", found %" PRIu64, c->sb.f, n.f);
	CMP(files) CMP(dirs) CMP(docs) CMP(symlinks)
#undef CMP
}

static bool is_dir(void *ctx, uint64_t ino)
{
	struct node *n = find(ctx, ino);
	return n && S_ISDIR(n->mode);
}

static int load_super(struct checker *c)
{
	void *v;
	size_t vl;
	int rc = hdb_get(c->db, NULL, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, &v, &vl);
	if (rc == HDB_ENOTFOUND) {
		problem(c, "the superblock is missing");
		return 0;
	}
	if (rc)
		return rc;
	rc = hdb_fs_super_decode(v, vl, &c->sb);
	free(v);
	if (rc == HDB_EVERSION)
		return rc;
	if (rc)
		problem(c, "superblock: %s", hdb_errdetail());
	c->have_sb = !rc;
	return 0;
}

int hdb_fs_check(hdb_db *db, void (*report)(void *ctx, const char *what), void *ctx)
{
	struct checker c = { .db = db, .report = report, .ctx = ctx };
	int rc = load_super(&c);
	if (!rc)
		rc = scan(&c, HDB_FS_TAG_ENTRY, add_entry);
	if (rc)
		goto out;
	qsort(c.nodes, c.n, sizeof(*c.nodes), cmp_node);
	struct node *root = find(&c, HDB_FS_ROOT_INO);
	if (!root || !S_ISDIR(root->mode))
		problem(&c, "the root directory entry is missing");
	for (size_t i = 0; i < c.n; i++)
		check_reach(&c, &c.nodes[i]);
	check_counts(&c);
	rc = scan(&c, HDB_FS_TAG_ORPHAN, add_orphan);
	if (!rc)
		rc = scan(&c, HDB_FS_TAG_PENDING, check_pending);
	if (!rc)
		rc = scan(&c, HDB_FS_TAG_DATA, check_data);
	if (rc)
		goto out;
	if (c.have_sb && c.sb.bytes != c.bytes)
		problem(&c, "superblock counts %" PRIu64 " content bytes, found %" PRIu64, c.sb.bytes, c.bytes);
	rc = fs_index_check(db, is_dir, &c, report, ctx, &c.problems);
	if (!rc)
		rc = fs_tables_check(db, is_dir, &c, report, ctx, &c.problems);
	if (rc)
		goto out;
	/* An empty document is not reported: a crash between a create and its
	 * first close leaves one, and the next close of it repairs it. */
	for (size_t i = 0; i < c.n; i++)
		if (!S_ISDIR(c.nodes[i].mode) && c.nodes[i].size && !c.nodes[i].seen)
			problem(&c, "inode %" PRIu64 " lacks its %" PRIu64 " bytes of content", c.nodes[i].ino,
			        c.nodes[i].size);
out:
	free(c.nodes);
	free(c.orphans);
	if (rc)
		return rc;
	return c.problems ? HDB_ECORRUPT : 0;
}
