/*
 * fuzz_manifest.c — libFuzzer target for version edits and manifest
 * recovery (engine/version.c), and the compaction picking that works on
 * what recovery built (engine/compaction.c).
 *
 * Input: one mode byte, then the mode's bytes.
 *   mode % 4 == 0: the bytes are one encoded version edit, decoded with
 *     hdb_vedit_decode; an accepted edit must survive encode + decode
 *     unchanged.
 *   mode % 4 == 1: the bytes are MANIFEST-000001, with CURRENT naming it,
 *     in a per-process temporary directory (under $TMPDIR, default
 *     /tmp) opened read-only with hdb_vset_open.
 *   mode % 4 == 2: the same, after the harness has set the magic and
 *     recomputed the header CRC and every record CRC, so the fuzzer reaches
 *     the edit decoder and the version builder without forging checksums.
 *   mode % 4 == 3: as 2, but CURRENT's contents come from the input too:
 *     the bytes up to the first newline (at most 40) are CURRENT, the rest
 *     the manifest.
 *
 * Checks, beyond "no crash, no out-of-bounds read" (ASan):
 *   - failures are HDB_ECORRUPT or HDB_EVERSION (or -ENOMEM), and a
 *     decoding failure names the file and an offset inside the edit;
 *   - a read-only open writes nothing: the directory holds exactly the two
 *     files afterwards;
 *   - a recovered version keeps the invariants version.h states (levels
 *     >= 1 sorted and disjoint, L0 by file number, smallest <= largest),
 *     and live_files lists every file and the manifest, sorted, once;
 *   - picking a compaction and taking overlaps on it does not misbehave.
 *
 * Build: see tests/fuzz/meson.build or scripts/fuzz.sh.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "hybriddb.h"
#include "manifest_format.h"
#include "version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MANIFEST_NAME "MANIFEST-000001"

static char dir[256];

static void dir_path(char *buf, size_t n, const char *name)
{
	if ((size_t)snprintf(buf, n, "%s/%s", dir, name) >= n)
		abort();
}

static void remove_dir(void)
{
	char p[320];

	dir_path(p, sizeof(p), HDB_CURRENT_NAME);
	unlink(p);
	dir_path(p, sizeof(p), MANIFEST_NAME);
	unlink(p);
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dir[0])
		return;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/hdbfuzz-manifest.XXXXXX", tmp) >= sizeof(dir))
		abort();
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
	char path[320];

	dir_path(path, sizeof(path), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
	}
	if (close(fd))
		abort();
}

/*
 * Mode 0: one edit.
 */

static int same_key(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return an == bn && !memcmp(a, b, an);
}

static int same_edit(const hdb_vedit *a, const hdb_vedit *b)
{
	if (a->has_log_number != b->has_log_number || a->has_next_file != b->has_next_file ||
	    a->has_last_seq != b->has_last_seq || a->nadded != b->nadded || a->ndeleted != b->ndeleted)
		return 0;
	if ((a->has_log_number && a->log_number != b->log_number) ||
	    (a->has_next_file && a->next_file != b->next_file) ||
	    (a->has_last_seq && a->last_seq != b->last_seq))
		return 0;
	for (size_t i = 0; i < a->ndeleted; i++)
		if (a->deleted[i].level != b->deleted[i].level ||
		    a->deleted[i].number != b->deleted[i].number)
			return 0;
	for (size_t i = 0; i < a->nadded; i++) {
		const hdb_fmeta *x = a->added[i].f, *y = b->added[i].f;
		if (a->added[i].level != b->added[i].level || x->number != y->number || x->size != y->size ||
		    !same_key(x->smallest, x->smallest_len, y->smallest, y->smallest_len) ||
		    !same_key(x->largest, x->largest_len, y->largest, y->largest_len))
			return 0;
	}
	return 1;
}

