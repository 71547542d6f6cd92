/*
 * test_syscalls.c — plain POSIX system calls on a mounted hybriddb, with
 * exact return values and errno.
 *
 * Written from DESIGN.md §1 (the product contract), not from fs/.  Run by
 * tests/integration/test_syscalls.sh on a fresh mount made with
 * `-o max_doc_size=1M`; the mount point comes from env HDB_MNT (without it
 * the program exits 77, "skipped").  Every test works in its own new
 * directory HDB_MNT/tNNN, so tests do not see each other's files; the tests
 * on the root's virtual files (.control, .stats) only read or fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

/* The mount's max_doc_size (1M) and sizes either side of it whatever "M"
 * means (10^6 or 2^20). */
#define UNDER_LIMIT 1000000
#define OVER_LIMIT 1100000

static const char *mnt;

struct ctx {
	char dir[1024];            /* this test's own directory */
};

/* Join dir and rel in one of 8 rotating buffers (valid for 8 more calls). */
static const char *join(const char *dir, const char *rel)
{
	static char path[8][PATH_MAX];
	static unsigned next;
	char *buf = path[next++ % 8];

	if ((size_t)snprintf(buf, PATH_MAX, "%s/%s", dir, rel) >= PATH_MAX)
		fail_msg("path too long: %s/%s", dir, rel);
	return buf;
}

/* Path of `rel` inside the test's directory. */
static const char *P(struct ctx *c, const char *rel)
{
	return join(c->dir, rel);
}

/* Path of `rel` at the mount's root. */
static const char *R(struct ctx *c, const char *rel)
{
	return join(mnt, rel);
}

static int setup(void **state)
{
	static int counter;
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "%s/t%03d", mnt, ++counter);
	if (mkdir(c->dir, 0755) != 0) {
		fprintf(stderr, "mkdir %s: %s\n", c->dir, strerror(errno));
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Fail unless `call` returned -1 with errno `err`. */
#define assert_errno(call, err) do {						\
		errno = 0;							\
		long r_ = (long)(call);						\
		int e_ = errno;							\
		if (r_ != -1 || e_ != (err))					\
			fail_msg("%s: expected -1 errno %d (%s), got %ld errno %d (%s)", \
				 #call, (err), strerror(err), r_, e_, strerror(e_)); \
	} while (0)

/* Fail unless `call` returned -1 with errno `e1` or `e2`. */
#define assert_errno2(call, e1, e2) do {					\
		errno = 0;							\
		long r_ = (long)(call);						\
		int e_ = errno;							\
		if (r_ != -1 || (e_ != (e1) && e_ != (e2)))			\
			fail_msg("%s: expected -1 errno %s or %s, got %ld errno %d (%s)", \
				 #call, strerror(e1), strerror(e2), r_, e_, strerror(e_)); \
	} while (0)

/* Fail unless `call` returned 0. */
#define assert_ok(call) do {							\
		errno = 0;							\
		long r_ = (long)(call);						\
		int e_ = errno;							\
		if (r_ != 0)							\
			fail_msg("%s: expected 0, got %ld errno %d (%s)",	\
				 #call, r_, e_, strerror(e_));			\
	} while (0)

/* Write all of buf to fd; returns 0 or -errno. */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Create or replace `path` with `len` bytes; 0, or -errno of the first
 * failing step (open, write or close). */
static int put_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int err;

	if (fd < 0)
		return -errno;
	err = write_all(fd, data, len);
	if (close(fd) != 0 && err == 0)
		err = -errno;
	return err;
}

static int put(const char *path, const char *s)
{
	return put_bytes(path, s, strlen(s));
}

/* Read the whole file into a malloc'd NUL-terminated buffer; NULL on error
 * (errno set). */
static char *slurp(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	int fd = open(path, O_RDONLY);

	if (fd < 0 || !buf) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		free(buf);
		errno = e;
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			int e = errno;

			close(fd);
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void assert_content_bytes(const char *path, const void *want, size_t wlen)
{
	size_t len = 0;
	char *got = slurp(path, &len);

	if (!got)
		fail_msg("read %s: %s", path, strerror(errno));
	if (len != wlen || memcmp(got, want, wlen) != 0)
		fail_msg("%s: expected %zu bytes \"%.60s\", got %zu bytes \"%.60s\"",
			 path, wlen, (const char *)want, len, got);
	free(got);
}

static void assert_content(const char *path, const char *want)
{
	assert_content_bytes(path, want, strlen(want));
}

static void assert_absent(const char *path)
{
	struct stat st;

	assert_errno(lstat(path, &st), ENOENT);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_ok(lstat(path, &st));
	return st.st_size;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in `dir`, sorted, joined with '/' (e.g. "./../a/b"); caller frees. */
static char *list_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, cap = 0, total = 1;
	struct dirent *de;
	char *out;

	if (!d)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			assert_non_null(names);
		}
		names[n] = strdup(de->d_name);
		assert_non_null(names[n]);
		total += strlen(de->d_name) + 1;
		n++;
	}
	if (errno != 0)
		fail_msg("readdir %s: %s", dir, strerror(errno));
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	out = calloc(1, total);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, "/");
		strcat(out, names[i]);
		free(names[i]);
	}
	free(names);
	return out;
}

static void assert_listing(const char *dir, const char *want)
{
	char *got = list_dir(dir);

	if (strcmp(got, want) != 0)
		fail_msg("listing of %s: expected \"%s\", got \"%s\"", dir, want, got);
	free(got);
}

static int renameat2_(const char *from, const char *to, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

/* Directories */

static void test_mkdir_creates_directory_with_mode(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	assert_ok(mkdir(P(c, "d"), 0750));
	assert_ok(stat(P(c, "d"), &st));
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(st.st_uid, geteuid());
	assert_listing(P(c, "d"), "./..");
}

static void test_mkdir_existing_eexist(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "d"), 0755));
	assert_errno(mkdir(P(c, "d"), 0755), EEXIST);
	assert_ok(put(P(c, "f"), "x"));
	assert_errno(mkdir(P(c, "f"), 0755), EEXIST);
}

static void test_mkdir_missing_parent_enoent(void **state)
{
	struct ctx *c = *state;

	assert_errno(mkdir(P(c, "nope/d"), 0755), ENOENT);
}

static void test_mkdir_nested_collections(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "a"), 0755));
	assert_ok(mkdir(P(c, "a/b"), 0755));
	assert_ok(mkdir(P(c, "a/b/c"), 0755));
	assert_ok(put(P(c, "a/b/c/doc.json"), "{\"deep\":true}"));
	assert_content(P(c, "a/b/c/doc.json"), "{\"deep\":true}");
}

static void test_rmdir_empty_removes(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "d"), 0755));
	assert_ok(rmdir(P(c, "d")));
	assert_absent(P(c, "d"));
	assert_listing(c->dir, "./..");
	assert_ok(mkdir(P(c, "d"), 0755));
}

static void test_rmdir_nonempty_enotempty(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "d"), 0755));
	assert_ok(put(P(c, "d/a.json"), "{}"));
	assert_errno(rmdir(P(c, "d")), ENOTEMPTY);
	assert_content(P(c, "d/a.json"), "{}");
	assert_ok(mkdir(P(c, "e"), 0755));
	assert_ok(mkdir(P(c, "e/sub"), 0755));
	assert_errno(rmdir(P(c, "e")), ENOTEMPTY);
}

static void test_rmdir_missing_enoent(void **state)
{
	struct ctx *c = *state;

	assert_errno(rmdir(P(c, "nope")), ENOENT);
}

static void test_rmdir_file_enotdir(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "f"), "x"));
	assert_errno(rmdir(P(c, "f")), ENOTDIR);
}

static void test_unlink_directory_eisdir(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "d"), 0755));
	assert_errno(unlink(P(c, "d")), EISDIR);
}

static void test_readdir_lists_exact_names(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "b.json"), "[]"));
	assert_ok(put(P(c, "a.json"), "{}"));
	assert_ok(put(P(c, ".hidden.swp"), "swap"));
	assert_ok(mkdir(P(c, "sub"), 0755));
	assert_ok(symlink("a.json", P(c, "ln")));
	assert_listing(c->dir, "./../.hidden.swp/a.json/b.json/ln/sub");
}

static void test_readdir_large_directory_lists_each_name_once(void **state)
{
	struct ctx *c = *state;
	enum { N = 1000 };
	char name[64];
	DIR *d;
	struct dirent *de;
	unsigned char *seen = calloc(N, 1);
	int count = 0, dots = 0;

	assert_non_null(seen);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "entry-%04d.json", i);
		assert_ok(put(P(c, name), "1"));
	}
	d = opendir(c->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		int i;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			dots++;
			continue;
		}
		if (sscanf(de->d_name, "entry-%04d.json", &i) != 1 || i < 0 || i >= N)
			fail_msg("unexpected name %s", de->d_name);
		if (seen[i]++)
			fail_msg("name %s listed twice", de->d_name);
		count++;
	}
	closedir(d);
	assert_int_equal(dots, 2);
	assert_int_equal(count, N);
	free(seen);
}

static void test_root_lists_virtual_files(void **state)
{
	char *names = list_dir(mnt);

	if (!strstr(names, "/.control/") || !strstr(names, "/.stats/"))
		fail_msg("root listing lacks .control or .stats: %s", names);
	free(names);
}

/* Files */

static void test_create_write_read_roundtrip(void **state)
{
	struct ctx *c = *state;
	const char *doc = "{\"name\":\"Alice\",\"age\":30}\n";

	assert_ok(put(P(c, "alice.json"), doc));
	assert_content(P(c, "alice.json"), doc);
	assert_int_equal(file_size(P(c, "alice.json")), strlen(doc));
}

