/*
 * test_manifest.c — CURRENT and MANIFEST: creation, recovery, torn tails,
 * corruption, newer formats and failed appends.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "errors.h"
#include "manifest_format.h"
#include "version.h"

static const hdb_vset_options opts = {
	.l0_compaction_trigger = 4,
	.level1_max_bytes = 1 << 20,
	.target_file_size = 1 << 16,
};

/* ---- helpers ------------------------------------------------------------ */

static uint8_t *ikey(const char *ukey, uint64_t seq, size_t *n)
{
	hdb_buf b = { 0 };
	assert_int_equal(hdb_ikey_build(&b, ukey, strlen(ukey), seq, HDB_TYPE_VALUE), 0);
	*n = b.len;
	return b.data;
}

static hdb_fmeta *fmeta(uint64_t number, uint64_t size, const char *lo, const char *hi)
{
	size_t sn, ln;
	uint8_t *s = ikey(lo, 100, &sn), *l = ikey(hi, 1, &ln);
	hdb_fmeta *f = hdb_fmeta_new(number, size, s, sn, l, ln);
	assert_non_null(f);
	free(s);
	free(l);
	return f;
}

struct fixture {
	char dir[64];
	pthread_mutex_t mu;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/hdbtest.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	pthread_mutex_init(&fx->mu, NULL);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char **names;
	size_t n;
	if (hdb_list_dir(fx->dir, &names, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			char p[256];
			snprintf(p, sizeof(p), "%s/%s", fx->dir, names[i]);
			unlink(p);
		}
		hdb_free_names(names, n);
	}
	rmdir(fx->dir);
	pthread_mutex_destroy(&fx->mu);
	free(fx);
	return 0;
}

static void path_of(const struct fixture *fx, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", fx->dir, name);
}

/* The manifest name CURRENT holds, without the newline. */
static void current_manifest(const struct fixture *fx, char *name, size_t n)
{
	char p[256];
	uint8_t *data;
	size_t len;
	path_of(fx, HDB_CURRENT_NAME, p, sizeof(p));
	assert_int_equal(hdb_read_file(p, &data, &len), 0);
	assert_true(len > 1 && len < n && data[len - 1] == '\n');
	memcpy(name, data, len - 1);
	name[len - 1] = 0;
	free(data);
}

static void read_named(const struct fixture *fx, const char *name, uint8_t **data, size_t *len)
{
	char p[256];
	path_of(fx, name, p, sizeof(p));
	assert_int_equal(hdb_read_file(p, data, len), 0);
}

