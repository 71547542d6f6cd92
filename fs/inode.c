/*
 * inode.c — the inode table: a chained hash map keyed by inode number that
 * doubles its bucket array when the load passes two (chains of two cost
 * nothing measurable; the array is 4 bytes per inode instead of 8).  Idle
 * inodes are 56 bytes (one 64-byte malloc chunk) with their name inline;
 * the static assertion below keeps them so.
 */
#include "inode.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(sizeof(hdb_inode) <= 56, "an idle inode must fit a 64-byte malloc chunk");

struct hdb_itable {
	pthread_mutex_t mu;
	hdb_inode **buckets; /* GUARDED_BY mu */
	size_t nbuckets;     /* power of two; GUARDED_BY mu */
	size_t count;        /* GUARDED_BY mu */
	size_t loaded;       /* inodes with x; GUARDED_BY mu */
	uint64_t epoch;      /* GUARDED_BY mu */
};

#define ITABLE_INITIAL_BUCKETS 1024

static size_t bucket_of(uint64_t ino, size_t nbuckets)
{
	/* Fibonacci hashing spreads the sequential numbers we hand out. */
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 32) & (nbuckets - 1);
}

int hdb_itable_new(hdb_itable **out)
{
	hdb_itable *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->nbuckets = ITABLE_INITIAL_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->mu, NULL);
	*out = t;
	return 0;
}

static void free_name(hdb_inode *ino)
{
	if (ino->nlen >= HDB_INODE_NAME_INLINE)
		free(ino->nm.out);
}

static void inode_free(hdb_inode *ino)
{
	free_name(ino);
	free(ino->x);
	free(ino);
}

void hdb_itable_free(hdb_itable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		hdb_inode *ino = t->buckets[i];
		while (ino) {
			hdb_inode *next = ino->next;
			inode_free(ino);
			ino = next;
		}
	}
	free(t->buckets);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void hdb_itable_lock(hdb_itable *t)
{
	pthread_mutex_lock(&t->mu);
}

void hdb_itable_unlock(hdb_itable *t)
{
	pthread_mutex_unlock(&t->mu);
}

hdb_inode *hdb_itable_get(hdb_itable *t, uint64_t ino)
{
	for (hdb_inode *i = t->buckets[bucket_of(ino, t->nbuckets)]; i; i = i->next)
		if (i->ino == ino)
			return i;
	return NULL;
}

/* Doubles the bucket array; on allocation failure keeps the old one (the
 * table still works, only with longer chains). */
