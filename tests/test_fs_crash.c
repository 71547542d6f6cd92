/*
 * test_fs_crash.c — power loss through the whole stack: the file system's
 * own operations (fs_node_*, fs_file_*, hdb_sync: what the FUSE callbacks
 * call) over an engine on the fault-injecting env of tests/fault_env.c.
 *
 * A seeded script of actions over three collections with nested
 * directories — create+write+close, in-place overwrite (O_TRUNC), editor
 * save (write a temporary, maybe fsync it, rename it over the document),
 * moves across directories, RENAME_EXCHANGE, unlink (also of a file the
 * kernel still references, or that a writer has open), renames, exchanges
 * and unlinks of a document between its create and its first close,
 * mkdir, rmdir (of a tree emptied first, and of a non-empty one:
 * ENOTEMPTY), directory renames, closes rejected for invalid JSON, fsync,
 * fsyncdir, indexes created (on an empty collection and on a full one) and
 * dropped, and a remount half-way — is expanded into steps, one per fs
 * call.  A model replays the steps and records, for every path, what it
 * holds after each step (nothing, a directory, or which version of the
 * content); a document whose creating open has not committed yet counts
 * as absent (fs.h: it is gone after the next mount).
 *
 * The script runs once to count its sync points, then for every sync
 * point k (at most MAX_POINTS of them, drawn from the seed, plus the first
 * and last EDGE_POINTS) once with the power failing right after sync k and
 * once with it failing during sync k (the writes since sync k-1 done but
 * not durable; at every other point a random part of them kept, as a torn
 * write leaves).  The crash is applied to the real files and the database
 * is mounted again (the engine over plain POSIX I/O, then hdb_fs_new, which
 * recovers; at odd k that mount itself loses power first, and the next
 * one recovers from both).  The tree it shows must be the model's state
 * after some prefix of the steps that holds every step acknowledged as
 * durable: with sync_always every step that returned, otherwise every step
 * up to the last fsync, fsyncdir or clean remount.  That one comparison
 * covers "nothing acknowledged is lost", "no document torn or mixed"
 * (every file holds exactly one version written to that path) and the
 * atomicity of renames.  Also: every entry's size is its content's, no
 * pending or orphan record is left, hdb_fs_check and hdb_check are clean,
 * and a second mount shows the very same tree (recovery is idempotent).
 *
 * The script runs with sync_always and with the engine's sync policy
 * "never" (durable only at fsync, fsyncdir and a clean close).  The mount's
 * "periodic" policy only adds timer-driven sync points, which no run could
 * reproduce.  Sync points of the engine's background thread (flushes,
 * compactions) fall where the scheduler puts them, so the k-th sync point
 * of a crash run is near, not always at, the counting run's k-th.
 *
 * The fs needs no hook for the env: hdb_fs_new takes an open engine, and
 * the test opens it with hdb_options.env set to the fault env.
 *
 * Thread safety: the script runs on one thread, as one FUSE worker would
 * call the fs; the engine's background thread flushes and compacts.
 *
 * HDB_SEED=<n> changes the script, HDB_FS_CRASH_ACTIONS=<n> its length.
 * Temporary directories go to $TMPDIR, else /dev/shm, else /tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <fuse_log.h>

#include "db_fixture.h"
#include "fault_env.h"
#include "fs_internal.h"
#include "hybriddb.h"
#include "keys.h"
#include "qindex.h"

#define DEFAULT_SEED UINT64_C(0x5eedf5c4)
#define DEFAULT_ACTIONS 200
#define MAX_POINTS 400  /* sync points tried at most, besides the edges */
#define EDGE_POINTS 20  /* the first and last ones, always tried */
#define NAME_CAP 32
#define PATH_CAP 160
#define NSLOTS 1        /* file handles a script holds at once */
#define CONTENT_MAX 17000
#define NONE UINT32_MAX
#define CONTENT_BAD UINT32_MAX
/* The closing process of every close: no such process exists, so the fs
 * finds no other descriptor of it on the file and its close is the last. */
#define CLOSER 0x7ffffff0

/* What a path holds; >= 0: that version of content. */
enum { VAL_TORN = -6, VAL_OTHER = -5, VAL_ABSENT = -4, VAL_DIR = -3, VAL_PENDING = -2, VAL_EMPTY = -1 };

/* --- temp dirs ---------------------------------------------------------- */

/* $TMPDIR, else /dev/shm when there is one: the fault env passes every
 * sync on to the real files, and the crash runs make thousands. */
static const char *tmp_base(void)
{
	const char *base = getenv("TMPDIR");
	struct stat st;
	if (base && *base)
		return base;
	if (!stat("/dev/shm", &st) && S_ISDIR(st.st_mode) && !access("/dev/shm", W_OK))
		return "/dev/shm";
	return "/tmp";
}

/* --- randomness and content --------------------------------------------- */

static uint64_t rng_state;

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	return mix(rng_state += UINT64_C(0x9e3779b97f4a7c15));
}

static unsigned below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* Version id of content: a JSON document unique to id, mostly 40..739
 * bytes, one in twenty 4..16 KiB (spanning engine blocks). */
static size_t content_bytes(char *buf, uint32_t id)
{
	uint64_t h = mix(id + UINT64_C(0x1234567));
	size_t n = h % 20 == 0 ? 4096 + (size_t)(h >> 8) % 12288 : 40 + (size_t)(h >> 8) % 700;
	int w = snprintf(buf, CONTENT_MAX, "{\"v\":%u,\"pad\":\"", id);
	for (size_t i = (size_t)w; i < n - 2; i++) {
		h = h * UINT64_C(6364136223846793005) + 1;
		buf[i] = (char)('a' + (h >> 60));
	}
	buf[n - 2] = '"';
	buf[n - 1] = '}';
	return n;
}

/* The version whose bytes these are, or VAL_TORN. */
static int32_t identify(const void *data, size_t len)
{
	static char want[CONTENT_MAX];
	char head[32];
	unsigned id;
	size_t hl = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
	memcpy(head, data, hl);
	head[hl] = 0;
	if (sscanf(head, "{\"v\":%u,", &id) != 1 || id > INT32_MAX)
		return VAL_TORN;
	size_t n = content_bytes(want, id);
	return n == len && !memcmp(want, data, n) ? (int32_t)id : VAL_TORN;
}

/* --- the script ----------------------------------------------------------- */

enum step_kind {
	S_MKDIR, S_MAKE, S_OPEN, S_WRITE, S_COMMIT, S_FSYNC, S_RELEASE, S_LOOKUP, S_FORGET,
	S_UNLINK, S_RMDIR, S_RENAME, S_SYNC, S_INDEX, S_DROP_INDEX, S_REMOUNT,
};

