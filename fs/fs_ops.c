/*
 * fs_ops.c — the FUSE low-level callbacks.  Each decodes its request, calls
 * a helper (fs_node.c, fs_file.c, fs_dir.c, vfiles.c) and replies; errors
 * from the engine become errno values here (hdb_fs_errno).
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs_dir.h"
#include "fs_internal.h"
#include "park.h"
#include "qvfs.h"
#include "vfiles.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uint64_t), "inode numbers are 64-bit");
_Static_assert(FUSE_ROOT_ID == HDB_FS_ROOT_INO, "the root is inode 1");

static hdb_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static fs_fh *fh_of(const struct fuse_file_info *fi)
{
	return fi ? (fs_fh *)(uintptr_t)fi->fh : NULL;
}

/* Replies with an error from a helper: 0 or negative errno/engine code. */
static void reply_rc(fuse_req_t req, int rc)
{
	fuse_reply_err(req, hdb_fs_errno(rc));
}

static double timeout_for(uint64_t parent, uint64_t ino)
{
	return parent >= HDB_FS_VIRT_INO || ino >= HDB_FS_VIRT_INO ? FS_CACHE_TIMEOUT : FS_STORED_TIMEOUT;
}

/* How long the kernel may keep attributes: not at all while a writer
 * holds changes (each process is told its own size, fs_file_getattr). */
static double attr_timeout(hdb_fs *fs, uint64_t parent, uint64_t ino)
{
	return ino < HDB_FS_VIRT_INO && fs_unsettled(fs, ino) ? 0 : timeout_for(parent, ino);
}

static void fill_entry(hdb_fs *fs, struct fuse_entry_param *e, const struct stat *st, uint64_t parent)
{
	memset(e, 0, sizeof(*e));
	e->ino = st->st_ino;
	e->attr = *st;
	e->entry_timeout = timeout_for(parent, st->st_ino);
	e->attr_timeout = attr_timeout(fs, parent, st->st_ino);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	/* O_TRUNC must arrive with open, not as a separate setattr: truncating
	 * a document to zero bytes on its own would be an invalid version. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Every write must reach the daemon before close returns. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* Every change of content drops the kernel's pages explicitly (the
	 * commit, a path truncate, an import: fs_content_changed and
	 * import.c), and a change of size drops them in any case.  The
	 * kernel's own rule would also drop them whenever it sees a new mtime,
	 * which the first stat after a write always shows: the content an open
	 * had just handed over would be read again. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	hdb_fs *fs = userdata;
	unsigned splice = FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (fs->opt.splice)
		conn->want |= conn->capable & splice;
	else
		conn->want &= ~splice;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	hdb_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct stat st;
	FS_COUNT(fs, lookups);
	uint64_t v = parent == HDB_FS_ROOT_INO ? hdb_vfile_by_name(name) : 0;
	int rc = 0;
	if (v)
		hdb_vfile_stat(fs, v, &st);
	else
		rc = fs_node_lookup(fs, parent, name, &st);
	if (rc == -ENOENT) {
		/* A negative entry: the kernel caches the absence too. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = timeout_for(parent, 0);
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fill_entry(fs, &e, &st, parent);
	fuse_reply_entry(req, &e);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	hdb_fs *fs = fs_of(req);
	hdb_itable_lock(fs->itab);
	bool orphan = hdb_itable_forget(fs->itab, ino, nlookup);
	hdb_itable_unlock(fs->itab);
	if (orphan)
		fs_node_reap_orphan(fs, ino);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	hdb_fs *fs = fs_of(req);
	for (size_t i = 0; i < count; i++) {
		hdb_itable_lock(fs->itab);
		bool orphan = hdb_itable_forget(fs->itab, forgets[i].ino, forgets[i].nlookup);
		hdb_itable_unlock(fs->itab);
		if (orphan)
			fs_node_reap_orphan(fs, forgets[i].ino);
	}
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	hdb_fs *fs = fs_of(req);
	struct stat st;
	bool unsettled = false;
	int rc = 0;
	FS_COUNT(fs, getattrs);
	if (hdb_vfile_is(ino))
		hdb_vfile_stat(fs, ino, &st);
	else
		rc = fs_file_getattr(fs, ino, fh_of(fi), fuse_req_ctx(req)->pid, &st, &unsettled);
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, unsettled ? 0 : timeout_for(0, ino));
}

/* Virtual files take no attribute changes, except the truncation that a
 * shell's `echo cmd > .control` asks for. */
static int vfile_setattr(hdb_fs *fs, fuse_ino_t ino, int valid, struct stat *out)
{
	hdb_vfile_stat(fs, ino, out);
	if (ino == HDB_VFILE_STATS_INO && (valid & FUSE_SET_ATTR_SIZE))
		return -EACCES;
	if (valid & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_FILE | FUSE_SET_ATTR_OPEN))
		return -EPERM;
	return 0;
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	hdb_fs *fs = fs_of(req);
	struct stat st;
	bool unsettled = false;
	FS_COUNT(fs, setattrs);
	int rc;
	if (hdb_vfile_is(ino)) {
		rc = vfile_setattr(fs, ino, to_set, &st);
	} else {
		rc = fs_node_setattr(fs, ino, attr, to_set, fh_of(fi));
		if (!rc)
			rc = fs_file_getattr(fs, ino, fh_of(fi), fuse_req_ctx(req)->pid, &st, &unsettled);
	}
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, unsettled ? 0 : timeout_for(0, ino));
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *target;
	int rc = fs_node_readlink(fs_of(req), ino, &target);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fuse_reply_readlink(req, target);
	free(target);
}

