/*
 * fs_file.c — open files: content buffers, write-back at close, and the
 * document rule (a "*.json" file commits only valid JSON).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "fs_internal.h"
#include "qindex.h"
#include "tables.h"
#include "vfiles.h"

int fs_file_validate(hdb_fs *fs, uint64_t parent, const char *name, const void *data, size_t len)
{
	hdb_json_error err = { 0 };
	if (!hdb_fs_is_doc_name(name, strlen(name)) || !hdb_json_validate(data, len, &err))
		return 0;
	FS_COUNT(fs, json_errors);
	char path[1024];
	hdb_fs_path(fs, parent, name, path, sizeof(path));
	hdb_fs_log("%s: invalid JSON at byte %zu: %s", path, err.offset, err.reason ? err.reason : "error");
	return -EINVAL;
}

static bool valid_doc(const char *name, const hdb_wbuf *b)
{
	return !hdb_fs_is_doc_name(name, strlen(name)) || !hdb_json_validate(b->data, b->len, NULL);
}

/* The thread group of thread tid, from /proc; 0 when unknown. */
static int tgid_of(int tid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *t = strstr(buf, "\nTgid:");
	return t ? atoi(t + 7) : 0;
}

/* Whether a close by thread closer comes from the process that opened fh.
 * The kernel flushes at every close of every descriptor sharing a handle,
 * so a child that inherited it (`{ cmd1; cmd2; } > f.json`) flushes a
 * document that its parent is still writing. */
static bool same_process(int opener, int closer)
{
	if (!opener || !closer || opener == closer)
		return true;
	int tc = tgid_of(closer);
	if (!tc)
		return true;
	int to = tgid_of(opener);
	return tc == opener || (to && tc == to);
}

/* Updates the table after a change to fh's buffer: the inode's times move
 * on, and fh's size is what its own process sees (fs_file_getattr).
 * REQUIRES fh->mu. */
static void note_buffer_change(hdb_fs *fs, fs_fh *fh)
{
	hdb_fs_ts now = hdb_fs_now();
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, fh->ino);
	hdb_inode_ext *x = i ? i->x : NULL; /* loaded: fh is open */
	if (x) {
		if (!fh->listed) {
			x->ndirty++;
			fh->wnext = x->writers;
			x->writers = fh;
			fh->listed = true;
		}
		fh->vsize = fh->buf.len;
		x->attr.mtime = x->attr.ctime = now;
	}
	hdb_itable_unlock(fs->itab);
	fh->dirty = true;
}

/* Takes fh off its inode's writers.  Returns whether it was on the list:
 * then the kernel may hold fh's size for the inode.  REQUIRES the itab
 * lock, and fh->mu or the last reference to fh. */
static bool unlist_writer(hdb_inode *i, fs_fh *fh)
{
	if (!fh->listed)
		return false;
	fh->listed = false;
	if (!i || !i->x)
		return true;
	i->x->ndirty--;
	for (fs_fh **p = &i->x->writers; *p; p = &(*p)->wnext) {
		if (*p == fh) {
			*p = fh->wnext;
			break;
		}
	}
	return true;
}

/* Takes reader fh off i's page-cache readers; true if it was on the list.
 * REQUIRES the itab lock. */
static bool unlist_reader(hdb_inode *i, fs_fh *fh)
{
	for (fs_fh **p = &i->x->readers; *p; p = &(*p)->rnext) {
		if (*p == fh) {
			*p = fh->rnext;
			fh->cached_reader = false;
			return true;
		}
	}
	return false;
}

/* Drops fh's uncommitted changes.  Returns whether the kernel's cached size
 * may now be wrong (the caller then invalidates it, unlocked). */
static bool discard(hdb_fs *fs, fs_fh *fh)
{
	hdb_itable_lock(fs->itab);
	bool stale = unlist_writer(hdb_itable_get(fs->itab, fh->ino), fh);
	hdb_itable_unlock(fs->itab);
	fh->dirty = false;
	return stale;
}

