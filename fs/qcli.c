/*
 * qcli.c — the query layer's entry points for the offline commands
 * (hybriddb import, export, find): collections by path, imports larger
 * than one batch, and query output to a stream (see fs.h).  CSV goes
 * through the code of .import.csv and .export.csv (import.c, tables.h),
 * so the command and the mount convert alike.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fs_internal.h"
#include "import.h"
#include "jsonl.h"
#include "qexec.h"
#include "qvfs.h"
#include "query.h"
#include "tables.h"

/* The inode of collection path, made (with its parents) when create. */
static int resolve(hdb_fs *fs, const char *path, bool create, uint64_t *ino)
{
	uint64_t dir = HDB_FS_ROOT_INO;
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		char comp[HDB_FS_NAME_MAX + 1];
		if (n > HDB_FS_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, n);
		comp[n] = 0;
		p += n + (slash ? 1 : 0);
		if (!n || !strcmp(comp, "."))
			continue;
		if (fs_qvfs_reserved(comp) || !strcmp(comp, ".."))
			return -EINVAL;
		struct stat st;
		int rc = fs_node_lookup(fs, dir, comp, &st);
		if (rc == -ENOENT && create)
			rc = fs_node_make(fs, NULL, dir, comp, S_IFDIR | 0755, NULL, &st);
		if (rc)
			return rc;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		dir = st.st_ino;
	}
	if (dir == HDB_FS_ROOT_INO)
		return -EINVAL; /* the root holds collections; it is not one */
	*ino = dir;
	return 0;
}

/* The end of the last whole line within data[from .. from + max). */
static size_t chunk_end(const uint8_t *data, size_t len, size_t from, size_t max)
{
	if (len - from <= max)
		return len;
	for (size_t e = from + max; e > from; e--)
		if (data[e - 1] == '\n')
			return e;
	return len; /* one line longer than a batch: let the import refuse it */
}

struct progress {
	void (*fn)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	uint64_t base, total;
};

static void chunk_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	p->fn(p->ctx, p->base + done, p->total);
}

/* Runs fs_import over data in chunks of whole lines that fit a batch. */
static int import_chunks(hdb_fs *fs, uint64_t coll, const uint8_t *p, size_t len, fs_import_opts *o,
                         struct progress *pr, hdb_fs_import_stats *st)
{
	int rc = 0;
	size_t lines_before = 0;
	for (size_t from = 0; !rc && from < len;) {
		size_t to = chunk_end(p, len, from, FS_IMPORT_MAX);
		fs_import_result res;
		pr->base = from;
		rc = fs_import(fs, coll, p + from, to - from, o, &res);
		if (!o->check_only) {
			st->lines += res.lines;
			st->created += res.created;
			st->replaced += res.replaced;
		}
		if (rc == -EINVAL && res.err_line) {
			st->err_line = lines_before + res.err_line;
			st->err_offset = from + res.err_offset;
		}
		for (const uint8_t *q = p + from; to < len && (q = memchr(q, '\n', (size_t)(p + to - q))); q++)
			lines_before++;
		from = to;
	}
	return rc;
}

int hdb_fs_is_table(hdb_fs *fs, const char *collection)
{
	uint64_t coll;
	int rc = resolve(fs, collection, false, &coll);
	if (rc)
		return rc;
	fs_table *t = fs_table_get(fs, coll);
	rc = !t ? 0 : t->broken ? -EIO : 1;
	fs_table_put(t);
	return rc;
}

int hdb_fs_import(hdb_fs *fs, const char *collection, enum hdb_fs_import_format format, const void *data,
                  size_t len, void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx,
                  hdb_fs_import_stats *st)
{
	memset(st, 0, sizeof(*st));
	bool csv = format == HDB_FS_IMPORT_CSV;
	/* A table has a schema, so it exists already: CSV creates nothing. */
	uint64_t coll;
	int rc = resolve(fs, collection, !csv, &coll);
	if (rc)
		return rc;
	if (csv && len > FS_IMPORT_MAX)
		return -EFBIG;
	struct progress pr = { .fn = progress, .ctx = ctx, .total = len };
	fs_import_opts o = {
		.format = csv ? FS_IMPORT_CSV : FS_IMPORT_JSONL,
		.uid = fs->opt.owner_uid, .gid = fs->opt.owner_gid, .mode = 0644, .what = "import",
		.progress = progress ? chunk_progress : NULL, .ctx = &pr,
	};
	/* More than one batch: every line is checked before any is applied. */
	if (len > FS_IMPORT_MAX) {
		o.check_only = true;
		o.progress = NULL;
		rc = import_chunks(fs, coll, data, len, &o, &pr, st);
		o.check_only = false;
		o.progress = progress ? chunk_progress : NULL;
	}
	if (!rc)
		rc = import_chunks(fs, coll, data, len, &o, &pr, st);
	return rc;
}