static void grow(hdb_itable *t)
{
	size_t n = t->nbuckets * 2;
	hdb_inode **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		hdb_inode *ino = t->buckets[i];
		while (ino) {
			hdb_inode *next = ino->next;
			size_t k = bucket_of(ino->ino, n);
			ino->next = b[k];
			b[k] = ino;
			ino = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/* Stores name in ino (inline when short); name_buf, if not NULL, is a
 * malloc'd copy the inode may keep (else it is freed).  -ENOMEM only
 * without name_buf. */
static int put_name(hdb_inode *ino, const char *name, size_t nlen, char *name_buf)
{
	ino->nlen = (uint8_t)nlen;
	if (nlen < HDB_INODE_NAME_INLINE) {
		memcpy(ino->nm.in, name, nlen);
		ino->nm.in[nlen] = 0;
		free(name_buf);
		return 0;
	}
	if (!name_buf) {
		name_buf = malloc(nlen + 1);
		if (!name_buf)
			return -ENOMEM;
		memcpy(name_buf, name, nlen);
		name_buf[nlen] = 0;
	}
	ino->nm.out = name_buf;
	return 0;
}

static void add_lookups(hdb_inode *ino, uint64_t n)
{
	/* The kernel counts in 64 bits; past 2^32 - 1 the inode simply stays
	 * until the unmount. */
	if (n > UINT32_MAX - ino->nlookup) {
		ino->nlookup = UINT32_MAX;
		ino->pinned = true;
	} else {
		ino->nlookup += (uint32_t)n;
	}
}

int hdb_inode_load(hdb_itable *t, hdb_inode *ino, const hdb_fs_attr *attr, hdb_inode_ext **spare)
{
	if (ino->x)
		return 0;
	if (spare && *spare) {
		ino->x = *spare;
		*spare = NULL;
		memset(ino->x, 0, sizeof(*ino->x));
	} else {
		ino->x = calloc(1, sizeof(*ino->x));
		if (!ino->x)
			return -ENOMEM;
	}
	ino->x->attr = *attr;
	ino->x->dsize = attr->size;
	ino->x->kcached = true;
	t->loaded++;
	return 0;
}

int hdb_itable_ref(hdb_itable *t, uint64_t parent, const char *name, size_t nlen, const hdb_fs_attr *attr,
                   uint64_t n, bool load, hdb_inode **out)
{
	hdb_inode *ino = hdb_itable_get(t, attr->ino);
	if (ino) {
		if (load && hdb_inode_load(t, ino, attr, NULL))
			return -ENOMEM;
		add_lookups(ino, n);
		goto out;
	}
	ino = calloc(1, sizeof(*ino));
	if (!ino)
		return -ENOMEM;
	if (put_name(ino, name, nlen, NULL)) {
		free(ino);
		return -ENOMEM;
	}
	ino->ino = attr->ino;
	ino->parent = parent;
	ino->type = (uint8_t)((attr->mode & S_IFMT) >> 12);
	if ((load || S_ISDIR(attr->mode)) && hdb_inode_load(t, ino, attr, NULL)) {
		inode_free(ino);
		return -ENOMEM;
	}
	add_lookups(ino, n);
	if (t->count >= 2 * t->nbuckets)
		grow(t);
	size_t k = bucket_of(ino->ino, t->nbuckets);
	ino->next = t->buckets[k];
	t->buckets[k] = ino;
	t->count++;
out:
	if (out)
		*out = ino;
	return 0;
}

static void unlink_from_table(hdb_itable *t, hdb_inode *ino)
{
	hdb_inode **pp = &t->buckets[bucket_of(ino->ino, t->nbuckets)];
	while (*pp != ino) {
		assert(*pp);
		pp = &(*pp)->next;
	}
	*pp = ino->next;
	t->count--;
}

/* Whether ino needs its x (see inode.h). */
static bool needs_x(const hdb_inode *ino)
{
	const hdb_inode_ext *x = ino->x;
	return ino->pinned || ino->unlinked || S_ISDIR(hdb_inode_type(ino)) || x->nopen || x->ndirty ||
	       x->writers || x->readers || x->nrewrite || x->pending;
}

bool hdb_itable_drop_unused(hdb_itable *t, hdb_inode *ino)
{
	if (ino->pinned || ino->nlookup || (ino->x && ino->x->nopen)) {
		if (ino->x && !needs_x(ino)) {
			free(ino->x);
			ino->x = NULL;
			t->loaded--;
		}
		return false;
	}
	bool orphan = ino->orphan;
	unlink_from_table(t, ino);
	if (ino->x)
		t->loaded--;
	inode_free(ino);
	return orphan;
}

bool hdb_itable_forget(hdb_itable *t, uint64_t ino, uint64_t n)
{
	hdb_inode *i = hdb_itable_get(t, ino);
	if (!i)
		return false;
	if (!i->pinned)
		i->nlookup = n < i->nlookup ? i->nlookup - (uint32_t)n : 0;
	return hdb_itable_drop_unused(t, i);
}

void hdb_inode_set_name(hdb_inode *ino, uint64_t parent, char *name)
{
	free_name(ino);
	put_name(ino, name, strlen(name), name); /* cannot fail: name is given */
	ino->parent = parent;
}

size_t hdb_itable_count(const hdb_itable *t)
{
	return t->count;
}

size_t hdb_itable_loaded(const hdb_itable *t)
{
	return t->loaded;
}

uint64_t hdb_itable_epoch(const hdb_itable *t)
{
	return t->epoch;
}

void hdb_itable_change_begin(hdb_itable *t)
{
	t->epoch |= 1;
}

void hdb_itable_change_end(hdb_itable *t)
{
	if (t->epoch & 1)
		t->epoch++;
}