static void write_named(const struct fixture *fx, const char *name, const void *data, size_t len,
                        const char *mode)
{
	char p[256];
	path_of(fx, name, p, sizeof(p));
	FILE *f = fopen(p, mode);
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool exists(const struct fixture *fx, const char *name)
{
	char p[256];
	path_of(fx, name, p, sizeof(p));
	return access(p, F_OK) == 0;
}

static hdb_vset *open_vset(struct fixture *fx, hdb_env *env, bool create)
{
	hdb_vset *vs = NULL;
	assert_int_equal(hdb_vset_open(env ? env : hdb_env_posix(), fx->dir, &opts, create, false, &vs), 0);
	assert_non_null(vs);
	return vs;
}

static int open_rc(struct fixture *fx, bool create)
{
	hdb_vset *vs = NULL;
	int rc = hdb_vset_open(hdb_env_posix(), fx->dir, &opts, create, false, &vs);
	if (!rc)
		hdb_vset_free(vs);
	else
		assert_null(vs);
	return rc;
}

static int apply(struct fixture *fx, hdb_vset *vs, hdb_vedit *e)
{
	pthread_mutex_lock(&fx->mu);
	int rc = hdb_vset_log_and_apply(vs, e, &fx->mu);
	pthread_mutex_unlock(&fx->mu);
	return rc;
}

static int add_file(struct fixture *fx, hdb_vset *vs, int level, hdb_fmeta *f)
{
	hdb_vedit e;
	hdb_vedit_init(&e);
	assert_int_equal(hdb_vedit_add_file(&e, level, f), 0);
	hdb_fmeta_unref(f);
	int rc = apply(fx, vs, &e);
	hdb_vedit_free(&e);
	return rc;
}

/* A framed record holding e, as the manifest stores it. */
static void frame(const hdb_vedit *e, hdb_buf *rec)
{
	uint8_t hdr[HDB_MANIFEST_REC_HEADER] = { 0 };
	assert_int_equal(hdb_buf_append(rec, hdr, sizeof(hdr)), 0);
	assert_int_equal(hdb_vedit_encode(e, rec), 0);
	size_t len = rec->len - HDB_MANIFEST_REC_HEADER;
	rec->data[HDB_MANIFEST_OFF_TYPE] = HDB_MANIFEST_TYPE_EDIT;
	hdb_put_u32(rec->data + HDB_MANIFEST_OFF_LENGTH, (uint32_t)len);
	hdb_put_u32(rec->data + HDB_MANIFEST_OFF_CRC, hdb_crc32(rec->data + HDB_MANIFEST_OFF_TYPE, len + 1));
}

/* A record that adds file `number` at L0. */
static void add_record(uint64_t number, hdb_buf *rec)
{
	hdb_vedit e;
	hdb_vedit_init(&e);
	hdb_fmeta *f = fmeta(number, 1, "a", "b");
	assert_int_equal(hdb_vedit_add_file(&e, 0, f), 0);
	hdb_fmeta_unref(f);
	frame(&e, rec);
	hdb_vedit_free(&e);
}

/* A database holding file 10 at L0 and file 11 at L2, closed. */
static void make_db(struct fixture *fx, char *manifest, size_t n)
{
	hdb_vset *vs = open_vset(fx, NULL, true);
	assert_int_equal(add_file(fx, vs, 0, fmeta(10, 100, "a", "c")), 0);
	assert_int_equal(add_file(fx, vs, 2, fmeta(11, 200, "d", "f")), 0);
	hdb_vset_free(vs);
	current_manifest(fx, manifest, n);
}

static size_t total_files(const hdb_version *v)
{
	size_t n = 0;
	for (int l = 0; l < HDB_MAX_LEVELS; l++)
		n += v->nfiles[l];
	return n;
}

/* ---- creation and recovery ---------------------------------------------- */

static void test_manifest_create_names_manifest_1_in_current(void **state)
{
	struct fixture *fx = *state;
	uint8_t *data;
	size_t len;
	hdb_vset *vs = open_vset(fx, NULL, true);
	read_named(fx, HDB_CURRENT_NAME, &data, &len);
	assert_int_equal(len, 16);
	assert_memory_equal(data, "MANIFEST-000001\n", 16);
	free(data);
	read_named(fx, "MANIFEST-000001", &data, &len);
	assert_true(len > HDB_MANIFEST_HEADER_SIZE);
	assert_memory_equal(data, HDB_MANIFEST_MAGIC, 8);
	assert_int_equal(hdb_get_u32(data + 8), HDB_MANIFEST_VERSION);
	assert_int_equal(hdb_vset_manifest_bytes(vs), len);
	free(data);
	assert_int_equal(hdb_vset_new_file_number(vs), 2);
	assert_int_equal(total_files(hdb_vset_current(vs)), 0);
	hdb_vset_free(vs);
}

static void test_manifest_open_without_current_or_create_is_enoent(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(open_rc(fx, false), -ENOENT);
	assert_false(exists(fx, "MANIFEST-000001"));
}

static void test_manifest_read_only_open_of_nothing_is_enoent_even_with_create(void **state)
{
	struct fixture *fx = *state;
	hdb_vset *vs = NULL;
	assert_int_equal(hdb_vset_open(hdb_env_posix(), fx->dir, &opts, true, true, &vs), -ENOENT);
	assert_null(vs);
	assert_false(exists(fx, HDB_CURRENT_NAME));
}

static void test_manifest_reopen_restores_files_and_counters(void **state)
{
	struct fixture *fx = *state;
	hdb_vedit e;
	hdb_vset *vs = open_vset(fx, NULL, true);
	uint64_t n1 = hdb_vset_new_file_number(vs);
	uint64_t n2 = hdb_vset_new_file_number(vs);
	assert_int_equal(add_file(fx, vs, 0, fmeta(n1, 111, "k", "q")), 0);
	assert_int_equal(add_file(fx, vs, 3, fmeta(n2, 222, "a", "c")), 0);
	hdb_vset_set_last_seq(vs, 4242);
	hdb_vedit_init(&e);
	e.has_log_number = true;
	e.log_number = 17;
	assert_int_equal(apply(fx, vs, &e), 0);
	hdb_vedit_free(&e);
	uint64_t next = hdb_vset_new_file_number(vs);
	hdb_vset_free(vs);

	vs = open_vset(fx, NULL, false);
	hdb_version *v = hdb_vset_current(vs);
	assert_int_equal(total_files(v), 2);
	assert_int_equal(v->nfiles[0], 1);
	assert_int_equal(v->files[0][0]->number, n1);
	assert_int_equal(v->files[0][0]->size, 111);
	assert_int_equal(v->files[0][0]->smallest[0], 'k');
	assert_int_equal(v->files[0][0]->largest[0], 'q');
	assert_int_equal(v->nfiles[3], 1);
	assert_int_equal(v->files[3][0]->number, n2);
	assert_int_equal(v->files[3][0]->size, 222);
	assert_int_equal(hdb_vset_last_seq(vs), 4242);
	assert_int_equal(hdb_vset_log_number(vs), 17);
	/* `next` was handed out but never logged: it may be reused, the
	 * logged ones may not, and the new manifest took one number. */
	assert_true(hdb_vset_new_file_number(vs) >= next);
	hdb_vset_free(vs);
}

static void test_manifest_reopen_switches_to_a_new_manifest(void **state)
{
	struct fixture *fx = *state;
	char before[64], after[64];
	uint64_t *nums;
	size_t n;
	make_db(fx, before, sizeof(before));
	hdb_vset *vs = open_vset(fx, NULL, false);
	current_manifest(fx, after, sizeof(after));
	assert_string_not_equal(before, after);
	assert_false(exists(fx, before));
	assert_true(exists(fx, after));
	assert_int_equal(hdb_vset_live_files(vs, &nums, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(nums[0], 10);
	assert_int_equal(nums[1], 11);
	assert_int_equal(nums[2], strtoull(after + strlen(HDB_MANIFEST_PREFIX), NULL, 10));
	free(nums);
	hdb_vset_free(vs);
}

static void test_manifest_new_numbers_stay_above_logged_files_after_reopen(void **state)
{
	struct fixture *fx = *state;
	hdb_vset *vs = open_vset(fx, NULL, true);
	assert_int_equal(add_file(fx, vs, 1, fmeta(5000, 1, "a", "b")), 0);
	hdb_vset_free(vs);
	vs = open_vset(fx, NULL, false);
	assert_true(hdb_vset_new_file_number(vs) > 5000);
	hdb_vset_free(vs);
}

static void test_manifest_many_edits_replay_in_order(void **state)
{
	struct fixture *fx = *state;
	hdb_vset *vs = open_vset(fx, NULL, true);
	hdb_vedit e;
	for (uint64_t i = 0; i < 200; i++)
		assert_int_equal(add_file(fx, vs, 0, fmeta(100 + i, i, "a", "b")), 0);
	for (uint64_t i = 0; i < 200; i += 2) {
		hdb_vedit_init(&e);
		assert_int_equal(hdb_vedit_delete_file(&e, 0, 100 + i), 0);
		assert_int_equal(apply(fx, vs, &e), 0);
		hdb_vedit_free(&e);
	}
	hdb_vset_free(vs);
	vs = open_vset(fx, NULL, false);
	hdb_version *v = hdb_vset_current(vs);
	assert_int_equal(v->nfiles[0], 100);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(v->files[0][i]->number, 101 + 2 * i);
	hdb_vset_free(vs);
}

static void test_manifest_read_only_open_writes_nothing(void **state)
{
	struct fixture *fx = *state;
	char before[64], after[64];
	hdb_vset *vs;
	hdb_vedit e;
	make_db(fx, before, sizeof(before));
	assert_int_equal(hdb_vset_open(hdb_env_posix(), fx->dir, &opts, false, true, &vs), 0);
	assert_int_equal(total_files(hdb_vset_current(vs)), 2);
	hdb_vedit_init(&e);
	assert_int_equal(apply(fx, vs, &e), -EROFS);
	hdb_vset_free(vs);
	current_manifest(fx, after, sizeof(after));
	assert_string_equal(before, after);
	assert_true(exists(fx, before));
}

/* ---- torn tails and corruption -------------------------------------------- */

static void test_manifest_truncated_last_record_is_ignored(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	hdb_buf rec = { 0 };
	make_db(fx, name, sizeof(name));
	add_record(77, &rec);
	write_named(fx, name, rec.data, rec.len - 3, "ab");
	hdb_vset *vs = open_vset(fx, NULL, false);
	assert_int_equal(total_files(hdb_vset_current(vs)), 2);
	hdb_vset_free(vs);
	hdb_buf_free(&rec);
}

static void test_manifest_torn_record_header_is_ignored(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	hdb_buf rec = { 0 };
	make_db(fx, name, sizeof(name));
	add_record(77, &rec);
	write_named(fx, name, rec.data, 5, "ab");
	hdb_vset *vs = open_vset(fx, NULL, false);
	assert_int_equal(total_files(hdb_vset_current(vs)), 2);
	hdb_vset_free(vs);
	hdb_buf_free(&rec);
}

static void test_manifest_bad_crc_on_last_record_is_ignored(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	hdb_buf rec = { 0 };
	make_db(fx, name, sizeof(name));
	add_record(77, &rec);
	rec.data[rec.len - 1] ^= 0x40;
	write_named(fx, name, rec.data, rec.len, "ab");
	hdb_vset *vs = open_vset(fx, NULL, false);
	assert_int_equal(total_files(hdb_vset_current(vs)), 2);
	hdb_vset_free(vs);
	hdb_buf_free(&rec);
}

static void test_manifest_zero_filled_tail_is_ignored(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	uint8_t zeros[100] = { 0 };
	make_db(fx, name, sizeof(name));
	write_named(fx, name, zeros, sizeof(zeros), "ab");
	hdb_vset *vs = open_vset(fx, NULL, false);
	assert_int_equal(total_files(hdb_vset_current(vs)), 2);
	hdb_vset_free(vs);
}

static void test_manifest_intact_appended_record_is_applied(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	hdb_buf rec = { 0 };
	make_db(fx, name, sizeof(name));
	add_record(77, &rec);
	write_named(fx, name, rec.data, rec.len, "ab");
	hdb_vset *vs = open_vset(fx, NULL, false);
	assert_int_equal(total_files(hdb_vset_current(vs)), 3);
	hdb_vset_free(vs);
	hdb_buf_free(&rec);
}

static void test_manifest_bad_crc_before_the_end_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	hdb_buf rec = { 0 };
	uint8_t *data;
	size_t len;
	make_db(fx, name, sizeof(name));
	read_named(fx, name, &data, &len);
	add_record(77, &rec);
	write_named(fx, name, rec.data, rec.len, "ab");
	/* Damage the last byte of the record that was last before. */
	data[len - 1] ^= 0x01;
	write_named(fx, name, data, len, "r+b");
	assert_int_equal(open_rc(fx, false), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errdetail(), name));
	assert_non_null(strstr(hdb_errdetail(), "checksum"));
	free(data);
	hdb_buf_free(&rec);
}

static void test_manifest_flipped_magic_byte_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	uint8_t *data;
	size_t len;
	make_db(fx, name, sizeof(name));
	read_named(fx, name, &data, &len);
	data[2] ^= 0x20;
	write_named(fx, name, data, len, "wb");
	assert_int_equal(open_rc(fx, false), HDB_ECORRUPT);
	char want[128];
	snprintf(want, sizeof(want), "%s offset 0: bad manifest magic", name);
	assert_string_equal(hdb_errdetail(), want);
	free(data);
}