static const char *const step_names[] = {
	"mkdir", "create", "open", "write", "close", "fsync", "release", "lookup", "forget",
	"unlink", "rmdir", "rename", "fsyncdir", "index", "drop index", "remount",
};

/* One fs call.  Nodes are the model's; the runner maps them to inodes. */
struct step {
	uint8_t kind;
	uint8_t slot;        /* OPEN WRITE COMMIT FSYNC RELEASE */
	bool created;        /* OPEN: by the create that made node */
	int expect;          /* what the call returns while the power holds */
	uint32_t node;       /* MKDIR MAKE OPEN LOOKUP FORGET INDEX DROP_INDEX */
	uint32_t parent;     /* MKDIR MAKE LOOKUP UNLINK RMDIR RENAME */
	uint32_t parent2;    /* RENAME destination */
	uint32_t arg;        /* WRITE content id (top bit: cut short, not JSON);
	                        OPEN flags; RENAME flags; FORGET count */
	char name[NAME_CAP], name2[NAME_CAP];
};

struct version {
	uint32_t pos; /* after this many steps ... */
	int32_t val;  /* ... the path holds this */
};

struct phist {
	char path[PATH_CAP];
	struct version *v;
	size_t n, cap;
};

struct script {
	struct step *steps;
	size_t n, cap;
	uint32_t nnodes;
	struct phist *paths; /* every path that ever held something */
	size_t npaths, cappaths;
	unsigned actions;
};

/* --- the model -------------------------------------------------------------- */

struct mnode {
	uint32_t parent;
	char name[NAME_CAP];
	bool dir, linked;
	int32_t val;     /* VAL_DIR, VAL_PENDING, VAL_EMPTY or a version */
	unsigned refs;   /* lookups the kernel holds */
};

struct entry {
	char path[PATH_CAP];
	int32_t val;
};

struct snap {
	struct entry *e;
	size_t n, cap;
};

struct gen {
	struct script *sc;
	struct mnode *nodes; /* node 0 is the root */
	uint32_t nnodes, capnodes;
	struct snap prev;    /* visible state after the last step */
	uint32_t next_content;
	uint32_t slot_node[NSLOTS];
	uint32_t slot_content[NSLOTS];
	bool slot_created[NSLOTS];
};

static void snap_add(struct snap *s, const char *path, int32_t val)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->e = realloc(s->e, s->cap * sizeof(*s->e));
		assert_non_null(s->e);
	}
	snprintf(s->e[s->n].path, PATH_CAP, "%s", path);
	s->e[s->n++].val = val;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static void snap_sort(struct snap *s)
{
	if (s->n)
		qsort(s->e, s->n, sizeof(*s->e), cmp_entry);
}

/* node's path; false when it is not in the tree. */
static bool node_path(const struct gen *g, uint32_t id, char *buf, size_t cap)
{
	const struct mnode *n = &g->nodes[id];
	if (!id) {
		buf[0] = 0;
		return true;
	}
	char up[PATH_CAP];
	if (!n->linked || !node_path(g, n->parent, up, sizeof(up)))
		return false;
	int w = snprintf(buf, cap, "%s/%s", up, n->name);
	assert_true(w > 0 && (size_t)w < cap);
	return true;
}

static void visible_state(const struct gen *g, struct snap *s)
{
	char path[PATH_CAP];
	s->n = 0;
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (g->nodes[id].val != VAL_PENDING && node_path(g, id, path, sizeof(path)))
			snap_add(s, path, g->nodes[id].val);
	snap_sort(s);
}

static struct phist *find_path(const struct script *sc, const char *path)
{
	for (size_t i = 0; i < sc->npaths; i++)
		if (!strcmp(sc->paths[i].path, path))
			return &sc->paths[i];
	return NULL;
}

static void add_version(struct script *sc, const char *path, int32_t val)
{
	struct phist *p = find_path(sc, path);
	if (!p) {
		if (sc->npaths == sc->cappaths) {
			sc->cappaths = sc->cappaths ? sc->cappaths * 2 : 64;
			sc->paths = realloc(sc->paths, sc->cappaths * sizeof(*sc->paths));
			assert_non_null(sc->paths);
		}
		p = &sc->paths[sc->npaths++];
		memset(p, 0, sizeof(*p));
		snprintf(p->path, PATH_CAP, "%s", path);
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 4;
		p->v = realloc(p->v, p->cap * sizeof(*p->v));
		assert_non_null(p->v);
	}
	p->v[p->n++] = (struct version){ (uint32_t)sc->n, val };
}

/* Records what the last step changed, as versions at its position. */
static void record(struct gen *g)
{
	struct snap now = { 0 };
	visible_state(g, &now);
	size_t i = 0, j = 0;
	while (i < g->prev.n || j < now.n) {
		int c = i == g->prev.n ? 1 : j == now.n ? -1 : strcmp(g->prev.e[i].path, now.e[j].path);
		if (c < 0) {
			add_version(g->sc, g->prev.e[i++].path, VAL_ABSENT);
		} else if (c > 0) {
			add_version(g->sc, now.e[j].path, now.e[j].val);
			j++;
		} else {
			if (g->prev.e[i].val != now.e[j].val)
				add_version(g->sc, now.e[j].path, now.e[j].val);
			i++;
			j++;
		}
	}
	free(g->prev.e);
	g->prev = now;
}

static struct step *push(struct gen *g, enum step_kind kind)
{
	struct script *sc = g->sc;
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? sc->cap * 2 : 1024;
		sc->steps = realloc(sc->steps, sc->cap * sizeof(*sc->steps));
		assert_non_null(sc->steps);
	}
	struct step *s = &sc->steps[sc->n++];
	memset(s, 0, sizeof(*s));
	s->kind = (uint8_t)kind;
	s->node = s->parent = s->parent2 = NONE;
	return s;
}

static uint32_t new_node(struct gen *g, uint32_t parent, const char *name, bool dir)
{
	if (g->nnodes == g->capnodes) {
		g->capnodes = g->capnodes ? g->capnodes * 2 : 256;
		g->nodes = realloc(g->nodes, g->capnodes * sizeof(*g->nodes));
		assert_non_null(g->nodes);
	}
	struct mnode *n = &g->nodes[g->nnodes];
	memset(n, 0, sizeof(*n));
	n->parent = parent;
	snprintf(n->name, NAME_CAP, "%s", name);
	n->dir = dir;
	n->linked = true;
	n->refs = 1;
	n->val = dir ? VAL_DIR : hdb_fs_is_doc_name(name, strlen(name)) ? VAL_PENDING : VAL_EMPTY;
	return g->nnodes++;
}

