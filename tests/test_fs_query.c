/*
 * test_fs_query.c — queries, secondary indexes and JSON Lines import on
 * the fs layer over a real engine, without FUSE (fs/qexec.c, qindex.c,
 * import.c).
 *
 * The property test builds documents from a typed model, writes them
 * (through file handles and through an import), and checks every query
 * answer against a brute-force evaluation of the model: every operator,
 * nested paths, mixed types and missing fields; without indexes, with
 * indexes (and then also that the index entries in the engine are exactly
 * the ones the model implies), after overwrites, renames, exchanges and
 * deletes, after a reopen, and after an index is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
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

#include "fs_fixture.h"
#include "fs_internal.h"
#include "hybriddb.h"
#include "import.h"
#include "keys.h"
#include "qexec.h"
#include "qindex.h"
#include "query.h"

/* ---- environment ---- */

static uint64_t lookup(hdb_fs *fs, uint64_t parent, const char *name)
{
	struct stat st;
	assert_int_equal(fs_node_lookup(fs, parent, name, &st), 0);
	return st.st_ino;
}

static int setup(void **state)
{
	*state = fs_fixture_new_coll(256 << 10, "c"); /* flushes and compactions during the test */
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	return fs_fixture_free(*state);
}

static void write_doc(struct fs_env *e, const char *name, const char *content)
{
	assert_int_equal(fs_fixture_put_doc(e, name, content), 0);
}

static int import(struct fs_env *e, const char *text, fs_import_result *res)
{
	fs_import_opts o = { .mode = 0644, .what = "test import" };
	return fs_import(e->fs, e->coll, text, strlen(text), &o, res);
}

static char *content_of(hdb_fs *fs, uint64_t coll, const char *name)
{
	hdb_fs_attr a;
	if (fs_read_entry(fs, coll, name, strlen(name), &a))
		return NULL;
	return fs_fixture_content(fs, a.ino);
}

/* The names a query answers, "\n"-joined; *indexed tells the plan. */
static char *run(struct fs_env *e, const char *const *texts, size_t n, bool *indexed)
{
	hdb_qcond conds[4];
	const hdb_qcond *ptrs[4];
	for (size_t i = 0; i < n; i++) {
		const char *why;
		assert_int_equal(hdb_qcond_parse(texts[i], strlen(texts[i]), &conds[i], &why), 0);
		ptrs[i] = &conds[i];
	}
	fs_qcur *c;
	assert_int_equal(fs_qcur_open(e->fs, e->coll, ptrs, n, FS_Q_DOCS, &c), 0);
	if (indexed)
		*indexed = fs_qcur_indexed(c);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	fs_qmatch m;
	int rc;
	while ((rc = fs_qcur_next(c, &m)) == 1)
		fprintf(f, "%s\n", m.name);
	assert_int_equal(rc, 0);
	fs_qcur_free(c);
	fclose(f);
	uint64_t count;
	assert_int_equal(fs_query_count(e->fs, e->coll, ptrs, n, &count), 0);
	size_t lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(count, lines);
	for (size_t i = 0; i < n; i++)
		hdb_qcond_free(&conds[i]);
	return out;
}

static void count_report(void *ctx, const char *what)
{
	(*(int *)ctx)++;
}

/* ---- the model ---- */

enum mt { M_MISSING, M_NULL, M_BOOL, M_NUM, M_STR, M_ARR, M_OBJ };

struct scal {
	const char *json; /* as written in documents and in conditions */
	enum mt t;
	double num;
	const char *str;  /* decoded */
	size_t slen;
	int b;
};

#define S(j, s) { j, M_STR, 0, s, sizeof(s) - 1, 0 }
#define N(j, v) { j, M_NUM, v, NULL, 0, 0 }
static const struct scal pool[] = {
	{ "null", M_NULL, 0, NULL, 0, 0 }, { "true", M_BOOL, 0, NULL, 0, 1 }, { "false", M_BOOL, 0, NULL, 0, 0 },
	N("0", 0), N("-0", -0.0), N("1", 1), N("1.0", 1), N("1e0", 1), N("2.5", 2.5), N("-3", -3), N("30", 30),
	N("1e3", 1000), N("-2.5e-1", -0.25), N("123456789", 123456789),
	S("\"\"", ""), S("\"a\"", "a"), S("\"ab\"", "ab"), S("\"b\"", "b"), S("\"30\"", "30"),
	S("\"\\u0061\"", "a"), S("\"\\u00e9\"", "\xc3\xa9"), S("\"Paris\"", "Paris"), S("\"x\\\"y\"", "x\"y"),
	S("\"Lyon\"", "Lyon"), S("\"a b\"", "a b"),
};
#define NPOOL (sizeof(pool) / sizeof(pool[0]))

struct mval {
	enum mt t;
	int s;          /* scalar: index in pool */
	int elems[3];   /* array: pool indexes */
	int n;
};

