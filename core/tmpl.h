/*
 * tmpl.h - text templates for replies, the trace header and DSNs
 * (prefix cm_tmpl_).
 *
 * A template is one line of text with placeholders %{NAME} (see
 * cm_tmpl_var) and "%%" for a literal '%'.  Compiling rejects, with the
 * 0-based octet offset of the problem: CR, LF and every other control
 * character except TAB, invalid UTF-8, an unknown or unterminated
 * placeholder, a '%' followed by anything but '{' or '%', and templates
 * longer than CM_TMPL_MAX octets.
 *
 * Expansion is safe whatever the values hold: in a value, CR, LF and
 * every control character become a space, invalid UTF-8 octets become
 * '?', and a value is cut at CM_TMPL_VALUE_MAX octets (at a character
 * boundary).  Flags:
 *   CM_TMPL_ASCII     non-ASCII characters (of values and template) become '?' (SMTP
 *                     replies and header fields of non-SMTPUTF8 mail);
 *   CM_TMPL_SETREPLY  every '%' of the result is doubled, as
 *                     smfi_setreply() requires.
 * The result is cut (at a character boundary, never inside "%%") to fit
 * SIZE, and *TRUNCATED (if not NULL) tells whether it was.
 */
#ifndef CM_TMPL_H
#define CM_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define CM_TMPL_MAX 1000
#define CM_TMPL_VALUE_MAX 320

typedef enum cm_tmpl_var {
	CM_TMPL_RCPT = 0,	/* %{rcpt}     recipient as received (no <>) */
	CM_TMPL_TYPE,		/* %{type}     newsletter type id */
	CM_TMPL_NAME,		/* %{name}     newsletter type name */
	CM_TMPL_REASON,		/* %{reason}   no-consent, withdrawn, ... */
	CM_TMPL_REMOVED,	/* %{removed}  recipients removed */
	CM_TMPL_KEPT,		/* %{kept}     recipients kept */
	CM_TMPL_MODE,		/* %{mode}     enforce | monitor */
	CM_TMPL_SENDER,		/* %{sender}   envelope sender */
	CM_TMPL_QUEUE_ID,	/* %{queue_id} MTA queue id */
	CM_TMPL_CAMPAIGN,	/* %{campaign} campaign id */
	CM_TMPL_HOST,		/* %{host}     reporting host name */
	CM_TMPL_NVARS
} cm_tmpl_var;

/* "rcpt", "type", ...; NULL for an invalid value. */
const char *cm_tmpl_var_name(cm_tmpl_var v);

/* Defaults (the texts of the product's documentation). */
#define CM_TMPL_DEFAULT_REPLY \
	"<%{rcpt}>: no consent for newsletter \"%{type}\" (%{reason})"
#define CM_TMPL_DEFAULT_TRACE \
	"type=%{type}; removed=%{removed}; kept=%{kept}"
#define CM_TMPL_DEFAULT_DSN_TEXT \
	"This is the mail system at host %{host}. Your message (newsletter " \
	"\"%{name}\") was not delivered to the recipients below because " \
	"they have not consented to receive it. The other recipients, if " \
	"any, were not affected."
#define CM_TMPL_DEFAULT_DSN_RCPT \
	"<%{rcpt}>: no consent for newsletter \"%{type}\" (%{reason})"

typedef struct cm_tmpl cm_tmpl;

/*
 * Compile TEXT.  CM_OK and *OUT, or CM_EINVAL / CM_ETOOLONG with
 * *ERR_OFF (may be NULL) the offset of the problem, or CM_ENOMEM.
 */
cm_status cm_tmpl_compile(const char *text, cm_tmpl **out, size_t *err_off);
void cm_tmpl_free(cm_tmpl *t);
/* The text it was compiled from. */
const char *cm_tmpl_text(const cm_tmpl *t);

#define CM_TMPL_ASCII 1u
#define CM_TMPL_SETREPLY 2u

/*
 * Expand T with VALS[CM_TMPL_NVARS] (a NULL entry, or VALS NULL, expands
 * to nothing) into BUF of SIZE >= 1 octets (always NUL-terminated).
 * Returns the length written; it cannot fail.
 */
size_t cm_tmpl_expand(const cm_tmpl *t, const char *const *vals,
    unsigned flags, char *buf, size_t size, bool *truncated);

#endif
