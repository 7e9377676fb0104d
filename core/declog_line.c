/* declog_line.c - the decision log's names, files, keyed hashes and
 * lines read back (declog_line.h, declog.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "declog_line.h"
#include "json.h"
#include "keyfile.h"
#include "timefmt.h"

#define KEY_MIN 16

/* ---------------------------------------------------------------- names */

static const char *const action_names[] = {
	[CM_DECLOG_REFUSED] = "refused",
	[CM_DECLOG_REMOVED] = "removed",
	[CM_DECLOG_MONITORED] = "monitored",
	[CM_DECLOG_ALLOWED] = "allowed",
	[CM_DECLOG_TEMPFAILED] = "tempfailed",
};
#define NACTIONS (sizeof(action_names) / sizeof(action_names[0]))

const char *
cm_declog_action_name(cm_declog_action a)
{
	if ((int)a <= 0 || (size_t)a >= NACTIONS)
		return "unknown";
	return action_names[a];
}

cm_status
cm_declog_action_parse(const char *s, cm_declog_action *out)
{
	if (s == NULL)
		return CM_EINVAL;
	for (size_t i = 1; i < NACTIONS; i++)
		if (strcmp(action_names[i], s) == 0) {
			*out = (cm_declog_action)i;
			return CM_OK;
		}
	return CM_EINVAL;
}


/* ---------------------------------------------------------------- JSON */

size_t
cm_declog_json_string(const char *s, size_t len, char *buf, size_t size)
{
	if (len > CM_DECLOG_FIELD_MAX)
		len = CM_DECLOG_FIELD_MAX;
	return cm_json_quote(s, len, buf, size);
}

/* ---------------------------------------------------------------- keys */

cm_status
cm_declog_key_load(const char *key_file, bool create, unsigned char *key,
    size_t key_max, size_t *key_len)
{
	return cm_keyfile_load(key_file, create, KEY_MIN, key, key_max,
	    key_len);
}

cm_status
cm_declog_hash(const unsigned char *key, size_t key_len, const char *s,
    size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t plen = sizeof(CM_DECLOG_HASH_PREFIX) - 1;

	if (key == NULL || key_len == 0 || key_len > INT_MAX ||
	    (s == NULL && len > 0) || out == NULL)
		return CM_EINVAL;
	if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)s,
	    len, md, &mdlen) == NULL || mdlen != 32)
		return CM_ENOMEM;
	memcpy(out, CM_DECLOG_HASH_PREFIX, plen);
	for (unsigned i = 0; i < mdlen; i++) {
		out[plen + 2 * i] = hex[md[i] >> 4];
		out[plen + 2 * i + 1] = hex[md[i] & 15];
	}
	out[plen + 64] = '\0';
	return CM_OK;
}

/* ---------------------------------------------------------------- files */

void
cm_declog_line_day_name(int64_t day, char *out, size_t size)
{
	int64_t y;
	int m, d;

	cm_time_civil_from_days(day, &y, &m, &d);
	snprintf(out, size, CM_DECLOG_LINE_NAME_PREFIX "%04lld-%02d-%02d"
	    CM_DECLOG_LINE_NAME_SUFFIX, (long long)y, m, d);
}

/* N decimal digits at S into *OUT; -1 if one is not a digit. */
static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int64_t
cm_declog_line_name_day(const char *name)
{
	const size_t plen = sizeof(CM_DECLOG_LINE_NAME_PREFIX) - 1;
	const size_t slen = sizeof(CM_DECLOG_LINE_NAME_SUFFIX) - 1;
	const char *p = name + plen;
	int y, m, d;

	if (strlen(name) != CM_DECLOG_LINE_NAME_LEN ||
	    strncmp(name, CM_DECLOG_LINE_NAME_PREFIX, plen) != 0 ||
	    strcmp(name + CM_DECLOG_LINE_NAME_LEN - slen,
	    CM_DECLOG_LINE_NAME_SUFFIX) != 0)
		return -1;
	if (p[4] != '-' || p[7] != '-' || digits(p, 4, &y) ||
	    digits(p + 5, 2, &m) || digits(p + 8, 2, &d) || m < 1 || m > 12 ||
	    d < 1 || d > 31 || y < 1970)
		return -1;
	return cm_time_days_from_civil(y, m, d);
}

/* ---------------------------------------------------------------- lines */

/* The JSON string at *PP decoded in place (json.h); NULL if invalid. */
static char *
jstring(char **pp, const char *end)
{
	const char *p = *pp;
	char *out = *pp + 1;

	if (cm_json_unquote(&p, end, out, NULL, NULL) != CM_OK)
		return NULL;
	*pp = (char *)p;
	return out;
}

static char *
skip_ws(char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/* Parse one line into REC; 0 or -1. */
int
cm_declog_line_parse(char *p, cm_declog_rec *rec)
{
	const char *time_s = NULL, *action_s = NULL, *end = p + strlen(p);

	memset(rec, 0, sizeof(*rec));
	p = skip_ws(p);
	if (*p++ != '{')
		return -1;
	p = skip_ws(p);
	if (*p == '}')
		return -1;
	for (;;) {
		char *key, *val = NULL;

		p = skip_ws(p);
		if ((key = jstring(&p, end)) == NULL)
			return -1;
		p = skip_ws(p);
		if (*p++ != ':')
			return -1;
		p = skip_ws(p);
		if (*p == '"') {
			if ((val = jstring(&p, end)) == NULL)
				return -1;
		} else if (strncmp(p, "null", 4) == 0) {
			p += 4;
		} else {
			/* numbers and literals of unknown fields */
			char *s = p;

			while (*p && *p != ',' && *p != '}' && *p != ' ')
				p++;
			if (p == s)
				return -1;
			for (char *q = s; q < p; q++)
				if (!strchr("0123456789+-.eEtruefals", *q))
					return -1;
		}
		if (strcmp(key, "time") == 0) time_s = val;
		else if (strcmp(key, "queue_id") == 0) rec->queue_id = val;
		else if (strcmp(key, "message_id") == 0) rec->message_id = val;
		else if (strcmp(key, "sender") == 0) rec->sender = val;
		else if (strcmp(key, "type") == 0) rec->type = val;
		else if (strcmp(key, "campaign") == 0) rec->campaign = val;
		else if (strcmp(key, "rcpt") == 0) rec->rcpt = val;
		else if (strcmp(key, "verdict") == 0) rec->verdict = val;
		else if (strcmp(key, "reason") == 0) rec->reason = val;
		else if (strcmp(key, "action") == 0) action_s = val;
		p = skip_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p++ != '}')
			return -1;
		break;
	}
	if (*skip_ws(p) != '\0')
		return -1;
	if (time_s == NULL || cm_time_parse(time_s, strlen(time_s),
	    &rec->time_us) != CM_OK)
		return -1;
	if (action_s == NULL ||
	    cm_declog_action_parse(action_s, &rec->action) != CM_OK)
		return -1;
	return 0;
}
