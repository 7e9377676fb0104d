/*
 * filter.c - libmilter callbacks: a thin adapter over core/ and config/.
 *
 * Flow of one message (SPEC §5); a message has a set of types (all that
 * match: config/classify.h), each recipient needs consent for every one:
 *   connect  out of scope even if the client authenticated later -> ACCEPT;
 *            a non-SMTP submission is noted (verdict.h); where that
 *            cannot happen (scope.authenticated, mailto unsubscribe)
 *            negotiated without a reply (SMFIP_NR_CONN), and a failure
 *            there is answered at MAIL
 *   MAIL     sender normalized (core/addr.h) before matching; one that
 *            cannot be and matches nothing -> on_error; out of scope, or
 *            no type and no header rules (or null sender and no header
 *            rules) -> ACCEPT; several types and multiple_types: refuse
 *            -> 550; types from envelope/SASL -> decide at RCPT (kept for
 *            EOM too when a header rule of another type exists); else
 *            keep recipients and headers, classify at end of headers;
 *            negotiated without a reply (SMFIP_NR_MAIL: no round trip
 *            a message) by milter.mail_reply (mailmix.h: under auto,
 *            while most mail goes on past MAIL); then an answer other
 *            than CONTINUE waits for the first RCPT (a refusal there and again at DATA, EOH or EOM
 *            for the recipients accepted after it; a non-SMTP submission
 *            gets it at DATA or EOM): envelope.h cm_env_held
 *   RCPT     envelope type: deny -> 550 5.7.1 for this recipient only;
 *            allow -> CONTINUE (never ACCEPT: it would pass later
 *            recipients unchecked); error -> on_error for this recipient;
 *            non-SMTP: never refused here, kept for EOM
 *   DATA     envelope type, nothing more to learn -> ACCEPT
 *   EOH      header types added; types not decided at RCPT -> CONTINUE;
 *            unclassified bulk -> configured action; otherwise ACCEPT
 *   EOM      those types: decide every kept recipient, remove denied ones
 *            with smfi_delrcpt(raw address), refuse when none is left,
 *            add the trace header, DSN; monitor: only the trace header
 *
 * The stages live in envelope.c (connect to DATA) and content.c (headers
 * to end of data) over the state of conn.h; every fault is answered by
 * the one error policy of reply.h.
 *
 * Mailto unsubscribe (mailto.h), when links.mailto_domain is set: the
 * connect and MAIL stages do not accept early (out of scope or no
 * newsletter) but go on to RCPT, where LOCAL+TOKEN@DOMAIN is taken
 * out of the newsletter check; end of data records it through
 * consent-web before anything else, and removes it last.
 *
 * Queue id: Postfix knows "i" only after the first accepted RCPT and
 * sends it from the next stage on; the id is taken as soon as the MTA
 * sends it (MAIL, RCPT, DATA, EOH, EOM), and decision lines wait for it
 * in the message (conn.h: bounded, logged together when the message
 * ends, one write on standard error), so that they all carry it.
 */
#include "filter.h"

#include <stdbool.h>
#include <string.h>

#include <libmilter/mfapi.h>

#include "../config/policy.h"
#include "conn.h"
#include "content.h"
#include "envelope.h"
#include "feedback.h"
#include "live.h"
#include "log.h"
#include "mailmix.h"
#include "unsub.h"	/* one-click unsubscribe headers */

static bool over_tcp;	/* the milter socket is inet: or inet6: */