#define NDOCS 240
#define NFIELDS 3
static const char *const fields[NFIELDS] = { "a", "n.x", "arr" };

struct mdoc {
	bool live;
	char name[32];
	struct mval f[NFIELDS];
	bool n_scalar;  /* "n" is a number, so n.x is missing */
	char *json;
};

static uint64_t rng_state = 88172645463325252u;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct mval gen_val(void)
{
	struct mval v = { 0 };
	unsigned k = (unsigned)(rnd() % 10);
	if (k < 2) {
		v.t = M_MISSING;
	} else if (k < 8) {
		v.s = (int)(rnd() % NPOOL);
		v.t = pool[v.s].t;
	} else if (k < 9) {
		v.t = M_ARR;
		v.n = (int)(rnd() % 4);
		for (int i = 0; i < v.n; i++)
			v.elems[i] = (int)(rnd() % NPOOL);
	} else {
		v.t = M_OBJ;
	}
	return v;
}

static void put_val(FILE *f, const char *key, const struct mval *v, bool *first)
{
	if (v->t == M_MISSING)
		return;
	fprintf(f, "%s\"%s\": ", *first ? "" : ", ", key);
	*first = false;
	if (v->t == M_ARR) {
		fputc('[', f);
		for (int i = 0; i < v->n; i++)
			fprintf(f, "%s%s", i ? "," : "", pool[v->elems[i]].json);
		fputc(']', f);
	} else if (v->t == M_OBJ) {
		fputs("{\"k\": 1}", f);
	} else {
		fputs(pool[v->s].json, f);
	}
}

static void gen_doc(struct mdoc *d)
{
	for (int i = 0; i < NFIELDS; i++)
		d->f[i] = gen_val();
	d->n_scalar = rnd() % 8 == 0;
	if (d->n_scalar)
		d->f[1].t = M_MISSING;
	free(d->json);
	size_t len;
	FILE *f = open_memstream(&d->json, &len);
	assert_non_null(f);
	bool first = true;
	fputc('{', f);
	put_val(f, "a", &d->f[0], &first);
	if (d->n_scalar) {
		fprintf(f, "%s\"n\": 5", first ? "" : ", ");
		first = false;
	} else if (rnd() % 2 || d->f[1].t != M_MISSING) {
		fprintf(f, "%s\"n\": {\"y\": 0", first ? "" : ", ");
		first = false;
		bool inner = false;
		put_val(f, "x", &d->f[1], &inner);
		fputc('}', f);
	}
	put_val(f, "arr", &d->f[2], &first);
	fputs("}\n", f);
	fclose(f);
	d->live = true;
}

static bool scal_eq(const struct scal *x, const struct scal *y)
{
	if (x->t != y->t)
		return false;
	switch (x->t) {
	case M_NULL: return true;
	case M_BOOL: return x->b == y->b;
	case M_NUM: return x->num == y->num;
	default: return x->slen == y->slen && !memcmp(x->str, y->str, x->slen);
	}
}

/* Orders same-typed scalars; false when not comparable. */
static bool scal_order(const struct scal *x, const struct scal *y, int *cmp)
{
	if (x->t != y->t)
		return false;
	switch (x->t) {
	case M_NULL: *cmp = 0; return true;
	case M_BOOL: *cmp = x->b - y->b; return true;
	case M_NUM: *cmp = x->num < y->num ? -1 : x->num > y->num; return true;
	default: {
		size_t m = x->slen < y->slen ? x->slen : y->slen;
		int r = m ? memcmp(x->str, y->str, m) : 0;
		*cmp = r ? r : (x->slen < y->slen ? -1 : x->slen > y->slen);
		return true;
	}
	}
}

enum mop { O_EQ, O_NE, O_LT, O_LE, O_GT, O_GE, O_HAS, O_RE, NOPS };
static const char *const opnames[NOPS] = { "=", "!=", "<", "<=", ">", ">=", "@", "~" };
static const char *const regexes[] = { "^a", "b$", "^$", "a|y", "[0-9]", "^(Paris|Lyon)$" };

struct mcond {
	int field;
	enum mop op;
	int v;        /* pool index (not RE) */
	int re;       /* regexes index (RE) */
	bool bare;    /* string operand written without quotes */
	char text[64];
};

