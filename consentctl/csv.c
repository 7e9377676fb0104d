/* csv.c - streaming RFC 4180 reader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"

#define CSV_BUFSZ (256 * 1024)

struct ctl_csv {
	int fd;
	unsigned char *buf;
	size_t pos, len;
	bool eof;
	bool started;		/* BOM check done */
	uint64_t offset;	/* octets consumed before buf */

	char *rec;		/* fields, each NUL-terminated */
	size_t rec_len, rec_cap;
	size_t off[CTL_CSV_FIELDS_MAX];
	size_t flen[CTL_CSV_FIELDS_MAX];
	size_t nfields;
	unsigned long rec_line;

	unsigned long line, col;	/* position of the next octet */

	char err[160];
	unsigned long err_line, err_col;

	int delim;		/* ',' unless set */
	unsigned char stop[256];	/* run() stops: 1 unquoted, 2 quoted */
};

ctl_csv *
ctl_csv_new(int fd)
{
	ctl_csv *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->fd = fd;
	r->line = 1;
	r->col = 1;
	r->rec_cap = 4096;
	ctl_csv_set_delim(r, ',');
	r->buf = malloc(CSV_BUFSZ);
	r->rec = malloc(r->rec_cap);
	if (r->buf == NULL || r->rec == NULL) {
		ctl_csv_free(r);
		return NULL;
	}
	return r;
}

void
ctl_csv_free(ctl_csv *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r->rec);
	free(r);
}

/* Refill; returns false at end of file, or on error (r->err set). */
static bool
refill(ctl_csv *r)
{
	ssize_t n;

	if (r->eof)
		return false;
	r->offset += r->len;
	r->pos = r->len = 0;
	do
		n = read(r->fd, r->buf, CSV_BUFSZ);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(r->err, sizeof(r->err), "read error: %s",
		    strerror(errno));
		r->eof = true;
		return false;
	}
	if (n == 0) {
		r->eof = true;
		return false;
	}
	r->len = (size_t)n;
	if (!r->started) {
		r->started = true;
		if (r->len >= 3 && memcmp(r->buf, "\xef\xbb\xbf", 3) == 0)
			r->pos = 3;
	}
	return true;
}

/* Next octet, or -1 at end of input / error. */
static inline int
next_byte(ctl_csv *r)
{
	while (r->pos == r->len)	/* a refill may be empty (a BOM alone) */
		if (!refill(r))
			return -1;
	return r->buf[r->pos++];
}

static void
set_err(ctl_csv *r, const char *msg)
{
	snprintf(r->err, sizeof(r->err), "%s", msg);
	r->err_line = r->line;
	r->err_col = r->col;
}

/* Skip to the end of the current line after a malformed record. */
static ctl_csv_res
bad(ctl_csv *r, const char *msg)
{
	int c;

	set_err(r, msg);
	while ((c = next_byte(r)) != -1 && c != '\n')
		;
	if (c == '\n') {
		r->line++;
		r->col = 1;
	}
	if (c == -1 && r->err[0] != '\0' && strncmp(r->err, "read", 4) == 0)
		return CTL_CSV_FATAL;
	return CTL_CSV_BAD;
}

static inline bool
put(ctl_csv *r, char c)
{
	if (r->rec_len == r->rec_cap) {
		size_t ncap = r->rec_cap * 2;
		char *n;

		if (ncap > CTL_CSV_RECORD_MAX + 1)
			ncap = CTL_CSV_RECORD_MAX + 1;
		if (r->rec_len >= ncap)
			return false;
		if ((n = realloc(r->rec, ncap)) == NULL)
			return false;
		r->rec = n;
		r->rec_cap = ncap;
	}
	r->rec[r->rec_len++] = c;
	return true;
}

enum { F_START, F_UNQUOTED, F_QUOTED, F_QUOTE, F_CR };

void
ctl_csv_set_delim(ctl_csv *r, char delim)
{
	/* octets that end a run inside an unquoted (1) or a quoted (2) field */
	memset(r->stop, 0, sizeof(r->stop));
	r->stop[(unsigned char)delim] = 1;
	r->stop['\r'] = 1;
	r->stop['"'] = 3;
	r->stop['\n'] = 3;
	r->delim = (unsigned char)delim;
}

/*
 * Copy the run of ordinary octets at the read position into the record
 * (the fast path: most octets of a file are inside such runs).  MASK is
 * 1 outside quotes, 2 inside.  False if the record would be too long.
 */
static bool
run(ctl_csv *r, unsigned mask)
{
	const unsigned char *p = r->buf + r->pos, *e = r->buf + r->len, *q;
	size_t n;

	for (q = p; q < e && (r->stop[*q] & mask) == 0; q++)
		;
	n = (size_t)(q - p);
	if (n == 0)
		return true;
	if (r->rec_len + n >= r->rec_cap) {
		size_t ncap = r->rec_cap;
		char *nb;

		while (ncap <= r->rec_len + n)
			ncap *= 2;
		if (ncap > CTL_CSV_RECORD_MAX + 1)
			ncap = CTL_CSV_RECORD_MAX + 1;
		if (r->rec_len + n >= ncap)
			return false;
		if ((nb = realloc(r->rec, ncap)) == NULL)
			return false;
		r->rec = nb;
		r->rec_cap = ncap;
	}
	memcpy(r->rec + r->rec_len, p, n);
	r->rec_len += n;
	r->pos += n;
	r->col += n;
	return true;
}