bool fs_file_unborn(hdb_fs *fs, uint64_t ino, int pid)
{
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	int creator = i && i->x && i->x->pending ? i->x->creator : 0;
	hdb_itable_unlock(fs->itab);
	if (!creator || !pid || creator == pid)
		return false;
	int tgid = tgid_of(pid);
	return tgid && tgid != creator && tgid != tgid_of(creator);
}

int fs_file_getattr(hdb_fs *fs, uint64_t ino, const fs_fh *fh, int pid, struct stat *out, bool *unsettled)
{
	int tgid = 0;
	for (int pass = 0;; pass++) {
		hdb_inode *i;
		hdb_fs_attr a;
		hdb_itable_lock(fs->itab);
		int rc = fs_read_idle(fs, ino, &i, &a);
		if (rc || !i->x) { /* an idle inode has no writer */
			hdb_itable_unlock(fs->itab);
			if (!rc)
				hdb_fs_attr_to_stat(&a, out);
			*unsettled = false;
			return rc;
		}
		hdb_fs_stat(i, out);
		*unsettled = i->x->ndirty > 0;
		const fs_fh *w = NULL;
		bool ask_proc = false;
		if (fh && fh->kind == FS_FH_FILE) {
			w = fh->listed ? fh : NULL;
		} else if (pid) {
			for (w = i->x->writers; w && w->opener != pid && (!tgid || w->opener != tgid); w = w->wnext)
				;
			ask_proc = !w && i->x->writers && pass == 0;
		}
		if (w)
			out->st_size = (off_t)w->vsize;
		hdb_itable_unlock(fs->itab);
		/* A thread of a writer's process that is not the opener: match
		 * by thread group (read outside the lock). */
		if (!ask_proc)
			return 0;
		tgid = tgid_of(pid);
		if (!tgid || tgid == pid)
			return 0;
	}
}

static uint64_t content_gen(hdb_fs *fs, uint64_t ino)
{
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	uint64_t gen = i && i->x ? i->x->cgen : 0;
	hdb_itable_unlock(fs->itab);
	return gen;
}

/* Reads the committed content into fh->buf.  The generation is taken
 * first: a commit racing the read leaves fh->gen behind, and the next read
 * loads again. */
static int load_committed(hdb_fs *fs, fs_fh *fh)
{
	void *data;
	size_t len;
	uint64_t gen = content_gen(fs, fh->ino);
	int rc = fs_read_data(fs, fh->ino, &data, &len);
	if (rc)
		return rc;
	hdb_wbuf_free(&fh->buf);
	hdb_wbuf_adopt(&fh->buf, data, len);
	fh->gen = gen;
	return 0;
}

/* Whether a page-cache reader of i was opened by another process than
 * pid's (thread pid, thread group tgid: 0 if unknown).  REQUIRES the itab
 * lock. */
static bool foreign_reader(const hdb_inode *i, int pid, int tgid)
{
	for (const fs_fh *r = i->x->readers; r; r = r->rnext)
		if (!pid || (r->opener != pid && r->opener != tgid))
			return true;
	return false;
}

bool fs_file_foreign_readers(hdb_fs *fs, uint64_t ino, int pid, int tgid)
{
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, ino);
	bool r = i && i->x && foreign_reader(i, pid, tgid);
	hdb_itable_unlock(fs->itab);
	return r;
}

int fs_file_tgid(int pid)
{
	return pid ? tgid_of(pid) : 0;
}

/* A page-cache reader that loaded its content while another open's push
 * was under way (fs_file_push) may have loaded a newer version than the
 * one being stored: it reads without the page cache instead.  Whether it
 * left the readers.  The push takes its older version back (invalidates)
 * before it stops counting in npush. */
static bool unlist_if_pushing(hdb_fs *fs, fs_fh *fh)
{
	bool gone = false;
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, fh->ino); /* loaded: fh is open */
	if (i->x->npush) {
		gone = unlist_reader(i, fh);
		fh->uncached = true;
	}
	hdb_itable_unlock(fs->itab);
	return gone;
}

