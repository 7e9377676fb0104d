/*
 * uprows.h - the outbox rows a unit test reads back (cm_outbox_read's
 * callback collect() copies up to 16 of them, with their strings),
 * shared by test_upsync.c and test_upconverge.c.
 */
#ifndef CM_TEST_UPROWS_H
#define CM_TEST_UPROWS_H

#include <stdint.h>
#include <stdio.h>

#include "core/upevent.h"

typedef struct rows {
	size_t n;
	cm_upevent ev[16];
	char addr[16][128], type[16][72], origin[16][72];
	uint64_t last;
} rows;

static inline int
collect(uint64_t seq, const cm_upevent *ev, void *arg)
{
	rows *r = arg;

	if (r->n < 16) {
		r->ev[r->n] = *ev;
		snprintf(r->addr[r->n], 128, "%s", ev->ev.addr ? ev->ev.addr :
		    "");
		snprintf(r->type[r->n], 72, "%s", ev->ev.type ? ev->ev.type :
		    "");
		snprintf(r->origin[r->n], 72, "%s", ev->origin);
		r->ev[r->n].ev.addr = r->addr[r->n];
		r->ev[r->n].ev.type = ev->ev.type ? r->type[r->n] : NULL;
		r->ev[r->n].origin = r->origin[r->n];
		r->ev[r->n].ev.source = r->ev[r->n].ev.basis = NULL;
		r->ev[r->n].ev.purpose = r->ev[r->n].ev.evidence = NULL;
		r->ev[r->n].ev.actor = NULL;
	}
	r->n++;
	r->last = seq;
	return 0;
}

#endif
