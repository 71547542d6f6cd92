/*
 * test_compaction_pick.c — choosing compactions: triggers, scores, inputs
 * at level + 1, expansion, round robin, manual ranges, trivial moves and
 * the base-level test.
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

#include "version.h"

/* L1 holds 1000 bytes, L2 10000, L3 100000, ...; outputs of 100 bytes. */
static const hdb_vset_options opts = {
	.l0_compaction_trigger = 4,
	.level1_max_bytes = 1000,
	.target_file_size = 100,
};

struct fixture {
	char dir[64];
	pthread_mutex_t mu;
	hdb_vset *vs;
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
	if (hdb_vset_open(hdb_env_posix(), fx->dir, &opts, true, false, &fx->vs))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char **names;
	size_t n;
	hdb_vset_free(fx->vs);
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

static uint8_t *ikey(const char *ukey, uint64_t seq, size_t *n)
{
	hdb_buf b = { 0 };
	assert_int_equal(hdb_ikey_build(&b, ukey, strlen(ukey), seq, HDB_TYPE_VALUE), 0);
	*n = b.len;
	return b.data;
}

static hdb_fmeta *fmeta_seq(uint64_t number, uint64_t size, const char *lo, uint64_t lseq,
                            const char *hi, uint64_t hseq)
{
	size_t sn, ln;
	uint8_t *s = ikey(lo, lseq, &sn), *l = ikey(hi, hseq, &ln);
	hdb_fmeta *f = hdb_fmeta_new(number, size, s, sn, l, ln);
	assert_non_null(f);
	free(s);
	free(l);
	return f;
}

struct spec {
	int level;
	uint64_t number, size;
	const char *lo, *hi;
};

/* Installs every file of specs in one edit. */
static void install(struct fixture *fx, const struct spec *specs, size_t n)
{
	hdb_vedit e;
	hdb_vedit_init(&e);
	for (size_t i = 0; i < n; i++) {
		hdb_fmeta *f = fmeta_seq(specs[i].number, specs[i].size, specs[i].lo, 100, specs[i].hi, 1);
		assert_int_equal(hdb_vedit_add_file(&e, specs[i].level, f), 0);
		hdb_fmeta_unref(f);
	}
	pthread_mutex_lock(&fx->mu);
	assert_int_equal(hdb_vset_log_and_apply(fx->vs, &e, &fx->mu), 0);
	pthread_mutex_unlock(&fx->mu);
	hdb_vedit_free(&e);
}

#define INSTALL(fx, ...)                                                    \
	do {                                                                \
		const struct spec s_[] = { __VA_ARGS__ };                   \
		install(fx, s_, sizeof(s_) / sizeof(s_[0]));                \
	} while (0)

/* The numbers of one side of c's inputs, as "n,n,n". */
static const char *numbers(const hdb_compaction *c, int which)
{
	static char buf[256];
	size_t off = 0;
	buf[0] = 0;
	for (size_t i = 0; i < c->ninputs[which]; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%llu", i ? "," : "",
		                        (unsigned long long)c->inputs[which][i]->number);
	return buf;
}

static bool edit_deletes(const hdb_compaction *c, int level, uint64_t number)
{
	for (size_t i = 0; i < c->edit.ndeleted; i++)
		if (c->edit.deleted[i].level == level && c->edit.deleted[i].number == number)
			return true;
	return false;
}

/* ---- size-triggered picks ---------------------------------------------------- */

static void test_pick_nothing_below_every_trigger(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 0, 10, 5, "a", "b" }, { 0, 11, 5, "a", "b" }, { 0, 12, 5, "a", "b" },
	        { 1, 20, 999, "a", "z" });
	assert_true(hdb_vset_current(fx->vs)->compaction_score < 1);
	assert_null(hdb_vset_pick_compaction(fx->vs));
}

