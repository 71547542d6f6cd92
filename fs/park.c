/*
 * park.c — in-place rewrites that wait for readers without holding a
 * worker thread.
 *
 * An open that rewrites a document in place must not change the size the
 * kernel shares between processes while another process reads it through
 * the page cache (fs_file_open).  Such an open is parked: its reply is sent
 * when the last of those readers is released (fs_park_reader_gone), or
 * when FS_REWRITE_WAIT_MS have passed (a timer thread, started with the
 * first park), whichever comes first.  The FUSE worker that received it is
 * free meanwhile, so parked opens never starve other requests.
 *
 * Thread safety: park.mu guards the list; it is taken before the itab lock
 * (fs_file_foreign_readers) and never held while replying, since a failed
 * reply releases the handle, which may come back here.
 */
#define FUSE_USE_VERSION 314

#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "park.h"

struct parked {
	struct parked *next;
	fuse_req_t req;
	struct fuse_file_info fi;
	fs_fh *fh;
	uint64_t ino;
	int pid, tgid;
	struct timespec deadline; /* CLOCK_MONOTONIC */
};

struct fs_park {
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* CLOCK_MONOTONIC: a new park, or stop */
	struct parked *head;     /* GUARDED_BY mu */
	bool started, stop;      /* GUARDED_BY mu */
	pthread_t timer;
};

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Sends the open replies of the list l (unlinked from the park). */
static void reply_all(hdb_fs *fs, struct parked *l)
{
	while (l) {
		struct parked *p = l;
		l = l->next;
		if (fuse_reply_open(p->req, &p->fi))
			fs_file_release(fs, p->fh); /* the opener is gone */
		free(p);
	}
}

/* Moves the entries that may go on (keep says no) from the park to *out.
 * REQUIRES park->mu. */
static void take(hdb_fs *fs, struct fs_park *k, bool (*keep)(hdb_fs *, const struct parked *, const void *),
                 const void *arg, struct parked **out)
{
	for (struct parked **pp = &k->head; *pp;) {
		struct parked *p = *pp;
		if (keep(fs, p, arg)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->next = *out;
		*out = p;
	}
}

static bool still_waiting(hdb_fs *fs, const struct parked *p, const void *ino)
{
	return p->ino != *(const uint64_t *)ino || fs_file_foreign_readers(fs, p->ino, p->pid, p->tgid);
}

static bool not_due(hdb_fs *fs, const struct parked *p, const void *now)
{
	if (before(now, &p->deadline))
		return true;
	FS_COUNT(fs, rewrite_waits_expired);
	return false;
}

static void *timer_main(void *arg)
{
	hdb_fs *fs = arg;
	struct fs_park *k = fs->park;
	pthread_mutex_lock(&k->mu);
	while (!k->stop) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		struct parked *due = NULL;
		take(fs, k, not_due, &now, &due);
		if (due) {
			pthread_mutex_unlock(&k->mu);
			reply_all(fs, due);
			pthread_mutex_lock(&k->mu);
			continue;
		}
		const struct timespec *next = NULL;
		for (struct parked *p = k->head; p; p = p->next)
			if (!next || before(&p->deadline, next))
				next = &p->deadline;
		if (next) {
			struct timespec until = *next;
			pthread_cond_timedwait(&k->cv, &k->mu, &until);
		} else {
			pthread_cond_wait(&k->cv, &k->mu);
		}
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

int fs_park_new(hdb_fs *fs)
{
	struct fs_park *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&k->mu, NULL);
	fs->park = k;
	return 0;
}

bool fs_park_open(hdb_fs *fs, fuse_req_t req, const struct fuse_file_info *fi, fs_fh *fh)
{
	struct fs_park *k = fs->park;
	int pid = fh->opener;
	if (!fs_file_foreign_readers(fs, fh->ino, pid, pid))
		return false;
	int tgid = fs_file_tgid(pid); /* outside every lock: reads /proc */
	struct parked *p = calloc(1, sizeof(*p));
	if (!p)
		return false; /* reply at once: a reader may then see the new size */
	*p = (struct parked){ .req = req, .fi = *fi, .fh = fh, .ino = fh->ino, .pid = pid, .tgid = tgid };
	clock_gettime(CLOCK_MONOTONIC, &p->deadline);
	p->deadline.tv_sec += FS_REWRITE_WAIT_MS / 1000;
	p->deadline.tv_nsec += (long)(FS_REWRITE_WAIT_MS % 1000) * 1000000L;
	if (p->deadline.tv_nsec >= 1000000000L) {
		p->deadline.tv_sec++;
		p->deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&k->mu);
	/* Checked again under mu: a reader released since is then seen here,
	 * or its fs_park_reader_gone sees this entry. */
	bool wait = !k->stop && fs_file_foreign_readers(fs, fh->ino, pid, tgid);
	if (wait && !k->started) {
		k->started = pthread_create(&k->timer, NULL, timer_main, fs) == 0;
		wait = k->started;
	}
	if (wait) {
		p->next = k->head;
		k->head = p;
		pthread_cond_signal(&k->cv);
	}
	pthread_mutex_unlock(&k->mu);
	if (!wait)
		free(p);
	return wait;
}

void fs_park_reader_gone(hdb_fs *fs, uint64_t ino)
{
	struct fs_park *k = fs->park;
	if (!k)
		return;
	struct parked *go = NULL;
	pthread_mutex_lock(&k->mu);
	take(fs, k, still_waiting, &ino, &go);
	pthread_mutex_unlock(&k->mu);
	reply_all(fs, go);
}

void fs_park_stop(hdb_fs *fs)
{
	struct fs_park *k = fs->park;
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = true;
	struct parked *all = k->head;
	k->head = NULL;
	pthread_cond_signal(&k->cv);
	bool started = k->started;
	pthread_mutex_unlock(&k->mu);
	if (started)
		pthread_join(k->timer, NULL);
	k->started = false;
	reply_all(fs, all);
}

void fs_park_free(hdb_fs *fs)
{
	struct fs_park *k = fs->park;
	if (!k)
		return;
	fs_park_stop(fs);
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
	free(k);
	fs->park = NULL;
}