static void test_create_sets_mode_and_owner(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	int fd = open(P(c, "f.txt"), O_WRONLY | O_CREAT | O_EXCL, 0640);

	assert_true(fd >= 0);
	assert_ok(close(fd));
	assert_ok(stat(P(c, "f.txt"), &st));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_gid, getegid());
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_nlink, 1);
}

static void test_create_excl_existing_eexist(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_errno(open(P(c, "a.json"), O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	assert_content(P(c, "a.json"), "{}");
}

static void test_open_missing_enoent(void **state)
{
	struct ctx *c = *state;

	assert_errno(open(P(c, "missing.json"), O_RDONLY), ENOENT);
	assert_errno(open(P(c, "nodir/x.json"), O_WRONLY | O_CREAT, 0644), ENOENT);
}

static void test_pwrite_past_end_zero_fills_hole(void **state)
{
	struct ctx *c = *state;
	const char want[13] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'x', 'y', 'z' };
	int fd = open(P(c, "hole.bin"), O_WRONLY | O_CREAT, 0644);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "xyz", 3, 10), 3);
	assert_ok(close(fd));
	assert_content_bytes(P(c, "hole.bin"), want, sizeof(want));
}

static void test_pwrite_overwrites_middle(void **state)
{
	struct ctx *c = *state;
	int fd;

	assert_ok(put(P(c, "f.txt"), "0123456789"));
	fd = open(P(c, "f.txt"), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "abc", 3, 4), 3);
	assert_ok(close(fd));
	assert_content(P(c, "f.txt"), "0123abc789");
}

static void test_append_writes_at_end(void **state)
{
	struct ctx *c = *state;
	int fd;

	assert_ok(put(P(c, "log.txt"), "one\n"));
	fd = open(P(c, "log.txt"), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(write(fd, "two\n", 4), 4);
	assert_int_equal(write(fd, "three\n", 6), 6);
	assert_ok(close(fd));
	assert_content(P(c, "log.txt"), "one\ntwo\nthree\n");
}

static void test_read_past_eof_returns_zero(void **state)
{
	struct ctx *c = *state;
	char buf[16];
	int fd;

	assert_ok(put(P(c, "f.txt"), "abc"));
	fd = open(P(c, "f.txt"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 3), 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 100), 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 1), 2);
	assert_memory_equal(buf, "bc", 2);
	assert_ok(close(fd));
}

static void test_ftruncate_shrinks_and_grows(void **state)
{
	struct ctx *c = *state;
	const char want[8] = { 'a', 'b', 'c', 0, 0, 0, 0, 0 };
	int fd;

	assert_ok(put(P(c, "f.bin"), "abcdefgh"));
	fd = open(P(c, "f.bin"), O_RDWR);
	assert_true(fd >= 0);
	assert_ok(ftruncate(fd, 3));
	assert_ok(ftruncate(fd, 8));
	assert_ok(close(fd));
	assert_content_bytes(P(c, "f.bin"), want, sizeof(want));
}

static void test_truncate_path_shrinks(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "f.txt"), "abcdef"));
	assert_ok(truncate(P(c, "f.txt"), 2));
	assert_int_equal(file_size(P(c, "f.txt")), 2);
	assert_content(P(c, "f.txt"), "ab");
	assert_ok(truncate(P(c, "f.txt"), 0));
	assert_content(P(c, "f.txt"), "");
}

static void test_rdwr_fd_reads_its_own_writes(void **state)
{
	struct ctx *c = *state;
	char buf[16] = { 0 };
	int fd = open(P(c, "f.txt"), O_RDWR | O_CREAT, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello world", 11), 11);
	assert_int_equal(pread(fd, buf, sizeof(buf), 6), 5);
	assert_memory_equal(buf, "world", 5);
	assert_ok(close(fd));
}

static void test_close_to_open_other_fd_sees_committed_version(void **state)
{
	struct ctx *c = *state;
	char buf[16] = { 0 };
	int w, r;

	assert_ok(put(P(c, "v.json"), "\"old\""));
	w = open(P(c, "v.json"), O_WRONLY);
	assert_true(w >= 0);
	assert_int_equal(pwrite(w, "\"NEW\"", 5, 0), 5);
	r = open(P(c, "v.json"), O_RDONLY);
	assert_true(r >= 0);
	assert_int_equal(read(r, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "\"old\"", 5);
	assert_ok(close(r));
	assert_ok(close(w));
	assert_content(P(c, "v.json"), "\"NEW\"");
}

static void test_large_json_written_in_chunks_roundtrips(void **state)
{
	struct ctx *c = *state;
	size_t len = 600 * 1024;
	char *doc = malloc(len);
	int fd;

	assert_non_null(doc);
	doc[0] = '[';
	for (size_t i = 1; i < len - 1; i += 2) {
		doc[i] = (char)('0' + i % 10);
		doc[i + 1] = ',';
	}
	doc[len - 2] = '0';
	doc[len - 1] = ']';
	fd = open(P(c, "big.json"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	for (size_t off = 0; off < len; off += 7777) {
		size_t n = len - off < 7777 ? len - off : 7777;

		assert_int_equal(write(fd, doc + off, n), n);
	}
	assert_ok(close(fd));
	assert_int_equal(file_size(P(c, "big.json")), len);
	assert_content_bytes(P(c, "big.json"), doc, len);
	free(doc);
}

static void test_non_json_name_stores_any_bytes(void **state)
{
	struct ctx *c = *state;
	unsigned char bytes[256];

	for (int i = 0; i < 256; i++)
		bytes[i] = (unsigned char)(255 - i);
	assert_ok(put_bytes(P(c, ".doc.json.swp"), bytes, sizeof(bytes)));
	assert_content_bytes(P(c, ".doc.json.swp"), bytes, sizeof(bytes));
	assert_ok(put(P(c, ".tmp123"), "not json {"));
	assert_content(P(c, ".tmp123"), "not json {");
	assert_ok(put(P(c, "empty"), ""));
	assert_int_equal(file_size(P(c, "empty")), 0);
}

static void test_write_updates_size_and_mtime(void **state)
{
	struct ctx *c = *state;
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	struct stat st;
	time_t before;

	assert_ok(put(P(c, "f.txt"), "abc"));
	assert_ok(utimensat(AT_FDCWD, P(c, "f.txt"), ts, 0));
	before = time(NULL);
	assert_ok(put(P(c, "f.txt"), "abcdefg"));
	assert_ok(stat(P(c, "f.txt"), &st));
	assert_int_equal(st.st_size, 7);
	assert_true(st.st_mtim.tv_sec >= before - 1);
	assert_true(st.st_mtim.tv_sec <= time(NULL) + 1);
}

static void test_unlink_removes_file(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_ok(unlink(P(c, "a.json")));
	assert_absent(P(c, "a.json"));
	assert_listing(c->dir, "./..");
	assert_errno(open(P(c, "a.json"), O_RDONLY), ENOENT);
}

static void test_unlink_missing_enoent(void **state)
{
	struct ctx *c = *state;

	assert_errno(unlink(P(c, "missing.json")), ENOENT);
}

/* Rename */

static void test_rename_moves_file(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "other"), 0755));
	assert_ok(put(P(c, "a.json"), "{\"a\":1}"));
	assert_ok(rename(P(c, "a.json"), P(c, "b.json")));
	assert_absent(P(c, "a.json"));
	assert_content(P(c, "b.json"), "{\"a\":1}");
	assert_ok(rename(P(c, "b.json"), P(c, "other/c.json")));
	assert_absent(P(c, "b.json"));
	assert_content(P(c, "other/c.json"), "{\"a\":1}");
	assert_listing(c->dir, "./../other");
}

static void test_rename_replaces_existing_target(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "new.json"), "{\"v\":2}"));
	assert_ok(put(P(c, "doc.json"), "{\"v\":1, \"longer\": \"old version\"}"));
	assert_ok(rename(P(c, "new.json"), P(c, "doc.json")));
	assert_absent(P(c, "new.json"));
	assert_content(P(c, "doc.json"), "{\"v\":2}");
	assert_listing(c->dir, "./../doc.json");
}

/* A reader opening the target in a loop while it is replaced by rename
 * must always find a complete version, never ENOENT and never a mix. */
/* Every handle of an inode shares one kernel page cache: a reader that
 * opened before an overwrite and reads after it must not refill that cache
 * with the old version, or the next open reads old bytes cut to the new
 * size (a version that never existed). */
static void test_overwrite_while_reader_open_next_open_reads_new(void **state)
{
	struct ctx *c = *state;
	char old[2048], buf[4096];
	size_t i;

	old[0] = '[';
	for (i = 1; i < sizeof(old) - 2; i++)
		old[i] = i % 2 ? '1' : ',';
	old[sizeof(old) - 2] = ']';
	old[sizeof(old) - 1] = 0;
	assert_ok(put(P(c, "v.json"), old));
	int a = open(P(c, "v.json"), O_RDONLY);
	assert_true(a >= 0);
	assert_int_equal(read(a, buf, sizeof(buf)), (ssize_t)strlen(old));
	assert_ok(put(P(c, "v.json"), "{\"v\":2}"));
	assert_true(pread(a, buf, sizeof(buf), 0) >= 0); /* the early reader reads again */
	assert_content(P(c, "v.json"), "{\"v\":2}");
	assert_int_equal(close(a), 0);
	assert_content(P(c, "v.json"), "{\"v\":2}");
}

/* A document of len bytes (len >= 8) whose bytes all depend on tag. */
static void make_doc(char *out, size_t len, char tag)
{
	out[0] = '"';
	memset(out + 1, tag, len - 2);
	out[len - 1] = '"';
}

/* What a process other than the writer sees of path: its size by stat()
 * and its content through fd (from offset 0) and through a new open.
 * Returns 0 when all three are want[0..wlen), else a code saying which. */
