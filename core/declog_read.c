/* declog_read.c - reading the decision log back, filtered (declog.h). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "declog.h"
#include "declog_line.h"

struct cm_declog_reader {
	char *dir;
	cm_declog_filter f;	/* strings point into owned copies below */
	char *fstr[7];
	char rcpt_hash[CM_DECLOG_HASH_BUFSZ];
	bool have_hash;
	int64_t *days;
	size_t ndays, next_day;
	FILE *fp;
	char *line;		/* CM_DECLOG_LINE_MAX + 2 */
	uint64_t bad;
};

static int
cmp_day(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void
cm_declog_reader_close(cm_declog_reader *r)
{
	if (r == NULL)
		return;
	if (r->fp != NULL)
		fclose(r->fp);
	for (int i = 0; i < 7; i++)
		free(r->fstr[i]);
	free(r->days);
	free(r->line);
	free(r->dir);
	free(r);
}

static int
dup_filter(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst == NULL ? -1 : 0;
}

cm_status
cm_declog_reader_open(const char *dir, const cm_declog_filter *f,
    cm_declog_reader **out)
{
	cm_declog_reader *r;
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int64_t lo = INT64_MIN, hi = INT64_MAX;

	if (dir == NULL || out == NULL)
		return CM_EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return CM_ENOMEM;
	if (f != NULL)
		r->f = *f;
	r->dir = strdup(dir);
	r->line = malloc(CM_DECLOG_LINE_MAX + 2);
	if (r->dir == NULL || r->line == NULL ||
	    dup_filter(&r->fstr[0], r->f.type) ||
	    dup_filter(&r->fstr[1], r->f.campaign) ||
	    dup_filter(&r->fstr[2], r->f.reason) ||
	    dup_filter(&r->fstr[3], r->f.verdict) ||
	    dup_filter(&r->fstr[4], r->f.action) ||
	    dup_filter(&r->fstr[5], r->f.rcpt)) {
		cm_declog_reader_close(r);
		return CM_ENOMEM;
	}
	r->f.type = r->fstr[0];
	r->f.campaign = r->fstr[1];
	r->f.reason = r->fstr[2];
	r->f.verdict = r->fstr[3];
	r->f.action = r->fstr[4];
	r->f.rcpt = r->fstr[5];
	r->f.key_file = NULL;
	if (r->f.rcpt != NULL && f->key_file != NULL) {
		unsigned char key[CM_DECLOG_KEY_MAX];
		size_t klen;

		if (cm_declog_key_load(f->key_file, false, key, sizeof(key),
		    &klen) == CM_OK &&
		    cm_declog_hash(key, klen, r->f.rcpt, strlen(r->f.rcpt),
		    r->rcpt_hash) == CM_OK)
			r->have_hash = true;
		explicit_bzero(key, sizeof(key));
	}
	if (r->f.since_us > 0)
		lo = cm_declog_line_day(r->f.since_us);
	if (r->f.until_us > 0)
		hi = cm_declog_line_day(r->f.until_us - 1);

	d = opendir(dir);
	if (d == NULL) {
		cm_status st = cm_status_errno(errno);

		cm_declog_reader_close(r);
		return st;
	}
	while ((de = readdir(d)) != NULL) {
		int64_t day = cm_declog_line_name_day(de->d_name);

		if (day < 0 || day < lo || day > hi)
			continue;
		if (r->ndays == cap) {
			size_t nc = cap ? cap * 2 : 64;
			int64_t *nd = realloc(r->days, nc * sizeof(*nd));

			if (nd == NULL) {
				closedir(d);
				cm_declog_reader_close(r);
				return CM_ENOMEM;
			}
			r->days = nd;
			cap = nc;
		}
		r->days[r->ndays++] = day;
	}
	closedir(d);
	if (r->ndays > 1)
		qsort(r->days, r->ndays, sizeof(r->days[0]), cmp_day);
	*out = r;
	return CM_OK;
}

uint64_t
cm_declog_reader_bad(const cm_declog_reader *r)
{
	return r->bad;
}

static bool
field_ok(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

/* A message of several types is logged with their ids joined by ','
 * ("weekly-news,offers"): it matches a filter on any one of them. */
static bool
type_ok(const char *want, const char *have)
{
	size_t n;

	if (field_ok(want, have))
		return true;
	n = strlen(want);
	for (const char *p = have; p != NULL && *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (len == n && strncmp(p, want, n) == 0)
			return true;
		p = comma != NULL ? comma + 1 : NULL;
	}
	return false;
}

static bool
matches(const cm_declog_reader *r, const cm_declog_rec *rec)
{
	const cm_declog_filter *f = &r->f;

	if (f->since_us > 0 && rec->time_us < f->since_us)
		return false;
	if (f->until_us > 0 && rec->time_us >= f->until_us)
		return false;
	if (!type_ok(f->type, rec->type) ||
	    !field_ok(f->campaign, rec->campaign) ||
	    !field_ok(f->reason, rec->reason) ||
	    !field_ok(f->verdict, rec->verdict) ||
	    !field_ok(f->action, cm_declog_action_name(rec->action)))
		return false;
	if (f->rcpt != NULL) {
		if (rec->rcpt == NULL)
			return false;
		if (strcmp(rec->rcpt, f->rcpt) != 0 &&
		    !(r->have_hash && strcmp(rec->rcpt, r->rcpt_hash) == 0))
			return false;
	}
	return true;
}

cm_status
cm_declog_reader_next(cm_declog_reader *r, cm_declog_rec *rec)
{
	if (r == NULL || rec == NULL)
		return CM_EINVAL;
	for (;;) {
		size_t len;

		if (r->fp == NULL) {
			char name[CM_DECLOG_LINE_NAME_LEN + 1], *path;

			if (r->next_day >= r->ndays)
				return CM_NOTFOUND;
			cm_declog_line_day_name(r->days[r->next_day++], name, sizeof(name));
			if (asprintf(&path, "%s/%s", r->dir, name) < 0)
				return CM_ENOMEM;
			r->fp = fopen(path, "re");
			free(path);
			if (r->fp == NULL) {
				if (errno == ENOENT)
					continue;	/* pruned meanwhile */
				return cm_status_errno(errno);
			}
		}
		if (fgets(r->line, CM_DECLOG_LINE_MAX + 2, r->fp) == NULL) {
			bool err = ferror(r->fp);

			fclose(r->fp);
			r->fp = NULL;
			if (err)
				return CM_EIO;
			continue;
		}
		len = strlen(r->line);
		if (len > 0 && r->line[len - 1] != '\n' && !feof(r->fp)) {
			int c;

			/* over-long line: skip the rest of it */
			while ((c = getc(r->fp)) != EOF && c != '\n')
				;
			r->bad++;
			continue;
		}
		if (cm_declog_line_parse(r->line, rec) != 0) {
			r->bad++;
			continue;
		}
		if (matches(r, rec))
			return CM_OK;
	}
}
