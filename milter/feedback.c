/* feedback.c - decision log and DSNs of the daemon. */
#include "feedback.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../core/declog.h"
#include "../core/dsn.h"
#include "../core/dsnq.h"
#include "../core/timefmt.h"
#include "log.h"

#define VALUE_MAX 998
#define RECS_MAX 20000

static cm_declog *g_log;
static cm_dsnq *g_dsnq;
static char g_host[256];
static atomic_bool g_oom_logged;


struct fb_rcpt {
	bool no_dsn;		/* NOTIFY without FAILURE */
	char *orcpt;
	const char *reason;	/* set when removed (static) */
};

struct cm_fb_msg {
	const cm_policy *p;	/* valid until cm_fb_msg_end */
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

static void
declog_err(void *arg, cm_status st, int errnum, const char *what)
{
	(void)arg;
	if (errnum != 0)
		cm_log(LOG_ERR, "decision log: %s: %s (%s)", what,
		    cm_strerror((int)st), strerror(errnum));
	else
		cm_log(LOG_ERR, "decision log: %s", what);
}

static void
dsnq_log(void *arg, int level, const char *id, const char *text)
{
	(void)arg;
	cm_log(level == 0 ? LOG_INFO : level == 1 ? LOG_WARNING : LOG_ERR,
	    "dsn id=%s: %s", id, text);
}

static unsigned
ms_of(int64_t us)
{
	int64_t ms = us / 1000;

	return ms <= 0 ? 1 : ms > 86400000 * 7 ? 86400000u * 7 : (unsigned)ms;
}

int
cm_fb_start(const cm_policy *p)
{
	cm_status st;

	if (cm_policy_log_path(p) != NULL) {
		cm_declog_opts o = {
			.dir = cm_policy_log_path(p),
			.retention_days = cm_policy_log_retention_days(p),
			.hash_addresses = cm_policy_log_hash_recipients(p),
			.key_file = cm_policy_log_key_file(p),
			.subaddr_sep = cm_policy_addr_opts(p)->subaddr_sep,
			.errfn = declog_err,
		};

		st = cm_declog_open(&o, &g_log);
		if (st != CM_OK) {
			cm_log(LOG_ERR, "cannot open the decision log %s: %s",
			    o.dir, cm_strerror((int)st));
			return -1;
		}
	}
	if (cm_policy_dsn_reporting_mta(p) != NULL)
		snprintf(g_host, sizeof(g_host), "%s",
		    cm_policy_dsn_reporting_mta(p));
	else if (gethostname(g_host, sizeof(g_host) - 1) != 0 || !*g_host)
		snprintf(g_host, sizeof(g_host), "localhost");
	if (cm_policy_dsn_enabled(p)) {
		cm_dsnq_opts o = {
			.spool = cm_policy_dsn_spool(p),
			.target = cm_policy_dsn_target(p),
			.helo = g_host,
			.attempts = cm_policy_dsn_attempts(p),
			.first_delay_ms = ms_of(cm_policy_dsn_retry_delay(p)),
			.max_delay_ms = ms_of(cm_policy_dsn_max_delay(p)),
			.timeout_ms = ms_of(cm_policy_dsn_timeout(p)),
			.logfn = dsnq_log,
		};

		st = cm_dsnq_open(&o, &g_dsnq);
		if (st != CM_OK) {
			cm_log(LOG_ERR, "cannot open the DSN spool %s: %s",
			    o.spool, cm_strerror((int)st));
			cm_declog_close(g_log);
			g_log = NULL;
			return -1;
		}
	}
	return 0;
}

void
cm_fb_stop(void)
{
	if (g_log != NULL) {
		cm_declog_stats s;

		cm_declog_stats_get(g_log, &s);
		cm_declog_close(g_log);
		g_log = NULL;
		if (s.dropped > 0 || s.lost > 0)
			cm_log(LOG_WARNING, "decision log: %llu records dropped "
			    "(queue full), %llu lost (write errors)",
			    (unsigned long long)s.dropped,
			    (unsigned long long)s.lost);
	}
	cm_dsnq_close(g_dsnq);
	g_dsnq = NULL;
}

bool
cm_fb_needs_headers(const cm_policy *p)
{
	return g_log != NULL && cm_policy_log_path(p) != NULL;
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
	const char *envid;

	if (g_log == NULL && (g_dsnq == NULL || !cm_policy_dsn_enabled(p)))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		oom(NULL);
		return NULL;
	}
	f->p = p;
	f->log = g_log != NULL;
	f->dsn = g_dsnq != NULL && cm_policy_dsn_enabled(p);
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

	if (f == NULL || !f->dsn || g_dsnq == NULL || f->sender == NULL ||
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
			.host = g_host, .sender = f->sender, .type = type_id,
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
			st = cm_dsnq_submit(g_dsnq, f->sender, out, len,
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
	if (f->nrecs > 0 && g_log != NULL) {
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
		(void)cm_declog_add_many(g_log, &base, f->items, f->nrecs);
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
	free(f);
}
