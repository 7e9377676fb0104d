/*
 * prefault.c - populate a shared file mapping ahead of its writer.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "prefault.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

/* populated per madvise() call: small enough to stay just ahead */
#define STEP ((size_t)1 << 20)

struct cm_prefault {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned char *base;
	size_t len, ahead;
	size_t want;		/* populate up to here (under lock) */
	size_t done;		/* populated up to here (thread only) */
	bool stop;
};

static void *
run(void *arg)
{
	cm_prefault *pf = arg;

	pthread_mutex_lock(&pf->lock);
	for (;;) {
		size_t want, n;

		while (!pf->stop && pf->done >= pf->want)
			pthread_cond_wait(&pf->cond, &pf->lock);
		if (pf->stop)
			break;
		want = pf->want;
		pthread_mutex_unlock(&pf->lock);
		n = want - pf->done < STEP ? want - pf->done : STEP;
		if (madvise(pf->base + pf->done, n, MADV_POPULATE_WRITE) != 0) {
			/* not supported, or no memory: the writer faults */
			pthread_mutex_lock(&pf->lock);
			break;
		}
		pthread_mutex_lock(&pf->lock);
		pf->done += n;
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

static size_t
target(const cm_prefault *pf, size_t pos)
{
	size_t t = pos < pf->len - pf->ahead ? pos + pf->ahead : pf->len;

	return t & ~(size_t)4095;
}

cm_prefault *
cm_prefault_start(void *base, size_t len, size_t ahead)
{
	cm_prefault *pf;

	if (base == NULL || len == 0 || (uintptr_t)base % 4096 != 0 ||
	    (pf = calloc(1, sizeof(*pf))) == NULL)
		return NULL;
	pf->base = base;
	pf->len = len;
	pf->ahead = ahead < len ? ahead : len;
	pf->want = target(pf, 0);
	if (pthread_mutex_init(&pf->lock, NULL) != 0) {
		free(pf);
		return NULL;
	}
	if (pthread_cond_init(&pf->cond, NULL) != 0) {
		pthread_mutex_destroy(&pf->lock);
		free(pf);
		return NULL;
	}
	if (pthread_create(&pf->thread, NULL, run, pf) != 0) {
		pthread_cond_destroy(&pf->cond);
		pthread_mutex_destroy(&pf->lock);
		free(pf);
		return NULL;
	}
	return pf;
}

void
cm_prefault_advance(cm_prefault *pf, size_t pos)
{
	size_t t;

	if (pf == NULL)
		return;
	t = target(pf, pos);
	pthread_mutex_lock(&pf->lock);
	if (t > pf->want) {
		pf->want = t;
		pthread_cond_signal(&pf->cond);
	}
	pthread_mutex_unlock(&pf->lock);
}

size_t
cm_prefault_stop(cm_prefault *pf)
{
	size_t done;

	if (pf == NULL)
		return 0;
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_signal(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	pthread_join(pf->thread, NULL);
	done = pf->done;
	pthread_cond_destroy(&pf->cond);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
	return done;
}