static int other_view_is(const char *path, int fd, const char *want, size_t wlen)
{
	char buf[8192];
	struct stat st;
	size_t len;

	if (stat(path, &st) || (size_t)st.st_size != wlen)
		return 1;
	if (pread(fd, buf, sizeof(buf), 0) != (ssize_t)wlen || memcmp(buf, want, wlen))
		return 2;
	char *got = slurp(path, &len);
	int rc = !got || len != wlen || memcmp(got, want, wlen) ? 3 : 0;
	free(got);
	return rc;
}

/* DESIGN.md: readers never see a half-written document.  A writer that
 * rewrites a document in place (open with O_TRUNC, as cp does) changes
 * nothing for other processes until it closes: a reader that had the file
 * open, and one that opens it meanwhile, read the committed version whole;
 * stat() from them gives its size, while the writer sees its own. */
static void test_in_place_overwrite_is_invisible_to_other_processes_until_close(void **state)
{
	struct ctx *c = *state;
	char old[3000], new[5000];
	int go[2], ready[2], status;
	struct stat st;
	char b;

	make_doc(old, sizeof(old), 'o');
	make_doc(new, sizeof(new), 'n');
	assert_ok(put_bytes(P(c, "v.json"), old, sizeof(old)));
	const char *path = P(c, "v.json");
	assert_ok(pipe(go));
	assert_ok(pipe(ready));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		close(ready[0]);
		int fd = open(path, O_RDONLY);
		char buf[8192];
		if (fd < 0 || read(fd, buf, sizeof(buf)) != (ssize_t)sizeof(old)) /* cached by the kernel */
			_exit(10);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(11);
		int rc = other_view_is(path, fd, old, sizeof(old)); /* truncated, 100 bytes written */
		if (!rc && (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1))
			rc = 12;
		if (!rc)
			rc = 20 + other_view_is(path, fd, old, sizeof(old)); /* written past the old size */
		if (rc == 20 && (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1))
			rc = 13;
		if (rc == 20)
			rc = 30 + other_view_is(path, fd, new, sizeof(new)); /* closed */
		_exit(rc == 30 ? 0 : rc);
	}
	close(go[0]);
	close(ready[1]); /* a child that fails ends the reads below */
	assert_int_equal(read(ready[0], &b, 1), 1);
	int w = open(path, O_WRONLY | O_TRUNC);
	assert_true(w >= 0);
	assert_int_equal(write(w, new, 100), 100);
	assert_ok(fstat(w, &st));
	assert_int_equal(st.st_size, 100); /* the writer sees its own size */
	assert_ok(stat(path, &st));
	assert_int_equal(st.st_size, 100);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(read(ready[0], &b, 1), 1);
	assert_int_equal(write(w, new + 100, sizeof(new) - 100), (ssize_t)sizeof(new) - 100);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(read(ready[0], &b, 1), 1);
	assert_ok(close(w));
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(go[1]);
	close(ready[0]);
	assert_content_bytes(path, new, sizeof(new));
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In-place rewrites wait for other processes' page-cache readers without
 * holding the daemon's workers (4 of them on 2 CPUs): with more rewriters
 * waiting than there are workers, other requests are still answered at
 * once, and the rewriters go on as soon as the reader closes, long before
 * the wait's 2 s bound.  (Bounds are loose on purpose: what is checked is
 * that nothing waits for the timeout, not how fast anything is.) */
static void test_rewriters_waiting_for_a_reader_block_nothing_else(void **state)
{
	struct ctx *c = *state;
	enum { N = 6 };
	char path[N][PATH_MAX], doc[64];
	pid_t writer[N];
	int go[2], ready[2], status;
	char b;

	for (int i = 0; i < N; i++) {
		snprintf(path[i], sizeof(path[i]), "%s", P(c, "held0.json"));
		path[i][strlen(path[i]) - 6] = (char)('0' + i);
		snprintf(doc, sizeof(doc), "{\"v\":0,\"i\":%d}", i);
		assert_ok(put(path[i], doc));
	}
	assert_ok(put(P(c, "other.json"), "{\"other\":true}"));
	assert_ok(pipe(go));
	assert_ok(pipe(ready));
	pid_t reader = fork();
	assert_true(reader >= 0);
	if (reader == 0) {
		int fd[N];
		char buf[64];
		close(go[1]);
		close(ready[0]);
		for (int i = 0; i < N; i++)
			if ((fd[i] = open(path[i], O_RDONLY)) < 0 || read(fd[i], buf, sizeof(buf)) <= 0)
				_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(2);
		for (int i = 0; i < N; i++)
			close(fd[i]);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &b, 1), 1);
	for (int i = 0; i < N; i++) {
		writer[i] = fork();
		assert_true(writer[i] >= 0);
		if (writer[i] == 0) {
			snprintf(doc, sizeof(doc), "{\"v\":1,\"i\":%d}", i);
			_exit(put(path[i], doc) ? 1 : 0);
		}
	}
	usleep(300 * 1000); /* the rewriters reach the daemon and wait */
	for (int i = 0; i < N; i++)
		assert_int_equal(waitpid(writer[i], &status, WNOHANG), 0); /* still waiting */
	double t0 = now_s();
	struct stat st;
	assert_ok(stat(P(c, "other.json"), &st));
	assert_content(P(c, "other.json"), "{\"other\":true}");
	assert_true(now_s() - t0 < 1.0);
	t0 = now_s();
	assert_int_equal(write(go[1], "g", 1), 1); /* the reader closes */
	for (int i = 0; i < N; i++) {
		assert_int_equal(waitpid(writer[i], &status, 0), writer[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_true(now_s() - t0 < 1.5);
	assert_int_equal(waitpid(reader, &status, 0), reader);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(go[1]);
	close(ready[0]);
	for (int i = 0; i < N; i++) {
		snprintf(doc, sizeof(doc), "{\"v\":1,\"i\":%d}", i);
		assert_content(path[i], doc);
	}
}

/* What a read-only open of path from a child process gives: 0 and the
 * content in *want, or the errno. */
static int child_open_errno(const char *path, const char *want)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t len;
		char *got = slurp(path, &len);
		if (!got)
			_exit(errno);
		_exit(want && (len != strlen(want) || memcmp(got, want, len)) ? 255 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* DESIGN.md: a new version becomes visible to other opens when the writer
 * closes.  A document still being created has no version yet: another
 * process's open finds none (ENOENT), though the name is listed; after the
 * close it reads the whole document. */
static void test_document_being_created_is_not_there_for_other_processes(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	const char *path = P(c, "new.json");

	int w = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(w >= 0);
	assert_int_equal(write(w, "{\"a\":", 5), 5);
	assert_int_equal(child_open_errno(path, NULL), ENOENT);
	assert_ok(stat(path, &st));
	int r = open(path, O_RDONLY); /* the creating process itself may look */
	assert_true(r >= 0);
	assert_ok(close(r));
	assert_int_equal(write(w, "1}", 2), 2);
	assert_ok(close(w));
	assert_int_equal(child_open_errno(path, "{\"a\":1}"), 0);
}

/* A writer that gives its changes up (invalid JSON at close) leaves every
 * process, itself included, with the committed version and its size. */
static void test_abandoned_in_place_overwrite_restores_size(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	assert_ok(put(P(c, "v.json"), "{\"kept\":true}"));
	int w = open(P(c, "v.json"), O_WRONLY | O_TRUNC);
	assert_true(w >= 0);
	assert_int_equal(write(w, "{\"broken", 8), 8);
	assert_ok(stat(P(c, "v.json"), &st));
	assert_int_equal(st.st_size, 8);
	assert_int_equal(close(w), -1);
	assert_int_equal(errno, EINVAL);
	assert_ok(stat(P(c, "v.json"), &st));
	assert_int_equal(st.st_size, 13);
	assert_content(P(c, "v.json"), "{\"kept\":true}");
}

static void test_rename_replace_is_atomic_for_readers(void **state)
{
	struct ctx *c = *state;
	char tmp[PATH_MAX], target[PATH_MAX], doc[64];
	pid_t pid;
	int status;

	snprintf(tmp, sizeof(tmp), "%s", P(c, "tmp.json"));
	snprintf(target, sizeof(target), "%s", P(c, "target.json"));
	assert_ok(put(target, "{\"version\":    0}"));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 3000; i++) {
			size_t len;
			char *got = slurp(target, &len);
			int v;

			if (!got) {
				fprintf(stderr, "reader: open %s: %s\n", target, strerror(errno));
				_exit(1);
			}
			if (len != 17 || sscanf(got, "{\"version\": %d}", &v) != 1) {
				fprintf(stderr, "reader: read %zu bytes \"%s\" from a target being replaced by rename\n", len, got);
				_exit(2);
			}
			free(got);
		}
		_exit(0);
	}
	for (int i = 1; i <= 200; i++) {
		snprintf(doc, sizeof(doc), "{\"version\": %4d}", i);
		assert_ok(put(tmp, doc));
		assert_ok(rename(tmp, target));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_content(target, "{\"version\":  200}");
}

/* POSIX: a file replaced by rename stays readable through a descriptor
 * opened before (DESIGN.md: rename is atomic, readers never see a partial
 * document). */
static void test_open_fd_reads_old_version_after_rename_over(void **state)
{
	struct ctx *c = *state;
	char buf[32] = { 0 };
	int fd;

	assert_ok(put(P(c, "doc.json"), "{\"v\":\"old\"}"));
	assert_ok(put(P(c, "new.json"), "{\"v\":\"new\"}"));
	fd = open(P(c, "doc.json"), O_RDONLY);
	assert_true(fd >= 0);
	assert_ok(rename(P(c, "new.json"), P(c, "doc.json")));
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 11);
	assert_memory_equal(buf, "{\"v\":\"old\"}", 11);
	assert_ok(close(fd));
	assert_content(P(c, "doc.json"), "{\"v\":\"new\"}");
}

/* POSIX: an unlinked file stays readable through an open descriptor. */
static void test_open_fd_reads_after_unlink(void **state)
{
	struct ctx *c = *state;
	char buf[32] = { 0 };
	int fd;

	assert_ok(put(P(c, "doc.json"), "{\"v\":1}"));
	fd = open(P(c, "doc.json"), O_RDONLY);
	assert_true(fd >= 0);
	assert_ok(unlink(P(c, "doc.json")));
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 7);
	assert_memory_equal(buf, "{\"v\":1}", 7);
	assert_ok(close(fd));
	assert_absent(P(c, "doc.json"));
}

