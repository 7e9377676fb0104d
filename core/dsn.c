/* dsn.c - compose RFC 3464 / RFC 6533 delivery status notifications. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "dsn.h"
#include "util.h"
#include "timefmt.h"

#define WRAP 76

struct sb {
	char *p;
	size_t len, cap;
	bool nomem;
};

static void
sb_grow(struct sb *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->nomem || b->len + n + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	np = realloc(b->p, cap);
	if (np == NULL) {
		b->nomem = true;
		return;
	}
	b->p = np;
	b->cap = cap;
}

static void
sb_add(struct sb *b, const char *s, size_t n)
{
	sb_grow(b, n);
	if (b->nomem)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	char small[256];

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->nomem = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		sb_add(b, small, (size_t)n);
		return;
	}
	sb_grow(b, (size_t)n);
	if (b->nomem)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/*
 * Append an address or other value: without surrounding <>, controls and
 * white space dropped (an address has none outside quotes; this keeps a
 * DSN field on one line), non-ASCII kept only when UTF8 and well formed,
 * else '?'.  At most 512 octets.
 */
static void
put_value(struct sb *b, const char *v, bool utf8, bool strip_brackets)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t len = strlen(v), i = 0;

	if (strip_brackets && len >= 2 && p[0] == '<' && p[len - 1] == '>') {
		p++;
		len -= 2;
	}
	if (len > 512)
		len = 512;
	while (i < len) {
		size_t k = cm_utf8_len(p + i, len - i);

		if (p[i] < 0x20 || p[i] == 0x7f) {
			i++;
			continue;
		}
		if (k > 1 && utf8) {
			sb_add(b, (const char *)p + i, k);
			i += k;
		} else if (k == 1) {
			sb_add(b, (const char *)p + i, 1);
			i++;
		} else {
			sb_add(b, "?", 1);
			i += k ? k : 1;
		}
	}
}

static bool
is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode xtext (RFC 3461: "+XX") into a malloc'd string, NULL on error. */
static char *
xtext_decode(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			int c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);

			out[o++] = c == 0 ? '?' : (char)c;
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