static void test_manifest_flipped_version_byte_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	uint8_t *data;
	size_t len;
	make_db(fx, name, sizeof(name));
	read_named(fx, name, &data, &len);
	data[9] ^= 0x01;
	write_named(fx, name, data, len, "wb");
	assert_int_equal(open_rc(fx, false), HDB_ECORRUPT);
	free(data);
}

static void test_manifest_newer_version_is_eversion(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	uint8_t *data;
	size_t len;
	make_db(fx, name, sizeof(name));
	read_named(fx, name, &data, &len);
	hdb_put_u32(data + 8, HDB_MANIFEST_VERSION + 1);
	hdb_put_u32(data + 12, hdb_crc32(data, 12));
	write_named(fx, name, data, len, "wb");
	assert_int_equal(open_rc(fx, false), HDB_EVERSION);
	assert_true(exists(fx, name)); /* left alone */
	free(data);
}

static void test_manifest_short_header_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	make_db(fx, name, sizeof(name));
	write_named(fx, name, HDB_MANIFEST_MAGIC, 8, "wb");
	assert_int_equal(open_rc(fx, false), HDB_ECORRUPT);
}

static void test_manifest_edit_deleting_a_missing_file_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	hdb_buf rec = { 0 };
	hdb_vedit e;
	make_db(fx, name, sizeof(name));
	hdb_vedit_init(&e);
	assert_int_equal(hdb_vedit_delete_file(&e, 0, 999), 0);
	frame(&e, &rec);
	write_named(fx, name, rec.data, rec.len, "ab");
	assert_int_equal(open_rc(fx, true), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errdetail(), "not live"));
	hdb_vedit_free(&e);
	hdb_buf_free(&rec);
}