int fs_file_open(hdb_fs *fs, uint64_t ino, int flags, bool created, int pid, fs_fh **out)
{
	bool trunc = flags & O_TRUNC;
	bool writable = (flags & O_ACCMODE) != O_RDONLY || trunc;
	if (writable && fs->opt.read_only)
		return -EROFS;
	fs_fh *fh = calloc(1, sizeof(*fh));
	if (!fh)
		return -ENOMEM;
	fh->kind = FS_FH_FILE;
	fh->ino = ino;
	fh->opener = pid;
	fh->writable = writable;
	fh->append = flags & O_APPEND;
	fh->created = created;
	fh->rewriter = writable && !created;
	hdb_wbuf_init(&fh->buf);
	pthread_mutex_init(&fh->mu, NULL);

	hdb_inode *i = NULL;
	hdb_itable_lock(fs->itab);
	int rc = fs_inode_get_loaded(fs, ino, &i);
	if (!rc)
		rc = S_ISDIR(hdb_inode_type(i)) ? -EISDIR : !S_ISREG(hdb_inode_type(i)) ? -EINVAL : 0;
	uint64_t dsize = 0;
	if (!rc) {
		hdb_inode_ext *x = i->x;
		dsize = x->dsize;
		x->nopen++;
		if (fh->rewriter)
			x->nrewrite++;
		fh->uncached = !writable && (x->ndirty || x->nrewrite || x->npush);
		if (!writable && !fh->uncached) {
			fh->rnext = x->readers;
			x->readers = fh;
			fh->cached_reader = true;
		}
	}
	/* A failed open keeps nothing loaded (and the inode, which the
	 * kernel references, stays). */
	bool orphan = rc && i && hdb_itable_drop_unused(fs->itab, i);
	hdb_itable_unlock(fs->itab);
	if (orphan)
		fs_node_reap_orphan(fs, ino);
	if (rc) {
		pthread_mutex_destroy(&fh->mu);
		free(fh);
		return rc;
	}
	fs_handle_add(fs, &fs->files, &fh->link);
	if (!created && !trunc) {
		rc = load_committed(fs, fh);
		if (rc) {
			fs_file_release(fs, fh);
			return rc;
		}
	}
	if (fh->cached_reader && unlist_if_pushing(fs, fh))
		fs_park_reader_gone(fs, ino);
	if (trunc && writable && dsize) {
		pthread_mutex_lock(&fh->mu);
		note_buffer_change(fs, fh);
		pthread_mutex_unlock(&fh->mu);
	}
	*out = fh;
	return 0;
}

static bool not_after(hdb_fs_ts x, hdb_fs_ts y)
{
	return x.sec < y.sec || (x.sec == y.sec && x.nsec <= y.nsec);
}

/* relatime: an access updates atime when it is not newer than mtime or
 * ctime, or is a day old. */
static bool atime_due(const hdb_fs_attr *a, hdb_fs_ts now)
{
	return not_after(a->atime, a->mtime) || not_after(a->atime, a->ctime) || now.sec - a->atime.sec >= 86400;
}

/* An access (the first read of an open, or the push of its content)
 * updates atime by the relatime rule.  Whether it changed it. */
static bool maybe_touch_atime(hdb_fs *fs, uint64_t ino)
{
	if (fs->opt.noatime || fs->opt.read_only)
		return false;
	hdb_fs_ts now = hdb_fs_now();
	fs_snap s;
	fs_txn t;
	if (fs_txn_begin(fs, &t))
		return false;
	int rc = fs_snap_inode(fs, ino, &s);
	bool touch = !rc && !s.unlinked && atime_due(&s.attr, now);
	if (touch) {
		s.attr.atime = now;
		hdb_fs_attr disk = s.attr;
		disk.size = s.dsize;
		rc = fs_txn_put_entry(&t, s.parent, s.name, s.nlen, &disk);
		fs_txn_upd(&t, ino, FS_UPD_ATIME, &s.attr, 0);
		if (!rc)
			rc = fs_txn_write(fs, &t);
	}
	fs_txn_end(fs, &t, rc, false);
	return touch && !rc;
}

