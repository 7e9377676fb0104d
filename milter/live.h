/*
 * live.h - the policy in force, swapped whole on reload (prefix cm_live_).
 *
 * A cm_policy is immutable.  The daemon holds the current one in a
 * reference-counted cm_live_ref; a connection or message takes a
 * reference (cm_live_get) and keeps using that policy until it drops it
 * (cm_live_put), even if a reload installed a newer one meanwhile.  The
 * last reference frees the policy.  One mutex guards the counts; it is
 * held only for a pointer copy and an increment.
 */
#ifndef CM_LIVE_H
#define CM_LIVE_H

#include <stdint.h>

#include "../config/policy.h"

typedef struct cm_live_ref cm_live_ref;

/* Install the first policy (takes ownership).  CM_OK or CM_ENOMEM. */
cm_status cm_live_init(cm_policy *p);

/* Replace the current policy with P (takes ownership); the old one is
 * freed when its last reader lets go.  CM_OK or CM_ENOMEM (P freed). */
cm_status cm_live_swap(cm_policy *p);

/* A reference to the current policy; never NULL after cm_live_init. */
cm_live_ref *cm_live_get(void);
/* Another reference to the same policy as REF. */
cm_live_ref *cm_live_dup(cm_live_ref *ref);
/* Drop a reference (NULL is allowed). */
void cm_live_put(cm_live_ref *ref);

const cm_policy *cm_live_policy(const cm_live_ref *ref);
/* 1 for the policy loaded at start, +1 per successful reload. */
uint64_t cm_live_generation(const cm_live_ref *ref);

/* Drop the daemon's own reference (at exit). */
void cm_live_shutdown(void);

#endif