static void test_manifest_unknown_record_type_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	hdb_buf rec = { 0 };
	make_db(fx, name, sizeof(name));
	add_record(77, &rec);
	rec.data[HDB_MANIFEST_OFF_TYPE] = 2;
	size_t len = rec.len - HDB_MANIFEST_REC_HEADER;
	hdb_put_u32(rec.data, hdb_crc32(rec.data + HDB_MANIFEST_OFF_TYPE, len + 1));
	write_named(fx, name, rec.data, rec.len, "ab");
	assert_int_equal(open_rc(fx, false), HDB_ECORRUPT);
	hdb_buf_free(&rec);
}

static void test_manifest_current_naming_a_missing_manifest_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	char name[64];
	make_db(fx, name, sizeof(name));
	write_named(fx, HDB_CURRENT_NAME, "MANIFEST-000999\n", 16, "wb");
	assert_int_equal(open_rc(fx, true), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errdetail(), "MANIFEST-000999"));
	assert_true(exists(fx, name));
}

static void test_manifest_malformed_current_is_corrupt(void **state)
{
	struct fixture *fx = *state;
	static const char *bad[] = {
		"MANIFEST-12\n", "MANIFEST-000001", "MANIFEST-000001\n\n", "manifest-000001\n",
		"MANIFEST-00000x\n", "MANIFEST-99999999999999999999\n", "",
	};
	char name[64];
	make_db(fx, name, sizeof(name));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_named(fx, HDB_CURRENT_NAME, bad[i], strlen(bad[i]), "wb");
		assert_int_equal(open_rc(fx, true), HDB_ECORRUPT);
	}
	assert_true(exists(fx, name));
}