static void test_rename_noreplace_existing_eexist(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{\"a\":1}"));
	assert_ok(put(P(c, "b.json"), "{\"b\":2}"));
	assert_errno(renameat2_(P(c, "a.json"), P(c, "b.json"), RENAME_NOREPLACE), EEXIST);
	assert_content(P(c, "a.json"), "{\"a\":1}");
	assert_content(P(c, "b.json"), "{\"b\":2}");
}

static void test_rename_noreplace_free_target_moves(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{\"a\":1}"));
	assert_ok(renameat2_(P(c, "a.json"), P(c, "b.json"), RENAME_NOREPLACE));
	assert_absent(P(c, "a.json"));
	assert_content(P(c, "b.json"), "{\"a\":1}");
}

static void test_rename_exchange_swaps_contents(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{\"a\":1}"));
	assert_ok(put(P(c, "b.json"), "[\"b\", 2, \"longer\"]"));
	assert_ok(renameat2_(P(c, "a.json"), P(c, "b.json"), RENAME_EXCHANGE));
	assert_content(P(c, "a.json"), "[\"b\", 2, \"longer\"]");
	assert_content(P(c, "b.json"), "{\"a\":1}");
	assert_int_equal(file_size(P(c, "a.json")), 18);
	assert_int_equal(file_size(P(c, "b.json")), 7);
}

static void test_rename_exchange_missing_target_enoent(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_errno(renameat2_(P(c, "a.json"), P(c, "none.json"), RENAME_EXCHANGE), ENOENT);
	assert_content(P(c, "a.json"), "{}");
}

static void test_rename_whiteout_einval(void **state)
{
	struct ctx *c = *state;

	if (geteuid() != 0)
		skip(); /* the kernel answers EPERM before the fs sees it */
	assert_ok(put(P(c, "a.json"), "{}"));
	assert_errno(renameat2_(P(c, "a.json"), P(c, "b.json"), RENAME_WHITEOUT), EINVAL);
	assert_content(P(c, "a.json"), "{}");
	assert_absent(P(c, "b.json"));
}

static void test_rename_directory_keeps_children(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "users"), 0755));
	assert_ok(mkdir(P(c, "users/sub"), 0755));
	assert_ok(put(P(c, "users/a.json"), "{\"a\":1}"));
	assert_ok(put(P(c, "users/sub/b.json"), "{\"b\":2}"));
	assert_ok(mkdir(P(c, "archive"), 0755));
	assert_ok(rename(P(c, "users"), P(c, "archive/people")));
	assert_absent(P(c, "users"));
	assert_content(P(c, "archive/people/a.json"), "{\"a\":1}");
	assert_content(P(c, "archive/people/sub/b.json"), "{\"b\":2}");
	assert_listing(P(c, "archive/people"), "./../a.json/sub");
	assert_ok(put(P(c, "archive/people/sub/c.json"), "{\"c\":3}"));
	assert_content(P(c, "archive/people/sub/c.json"), "{\"c\":3}");
}

static void test_rename_directory_onto_empty_directory_replaces(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "src"), 0755));
	assert_ok(put(P(c, "src/a.json"), "{}"));
	assert_ok(mkdir(P(c, "dst"), 0755));
	assert_ok(rename(P(c, "src"), P(c, "dst")));
	assert_absent(P(c, "src"));
	assert_content(P(c, "dst/a.json"), "{}");
}

static void test_rename_directory_onto_nonempty_directory_enotempty(void **state)
{
	struct ctx *c = *state;

	assert_ok(mkdir(P(c, "src"), 0755));
	assert_ok(mkdir(P(c, "dst"), 0755));
	assert_ok(put(P(c, "dst/keep.json"), "{}"));
	assert_errno(rename(P(c, "src"), P(c, "dst")), ENOTEMPTY);
	assert_content(P(c, "dst/keep.json"), "{}");
}

static void test_rename_invalid_content_onto_json_name_einval(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "notes.txt"), "not json at all"));
	assert_errno(rename(P(c, "notes.txt"), P(c, "notes.json")), EINVAL);
	assert_content(P(c, "notes.txt"), "not json at all");
	assert_absent(P(c, "notes.json"));
}

static void test_rename_json_to_other_name_allowed(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{\"a\":1}"));
	assert_ok(rename(P(c, "a.json"), P(c, "a.bak")));
	assert_content(P(c, "a.bak"), "{\"a\":1}");
}

static void test_rename_missing_source_enoent(void **state)
{
	struct ctx *c = *state;

	assert_errno(rename(P(c, "none.json"), P(c, "b.json")), ENOENT);
}

/* Symlinks, hard links, device nodes */

static void test_symlink_readlink_roundtrip(void **state)
{
	struct ctx *c = *state;
	char buf[2048];
	char target[1001];
	struct stat st;

	assert_ok(put(P(c, "file.json"), "{\"x\":1}"));
	assert_ok(symlink("file.json", P(c, "ln")));
	assert_int_equal(readlink(P(c, "ln"), buf, sizeof(buf)), 9);
	assert_memory_equal(buf, "file.json", 9);
	assert_ok(lstat(P(c, "ln"), &st));
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, 9);
	assert_content(P(c, "ln"), "{\"x\":1}");

	/* A long target of short components: each component stays a legal name. */
	for (int i = 0; i < 100; i++)
		memcpy(target + 10 * i, "abcdefghi/", 10);
	target[999] = 'z';
	target[1000] = '\0';
	assert_ok(symlink(target, P(c, "dangling")));
	assert_int_equal(readlink(P(c, "dangling"), buf, sizeof(buf)), 1000);
	assert_memory_equal(buf, target, 1000);
	assert_errno(stat(P(c, "dangling"), &st), ENOENT);
	assert_errno(symlink("x", P(c, "ln")), EEXIST);
}

static void test_readlink_on_regular_file_einval(void **state)
{
	struct ctx *c = *state;
	char buf[64];

	assert_ok(put(P(c, "f.json"), "{}"));
	assert_errno(readlink(P(c, "f.json"), buf, sizeof(buf)), EINVAL);
}

static void test_link_eperm(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_errno(link(P(c, "a.json"), P(c, "b.json")), EPERM);
	assert_absent(P(c, "b.json"));
	assert_content(P(c, "a.json"), "{}");
}

static void test_mknod_regular_file_ok(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	assert_ok(mknod(P(c, "node.txt"), S_IFREG | 0600, 0));
	assert_ok(stat(P(c, "node.txt"), &st));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0);
}

static void test_mknod_fifo_eperm(void **state)
{
	struct ctx *c = *state;

	assert_errno(mknod(P(c, "fifo"), S_IFIFO | 0644, 0), EPERM);
	assert_absent(P(c, "fifo"));
	assert_errno(mkfifo(P(c, "fifo2"), 0644), EPERM);
	assert_absent(P(c, "fifo2"));
}

/* Attributes */

static void test_chmod_reflected_in_stat(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_ok(chmod(P(c, "a.json"), 0600));
	assert_ok(stat(P(c, "a.json"), &st));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_ok(mkdir(P(c, "d"), 0755));
	assert_ok(chmod(P(c, "d"), 0700));
	assert_ok(stat(P(c, "d"), &st));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_true(S_ISDIR(st.st_mode));
}

static void test_chmod_updates_ctime(void **state)
{
	struct ctx *c = *state;
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	struct stat before, after;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_ok(stat(P(c, "a.json"), &before));
	nanosleep(&pause, NULL);
	assert_ok(chmod(P(c, "a.json"), 0640));
	assert_ok(stat(P(c, "a.json"), &after));
	if (after.st_ctim.tv_sec < before.st_ctim.tv_sec ||
	    (after.st_ctim.tv_sec == before.st_ctim.tv_sec &&
	     after.st_ctim.tv_nsec <= before.st_ctim.tv_nsec))
		fail_msg("ctime did not advance: %ld.%09ld -> %ld.%09ld",
			 (long)before.st_ctim.tv_sec, before.st_ctim.tv_nsec,
			 (long)after.st_ctim.tv_sec, after.st_ctim.tv_nsec);
}

static void test_chown_reflected_in_stat(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	if (geteuid() != 0)
		skip();
	assert_ok(put(P(c, "a.json"), "{}"));
	assert_ok(chown(P(c, "a.json"), 1234, 5678));
	assert_ok(stat(P(c, "a.json"), &st));
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_ok(chown(P(c, "a.json"), (uid_t)-1, 42));
	assert_ok(stat(P(c, "a.json"), &st));
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 42);
}

static void test_utimensat_sets_exact_times(void **state)
{
	struct ctx *c = *state;
	struct timespec ts[2] = { { 1500000000, 123456789 }, { 1600000000, 987654321 } };
	struct stat st;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_ok(utimensat(AT_FDCWD, P(c, "a.json"), ts, 0));
	assert_ok(stat(P(c, "a.json"), &st));
	assert_int_equal(st.st_atim.tv_sec, 1500000000);
	assert_int_equal(st.st_atim.tv_nsec, 123456789);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	assert_int_equal(st.st_mtim.tv_nsec, 987654321);
}

