/*
 * rules.h - the consent rules as pure functions (prefix cm_rules_).
 *
 * What an event does to the stored state of one address, and what the
 * stored state decides for one recipient and newsletter type (SPEC §4),
 * without LMDB, clocks or I/O: the index (index.c) loads the stored
 * entry, calls cm_rules_apply and writes what it returns; the decision
 * engine (decide.c) reads the stored views and calls cm_rules_decide.
 *
 * THE RULES (an opt-out always wins)
 *
 *  - Time.  An event dated more than the allowed clock skew (default
 *    CM_RULES_SKEW_DEFAULT, five minutes) after now is refused
 *    (CM_RULES_FUTURE), whatever its kind and whatever the input.  An
 *    event without a time (at_us 0) happens now.
 *  - Newer event wins; a withdrawal or objection wins a tie.  Every
 *    record remembers the time U of the last event applied to it; an
 *    event older than U is stale (not applied, nothing changes).
 *  - A withdrawal or objection made now always takes effect: when a
 *    withdrawal or objection is compared with stored times, a stored
 *    time after now (a legacy record dated in the future, written before
 *    future events were refused) counts as now.  One made now over a
 *    withdrawal or objection stored with a future time dates it now, so
 *    that a later grant is not locked out until that time.
 *  - An objection to all marketing denies every type, no-objection
 *    types included, and withdraws every granted or pending record
 *    not newer than it.  A later explicit grant of one type lifts it for
 *    that type only: the objection does not deny type T when the record
 *    of T is granted or pending with a grant time after the objection.
 *  - A confirmation never resurrects a withdrawn record, and does not
 *    move U (a withdrawal between sign-up and confirmation wins).
 *  - A grant older than the objection but newer than its record is
 *    stored as the objection would have left it: withdrawn.
 *  - Erasure leaves a tombstone: only a grant newer than the erasure
 *    creates a record again; a withdrawal or objection of an erased
 *    address changes nothing (it is denied already).
 *  - Nothing is reported applied that changed nothing: a duplicate is
 *    stale.
 *
 * Each rule has its case, in words, in tests/unit/test_rules.c.
 */
#ifndef CM_RULES_H
#define CM_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decide.h"
#include "index.h"
#include "status.h"

/* The record of one type as a decision reads it (cm_index_rlookup). */
typedef struct cm_rec_view {
	cm_state state;
	int64_t granted_us, confirmed_us, withdrawn_us, updated_us;
} cm_rec_view;

/* What a decision reads for one address. */
typedef struct cm_addr_view {
	bool found;		/* the address has an entry */
	bool erased;		/* no entry, but a tombstone */
	bool objection;		/* an address-wide objection is recorded */
	int64_t objection_us;	/* its time (a later grant of a type
				 * lifts it for that type) */
	bool has_rec;		/* a record of the asked type exists */
	cm_rec_view rec;
} cm_addr_view;

/* The allowed clock skew when none is configured: five minutes. */
#define CM_RULES_SKEW_DEFAULT (300 * INT64_C(1000000))

/* A string that need not be NUL-terminated. */
typedef struct cm_rules_str {
	const unsigned char *p;
	size_t n;
} cm_rules_str;

/* One (address, type) record as stored (times in microseconds, 0 =
 * never; UPDATED is U, the time of the last event applied). */
typedef struct cm_rules_rec {
	cm_rules_str type;
	cm_state state;
	int64_t granted, confirmed, withdrawn, updated;
	cm_rules_str f[4];	/* source, basis, purpose, evidence */
} cm_rules_rec;

/*
 * What is stored for one address: its objection, its records (sorted
 * by type, octet order, shorter first) and, for an address without an
 * entry, its tombstone.  RECS (CAP slots) is owned by whoever holds the
 * entry; cm_rules_apply may grow it with realloc.
 */
typedef struct cm_rules_entry {
	int64_t objection_us;	/* latest objection, 0 = none */
	int64_t last_grant_us;	/* latest grant applied (kept on disk) */
	cm_rules_str addr;
	size_t nrec, cap;
	cm_rules_rec *recs;
	bool erased;		/* no entry: a tombstone */
	int64_t erased_us;
} cm_rules_entry;

/* Make room for WANT records in E.  false: out of memory (E unchanged). */
bool cm_rules_entry_grow(cm_rules_entry *e, size_t want);