/*
 * A small document's content goes to the kernel's page cache with its open
 * (FUSE_NOTIFY_STORE), so that reading it takes no READ round trip.  That
 * saves a second one too: the kernel marks atime stale after every read it
 * sends here, and the next stat of the file then asks for attributes.
 *
 * Pages the kernel holds are never dirty (writable handles use direct I/O),
 * so storing committed content overwrites nothing newer.  A commit that
 * lands while the content is on its way bumps cgen and invalidates the
 * pages; the push checks cgen after storing and invalidates them again if
 * it stored an older version, before it stops counting in npush.  Opens
 * that overlap a push (npush, checked before and after they load) bypass
 * the page cache, so none reads the older version in between.
 *
 * The store waits for the locks of pages that the kernel is reading in
 * through another worker (a READ of a reader that got no push).  One push
 * at a time, skipped when another is under way, leaves the other workers
 * free to answer those READs.
 */
void fs_file_push(hdb_fs *fs, fs_fh *fh)
{
	size_t len = fh->buf.len;
	if (!fs->kernel.store || fh->kind != FS_FH_FILE || !fh->cached_reader || !len || len > FS_PUSH_MAX ||
	    atomic_load_explicit(&fs->no_push, memory_order_relaxed))
		return;
	if (atomic_exchange_explicit(&fs->pushing, true, memory_order_acquire))
		return;
	hdb_fs_ts now = hdb_fs_now();
	bool push = false, touch = false;
	hdb_itable_lock(fs->itab);
	hdb_inode *i = hdb_itable_get(fs->itab, fh->ino);
	if (i && i->x && i->x->cgen == fh->gen && !i->x->ndirty && !i->x->nrewrite) {
		i->x->npush++;
		push = true;
		touch = atime_due(&i->x->attr, now);
	}
	hdb_itable_unlock(fs->itab);
	if (!push) {
		atomic_store_explicit(&fs->pushing, false, memory_order_release);
		return;
	}
	int rc = fs->kernel.store(fs->kernel.ctx, fh->ino, fh->buf.data, len);
	atomic_store_explicit(&fs->pushing, false, memory_order_release);
	/* A version stored after a newer one's commit is taken back before
	 * npush lets other opens use the page cache again. */
	if (content_gen(fs, fh->ino) != fh->gen)
		fs_notify_inval_inode(fs, fh->ino);
	hdb_itable_lock(fs->itab);
	i = hdb_itable_get(fs->itab, fh->ino); /* loaded: fh is open */
	i->x->npush--;
	hdb_itable_unlock(fs->itab);
	if (rc == -ENOSYS)
		atomic_store_explicit(&fs->no_push, true, memory_order_relaxed);
	if (rc)
		return; /* reads come here, and consider atime */
	FS_COUNT(fs, pushes);
	/* Reads will not come: this is the access that counts for atime, and
	 * the kernel's copy of the attributes must be refreshed after it. */
	fh->read_seen = true;
	if (touch && maybe_touch_atime(fs, fh->ino))
		fs_notify_inval_attr(fs, fh->ino);
}

int fs_file_open_virtual(hdb_fs *fs, uint64_t ino, int flags, fs_fh **out)
{
	fs_fh *fh = calloc(1, sizeof(*fh));
	if (!fh)
		return -ENOMEM;
	fh->kind = ino == HDB_VFILE_CONTROL_INO ? FS_FH_CONTROL : FS_FH_STATS;
	fh->ino = ino;
	hdb_wbuf_init(&fh->buf);
	int rc = hdb_vfile_open(fs, ino, flags, &fh->buf);
	if (rc) {
		free(fh);
		return rc;
	}
	pthread_mutex_init(&fh->mu, NULL);
	fs_handle_add(fs, &fs->files, &fh->link);
	*out = fh;
	return 0;
}

