/* feedback.c - decision log and DSNs of the daemon. */
#include "feedback.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/declog.h"
#include "../core/dsn.h"
#include "../core/dsnq.h"
#include "../core/timefmt.h"
#include "log.h"
#include "outlet.h"

#define VALUE_MAX 998
#define RECS_MAX 20000

static atomic_bool g_oom_logged;


struct fb_rcpt {
	bool no_dsn;		/* NOTIFY without FAILURE */
	char *orcpt;
	const char *reason;	/* set when removed (static) */
};

struct cm_fb_msg {
	const cm_policy *p;	/* valid until cm_fb_msg_end */
	cm_outlet *out;		/* log and DSN queue of the message */
	bool log, dsn;
	char *sender;
	char *envid;
	bool smtputf8;
	int64_t arrival;
	char *msgid, *campaign;
	/* all header fields, for the DSN */
	char **hn, **hv;
	size_t nh, hcap, hbytes;
	bool hfull;
	struct fb_rcpt *rc;
	size_t nrc;
	/* decisions: items[i].rcpt is set at the end, from rtext + roff[i]
	 * (rtext moves when it grows); verdict and reason are static */
	cm_declog_item *items;
	size_t *roff;
	size_t nrecs, rcap;
	char *rtext;
	size_t rlen, rtcap;
	bool oom;
};

int
cm_fb_start(const cm_policy *p)
{
	return cm_outlet_start(p);
}

void
cm_fb_stop(void)
{
	cm_outlet_stop();
}

bool
cm_fb_needs_headers(const cm_policy *p)
{
	/* the outlets in force follow the policy in force */
	return cm_policy_log_path(p) != NULL;
}

static void
oom(cm_fb_msg *f)
{
	if (f != NULL)
		f->oom = true;
	if (!atomic_exchange(&g_oom_logged, true))
		cm_log(LOG_ERR, "out of memory keeping decision log or DSN "
		    "data; some records or DSNs may be missing");
}

