#include "env.h"

#include "hybriddb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int posix_wopen(hdb_env *env, const char *path, int flags, int *fd)
{
	int oflags = O_WRONLY | O_CREAT | O_CLOEXEC;
	if (flags & HDB_WOPEN_TRUNC)
		oflags |= O_TRUNC;
	if (flags & HDB_WOPEN_APPEND)
		oflags |= O_APPEND;
	if (flags & HDB_WOPEN_EXCL)
		oflags |= O_EXCL;
	int r = open(path, oflags, 0600);
	if (r < 0)
		return -errno;
	*fd = r;
	return 0;
}

static int posix_write(hdb_env *env, int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int posix_sync(hdb_env *env, int fd)
{
	return fdatasync(fd) ? -errno : 0;
}

static int posix_close(hdb_env *env, int fd)
{
	return close(fd) ? -errno : 0;
}

static int posix_truncate(hdb_env *env, const char *path, uint64_t size)
{
	return truncate(path, (off_t)size) ? -errno : 0;
}

static int posix_rename(hdb_env *env, const char *from, const char *to)
{
	return rename(from, to) ? -errno : 0;
}

static int posix_unlink(hdb_env *env, const char *path)
{
	return unlink(path) ? -errno : 0;
}

static int posix_mkdir(hdb_env *env, const char *path)
{
	return mkdir(path, 0700) ? -errno : 0;
}

static int posix_sync_dir(hdb_env *env, const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

static hdb_env posix_env = {
	.wopen = posix_wopen,
	.write = posix_write,
	.sync = posix_sync,
	.close = posix_close,
	.truncate = posix_truncate,
	.rename = posix_rename,
	.unlink = posix_unlink,
	.mkdir = posix_mkdir,
	.sync_dir = posix_sync_dir,
};

hdb_env *hdb_env_posix(void)
{
	return &posix_env;
}

int hdb_read_file(const char *path, uint8_t **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = 0;
	struct stat st;
	uint8_t *buf = NULL;
	size_t cap, n = 0;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (n + 1 == cap) {
			/* the file grew since fstat */
			uint8_t *p = realloc(buf, cap * 2);
			if (!p) {
				rc = -ENOMEM;
				goto out;
			}
			buf = p;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	*data = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int hdb_file_size(const char *path, uint64_t *size)
{
	struct stat st;
	if (stat(path, &st))
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int hdb_mmap_file(const char *path, const uint8_t **addr, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = 0;
	struct stat st;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	*addr = NULL;
	*len = (size_t)st.st_size;
	if (st.st_size == 0)
		goto out;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	*addr = p;
out:
	close(fd);
	return rc;
}

void hdb_munmap(const uint8_t *addr, size_t len)
{
	if (addr && len)
		munmap((void *)addr, len);
}

void hdb_free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int hdb_list_dir(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		if (!(v[cnt] = strdup(de->d_name))) {
			rc = -ENOMEM;
			goto out;
		}
		cnt++;
		errno = 0;
	}
	if (errno)
		rc = -errno;
out:
	closedir(d);
	if (rc) {
		hdb_free_names(v, cnt);
		return rc;
	}
	*names = v;
	*n = cnt;
	return 0;
}

int hdb_lock_file(const char *path, int *fd)
{
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0)
		return -errno;
	if (flock(f, LOCK_EX | LOCK_NB)) {
		int e = errno;
		close(f);
		return e == EWOULDBLOCK ? HDB_ELOCKED : -e;
	}
	*fd = f;
	return 0;
}

void hdb_unlock_file(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

int hdb_env_write_atomic(hdb_env *env, const char *dir, const char *name, const void *data, size_t n)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	int fd, rc = env->wopen(env, tmp, HDB_WOPEN_TRUNC, &fd);
	if (rc)
		return rc;
	rc = env->write(env, fd, data, n);
	if (!rc)
		rc = env->sync(env, fd);
	int crc = env->close(env, fd);
	if (!rc)
		rc = crc;
	if (!rc)
		rc = env->rename(env, tmp, dst);
	if (!rc)
		rc = env->sync_dir(env, dir);
	if (rc)
		env->unlink(env, tmp);
	return rc;
}