static sfsistat
fi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct cm_conn *c;
	const cm_policy *p;
	unsigned long want_acts, want_steps;

	(void)f2;
	(void)f3;
	c = cm_conn_negotiate(ctx);
	if (c == NULL || c->neg_ref == NULL) {
		cm_log(LOG_ERR, "negotiate: out of memory; asking for every "
		    "step");
		*pf0 = f0 & (SMFIF_DELRCPT | SMFIF_ADDHDRS | SMFIF_CHGHDRS |
		    SMFIF_ADDRCPT);
		*pf1 = 0;
		if (c != NULL) {
			c->neg.nr_mail = false;	/* MAIL answers */
			c->neg_known = true;
		}
		*pf2 = *pf3 = 0;
		return SMFIS_CONTINUE;
	}
	p = cm_live_policy(c->neg_ref);

	want_acts = SMFIF_DELRCPT | SMFIF_ADDHDRS | SMFIF_CHGHDRS |
	    SMFIF_ADDRCPT |	/* mailto.h: links.mailto_deliver_to */
	    SMFIF_SETSYMLIST;
	*pf0 = f0 & want_acts;
	c->neg.can_addrcpt = (*pf0 & SMFIF_ADDRCPT) != 0;
	c->neg.can_delrcpt = (*pf0 & SMFIF_DELRCPT) != 0;
	c->neg.can_addhdr = (*pf0 & SMFIF_ADDHDRS) != 0;
	c->neg.can_chghdr = (*pf0 & SMFIF_CHGHDRS) != 0;
	if (!c->neg.can_delrcpt || !c->neg.can_addhdr)
		cm_log(LOG_WARNING, "the MTA does not offer to delete "
		    "recipients or add headers; messages typed by their "
		    "headers will get the on_error action");

	/* Steps this filter never uses, and the header steps when no type
	 * needs headers under the policy in force right now. */
	want_steps = SMFIP_NOHELO | SMFIP_NOBODY | SMFIP_NOUNKNOWN;
	if (!cm_policy_needs_headers(p) && !cm_fb_needs_headers(p) &&
	    !cm_unsub_wanted(p))	/* unsub.h: the sender's List-Unsubscribe */
		want_steps |= SMFIP_NOHDRS | SMFIP_NOEOH;
	else
		want_steps |= SMFIP_NR_HDR;
	/*
	 * With the decision log on, envelope-typed messages are accepted at
	 * end of headers instead of at DATA (the headers give their log
	 * records the Message-ID and campaign): DATA is not needed at all
	 * (its macros still come), or at least needs no reply, which keeps
	 * the round trips per message the same as without the log.  Not on
	 * a TCP socket: Postfix sends DATA all the same, and its headers
	 * after it wait (Nagle) for DATA's acknowledgement, which the
	 * filter's kernel, with no reply to carry it, delays by 40 ms: a
	 * message every 45 ms on a connection.  DATA's reply carries it at
	 * once; the headers then go out together before the end of headers.
	 */
	if (cm_fb_needs_headers(p) && !over_tcp)
		want_steps |= SMFIP_NODATA | SMFIP_NR_DATA;
	/* Connect can only ever answer CONTINUE under this policy (every
	 * client may log in, or mailto unsubscribes are watched): no round
	 * trip for it; a failure there is answered at MAIL (envelope.h). */
	if (!cm_env_connect_may_accept(p))
		want_steps |= SMFIP_NR_CONN;
	/* MAIL's answer given at the first RCPT (or, for a refusal of a
	 * non-SMTP submission, at DATA or the end of the message): no round
	 * trip for it (envelope.h); chosen by milter.mail_reply and, under
	 * auto, by the recent mail (mailmix.h) */
	if (cm_mailmix_nr_mail(cm_policy_mail_reply(p)))
		want_steps |= SMFIP_NR_MAIL;
	*pf1 = f1 & want_steps;
	c->neg.hdrs_off = (*pf1 & SMFIP_NOHDRS) != 0;
	c->neg.nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
	c->neg.nr_data = (*pf1 & (SMFIP_NODATA | SMFIP_NR_DATA)) != 0;
	c->neg.nr_conn = (*pf1 & SMFIP_NR_CONN) != 0;
	/* libmilter answers MAIL for the filter where the MTA does not
	 * offer SMFIP_NR_MAIL: the filter's side is what it asked for */
	c->neg.nr_mail = (want_steps & SMFIP_NR_MAIL) != 0;
	c->neg_known = true;
	*pf2 = 0;
	*pf3 = 0;

	if ((*pf0 & SMFIF_SETSYMLIST) != 0) {
		/* Only the macros used here (Postfix sends more by default). */
		(void)smfi_setsymlist(ctx, SMFIM_CONNECT,
		    "{daemon_name} {client_addr} {client_port}");
		(void)smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen}");
		(void)smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
		(void)smfi_setsymlist(ctx, SMFIM_DATA, "i");
		(void)smfi_setsymlist(ctx, SMFIM_EOH, "i");
		(void)smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
fi_abort(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);

	if (c != NULL) {
		cm_msg_reset(&c->msg);
		c->mail_held = false;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
fi_close(SMFICTX *ctx)
{
	struct cm_conn *c = smfi_getpriv(ctx);

	if (c != NULL) {
		(void)smfi_setpriv(ctx, NULL);
		cm_conn_close(ctx, c);
	}
	return SMFIS_CONTINUE;
}

void
cm_filter_shutdown(void)
{
	cm_conn_memo_drain();
}

int
cm_filter_register(bool tcp)
{
	struct smfiDesc desc;

	over_tcp = tcp;
	memset(&desc, 0, sizeof(desc));
	desc.xxfi_name = (char *)CM_FILTER_NAME;
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = SMFIF_DELRCPT | SMFIF_ADDHDRS | SMFIF_CHGHDRS |
	    SMFIF_ADDRCPT | SMFIF_SETSYMLIST;
	desc.xxfi_connect = cm_env_connect;
	desc.xxfi_envfrom = cm_env_from;
	desc.xxfi_envrcpt = cm_env_rcpt;
	desc.xxfi_header = cm_content_header;
	desc.xxfi_eoh = cm_content_eoh;
	desc.xxfi_eom = cm_content_eom;
	desc.xxfi_abort = fi_abort;
	desc.xxfi_close = fi_close;
	desc.xxfi_data = cm_env_data;
	desc.xxfi_negotiate = fi_negotiate;
	return smfi_register(desc) == MI_SUCCESS ? 0 : -1;
}