static void reply_made(fuse_req_t req, int rc, fuse_ino_t parent, const struct stat *st)
{
	struct fuse_entry_param e;
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fill_entry(fs_of(req), &e, st, parent);
	fuse_reply_entry(req, &e);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	hdb_fs *fs = fs_of(req);
	struct stat st;
	int rc;
	if (!S_ISREG(mode))
		rc = -EPERM;
	else if (hdb_fs_is_doc_name(name, strlen(name)))
		rc = -EINVAL; /* an empty file is not a document */
	else
		rc = fs_node_make(fs, fuse_req_ctx(req), parent, name, mode, NULL, &st);
	if (!rc)
		FS_COUNT(fs, creates);
	reply_made(req, rc, parent, &st);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	hdb_fs *fs = fs_of(req);
	struct stat st;
	FS_COUNT(fs, mkdirs);
	int rc = fs_node_make(fs, fuse_req_ctx(req), parent, name, S_IFDIR | (mode & 07777), NULL, &st);
	reply_made(req, rc, parent, &st);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	hdb_fs *fs = fs_of(req);
	struct stat st;
	FS_COUNT(fs, symlinks);
	int rc = fs_node_make(fs, fuse_req_ctx(req), parent, name, S_IFLNK | 0777, link, &st);
	reply_made(req, rc, parent, &st);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	hdb_fs *fs = fs_of(req);
	FS_COUNT(fs, unlinks);
	reply_rc(req, fs_node_unlink(fs, parent, name, false));
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	hdb_fs *fs = fs_of(req);
	FS_COUNT(fs, rmdirs);
	reply_rc(req, fs_node_unlink(fs, parent, name, true));
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	hdb_fs *fs = fs_of(req);
	FS_COUNT(fs, renames);
	reply_rc(req, fs_node_rename(fs, parent, name, newparent, newname, flags));
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EPERM);
}

/* Sets up fi for a new handle.  Handles opened for writing bypass the page
 * cache: their reads must see their own buffer, and the shared cache must
 * keep the committed version for other readers.  So does a reader opened
 * while a document is rewritten in place: the kernel's size for the inode
 * may then be the writer's, and cached reads would stop there. */