static uint32_t child(const struct gen *g, uint32_t parent, const char *name)
{
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (g->nodes[id].linked && g->nodes[id].parent == parent && !strcmp(g->nodes[id].name, name))
			return id;
	return NONE;
}

static void set_names(struct step *s, uint32_t parent, const char *name)
{
	s->parent = parent;
	snprintf(s->name, NAME_CAP, "%s", name);
}

/* --- steps: each emits one fs call and applies it to the model --------- */

static uint32_t g_make(struct gen *g, uint32_t parent, const char *name, bool dir)
{
	struct step *s = push(g, dir ? S_MKDIR : S_MAKE);
	set_names(s, parent, name);
	s->node = new_node(g, parent, name, dir);
	record(g);
	return s->node;
}

static void g_open(struct gen *g, unsigned slot, uint32_t node, int flags, bool created)
{
	struct step *s = push(g, S_OPEN);
	s->slot = (uint8_t)slot;
	s->node = node;
	s->arg = (uint32_t)flags;
	s->created = created;
	g->slot_node[slot] = node;
	g->slot_created[slot] = created;
	record(g);
}

static void g_write(struct gen *g, unsigned slot, bool bad)
{
	struct step *s = push(g, S_WRITE);
	s->slot = (uint8_t)slot;
	s->arg = g->next_content++;
	g->slot_content[slot] = bad ? CONTENT_BAD : s->arg;
	if (bad)
		s->arg |= UINT32_C(1) << 31;
	record(g);
}

/* Closes the handle in slot, as fsync (when asked), flush and release
 * reach the fs: the first of them commits. */
static void g_close(struct gen *g, unsigned slot, bool fsync)
{
	struct step *s = push(g, fsync ? S_FSYNC : S_COMMIT);
	s->slot = (uint8_t)slot;
	struct mnode *n = &g->nodes[g->slot_node[slot]];
	if (!n->linked) {
		s->expect = 0; /* removed meanwhile: nothing to commit */
	} else if (g->slot_content[slot] == CONTENT_BAD) {
		s->expect = -EINVAL;
		if (g->slot_created[slot])
			n->linked = false; /* the create is undone */
	} else {
		n->val = (int32_t)g->slot_content[slot];
	}
	record(g);
	if (fsync) {
		s = push(g, S_COMMIT); /* nothing left to commit */
		s->slot = (uint8_t)slot;
		record(g);
	}
	s = push(g, S_RELEASE);
	s->slot = (uint8_t)slot;
	record(g);
}

static void g_lookup(struct gen *g, uint32_t node)
{
	struct step *s = push(g, S_LOOKUP);
	s->node = node;
	set_names(s, g->nodes[node].parent, g->nodes[node].name);
	g->nodes[node].refs++;
	record(g);
}

static void g_forget(struct gen *g, uint32_t node, unsigned n)
{
	struct step *s = push(g, S_FORGET);
	s->node = node;
	s->arg = n;
	g->nodes[node].refs -= n;
	record(g);
}

static void g_unlink(struct gen *g, uint32_t node)
{
	struct mnode *n = &g->nodes[node];
	struct step *s = push(g, n->dir ? S_RMDIR : S_UNLINK);
	set_names(s, n->parent, n->name);
	n->linked = false;
	record(g);
}

/* name2 may be another node's name: it is copied before anything moves. */
static void g_rename(struct gen *g, uint32_t node, uint32_t parent2, const char *name2, unsigned flags)
{
	struct mnode *n = &g->nodes[node];
	struct step *s = push(g, S_RENAME);
	set_names(s, n->parent, n->name);
	s->parent2 = parent2;
	snprintf(s->name2, NAME_CAP, "%s", name2);
	name2 = s->name2;
	s->arg = flags;
	uint32_t dst = child(g, parent2, name2);
	if (flags & RENAME_EXCHANGE) {
		struct mnode *d = &g->nodes[dst];
		d->parent = n->parent;
		snprintf(d->name, NAME_CAP, "%s", n->name);
	} else if (dst != NONE) {
		g->nodes[dst].linked = false;
	}
	n->parent = parent2;
	snprintf(n->name, NAME_CAP, "%s", name2);
	record(g);
}

static void g_simple(struct gen *g, enum step_kind kind, uint32_t node)
{
	push(g, kind)->node = node;
	record(g);
}

/* --- actions: what a user or a tool does, as steps ------------------------- */

static unsigned depth(const struct gen *g, uint32_t id)
{
	unsigned d = 0;
	for (; id; id = g->nodes[id].parent)
		d++;
	return d;
}

/* A random node for which want() holds, or NONE. */
static uint32_t pick(const struct gen *g, bool (*want)(const struct gen *g, uint32_t id))
{
	uint32_t n = 0, chosen = NONE;
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (g->nodes[id].linked && want(g, id) && below(++n) == 0)
			chosen = id;
	return chosen;
}

static bool is_dir(const struct gen *g, uint32_t id)
{
	return g->nodes[id].dir;
}

static bool is_subdir(const struct gen *g, uint32_t id)
{
	return g->nodes[id].dir && depth(g, id) > 1;
}

static bool can_nest(const struct gen *g, uint32_t id)
{
	return g->nodes[id].dir && depth(g, id) < 3;
}

static bool is_doc(const struct gen *g, uint32_t id)
{
	const struct mnode *n = &g->nodes[id];
	return !n->dir && n->val >= 0 && hdb_fs_is_doc_name(n->name, strlen(n->name));
}

static bool is_held(const struct gen *g, uint32_t id)
{
	return !g->nodes[id].dir && g->nodes[id].refs;
}

static void doc_name(char *buf)
{
	snprintf(buf, NAME_CAP, "d%u.json", below(8));
}

/* The kernel drops the action's reference on node, or (one in ten) keeps
 * it cached for a while: a later unlink or replace leaves an orphan. */
static void drop_ref(struct gen *g, uint32_t node)
{
	if (!g->nodes[node].linked || below(10))
		g_forget(g, node, 1);
}

/* A document still being created (its 'P' record) is moved by a rename,
 * swapped by an exchange, or removed, before its first close. */
static void move_pending(struct gen *g, uint32_t n)
{
	unsigned r = below(100);
	char name[NAME_CAP];
	doc_name(name);
	uint32_t dir = pick(g, is_dir), other = pick(g, is_doc);
	if (r < 6 && child(g, dir, name) == NONE)
		g_rename(g, n, dir, name, 0);
	else if (r >= 6 && r < 9 && other != NONE)
		g_rename(g, n, g->nodes[other].parent, g->nodes[other].name, RENAME_EXCHANGE);
	else if (r >= 9 && r < 12)
		g_unlink(g, n);
}