/* ---- write failures ---------------------------------------------------------- */

struct failing_env {
	hdb_env env;
	bool fail_writes;
};

static int failing_write(hdb_env *env, int fd, const void *buf, size_t n)
{
	struct failing_env *fe = (struct failing_env *)env;
	if (fe->fail_writes)
		return -ENOSPC;
	return hdb_env_posix()->write(hdb_env_posix(), fd, buf, n);
}

static void test_manifest_failed_append_keeps_version_and_starts_new_manifest(void **state)
{
	struct fixture *fx = *state;
	struct failing_env fe = { .env = *hdb_env_posix() };
	char before[64], after[64];
	fe.env.write = failing_write;
	hdb_vset *vs = open_vset(fx, &fe.env, true);
	assert_int_equal(add_file(fx, vs, 0, fmeta(10, 1, "a", "b")), 0);
	hdb_version *v = hdb_vset_current(vs);
	current_manifest(fx, before, sizeof(before));

	fe.fail_writes = true;
	assert_int_equal(add_file(fx, vs, 0, fmeta(11, 1, "a", "b")), -ENOSPC);
	assert_ptr_equal(hdb_vset_current(vs), v);
	assert_int_equal(v->nfiles[0], 1);

	fe.fail_writes = false;
	assert_int_equal(add_file(fx, vs, 0, fmeta(12, 1, "a", "b")), 0);
	current_manifest(fx, after, sizeof(after));
	assert_string_not_equal(before, after);
	assert_false(exists(fx, before));
	hdb_vset_free(vs);

	vs = open_vset(fx, NULL, false);
	v = hdb_vset_current(vs);
	assert_int_equal(v->nfiles[0], 2);
	assert_int_equal(v->files[0][0]->number, 10);
	assert_int_equal(v->files[0][1]->number, 12);
	hdb_vset_free(vs);
}