typedef enum cm_rules_verdict {
	CM_RULES_APPLIED = 1,	/* the entry changed: write it and the history */
	CM_RULES_STALE,		/* nothing changed (older, or a duplicate) */
	CM_RULES_REFUSED	/* the event is not acceptable: see refusal */
} cm_rules_verdict;

typedef enum cm_rules_refusal {
	CM_RULES_NONE = 0,
	CM_RULES_FUTURE,	/* dated more than the skew after now */
	CM_RULES_NO_RECORD,	/* CONFIRM or UPDATE without a record */
	CM_RULES_TOO_MANY,	/* the address has 65535 records already */
	CM_RULES_BAD_KIND	/* not an event of one address */
} cm_rules_refusal;

/* One history event to append.  Its time is cm_rules_out.at and its
 * fields are the event's; TYPE has n == 0 for address-wide events. */
typedef struct cm_rules_hist {
	cm_event_kind kind;
	cm_rules_str type;
	cm_state old_state, new_state;
} cm_rules_hist;

/* The result of cm_rules_apply.  Zero it before first use; it may be
 * reused for many calls, and is freed with cm_rules_out_free. */
typedef struct cm_rules_out {
	cm_rules_verdict verdict;
	cm_rules_refusal refusal;
	int64_t at;		/* the event's time (NOW when at_us is 0) */
	size_t nhist, cap;
	cm_rules_hist *hist;	/* in the order to append them */
} cm_rules_out;

void cm_rules_out_free(cm_rules_out *o);

/* The options of the rules. */
typedef struct cm_rules_opts {
	int64_t skew_us;	/* allowed clock skew; 0 = the default */
} cm_rules_opts;

/*
 * Is an event at AT (0 = now) acceptable at NOW under OPTS (NULL: the
 * defaults), i.e. not more than the skew after NOW?  *LIMIT, if not
 * NULL, receives the latest acceptable time.
 */
bool cm_rules_time_ok(int64_t at, int64_t now, const cm_rules_opts *opts,
    int64_t *limit);

/*
 * Apply EV (GRANT, CONFIRM, WITHDRAW, OBJECT or UPDATE; validated: type
 * and fields within their limits) to the stored entry E at time NOW.
 * FLEN gives the lengths of the event's source, basis, purpose and
 * evidence (NULL: measured here).  On CM_OK, OUT tells the verdict; when
 * applied, E is the new entry (its strings point into the old entry and
 * into EV: write it before either changes) and OUT's history events are
 * to be appended, in order, before the entry is written.  Returns CM_OK,
 * CM_EINVAL (NULL argument) or CM_ENOMEM (E and OUT then unusable).
 */
cm_status cm_rules_apply(cm_rules_entry *e, const cm_event *ev,
    const size_t *flen, int64_t now, const cm_rules_opts *opts,
    cm_rules_out *out);

/*
 * Domain (un)suppression: does an event (SUPPRESS true: suppress) at AT
 * apply to a domain whose stored state is EXISTS, WAS (suppressed) and
 * UPDATED (its last event)?  Newer wins; on a tie suppression wins.
 */
bool cm_rules_domain_applies(bool exists, bool was, int64_t updated,
    bool suppress, int64_t at);

/*
 * Does the objection of an address deny a type whose record is REC
 * (NULL: none)?  OBJECTION_US 0 means no objection.  A record of the
 * type granted or pending with a grant time after the objection lifts
 * it for that type.
 */
bool cm_rules_objection_denies(int64_t objection_us, const cm_rec_view *rec);

/*
 * The decision of SPEC §4 (see decide.h) for type TP from what was read:
 * AK for the address, AB for its base address (all false when it has
 * none), DOMAIN_SUPPRESSED for its domain, at time NOW.
 */
cm_decision cm_rules_decide(const cm_type_policy *tp,
    const cm_addr_view *ak, const cm_addr_view *ab, bool domain_suppressed,
    int64_t now);

/*
 * The decision for a recipient whose address cannot be normalized; ST is
 * what cm_addr_normalize returned for it (not CM_OK).  No record can
 * exist under an address the importer could not have normalized either:
 * CM_OK and *OUT deny (no-consent).  A failure that says nothing about
 * the address (CM_ENOMEM) stays an error: ST is returned and *OUT is
 * set to nothing usable, so the caller's error policy applies.
 */
cm_status cm_rules_unnormalized(cm_status st, cm_decision *out);

#endif