static void act_create(struct gen *g, uint32_t dir, const char *name)
{
	uint32_t n = g_make(g, dir, name, false);
	bool bad = below(100) < 4;
	g_open(g, 0, n, O_WRONLY | O_CREAT, true);
	if (!bad)
		move_pending(g, n);
	g_write(g, 0, bad);
	g_close(g, 0, !bad && below(100) < 10);
	if (g->nodes[n].linked)
		drop_ref(g, n);
	else
		g_forget(g, n, 1);
}

/* open(O_TRUNC), write, close; sometimes the file is renamed or removed
 * while open, or the new content is not JSON. */
static void act_overwrite(struct gen *g, uint32_t doc)
{
	unsigned r = below(100);
	bool bad = r < 4, moved = r >= 4 && r < 10, removed = r >= 10 && r < 14;
	g_lookup(g, doc);
	g_open(g, 0, doc, O_WRONLY | O_TRUNC, false);
	g_write(g, 0, bad);
	if (moved) {
		char name[NAME_CAP];
		doc_name(name);
		uint32_t dir = pick(g, is_dir);
		if (child(g, dir, name) != doc)
			g_rename(g, doc, dir, name, 0);
	} else if (removed) {
		g_unlink(g, doc);
	}
	g_close(g, 0, !bad && below(100) < 15);
	drop_ref(g, doc);
}

/* An editor's save: write name.tmp, maybe fsync it, rename it over name. */
static void act_save(struct gen *g, uint32_t dir, const char *name)
{
	char tmp[NAME_CAP];
	int w = snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	assert_true(w > 0 && (size_t)w < sizeof(tmp));
	uint32_t n = g_make(g, dir, tmp, false);
	g_open(g, 0, n, O_WRONLY | O_CREAT, true);
	g_write(g, 0, false);
	g_close(g, 0, below(2));
	g_forget(g, n, 1);
	g_rename(g, n, dir, name, 0);
}

/* rm -r */
static void remove_tree(struct gen *g, uint32_t dir)
{
	for (uint32_t id = 1; id < g->nnodes; id++) {
		if (!g->nodes[id].linked || g->nodes[id].parent != dir)
			continue;
		if (g->nodes[id].dir)
			remove_tree(g, id);
		else
			g_unlink(g, id);
	}
	g_unlink(g, dir);
	g_forget(g, dir, g->nodes[dir].refs);
}

static bool has_children(const struct gen *g, uint32_t dir)
{
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (g->nodes[id].linked && g->nodes[id].parent == dir)
			return true;
	return false;
}

static void act_rmdir(struct gen *g)
{
	uint32_t dir = pick(g, is_subdir);
	if (dir == NONE)
		return;
	if (!has_children(g, dir) || below(3)) {
		remove_tree(g, dir);
		return;
	}
	struct step *s = push(g, S_RMDIR);
	set_names(s, g->nodes[dir].parent, g->nodes[dir].name);
	s->expect = -ENOTEMPTY;
	record(g);
}

static void act_mkdir(struct gen *g)
{
	uint32_t parent = pick(g, can_nest);
	char name[NAME_CAP];
	snprintf(name, sizeof(name), "s%u", below(4));
	if (child(g, parent, name) == NONE)
		g_make(g, parent, name, true);
}

static void act_rename_dir(struct gen *g)
{
	uint32_t dir = pick(g, is_subdir);
	char name[NAME_CAP];
	snprintf(name, sizeof(name), "s%u", below(4));
	if (dir != NONE && child(g, g->nodes[dir].parent, name) == NONE)
		g_rename(g, dir, g->nodes[dir].parent, name, 0);
}

static void act_move(struct gen *g, uint32_t doc)
{
	char name[NAME_CAP];
	doc_name(name);
	uint32_t dir = pick(g, is_dir);
	if (dir == g->nodes[doc].parent)
		dir = dir % 3 + 1; /* another collection */
	uint32_t dst = child(g, dir, name);
	if (dst == NONE || !g->nodes[dst].dir)
		g_rename(g, doc, dir, name, 0);
}

static void act_exchange(struct gen *g, uint32_t doc)
{
	uint32_t other = pick(g, is_doc);
	if (other != doc)
		g_rename(g, doc, g->nodes[other].parent, g->nodes[other].name, RENAME_EXCHANGE);
}

/* After a remount the kernel knows no inode: it looks up each directory it
 * walks through (here: all of them, parents first). */
static void act_remount(struct gen *g)
{
	for (uint32_t id = 1; id < g->nnodes; id++)
		g->nodes[id].refs = 0;
	g_simple(g, S_REMOUNT, NONE);
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (g->nodes[id].linked && g->nodes[id].dir)
			g_lookup(g, id);
}

static void act_random(struct gen *g)
{
	unsigned r = below(100);
	uint32_t doc = pick(g, is_doc);
	char name[NAME_CAP];
	doc_name(name);
	if (doc == NONE || r < 28) {
		uint32_t dir = pick(g, is_dir);
		uint32_t old = child(g, dir, name);
		if (old == NONE)
			act_create(g, dir, name);
		else if (!g->nodes[old].dir)
			act_overwrite(g, old);
	} else if (r < 48) {
		act_overwrite(g, doc);
	} else if (r < 63) {
		act_save(g, g->nodes[doc].parent, below(3) ? g->nodes[doc].name : name);
	} else if (r < 72) {
		act_move(g, doc);
	} else if (r < 76) {
		act_exchange(g, doc);
	} else if (r < 84) {
		g_unlink(g, doc);
	} else if (r < 90) {
		act_mkdir(g);
	} else if (r < 94) {
		act_rmdir(g);
	} else if (r < 96) {
		act_rename_dir(g);
	} else {
		g_simple(g, S_SYNC, NONE);
	}
	uint32_t held = pick(g, is_held);
	if (held != NONE && below(100) < 15)
		g_forget(g, held, g->nodes[held].refs);
}

