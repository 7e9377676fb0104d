/*
 * handler.c - the requests of consent-web (see handler.h).
 */
#include "handler.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/index.h"
#include "../core/timefmt.h"
#include "request.h"
#include "writer.h"

static const web_conf *conf;

/*
 * The key ring in use.  `consentctl link new-key` adds a key that the
 * milter signs with at once; a token under a key id this ring lacks
 * makes the ring be read again (at most once a second), so one-click
 * links of new mail keep working without a restart.  A ring replaced is
 * kept until exit (another thread may still use it); one is kept only
 * when its newest key is new, so at most one a rotation.
 */
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static const cm_token_ring *ring_now;
static int64_t ring_tried_us;
static cm_token_ring *ring_loaded[256];	/* freed by web_handler_fini */
static size_t ring_nloaded;

const cm_token_ring *
web_ring(void)
{
	const cm_token_ring *r;

	pthread_mutex_lock(&ring_mu);
	r = ring_now != NULL ? ring_now : conf->ring;
	pthread_mutex_unlock(&ring_mu);
	return r;
}

/* Read the ring again if it was not tried in the last second; the ring
 * to try now (the same one if nothing new could be loaded). */
const cm_token_ring *
web_ring_reload(const cm_token_ring *old)
{
	cm_token_ring *fresh = NULL;
	const char *ep = NULL;
	int64_t now = cm_time_now();
	const cm_token_ring *r;

	pthread_mutex_lock(&ring_mu);
	r = ring_now != NULL ? ring_now : conf->ring;
	if (r == old && conf->key_dir != NULL &&
	    now - ring_tried_us >= 1000000) {
		ring_tried_us = now;
		if (ring_nloaded < sizeof(ring_loaded) / sizeof(ring_loaded[0])
		    && cm_token_ring_load(conf->key_dir, &fresh, &ep) == CM_OK) {
			unsigned now_id = 0, fresh_id = 0;

			/* kept only when a key was added (ids only grow), so
			 * tokens of unknown ids cannot use up the slots */
			(void)cm_token_ring_current(r, &now_id);
			(void)cm_token_ring_current(fresh, &fresh_id);
			if (fresh_id != now_id)
				r = ring_now = ring_loaded[ring_nloaded++] =
				    fresh;
			else
				cm_token_ring_free(fresh);
		} else if (conf->verbose)
			fprintf(stderr, "consent-web: %s: cannot reload the "
			    "link keys\n", ep != NULL ? ep : conf->key_dir);
	}
	pthread_mutex_unlock(&ring_mu);
	return r;
}

typedef struct req {
	unsigned nhdr;
	size_t len;
	bool too_big;
	char body[WEB_BODY_MAX + 1];
} req;

void
web_handler_init(const web_conf *c)
{
	conf = c;
}

void
web_handler_fini(void)
{
	pthread_mutex_lock(&ring_mu);
	for (size_t i = 0; i < ring_nloaded; i++)
		cm_token_ring_free(ring_loaded[i]);
	ring_nloaded = 0;
	ring_now = NULL;
	pthread_mutex_unlock(&ring_mu);
}

/* ---- pages ------------------------------------------------------------ */

static const char page_head[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
    "<meta name=\"robots\" content=\"noindex\">"
    "<meta name=\"viewport\" content=\"width=device-width\">"
    "<title>%s</title></head>\n<body>\n<h1>%s</h1>\n<p>%s</p>\n";

static enum MHD_Result
page(struct MHD_Connection *conn, unsigned status, const char *title,
    const char *text, const char *form)
{
	char buf[2048];
	struct MHD_Response *r;
	enum MHD_Result ret;
	int n;

	n = snprintf(buf, sizeof buf, page_head, title, title, text);
	if (n < 0 || (size_t)n >= sizeof buf)
		return MHD_NO;
	if (form) {
		int m = snprintf(buf + n, sizeof buf - (size_t)n, "%s", form);
		if (m < 0 || (size_t)m >= sizeof buf - (size_t)n)
			return MHD_NO;
		n += m;
	}
	if ((size_t)n + 16 >= sizeof buf)
		return MHD_NO;
	strcpy(buf + n, "</body></html>\n");
	r = MHD_create_response_from_buffer(strlen(buf), buf,
	    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'none'; form-action 'self'");
	if (status == 503)
		MHD_add_response_header(r, "Retry-After", "60");
	if (status == 405)
		MHD_add_response_header(r, "Allow", "GET, HEAD, POST");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
bad_token(struct MHD_Connection *conn, cm_status st)
{
	switch (st) {
	case CM_ESTALE:
		return page(conn, 410, "Link expired", "This link has expired. "
		    "Please use the link in a recent message.", NULL);
	case CM_NOTFOUND:
		return page(conn, 404, "Link no longer valid", "This link is "
		    "no longer valid. Please use the link in a recent "
		    "message.", NULL);
	default:
		return page(conn, 400, "Invalid link", "This link is not "
		    "valid. Please check that it was copied completely.", NULL);
	}
}

/* ---- recording -------------------------------------------------------- */

/* Record T's withdrawal or confirmation (writer.h: group commit). */
static web_outcome
record(struct MHD_Connection *conn, const cm_token *t)
{
	char evidence[CM_FIELD_MAX];
	cm_event ev = { 0 };
	web_outcome out;

	web_req_evidence(t, conf->client_header ?
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    conf->client_header) : NULL,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_USER_AGENT), evidence, sizeof evidence);
	ev.kind = t->purpose == CM_TOKEN_CONFIRM ? CM_EV_CONFIRM :
	    CM_EV_WITHDRAW;
	ev.addr = t->addr;
	ev.type = t->type;
	ev.source = "one-click";
	ev.evidence = evidence;
	ev.actor = "consent-web";
	out = web_writer_submit(&ev);
	if (out == WEB_DONE && conf->verbose)
		fprintf(stderr, "consent-web: %s recorded for type %s (%s)\n",
		    t->purpose == CM_TOKEN_CONFIRM ? "confirmation" :
		    "withdrawal", t->type, evidence);
	return out;
}

/* ---- requests --------------------------------------------------------- */

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *k,
    const char *v)
{
	(void)kind; (void)k; (void)v;
	++*(unsigned *)cls;
	return MHD_YES;
}