static bool model_test(const struct mcond *c, const struct mval *f)
{
	const struct scal *v = &pool[c->v];
	bool scalar = f->t != M_MISSING && f->t != M_ARR && f->t != M_OBJ;
	int cmp;
	switch (c->op) {
	case O_EQ: return scalar && scal_eq(&pool[f->s], v);
	case O_NE: return !(scalar && scal_eq(&pool[f->s], v));
	case O_LT: return scalar && scal_order(&pool[f->s], v, &cmp) && cmp < 0;
	case O_LE: return scalar && scal_order(&pool[f->s], v, &cmp) && cmp <= 0;
	case O_GT: return scalar && scal_order(&pool[f->s], v, &cmp) && cmp > 0;
	case O_GE: return scalar && scal_order(&pool[f->s], v, &cmp) && cmp >= 0;
	case O_HAS:
		if (f->t != M_ARR)
			return false;
		for (int i = 0; i < f->n; i++)
			if (scal_eq(&pool[f->elems[i]], v))
				return true;
		return false;
	default: {
		if (f->t != M_STR)
			return false;
		regex_t re;
		assert_int_equal(regcomp(&re, regexes[c->re], REG_EXTENDED | REG_NOSUB), 0);
		char buf[64];
		memcpy(buf, pool[f->s].str, pool[f->s].slen);
		buf[pool[f->s].slen] = 0;
		bool m = regexec(&re, buf, 0, NULL, 0) == 0;
		regfree(&re);
		return m;
	}
	}
}

static void gen_cond(struct mcond *c)
{
	c->field = (int)(rnd() % NFIELDS);
	c->op = (enum mop)(rnd() % NOPS);
	c->v = (int)(rnd() % NPOOL);
	c->re = (int)(rnd() % (sizeof(regexes) / sizeof(regexes[0])));
	/* A bare word is read as a string when it is not JSON. */
	c->bare = pool[c->v].t == M_STR && rnd() % 2 && strchr(pool[c->v].json, '\\') == NULL &&
	          strcmp(pool[c->v].json, "\"30\"") && strcmp(pool[c->v].json, "\"\"");
	if (c->op == O_RE)
		snprintf(c->text, sizeof(c->text), "%s~%s", fields[c->field], regexes[c->re]);
	else if (c->bare)
		snprintf(c->text, sizeof(c->text), "%s%s%.*s", fields[c->field], opnames[c->op],
		         (int)pool[c->v].slen, pool[c->v].str);
	else
		snprintf(c->text, sizeof(c->text), "%s%s%s", fields[c->field], opnames[c->op], pool[c->v].json);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names the model answers, sorted bytewise like the listing. */
static char *model_run(struct mdoc *docs, const struct mcond *conds, size_t n)
{
	char *names[NDOCS];
	size_t k = 0;
	for (size_t i = 0; i < NDOCS; i++) {
		if (!docs[i].live)
			continue;
		bool ok = true;
		for (size_t j = 0; ok && j < n; j++)
			ok = model_test(&conds[j], &docs[i].f[conds[j].field]);
		if (ok)
			names[k++] = docs[i].name;
	}
	qsort(names, k, sizeof(names[0]), cmp_cstr);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	for (size_t i = 0; i < k; i++)
		fprintf(f, "%s\n", names[i]);
	fclose(f);
	return out;
}

/* Runs queries of one and two random conditions against the model. */
static void check_queries(struct fs_env *e, struct mdoc *docs, int rounds, bool expect_index)
{
	int used_index = 0;
	for (int r = 0; r < rounds; r++) {
		struct mcond conds[2];
		size_t n = 1 + (size_t)(rnd() % 2);
		const char *texts[2];
		for (size_t i = 0; i < n; i++) {
			gen_cond(&conds[i]);
			texts[i] = conds[i].text;
		}
		bool indexed;
		char *got = run(e, texts, n, &indexed), *want = model_run(docs, conds, n);
		if (strcmp(got, want))
			fail_msg("query %s%s%s%s: got\n%s\nwant\n%s", texts[0], n > 1 ? " AND " : "", n > 1 ? texts[1] : "",
			         indexed ? " (indexed)" : "", got, want);
		used_index += indexed;
		free(got);
		free(want);
	}
	if (expect_index)
		assert_true(used_index > rounds / 4);
	else
		assert_int_equal(used_index, 0);
}

/* The index entries in the engine are exactly those the model implies. */
static void check_entries(struct fs_env *e, struct mdoc *docs, const bool *indexed_field)
{
	char *want[NDOCS * NFIELDS];
	size_t nw = 0;
	for (size_t i = 0; i < NDOCS; i++) {
		for (int f = 0; i < NDOCS && docs[i].live && f < NFIELDS; f++) {
			const struct mval *v = &docs[i].f[f];
			if (!indexed_field[f] || v->t == M_MISSING || v->t == M_ARR || v->t == M_OBJ)
				continue;
			uint8_t k[FS_IKEY_MAX];
			hdb_jval jv;
			assert_int_equal(hdb_jval_decode((const uint8_t *)pool[v->s].json, strlen(pool[v->s].json), &jv), 0);
			size_t pl = fs_ikey_prefix(k, e->coll, fields[f], strlen(fields[f]));
			size_t el = hdb_qkey_encode(&jv, k + pl);
			hdb_jval_free(&jv);
			memcpy(k + pl + el, docs[i].name, strlen(docs[i].name));
			size_t kl = pl + el + strlen(docs[i].name);
			char *hex = malloc(2 * kl + 1);
			for (size_t b = 0; b < kl; b++)
				sprintf(hex + 2 * b, "%02x", k[b]);
			want[nw++] = hex;
		}
	}
	qsort(want, nw, sizeof(want[0]), cmp_cstr);
	uint8_t lower[HDB_FS_KEY_PREFIX], upper[HDB_FS_KEY_PREFIX];
	hdb_fs_ino_key(lower, HDB_FS_TAG_IENTRY, e->coll);
	hdb_fs_ino_key(upper, HDB_FS_TAG_IENTRY, e->coll + 1);
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.lower = lower;
	ro.lower_len = sizeof(lower);
	ro.upper = upper;
	ro.upper_len = sizeof(upper);
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(e->db, &ro, &it), 0);
	size_t k = 0;
	for (hdb_iter_seek(it, lower, sizeof(lower)); hdb_iter_valid(it); hdb_iter_next(it), k++) {
		size_t kl;
		const uint8_t *key = hdb_iter_key(it, &kl);
		char hex[2 * FS_IKEY_MAX + 1];
		for (size_t b = 0; b < kl; b++)
			sprintf(hex + 2 * b, "%02x", key[b]);
		if (k >= nw || strcmp(hex, want[k]))
			fail_msg("index entry %zu: got %s, want %s", k, hex, k < nw ? want[k] : "(none)");
	}
	assert_int_equal(hdb_iter_status(it), 0);
	hdb_iter_free(it);
	assert_int_equal(k, nw);
	for (size_t i = 0; i < nw; i++)
		free(want[i]);
}