int fs_file_read(hdb_fs *fs, fs_fh *fh, uint64_t off, size_t size, void **buf, size_t *n)
{
	pthread_mutex_lock(&fh->mu);
	/* A page-cache reader serves the committed version, not the one of its
	 * open: the kernel fills one page cache per inode from every handle's
	 * reads.  A reader without the page cache keeps its open's version. */
	if (fh->kind == FS_FH_FILE && !fh->writable && !fh->uncached && fh->gen != content_gen(fs, fh->ino)) {
		int rc = load_committed(fs, fh);
		if (rc) {
			pthread_mutex_unlock(&fh->mu);
			return rc;
		}
	}
	const uint8_t *p;
	size_t got = hdb_wbuf_read(&fh->buf, off, size, &p);
	void *copy = got ? malloc(got) : NULL;
	if (got && !copy) {
		pthread_mutex_unlock(&fh->mu);
		return -ENOMEM;
	}
	if (got)
		memcpy(copy, p, got);
	bool first = !fh->read_seen;
	fh->read_seen = true;
	pthread_mutex_unlock(&fh->mu);
	if (first && fh->kind == FS_FH_FILE)
		maybe_touch_atime(fs, fh->ino);
	*buf = copy;
	*n = got;
	return 0;
}

int fs_file_write(hdb_fs *fs, fs_fh *fh, uint64_t off, const void *p, size_t n)
{
	int rc;
	pthread_mutex_lock(&fh->mu);
	if (!fh->writable) {
		rc = -EBADF;
		goto out;
	}
	if (fh->failed) {
		rc = -EFBIG;
		goto out;
	}
	if (fh->append)
		off = fh->buf.len;
	rc = hdb_wbuf_write(&fh->buf, off, p, n, fs->opt.max_doc_size);
	if (rc == -EFBIG)
		fh->failed = true;
	if (!rc && n) {
		note_buffer_change(fs, fh);
		fh->rejected = false;
	}
out:
	pthread_mutex_unlock(&fh->mu);
	return rc;
}

int fs_file_truncate(hdb_fs *fs, fs_fh *fh, uint64_t size)
{
	pthread_mutex_lock(&fh->mu);
	int rc = fh->writable ? hdb_wbuf_truncate(&fh->buf, size, fs->opt.max_doc_size) : -EINVAL;
	if (!rc) {
		note_buffer_change(fs, fh);
		fh->rejected = false;
	}
	pthread_mutex_unlock(&fh->mu);
	return rc;
}

/* REQUIRES commit_mu (inside t) and fh->mu.  Builds the batch that makes
 * fh's buffer the file's content.  *gone when the file was removed.  The
 * table check runs here, under commit_mu, so that it sees the schema the
 * commit is made under (tables.h); quiet: do not log a violation. */
static int commit_build(hdb_fs *fs, fs_txn *t, fs_fh *fh, const char *checked_name, bool quiet, bool *gone)
{
	fs_snap s;
	*gone = fs_snap_inode(fs, fh->ino, &s) || s.unlinked;
	if (*gone)
		return 0;
	/* Renamed to a document name since it was checked? */
	if (hdb_fs_is_doc_name(s.name, s.nlen) && !hdb_fs_is_doc_name(checked_name, strlen(checked_name))) {
		int rc = fs_file_validate(fs, s.parent, s.name, fh->buf.data, fh->buf.len);
		if (rc)
			return rc;
	}
	int rc = fs_table_check_locked(fs, s.parent, s.name, s.nlen, fh->buf.data, fh->buf.len, NULL, quiet);
	if (rc)
		return rc;
	hdb_fs_attr a = s.attr;
	a.size = fh->buf.len;
	t->sb.bytes = (t->sb.bytes > s.dsize ? t->sb.bytes - s.dsize : 0) + a.size;
	t->sb_dirty = a.size != s.dsize;
	rc = fs_index_on_commit(fs, t, s.parent, s.name, s.nlen, fh->ino, fh->buf.data, fh->buf.len);
	if (!rc)
		rc = fs_txn_put_data(t, fh->ino, fh->buf.data, fh->buf.len);
	if (!rc)
		rc = fs_txn_put_entry(t, s.parent, s.name, s.nlen, &a);
	if (!rc && s.pending)
		rc = fs_txn_del_pending(t, fh->ino);
	fs_txn_upd(t, fh->ino, FS_UPD_SIZE | FS_UPD_DSIZE | FS_UPD_UNPEND, &a, a.size);
	return rc;
}