static void
rfc5322_date(int64_t us, char *buf, size_t size)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, size, "Thu, 1 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(buf, size, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[32];
	size_t got = 0;

	if (nbytes > sizeof(r))
		nbytes = sizeof(r);
	while (got < nbytes) {
		ssize_t n = getrandom(r + got, nbytes - got, 0);

		if (n <= 0) {
			/* fall back to a clock-based value; uniqueness only */
			uint64_t v = (uint64_t)cm_time_now() ^ ((uint64_t)got << 40);

			for (; got < nbytes; got++, v = v * 6364136223846793005ULL +
			    1442695040888963407ULL)
				r[got] = (unsigned char)(v >> 56);
			break;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

/* Append TEXT (one paragraph) wrapped at WRAP columns, CRLF line ends. */
static void
put_wrapped(struct sb *b, const char *text)
{
	const char *p = text;

	while (*p) {
		const char *line = p, *brk = NULL, *q = p;
		size_t col = 0;

		while (*q && col < WRAP) {
			if (*q == ' ')
				brk = q;
			if (((unsigned char)*q & 0xc0) != 0x80)
				col++;
			q++;
		}
		if (*q == '\0' || brk == NULL) {
			/* rest fits, or one long word: cut at WRAP or end */
			while (*q && ((unsigned char)*q & 0xc0) == 0x80)
				q++;
			sb_add(b, line, (size_t)(q - line));
			p = q;
		} else {
			sb_add(b, line, (size_t)(brk - line));
			p = brk + 1;
		}
		sb_puts(b, "\r\n");
	}
}

/*
 * Append one original header field, re-folded: every CR/LF run inside
 * the value starts a new line that begins with white space.
 */
static void
put_header(struct sb *b, const char *name, const char *value)
{
	const char *p;

	put_value(b, name, false, false);
	sb_puts(b, ":");
	if (*value != ' ' && *value != '\t' && *value != '\r' && *value != '\n')
		sb_puts(b, " ");
	for (p = value; *p;) {
		if (*p == '\r' || *p == '\n') {
			while (*p == '\r' || *p == '\n')
				p++;
			sb_puts(b, "\r\n");
			if (*p != ' ' && *p != '\t')
				sb_puts(b, "\t");
			continue;
		}
		if ((unsigned char)*p < 0x20 && *p != '\t')
			sb_add(b, " ", 1);
		else
			sb_add(b, p, 1);
		p++;
	}
	sb_puts(b, "\r\n");
}

static cm_status
expand(const cm_tmpl *t, const char *deflt, const char *const *vals,
    unsigned flags, char *buf, size_t size)
{
	cm_tmpl *own = NULL;
	cm_status st;

	if (t == NULL) {
		st = cm_tmpl_compile(deflt, &own, NULL);
		if (st != CM_OK)
			return st;
		t = own;
	}
	cm_tmpl_expand(t, vals, flags, buf, size, NULL);
	cm_tmpl_free(own);
	return CM_OK;
}

/* Strip <> from an address for %{rcpt}/%{sender} (into BUF). */
static const char *
bare(const char *a, char *buf, size_t size)
{
	size_t n = strlen(a);

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		if (n - 2 >= size)
			n = size + 1;
		memcpy(buf, a + 1, n - 2);
		buf[n - 2] = '\0';
		return buf;
	}
	return a;
}

static bool
headers_contain(const cm_dsn_msg *m, const char *needle)
{
	for (size_t i = 0; i < m->nhdrs; i++)
		if ((m->hnames[i] && strstr(m->hnames[i], needle)) ||
		    (m->hvalues[i] && strstr(m->hvalues[i], needle)))
			return true;
	return false;
}

cm_status
cm_dsn_compose(const cm_dsn_msg *m, char **out, size_t *len)
{
	struct sb b = { 0 };
	const char *host, *name, *dsn_type, *hdr_type, *charset;
	const char *vals[CM_TMPL_NVARS] = { 0 };
	char date[64], arrival[64], rnd[40], boundary[64], line[1024];
	char sbare[600], rbare[600];
	unsigned tflags;
	bool utf8 = m != NULL && m->smtputf8;
	cm_status st;
	int64_t now;

	if (m == NULL || out == NULL || len == NULL || m->sender == NULL ||
	    m->nrcpts == 0 || m->rcpts == NULL ||
	    (m->nhdrs > 0 && (m->hnames == NULL || m->hvalues == NULL)))
		return CM_EINVAL;
	if (*bare(m->sender, sbare, sizeof(sbare)) == '\0')
		return CM_EINVAL;	/* never for the null sender */
	host = m->host && *m->host ? m->host : "localhost";
	name = m->name && *m->name ? m->name : (m->type ? m->type : "");
	now = m->now_us ? m->now_us : cm_time_now();
	rfc5322_date(now, date, sizeof(date));
	rfc5322_date(m->arrival_us ? m->arrival_us : now, arrival,
	    sizeof(arrival));
	tflags = utf8 ? 0 : CM_TMPL_ASCII;
	dsn_type = utf8 ? "message/global-delivery-status" :
	    "message/delivery-status";
	hdr_type = utf8 ? "message/global-headers" : "text/rfc822-headers";
	charset = utf8 ? "utf-8" : "us-ascii";
	for (int tries = 0;; tries++) {
		random_hex(rnd, 12);
		snprintf(boundary, sizeof(boundary), "=_cm-%s", rnd);
		if (!headers_contain(m, boundary) || tries > 8)
			break;
	}

	vals[CM_TMPL_SENDER] = bare(m->sender, sbare, sizeof(sbare));
	vals[CM_TMPL_TYPE] = m->type;
	vals[CM_TMPL_NAME] = name;
	vals[CM_TMPL_QUEUE_ID] = m->queue_id;
	vals[CM_TMPL_HOST] = host;

	/* message header */
	sb_puts(&b, "From: Mail Delivery System <MAILER-DAEMON@");
	put_value(&b, host, false, false);
	sb_puts(&b, ">\r\nTo: <");
	put_value(&b, m->sender, utf8, true);
	sb_puts(&b, ">\r\nSubject: Undelivered Mail: no consent for newsletter \"");
	put_value(&b, m->type ? m->type : "", false, false);
	sb_printf(&b, "\"\r\nDate: %s\r\n", date);
	random_hex(rnd, 10);
	sb_printf(&b, "Message-ID: <%lld.%s@", (long long)(now / 1000000), rnd);
	put_value(&b, host, false, false);
	sb_puts(&b, ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	sb_printf(&b, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", boundary);
	sb_puts(&b, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* 1. human-readable text */
	sb_printf(&b, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=%s\r\n%s\r\n", boundary, charset,
	    utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	st = expand(m->text, CM_TMPL_DEFAULT_DSN_TEXT, vals, tflags, line,
	    sizeof(line));
	if (st != CM_OK)
		goto fail;
	put_wrapped(&b, line);
	sb_puts(&b, "\r\n");
	for (size_t i = 0; i < m->nrcpts; i++) {
		const cm_dsn_rcpt *r = &m->rcpts[i];

		vals[CM_TMPL_RCPT] = r->rcpt ? bare(r->rcpt, rbare,
		    sizeof(rbare)) : "";
		vals[CM_TMPL_REASON] = r->reason;
		st = expand(m->rcpt_line, CM_TMPL_DEFAULT_DSN_RCPT, vals, tflags,
		    line, sizeof(line));
		if (st != CM_OK)
			goto fail;
		sb_puts(&b, "  ");
		sb_puts(&b, line);
		sb_puts(&b, "\r\n");
	}
	sb_puts(&b, "\r\n");

	/* 2. delivery status */
	sb_printf(&b, "--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: %s\r\n%s\r\n", boundary, dsn_type,
	    utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	sb_puts(&b, "Reporting-MTA: dns; ");
	put_value(&b, host, false, false);
	sb_puts(&b, "\r\n");
	if (m->queue_id != NULL && *m->queue_id) {
		sb_puts(&b, "X-Queue-ID: ");
		put_value(&b, m->queue_id, false, false);
		sb_puts(&b, "\r\n");
	}
	if (m->envid != NULL && *m->envid) {
		char *e = xtext_decode(m->envid);

		if (e == NULL)
			goto nomem;
		sb_puts(&b, "Original-Envelope-Id: ");
		put_value(&b, e, utf8, false);
		sb_puts(&b, "\r\n");
		free(e);
	}
	sb_printf(&b, "Arrival-Date: %s\r\n", arrival);
	for (size_t i = 0; i < m->nrcpts; i++) {
		const cm_dsn_rcpt *r = &m->rcpts[i];
		const char *rc = r->rcpt ? r->rcpt : "";
		const char *addrtype;

		sb_puts(&b, "\r\n");
		if (r->orcpt != NULL && strncasecmp(r->orcpt, "rfc822;", 7) == 0) {
			char *o = xtext_decode(r->orcpt + 7);

			if (o == NULL)
				goto nomem;
			addrtype = utf8 && !is_ascii(o) ? "utf-8" : "rfc822";
			sb_printf(&b, "Original-Recipient: %s;", addrtype);
			put_value(&b, o, utf8, true);
			free(o);
		} else {
			addrtype = utf8 && !is_ascii(rc) ? "utf-8" : "rfc822";
			sb_printf(&b, "Original-Recipient: %s;", addrtype);
			put_value(&b, rc, utf8, true);
		}
		addrtype = utf8 && !is_ascii(rc) ? "utf-8" : "rfc822";
		sb_printf(&b, "\r\nFinal-Recipient: %s;", addrtype);
		put_value(&b, rc, utf8, true);
		sb_puts(&b, "\r\nAction: failed\r\nStatus: 5.7.1\r\n");
		vals[CM_TMPL_RCPT] = bare(rc, rbare, sizeof(rbare));
		vals[CM_TMPL_REASON] = r->reason;
		st = expand(m->diag, CM_TMPL_DEFAULT_REPLY, vals, tflags, line,
		    sizeof(line));
		if (st != CM_OK)
			goto fail;
		sb_puts(&b, "Diagnostic-Code: smtp; 550 5.7.1 ");
		sb_puts(&b, line);
		sb_puts(&b, "\r\n");
	}
	sb_puts(&b, "\r\n");

	/* 3. original headers */
	sb_printf(&b, "--%s\r\nContent-Description: Undelivered Message Headers"
	    "\r\nContent-Type: %s\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
	    boundary, hdr_type);
	{
		size_t start = b.len;

		for (size_t i = 0; i < m->nhdrs; i++) {
			size_t before = b.len;

			if (m->hnames[i] == NULL || m->hvalues[i] == NULL)
				continue;
			put_header(&b, m->hnames[i], m->hvalues[i]);
			if (!b.nomem && b.len - start > CM_DSN_HEADERS_MAX) {
				b.len = before;	/* whole fields only */
				b.p[b.len] = '\0';
				break;
			}
		}
	}
	sb_printf(&b, "\r\n--%s--\r\n", boundary);
	if (b.nomem)
		goto nomem;
	*out = b.p;
	*len = b.len;
	return CM_OK;
nomem:
	st = CM_ENOMEM;
fail:
	free(b.p);
	return st;
}

const char *
cm_dsn_param(const char *const *args, const char *name)
{
	size_t n = strlen(name);

	if (args == NULL)
		return NULL;
	for (; *args != NULL; args++)
		if (strncasecmp(*args, name, n) == 0 && (*args)[n] == '=')
			return *args + n + 1;
	return NULL;
}

bool
cm_dsn_wants_failure(const char *const *args)
{
	const char *v = cm_dsn_param(args, "NOTIFY");

	if (v == NULL)
		return true;	/* default: failures are reported */
	while (*v) {
		size_t n = strcspn(v, ",");

		if (n == 7 && strncasecmp(v, "FAILURE", 7) == 0)
			return true;
		v += n;
		if (*v == ',')
			v++;
	}
	return false;	/* NEVER, or SUCCESS/DELAY without FAILURE */
}