/* Half the documents through file handles, half through one import. */
static void load_docs(struct fs_env *e, struct mdoc *docs)
{
	char *imp = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&imp, &len);
	assert_non_null(f);
	for (size_t i = 0; i < NDOCS; i++) {
		snprintf(docs[i].name, sizeof(docs[i].name), "d%03zu.json", (i * 7919) % 1000);
		gen_doc(&docs[i]);
		if (i % 2) {
			write_doc(e, docs[i].name, docs[i].json);
			continue;
		}
		/* {"_id":"dNNN", <members>} */
		fprintf(f, "{\"_id\":\"%.*s\"%s%s", (int)(strlen(docs[i].name) - 5), docs[i].name,
		        docs[i].json[1] == '}' ? "" : ",", docs[i].json + 1);
	}
	fclose(f);
	fs_import_result res;
	assert_int_equal(import(e, imp, &res), 0);
	assert_int_equal(res.created, NDOCS / 2);
	free(imp);
}

/* Overwrites, renames (over documents, to other names, to a non-document
 * name and back), exchanges and deletes, mirrored in the model. */
static void mutate(struct fs_env *e, struct mdoc *docs)
{
	for (int r = 0; r < 120; r++) {
		struct mdoc *d = &docs[rnd() % NDOCS], *o = &docs[rnd() % NDOCS];
		unsigned what = (unsigned)(rnd() % 5);
		if (!d->live) {
			gen_doc(d);
			write_doc(e, d->name, d->json);
		} else if (what == 0) {
			gen_doc(d);
			write_doc(e, d->name, d->json);
		} else if (what == 1) {
			assert_int_equal(fs_node_unlink(e->fs, e->coll, d->name, false), 0);
			d->live = false;
		} else if (what == 2 && d != o) {
			/* rename d over o (o may be absent) */
			assert_int_equal(fs_node_rename(e->fs, e->coll, d->name, e->coll, o->name, 0), 0);
			struct mdoc tmp = *o;
			memcpy(o->f, d->f, sizeof(d->f));
			o->n_scalar = d->n_scalar;
			o->json = d->json;
			o->live = true;
			d->json = tmp.json;
			d->live = false;
		} else if (what == 3 && d != o && o->live) {
			assert_int_equal(fs_node_rename(e->fs, e->coll, d->name, e->coll, o->name, RENAME_EXCHANGE), 0);
			struct mdoc tmp = *o;
			memcpy(o->f, d->f, sizeof(d->f));
			o->n_scalar = d->n_scalar;
			o->json = d->json;
			memcpy(d->f, tmp.f, sizeof(tmp.f));
			d->n_scalar = tmp.n_scalar;
			d->json = tmp.json;
		} else {
			/* away to a non-document name and back */
			assert_int_equal(fs_node_rename(e->fs, e->coll, d->name, e->coll, "swap.tmp", 0), 0);
			assert_int_equal(fs_node_rename(e->fs, e->coll, "swap.tmp", e->coll, d->name, 0), 0);
		}
	}
}