static struct script *make_script(uint64_t seed, unsigned actions)
{
	struct script *sc = calloc(1, sizeof(*sc));
	assert_non_null(sc);
	struct gen g = { .sc = sc };
	rng_state = seed;
	new_node(&g, NONE, "", true); /* the root */
	for (unsigned c = 0; c < 3; c++) {
		char name[NAME_CAP];
		snprintf(name, sizeof(name), "c%u", c);
		g_make(&g, 0, name, true);
	}
	g_simple(&g, S_INDEX, 1);
	for (unsigned a = 0; a < actions; a++) {
		if (a == actions / 4)
			g_simple(&g, S_INDEX, 2); /* built over documents, in chunks */
		if (a == actions / 2)
			act_remount(&g);
		if (a == 3 * actions / 4)
			g_simple(&g, S_DROP_INDEX, 1);
		act_random(&g);
	}
	sc->actions = actions;
	sc->nnodes = g.nnodes;
	free(g.nodes);
	free(g.prev.e);
	return sc;
}

static void free_script(struct script *sc)
{
	for (size_t i = 0; i < sc->npaths; i++)
		free(sc->paths[i].v);
	free(sc->paths);
	free(sc->steps);
	free(sc);
}

/* --- running it ------------------------------------------------------------ */

struct config {
	const char *name;
	bool sync_always;
};

static void engine_options(hdb_options *o, hdb_env *env)
{
	hdb_options_init(o);
	o->memtable_size = 32 << 10; /* flushes, new WAL segments, compactions */
	o->target_file_size = 32 << 10;
	o->level1_max_bytes = 128 << 10;
	o->block_size = 4 << 10;
	o->sync = HDB_SYNC_NEVER; /* the fs and the script decide what is synced */
	o->env = env;
}

static void fs_options(hdb_fs_opts *o, const struct config *cfg)
{
	hdb_fs_opts_init(o);
	o->sync_always = cfg->sync_always;
}

struct runner {
	const struct config *cfg;
	const char *path;
	hdb_options eopt;
	hdb_db *db;
	hdb_fs *fs;
	uint64_t *ino;       /* by model node */
	fs_fh *fh[NSLOTS];
};

static int mount_fs(struct runner *r)
{
	hdb_fs_opts fo;
	fs_options(&fo, r->cfg);
	int rc = hdb_open(r->path, &r->eopt, &r->db);
	if (rc)
		return rc;
	rc = hdb_fs_new(r->db, &fo, &r->fs);
	if (rc) {
		hdb_close(r->db);
		r->db = NULL;
	}
	return rc;
}

/* Stops the fs as the daemon does at exit: open handles are released as a
 * close would, then the engine closes. */
static int unmount_fs(struct runner *r)
{
	hdb_fs_free(r->fs);
	r->fs = NULL;
	memset(r->fh, 0, sizeof(r->fh));
	int rc = hdb_close(r->db);
	r->db = NULL;
	return rc;
}

/* The kernel forgets n lookups of ino (fs_ops.c's forget). */
static void forget(hdb_fs *fs, uint64_t ino, uint64_t n)
{
	hdb_itable_lock(fs->itab);
	bool orphan = hdb_itable_forget(fs->itab, ino, n);
	hdb_itable_unlock(fs->itab);
	if (orphan)
		fs_node_reap_orphan(fs, ino);
}

static int write_content(struct runner *r, fs_fh *fh, uint32_t arg)
{
	static char buf[CONTENT_MAX];
	size_t n = content_bytes(buf, arg & ~(UINT32_C(1) << 31));
	if (arg >> 31)
		n = strlen("{\"v\":"); /* cut short: not JSON */
	size_t half = n / 2;
	int rc = fs_file_write(r->fs, fh, 0, buf, half);
	return rc ? rc : fs_file_write(r->fs, fh, half, buf + half, n - half);
}

static int run_step(struct runner *r, const struct step *s)
{
	hdb_fs *fs = r->fs;
	struct stat st;
	int rc;
	switch (s->kind) {
	case S_MKDIR:
	case S_MAKE:
		rc = fs_node_make(fs, NULL, r->ino[s->parent], s->name,
		                  s->kind == S_MKDIR ? S_IFDIR | 0755 : S_IFREG | 0644, NULL, &st);
		if (!rc)
			r->ino[s->node] = st.st_ino;
		return rc;
	case S_OPEN:
		return fs_file_open(fs, r->ino[s->node], (int)s->arg, s->created, CLOSER, &r->fh[s->slot]);
	case S_WRITE:
		return write_content(r, r->fh[s->slot], s->arg);
	case S_COMMIT:
		return fs_file_commit(fs, r->fh[s->slot], CLOSER);
	case S_FSYNC: /* fs_ops.c's fsync */
		rc = fs_file_commit(fs, r->fh[s->slot], 0);
		return rc ? rc : hdb_sync(r->db);
	case S_RELEASE:
		fs_file_release(fs, r->fh[s->slot]);
		r->fh[s->slot] = NULL;
		return 0;
	case S_LOOKUP:
		rc = fs_node_lookup(fs, r->ino[s->parent], s->name, &st);
		return rc ? rc : st.st_ino == r->ino[s->node] ? 0 : -ESTALE;
	case S_FORGET:
		forget(fs, r->ino[s->node], s->arg);
		return 0;
	case S_UNLINK:
	case S_RMDIR:
		return fs_node_unlink(fs, r->ino[s->parent], s->name, s->kind == S_RMDIR);
	case S_RENAME:
		return fs_node_rename(fs, r->ino[s->parent], s->name, r->ino[s->parent2], s->name2, s->arg);
	case S_SYNC: /* fs_ops.c's fsyncdir */
		return hdb_sync(r->db);
	case S_INDEX:
		return fs_index_create(fs, r->ino[s->node], "v", 1);
	case S_DROP_INDEX:
		return fs_index_drop(fs, r->ino[s->node], "v", 1);
	case S_REMOUNT:
		rc = unmount_fs(r);
		return rc ? rc : mount_fs(r);
	}
	return -EINVAL;
}

struct outcome {
	size_t durable;    /* steps acknowledged durable: the state has at least these */
	size_t attempted;  /* steps that may have been applied */
	bool stopped;      /* a step (or the first mount) returned what it should not */
	size_t stopped_at; /* that step */
	int first_error;   /* what it returned */
	int expected;      /* what it should have returned */
};

/* What stopped a run, for messages. */
static const char *stop_name(const struct script *sc, const struct outcome *out)
{
	if (!out->stopped)
		return "nothing";
	return out->attempted ? step_names[sc->steps[out->stopped_at].kind] : "the first mount";
}

static bool step_is_durable(const struct config *cfg, const struct step *s)
{
	return cfg->sync_always || s->kind == S_FSYNC || s->kind == S_SYNC || s->kind == S_REMOUNT;
}

/* Runs the script until it ends or a step returns what it should not, then
 * stops the fs. */
