/*
 * mtext.c - the texts an MTA passes to a milter (see mtext.h).
 */
#include "mtext.h"

#include <string.h>

/* Envelope sender without angle brackets and source route into OUT;
 * false if it does not fit. */
bool
cm_mtext_sender_bare(const char *in, char *out, size_t size)
{
	size_t len;
	const char *colon;

	while (*in == ' ' || *in == '\t')
		in++;
	len = strlen(in);
	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	if (len >= 1 && in[0] == '<') {
		in++;
		len--;
		if (len >= 1 && in[len - 1] == '>')
			len--;
	}
	if (len > 0 && in[0] == '@') {
		colon = memchr(in, ':', len);
		if (colon != NULL) {
			len -= (size_t)(colon + 1 - in);
			in = colon + 1;
		}
	}
	if (len >= size)
		return false;
	memcpy(out, in, len);
	out[len] = '\0';
	return true;
}

/* Strip one pair of angle brackets from RAW into BUF. */
const char *
cm_mtext_unbracket(const char *raw, char *buf, size_t size)
{
	size_t len = strlen(raw);

	if (len >= 2 && raw[0] == '<' && raw[len - 1] == '>') {
		len -= 2;
		if (len >= size)
			len = size - 1;
		memcpy(buf, raw + 1, len);
		buf[len] = '\0';
		return buf;
	}
	return raw;
}

/* Unfold a header value in place (RFC 5322 2.2.3): the MTA passes folds
 * as LF or CRLF before the white space of the next line; the rules match
 * the unfolded value. */
void
cm_mtext_unfold(char *v)
{
	char *w = v;

	for (; *v != '\0'; v++)
		if (*v != '\r' && *v != '\n')
			*w++ = *v;
	*w = '\0';
}