static void test_manifest_failed_switch_on_reopen_still_opens(void **state)
{
	struct fixture *fx = *state;
	struct failing_env fe = { .env = *hdb_env_posix(), .fail_writes = true };
	char before[64], after[64];
	fe.env.write = failing_write;
	make_db(fx, before, sizeof(before));
	hdb_vset *vs = open_vset(fx, &fe.env, false);
	assert_int_equal(total_files(hdb_vset_current(vs)), 2);
	current_manifest(fx, after, sizeof(after));
	assert_string_equal(before, after);
	fe.fail_writes = false;
	assert_int_equal(add_file(fx, vs, 1, fmeta(40, 1, "a", "b")), 0);
	current_manifest(fx, after, sizeof(after));
	assert_string_not_equal(before, after);
	assert_false(exists(fx, before));
	hdb_vset_free(vs);
	vs = open_vset(fx, NULL, false);
	assert_int_equal(total_files(hdb_vset_current(vs)), 3);
	hdb_vset_free(vs);
}

/* An env whose manifest writes play a concurrent writer: they take the DB
 * mutex (so it must be released during the write) and move last_seq on. */
struct racing_env {
	hdb_env env;
	struct fixture *fx;
	hdb_vset *vs;
	int races;
};

static struct racing_env *racer;

static int racing_write(hdb_env *env, int fd, const void *buf, size_t n)
{
	if (racer->vs) {
		pthread_mutex_lock(&racer->fx->mu);
		hdb_vset_set_last_seq(racer->vs, hdb_vset_last_seq(racer->vs) + 100);
		pthread_mutex_unlock(&racer->fx->mu);
		racer->races++;
	}
	return hdb_env_posix()->write(hdb_env_posix(), fd, buf, n);
}

static void test_manifest_apply_keeps_counters_moved_during_the_write(void **state)
{
	struct fixture *fx = *state;
	struct racing_env re = { .env = *hdb_env_posix(), .fx = fx };
	hdb_vedit e;
	re.env.write = racing_write;
	racer = &re;
	hdb_vset *vs = open_vset(fx, &re.env, true);
	hdb_vset_set_last_seq(vs, 10);
	re.vs = vs;
	hdb_vedit_init(&e);
	assert_int_equal(apply(fx, vs, &e), 0);
	hdb_vedit_free(&e);
	assert_int_equal(re.races, 1);
	assert_int_equal(hdb_vset_last_seq(vs), 110);
	re.vs = NULL;
	hdb_vset_free(vs);
	racer = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_manifest_create_names_manifest_1_in_current),
		T(test_manifest_open_without_current_or_create_is_enoent),
		T(test_manifest_read_only_open_of_nothing_is_enoent_even_with_create),
		T(test_manifest_reopen_restores_files_and_counters),
		T(test_manifest_reopen_switches_to_a_new_manifest),
		T(test_manifest_new_numbers_stay_above_logged_files_after_reopen),
		T(test_manifest_many_edits_replay_in_order),
		T(test_manifest_read_only_open_writes_nothing),
		T(test_manifest_truncated_last_record_is_ignored),
		T(test_manifest_torn_record_header_is_ignored),
		T(test_manifest_bad_crc_on_last_record_is_ignored),
		T(test_manifest_zero_filled_tail_is_ignored),
		T(test_manifest_intact_appended_record_is_applied),
		T(test_manifest_bad_crc_before_the_end_is_corrupt),
		T(test_manifest_flipped_magic_byte_is_corrupt),
		T(test_manifest_flipped_version_byte_is_corrupt),
		T(test_manifest_newer_version_is_eversion),
		T(test_manifest_short_header_is_corrupt),
		T(test_manifest_edit_deleting_a_missing_file_is_corrupt),
		T(test_manifest_unknown_record_type_is_corrupt),
		T(test_manifest_current_naming_a_missing_manifest_is_corrupt),
		T(test_manifest_malformed_current_is_corrupt),
		T(test_manifest_failed_append_keeps_version_and_starts_new_manifest),
		T(test_manifest_failed_switch_on_reopen_still_opens),
		T(test_manifest_apply_keeps_counters_moved_during_the_write),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