static void test_fs_query_matches_model_with_and_without_indexes(void **state)
{
	struct fs_env *e = *state;
	struct mdoc *docs = calloc(NDOCS, sizeof(*docs));
	assert_non_null(docs);
	bool idx[NFIELDS] = { 0 };
	load_docs(e, docs);
	for (size_t i = 1; i < NDOCS; i += 2) {
		char *c = content_of(e->fs, e->coll, docs[i].name);
		assert_non_null(c);
		assert_string_equal(c, docs[i].json);
		free(c);
	}
	check_queries(e, docs, 300, false);
	for (int f = 0; f < NFIELDS; f++) {
		assert_int_equal(fs_index_create(e->fs, e->coll, fields[f], strlen(fields[f])), 0);
		idx[f] = true;
	}
	check_entries(e, docs, idx);
	check_queries(e, docs, 300, true);
	mutate(e, docs);
	check_entries(e, docs, idx);
	check_queries(e, docs, 300, true);
	int problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), 0);
	fs_fixture_reopen(e);
	check_entries(e, docs, idx);
	check_queries(e, docs, 300, true);
	mutate(e, docs);
	check_entries(e, docs, idx);
	for (int f = 0; f < NFIELDS; f++) {
		assert_int_equal(fs_index_drop(e->fs, e->coll, fields[f], strlen(fields[f])), 0);
		idx[f] = false;
	}
	check_entries(e, docs, idx);
	check_queries(e, docs, 200, false);
	for (size_t i = 0; i < NDOCS; i++)
		free(docs[i].json);
	free(docs);
}

/* ---- indexes ---- */

static void test_fs_query_index_create_twice_is_eexist(void **state)
{
	struct fs_env *e = *state;
	assert_int_equal(fs_index_create(e->fs, e->coll, "a", 1), 0);
	assert_int_equal(fs_index_create(e->fs, e->coll, "a", 1), -EEXIST);
	assert_int_equal(fs_index_drop(e->fs, e->coll, "b", 1), -ENOENT);
	assert_int_equal(fs_index_create(e->fs, e->coll, "", 0), -EINVAL);
	char **list;
	size_t n;
	assert_int_equal(fs_index_list(e->fs, e->coll, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0], "a");
	free(list[0]);
	free(list);
}

static void test_fs_query_index_builds_over_existing_documents(void **state)
{
	struct fs_env *e = *state;
	char name[32], doc[64];
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "%05d.json", i);
		snprintf(doc, sizeof(doc), "{\"v\":%d,\"m\":%d}", i, i % 7);
		write_doc(e, name, doc);
	}
	/* A scan first (chunks split with the cursor's helper thread); every
	 * match carries its own content. */
	hdb_qcond cond;
	const char *why;
	assert_int_equal(hdb_qcond_parse("m>=0", 4, &cond, &why), 0);
	const hdb_qcond *cp = &cond;
	fs_qcur *c;
	assert_int_equal(fs_qcur_open(e->fs, e->coll, &cp, 1, FS_Q_DOCS, &c), 0);
	assert_false(fs_qcur_indexed(c));
	fs_qmatch m;
	int i = 0, rc;
	while ((rc = fs_qcur_next(c, &m)) == 1) {
		snprintf(name, sizeof(name), "%05d.json", i);
		snprintf(doc, sizeof(doc), "{\"v\":%d,\"m\":%d}", i, i % 7);
		assert_string_equal(m.name, name);
		assert_int_equal(m.dlen, strlen(doc));
		assert_memory_equal(m.doc, doc, m.dlen);
		i++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(i, 3000);
	fs_qcur_free(c);
	hdb_qcond_free(&cond);
	const char *q[] = { "m=3" };
	bool indexed;
	char *scanned = run(e, q, 1, &indexed);
	assert_false(indexed);
	assert_int_equal(fs_index_create(e->fs, e->coll, "m", 1), 0);
	assert_true(fs_index_ready(e->fs, e->coll, "m", 1));
	char *got = run(e, q, 1, &indexed);
	assert_true(indexed);
	assert_string_equal(got, scanned);
	free(scanned);
	size_t lines = 0;
	for (char *p = got; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 3000 / 7 + (3000 % 7 > 3));
	assert_memory_equal(got, "00003.json\n00010.json\n", 22);
	free(got);
}

