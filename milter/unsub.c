/*
 * unsub.c - one-click unsubscribe headers (see unsub.h).
 */
#include "unsub.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "../config/links.h"
#include "../core/addr.h"
#include "../core/timefmt.h"
#include "../core/token.h"
#include "log.h"

#define HDR_LU "List-Unsubscribe"
#define HDR_LUP "List-Unsubscribe-Post"

/* The key ring, loaded on first use and again when its directory
 * changes (a key added or removed: `consentctl link new-key`). */
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static cm_token_ring *ring;
static char ring_dir[4096];
static struct timespec ring_mtime;

/* The ring of directory DIR, loaded again when the directory changed;
 * under ring_mu.  CM_OK or why not (logged). */
static cm_status
ring_use(const char *dir)
{
	struct stat st;
	cm_token_ring *r = NULL;
	const char *ep = NULL;
	cm_status rc;

	if (stat(dir, &st) != 0)
		return CM_NOTFOUND;
	if (ring != NULL && strcmp(dir, ring_dir) == 0 &&
	    st.st_mtim.tv_sec == ring_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == ring_mtime.tv_nsec)
		return CM_OK;
	if ((rc = cm_token_ring_load(dir, &r, &ep)) != CM_OK) {
		cm_log(LOG_ERR, "%s: cannot load the link keys: %s", ep,
		    cm_strerror(rc));
		return rc;
	}
	cm_token_ring_free(ring);
	ring = r;
	snprintf(ring_dir, sizeof ring_dir, "%s", dir);
	ring_mtime = st.st_mtim;
	return CM_OK;
}

/* Seal a token under ring_mu; CM_OK or why not. */
static cm_status
seal(const char *dir, const char *addr, const char *type, char *tok,
    size_t size)
{
	cm_status rc;

	pthread_mutex_lock(&ring_mu);
	if ((rc = ring_use(dir)) == CM_OK)
		rc = cm_token_seal(ring, CM_TOKEN_UNSUBSCRIBE, addr, type,
		    cm_time_now(), tok, size);
	pthread_mutex_unlock(&ring_mu);
	return rc;
}

cm_status
cm_unsub_open(const cm_policy *p, const char *text, size_t len,
    cm_token *out)
{
	const cm_links *l = cm_policy_links(p);
	char dir[4096];
	cm_status rc;

	if (!cm_links_key_dir(l, cm_policy_db_path(p), dir, sizeof dir)) {
		cm_log(LOG_ERR, "links.key_dir: path too long");
		return CM_EIO;
	}
	pthread_mutex_lock(&ring_mu);
	if ((rc = ring_use(dir)) != CM_OK) {
		if (rc == CM_NOTFOUND)
			cm_log(LOG_ERR, "%s: cannot load the link keys: %s", dir,
			    cm_strerror(rc));
		rc = CM_EIO;
	} else {
		rc = cm_token_open(ring, text, len, cm_time_now(), l->max_age,
		    out);
	}
	pthread_mutex_unlock(&ring_mu);
	return rc;
}

bool
cm_unsub_wanted(const cm_policy *p)
{
	return cm_links_enabled(cm_policy_links(p));
}

void
cm_unsub_eom(SMFICTX *ctx, const cm_unsub_msg *m)
{
	const cm_links *l = cm_policy_links(m->policy);
	char dir[4096], tok[CM_TOKEN_TEXT_MAX], url[1024];
	char value[2200], mailto[1024], q[80];
	const char *rcpt = NULL;
	size_t kept = 0;
	cm_status st;
	cm_addr a;

	if (!cm_links_enabled(l) || m->monitor)
		return;
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->deny == NULL || !m->deny[i]) {
			kept++;
			rcpt = m->rcpts[i];
		}
	if (m->incomplete)
		kept += 2;	/* several, whatever was kept */
	cm_log_clean(m->qid, q, sizeof q);
	if (kept != 1 || m->ntypes != 1) {
		if (kept > 1 || m->ntypes > 1)
			cm_log(LOG_INFO, "queue_id=%s type=%s: %zu recipients, "
			    "%zu types: no List-Unsubscribe link added (one "
			    "link per recipient and type only)", q, m->type,
			    kept, m->ntypes);
		return;
	}
	if (m->sender_hdrs > 0 && l->sender_header == CM_LINKS_KEEP) {
		cm_log(LOG_INFO, "queue_id=%s type=%s: the sender's "
		    "List-Unsubscribe kept (links.sender_header: keep)", q,
		    m->type);
		return;
	}
	if (!m->can_addhdr || (m->sender_hdrs > 0 && !m->can_chghdr)) {
		cm_log(LOG_WARNING, "queue_id=%s: cannot add List-Unsubscribe "
		    "(header changes not negotiated by the MTA)", q);
		return;
	}
	if ((st = cm_addr_normalize(rcpt, strlen(rcpt),
	    cm_policy_addr_opts(m->policy), &a)) != CM_OK)
		return;		/* decided before: cannot happen for a kept one */
	if (!cm_links_key_dir(l, cm_policy_db_path(m->policy), dir, sizeof dir) ||
	    (st = seal(dir, a.key, m->type, tok, sizeof tok)) != CM_OK) {
		cm_log(LOG_ERR, "queue_id=%s: no List-Unsubscribe link: %s", q,
		    cm_strerror(st));
		return;
	}
	if (!cm_links_url(l, CM_TOKEN_UNSUBSCRIBE, tok, url, sizeof url))
		return;
	/* the mailto form when links.mailto_domain is set: mail to it is
	 * captured by this filter (mailto.h) */
	if (cm_links_mailto(l, tok, mailto, sizeof mailto))
		snprintf(value, sizeof value, "<%s>, <%s>", url, mailto);
	else
		snprintf(value, sizeof value, "<%s>", url);
	/* the sender's own, replaced: delete them (last first) */
	for (int i = m->sender_hdrs; i >= 1; i--) {
		(void)smfi_chgheader(ctx, (char *)HDR_LU, i, NULL);
		(void)smfi_chgheader(ctx, (char *)HDR_LUP, i, NULL);
	}
	if (smfi_addheader(ctx, (char *)HDR_LU, value) != MI_SUCCESS ||
	    smfi_addheader(ctx, (char *)HDR_LUP,
	    (char *)"List-Unsubscribe=One-Click") != MI_SUCCESS) {
		cm_log(LOG_WARNING, "queue_id=%s: cannot add List-Unsubscribe",
		    q);
		return;
	}
	cm_log(LOG_INFO, "queue_id=%s type=%s: List-Unsubscribe added%s", q,
	    m->type, m->sender_hdrs > 0 ? " (the sender's replaced)" : "");
}