static void test_utimensat_omit_keeps_mtime(void **state)
{
	struct ctx *c = *state;
	struct timespec set[2] = { { 1500000000, 1 }, { 1600000000, 2 } };
	struct timespec omit[2] = { { 1700000000, 3 }, { 0, UTIME_OMIT } };
	struct stat st;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_ok(utimensat(AT_FDCWD, P(c, "a.json"), set, 0));
	assert_ok(utimensat(AT_FDCWD, P(c, "a.json"), omit, 0));
	assert_ok(stat(P(c, "a.json"), &st));
	assert_int_equal(st.st_atim.tv_sec, 1700000000);
	assert_int_equal(st.st_atim.tv_nsec, 3);
	assert_int_equal(st.st_mtim.tv_sec, 1600000000);
	assert_int_equal(st.st_mtim.tv_nsec, 2);
}

static void test_utimensat_now_sets_current_time(void **state)
{
	struct ctx *c = *state;
	struct timespec set[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	struct timespec now[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
	struct stat st;
	time_t before = time(NULL);

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_ok(utimensat(AT_FDCWD, P(c, "a.json"), set, 0));
	assert_ok(utimensat(AT_FDCWD, P(c, "a.json"), now, 0));
	assert_ok(stat(P(c, "a.json"), &st));
	assert_true(st.st_mtim.tv_sec >= before - 1);
	assert_true(st.st_mtim.tv_sec <= time(NULL) + 1);
	assert_int_equal(st.st_atim.tv_sec, 1000000000);
}

/* statfs */

static void test_statfs_is_sane(void **state)
{
	struct statvfs sv;

	assert_ok(statvfs(mnt, &sv));
	assert_true(sv.f_bsize > 0);
	assert_true(sv.f_frsize > 0);
	assert_true(sv.f_blocks >= sv.f_bfree);
	assert_true(sv.f_bfree >= sv.f_bavail);
	assert_true(sv.f_files >= sv.f_ffree);
	assert_true(sv.f_files > 0);
	assert_true(sv.f_namemax == 255);
}

static void test_statfs_counts_created_and_removed_files(void **state)
{
	struct ctx *c = *state;
	struct statvfs a, b, d;
	char name[32];

	assert_ok(statvfs(mnt, &a));
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d.txt", i);
		assert_ok(put(P(c, name), "x"));
	}
	assert_ok(statvfs(mnt, &b));
	assert_int_equal((b.f_files - b.f_ffree) - (a.f_files - a.f_ffree), 10);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d.txt", i);
		assert_ok(unlink(P(c, name)));
	}
	assert_ok(statvfs(mnt, &d));
	assert_int_equal(d.f_files - d.f_ffree, a.f_files - a.f_ffree);
}

static void test_statfs_counts_written_bytes(void **state)
{
	struct ctx *c = *state;
	struct statvfs a, b;
	size_t len = 900 * 1000;
	char *data = malloc(len);
	double used_a, used_b;

	assert_non_null(data);
	memset(data, 'q', len);
	assert_ok(statvfs(mnt, &a));
	assert_ok(put_bytes(P(c, "blob.bin"), data, len));
	assert_ok(statvfs(mnt, &b));
	used_a = (double)(a.f_blocks - a.f_bfree) * (double)a.f_frsize;
	used_b = (double)(b.f_blocks - b.f_bfree) * (double)b.f_frsize;
	if (used_b - used_a < 0.8 * (double)len)
		fail_msg("statfs used bytes grew by %.0f after writing %zu bytes", used_b - used_a, len);
	free(data);
}

/* Extended attributes are not supported: every call fails with
 * EOPNOTSUPP (the kernel answers itself after the first). */

static void test_getxattr_enotsup(void **state)
{
	struct ctx *c = *state;
	char buf[64];

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_errno(getxattr(P(c, "a.json"), "user.test", buf, sizeof(buf)), ENOTSUP);
	assert_errno(getxattr(c->dir, "user.test", buf, sizeof(buf)), ENOTSUP);
	/* ACL names are the kernel's: without ACL support it says "none" */
	assert_errno(lgetxattr(P(c, "a.json"), "system.posix_acl_access", buf, sizeof(buf)), ENODATA);
}

static void test_listxattr_enotsup(void **state)
{
	struct ctx *c = *state;
	char buf[64];

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_errno(listxattr(P(c, "a.json"), buf, sizeof(buf)), ENOTSUP);
	assert_errno(listxattr(P(c, "a.json"), NULL, 0), ENOTSUP);
}

static void test_setxattr_enotsup(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_errno(setxattr(P(c, "a.json"), "user.test", "v", 1, 0), ENOTSUP);
}

static void test_removexattr_enotsup(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{}"));
	assert_errno(removexattr(P(c, "a.json"), "user.test"), ENOTSUP);
}

/* fsync */

static void test_fsync_and_fdatasync_return_zero(void **state)
{
	struct ctx *c = *state;
	int fd = open(P(c, "a.json"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int dfd;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"synced\":true}", 15), 15);
	assert_ok(fsync(fd));
	assert_int_equal(write(fd, " ", 1), 1);
	assert_ok(fdatasync(fd));
	assert_ok(close(fd));
	assert_content(P(c, "a.json"), "{\"synced\":true} ");
	dfd = open(c->dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_ok(fsync(dfd));
	assert_ok(close(dfd));
}

/* Names */

static void test_name_of_255_bytes_ok(void **state)
{
	struct ctx *c = *state;
	char name[256], dname[256];
	char *listing, want[600];

	memset(name, 'n', 250);
	memcpy(name + 250, ".json", 6);
	assert_int_equal(strlen(name), 255);
	assert_ok(put(P(c, name), "{\"long\":1}"));
	assert_content(P(c, name), "{\"long\":1}");
	memset(dname, 'd', 255);
	dname[255] = '\0';
	assert_ok(mkdir(P(c, dname), 0755));
	snprintf(want, sizeof(want), "./../%s/%s", dname, name);
	listing = list_dir(c->dir);
	assert_string_equal(listing, want);
	free(listing);
	assert_ok(unlink(P(c, name)));
	assert_ok(rmdir(P(c, dname)));
	assert_listing(c->dir, "./..");
}

static void test_name_of_256_bytes_enametoolong(void **state)
{
	struct ctx *c = *state;
	char name[257];
	struct stat st;

	memset(name, 'n', 251);
	memcpy(name + 251, ".json", 6);
	assert_int_equal(strlen(name), 256);
	assert_ok(put(P(c, "short.json"), "{}"));
	assert_errno(open(P(c, name), O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
	assert_errno(mkdir(P(c, name), 0755), ENAMETOOLONG);
	assert_errno(stat(P(c, name), &st), ENAMETOOLONG);
	assert_errno(symlink("short.json", P(c, name)), ENAMETOOLONG);
	assert_errno(rename(P(c, "short.json"), P(c, name)), ENAMETOOLONG);
	assert_errno(mknod(P(c, name), S_IFREG | 0644, 0), ENAMETOOLONG);
	assert_listing(c->dir, "./../short.json");
}

static void test_name_with_control_characters_ok(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "tab\there\001.json"), "{}"));
	assert_ok(put(P(c, "new\nline.txt"), "x"));
	assert_content(P(c, "tab\there\001.json"), "{}");
	assert_listing(c->dir, "./../new\nline.txt/tab\there\001.json");
}

/* JSON documents: validated when closed. */

static void test_json_valid_documents_accepted(void **state)
{
	struct ctx *c = *state;
	static const char *const docs[] = {
		"{}", "[]", "42", "\"just a string\"", "null", "true",
		"  {\"a\": [1, -2.5e+3, true, false, null], \"b\": {\"c\": \"\\u00e9\\n\"}}\n",
		"{\"utf8\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	};
	char name[32];

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		snprintf(name, sizeof(name), "ok%zu.json", i);
		if (put(P(c, name), docs[i]) != 0)
			fail_msg("valid document %zu (%s) rejected: %s", i, docs[i], strerror(errno));
		assert_content(P(c, name), docs[i]);
	}
}

static void test_json_invalid_at_close_einval_keeps_previous_version(void **state)
{
	struct ctx *c = *state;
	const char *doc = "{\"a\":1}";
	int fd;

	assert_ok(put(P(c, "a.json"), doc));
	fd = open(P(c, "a.json"), O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"a\":", 5), 5);
	assert_errno(close(fd), EINVAL);
	assert_int_equal(file_size(P(c, "a.json")), strlen(doc));
	assert_content(P(c, "a.json"), doc);

	fd = open(P(c, "a.json"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "}}", 2, 2), 2);
	assert_errno(close(fd), EINVAL);
	assert_content(P(c, "a.json"), doc);
}

static void test_json_invalid_new_file_einval_and_absent(void **state)
{
	struct ctx *c = *state;
	int fd = open(P(c, "new.json"), O_WRONLY | O_CREAT | O_EXCL, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{nope}", 6), 6);
	assert_errno(close(fd), EINVAL);
	assert_absent(P(c, "new.json"));
	assert_listing(c->dir, "./..");
	assert_ok(put(P(c, "new.json"), "{\"second\":\"try\"}"));
	assert_content(P(c, "new.json"), "{\"second\":\"try\"}");
}

/* "The previous version (or absence) is intact" when close() returns, not
 * some time later: repeated, since a late clean-up shows only sometimes. */
static void test_json_invalid_new_file_absent_as_close_returns(void **state)
{
	struct ctx *c = *state;
	char name[32];
	struct stat st;

	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "bad%d.json", i);
		if (put(P(c, name), "{'a':1}") != -EINVAL)
			fail_msg("round %d: close of invalid %s did not fail with EINVAL", i, name);
		if (lstat(P(c, name), &st) == 0)
			fail_msg("round %d: %s still there (size %lld) after close() returned EINVAL",
				 i, name, (long long)st.st_size);
	}
}

