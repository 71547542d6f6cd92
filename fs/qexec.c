/*
 * qexec.c — query plans and cursors (see qexec.h).
 */
#include "qexec.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qindex.h"

/* A document of the current scan chunk, or a name an index yielded. */
struct ent {
	size_t name_off;   /* in names */
	size_t nlen;
	hdb_fs_attr attr;
	size_t doc_off;    /* in fetchers[arena].docs (FS_Q_DOCS) */
	size_t dlen;
	uint8_t arena;
	bool match;
	bool recheck;      /* index: its value was truncated in the key */
};

/* Reads contents through one iterator, in ascending inode order, and
 * keeps the matching ones (FS_Q_DOCS) in its own arena. */
struct fetcher {
	hdb_iter *it;
	uint64_t target;          /* it is at the first content key >= 'D'|target */
	bool set;
	uint8_t *docs;
	size_t docs_len, docs_cap;
};

/* A second thread that fetches and evaluates the lower half of each scan
 * chunk (inflating table blocks is most of a scan's time). */
struct helper {
	pthread_t th;
	bool started;
	pthread_mutex_t mu;       /* guards the fields below */
	pthread_cond_t cv;
	bool work, quit;
	size_t from, to;          /* positions in order[] to process */
	int rc;
};

struct fs_qcur {
	hdb_fs *fs;
	uint64_t coll;
	const hdb_qcond *const *conds;
	size_t n;
	unsigned flags;
	const hdb_snapshot *snap;
	hdb_read_options ro;      /* the snapshot, no bounds (point reads) */
	bool indexed;
	/* scan */
	uint8_t elower[HDB_FS_KEY_PREFIX], eupper[HDB_FS_KEY_PREFIX];
	hdb_iter *eit;
	bool eof;
	struct fetcher fetchers[2]; /* [1] belongs to the helper */
	struct helper helper;
	/* the chunk (scan) or every name (index) */
	struct ent *ents;
	size_t nent, cap, pos;
	char *names;
	size_t names_len, names_cap;
	size_t *order;            /* scan: chunk positions sorted by inode */
	void *cur_doc;            /* index: content of the last match */
	bool any_recheck;
};

bool fs_qcur_indexed(const fs_qcur *c)
{
	return c->indexed;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static int add_ent(fs_qcur *c, const uint8_t *name, size_t nlen, const hdb_fs_attr *a, bool recheck)
{
	int rc = grow((void **)&c->ents, &c->cap, c->nent + 1, sizeof(*c->ents));
	if (!rc)
		rc = grow((void **)&c->names, &c->names_cap, c->names_len + nlen + 1, 1);
	if (rc)
		return rc;
	memcpy(c->names + c->names_len, name, nlen);
	c->names[c->names_len + nlen] = 0;
	c->ents[c->nent++] = (struct ent){ .name_off = c->names_len, .nlen = nlen, .recheck = recheck };
	if (a)
		c->ents[c->nent - 1].attr = *a;
	c->names_len += nlen + 1;
	return 0;
}

static bool eval(const fs_qcur *c, const void *doc, size_t len)
{
	for (size_t i = 0; i < c->n; i++)
		if (!hdb_qcond_match(c->conds[i], doc, len))
			return false;
	return true;
}

/* ---- scan ---- */

static int scan_open(fs_qcur *c)
{
	hdb_fs_dir_bounds(c->elower, c->eupper, c->coll);
	hdb_read_options ro = c->ro;
	ro.lower = c->elower;
	ro.lower_len = sizeof(c->elower);
	ro.upper = c->eupper;
	ro.upper_len = sizeof(c->eupper);
	int rc = hdb_iter_new(c->fs->db, &ro, &c->eit);
	if (rc)
		return rc;
	hdb_iter_seek(c->eit, c->elower, sizeof(c->elower));
	return hdb_iter_new(c->fs->db, &c->ro, &c->fetchers[0].it);
}

static int cmp_key9(hdb_iter *it, const uint8_t *key)
{
	size_t kl;
	const uint8_t *k = hdb_iter_key(it, &kl);
	int r = memcmp(k, key, kl < HDB_FS_KEY_PREFIX ? kl : HDB_FS_KEY_PREFIX);
	return r ? r : (kl < HDB_FS_KEY_PREFIX ? -1 : kl > HDB_FS_KEY_PREFIX);
}

/* Content of ino through the content iterator: forward steps when the
 * target is close ahead, a seek otherwise.  *doc NULL when it has none. */
static int fetch(struct fetcher *f, uint64_t ino, const uint8_t **doc, size_t *len)
{
	uint8_t key[HDB_FS_KEY_PREFIX];
	hdb_fs_data_key(key, ino);
	hdb_iter *it = f->it;
	*doc = NULL;
	*len = 0;
	if (!f->set || ino < f->target) {
		hdb_iter_seek(it, key, sizeof(key));
	} else if (hdb_iter_valid(it)) {
		int cmp = cmp_key9(it, key);
		for (int steps = 0; cmp < 0 && steps < 8 && hdb_iter_valid(it); steps++) {
			hdb_iter_next(it);
			cmp = hdb_iter_valid(it) ? cmp_key9(it, key) : 1;
		}
		if (cmp < 0)
			hdb_iter_seek(it, key, sizeof(key));
	}
	f->target = ino;
	f->set = true;
	int rc = hdb_iter_status(it);
	if (rc || !hdb_iter_valid(it) || cmp_key9(it, key) != 0)
		return rc;
	*doc = hdb_iter_value(it, len);
	return 0;
}

static int cmp_by_ino(const void *a, const void *b, void *ctx)
{
	const struct ent *ents = ctx;
	uint64_t x = ents[*(const size_t *)a].attr.ino, y = ents[*(const size_t *)b].attr.ino;
	return x < y ? -1 : x > y;
}

/* Fetches and evaluates the chunk's documents order[from .. to) through
 * fetcher k (run by the helper for k == 1). */
static int process_range(fs_qcur *c, int k, size_t from, size_t to)
{
	struct fetcher *f = &c->fetchers[k];
	int rc = 0;
	for (size_t i = from; !rc && i < to; i++) {
		struct ent *e = &c->ents[c->order[i]];
		const uint8_t *doc;
		size_t len;
		rc = fetch(f, e->attr.ino, &doc, &len);
		if (rc || !(e->match = eval(c, doc, len)) || !(c->flags & FS_Q_DOCS))
			continue;
		rc = grow((void **)&f->docs, &f->docs_cap, f->docs_len + len, 1);
		if (!rc && len)
			memcpy(f->docs + f->docs_len, doc, len);
		e->arena = (uint8_t)k;
		e->doc_off = f->docs_len;
		e->dlen = len;
		f->docs_len += len;
	}
	return rc;
}

static void *helper_main(void *arg)
{
	fs_qcur *c = arg;
	struct helper *h = &c->helper;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->work && !h->quit)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->quit)
			break;
		size_t from = h->from, to = h->to;
		pthread_mutex_unlock(&h->mu);
		int rc = process_range(c, 1, from, to);
		pthread_mutex_lock(&h->mu);
		h->rc = rc;
		h->work = false;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* Starts the helper (with its own content iterator); false when it
 * cannot run, and the scan goes on alone. */