static void run_script(const char *path, hdb_env *env, const struct config *cfg, const struct script *sc,
                       struct outcome *out)
{
	struct runner r = { .cfg = cfg, .path = path };
	engine_options(&r.eopt, env);
	r.ino = calloc(sc->nnodes, sizeof(*r.ino));
	assert_non_null(r.ino);
	r.ino[0] = HDB_FS_ROOT_INO;
	memset(out, 0, sizeof(*out));
	int rc = mount_fs(&r);
	bool mounted = !rc;
	out->stopped = !mounted;
	size_t i = 0;
	for (; i < sc->n && mounted; i++) {
		const struct step *s = &sc->steps[i];
		rc = run_step(&r, s);
		if (rc != s->expect) {
			out->expected = s->expect;
			out->stopped = true;
			break;
		}
		if (step_is_durable(cfg, s))
			out->durable = i + 1;
	}
	out->first_error = out->stopped ? rc : 0;
	out->stopped_at = i;
	out->attempted = !mounted ? 0 : out->stopped ? i + 1 : sc->n;
	if (r.db) {
		int crc = unmount_fs(&r);
		if (!out->stopped && !crc)
			out->durable = sc->n;
	}
	free(r.ino);
}

/* --- checking a recovered file system --------------------------------------- */

static const char *val_str(int32_t val, char *buf, size_t cap)
{
	switch (val) {
	case VAL_TORN: return "bytes no version has";
	case VAL_OTHER: return "a node of another type";
	case VAL_ABSENT: return "nothing";
	case VAL_DIR: return "a directory";
	case VAL_EMPTY: return "an empty file";
	}
	snprintf(buf, cap, "version %" PRId32, val);
	return buf;
}

static int iter_range(hdb_db *db, const uint8_t *lower, const uint8_t *upper, size_t len, hdb_iter **it)
{
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.lower = lower;
	ro.lower_len = len;
	ro.upper = upper;
	ro.upper_len = len;
	int rc = hdb_iter_new(db, &ro, it);
	if (!rc)
		hdb_iter_seek(*it, lower, len);
	return rc;
}

/* Lists directory dir (path) and everything below it into s, as readdir
 * and read would show it. */
static void read_tree(hdb_fs *fs, uint64_t dir, const char *path, struct snap *s, char *msg, size_t cap)
{
	uint8_t lower[HDB_FS_KEY_PREFIX], upper[HDB_FS_KEY_PREFIX];
	hdb_fs_dir_bounds(lower, upper, dir);
	hdb_iter *it;
	int rc = iter_range(fs->db, lower, upper, sizeof(lower), &it);
	if (rc) {
		db_fixture_appendf(msg, cap, "listing %s: %s; ", path, hdb_strerror(rc));
		return;
	}
	for (; hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = hdb_iter_key(it, &kl), *v = hdb_iter_value(it, &vl);
		uint64_t parent;
		const uint8_t *name;
		size_t nlen;
		hdb_fs_attr a;
		char p[PATH_CAP];
		if (hdb_fs_entry_key_decode(k, kl, &parent, &name, &nlen) || hdb_fs_attr_decode(v, vl, &a)) {
			db_fixture_appendf(msg, cap, "bad entry in %s; ", path);
			continue;
		}
		snprintf(p, sizeof(p), "%s/%.*s", path, (int)nlen, (const char *)name);
		if (S_ISDIR(a.mode)) {
			snap_add(s, p, VAL_DIR);
			read_tree(fs, a.ino, p, s, msg, cap);
			continue;
		}
		if (!S_ISREG(a.mode)) {
			snap_add(s, p, VAL_OTHER);
			continue;
		}
		void *data;
		size_t len;
		rc = fs_read_data(fs, a.ino, &data, &len);
		if (rc) {
			db_fixture_appendf(msg, cap, "read %s: %s; ", p, hdb_strerror(rc));
			continue;
		}
		if (a.size != len)
			db_fixture_appendf(msg, cap, "%s: entry says %" PRIu64 " bytes, content has %zu; ", p, a.size, len);
		int32_t val = len ? identify(data, len) : VAL_EMPTY;
		if (val == VAL_TORN)
			db_fixture_appendf(msg, cap, "%s: %zu bytes that no version has (torn or mixed); ", p, len);
		snap_add(s, p, val);
		free(data);
	}
	if ((rc = hdb_iter_status(it)))
		db_fixture_appendf(msg, cap, "listing %s stopped: %s; ", path, hdb_strerror(rc));
	hdb_iter_free(it);
}

/* Records of a kind that recovery must have finished ('P', 'O'). */
static unsigned count_tag(hdb_db *db, uint8_t tag)
{
	uint8_t lower[1] = { tag }, upper[1] = { (uint8_t)(tag + 1) };
	hdb_iter *it;
	unsigned n = 0;
	if (iter_range(db, lower, upper, 1, &it))
		return UINT32_MAX;
	for (; hdb_iter_valid(it); hdb_iter_next(it))
		n++;
	hdb_iter_free(it);
	return n;
}

static int32_t found_val(const struct snap *got, const char *path)
{
	struct entry key;
	snprintf(key.path, PATH_CAP, "%s", path);
	const struct entry *e = got->n ? bsearch(&key, got->e, got->n, sizeof(*got->e), cmp_entry) : NULL;
	return e ? e->val : VAL_ABSENT;
}

/* What path holds after pos steps. */
static int32_t val_at(const struct phist *p, size_t pos)
{
	int32_t v = VAL_ABSENT;
	for (size_t j = 0; j < p->n && p->v[j].pos <= pos; j++)
		v = p->v[j].val;
	return v;
}

/*
 * Is got the state after some prefix P with durable <= P <= attempted?
 * Each path allows a union of intervals of P; count, for every P, the
 * paths that allow it.
 */