static void test_json_empty_new_file_einval_and_absent(void **state)
{
	struct ctx *c = *state;
	int fd = open(P(c, "empty.json"), O_WRONLY | O_CREAT | O_EXCL, 0644);

	assert_true(fd >= 0);
	assert_errno(close(fd), EINVAL);
	assert_absent(P(c, "empty.json"));
	assert_listing(c->dir, "./..");
}

static void test_json_invalid_variants_rejected(void **state)
{
	struct ctx *c = *state;
	static const char *const bad[] = {
		"{\"a\":1,}", "{'a':1}", "[NaN]", "{\"a\":1} {\"b\":2}", "{\"a\":\"unclosed}",
		"{\"a\":\"\xff\"}", "{\"ctl\":\"a\001b\"}", "[01]", "{\"a\" 1}", "tru",
		"[1,2", "{\"a\":1}}", "\"\\x41\"", "[.5]",
	};
	char name[32];
	struct stat st = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		snprintf(name, sizeof(name), "bad%zu.json", i);
		r = put(P(c, name), bad[i]);
		if (r != -EINVAL)
			fail_msg("invalid document %zu (%s): expected close EINVAL, got %d (%s)",
				 i, bad[i], r, strerror(-r));
		if (lstat(P(c, name), &st) == 0 || errno != ENOENT)
			fail_msg("invalid document %zu (%s): %s still there after EINVAL (size %lld)",
				 i, bad[i], name, (long long)st.st_size);
	}
	assert_listing(c->dir, "./..");
}

static void test_json_truncate_by_path_to_invalid_einval(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{\"abc\":123}"));
	assert_errno(truncate(P(c, "a.json"), 3), EINVAL);
	assert_content(P(c, "a.json"), "{\"abc\":123}");
	assert_ok(put(P(c, "b.txt"), "{\"abc\":123}"));
	assert_ok(truncate(P(c, "b.txt"), 3));
	assert_content(P(c, "b.txt"), "{\"a");
}

static void test_json_ftruncate_then_valid_rewrite_ok(void **state)
{
	struct ctx *c = *state;
	int fd;

	assert_ok(put(P(c, "a.json"), "{\"old\":\"version with more bytes\"}"));
	fd = open(P(c, "a.json"), O_RDWR);
	assert_true(fd >= 0);
	assert_ok(ftruncate(fd, 0));
	assert_int_equal(write(fd, "[1]", 3), 3);
	assert_ok(close(fd));
	assert_content(P(c, "a.json"), "[1]");
}

static void test_json_otrunc_overwrite_ok(void **state)
{
	struct ctx *c = *state;
	int fd;

	assert_ok(put(P(c, "a.json"), "{\"old\":\"version with more bytes\"}"));
	fd = open(P(c, "a.json"), O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"new\":1}", 9), 9);
	assert_ok(close(fd));
	assert_content(P(c, "a.json"), "{\"new\":1}");
}

/* Size limit: this mount has max_doc_size=1M. */

/* After a write failed with EFBIG, close() may report it again and the
 * file may be left out entirely ("nothing committed"); what must never
 * happen is a committed document over the limit. */
static void assert_close_after_efbig(int fd, const char *path, off_t max_size)
{
	struct stat st;

	errno = 0;
	if (close(fd) != 0 && errno != EFBIG)
		fail_msg("close after EFBIG: %s", strerror(errno));
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			fail_msg("stat %s after EFBIG: %s", path, strerror(errno));
		return;
	}
	if (st.st_size > max_size)
		fail_msg("%s: %lld bytes committed, limit case allows %lld",
			 path, (long long)st.st_size, (long long)max_size);
}

static void test_write_crossing_max_doc_size_efbig(void **state)
{
	struct ctx *c = *state;
	char *buf = calloc(1, 100000);
	int fd = open(P(c, "big.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_non_null(buf);
	assert_true(fd >= 0);
	for (int i = 0; i < UNDER_LIMIT / 100000; i++)
		assert_int_equal(write(fd, buf, 100000), 100000);
	assert_errno(write(fd, buf, OVER_LIMIT - UNDER_LIMIT), EFBIG);
	free(buf);
	assert_close_after_efbig(fd, P(c, "big.bin"), UNDER_LIMIT);
}

static void test_pwrite_beyond_max_doc_size_efbig(void **state)
{
	struct ctx *c = *state;
	int fd = open(P(c, "far.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_errno(pwrite(fd, "x", 1, 4 * 1024 * 1024), EFBIG);
	assert_close_after_efbig(fd, P(c, "far.bin"), 0);
}

static void test_ftruncate_beyond_max_doc_size_efbig(void **state)
{
	struct ctx *c = *state;
	int fd = open(P(c, "grow.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_errno(ftruncate(fd, OVER_LIMIT), EFBIG);
	assert_close_after_efbig(fd, P(c, "grow.bin"), 0);
}

static void test_document_under_max_doc_size_ok(void **state)
{
	struct ctx *c = *state;
	char *doc = malloc(UNDER_LIMIT);

	assert_non_null(doc);
	memset(doc, 'v', UNDER_LIMIT);
	doc[0] = '"';
	doc[UNDER_LIMIT - 1] = '"';
	assert_ok(put_bytes(P(c, "large.json"), doc, UNDER_LIMIT));
	assert_int_equal(file_size(P(c, "large.json")), UNDER_LIMIT);
	assert_content_bytes(P(c, "large.json"), doc, UNDER_LIMIT);
	free(doc);
}

/* Virtual files at the root */

static void test_stats_is_readonly_regular_file(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	assert_ok(lstat(R(c, ".stats"), &st));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0444);
}

static void test_stats_write_eacces(void **state)
{
	struct ctx *c = *state;
	int fd = open(R(c, ".stats"), O_WRONLY);

	if (fd < 0) {
		if (errno != EACCES && errno != EPERM)
			fail_msg("open .stats O_WRONLY: expected EACCES or EPERM, got %s", strerror(errno));
	} else {
		assert_errno2(write(fd, "{}", 2), EACCES, EPERM);
		close(fd);
	}
	assert_errno2(truncate(R(c, ".stats"), 0), EACCES, EPERM);
	assert_errno2(open(R(c, ".stats"), O_WRONLY | O_TRUNC), EACCES, EPERM);
}

static void test_stats_unlink_and_rename_eperm(void **state)
{
	struct ctx *c = *state;

	assert_errno(unlink(R(c, ".stats")), EPERM);
	assert_errno(rename(R(c, ".stats"), P(c, "stolen")), EPERM);
	assert_ok(lstat(R(c, ".stats"), &(struct stat){ 0 }));
}

static void test_stats_parses_as_json_object(void **state)
{
	struct ctx *c = *state;
	size_t len;
	char *s = slurp(R(c, ".stats"), &len);
	size_t a = 0, z;

	if (!s)
		fail_msg("read .stats: %s", strerror(errno));
	assert_true(len > 2);
	assert_int_equal(strlen(s), len);
	while (a < len && strchr(" \t\r\n", s[a]))
		a++;
	z = len;
	while (z > a && strchr(" \t\r\n", s[z - 1]))
		z--;
	assert_true(z > a);
	assert_int_equal(s[a], '{');
	assert_int_equal(s[z - 1], '}');
	for (const char *const *k = (const char *const[]){ "\"documents\"", "\"collections\"",
			"\"files\"", "\"bytes\"", "\"engine\"", "uptime", NULL }; *k; k++)
		if (!strstr(s, *k))
			fail_msg(".stats lacks %s: %.300s", *k, s);
	free(s);
}

static void test_control_is_mode_0600(void **state)
{
	struct ctx *c = *state;
	struct stat st;

	assert_ok(lstat(R(c, ".control"), &st));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
}

static int has_line_starting(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, word, n) && strchr(" \t\n", p[n]))
			return 1;
	return 0;
}

static void test_control_read_lists_commands(void **state)
{
	struct ctx *c = *state;
	char *s = slurp(R(c, ".control"), NULL);

	if (!s)
		fail_msg("read .control: %s", strerror(errno));
	for (const char *const *k = (const char *const[]){ "compact", "flush", "sync",
			"checkpoint", NULL }; *k; k++)
		if (!has_line_starting(s, *k))
			fail_msg(".control does not list %s: \"%s\"", *k, s);
	free(s);
}

static long control(struct ctx *c, const char *cmd)
{
	int fd = open(R(c, ".control"), O_WRONLY | O_TRUNC);
	ssize_t n;
	int e;

	if (fd < 0)
		return -1;
	n = write(fd, cmd, strlen(cmd));
	e = errno;
	if (close(fd) != 0 && n >= 0)
		return -1;
	errno = e;
	return n;
}

static void test_control_unknown_command_einval(void **state)
{
	struct ctx *c = *state;

	assert_errno(control(c, "frobnicate\n"), EINVAL);
	assert_errno(control(c, "compactx\n"), EINVAL);
}

static void test_control_compact_returns_length(void **state)
{
	struct ctx *c = *state;

	assert_ok(put(P(c, "a.json"), "{\"before\":\"compact\"}"));
	assert_int_equal(control(c, "compact\n"), 8);
	assert_int_equal(control(c, "compact"), 7);
	assert_content(P(c, "a.json"), "{\"before\":\"compact\"}");
}

static void test_control_flush_sync_checkpoint_ok(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(control(c, "flush\n"), 6);
	assert_int_equal(control(c, "sync\n"), 5);
	assert_int_equal(control(c, "checkpoint\n"), 11);
}

static void test_control_unlink_and_rename_eperm(void **state)
{
	struct ctx *c = *state;

	assert_errno(unlink(R(c, ".control")), EPERM);
	assert_errno(rename(R(c, ".control"), P(c, "ctl")), EPERM);
	assert_ok(put(P(c, "x.json"), "{}"));
	assert_errno(rename(P(c, "x.json"), R(c, ".control")), EPERM);
	assert_errno(rename(P(c, "x.json"), R(c, ".stats")), EPERM);
	assert_content(P(c, "x.json"), "{}");
	assert_ok(lstat(R(c, ".control"), &(struct stat){ 0 }));
}

static void test_documents_survive_compaction(void **state)
{
	struct ctx *c = *state;
	char name[32], doc[64];

	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "d%03d.json", i);
		snprintf(doc, sizeof(doc), "{\"i\":%d}", i);
		assert_ok(put(P(c, name), doc));
	}
	for (int i = 0; i < 200; i += 2) {
		snprintf(name, sizeof(name), "d%03d.json", i);
		assert_ok(unlink(P(c, name)));
	}
	assert_int_equal(control(c, "compact\n"), 8);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "d%03d.json", i);
		snprintf(doc, sizeof(doc), "{\"i\":%d}", i);
		if (i % 2)
			assert_content(P(c, name), doc);
		else
			assert_absent(P(c, name));
	}
}