/* Where a file is now: its name, for validation.  False if removed. */
static bool current_name(hdb_fs *fs, uint64_t ino, uint64_t *parent, char *name)
{
	fs_snap s;
	if (fs_snap_inode(fs, ino, &s) || s.unlinked)
		return false;
	*parent = s.parent;
	memcpy(name, s.name, s.nlen + 1);
	return true;
}

/* The open's changes are given up (invalid JSON or EFBIG at its last
 * close): drop them, and a file it created goes away again.  REQUIRES
 * fh->mu. */
static void abandon(hdb_fs *fs, fs_fh *fh)
{
	bool stale = discard(fs, fh);
	if (fh->created)
		fs_node_undo_create(fs, fh->ino);
	else if (stale)
		fs_notify_inval_inode(fs, fh->ino);
	fh->created = false;
}

/* How a commit reacts to content it cannot commit. */
enum commit_mode {
	COMMIT_LENIENT, /* close by a process that inherited the handle: keep quiet */
	COMMIT_STRICT,  /* fsync: fail, keep the buffer */
	COMMIT_CLOSE,   /* close by the opener: fail; give up unless it holds more */
	COMMIT_FINAL,   /* release: fail and give the changes up */
};

/* Whether process pid still has a descriptor on inode ino.  Run at a close,
 * where the closed descriptor has already left the process's table, so a
 * hit is a dup (a shell redirect: open, dup2 to 1, close, write ...). */
static bool process_holds(int pid, uint64_t ino)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	DIR *d = opendir(path);
	if (!d)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		char buf[512];
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		const char *t = strstr(buf, "\nino:");
		found = t && strtoull(t + 5, NULL, 10) == ino;
	}
	closedir(d);
	return found;
}

/* A close by the opener that is not its last: the process keeps the file
 * open through another descriptor, so nothing is given up yet. */
static bool more_to_come(enum commit_mode mode, int closer, uint64_t ino)
{
	return mode == COMMIT_LENIENT || mode == COMMIT_STRICT ||
	       (mode == COMMIT_CLOSE && process_holds(closer, ino));
}

/* Why fh's buffer cannot be committed under name: 0, -EFBIG or -EINVAL
 * (logged once per version of the buffer unless lenient). */
static int check_buffer(hdb_fs *fs, fs_fh *fh, uint64_t parent, const char *name, enum commit_mode mode)
{
	if (fh->failed)
		return -EFBIG;
	if (mode == COMMIT_LENIENT)
		return valid_doc(name, &fh->buf) ? 0 : -EINVAL;
	if (fh->rejected)
		return -EINVAL; /* unchanged since the close that logged it */
	int rc = fs_file_validate(fs, parent, name, fh->buf.data, fh->buf.len);
	fh->rejected = rc != 0;
	return rc;
}

static int commit_write(hdb_fs *fs, fs_fh *fh, const char *name, bool quiet)
{
	fs_txn t;
	bool gone;
	int rc = fs_txn_begin(fs, &t);
	if (rc)
		return rc;
	rc = commit_build(fs, &t, fh, name, quiet, &gone);
	if (!rc && !gone)
		rc = fs_txn_write(fs, &t);
	rc = fs_txn_end(fs, &t, rc, false);
	if (rc)
		return rc;
	FS_COUNT(fs, commits);
	hdb_itable_lock(fs->itab);
	unlist_writer(hdb_itable_get(fs->itab, fh->ino), fh);
	hdb_itable_unlock(fs->itab);
	fh->dirty = false;
	fh->created = false;
	fs_content_changed(fs, fh->ino);
	return 0;
}

/* The last close of a handle that created a file and wrote nothing.  A
 * new empty document is not valid JSON: it fails with EINVAL and is removed
 * again, except one created with no permission bits at all, which is how
 * GNU tar reserves the name of a link it makes at the end (the placeholder
 * stays, empty).  Other empty files simply stay. */