static void check_prefix(const struct script *sc, const struct snap *got, const struct outcome *out, char *msg,
                         size_t cap)
{
	for (size_t i = 0; i < got->n; i++)
		if (!find_path(sc, got->e[i].path))
			db_fixture_appendf(msg, cap, "%s exists but the script never made it; ", got->e[i].path);
	size_t lo = out->durable, hi = out->attempted, span = hi - lo + 1;
	uint32_t *cnt = calloc(span + 1, sizeof(*cnt));
	assert_non_null(cnt);
	for (size_t i = 0; i < sc->npaths; i++) {
		const struct phist *p = &sc->paths[i];
		int32_t found = found_val(got, p->path);
		for (size_t j = 0; j <= p->n; j++) {
			size_t start = j ? p->v[j - 1].pos : 0;
			size_t end = j < p->n ? p->v[j].pos : SIZE_MAX;
			int32_t val = j ? p->v[j - 1].val : VAL_ABSENT;
			size_t a = start > lo ? start : lo, b = end - 1 < hi ? end - 1 : hi;
			if (val != found || end == 0 || a > b)
				continue;
			cnt[a - lo]++;
			cnt[b - lo + 1]--;
		}
	}
	uint32_t run = 0;
	for (size_t pos = 0; pos < span; pos++) {
		run += cnt[pos];
		if (run == sc->npaths) {
			free(cnt);
			return;
		}
	}
	free(cnt);
	db_fixture_appendf(msg, cap, "the tree is the state after no prefix in [%zu, %zu]; ", lo, hi);
	unsigned shown = 0;
	for (size_t i = 0; i < sc->npaths && shown < 5; i++) {
		const struct phist *p = &sc->paths[i];
		int32_t found = found_val(got, p->path), want = val_at(p, lo);
		bool later = false;
		for (size_t j = 0; j < p->n; j++)
			later |= p->v[j].pos > lo && p->v[j].pos <= hi && p->v[j].val == found;
		if (found != want && !later) {
			char b1[32], b2[32];
			db_fixture_appendf(msg, cap, "%s holds %s, acknowledged: %s; ", p->path, val_str(found, b1, sizeof(b1)),
			                   val_str(want, b2, sizeof(b2)));
			shown++;
		}
	}
}

struct reports {
	unsigned n, wal;
	char first[256];
};

static void engine_report(void *ctx, const char *file, uint64_t off, const char *what)
{
	struct reports *r = ctx;
	size_t fl = file ? strlen(file) : 0;
	if (fl > 4 && !strcmp(file + fl - 4, ".wal")) {
		r->wal++;
		return;
	}
	if (!r->n++)
		snprintf(r->first, sizeof(r->first), "%s offset %" PRIu64 ": %s", file ? file : "?", off, what);
}

static void fs_report(void *ctx, const char *what)
{
	struct reports *r = ctx;
	if (!r->n++)
		snprintf(r->first, sizeof(r->first), "%s", what);
}

/* Mounts the crashed database (recovery), reads its tree into got and
 * checks what holds whatever the script did; stops it again.  False when
 * it does not mount. */
static bool mount_and_read(const char *path, const struct config *cfg, struct snap *got, char *msg, size_t cap)
{
	struct runner r = { .cfg = cfg, .path = path };
	engine_options(&r.eopt, NULL);
	int rc = mount_fs(&r);
	if (rc) {
		db_fixture_appendf(msg, cap, "mount failed: %s %s; ", hdb_strerror(rc), hdb_errdetail());
		return false;
	}
	read_tree(r.fs, HDB_FS_ROOT_INO, "", got, msg, cap);
	snap_sort(got);
	unsigned pending = count_tag(r.db, HDB_FS_TAG_PENDING), orphans = count_tag(r.db, HDB_FS_TAG_ORPHAN);
	if (pending || orphans)
		db_fixture_appendf(msg, cap, "after recovery %u pending and %u orphan records are left; ", pending, orphans);
	struct reports fr = { 0 };
	rc = hdb_fs_check(r.db, fs_report, &fr);
	if (rc)
		db_fixture_appendf(msg, cap, "fs check: %s (%u problems, first: %s); ", hdb_strerror(rc), fr.n, fr.first);
	rc = unmount_fs(&r);
	if (rc)
		db_fixture_appendf(msg, cap, "close after recovery: %s; ", hdb_strerror(rc));
	return true;
}

static bool same_tree(const struct snap *a, const struct snap *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->e[i].path, b->e[i].path) || a->e[i].val != b->e[i].val)
			return false;
	return true;
}

struct totals {
	unsigned runs, crashed, recoveries_cut, torn_wal_reports, failures;
	char failure[6][1600];
};

/* The power fails again during the mount that recovers from the crash at
 * sync point k: during one of its first four sync points (replaying the
 * WAL into a table, the fs's recovery batch, the close).  Returns whether
 * it did fail before the mount was done. */
static bool cut_recovery(const char *path, const struct config *cfg, int64_t k, uint64_t seed)
{
	hdb_env *env = fault_env_new();
	assert_non_null(env);
	fault_env_set_crash_at_sync(env, 1 + (k / 2) % 4);
	if (k % 4 == 1)
		fault_env_keep_unsynced(env, seed ^ (uint64_t)k ^ 0x5a);
	struct runner r = { .cfg = cfg, .path = path };
	engine_options(&r.eopt, env);
	if (!mount_fs(&r))
		unmount_fs(&r);
	bool cut = fault_env_crashed(env);
	assert_int_equal(fault_env_simulate_crash(env), 0);
	fault_env_free(env);
	return cut;
}

/* One crash point: run, lose power, recover twice, verify.  after_sync:
 * the power fails right after sync point k; else during it. */
static void crash_at(const struct config *cfg, const struct script *sc, int64_t k, bool after_sync, uint64_t seed,
                     struct totals *t)
{
	char dir[128], path[160], msg[1200] = "";
	db_fixture_tmp(dir, sizeof(dir), tmp_base());
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	assert_non_null(env);
	if (after_sync)
		fault_env_set_crash_after(env, k);
	else
		fault_env_set_crash_at_sync(env, k);
	if ((k + after_sync) % 2)
		fault_env_keep_unsynced(env, seed ^ (uint64_t)k);
	struct outcome out;
	run_script(path, env, cfg, sc, &out);
	bool crashed = fault_env_crashed(env);
	t->crashed += crashed;
	assert_int_equal(fault_env_simulate_crash(env), 0);
	fault_env_free(env);
	if (out.stopped && !crashed)
		db_fixture_appendf(msg, sizeof(msg), "step %zu (%s) returned %d, not %d, with the power on; ", out.stopped_at,
		                   stop_name(sc, &out), out.first_error, out.expected);

	if (k % 2)
		t->recoveries_cut += cut_recovery(path, cfg, k, seed);

	/* before recovery, only a WAL tail may look damaged */
	struct reports before = { 0 };
	int rc = hdb_check(path, engine_report, &before);
	t->torn_wal_reports += before.wal;
	if (rc && rc != HDB_ECORRUPT && !(rc == -ENOENT && out.durable == 0))
		db_fixture_appendf(msg, sizeof(msg), "check before recovery: %s; ", hdb_strerror(rc));
	if (before.n)
		db_fixture_appendf(msg, sizeof(msg), "check before recovery: %s; ", before.first);