static bool helper_ready(fs_qcur *c)
{
	struct helper *h = &c->helper;
	if (h->started)
		return true;
	if (hdb_iter_new(c->fs->db, &c->ro, &c->fetchers[1].it))
		return false;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if (pthread_create(&h->th, NULL, helper_main, c)) {
		pthread_mutex_destroy(&h->mu);
		pthread_cond_destroy(&h->cv);
		return false;
	}
	h->started = true;
	return true;
}

static void helper_post(struct helper *h, size_t from, size_t to)
{
	pthread_mutex_lock(&h->mu);
	h->from = from;
	h->to = to;
	h->work = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static int helper_wait(struct helper *h)
{
	pthread_mutex_lock(&h->mu);
	while (h->work)
		pthread_cond_wait(&h->cv, &h->mu);
	int rc = h->rc;
	pthread_mutex_unlock(&h->mu);
	return rc;
}

static void helper_stop(struct helper *h)
{
	if (!h->started)
		return;
	pthread_mutex_lock(&h->mu);
	h->quit = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->th, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
}

/* Reads the next chunk of documents and decides which match. */
static int scan_fill(fs_qcur *c)
{
	c->nent = c->pos = c->names_len = 0;
	c->fetchers[0].docs_len = c->fetchers[1].docs_len = 0;
	int rc = 0;
	while (!rc && c->nent < FS_QCHUNK && hdb_iter_valid(c->eit)) {
		size_t klen, vlen, nlen;
		const uint8_t *key = hdb_iter_key(c->eit, &klen), *val = hdb_iter_value(c->eit, &vlen), *name;
		uint64_t parent;
		hdb_fs_attr a;
		rc = hdb_fs_entry_key_decode(key, klen, &parent, &name, &nlen);
		if (!rc)
			rc = hdb_fs_attr_decode(val, vlen, &a);
		if (!rc && S_ISREG(a.mode) && hdb_fs_is_doc_name((const char *)name, nlen))
			rc = add_ent(c, name, nlen, &a, false);
		hdb_iter_next(c->eit);
	}
	if (!rc)
		rc = hdb_iter_status(c->eit);
	if (rc)
		return rc;
	c->eof = !hdb_iter_valid(c->eit);
	size_t ocap = 0;
	if (c->nent) {
		size_t *order = realloc(c->order, c->nent * sizeof(*order));
		if (!order)
			return -ENOMEM;
		c->order = order;
		ocap = c->nent;
	}
	for (size_t i = 0; i < ocap; i++)
		c->order[i] = i;
	if (c->nent)
		qsort_r(c->order, c->nent, sizeof(*c->order), cmp_by_ino, c->ents);
	/* The lower inodes to the helper, the upper to this thread: each
	 * iterator still moves forward. */
	size_t mid = c->nent >= FS_QCHUNK / 2 && helper_ready(c) ? c->nent / 2 : 0;
	if (mid)
		helper_post(&c->helper, 0, mid);
	rc = process_range(c, 0, mid, c->nent);
	if (mid) {
		int hrc = helper_wait(&c->helper);
		rc = rc ? rc : hrc;
	}
	return rc;
}

static int scan_next(fs_qcur *c, fs_qmatch *m)
{
	for (;;) {
		while (c->pos < c->nent) {
			const struct ent *e = &c->ents[c->pos++];
			if (!e->match)
				continue;
			*m = (fs_qmatch){ .name = c->names + e->name_off, .nlen = e->nlen, .attr = e->attr };
			if (c->flags & FS_Q_DOCS) {
				m->doc = e->dlen ? c->fetchers[e->arena].docs + e->doc_off : NULL;
				m->dlen = e->dlen;
			}
			return 1;
		}
		if (c->eof)
			return 0;
		int rc = scan_fill(c);
		if (rc)
			return rc;
	}
}

/* ---- index ---- */

/* The smallest key greater than every key starting with k[0..n). */
static size_t prefix_end(uint8_t *k, size_t n)
{
	while (n && k[n - 1] == 0xFF)
		n--;
	if (n)
		k[n - 1]++;
	return n;
}

/* The condition an index can answer: EQ first, else the first range. */
static const hdb_qcond *pick_index(fs_qcur *c)
{
	const hdb_qcond *best = NULL;
	for (size_t i = 0; i < c->n; i++) {
		const hdb_qcond *q = c->conds[i];
		if (!hdb_qcond_indexable(q) || !fs_index_ready(c->fs, c->coll, q->field, q->flen))
			continue;
		if (q->op == HDB_QOP_EQ)
			return q;
		if (!best)
			best = q;
	}
	return best;
}

static int cmp_by_name(const void *a, const void *b, void *ctx)
{
	const struct ent *x = a, *y = b;
	const char *names = ctx;
	size_t m = x->nlen < y->nlen ? x->nlen : y->nlen;
	int r = memcmp(names + x->name_off, names + y->name_off, m);
	return r ? r : (x->nlen < y->nlen ? -1 : x->nlen > y->nlen);
}

/* Adds the name of index entry key k (prefix pl bytes long) when its value
 * satisfies q, or cannot be judged from the key. */
static int index_entry(fs_qcur *c, const hdb_qcond *q, const uint8_t *k, size_t kl, size_t pl)
{
	uint8_t scratch[HDB_QKEY_STR_MAX];
	hdb_jval v;
	size_t used;
	bool trunc;
	if (kl <= pl || hdb_qkey_decode(k + pl, kl - pl, &v, scratch, &used, &trunc))
		return 0; /* not an entry of ours: ignore it */
	size_t nlen = kl - pl - used;
	if (!nlen || nlen > HDB_FS_NAME_MAX || (!trunc && !hdb_qcond_test(q, &v)))
		return 0;
	c->any_recheck |= trunc;
	return add_ent(c, k + pl + used, nlen, NULL, trunc);
}

static int index_collect(fs_qcur *c, const hdb_qcond *q)
{
	uint8_t lower[FS_IKEY_MAX], upper[FS_IKEY_MAX], enc[HDB_QKEY_VAL_MAX];
	size_t pl = fs_ikey_prefix(lower, c->coll, q->field, q->flen), el = hdb_qkey_encode(&q->v, enc);
	size_t ll, ul;
	memcpy(upper, lower, pl);
	if (q->op == HDB_QOP_LT || q->op == HDB_QOP_LE) {
		lower[pl] = enc[0];
		ll = pl + 1;
	} else {
		memcpy(lower + pl, enc, el);
		ll = pl + el;
	}
	if (q->op == HDB_QOP_GT || q->op == HDB_QOP_GE) {
		upper[pl] = (uint8_t)(enc[0] + 1);
		ul = pl + 1;
	} else {
		memcpy(upper + pl, enc, el);
		ul = prefix_end(upper, pl + el);
	}
	hdb_read_options ro = c->ro;
	ro.lower = lower;
	ro.lower_len = ll;
	ro.upper = upper;
	ro.upper_len = ul;
	hdb_iter *it;
	int rc = hdb_iter_new(c->fs->db, &ro, &it);
	if (rc)
		return rc;
	for (hdb_iter_seek(it, lower, ll); !rc && hdb_iter_valid(it); hdb_iter_next(it)) {
		size_t kl;
		const uint8_t *k = hdb_iter_key(it, &kl);
		rc = index_entry(c, q, k, kl, pl);
	}
	if (!rc)
		rc = hdb_iter_status(it);
	hdb_iter_free(it);
	if (rc)
		return rc;
	if (c->nent)
		qsort_r(c->ents, c->nent, sizeof(*c->ents), cmp_by_name, c->names);
	return 0;
}

static int index_next(fs_qcur *c, fs_qmatch *m)
{
	free(c->cur_doc);
	c->cur_doc = NULL;
	while (c->pos < c->nent) {
		struct ent *e = &c->ents[c->pos++];
		const char *name = c->names + e->name_off;
		uint8_t key[HDB_FS_KEY_MAX];
		void *val;
		size_t vlen;
		int rc = hdb_get(c->fs->db, &c->ro, key, hdb_fs_entry_key(key, c->coll, name, e->nlen), &val, &vlen);
		if (rc == HDB_ENOTFOUND)
			continue;
		if (rc)
			return rc;
		rc = hdb_fs_attr_decode(val, vlen, &e->attr);
		free(val);
		if (rc)
			return rc;
		if (!S_ISREG(e->attr.mode))
			continue;
		void *doc = NULL;
		size_t dlen = 0;
		if ((c->flags & FS_Q_DOCS) || c->n > 1 || e->recheck) {
			uint8_t dkey[HDB_FS_KEY_PREFIX];
			rc = hdb_get(c->fs->db, &c->ro, dkey, hdb_fs_data_key(dkey, e->attr.ino), &doc, &dlen);
			if (rc && rc != HDB_ENOTFOUND)
				return rc;
			if (rc) {
				doc = NULL;
				dlen = 0;
			}
			if (!eval(c, doc, dlen)) {
				free(doc);
				continue;
			}
		}
		c->cur_doc = doc;
		*m = (fs_qmatch){ .name = name, .nlen = e->nlen, .attr = e->attr };
		if (c->flags & FS_Q_DOCS) {
			m->doc = dlen ? doc : NULL;
			m->dlen = dlen;
		}
		return 1;
	}
	return 0;
}

/* ---- cursors ---- */

int fs_qcur_open(hdb_fs *fs, uint64_t coll, const hdb_qcond *const *conds, size_t n, unsigned flags,
                 fs_qcur **out)
{
	fs_qcur *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fs = fs;
	c->coll = coll;
	c->conds = conds;
	c->n = n;
	c->flags = flags;
	c->snap = hdb_snapshot_new(fs->db);
	if (!c->snap) {
		free(c);
		return -ENOMEM;
	}
	hdb_read_options_init(&c->ro);
	c->ro.snapshot = c->snap;
	const hdb_qcond *iq = pick_index(c);
	int rc;
	if (iq) {
		c->indexed = true;
		rc = index_collect(c, iq);
	} else {
		rc = scan_open(c);
	}
	if (fs->q)
		atomic_fetch_add(iq ? &fs->q->q_indexed : &fs->q->q_scanned, 1);
	if (rc) {
		fs_qcur_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int fs_qcur_next(fs_qcur *c, fs_qmatch *m)
{
	return c->indexed ? index_next(c, m) : scan_next(c, m);
}

void fs_qcur_free(fs_qcur *c)
{
	if (!c)
		return;
	helper_stop(&c->helper);
	if (c->eit)
		hdb_iter_free(c->eit);
	for (int k = 0; k < 2; k++) {
		if (c->fetchers[k].it)
			hdb_iter_free(c->fetchers[k].it);
		free(c->fetchers[k].docs);
	}
	if (c->snap)
		hdb_snapshot_release(c->fs->db, c->snap);
	free(c->ents);
	free(c->names);
	free(c->order);
	free(c->cur_doc);
	free(c);
}

int fs_query_count(hdb_fs *fs, uint64_t coll, const hdb_qcond *const *conds, size_t n, uint64_t *count)
{
	fs_qcur *c;
	int rc = fs_qcur_open(fs, coll, conds, n, 0, &c);
	if (rc)
		return rc;
	uint64_t k = 0;
	if (c->indexed && n == 1 && !c->any_recheck) {
		k = c->nent;
	} else {
		fs_qmatch m;
		while ((rc = fs_qcur_next(c, &m)) == 1)
			k++;
	}
	fs_qcur_free(c);
	if (rc < 0)
		return rc;
	*count = k;
	return 0;
}