static void test_fs_query_index_survives_reopen_and_rmdir_drops_it(void **state)
{
	struct fs_env *e = *state;
	uint64_t sub = fs_fixture_make(e->fs, e->coll, "sub", S_IFDIR | 0755);
	assert_int_equal(fs_index_create(e->fs, sub, "x", 1), 0);
	fs_fixture_reopen(e);
	sub = lookup(e->fs, e->coll, "sub");
	assert_true(fs_index_ready(e->fs, sub, "x", 1));
	hdb_fs_super s;
	void *v;
	size_t vl;
	assert_int_equal(hdb_get(e->db, NULL, HDB_FS_KEY_SUPER, HDB_FS_KEY_SUPER_LEN, &v, &vl), 0);
	assert_int_equal(hdb_fs_super_decode(v, vl, &s), 0);
	free(v);
	assert_int_equal(s.version, HDB_FS_VERSION);
	assert_int_equal(fs_node_unlink(e->fs, e->coll, "sub", true), 0);
	assert_false(fs_index_exists(e->fs, sub, "x", 1));
	fs_fixture_reopen(e);
	assert_false(fs_index_exists(e->fs, sub, "x", 1));
	uint8_t k[HDB_FS_KEY_PREFIX + 1];
	hdb_fs_ino_key(k, HDB_FS_TAG_INDEX, sub);
	k[HDB_FS_KEY_PREFIX] = 'x';
	assert_int_equal(hdb_get(e->db, NULL, k, sizeof(k), &v, &vl), HDB_ENOTFOUND);
}

static void test_fs_query_long_strings_are_rechecked(void **state)
{
	struct fs_env *e = *state;
	char big[HDB_QKEY_STR_MAX + 100], doc[sizeof(big) + 32];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	snprintf(doc, sizeof(doc), "{\"s\":\"%s\"}", big);
	write_doc(e, "long.json", doc);
	big[sizeof(big) - 2] = 'y'; /* same first 512 bytes, smaller */
	snprintf(doc, sizeof(doc), "{\"s\":\"%s\"}", big);
	write_doc(e, "long2.json", doc);
	assert_int_equal(fs_index_create(e->fs, e->coll, "s", 1), 0);
	char cond[sizeof(big) + 8];
	snprintf(cond, sizeof(cond), "s=%s", big);
	const char *q[] = { cond };
	bool indexed;
	char *got = run(e, q, 1, &indexed);
	assert_true(indexed);
	assert_string_equal(got, "long2.json\n");
	free(got);
	snprintf(cond, sizeof(cond), "s>%s", big);
	got = run(e, q, 1, &indexed);
	assert_string_equal(got, "long.json\n");
	free(got);
}

static void test_fs_query_check_finds_missing_and_stale_entries(void **state)
{
	struct fs_env *e = *state;
	write_doc(e, "a.json", "{\"v\":1}");
	write_doc(e, "b.json", "{\"v\":2}");
	assert_int_equal(fs_index_create(e->fs, e->coll, "v", 1), 0);
	int problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), 0);
	assert_int_equal(problems, 0);
	/* drop a.json's entry, and add one for a document that is not there */
	uint8_t k[FS_IKEY_MAX];
	hdb_jval v;
	assert_int_equal(hdb_jval_decode((const uint8_t *)"1", 1, &v), 0);
	size_t pl = fs_ikey_prefix(k, e->coll, "v", 1), el = hdb_qkey_encode(&v, k + pl);
	memcpy(k + pl + el, "a.json", 6);
	assert_int_equal(hdb_delete(e->db, k, pl + el + 6, false), 0);
	memcpy(k + pl + el, "z.json", 6);
	assert_int_equal(hdb_put(e->db, k, pl + el + 6, "", 0, false), 0);
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), HDB_ECORRUPT);
	assert_int_equal(problems, 2);
}

static void keep_report(void *ctx, const char *what)
{
	snprintf(ctx, 128, "%s", what);
}

static void test_fs_query_check_reports_entries_of_no_index_once(void **state)
{
	struct fs_env *e = *state;
	write_doc(e, "a.json", "{\"v\":1}");
	assert_int_equal(fs_index_create(e->fs, e->coll, "v", 1), 0);
	uint8_t k[FS_IKEY_MAX];
	hdb_jval v;
	assert_int_equal(hdb_jval_decode((const uint8_t *)"1", 1, &v), 0);
	size_t pl = fs_ikey_prefix(k, e->coll, "w", 1), el = hdb_qkey_encode(&v, k + pl);
	memcpy(k + pl + el, "a.json", 6);
	assert_int_equal(hdb_put(e->db, k, pl + el + 6, "", 0, false), 0);
	memcpy(k + pl + el, "b.json", 6);
	assert_int_equal(hdb_put(e->db, k, pl + el + 6, "", 0, false), 0);
	int problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), HDB_ECORRUPT);
	assert_int_equal(problems, 1);
	char last[128] = "";
	assert_int_equal(hdb_fs_check(e->db, keep_report, last), HDB_ECORRUPT);
	assert_string_equal(last, "2 index entries belong to no index definition");
}