static void fuzz_edit(const uint8_t *p, size_t n)
{
	static const uint8_t none[1];
	const uint64_t base = 1000;
	hdb_vedit e, again;
	hdb_buf enc = { 0 };
	const char *file;
	uint64_t off;

	hdb_errdetail_clear();
	int rc = hdb_vedit_decode(&e, p, n, MANIFEST_NAME, base);
	if (rc == -ENOMEM)
		return;
	if (rc) {
		hdb_errdetail_where(&file, &off);
		if (rc != HDB_ECORRUPT || strcmp(file, MANIFEST_NAME) || off < base || off >= base + n)
			abort();
		/* Left empty on failure. */
		if (e.nadded || e.ndeleted)
			abort();
		return;
	}
	for (size_t i = 0; i < e.nadded; i++) {
		const hdb_fmeta *f = e.added[i].f;
		if (e.added[i].level < 0 || e.added[i].level >= HDB_MAX_LEVELS ||
		    f->smallest_len < HDB_TAG_SIZE || f->largest_len < HDB_TAG_SIZE ||
		    hdb_ikey_cmp(f->smallest, f->smallest_len, f->largest, f->largest_len) > 0)
			abort();
	}
	for (size_t i = 0; i < e.ndeleted; i++)
		if (e.deleted[i].level < 0 || e.deleted[i].level >= HDB_MAX_LEVELS)
			abort();
	if (hdb_vedit_encode(&e, &enc))
		abort();
	/* An empty edit encodes to nothing, and enc.data stays NULL. */
	if (hdb_vedit_decode(&again, enc.len ? enc.data : none, enc.len, MANIFEST_NAME, 0) ||
	    !same_edit(&e, &again))
		abort();
	hdb_vedit_free(&again);
	hdb_vedit_free(&e);
	hdb_buf_free(&enc);
}

/*
 * Modes 1-3: recovery.
 */

/* Makes the header and every complete record's CRC match. */
static void fix_crcs(uint8_t *p, size_t n)
{
	if (n < HDB_MANIFEST_HEADER_SIZE)
		return;
	memcpy(p, HDB_MANIFEST_MAGIC, HDB_MANIFEST_MAGIC_SIZE);
	hdb_put_u32(p + 12, hdb_crc32(p, 12));
	size_t pos = HDB_MANIFEST_HEADER_SIZE;
	while (n - pos >= HDB_MANIFEST_REC_HEADER) {
		uint8_t *rec = p + pos;
		uint32_t len = hdb_get_u32(rec + HDB_MANIFEST_OFF_LENGTH);
		if (len > n - pos - HDB_MANIFEST_REC_HEADER)
			break;
		hdb_put_u32(rec + HDB_MANIFEST_OFF_CRC,
			    hdb_crc32(rec + HDB_MANIFEST_OFF_TYPE, 1 + (size_t)len));
		pos += HDB_MANIFEST_REC_HEADER + len;
	}
}

/* A read-only open must leave exactly CURRENT and the manifest behind. */
static void check_dir_untouched(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		abort();
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (strcmp(de->d_name, HDB_CURRENT_NAME) && strcmp(de->d_name, MANIFEST_NAME))
			abort();
		n++;
	}
	closedir(d);
	if (n != 2)
		abort();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void check_version(hdb_vset *vs)
{
	hdb_version *v = hdb_vset_current(vs);
	uint64_t *live, *mine;
	size_t nlive, nmine = 0, total = 1;

	for (int l = 0; l < HDB_MAX_LEVELS; l++)
		total += v->nfiles[l];
	mine = malloc(total * sizeof(*mine));
	if (!mine)
		abort();
	mine[nmine++] = 1; /* the manifest in use */
	for (int l = 0; l < HDB_MAX_LEVELS; l++) {
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			const hdb_fmeta *f = v->files[l][i], *p = i ? v->files[l][i - 1] : NULL;
			if (f->smallest_len < HDB_TAG_SIZE || f->largest_len < HDB_TAG_SIZE ||
			    hdb_ikey_cmp(f->smallest, f->smallest_len, f->largest, f->largest_len) > 0)
				abort();
			if (p && l == 0 && p->number >= f->number)
				abort();
			if (p && l > 0 &&
			    hdb_ikey_cmp(p->largest, p->largest_len, f->smallest, f->smallest_len) >= 0)
				abort();
			if (l > 0 && hdb_version_find_file(v, l, f->largest, f->largest_len) != i)
				abort();
			mine[nmine++] = f->number;
		}
	}
	qsort(mine, nmine, sizeof(*mine), cmp_u64);
	if (hdb_vset_live_files(vs, &live, &nlive))
		abort();
	size_t w = 0;
	for (size_t i = 0; i < nmine; i++)
		if (!w || mine[w - 1] != mine[i])
			mine[w++] = mine[i];
	if (w != nlive || memcmp(mine, live, w * sizeof(*mine)))
		abort();
	free(live);
	free(mine);
}