static int finish_empty(hdb_fs *fs, fs_fh *fh, uint64_t parent, const char *name)
{
	fs_snap s;
	fh->created = false;
	if (fs_snap_inode(fs, fh->ino, &s) || s.unlinked || !s.pending)
		return 0;
	if (!(s.attr.mode & 07777))
		return fs_node_finish_create(fs, fh->ino);
	fs_file_validate(fs, parent, name, "", 0);
	fs_node_undo_create(fs, fh->ino);
	return -EINVAL;
}

/* Commits fh's buffer when it holds changes.  closer: see fs_file_commit.
 * REQUIRES fh->mu. */
static int commit_locked(hdb_fs *fs, fs_fh *fh, enum commit_mode mode, int closer)
{
	uint64_t parent;
	char name[HDB_FS_NAME_MAX + 1];
	if (!fh->dirty && !fh->created)
		return 0;
	if (!current_name(fs, fh->ino, &parent, name)) {
		discard(fs, fh);
		fh->created = false;
		return 0;
	}
	if (!fh->dirty)
		return more_to_come(mode, closer, fh->ino) ? 0 : finish_empty(fs, fh, parent, name);
	/* Validation runs before commit_mu: it is the long part. */
	int rc = check_buffer(fs, fh, parent, name, mode);
	if (rc && mode == COMMIT_LENIENT)
		return 0;
	if (!rc)
		rc = commit_write(fs, fh, name, mode == COMMIT_LENIENT);
	if (rc == -EINVAL && mode == COMMIT_LENIENT)
		return 0; /* quiet, and the opener's close checks again */
	if (rc == -EINVAL)
		fh->rejected = true;
	if (rc && !more_to_come(mode, closer, fh->ino))
		abandon(fs, fh);
	return rc;
}

int fs_file_commit(hdb_fs *fs, fs_fh *fh, int closer)
{
	if (fh->kind != FS_FH_FILE)
		return 0;
	enum commit_mode mode = !closer ? COMMIT_STRICT
	                        : same_process(fh->opener, closer) ? COMMIT_CLOSE : COMMIT_LENIENT;
	pthread_mutex_lock(&fh->mu);
	int rc = commit_locked(fs, fh, mode, closer);
	pthread_mutex_unlock(&fh->mu);
	return rc;
}

void fs_file_release(hdb_fs *fs, fs_fh *fh)
{
	if (fh->kind == FS_FH_FILE) {
		pthread_mutex_lock(&fh->mu);
		bool had_changes = fh->dirty;
		int rc = commit_locked(fs, fh, COMMIT_FINAL, 0);
		pthread_mutex_unlock(&fh->mu);
		if (rc && had_changes) {
			char path[1024];
			fs_snap s;
			if (fs_snap_inode(fs, fh->ino, &s))
				snprintf(path, sizeof(path), "inode %llu", (unsigned long long)fh->ino);
			else
				hdb_fs_path(fs, s.parent, s.name, path, sizeof(path));
			hdb_fs_log("%s: changes discarded at close: %s", path, strerror(hdb_fs_errno(rc)));
		}
		bool orphan = false, reader_gone = false;
		hdb_itable_lock(fs->itab);
		hdb_inode *i = hdb_itable_get(fs->itab, fh->ino);
		unlist_writer(i, fh); /* normally done by the commit or discard */
		if (i && i->x) {
			i->x->nopen--;
			if (fh->rewriter)
				i->x->nrewrite--;
			reader_gone = fh->cached_reader && unlist_reader(i, fh);
			orphan = hdb_itable_drop_unused(fs->itab, i);
		}
		hdb_itable_unlock(fs->itab);
		if (reader_gone)
			fs_park_reader_gone(fs, fh->ino);
		if (orphan)
			fs_node_reap_orphan(fs, fh->ino);
	}
	fs_handle_remove(fs, &fh->link);
	hdb_wbuf_free(&fh->buf);
	pthread_mutex_destroy(&fh->mu);
	free(fh);
}
