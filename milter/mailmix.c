/*
 * mailmix.c - MAIL with or without a reply, by the recent mail (see
 * mailmix.h).
 */
#include "mailmix.h"

#include <stdatomic.h>
#include <stdint.h>

#define ONE 65536u

/* The share that went on after MAIL, in 1/65536: starts at "all". */
static _Atomic uint32_t share = ONE;

void
cm_mailmix_note(bool went_on)
{
	uint32_t s = atomic_load_explicit(&share, memory_order_relaxed);
	uint32_t x = went_on ? ONE : 0;

	/* s += (x - s) / SPAN, in unsigned arithmetic */
	if (x >= s)
		s += (x - s + CM_MAILMIX_SPAN - 1) / CM_MAILMIX_SPAN;
	else
		s -= (s - x + CM_MAILMIX_SPAN - 1) / CM_MAILMIX_SPAN;
	atomic_store_explicit(&share, s, memory_order_relaxed);
}

bool
cm_mailmix_nr_mail(cm_mail_reply setting)
{
	switch (setting) {
	case CM_MAIL_REPLY_MAIL:
		return false;
	case CM_MAIL_REPLY_RCPT:
		return true;
	case CM_MAIL_REPLY_AUTO:
	default:
		return atomic_load_explicit(&share, memory_order_relaxed) >=
		    ONE / 2;
	}
}

unsigned
cm_mailmix_share(void)
{
	return atomic_load_explicit(&share, memory_order_relaxed);
}

void
cm_mailmix_reset(void)
{
	atomic_store_explicit(&share, ONE, memory_order_relaxed);
}