static void test_pick_l0_at_trigger_takes_every_overlapping_l0_file(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 0, 10, 5, "a", "c" }, { 0, 11, 5, "b", "d" }, { 0, 12, 5, "x", "z" },
	        { 0, 13, 5, "d", "e" }, { 1, 20, 5, "a", "b" }, { 1, 21, 5, "e", "f" },
	        { 1, 22, 5, "g", "h" });
	hdb_compaction *c = hdb_vset_pick_compaction(fx->vs);
	assert_non_null(c);
	assert_int_equal(c->level, 0);
	/* 10 overlaps 11, which overlaps 13; 12 is apart. */
	assert_string_equal(numbers(c, 0), "10,11,13");
	assert_string_equal(numbers(c, 1), "20,21");
	assert_int_equal(c->max_output_size, 100);
	assert_int_equal(c->edit.ndeleted, 5);
	assert_true(edit_deletes(c, 0, 10) && edit_deletes(c, 0, 11) && edit_deletes(c, 0, 13));
	assert_true(edit_deletes(c, 1, 20) && edit_deletes(c, 1, 21));
	assert_int_equal(c->edit.nadded, 0);
	assert_ptr_equal(c->version, hdb_vset_current(fx->vs));
	assert_int_equal(c->version->refs, 2);
	assert_false(hdb_compaction_is_trivial_move(c));
	hdb_compaction_free(c);
	assert_int_equal(hdb_vset_current(fx->vs)->refs, 1);
}

static void test_pick_chooses_the_level_with_the_highest_score(void **state)
{
	struct fixture *fx = *state;
	/* L1 at 1.5 of its budget, L2 at 3.0, L0 at 0.75. */
	INSTALL(fx, { 0, 10, 5, "a", "b" }, { 0, 11, 5, "a", "b" }, { 0, 12, 5, "a", "b" },
	        { 1, 20, 1500, "a", "b" }, { 2, 30, 20000, "c", "d" }, { 2, 31, 10000, "e", "f" });
	hdb_version *v = hdb_vset_current(fx->vs);
	assert_int_equal(v->compaction_level, 2);
	assert_true(v->compaction_score > 2.99 && v->compaction_score < 3.01);
	hdb_compaction *c = hdb_vset_pick_compaction(fx->vs);
	assert_non_null(c);
	assert_int_equal(c->level, 2);
	assert_string_equal(numbers(c, 0), "30");
	assert_int_equal(c->ninputs[1], 0);
	hdb_compaction_free(c);
}

static void test_pick_takes_the_overlapping_files_of_the_next_level(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 1, 20, 1200, "d", "k" }, { 2, 30, 5, "a", "c" }, { 2, 31, 5, "ca", "e" },
	        { 2, 32, 5, "f", "g" }, { 2, 33, 5, "k", "m" }, { 2, 34, 5, "n", "z" });
	hdb_compaction *c = hdb_vset_pick_compaction(fx->vs);
	assert_non_null(c);
	assert_int_equal(c->level, 1);
	assert_string_equal(numbers(c, 0), "20");
	assert_string_equal(numbers(c, 1), "31,32,33");
	hdb_compaction_free(c);
}

static void test_pick_round_robin_walks_the_level(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 1, 20, 600, "a", "b" }, { 1, 21, 600, "c", "d" }, { 1, 22, 600, "e", "f" });
	const char *want[] = { "20", "21", "22", "20" };
	for (size_t i = 0; i < 4; i++) {
		hdb_compaction *c = hdb_vset_pick_compaction(fx->vs);
		assert_non_null(c);
		assert_string_equal(numbers(c, 0), want[i]);
		hdb_compaction_free(c);
	}
}

static void test_pick_expands_inputs_when_next_level_is_unchanged(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 1, 20, 600, "a", "b" }, { 1, 21, 600, "c", "d" }, { 2, 30, 100, "a", "d" });
	hdb_compaction *c = hdb_vset_pick_compaction(fx->vs);
	assert_non_null(c);
	assert_string_equal(numbers(c, 0), "20,21");
	assert_string_equal(numbers(c, 1), "30");
	assert_int_equal(c->edit.ndeleted, 3);
	hdb_compaction_free(c);
}