static const char u_form[] =
    "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
    "value=\"One-Click\"><button type=\"submit\">Unsubscribe</button>"
    "</form>\n";
static const char c_form[] =
    "<form method=\"post\"><input type=\"hidden\" name=\"confirm\" "
    "value=\"yes\"><button type=\"submit\">Confirm</button></form>\n";

enum MHD_Result
web_handle(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	cm_token_purpose purpose = CM_TOKEN_UNSUBSCRIBE;
	req *r = *req_cls;
	web_req in;
	cm_token t;
	cm_status st;
	web_outcome o;

	(void)cls; (void)version;
	if (r == NULL) {
		/* first call: headers only */
		if (!(r = calloc(1, sizeof *r)))
			return MHD_NO;
		*req_cls = r;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header,
		    &r->nhdr);
		if (post && r->nhdr <= WEB_HEADERS_MAX)
			return MHD_YES;
		goto respond;
	}
	if (post && *upload_size != 0) {
		if (r->len + *upload_size > WEB_BODY_MAX)
			r->too_big = true;
		else {
			memcpy(r->body + r->len, upload, *upload_size);
			r->len += *upload_size;
			r->body[r->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
respond:
	in.method = method;
	in.url = url;
	in.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	in.body = r->body;
	in.len = r->len;
	in.too_big = r->too_big;
	in.nheaders = r->nhdr;
	switch (web_req_decide(&in, web_ring(), web_ring_reload, cm_time_now(),
	    conf->max_age_us, &purpose, &t, &st)) {
	case WEB_V_HEADERS:
		return page(conn, 431, "Too many header fields",
		    "The request has too many header fields.", NULL);
	case WEB_V_METHOD:
		return page(conn, 405, "Method not allowed", "Use GET or POST.",
		    NULL);
	case WEB_V_NOTFOUND:
		return page(conn, 404, "Not found", "There is nothing here.",
		    NULL);
	case WEB_V_TOKEN:
		return bad_token(conn, st);
	case WEB_V_PAGE:
		return purpose == CM_TOKEN_CONFIRM ?
		    page(conn, 200, "Confirm your subscription", "Please "
		    "confirm that you want to receive this newsletter.", c_form) :
		    page(conn, 200, "Unsubscribe", "Do you want to stop "
		    "receiving this newsletter?", u_form);
	case WEB_V_TOOBIG:
		return page(conn, 413, "Request too large", "The request is "
		    "too large.", NULL);
	case WEB_V_BODY:
		return page(conn, 400, "Bad request", purpose ==
		    CM_TOKEN_CONFIRM ? "Expected confirm=yes." :
		    "Expected List-Unsubscribe=One-Click.", NULL);
	case WEB_V_RECORD:
		break;
	}
	o = record(conn, &t);
	switch (o) {
	case WEB_DONE:
	case WEB_ALREADY:
		return purpose == CM_TOKEN_CONFIRM ?
		    page(conn, 200, "Subscription confirmed", "Thank you: your "
		    "subscription is confirmed.", NULL) :
		    page(conn, 200, "Unsubscribed", "You will not receive this "
		    "newsletter any more.", NULL);
	case WEB_NOTHING:
		return page(conn, 409, "Nothing to confirm", "There is no "
		    "subscription waiting for confirmation.", NULL);
	case WEB_BUSY:
	case WEB_FAILED:
		break;
	}
	return page(conn, 503, "Please try again later", "Your request could "
	    "not be recorded now. Please try again later.", NULL);
}

void
web_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void)cls; (void)conn; (void)toe;
	free(*req_cls);
	*req_cls = NULL;
}