static void exercise_compaction(hdb_vset *vs)
{
	hdb_version *v = hdb_vset_current(vs);
	hdb_compaction *c = hdb_vset_pick_compaction(vs);

	hdb_compaction_free(c);
	for (int l = 0; l < HDB_MAX_LEVELS - 1; l++) {
		if (!v->nfiles[l])
			continue;
		const hdb_fmeta *f = v->files[l][0];
		hdb_slice lo = hdb_ikey_user(f->smallest, f->smallest_len);
		hdb_slice hi = hdb_ikey_user(f->largest, f->largest_len);
		hdb_fmeta **over = NULL;
		size_t n = 0;
		if (hdb_version_overlapping(v, l, lo.data, lo.len, hi.data, hi.len, &over, &n))
			continue;
		if (n == 0)
			abort(); /* f itself overlaps its own range */
		free(over);
		c = hdb_vset_compact_range(vs, l, lo.data, lo.len, hi.data, hi.len);
		if (c && !hdb_compaction_is_trivial_move(c))
			(void)hdb_compaction_is_base_level_for_key(c, lo.data, lo.len);
		hdb_compaction_free(c);
		hdb_compaction_free(hdb_vset_compact_range(vs, l, NULL, 0, NULL, 0));
	}
}

static void fuzz_recover(const uint8_t *cur, size_t curlen, const uint8_t *man, size_t manlen)
{
	static const char current[] = MANIFEST_NAME "\n";
	hdb_vset_options o = { .l0_compaction_trigger = 2, .level1_max_bytes = 1 << 20,
			       .target_file_size = 1 << 18 };
	hdb_vset *vs = NULL;

	setup();
	if (!cur) {
		cur = (const uint8_t *)current;
		curlen = sizeof(current) - 1;
	}
	write_file(HDB_CURRENT_NAME, cur, curlen);
	write_file(MANIFEST_NAME, man, manlen);
	int rc = hdb_vset_open(hdb_env_posix(), dir, &o, false, true, &vs);
	check_dir_untouched();
	if (rc) {
		if (rc != HDB_ECORRUPT && rc != HDB_EVERSION && rc != -ENOMEM)
			abort();
		if (vs)
			abort();
		return;
	}
	check_version(vs);
	exercise_compaction(vs);
	hdb_vset_free(vs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0] % 4;
	const uint8_t *p = data + 1;
	size_t n = size - 1;

	if (mode == 0) {
		fuzz_edit(p, n);
		return 0;
	}
	if (mode == 1) {
		fuzz_recover(NULL, 0, p, n);
		return 0;
	}
	const uint8_t *cur = NULL;
	size_t curlen = 0;
	if (mode == 3) {
		const uint8_t *nl = memchr(p, '\n', n < 40 ? n : 40);
		curlen = nl ? (size_t)(nl - p) + 1 : (n < 40 ? n : 40);
		cur = p;
		p += curlen;
		n -= curlen;
	}
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		abort();
	if (n)
		memcpy(copy, p, n);
	fix_crcs(copy, n);
	fuzz_recover(cur, curlen, copy, n);
	free(copy);
	return 0;
}