static void test_fs_query_replacing_rename_drops_the_replaced_index(void **state)
{
	struct fs_env *e = *state;
	fs_fixture_make(e->fs, e->coll, "a", S_IFDIR | 0755);
	uint64_t b = fs_fixture_make(e->fs, e->coll, "b", S_IFDIR | 0755);
	assert_int_equal(fs_index_create(e->fs, b, "x", 1), 0);
	uint8_t k[HDB_FS_KEY_PREFIX + 1];
	hdb_fs_ino_key(k, HDB_FS_TAG_INDEX, b);
	k[HDB_FS_KEY_PREFIX] = 'x';
	void *def;
	size_t dl;
	assert_int_equal(hdb_get(e->db, NULL, k, sizeof(k), &def, &dl), 0);
	assert_int_equal(fs_node_rename(e->fs, e->coll, "a", e->coll, "b", 0), 0);
	assert_false(fs_index_exists(e->fs, b, "x", 1));
	void *v;
	size_t vl;
	assert_int_equal(hdb_get(e->db, NULL, k, sizeof(k), &v, &vl), HDB_ENOTFOUND);
	int problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), 0);
	/* What such a rename used to leave behind is reported. */
	assert_int_equal(hdb_put(e->db, k, sizeof(k), def, dl, false), 0);
	free(def);
	char last[128] = "", want[128];
	assert_int_equal(hdb_fs_check(e->db, keep_report, last), HDB_ECORRUPT);
	snprintf(want, sizeof(want), "index x of collection %" PRIu64 ": belongs to no directory", b);
	assert_string_equal(last, want);
}

/* Rewrites the definition of index (coll, field) as a stop left it. */
static void set_def(struct fs_env *e, const char *field, uint8_t state, const char *cursor)
{
	uint8_t k[HDB_FS_KEY_PREFIX + 16], v[32];
	size_t kl = hdb_fs_ino_key(k, HDB_FS_TAG_INDEX, e->coll);
	memcpy(k + kl, field, strlen(field));
	v[0] = state;
	memcpy(v + 1, cursor, strlen(cursor));
	assert_int_equal(hdb_put(e->db, k, kl + strlen(field), v, 1 + strlen(cursor), false), 0);
}

static void test_fs_query_interrupted_build_and_drop_resume_at_mount(void **state)
{
	struct fs_env *e = *state;
	char name[32], doc[64];
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "%05d.json", i);
		snprintf(doc, sizeof(doc), "{\"m\":%d,\"k\":%d}", i % 5, i % 3);
		write_doc(e, name, doc);
	}
	assert_int_equal(fs_index_create(e->fs, e->coll, "m", 1), 0);
	assert_int_equal(fs_index_create(e->fs, e->coll, "k", 1), 0);
	/* A stop in the middle of m's build (entries of later documents
	 * missing) and of k's drop (some entries left). */
	uint8_t lower[FS_IKEY_MAX], upper[FS_IKEY_MAX];
	size_t pl = fs_ikey_prefix(lower, e->coll, "m", 1);
	memcpy(upper, lower, pl);
	upper[pl - 1] = 1;
	hdb_read_options ro;
	hdb_read_options_init(&ro);
	ro.lower = lower;
	ro.lower_len = pl;
	ro.upper = upper;
	ro.upper_len = pl;
	hdb_iter *it;
	assert_int_equal(hdb_iter_new(e->db, &ro, &it), 0);
	hdb_batch *b = hdb_batch_new();
	for (hdb_iter_seek(it, lower, pl); hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t kl;
		const uint8_t *k = hdb_iter_key(it, &kl);
		if (memcmp(k + kl - 10, "01000.json", 10) > 0)
			assert_int_equal(hdb_batch_delete(b, k, kl), 0);
	}
	hdb_iter_free(it);
	assert_int_equal(hdb_write(e->db, b, false), 0);
	hdb_batch_free(b);
	set_def(e, "m", HDB_FS_INDEX_BUILDING, "01000.json");
	set_def(e, "k", HDB_FS_INDEX_DROPPING, "");
	fs_fixture_reopen(e);
	assert_true(fs_index_ready(e->fs, e->coll, "m", 1));
	assert_false(fs_index_exists(e->fs, e->coll, "k", 1));
	int problems = 0;
	assert_int_equal(hdb_fs_check(e->db, count_report, &problems), 0);
	const char *q[] = { "m=4" };
	bool indexed;
	char *got = run(e, q, 1, &indexed);
	assert_true(indexed);
	size_t lines = 0;
	for (char *p = got; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 600);
	free(got);
}

/* ---- import ---- */

static void test_fs_query_import_duplicate_ids_last_wins(void **state)
{
	struct fs_env *e = *state;
	fs_import_result res;
	assert_int_equal(import(e, "{\"_id\":\"a\",\"v\":1}\n{\"_id\":\"b\",\"v\":2}\n{\"v\":3,\"_id\":\"a\"}\n", &res),
	                 0);
	assert_int_equal(res.lines, 3);
	assert_int_equal(res.created, 2);
	char *c = content_of(e->fs, e->coll, "a.json");
	assert_string_equal(c, "{\"v\":3}\n");
	free(c);
	c = content_of(e->fs, e->coll, "b.json");
	assert_string_equal(c, "{\"v\":2}\n");
	free(c);
}