	struct snap got = { 0 }, again = { 0 };
	bool mounted = mount_and_read(path, cfg, &got, msg, sizeof(msg));
	if (mounted)
		check_prefix(sc, &got, &out, msg, sizeof(msg));
	if (mount_and_read(path, cfg, &again, msg, sizeof(msg)) && mounted && !same_tree(&got, &again))
		db_fixture_appendf(msg, sizeof(msg), "a second mount shows another tree (%zu entries, first had %zu); ", again.n,
		                   got.n);
	struct reports after = { 0 };
	rc = hdb_check(path, engine_report, &after);
	if (rc)
		db_fixture_appendf(msg, sizeof(msg), "check after recovery: %s (%s); ", hdb_strerror(rc),
		                   after.n ? after.first : "WAL");
	free(got.e);
	free(again.e);

	t->runs++;
	if (msg[0]) {
		if (t->failures < 6) {
			const char *at = stop_name(sc, &out);
			snprintf(t->failure[t->failures], sizeof(t->failure[0]),
			         "crash %s sync %" PRId64 " (stopped at step %zu, %s, by %s; "
			         "durable %zu, attempted %zu): %s",
			         after_sync ? "after" : "during", k, out.stopped_at, at, hdb_strerror(out.first_error),
			         out.durable, out.attempted, msg);
		}
		t->failures++;
	}
	db_fixture_rm_tmp(dir);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/* The sync points to try: all of 0..total, or the first and last
 * EDGE_POINTS and MAX_POINTS others drawn from the seed.  Sorted. */
static size_t choose_points(uint64_t total, uint64_t seed, int64_t **out)
{
	size_t n = 0;
	int64_t *pts = malloc((total + 1) * sizeof(*pts));
	assert_non_null(pts);
	if (total + 1 <= MAX_POINTS + 2 * EDGE_POINTS) {
		for (uint64_t k = 0; k <= total; k++)
			pts[n++] = (int64_t)k;
		*out = pts;
		return n;
	}
	bool *take = calloc(total + 1, sizeof(*take));
	assert_non_null(take);
	for (uint64_t k = 0; k < EDGE_POINTS; k++)
		take[k] = take[total - k] = true;
	uint64_t middle = total + 1 - 2 * EDGE_POINTS, drawn = 0;
	uint64_t saved = rng_state;
	rng_state = seed ^ UINT64_C(0xa5a5a5a5);
	while (drawn < MAX_POINTS) {
		uint64_t k = EDGE_POINTS + rnd() % middle;
		if (!take[k]) {
			take[k] = true;
			drawn++;
		}
	}
	rng_state = saved;
	for (uint64_t k = 0; k <= total; k++)
		if (take[k])
			pts[n++] = (int64_t)k;
	free(take);
	*out = pts;
	return n;
}

static void print_points(const int64_t *pts, size_t n)
{
	char line[8192] = "";
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		while (j + 1 < n && pts[j + 1] == pts[j] + 1)
			j++;
		if (j > i)
			db_fixture_appendf(line, sizeof(line), "%s%" PRId64 "-%" PRId64, i ? "," : "", pts[i], pts[j]);
		else
			db_fixture_appendf(line, sizeof(line), "%s%" PRId64, i ? "," : "", pts[i]);
		i = j;
	}
	print_message("  sync points tried: %s\n", line);
}

static void every_sync_point(const struct config *cfg)
{
	uint64_t seed = env_u64("HDB_SEED", DEFAULT_SEED);
	struct script *sc = make_script(seed, (unsigned)env_u64("HDB_FS_CRASH_ACTIONS", DEFAULT_ACTIONS));

	/* a run without a crash counts the sync points and must itself pass */
	char dir[128], path[160];
	db_fixture_tmp(dir, sizeof(dir), tmp_base());
	snprintf(path, sizeof(path), "%s/db", dir);
	hdb_env *env = fault_env_new();
	assert_non_null(env);
	struct outcome out;
	run_script(path, env, cfg, sc, &out);
	uint64_t total = fault_env_sync_count(env);
	fault_env_free(env);
	struct snap got = { 0 };
	char msg[1200] = "";
	if (!out.stopped) {
		mount_and_read(path, cfg, &got, msg, sizeof(msg));
		check_prefix(sc, &got, &out, msg, sizeof(msg));
	}
	free(got.e);
	db_fixture_rm_tmp(dir);
	if (out.stopped)
		snprintf(msg, sizeof(msg), "step %zu (%s) returned %s, expected %d", out.stopped_at,
		         stop_name(sc, &out), hdb_strerror(out.first_error), out.expected);
	if (msg[0]) {
		free_script(sc);
		fail_msg("the script fails without a crash: %s", msg);
	}

	int64_t *pts;
	size_t npts = choose_points(total, seed, &pts);
	print_message("fs crash test, sync=%s: seed %" PRIu64 ", %u actions, %zu fs operations, %zu paths, %" PRIu64
	              " sync points, trying %s%zu\n",
	              cfg->name, seed, sc->actions, sc->n, sc->npaths, total,
	              npts == total + 1 ? "every one: " : "a sample: ", npts);
	if (npts != total + 1)
		print_points(pts, npts);
	assert_true(total >= 20);

	struct totals t = { 0 };
	for (size_t i = 0; i < npts; i++) {
		crash_at(cfg, sc, pts[i], true, seed, &t);
		if (pts[i] > 0)
			crash_at(cfg, sc, pts[i], false, seed, &t);
	}
	print_message("fs crash test, sync=%s: %u crash runs, %u crashed mid-workload, %u with the recovering mount "
	              "crashed too, %u torn-WAL reports from hdb_check before recovery, %u survived, %u failed\n",
	              cfg->name, t.runs, t.crashed, t.recoveries_cut, t.torn_wal_reports, t.runs - t.failures,
	              t.failures);
	for (unsigned i = 0; i < t.failures && i < 6; i++)
		print_message("  %s\n\n", t.failure[i]);
	free(pts);
	free_script(sc);
	assert_int_equal(t.failures, 0);
}

static void test_fs_crash_every_sync_point_sync_always(void **state)
{
	static const struct config cfg = { "always", true };
	every_sync_point(&cfg);
}

static void test_fs_crash_every_sync_point_sync_never(void **state)
{
	static const struct config cfg = { "never", false };
	every_sync_point(&cfg);
}

/* The fs logs every rejected close, and the script makes some on purpose
 * in each of its hundreds of runs. */
static void quiet_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
}

int main(void)
{
	fuse_set_log_func(quiet_log);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fs_crash_every_sync_point_sync_always, db_fixture_rm_tmp_dirs),
		cmocka_unit_test_teardown(test_fs_crash_every_sync_point_sync_never, db_fixture_rm_tmp_dirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