/* The value of the top-level integer field of the /.stats text s. */
static long long field_of(const char *s, const char *field)
{
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":", field);
	const char *p = strstr(s, key);
	if (!p)
		fail_msg(".stats has no %s: %s", field, s);
	return strtoll(p + strlen(key), NULL, 10);
}

/* The value of the top-level integer field of /.stats. */
static long long stats_field(struct ctx *c, const char *field)
{
	size_t len;
	char *s = slurp(R(c, ".stats"), &len);
	assert_non_null(s);
	long long v = field_of(s, field);
	free(s);
	return v;
}

/* Waits up to 5 s for /.stats field to read want (the kernel sends a
 * close's RELEASE after close() returns); returns the last value read. */
static long long await_stats_field(struct ctx *c, const char *field, long long want)
{
	long long v = stats_field(c, field);
	for (int i = 0; i < 500 && v != want; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		v = stats_field(c, field);
	}
	return v;
}

/* The value of /.stats field once it has held for 200 ms (at most 10 s).
 * The kernel sends RELEASE and FORGET after the call that caused them has
 * returned, and a daemon thread may serve later requests before it serves
 * them: a count read right after an earlier test's close may still count
 * that test's file. */
static long long settled_stats_field(struct ctx *c, const char *field)
{
	long long v = stats_field(c, field);
	for (int held = 0, i = 0; held < 20 && i < 1000; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		long long now = stats_field(c, field);
		held = now == v ? held + 1 : 0;
		v = now;
	}
	return v;
}

/* The daemon keeps every inode the kernel references, but only the number
 * and name of a closed file: its attributes are loaded while it is open
 * (/.stats inodes_loaded) and read from its entry otherwise.  Every
 * operation on such idle files still sees their attributes. */
static void test_closed_documents_keep_no_attributes_in_the_daemon(void **state)
{
	struct ctx *c = *state;
	enum { N = 40 };
	char name[32], to[32];
	int fds[N];
	struct stat st;
	long long before = settled_stats_field(c, "inodes_loaded");
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "d%02d.json", i);
		assert_ok(put(P(c, name), "{\"i\": 1}"));
	}
	assert_int_equal(await_stats_field(c, "inodes_loaded", before), before);
	assert_true(stats_field(c, "inodes_cached") >= N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "d%02d.json", i);
		fds[i] = open(P(c, name), O_RDONLY);
		assert_true(fds[i] >= 0);
		assert_ok(fstat(fds[i], &st));
		assert_int_equal(st.st_size, 8);
	}
	assert_int_equal(stats_field(c, "inodes_loaded"), before + N);
	for (int i = 0; i < N; i++)
		assert_ok(close(fds[i]));
	assert_int_equal(await_stats_field(c, "inodes_loaded", before), before);

	/* Changes to idle files: mode, times, size, name, removal. */
	assert_ok(chmod(P(c, "d00.json"), 0600));
	assert_ok(stat(P(c, "d00.json"), &st));
	assert_int_equal(st.st_mode & 07777, 0600);
	struct timespec times[2] = { { 1000000000, 0 }, { 1000000000, 5 } };
	assert_ok(utimensat(AT_FDCWD, P(c, "d01.json"), times, 0));
	assert_ok(stat(P(c, "d01.json"), &st));
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	assert_int_equal(st.st_mtim.tv_nsec, 5);
	assert_ok(put(P(c, "notes.txt"), "hello world"));
	assert_int_equal(await_stats_field(c, "inodes_loaded", before), before);
	assert_ok(truncate(P(c, "notes.txt"), 5));
	assert_int_equal(file_size(P(c, "notes.txt")), 5);
	assert_content(P(c, "notes.txt"), "hello");
	assert_errno(truncate(P(c, "d02.json"), 3), EINVAL); /* "{\"i" is no JSON */
	assert_content(P(c, "d02.json"), "{\"i\": 1}");
	snprintf(to, sizeof(to), "renamed.json");
	assert_ok(rename(P(c, "d03.json"), P(c, to)));
	assert_int_equal(file_size(P(c, to)), 8);
	assert_content(P(c, to), "{\"i\": 1}");
	assert_ok(rename(P(c, "d04.json"), P(c, "d05.json"))); /* replaces an idle file */
	assert_content(P(c, "d05.json"), "{\"i\": 1}");
	assert_absent(P(c, "d04.json"));
	int fd = open(P(c, "d06.json"), O_RDONLY);
	assert_true(fd >= 0);
	assert_ok(unlink(P(c, "d06.json")));
	assert_ok(fstat(fd, &st));
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_size, 8);
	assert_ok(close(fd));
	assert_ok(unlink(P(c, "d07.json")));
	assert_absent(P(c, "d07.json"));
	assert_ok(stat(P(c, "d00.json"), &st)); /* after all that, still right */
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 8);
	assert_int_equal(await_stats_field(c, "inodes_loaded", before), before);
}

/* Two /.stats counters from one read of it (a read that always takes two
 * READs: the content, then its end). */
static void stats_pair(struct ctx *c, const char *f1, long long *v1, const char *f2, long long *v2)
{
	enum { CAP = 1 << 20 };
	char *s = malloc(CAP + 1);
	assert_non_null(s);
	int fd = open(R(c, ".stats"), O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, s, CAP);
	assert_true(n > 0 && n < CAP);
	assert_int_equal(read(fd, s + n, CAP - (size_t)n), 0);
	assert_ok(close(fd));
	s[n] = 0;
	*v1 = field_of(s, f1);
	*v2 = field_of(s, f2);
	free(s);
}

/* Opens path, fstats it, reads it to the end and closes it, as cat does;
 * the bytes read. */
static size_t cat_like(const char *path)
{
	char buf[256];
	struct stat st;
	size_t total = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_ok(fstat(fd, &st));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	assert_int_equal(n, 0);
	assert_ok(close(fd));
	return total;
}

/* A document larger than an open hands to the kernel with its content
 * (64 KiB): {"s": "xxx..."}, BIG_DOC bytes, malloc'd. */
enum { BIG_DOC = 100 * 1024 };

static char *big_doc(void)
{
	char *d = malloc(BIG_DOC);
	assert_non_null(d);
	memset(d, 'x', BIG_DOC);
	memcpy(d, "{\"s\": \"", 7);
	memcpy(d + BIG_DOC - 2, "\"}", 2);
	return d;
}

/* A small closed document goes to the kernel with its open: reading it
 * (open, fstat, read, as cat does) takes no READ round trip, and so
 * reading it again takes no GETATTR either (the kernel marks atime stale
 * after each READ it sends): only the opens reach the daemon.
 * The counters are compared with an interval where nothing but the
 * reading of /.stats happened. */