static void test_fs_query_import_replaces_in_place(void **state)
{
	struct fs_env *e = *state;
	write_doc(e, "a.json", "{\"old\": true}");
	uint64_t ino = lookup(e->fs, e->coll, "a.json");
	fs_import_result res;
	assert_int_equal(import(e, "{\"_id\":\"a\",\"new\":1}\n", &res), 0);
	assert_int_equal(res.replaced, 1);
	assert_int_equal(lookup(e->fs, e->coll, "a.json"), ino);
	char *c = content_of(e->fs, e->coll, "a.json");
	assert_string_equal(c, "{\"new\":1}\n");
	free(c);
	assert_int_equal(e->fs->sb.docs, 1);
	assert_int_equal(e->fs->sb.bytes, strlen("{\"new\":1}\n"));
}

static void expect_bad_import(struct fs_env *e, const char *text, size_t line, size_t offset)
{
	fs_import_result res;
	hdb_fs_super before = e->fs->sb;
	assert_int_equal(import(e, text, &res), -EINVAL);
	assert_int_equal(res.err_line, line);
	assert_int_equal(res.err_offset, offset);
	assert_int_equal(e->fs->sb.docs, before.docs);
	assert_int_equal(e->fs->sb.next_ino, before.next_ino);
	assert_null(content_of(e->fs, e->coll, "ok.json"));
}

static void test_fs_query_import_bad_line_applies_nothing(void **state)
{
	struct fs_env *e = *state;
	expect_bad_import(e, "{\"a\":1,}\n{\"_id\":\"ok\"}\n", 1, 7);
	expect_bad_import(e, "{\"_id\":\"ok\"}\n[1,2]\n{\"b\":2}\n", 2, 13);
	expect_bad_import(e, "{\"_id\":\"ok\"}\n{\"b\":2}\n{\"c\":", 3, 26);
	expect_bad_import(e, "{\"_id\":\"ok\"}\n{\"_id\":\"x/y\"}\n", 2, 20);
	expect_bad_import(e, "{\"_id\":\"ok\"}\n{\"_id\":1.5}\n", 2, 20);
	expect_bad_import(e, "{\"_id\":\"ok\"}\n{\"_id\":\"\"}\n", 2, 20);
}

static void test_fs_query_import_empty_input_is_a_no_op(void **state)
{
	struct fs_env *e = *state;
	fs_import_result res;
	assert_int_equal(import(e, "", &res), 0);
	assert_int_equal(res.lines, 0);
	assert_int_equal(import(e, "\n  \n\r\n", &res), 0);
	assert_int_equal(res.lines, 0);
	assert_int_equal(e->fs->sb.docs, 0);
}

static void test_fs_query_import_onto_a_directory_fails(void **state)
{
	struct fs_env *e = *state;
	fs_fixture_make(e->fs, e->coll, "d.json", S_IFDIR | 0755);
	fs_import_result res;
	assert_int_equal(import(e, "{\"_id\":\"x\"}\n{\"_id\":\"d\"}\n", &res), -EINVAL);
	assert_null(content_of(e->fs, e->coll, "x.json"));
}

static void test_fs_query_import_generates_distinct_ids(void **state)
{
	struct fs_env *e = *state;
	fs_import_result res;
	assert_int_equal(import(e, "{\"v\":1}\n{\"v\":1}\n{\"v\":1}\n", &res), 0);
	assert_int_equal(res.created, 3);
	const char *q[] = { "v=1" };
	char *got = run(e, q, 1, NULL);
	size_t lines = 0;
	for (char *p = got; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 3);
	assert_int_equal(strlen(got), 3 * (24 + 5 + 1));
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_fs_query_matches_model_with_and_without_indexes),
		T(test_fs_query_index_create_twice_is_eexist),
		T(test_fs_query_index_builds_over_existing_documents),
		T(test_fs_query_index_survives_reopen_and_rmdir_drops_it),
		T(test_fs_query_replacing_rename_drops_the_replaced_index),
		T(test_fs_query_long_strings_are_rechecked),
		T(test_fs_query_check_finds_missing_and_stale_entries),
		T(test_fs_query_check_reports_entries_of_no_index_once),
		T(test_fs_query_interrupted_build_and_drop_resume_at_mount),
		T(test_fs_query_import_duplicate_ids_last_wins),
		T(test_fs_query_import_replaces_in_place),
		T(test_fs_query_import_bad_line_applies_nothing),
		T(test_fs_query_import_empty_input_is_a_no_op),
		T(test_fs_query_import_onto_a_directory_fails),
		T(test_fs_query_import_generates_distinct_ids),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