static void set_fi(fuse_req_t req, struct fuse_file_info *fi, fs_fh *fh)
{
	fi->fh = (uint64_t)(uintptr_t)fh;

	fi->direct_io = fh->kind != FS_FH_FILE || fh->writable || fh->uncached;
	/* Readers keep the page cache across opens; a commit of new content
	 * invalidates it (fs_file.c), so a later open never reads old pages. */
	fi->keep_cache = !fi->direct_io;
	/* A reader's close has nothing to commit: no FLUSH round trip. */
	fi->noflush = !fi->direct_io;
	if (fi->keep_cache)
		fs_mark_kernel_cached(fs_of(req), fh->ino);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	hdb_fs *fs = fs_of(req);
	fs_fh *fh;
	FS_COUNT(fs, opens);
	int pid = fuse_req_ctx(req)->pid;
	int rc;
	if (hdb_vfile_is(ino))
		rc = fs_file_open_virtual(fs, ino, fi->flags, &fh);
	else if ((fi->flags & (O_ACCMODE | O_TRUNC)) == O_RDONLY && fs_file_unborn(fs, ino, pid))
		rc = -ENOENT; /* DESIGN.md: visible to other opens from its first close */
	else
		rc = fs_file_open(fs, ino, fi->flags, false, pid, &fh);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	set_fi(req, fi, fh);
	if (fi->keep_cache)
		fs_file_push(fs, fh);
	if (fh->rewriter && fs_park_open(fs, req, fi, fh))
		return; /* answered once other processes' cached readers are gone */
	if (fuse_reply_open(req, fi))
		fs_file_release(fs, fh); /* the opener was interrupted */
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	hdb_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct stat st;
	fs_fh *fh;
	FS_COUNT(fs, creates);
	int rc = fs_node_make(fs, fuse_req_ctx(req), parent, name, S_IFREG | (mode & 07777), NULL, &st);
	if (!rc) {
		rc = fs_file_open(fs, st.st_ino, fi->flags & ~O_TRUNC, true, fuse_req_ctx(req)->pid, &fh);
		if (rc) {
			hdb_itable_lock(fs->itab);
			hdb_itable_forget(fs->itab, st.st_ino, 1);
			hdb_itable_unlock(fs->itab);
		}
	}
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fill_entry(fs, &e, &st, parent);
	set_fi(req, fi, fh);
	if (fuse_reply_create(req, &e, fi))
		fs_file_release(fs, fh);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	hdb_fs *fs = fs_of(req);
	void *buf;
	size_t n;
	FS_COUNT(fs, reads);
	int rc = off < 0 ? -EINVAL : fs_file_read(fs, fh_of(fi), (uint64_t)off, size, &buf, &n);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fuse_reply_buf(req, buf, n);
	free(buf);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	hdb_fs *fs = fs_of(req);
	fs_fh *fh = fh_of(fi);
	int rc;
	FS_COUNT(fs, writes);
	if (off < 0)
		rc = -EINVAL;
	else if (fh->kind == FS_FH_FILE)
		rc = fs_file_write(fs, fh, (uint64_t)off, buf, size);
	else
		rc = hdb_vfile_write(fs, ino, buf, size);
	if (rc)
		reply_rc(req, rc);
	else
		fuse_reply_write(req, size);
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	reply_rc(req, fs_file_commit(fs_of(req), fh_of(fi), fuse_req_ctx(req)->pid));
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_file_release(fs_of(req), fh_of(fi));
	fuse_reply_err(req, 0);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	hdb_fs *fs = fs_of(req);
	FS_COUNT(fs, fsyncs);
	int rc = fs_file_commit(fs, fh_of(fi), 0);
	if (!rc && !fs->opt.read_only)
		rc = hdb_sync(fs->db);
	reply_rc(req, rc);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_dh *dh;
	int rc = fs_dir_open(fs_of(req), ino, &dh);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)dh;
	if (fuse_reply_open(req, fi))
		fs_dir_release(fs_of(req), dh);
}

static void reply_dir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
	hdb_fs *fs = fs_of(req);
	char *buf;
	size_t len;
	FS_COUNT(fs, readdirs);
	int rc = fs_dir_fill(fs, req, (fs_dh *)(uintptr_t)fi->fh, size, off, plus, &buf, &len);
	if (rc) {
		reply_rc(req, rc);
		return;
	}
	fuse_reply_buf(req, buf, len);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_dir(req, size, off, fi, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_dir(req, size, off, fi, true);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_dir_release(fs_of(req), (fs_dh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	hdb_fs *fs = fs_of(req);
	reply_rc(req, fs->opt.read_only ? 0 : hdb_sync(fs->db));
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	hdb_fs *fs = fs_of(req);
	struct statvfs host = { 0 }, st = { 0 };
	pthread_mutex_lock(&fs->commit_mu);
	hdb_fs_super sb = fs->sb;
	pthread_mutex_unlock(&fs->commit_mu);
	if (!fs->opt.data_dir || statvfs(fs->opt.data_dir, &host))
		memset(&host, 0, sizeof(host));
	const uint64_t bs = 4096;
	uint64_t avail = host.f_frsize ? (uint64_t)host.f_bavail * host.f_frsize / bs : 0;
	uint64_t nodes = sb.files + sb.dirs + sb.symlinks + 1;
	st.f_bsize = st.f_frsize = bs;
	st.f_blocks = (sb.bytes + bs - 1) / bs + avail;
	st.f_bfree = st.f_bavail = avail;
	/* Inodes are numbers from a 64-bit counter: report plenty free. */
	st.f_files = nodes + (1u << 30);
	st.f_ffree = st.f_favail = 1u << 30;
	st.f_namemax = HDB_FS_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

/* No xattr operations: libfuse answers ENOSYS, after which the kernel
 * itself fails every xattr call with EOPNOTSUPP, so `ls -l` (which asks
 * for ACLs of every file) and `cp -a` pay no round trip for them. */
static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.symlink = fs_symlink,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
};

/* The query namespace (.where, .indexes, .import, ...: qvfs.h) is served
 * by wrappers around these operations; virtual inodes never reach them. */
const struct fuse_lowlevel_ops *hdb_fs_ops(void)
{
	return fs_qvfs_ops(&fs_ops);
}