static void test_pick_does_not_expand_when_next_level_would_grow(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 1, 20, 600, "a", "b" }, { 1, 21, 600, "c", "f" }, { 2, 30, 100, "a", "d" },
	        { 2, 31, 100, "e", "g" });
	hdb_compaction *c = hdb_vset_pick_compaction(fx->vs);
	assert_non_null(c);
	assert_string_equal(numbers(c, 0), "20");
	assert_string_equal(numbers(c, 1), "30");
	hdb_compaction_free(c);
}

static void test_pick_keeps_a_shared_boundary_key_together(void **state)
{
	struct fixture *fx = *state;
	hdb_vedit e;
	hdb_vedit_init(&e);
	/* Two L1 files split between versions of user key "c". */
	hdb_fmeta *a = fmeta_seq(20, 600, "a", 9, "c", 5), *b = fmeta_seq(21, 600, "c", 4, "d", 1);
	assert_int_equal(hdb_vedit_add_file(&e, 1, a), 0);
	assert_int_equal(hdb_vedit_add_file(&e, 1, b), 0);
	hdb_fmeta_unref(a);
	hdb_fmeta_unref(b);
	pthread_mutex_lock(&fx->mu);
	assert_int_equal(hdb_vset_log_and_apply(fx->vs, &e, &fx->mu), 0);
	pthread_mutex_unlock(&fx->mu);
	hdb_vedit_free(&e);
	hdb_compaction *c = hdb_vset_pick_compaction(fx->vs);
	assert_non_null(c);
	assert_string_equal(numbers(c, 0), "20,21");
	hdb_compaction_free(c);
}

static void test_pick_never_scores_the_last_level(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { HDB_MAX_LEVELS - 1, 60, UINT64_C(1) << 50, "a", "z" });
	hdb_version *v = hdb_vset_current(fx->vs);
	assert_int_not_equal(v->compaction_level, HDB_MAX_LEVELS - 1);
	assert_null(hdb_vset_pick_compaction(fx->vs));
}

/* ---- manual ranges --------------------------------------------------------------- */

static void test_compact_range_takes_the_level_files_in_range(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 1, 20, 5, "a", "b" }, { 1, 21, 5, "c", "d" }, { 1, 22, 5, "e", "f" },
	        { 2, 30, 5, "cc", "dd" });
	hdb_compaction *c = hdb_vset_compact_range(fx->vs, 1, (const uint8_t *)"c", 1,
	                                           (const uint8_t *)"c", 1);
	assert_non_null(c);
	assert_int_equal(c->level, 1);
	assert_string_equal(numbers(c, 0), "21");
	assert_string_equal(numbers(c, 1), "30");
	hdb_compaction_free(c);

	c = hdb_vset_compact_range(fx->vs, 1, NULL, 0, NULL, 0);
	assert_non_null(c);
	assert_string_equal(numbers(c, 0), "20,21,22");
	hdb_compaction_free(c);
}

static void test_compact_range_without_overlap_is_null(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 1, 20, 5, "a", "b" });
	assert_null(hdb_vset_compact_range(fx->vs, 1, (const uint8_t *)"x", 1, NULL, 0));
	assert_null(hdb_vset_compact_range(fx->vs, 2, NULL, 0, NULL, 0));
	assert_null(hdb_vset_compact_range(fx->vs, HDB_MAX_LEVELS - 1, NULL, 0, NULL, 0));
}

static void test_compact_range_in_l0_takes_every_overlapping_file(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 0, 10, 5, "a", "c" }, { 0, 11, 5, "c", "f" }, { 0, 12, 5, "x", "y" });
	hdb_compaction *c = hdb_vset_compact_range(fx->vs, 0, (const uint8_t *)"a", 1,
	                                           (const uint8_t *)"a", 1);
	assert_non_null(c);
	assert_string_equal(numbers(c, 0), "10,11");
	hdb_compaction_free(c);
}

/* ---- trivial moves ---------------------------------------------------------------- */

