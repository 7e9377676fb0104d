/*
 * pdlock.h - the interlock of the milter's fast path (prefix cm_pdlock_):
 * does consent-policy run and enforce the milter's own configuration?
 *
 * With policy.decides_envelope_types the milter accepts envelope-typed
 * mail at MAIL FROM (config/classify.h cm_class_pd_fast) only while
 * consent-policy's stamp (core/pdstamp.h, at policy.stamp) is fresh and
 * names the digest of the milter's configuration; otherwise it decides
 * the recipients itself at RCPT, as without the setting.  A fresh stamp
 * is read again after a second at most; any other answer on every call
 * (so the fast path resumes with the first message after consent-policy
 * is back).  Each change of the answer is logged once.
 */
#ifndef CM_PDLOCK_H
#define CM_PDLOCK_H

#include <stdbool.h>

#include "../config/policy.h"

/* True when consent-policy's stamp is fresh and for P's configuration.
 * Thread-safe. */
bool cm_pdlock_ok(const cm_policy *p);

#endif