static int put_line(const hdb_wbuf *line, FILE *out)
{
	return fwrite(line->data, 1, line->len, out) == line->len ? 0 : -EIO;
}

/* CSV output: coll's table (referenced), and its header written. */
static int start_csv(hdb_fs *fs, uint64_t coll, FILE *out, hdb_wbuf *line, fs_table **t)
{
	*t = fs_table_get(fs, coll);
	if (!*t)
		return -ENOENT;
	if ((*t)->broken)
		return -EIO;
	int rc = hdb_schema_csv_header(&(*t)->s, line);
	return rc ? rc : put_line(line, out);
}

static int write_match(const fs_qmatch *m, enum hdb_fs_find_output what, const fs_table *t, FILE *out,
                       hdb_wbuf *line)
{
	if (what == HDB_FS_FIND_NAMES)
		return fprintf(out, "%s\n", m->name) < 0 ? -EIO : 0;
	line->len = 0;
	int rc = what == HDB_FS_FIND_CSV ? fs_table_csv_row(t, m->doc, m->dlen, line)
	                                 : hdb_jsonl_export_line(m->name, m->nlen - 5, m->doc, m->dlen, line);
	return rc < 0 ? rc : put_line(line, out);
}

static int run_find(hdb_fs *fs, uint64_t coll, const hdb_qcond *const *conds, size_t n,
                    enum hdb_fs_find_output what, FILE *out, uint64_t *matches)
{
	if (what == HDB_FS_FIND_COUNT) {
		int rc = fs_query_count(fs, coll, conds, n, matches);
		if (!rc && fprintf(out, "%" PRIu64 "\n", *matches) < 0)
			rc = -EIO;
		return rc;
	}
	hdb_wbuf line;
	hdb_wbuf_init(&line);
	fs_table *t = NULL;
	fs_qcur *c = NULL;
	int rc = what == HDB_FS_FIND_CSV ? start_csv(fs, coll, out, &line, &t) : 0;
	if (!rc)
		rc = fs_qcur_open(fs, coll, conds, n, what == HDB_FS_FIND_NAMES ? 0 : FS_Q_DOCS, &c);
	fs_qmatch m;
	*matches = 0;
	while (!rc && (rc = fs_qcur_next(c, &m)) == 1) {
		rc = write_match(&m, what, t, out, &line);
		if (!rc)
			(*matches)++;
	}
	fs_qcur_free(c);
	fs_table_put(t);
	hdb_wbuf_free(&line);
	return rc < 0 ? rc : 0;
}

int hdb_fs_find(hdb_fs *fs, const char *collection, const char *const *conds, size_t n,
                enum hdb_fs_find_output what, FILE *out, const char **why, uint64_t *matches)
{
	*why = NULL;
	*matches = 0;
	uint64_t coll;
	int rc = resolve(fs, collection, false, &coll);
	if (rc)
		return rc;
	hdb_qcond *parsed = calloc(n ? n : 1, sizeof(*parsed));
	const hdb_qcond **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	size_t k = 0;
	if (!parsed || !ptrs)
		rc = -ENOMEM;
	for (; !rc && k < n; k++) {
		rc = hdb_qcond_parse(conds[k], strlen(conds[k]), &parsed[k], why);
		ptrs[k] = &parsed[k];
	}
	if (rc)
		k = k ? k - 1 : 0; /* the failed parse freed its own condition */
	else
		rc = run_find(fs, coll, ptrs, n, what, out, matches);
	for (size_t i = 0; parsed && i < k; i++)
		hdb_qcond_free(&parsed[i]);
	free(parsed);
	free(ptrs);
	return rc;
}