static void test_small_documents_are_read_without_read_round_trips(void **state)
{
	struct ctx *c = *state;
	long long r[3], g[3], p0, p1, unused;
	assert_ok(put(P(c, "s.json"), "{\"s\": 1}"));
	/* An atime ahead of mtime and ctime: the readings leave it (relatime),
	 * so none of them makes the daemon invalidate attributes. */
	struct timespec times[2] = { { time(NULL) + 3600, 0 }, { 0, UTIME_NOW } };
	assert_ok(utimensat(AT_FDCWD, P(c, "s.json"), times, 0));
	stats_pair(c, "reads", &r[0], "getattrs", &g[0]);
	stats_pair(c, "reads", &r[1], "getattrs", &g[1]);
	stats_pair(c, "pushes", &p0, "opens", &unused);
	assert_int_equal(cat_like(P(c, "s.json")), 8);
	assert_int_equal(cat_like(P(c, "s.json")), 8);
	stats_pair(c, "reads", &r[2], "getattrs", &g[2]);
	stats_pair(c, "pushes", &p1, "opens", &unused);
	long long base_r = r[1] - r[0], base_g = g[1] - g[0];
	/* The second interval also holds the pushes read: one more .stats. */
	assert_int_equal(r[2] - r[1] - base_r, 2);
	assert_int_equal(g[2] - g[1], 2 * base_g);
	assert_int_equal(p1 - p0, 2);

	/* A new version replaces the pages the kernel was given. */
	assert_ok(put(P(c, "s.json"), "{\"s\": 22}"));
	assert_content(P(c, "s.json"), "{\"s\": 22}");
	assert_int_equal(cat_like(P(c, "s.json")), 9);
	assert_ok(put(P(c, "s.json"), "{}"));
	assert_content(P(c, "s.json"), "{}");

	/* Pages the kernel dropped on its own come back with the next open:
	 * every open gives them (skipping opens that found them there measured
	 * slower, BENCHMARKS.md). */
	int fd = open(P(c, "s.json"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	assert_ok(close(fd));
	stats_pair(c, "reads", &r[0], "pushes", &p0);
	assert_content(P(c, "s.json"), "{}");
	stats_pair(c, "reads", &r[1], "pushes", &p1);
	assert_int_equal(r[1] - r[0], 2); /* the .stats READs only */
	assert_int_equal(p1 - p0, 1);
}

/* The first reading of a document written through this mount takes no
 * READ either: the write moved its mtime, and a kernel that dropped its
 * pages whenever it saw an mtime change (auto_inval_data) would discard
 * the content the open had just handed over at cat's fstat. */
static void test_documents_written_here_are_read_without_read_round_trips(void **state)
{
	struct ctx *c = *state;
	long long r[3], o[3];
	assert_ok(put(P(c, "w.json"), "{\"w\": 1}"));
	stats_pair(c, "reads", &r[0], "opens", &o[0]);
	stats_pair(c, "reads", &r[1], "opens", &o[1]);
	assert_int_equal(cat_like(P(c, "w.json")), 8);
	stats_pair(c, "reads", &r[2], "opens", &o[2]);
	/* Beyond what reading .stats takes: one open, no READ. */
	assert_int_equal(r[2] - r[1], r[1] - r[0]);
	assert_int_equal(o[2] - o[1], o[1] - o[0] + 1);
}

/* A new version of the same size is seen by the next open, although the
 * kernel cached the old one after the writer's write (a reader opened
 * before it read the committed version meanwhile) and the size did not
 * move: the commit itself drops those pages.  The document is a big_doc,
 * so no open refreshes the pages either. */
static void test_same_size_rewrite_is_seen_by_the_next_open(void **state)
{
	struct ctx *c = *state;
	enum { AT = BIG_DOC / 2 };
	char *doc = big_doc(), *got = malloc(BIG_DOC);
	assert_non_null(got);
	assert_ok(put_bytes(P(c, "e.json"), doc, BIG_DOC));
	int rd = open(P(c, "e.json"), O_RDONLY);
	assert_true(rd >= 0);
	int wr = open(P(c, "e.json"), O_WRONLY);
	assert_true(wr >= 0);
	assert_int_equal(pwrite(wr, "y", 1, AT), 1);
	assert_int_equal(pread(rd, got, BIG_DOC, 0), BIG_DOC);
	assert_memory_equal(got, doc, BIG_DOC);
	assert_ok(close(wr));
	assert_ok(close(rd));
	doc[AT] = 'y';
	assert_content_bytes(P(c, "e.json"), doc, BIG_DOC);
	free(got);
	free(doc);
}

/* Reading a document updates its atime by the relatime rule (when atime
 * is not newer than mtime or ctime), and stat shows it at once; a second
 * reading leaves it.  Both for a small document, whose content goes to the
 * kernel with the open, and for one read on demand. */
static void test_reading_updates_atime_by_relatime(void **state)
{
	struct ctx *c = *state;
	char *big = big_doc();
	assert_ok(put(P(c, "small.json"), "{\"s\": 1}"));
	assert_ok(put_bytes(P(c, "big.json"), big, BIG_DOC));
	const char *names[] = { "small.json", "big.json" };
	size_t sizes[] = { 8, BIG_DOC };
	for (int k = 0; k < 2; k++) {
		struct stat st;
		struct timespec times[2] = { { 1000, 0 }, { 2000, 0 } };
		assert_ok(utimensat(AT_FDCWD, P(c, names[k]), times, 0));
		assert_ok(stat(P(c, names[k]), &st));
		assert_int_equal(st.st_atim.tv_sec, 1000);
		time_t before = time(NULL);
		assert_int_equal(cat_like(P(c, names[k])), sizes[k]);
		assert_ok(stat(P(c, names[k]), &st));
		if (st.st_atim.tv_sec < before)
			fail_msg("%s: atime %lld after a read at %lld", names[k], (long long)st.st_atim.tv_sec,
			         (long long)before);
		struct timespec first = st.st_atim;
		assert_int_equal(cat_like(P(c, names[k])), sizes[k]);
		assert_ok(stat(P(c, names[k]), &st));
		assert_int_equal(st.st_atim.tv_sec, first.tv_sec);
		assert_int_equal(st.st_atim.tv_nsec, first.tv_nsec);
	}
	free(big);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_mkdir_creates_directory_with_mode),
		T(test_mkdir_existing_eexist),
		T(test_mkdir_missing_parent_enoent),
		T(test_mkdir_nested_collections),
		T(test_rmdir_empty_removes),
		T(test_rmdir_nonempty_enotempty),
		T(test_rmdir_missing_enoent),
		T(test_rmdir_file_enotdir),
		T(test_unlink_directory_eisdir),
		T(test_readdir_lists_exact_names),
		T(test_readdir_large_directory_lists_each_name_once),
		T(test_root_lists_virtual_files),
		T(test_create_write_read_roundtrip),
		T(test_create_sets_mode_and_owner),
		T(test_create_excl_existing_eexist),
		T(test_open_missing_enoent),
		T(test_pwrite_past_end_zero_fills_hole),
		T(test_pwrite_overwrites_middle),
		T(test_append_writes_at_end),
		T(test_read_past_eof_returns_zero),
		T(test_ftruncate_shrinks_and_grows),
		T(test_truncate_path_shrinks),
		T(test_rdwr_fd_reads_its_own_writes),
		T(test_close_to_open_other_fd_sees_committed_version),
		T(test_large_json_written_in_chunks_roundtrips),
		T(test_non_json_name_stores_any_bytes),
		T(test_write_updates_size_and_mtime),
		T(test_unlink_removes_file),
		T(test_unlink_missing_enoent),
		T(test_rename_moves_file),
		T(test_rename_replaces_existing_target),
		T(test_rename_replace_is_atomic_for_readers),
		T(test_overwrite_while_reader_open_next_open_reads_new),
		T(test_in_place_overwrite_is_invisible_to_other_processes_until_close),
		T(test_abandoned_in_place_overwrite_restores_size),
		T(test_document_being_created_is_not_there_for_other_processes),
		T(test_rewriters_waiting_for_a_reader_block_nothing_else),
		T(test_open_fd_reads_old_version_after_rename_over),
		T(test_open_fd_reads_after_unlink),
		T(test_rename_noreplace_existing_eexist),
		T(test_rename_noreplace_free_target_moves),
		T(test_rename_exchange_swaps_contents),
		T(test_rename_exchange_missing_target_enoent),
		T(test_rename_whiteout_einval),
		T(test_rename_directory_keeps_children),
		T(test_rename_directory_onto_empty_directory_replaces),
		T(test_rename_directory_onto_nonempty_directory_enotempty),
		T(test_rename_invalid_content_onto_json_name_einval),
		T(test_rename_json_to_other_name_allowed),
		T(test_rename_missing_source_enoent),
		T(test_symlink_readlink_roundtrip),
		T(test_readlink_on_regular_file_einval),
		T(test_link_eperm),
		T(test_mknod_regular_file_ok),
		T(test_mknod_fifo_eperm),
		T(test_chmod_reflected_in_stat),
		T(test_chmod_updates_ctime),
		T(test_chown_reflected_in_stat),
		T(test_utimensat_sets_exact_times),
		T(test_utimensat_omit_keeps_mtime),
		T(test_utimensat_now_sets_current_time),
		T(test_statfs_is_sane),
		T(test_statfs_counts_created_and_removed_files),
		T(test_statfs_counts_written_bytes),
		T(test_getxattr_enotsup),
		T(test_listxattr_enotsup),
		T(test_setxattr_enotsup),
		T(test_removexattr_enotsup),
		T(test_fsync_and_fdatasync_return_zero),
		T(test_name_of_255_bytes_ok),
		T(test_name_of_256_bytes_enametoolong),
		T(test_name_with_control_characters_ok),
		T(test_json_valid_documents_accepted),
		T(test_json_invalid_at_close_einval_keeps_previous_version),
		T(test_json_invalid_new_file_einval_and_absent),
		T(test_json_invalid_new_file_absent_as_close_returns),
		T(test_json_empty_new_file_einval_and_absent),
		T(test_json_invalid_variants_rejected),
		T(test_json_truncate_by_path_to_invalid_einval),
		T(test_json_ftruncate_then_valid_rewrite_ok),
		T(test_json_otrunc_overwrite_ok),
		T(test_write_crossing_max_doc_size_efbig),
		T(test_pwrite_beyond_max_doc_size_efbig),
		T(test_ftruncate_beyond_max_doc_size_efbig),
		T(test_document_under_max_doc_size_ok),
		T(test_stats_is_readonly_regular_file),
		T(test_stats_write_eacces),
		T(test_stats_unlink_and_rename_eperm),
		T(test_stats_parses_as_json_object),
		T(test_control_is_mode_0600),
		T(test_control_read_lists_commands),
		T(test_control_unknown_command_einval),
		T(test_control_compact_returns_length),
		T(test_control_flush_sync_checkpoint_ok),
		T(test_control_unlink_and_rename_eperm),
		T(test_documents_survive_compaction),
		T(test_closed_documents_keep_no_attributes_in_the_daemon),
		T(test_small_documents_are_read_without_read_round_trips),
		T(test_documents_written_here_are_read_without_read_round_trips),
		T(test_same_size_rewrite_is_seen_by_the_next_open),
		T(test_reading_updates_atime_by_relatime),
	};
	struct stat st;

	mnt = getenv("HDB_MNT");
	if (!mnt || !*mnt) {
		fprintf(stderr, "test_syscalls: set HDB_MNT to a mounted hybriddb "
			"(tests/integration/test_syscalls.sh does); skipping\n");
		return 77;
	}
	if (stat(mnt, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "test_syscalls: HDB_MNT=%s is not a directory\n", mnt);
		return 1;
	}
	umask(022);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("syscalls", tests, NULL, NULL);
}