ctl_csv_res
ctl_csv_next(ctl_csv *r)
{
	int state = F_START, c;
	size_t fstart = 0;
	bool in_record = false;
	unsigned long qline = 0, qcol = 0;

	r->rec_len = 0;
	r->nfields = 0;
	r->err[0] = '\0';
	r->rec_line = r->line;
	for (;;) {
		if ((state == F_UNQUOTED && !run(r, 1)) ||
		    (state == F_QUOTED && !run(r, 2)))
			goto too_long;
		c = next_byte(r);
		if (c == -1 && r->err[0] != '\0') {
			r->err_line = r->line;
			r->err_col = r->col;
			return CTL_CSV_FATAL;
		}
		switch (state) {
		case F_START:
		case F_UNQUOTED:
		case F_QUOTE:
			if (c == r->delim || c == '\n' || c == '\r' || c == -1) {
				if (c == -1 && !in_record)
					return CTL_CSV_EOF;
				if (c == '\r') {
					state = F_CR;
					r->col++;
					continue;
				}
				goto end_field;
			}
			if (state == F_QUOTE) {
				if (c == '"') {
					if (!put(r, '"'))
						goto too_long;
					state = F_QUOTED;
					r->col++;
					continue;
				}
				return bad(r, "unexpected character after a "
				    "closing quote");
			}
			if (c == '"') {
				if (state == F_UNQUOTED)
					return bad(r, "quote inside an "
					    "unquoted field (quote the whole "
					    "field and double the quote)");
				in_record = true;
				state = F_QUOTED;
				qline = r->line;
				qcol = r->col;
				r->col++;
				continue;
			}
			if (!put(r, (char)c))
				goto too_long;
			in_record = true;
			state = F_UNQUOTED;
			r->col++;
			continue;
		case F_QUOTED:
			if (c == -1) {
				snprintf(r->err, sizeof(r->err),
				    "quoted field opened here is never "
				    "closed (end of file on line %lu)",
				    r->line);
				r->err_line = qline;
				r->err_col = qcol;
				return CTL_CSV_FATAL;
			}
			if (c == '"') {
				state = F_QUOTE;
				r->col++;
				continue;
			}
			if (!put(r, (char)c))
				goto too_long;
			if (c == '\n') {
				r->line++;
				r->col = 1;
			} else {
				r->col++;
			}
			continue;
		case F_CR:
			if (c == -1)
				goto end_field;
			if (c != '\n')
				return bad(r, "carriage return not followed "
				    "by a line feed outside quotes");
			goto end_field;
		}
		continue;
end_field:
		if (c == '\n' && !in_record && r->nfields == 0 &&
		    state != F_QUOTE) {
			/* empty line between records */
			r->line++;
			r->col = 1;
			r->rec_line = r->line;
			state = F_START;
			continue;
		}
		if (r->nfields == CTL_CSV_FIELDS_MAX) {
			if (c == '\n') {
				set_err(r, "too many fields");
				r->line++;
				r->col = 1;
				return CTL_CSV_BAD;
			}
			return c == -1 ? (set_err(r, "too many fields"),
			    CTL_CSV_BAD) : bad(r, "too many fields");
		}
		if (!put(r, '\0'))
			goto too_long;
		r->off[r->nfields] = fstart;
		r->flen[r->nfields] = r->rec_len - 1 - fstart;
		r->nfields++;
		fstart = r->rec_len;
		in_record = true;
		if (c == r->delim) {
			state = F_START;
			r->col++;
			continue;
		}
		if (c == '\n') {
			r->line++;
			r->col = 1;
		}
		return CTL_CSV_RECORD;
	}
too_long:
	snprintf(r->err, sizeof(r->err), "record longer than %d octets "
	    "(or out of memory)", CTL_CSV_RECORD_MAX);
	r->err_line = r->line;
	r->err_col = r->col;
	return CTL_CSV_FATAL;
}

size_t
ctl_csv_nfields(const ctl_csv *r)
{
	return r->nfields;
}

const char *
ctl_csv_field(const ctl_csv *r, size_t i, size_t *len)
{
	if (i >= r->nfields) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = r->flen[i];
	return r->rec + r->off[i];
}

unsigned long
ctl_csv_line(const ctl_csv *r)
{
	return r->rec_line;
}

const char *
ctl_csv_errmsg(const ctl_csv *r)
{
	return r->err;
}

unsigned long
ctl_csv_errline(const ctl_csv *r)
{
	return r->err_line;
}

unsigned long
ctl_csv_errcol(const ctl_csv *r)
{
	return r->err_col;
}

uint64_t
ctl_csv_offset(const ctl_csv *r)
{
	return r->offset + r->pos;
}
