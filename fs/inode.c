/*
 * inode.c — the inode table: a chained hash map keyed by inode number that
 * doubles its bucket array when the load passes one.
 */
#include "inode.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct hdb_itable {
	pthread_mutex_t mu;
	hdb_inode **buckets; /* GUARDED_BY mu */
	size_t nbuckets;     /* power of two; GUARDED_BY mu */
	size_t count;        /* GUARDED_BY mu */
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

static void inode_free(hdb_inode *ino)
{
	free(ino->name);
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

static char *dup_name(const char *name, size_t nlen)
{
	char *s = malloc(nlen + 1);
	if (!s)
		return NULL;
	memcpy(s, name, nlen);
	s[nlen] = 0;
	return s;
}

int hdb_itable_ref(hdb_itable *t, uint64_t parent, const char *name, size_t nlen, const hdb_fs_attr *attr,
                   uint64_t n, hdb_inode **out)
{
	hdb_inode *ino = hdb_itable_get(t, attr->ino);
	if (ino) {
		ino->nlookup += n;
		goto out;
	}
	ino = calloc(1, sizeof(*ino));
	if (!ino)
		return -ENOMEM;
	ino->name = dup_name(name, nlen);
	if (!ino->name) {
		free(ino);
		return -ENOMEM;
	}
	ino->ino = attr->ino;
	ino->parent = parent;
	ino->nlen = nlen;
	ino->nlookup = n;
	ino->attr = *attr;
	ino->dsize = attr->size;
	if (t->count >= t->nbuckets)
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

bool hdb_itable_drop_unused(hdb_itable *t, hdb_inode *ino)
{
	if (ino->pinned || ino->nlookup || ino->nopen)
		return false;
	bool orphan = ino->orphan;
	unlink_from_table(t, ino);
	inode_free(ino);
	return orphan;
}

bool hdb_itable_forget(hdb_itable *t, uint64_t ino, uint64_t n)
{
	hdb_inode *i = hdb_itable_get(t, ino);
	if (!i)
		return false;
	i->nlookup = n < i->nlookup ? i->nlookup - n : 0;
	return hdb_itable_drop_unused(t, i);
}

void hdb_inode_set_name(hdb_inode *ino, uint64_t parent, char *name)
{
	free(ino->name);
	ino->name = name;
	ino->nlen = strlen(name);
	ino->parent = parent;
}

size_t hdb_itable_count(const hdb_itable *t)
{
	return t->count;
}