static char *
dup_bare(const char *s)
{
	size_t n = strlen(s);
	char *out;

	while (*s == ' ' || *s == '\t') {
		s++;
		n--;
	}
	if (n > VALUE_MAX)
		n = VALUE_MAX;
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

cm_fb_msg *
cm_fb_msg_new(const cm_policy *p, char **argv)
{
	cm_fb_msg *f;
	cm_outlet *out = cm_outlet_get();
	const char *envid;
	bool log = cm_outlet_log(out) != NULL;
	bool dsn = cm_outlet_dsnq(out) != NULL && cm_policy_dsn_enabled(p);

	if (!log && !dsn) {
		cm_outlet_put(out);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		cm_outlet_put(out);
		oom(NULL);
		return NULL;
	}
	f->p = p;
	f->out = out;
	f->log = log;
	f->dsn = dsn;
	f->arrival = cm_time_now();
	f->sender = dup_bare(argv != NULL && argv[0] != NULL ? argv[0] : "");
	if (f->sender == NULL)
		oom(f);
	if (argv != NULL && argv[0] != NULL) {
		for (char **a = argv + 1; *a != NULL; a++)
			if (strcasecmp(*a, "SMTPUTF8") == 0)
				f->smtputf8 = true;
		envid = cm_dsn_param((const char *const *)(argv + 1), "ENVID");
		if (envid != NULL && (f->envid = strndup(envid, 100)) == NULL)
			oom(f);
	}
	return f;
}

void
cm_fb_msg_header(cm_fb_msg *f, const char *name, const char *value)
{
	const char *ch;
	size_t len;

	if (f == NULL || name == NULL || value == NULL)
		return;
	if (f->msgid == NULL && strcasecmp(name, "Message-ID") == 0) {
		const char *v = value;	/* kept with its <> */

		while (*v == ' ' || *v == '\t')
			v++;
		if ((f->msgid = strndup(v, VALUE_MAX)) == NULL)
			oom(f);
	}
	ch = cm_policy_log_campaign_header(f->p);
	if (f->campaign == NULL && ch != NULL && strcasecmp(name, ch) == 0 &&
	    (f->campaign = dup_bare(value)) == NULL)
		oom(f);
	if (!f->dsn || f->hfull)
		return;
	len = strlen(name) + strlen(value) + 4;
	if (f->hbytes + len > CM_DSN_HEADERS_MAX) {
		f->hfull = true;
		return;
	}
	if (f->nh == f->hcap) {
		size_t nc = f->hcap ? f->hcap * 2 : 16;
		char **a = realloc(f->hn, nc * sizeof(*a)), **b;

		if (a == NULL) {
			oom(f);
			f->hfull = true;
			return;
		}
		f->hn = a;
		b = realloc(f->hv, nc * sizeof(*b));
		if (b == NULL) {
			oom(f);
			f->hfull = true;
			return;
		}
		f->hv = b;
		f->hcap = nc;
	}
	f->hn[f->nh] = strdup(name);
	f->hv[f->nh] = strdup(value);
	if (f->hn[f->nh] == NULL || f->hv[f->nh] == NULL) {
		free(f->hn[f->nh]);
		free(f->hv[f->nh]);
		oom(f);
		f->hfull = true;
		return;
	}
	f->nh++;
	f->hbytes += len;
}

static bool
rc_reserve(cm_fb_msg *f, size_t idx)
{
	struct fb_rcpt *n;
	size_t nn;

	if (idx < f->nrc)
		return true;
	if (idx >= 100000)
		return false;
	nn = idx + 1 < 16 ? 16 : (idx + 1) * 2;
	n = realloc(f->rc, nn * sizeof(*n));
	if (n == NULL) {
		oom(f);
		return false;
	}
	memset(n + f->nrc, 0, (nn - f->nrc) * sizeof(*n));
	f->rc = n;
	f->nrc = nn;
	return true;
}

void
cm_fb_msg_rcpt(cm_fb_msg *f, size_t idx, char **args)
{
	const char *orcpt;

	if (f == NULL || !f->dsn || !rc_reserve(f, idx))
		return;
	f->rc[idx].no_dsn = !cm_dsn_wants_failure((const char *const *)args);
	orcpt = cm_dsn_param((const char *const *)args, "ORCPT");
	if (orcpt != NULL &&
	    (f->rc[idx].orcpt = strndup(orcpt, VALUE_MAX)) == NULL)
		oom(f);
}

void
cm_fb_msg_deny(cm_fb_msg *f, size_t idx, const char *reason)
{
	if (f == NULL || !f->dsn || !rc_reserve(f, idx))
		return;
	f->rc[idx].reason = reason;
}

static cm_declog_action
action_of(const char *verdict, const char *action)
{
	if (action == NULL)
		return CM_DECLOG_ALLOWED;
	if (strcmp(action, "none") == 0)
		return strcmp(verdict, "allow") == 0 ? CM_DECLOG_ALLOWED :
		    CM_DECLOG_MONITORED;
	if (strcmp(action, "remove") == 0)
		return CM_DECLOG_REMOVED;
	if (strcmp(action, "reject") == 0)
		return CM_DECLOG_REFUSED;
	if (strcmp(action, "tempfail") == 0)
		return CM_DECLOG_TEMPFAILED;
	return CM_DECLOG_ALLOWED;	/* "accept" */
}

void
cm_fb_decision(cm_fb_msg *f, const char *rcpt, const char *verdict,
    const char *reason, const char *action)
{
	size_t len;

	if (f == NULL || !f->log)
		return;
	if (f->nrecs >= RECS_MAX)
		return;
	if (f->nrecs == f->rcap) {
		size_t nc = f->rcap ? f->rcap * 2 : 16;
		cm_declog_item *n = realloc(f->items, nc * sizeof(*n));
		size_t *o;

		if (n == NULL) {
			oom(f);
			return;
		}
		f->items = n;
		o = realloc(f->roff, nc * sizeof(*o));
		if (o == NULL) {
			oom(f);
			return;
		}
		f->roff = o;
		f->rcap = nc;
	}
	/* the recipients' text, one growing buffer per message */
	if (rcpt == NULL)
		rcpt = "";
	len = strlen(rcpt) + 1;
	if (f->rlen + len > f->rtcap) {
		size_t nc = f->rtcap ? f->rtcap : 512;
		char *n;

		while (nc < f->rlen + len)
			nc *= 2;
		n = realloc(f->rtext, nc);
		if (n == NULL) {
			oom(f);
			return;
		}
		f->rtext = n;
		f->rtcap = nc;
	}
	memcpy(f->rtext + f->rlen, rcpt, len);
	f->roff[f->nrecs] = f->rlen;
	f->rlen += len;
	f->items[f->nrecs] = (cm_declog_item){
		.time_us = cm_time_now(),
		.verdict = verdict,
		.reason = reason,
		.action = action_of(verdict, action),
	};
	f->nrecs++;
}

void
cm_fb_dsn(cm_fb_msg *f, const char *type_id, const char *type_name,
    const char *qid, char *const *rcpts, size_t n)
{
	cm_dsn_rcpt *dr;
	size_t k = 0;
	char *out = NULL, id[CM_DSNQ_ID_MAX];
	size_t len = 0;
	cm_status st;

	if (f == NULL || !f->dsn || f->sender == NULL ||
	    f->sender[0] == '\0' || n == 0)
		return;
	dr = calloc(n, sizeof(*dr));
	if (dr == NULL) {
		oom(f);
		return;
	}
	for (size_t i = 0; i < n && i < f->nrc; i++) {
		if (f->rc[i].reason == NULL || f->rc[i].no_dsn)
			continue;
		dr[k].rcpt = rcpts[i];
		dr[k].orcpt = f->rc[i].orcpt;
		dr[k].reason = f->rc[i].reason;
		k++;
	}
	if (k > 0) {
		cm_dsn_msg m = {
			.host = cm_outlet_host(f->out), .sender = f->sender, .type = type_id,
			.name = type_name, .queue_id = qid, .envid = f->envid,
			.arrival_us = f->arrival, .smtputf8 = f->smtputf8,
			.nhdrs = f->nh,
			.hnames = (const char *const *)f->hn,
			.hvalues = (const char *const *)f->hv,
			.nrcpts = k, .rcpts = dr,
			.text = cm_policy_tmpl_dsn_text(f->p),
			.rcpt_line = cm_policy_tmpl_dsn_rcpt(f->p),
			.diag = cm_policy_tmpl_reply(f->p),
		};
		char q[80];

		st = cm_dsn_compose(&m, &out, &len);
		if (st == CM_OK)
			st = cm_dsnq_submit(cm_outlet_dsnq(f->out), f->sender, out, len,
			    f->smtputf8, id);
		if (st == CM_OK)
			cm_log(LOG_INFO, "queue_id=%s: dsn id=%s queued for %zu "
			    "removed recipient%s", cm_log_clean(qid, q,
			    sizeof(q)), id, k, k == 1 ? "" : "s");
		else
			cm_log(LOG_ERR, "queue_id=%s: cannot queue the DSN: %s",
			    cm_log_clean(qid, q, sizeof(q)),
			    cm_strerror((int)st));
		free(out);
	}
	free(dr);
}

void
cm_fb_msg_end(cm_fb_msg *f, const char *qid, const char *type_id)
{
	if (f == NULL)
		return;
	if (f->nrecs > 0 && f->log) {
		cm_declog_rec base = {
			.queue_id = qid != NULL && *qid ? qid : NULL,
			.message_id = f->msgid,
			.sender = f->sender,
			.type = type_id,
			.campaign = f->campaign,
		};

		for (size_t i = 0; i < f->nrecs; i++)
			f->items[i].rcpt = f->rtext + f->roff[i];
		/* drops are counted by the log */
		(void)cm_declog_add_many(cm_outlet_log(f->out), &base, f->items, f->nrecs);
	}
	free(f->items);
	free(f->roff);
	free(f->rtext);
	for (size_t i = 0; i < f->nh; i++) {
		free(f->hn[i]);
		free(f->hv[i]);
	}
	free(f->hn);
	free(f->hv);
	for (size_t i = 0; i < f->nrc; i++)
		free(f->rc[i].orcpt);
	free(f->rc);
	free(f->sender);
	free(f->envid);
	free(f->msgid);
	free(f->campaign);
	cm_outlet_put(f->out);
	free(f);
}