static void test_trivial_move_for_one_file_with_nothing_below(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 1, 20, 5, "a", "b" }, { 2, 30, 5, "c", "d" });
	hdb_compaction *c = hdb_vset_compact_range(fx->vs, 1, NULL, 0, NULL, 0);
	assert_non_null(c);
	assert_true(hdb_compaction_is_trivial_move(c));
	hdb_compaction_free(c);
}

static void test_no_trivial_move_when_next_level_overlaps(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 1, 20, 5, "a", "c" }, { 2, 30, 5, "c", "d" });
	hdb_compaction *c = hdb_vset_compact_range(fx->vs, 1, NULL, 0, NULL, 0);
	assert_non_null(c);
	assert_false(hdb_compaction_is_trivial_move(c));
	hdb_compaction_free(c);
}

static void test_no_trivial_move_over_too_many_grandparent_bytes(void **state)
{
	struct fixture *fx = *state;
	/* 10 target sizes of level + 2 is the limit; 1001 bytes pass it. */
	INSTALL(fx, { 1, 20, 5, "a", "m" }, { 3, 40, 1001, "b", "c" });
	hdb_compaction *c = hdb_vset_compact_range(fx->vs, 1, NULL, 0, NULL, 0);
	assert_non_null(c);
	assert_false(hdb_compaction_is_trivial_move(c));
	hdb_compaction_free(c);
}

static void test_trivial_move_for_a_lone_l0_file(void **state)
{
	struct fixture *fx = *state;
	INSTALL(fx, { 0, 10, 5, "a", "b" }, { 0, 11, 5, "c", "d" }, { 0, 12, 5, "e", "f" },
	        { 0, 13, 5, "g", "h" });
	hdb_compaction *c = hdb_vset_pick_compaction(fx->vs);
	assert_non_null(c);
	assert_int_equal(c->level, 0);
	assert_string_equal(numbers(c, 0), "10");
	assert_true(hdb_compaction_is_trivial_move(c));
	hdb_compaction_free(c);
}

/* ---- base level -------------------------------------------------------------------- */

static void test_base_level_for_key_checks_levels_below_the_output(void **state)
{
	struct fixture *fx = *state;
	/* Compaction L1 -> L2: L2 does not count, L3 and L5 do. */
	INSTALL(fx, { 1, 20, 5, "a", "z" }, { 2, 30, 5, "b", "b" }, { 3, 40, 5, "c", "e" },
	        { 3, 41, 5, "m", "p" }, { 5, 50, 5, "x", "z" });
	hdb_compaction *c = hdb_vset_compact_range(fx->vs, 1, NULL, 0, NULL, 0);
	assert_non_null(c);
	const char *keys[] = { "a", "b", "c", "d", "f", "n", "q", "y", "zz" };
	const bool base[] = { true, true, false, false, true, false, true, false, true };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(hdb_compaction_is_base_level_for_key(c, (const uint8_t *)keys[i],
		                                                      strlen(keys[i])), base[i]);
	hdb_compaction_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_pick_nothing_below_every_trigger),
		T(test_pick_l0_at_trigger_takes_every_overlapping_l0_file),
		T(test_pick_chooses_the_level_with_the_highest_score),
		T(test_pick_takes_the_overlapping_files_of_the_next_level),
		T(test_pick_round_robin_walks_the_level),
		T(test_pick_expands_inputs_when_next_level_is_unchanged),
		T(test_pick_does_not_expand_when_next_level_would_grow),
		T(test_pick_keeps_a_shared_boundary_key_together),
		T(test_pick_never_scores_the_last_level),
		T(test_compact_range_takes_the_level_files_in_range),
		T(test_compact_range_without_overlap_is_null),
		T(test_compact_range_in_l0_takes_every_overlapping_file),
		T(test_trivial_move_for_one_file_with_nothing_below),
		T(test_no_trivial_move_when_next_level_overlaps),
		T(test_no_trivial_move_over_too_many_grandparent_bytes),
		T(test_trivial_move_for_a_lone_l0_file),
		T(test_base_level_for_key_checks_levels_below_the_output),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
