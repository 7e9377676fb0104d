/* out.c - text tables, JSON and CSV output. */
#include <stdlib.h>
#include <string.h>

#include "../core/timefmt.h"
#include "../core/util.h"
#include "out.h"

struct ctl_table {
	size_t ncols;
	size_t nrows, cap;	/* rows include the header row */
	char **cells;		/* nrows * ncols */
	size_t *width;
};

/* Copy S with control characters escaped; NULL or "" becomes "-". */
static char *
sanitize(const char *s)
{
	size_t n = 0;
	char *out, *p;

	if (s == NULL || *s == '\0')
		return strdup("-");
	for (const char *q = s; *q != '\0'; q++)
		n += ((unsigned char)*q < 0x20 || *q == 0x7f) ? 4 : 1;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	p = out;
	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		if (*q == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else if (*q == '\t') {
			*p++ = '\\';
			*p++ = 't';
		} else if (*q < 0x20 || *q == 0x7f) {
			static const char hex[] = "0123456789abcdef";

			*p++ = '\\';
			*p++ = 'x';
			*p++ = hex[*q >> 4];
			*p++ = hex[*q & 15];
		} else {
			*p++ = (char)*q;
		}
	}
	*p = '\0';
	return out;
}

static size_t
utf8_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

ctl_table *
ctl_out_table_new(size_t ncols, const char *const *headers)
{
	ctl_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	if ((t->width = calloc(ncols, sizeof(*t->width))) == NULL ||
	    !ctl_out_table_add(t, headers)) {
		ctl_out_table_free(t);
		return NULL;
	}
	return t;
}

bool
ctl_out_table_add(ctl_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **n;

		if (ncap > SIZE_MAX / sizeof(char *) / t->ncols)
			return false;
		n = realloc(t->cells, ncap * t->ncols * sizeof(char *));
		if (n == NULL)
			return false;
		t->cells = n;
		t->cap = ncap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *c = sanitize(cells[i]);
		size_t w;

		if (c == NULL) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[t->nrows * t->ncols + j]);
			return false;
		}
		t->cells[t->nrows * t->ncols + i] = c;
		if ((w = utf8_width(c)) > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
	return true;
}

void
ctl_out_table_print(const ctl_table *t, FILE *f)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *c = t->cells[r * t->ncols + i];

			fputs(c, f);
			if (i + 1 < t->ncols)
				for (size_t w = utf8_width(c);
				    w < t->width[i] + 2; w++)
					fputc(' ', f);
		}
		fputc('\n', f);
	}
}

void
ctl_out_table_free(ctl_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->width);
	free(t);
}

void
ctl_out_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*p != '\0') {
		size_t n;

		switch (*p) {
		case '"': fputs("\\\"", f); p++; continue;
		case '\\': fputs("\\\\", f); p++; continue;
		case '\n': fputs("\\n", f); p++; continue;
		case '\r': fputs("\\r", f); p++; continue;
		case '\t': fputs("\\t", f); p++; continue;
		default: break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
			p++;
			continue;
		}
		n = cm_utf8_len(p, strnlen((const char *)p, 4));
		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

void
ctl_out_json_member(FILE *f, const char *key, const char *s)
{
	fprintf(f, ",\"%s\":", key);
	ctl_out_json_str(f, s);
}

void
ctl_out_json_member_time(FILE *f, const char *key, int64_t us)
{
	fprintf(f, ",\"%s\":", key);
	ctl_out_json_time(f, us);
}

const char *
ctl_out_time(int64_t us, char *buf)
{
	if (us == 0) {
		buf[0] = '\0';
		return buf;
	}
	return cm_time_format(us, buf);
}

void
ctl_out_json_time(FILE *f, int64_t us)
{
	char buf[CM_TIME_BUFSZ];

	if (us == 0)
		fputs("null", f);
	else
		fprintf(f, "\"%s\"", cm_time_format(us, buf));
}

void
ctl_out_csv_field(FILE *f, const char *s)
{
	if (s == NULL)
		return;
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}
