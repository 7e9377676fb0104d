/*
 * live.c - reference-counted current policy.
 */
#include "live.h"

#include <pthread.h>
#include <stdlib.h>

struct cm_live_ref {
	cm_policy *policy;
	uint64_t generation;
	unsigned long refs;
};

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static cm_live_ref *live_cur;
static uint64_t live_gen;

static cm_live_ref *
ref_new(cm_policy *p)
{
	cm_live_ref *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->policy = p;
	r->refs = 1;		/* the daemon's own reference */
	return r;
}

static void
ref_free(cm_live_ref *r)
{
	cm_policy_free(r->policy);
	free(r);
}

cm_status
cm_live_init(cm_policy *p)
{
	return cm_live_swap(p);
}

cm_status
cm_live_swap(cm_policy *p)
{
	cm_live_ref *r = ref_new(p), *old;
	bool last = false;

	if (r == NULL) {
		cm_policy_free(p);
		return CM_ENOMEM;
	}
	pthread_mutex_lock(&live_mu);
	r->generation = ++live_gen;
	old = live_cur;
	live_cur = r;
	if (old != NULL)
		last = --old->refs == 0;
	pthread_mutex_unlock(&live_mu);
	if (last)
		ref_free(old);
	return CM_OK;
}

cm_live_ref *
cm_live_get(void)
{
	cm_live_ref *r;

	pthread_mutex_lock(&live_mu);
	r = live_cur;
	if (r != NULL)
		r->refs++;
	pthread_mutex_unlock(&live_mu);
	return r;
}

cm_live_ref *
cm_live_dup(cm_live_ref *ref)
{
	pthread_mutex_lock(&live_mu);
	ref->refs++;
	pthread_mutex_unlock(&live_mu);
	return ref;
}

void
cm_live_put(cm_live_ref *ref)
{
	bool last;

	if (ref == NULL)
		return;
	pthread_mutex_lock(&live_mu);
	last = --ref->refs == 0;
	pthread_mutex_unlock(&live_mu);
	if (last)
		ref_free(ref);
}

const cm_policy *
cm_live_policy(const cm_live_ref *ref)
{
	return ref->policy;
}

uint64_t
cm_live_generation(const cm_live_ref *ref)
{
	return ref->generation;
}

void
cm_live_shutdown(void)
{
	cm_live_ref *old;

	pthread_mutex_lock(&live_mu);
	old = live_cur;
	live_cur = NULL;
	pthread_mutex_unlock(&live_mu);
	cm_live_put(old);
}
