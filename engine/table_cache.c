#include "table_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tc_entry {
	uint64_t number;
	hdb_sst_reader *r;
	struct tc_entry *next;
};

/* Guarded by mu: buckets and every entry. */
struct hdb_tcache {
	pthread_mutex_t mu;
	char *dir;
	hdb_cache *blocks;
	struct tc_entry **bucket;
	size_t nbucket; /* power of two */
	size_t count;
};

bool hdb_parse_file_number(const char *name, const char *suffix, uint64_t *number)
{
	size_t n = strlen(name), sl = strlen(suffix);
	if (n <= sl || strcmp(name + n - sl, suffix))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n - sl; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*number = v;
	return true;
}

int hdb_table_path(char *buf, size_t n, const char *dir, uint64_t number)
{
	int w = snprintf(buf, n, "%s/%06" PRIu64 ".sst", dir, number);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int hdb_wal_path(char *buf, size_t n, const char *dir, uint64_t number)
{
	int w = snprintf(buf, n, "%s/%06" PRIu64 ".wal", dir, number);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

hdb_tcache *hdb_tcache_new(const char *dir, hdb_cache *blocks)
{
	hdb_tcache *tc = calloc(1, sizeof(*tc));
	if (!tc)
		return NULL;
	tc->nbucket = 256;
	tc->bucket = calloc(tc->nbucket, sizeof(*tc->bucket));
	tc->dir = strdup(dir);
	if (!tc->bucket || !tc->dir) {
		free(tc->bucket);
		free(tc->dir);
		free(tc);
		return NULL;
	}
	pthread_mutex_init(&tc->mu, NULL);
	tc->blocks = blocks;
	return tc;
}

void hdb_tcache_free(hdb_tcache *tc)
{
	if (!tc)
		return;
	for (size_t i = 0; i < tc->nbucket; i++) {
		struct tc_entry *e = tc->bucket[i];
		while (e) {
			struct tc_entry *nx = e->next;
			hdb_sst_unref(e->r);
			free(e);
			e = nx;
		}
	}
	pthread_mutex_destroy(&tc->mu);
	free(tc->bucket);
	free(tc->dir);
	free(tc);
}

static size_t slot(const hdb_tcache *tc, uint64_t number)
{
	return (size_t)((number * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (tc->nbucket - 1);
}

static void grow(hdb_tcache *tc)
{
	size_t n = tc->nbucket * 2;
	struct tc_entry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* chains just get longer */
	struct tc_entry **old = tc->bucket;
	size_t oldn = tc->nbucket;
	tc->bucket = b;
	tc->nbucket = n;
	for (size_t i = 0; i < oldn; i++) {
		struct tc_entry *e = old[i];
		while (e) {
			struct tc_entry *nx = e->next;
			size_t s = slot(tc, e->number);
			e->next = b[s];
			b[s] = e;
			e = nx;
		}
	}
	free(old);
}

static hdb_sst_reader *find_locked(hdb_tcache *tc, uint64_t number)
{
	for (struct tc_entry *e = tc->bucket[slot(tc, number)]; e; e = e->next)
		if (e->number == number)
			return e->r;
	return NULL;
}

int hdb_tcache_get(hdb_tcache *tc, uint64_t number, hdb_sst_reader **out)
{
	pthread_mutex_lock(&tc->mu);
	hdb_sst_reader *r = find_locked(tc, number);
	if (r)
		hdb_sst_ref(r);
	pthread_mutex_unlock(&tc->mu);
	if (r) {
		*out = r;
		return 0;
	}

	char path[PATH_MAX];
	int rc = hdb_table_path(path, sizeof(path), tc->dir, number);
	if (rc)
		return rc;
	hdb_sst_reader *fresh;
	rc = hdb_sst_open(path, number, tc->blocks, &fresh);
	if (rc)
		return rc;
	struct tc_entry *e = malloc(sizeof(*e));

	pthread_mutex_lock(&tc->mu);
	r = find_locked(tc, number);
	if (r || !e) {
		/* lost a race with another opener, or no memory to remember it */
		if (r)
			hdb_sst_ref(r);
		pthread_mutex_unlock(&tc->mu);
		free(e);
		if (r) {
			hdb_sst_unref(fresh);
			*out = r;
			return 0;
		}
		*out = fresh;
		return 0;
	}
	e->number = number;
	e->r = fresh;
	hdb_sst_ref(fresh); /* one for the cache, one for the caller */
	size_t s = slot(tc, number);
	e->next = tc->bucket[s];
	tc->bucket[s] = e;
	if (++tc->count > tc->nbucket)
		grow(tc);
	pthread_mutex_unlock(&tc->mu);
	*out = fresh;
	return 0;
}

void hdb_tcache_evict(hdb_tcache *tc, uint64_t number)
{
	pthread_mutex_lock(&tc->mu);
	struct tc_entry **pp = &tc->bucket[slot(tc, number)], *e = NULL;
	while (*pp) {
		if ((*pp)->number == number) {
			e = *pp;
			*pp = e->next;
			tc->count--;
			break;
		}
		pp = &(*pp)->next;
	}
	pthread_mutex_unlock(&tc->mu);
	if (e) {
		hdb_sst_unref(e->r);
		free(e);
	}
}

size_t hdb_tcache_memory(hdb_tcache *tc)
{
	size_t total = 0;
	pthread_mutex_lock(&tc->mu);
	for (size_t i = 0; i < tc->nbucket; i++)
		for (struct tc_entry *e = tc->bucket[i]; e; e = e->next)
			total += hdb_sst_memory(e->r) + sizeof(*e);
	total += tc->nbucket * sizeof(*tc->bucket);
	pthread_mutex_unlock(&tc->mu);
	return total;
}
