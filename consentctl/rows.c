/* rows.c - import rows from CSV, JSON Lines or YAML. */
#include <stdarg.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "jsonl.h"
#include "rows.h"
#include "yamlin.h"

static const char *const field_names[CTL_F_COUNT] = {
	"email", "type", "state", "time", "source", "basis", "purpose",
	"evidence", "granted", "confirmed", "withdrawn",
};

struct ctl_rows {
	ctl_fmt fmt;
	ctl_csv *csv;
	ctl_jsonl *jsonl;
	ctl_yaml *yaml;
	FILE *yf;
	size_t ncols;		/* CSV: columns in the header; 0 before */
	int fd;
	ctl_rows_csvopts co;
	size_t deflen[CTL_F_COUNT];
	signed char colmap[CTL_CSV_FIELDS_MAX];	/* column -> field or -1 */
	char ign[1024];		/* ignored columns' names, NUL-separated */
	size_t ign_len, nign;
	char err[512];
};

const char *
ctl_rows_field_name(ctl_field f)
{
	return (unsigned)f < CTL_F_COUNT ? field_names[f] : "?";
}

bool
ctl_rows_fmt_parse(const char *s, ctl_fmt *out)
{
	if (strcmp(s, "csv") == 0)
		*out = CTL_FMT_CSV;
	else if (strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0 ||
	    strcmp(s, "ndjson") == 0)
		*out = CTL_FMT_JSONL;
	else if (strcmp(s, "yaml") == 0 || strcmp(s, "yml") == 0)
		*out = CTL_FMT_YAML;
	else
		return false;
	return true;
}

const char *
ctl_rows_fmt_name(ctl_fmt f)
{
	return f == CTL_FMT_CSV ? "csv" : f == CTL_FMT_JSONL ? "jsonl" :
	    f == CTL_FMT_YAML ? "yaml" : "?";
}

bool
ctl_rows_fmt_from_name(const char *path, ctl_fmt *out)
{
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

	if (dot == NULL || (slash != NULL && dot < slash))
		return false;
	return ctl_rows_fmt_parse(dot + 1, out);
}

ctl_fmt
ctl_rows_fmt_sniff(const char *head, size_t len)
{
	size_t i = 0;

	if (len >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	for (; i < len; i++) {
		char c = head[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '{')
			return CTL_FMT_JSONL;
		if (c == '-' || c == '[' || c == '#')
			return CTL_FMT_YAML;
		break;
	}
	return CTL_FMT_CSV;
}

ctl_rows *
ctl_rows_open(int fd, ctl_fmt fmt)
{
	return ctl_rows_open_csv(fd, fmt, NULL);
}

ctl_rows *
ctl_rows_open_csv(int fd, ctl_fmt fmt, const ctl_rows_csvopts *co)
{
	ctl_rows *r = calloc(1, sizeof(*r));
	int fd2;

	if (r == NULL)
		return NULL;
	r->fmt = fmt;
	r->fd = fd;
	if (co != NULL)
		r->co = *co;
	for (int i = 0; i < CTL_F_COUNT; i++)
		if (r->co.def[i] != NULL)
			r->deflen[i] = strlen(r->co.def[i]);
	switch (fmt) {
	case CTL_FMT_CSV:
		r->csv = ctl_csv_new(fd);
		if (r->csv == NULL)
			goto fail;
		break;
	case CTL_FMT_JSONL:
		r->jsonl = ctl_jsonl_new(fd);
		if (r->jsonl == NULL)
			goto fail;
		break;
	case CTL_FMT_YAML:
		if ((fd2 = dup(fd)) < 0)
			goto fail;
		if ((r->yf = fdopen(fd2, "r")) == NULL) {
			close(fd2);
			goto fail;
		}
		r->yaml = ctl_yaml_new(r->yf);
		if (r->yaml == NULL)
			goto fail;
		break;
	default:
		goto fail;
	}
	return r;
fail:
	ctl_rows_close(r);
	return NULL;
}

void
ctl_rows_close(ctl_rows *r)
{
	if (r == NULL)
		return;
	ctl_csv_free(r->csv);
	ctl_jsonl_free(r->jsonl);
	ctl_yaml_free(r->yaml);
	if (r->yf != NULL)
		fclose(r->yf);
	free(r);
}

static ctl_rows_res
err(ctl_rows *r, ctl_rows_res res, unsigned long line, unsigned long col,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (col > 0)
		n = snprintf(r->err, sizeof(r->err), "%lu:%lu: ", line, col);
	else
		n = snprintf(r->err, sizeof(r->err), "%lu: ", line);
	if (n < 0 || (size_t)n >= sizeof(r->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return res;
}

static void
clear_row(ctl_row *row, unsigned long line)
{
	memset(row, 0, sizeof(*row));
	row->line = line;
}

static const char header_text[] = "email,type,state,time,source,basis,"
    "purpose,evidence[,granted[,confirmed[,withdrawn]]]";

/* The delimiter of the header line: the most frequent of ',', ';' and
 * tab outside quotes (',' when none or a tie with ','). */
static char
detect_delim(int fd)
{
	char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	size_t comma = 0, semi = 0, tab = 0;
	bool q = false;

	for (ssize_t i = 0; i < n && (q || buf[i] != '\n'); i++) {
		if (buf[i] == '"')
			q = !q;
		else if (!q && buf[i] == ',')
			comma++;
		else if (!q && buf[i] == ';')
			semi++;
		else if (!q && buf[i] == '\t')
			tab++;
	}
	if (semi > comma && semi >= tab)
		return ';';
	if (tab > comma && tab > semi)
		return '\t';
	return ',';
}

/* Header name NAME (LEN octets, blanks around it ignored) is S? */
static bool
name_is(const char *name, size_t len, const char *s)
{
	while (len > 0 && (*name == ' ' || *name == '\t'))
		name++, len--;
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t' ||
	    name[len - 1] == '\r'))
		len--;
	return strlen(s) == len && strncasecmp(name, s, len) == 0;
}

static int
header_field(const ctl_rows *r, const char *name, size_t len)
{
	for (int f = 0; f < CTL_F_COUNT; f++)
		if (r->co.map[f] != NULL && name_is(name, len, r->co.map[f]))
			return f;
	for (int f = 0; f < CTL_F_COUNT; f++)
		if (name_is(name, len, field_names[f]))
			return f;
	return -1;
}

static void
add_ignored(ctl_rows *r, const char *name, size_t len)
{
	const char *p = r->ign;

	for (size_t i = 0; i < r->nign; i++, p += strlen(p) + 1)
		if (strlen(p) == len && memcmp(p, name, len) == 0)
			return;		/* named once */
	if (len > 200)
		len = 200;
	if (r->ign_len + len + 1 > sizeof(r->ign))
		return;
	memcpy(r->ign + r->ign_len, name, len);
	r->ign[r->ign_len + len] = '\0';
	r->ign_len += len + 1;
	r->nign++;
}

static ctl_rows_res
csv_header(ctl_rows *r)
{
	static const ctl_field required[] = {
		CTL_F_EMAIL, CTL_F_TYPE, CTL_F_STATE, CTL_F_TIME, CTL_F_SOURCE,
	};
	ctl_csv_res res;
	size_t n, at[CTL_F_COUNT] = { 0 };

	ctl_csv_set_delim(r->csv, r->co.delim != 0 ? r->co.delim :
	    detect_delim(r->fd));
	res = ctl_csv_next(r->csv);
	if (res == CTL_CSV_EOF)
		return err(r, CTL_ROWS_FATAL, 1, 0, "empty file: a header "
		    "line '%s' expected", header_text);
	if (res != CTL_CSV_RECORD)
		return err(r, CTL_ROWS_FATAL, ctl_csv_errline(r->csv),
		    ctl_csv_errcol(r->csv), "%s", ctl_csv_errmsg(r->csv));
	n = ctl_csv_nfields(r->csv);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *name = ctl_csv_field(r->csv, i, &len);
		int f = header_field(r, name, len);

		r->colmap[i] = (signed char)f;
		if (f < 0) {
			add_ignored(r, name, len);
			continue;
		}
		if (at[f] != 0)
			return err(r, CTL_ROWS_FATAL, ctl_csv_line(r->csv), 0,
			    "columns %zu and %zu are both '%s'", at[f], i + 1,
			    field_names[f]);
		at[f] = i + 1;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]);
	    i++) {
		ctl_field f = required[i];

		if (at[f] != 0 || r->co.def[f] != NULL)
			continue;
		if (f == CTL_F_TIME)
			return err(r, CTL_ROWS_FATAL, ctl_csv_line(r->csv), 0,
			    "no column 'time': a row without a time is not "
			    "imported as of now; give --time TIME (the time "
			    "of every row without one)");
		return err(r, CTL_ROWS_FATAL, ctl_csv_line(r->csv), 0, "the "
		    "header must be '%s' (in any order and case, or mapped "
		    "with --map): no column '%s' (or give --%s VALUE)",
		    header_text, field_names[f], field_names[f]);
	}
	r->ncols = n;
	return CTL_ROWS_ROW;
}

ctl_rows_res
ctl_rows_header(ctl_rows *r)
{
	r->err[0] = '\0';
	if (r->fmt != CTL_FMT_CSV || r->ncols != 0)
		return CTL_ROWS_ROW;
	return csv_header(r);
}

const char *
ctl_rows_ignored(const ctl_rows *r, size_t i)
{
	const char *p = r->ign;

	if (i >= r->nign)
		return NULL;
	while (i-- > 0)
		p += strlen(p) + 1;
	return p;
}

static ctl_rows_res
csv_next(ctl_rows *r, ctl_row *row)
{
	ctl_csv_res res;
	size_t n;

	if (r->ncols == 0) {
		ctl_rows_res h = csv_header(r);

		if (h != CTL_ROWS_ROW)
			return h;
	}
	res = ctl_csv_next(r->csv);
	switch (res) {
	case CTL_CSV_RECORD:
		break;
	case CTL_CSV_EOF:
		return CTL_ROWS_EOF;
	case CTL_CSV_BAD:
		return err(r, CTL_ROWS_BAD, ctl_csv_errline(r->csv),
		    ctl_csv_errcol(r->csv), "%s", ctl_csv_errmsg(r->csv));
	default:
		return err(r, CTL_ROWS_FATAL, ctl_csv_errline(r->csv),
		    ctl_csv_errcol(r->csv), "%s", ctl_csv_errmsg(r->csv));
	}
	clear_row(row, ctl_csv_line(r->csv));
	n = ctl_csv_nfields(r->csv);
	if (n != r->ncols)
		return err(r, CTL_ROWS_BAD, row->line, 0, "%zu field%s, the "
		    "header has %zu", n, n == 1 ? "" : "s", r->ncols);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *f = ctl_csv_field(r->csv, i, &len);
		int k = r->colmap[i];

		if (len > 0 && k >= 0) {
			row->v[k] = f;
			row->len[k] = len;
		}
	}
	/* a row that records a withdrawal says its state itself: a
	 * --state default must not turn it into another grant */
	if (row->v[CTL_F_STATE] == NULL && row->v[CTL_F_WITHDRAWN] != NULL &&
	    r->co.def[CTL_F_STATE] != NULL)
		return err(r, CTL_ROWS_BAD, row->line, 0, "no state, but a "
		    "withdrawn time: give the row's state (--state is not "
		    "used for a row that records a withdrawal)");
	for (int k = 0; k < CTL_F_COUNT; k++)
		if (row->v[k] == NULL && r->co.def[k] != NULL &&
		    r->deflen[k] > 0) {
			row->v[k] = r->co.def[k];
			row->len[k] = r->deflen[k];
		}
	return CTL_ROWS_ROW;
}

static int
field_index(const char *key, size_t len)
{
	for (int i = 0; i < CTL_F_COUNT; i++)
		if (strlen(field_names[i]) == len &&
		    memcmp(field_names[i], key, len) == 0)
			return i;
	return -1;
}

static ctl_rows_res
check_required(ctl_rows *r, const ctl_row *row, const bool *seen)
{
	for (int i = 0; i <= CTL_F_TIME; i++)
		if (!seen[i])
			return err(r, CTL_ROWS_BAD, row->line, 0, "key '%s' "
			    "missing", field_names[i]);
	return CTL_ROWS_ROW;
}

static ctl_rows_res
jsonl_next(ctl_rows *r, ctl_row *row)
{
	ctl_jsonl_res res = ctl_jsonl_next(r->jsonl);
	bool seen[CTL_F_COUNT] = { false };
	size_t n;

	switch (res) {
	case CTL_JSONL_OBJECT:
		break;
	case CTL_JSONL_EOF:
		return CTL_ROWS_EOF;
	case CTL_JSONL_BAD:
		return err(r, CTL_ROWS_BAD, ctl_jsonl_line(r->jsonl),
		    ctl_jsonl_errcol(r->jsonl), "%s",
		    ctl_jsonl_errmsg(r->jsonl));
	default:
		return err(r, CTL_ROWS_FATAL, ctl_jsonl_line(r->jsonl), 0,
		    "%s", ctl_jsonl_errmsg(r->jsonl));
	}
	clear_row(row, ctl_jsonl_line(r->jsonl));
	n = ctl_jsonl_count(r->jsonl);
	for (size_t i = 0; i < n; i++) {
		const ctl_json_member *m = ctl_jsonl_get(r->jsonl, i);
		int f = field_index(m->key, m->key_len);

		if (f < 0)
			return err(r, CTL_ROWS_BAD, row->line, 0, "unknown key "
			    "\"%s\" (expected email, type, state, time, "
			    "source, basis, purpose, evidence, granted, "
			    "confirmed, withdrawn)", m->key);
		if (m->type == CTL_JSON_NUMBER)
			return err(r, CTL_ROWS_BAD, row->line, m->col, "key "
			    "\"%s\": a string or null expected, not a number",
			    m->key);
		seen[f] = true;
		row->col[f] = m->col;
		if (m->type == CTL_JSON_STRING && m->val_len > 0) {
			row->v[f] = m->val;
			row->len[f] = m->val_len;
		}
	}
	return check_required(r, row, seen);
}

static ctl_rows_res
yaml_next(ctl_rows *r, ctl_row *row)
{
	ctl_yaml_res res = ctl_yaml_next(r->yaml);
	bool seen[CTL_F_COUNT] = { false };
	size_t n;

	switch (res) {
	case CTL_YAML_ITEM:
		break;
	case CTL_YAML_EOF:
		return CTL_ROWS_EOF;
	case CTL_YAML_BAD:
		return err(r, CTL_ROWS_BAD, ctl_yaml_errline(r->yaml),
		    ctl_yaml_errcol(r->yaml), "%s", ctl_yaml_errmsg(r->yaml));
	default:
		return err(r, CTL_ROWS_FATAL, ctl_yaml_errline(r->yaml),
		    ctl_yaml_errcol(r->yaml), "%s", ctl_yaml_errmsg(r->yaml));
	}
	clear_row(row, ctl_yaml_line(r->yaml));
	n = ctl_yaml_count(r->yaml);
	for (size_t i = 0; i < n; i++) {
		const ctl_yaml_member *m = ctl_yaml_get(r->yaml, i);
		int f = field_index(m->key, strlen(m->key));

		if (f < 0)
			return err(r, CTL_ROWS_BAD, m->line, 0, "unknown key "
			    "'%s' (expected email, type, state, time, source, "
			    "basis, purpose, evidence, granted, confirmed, "
			    "withdrawn)", m->key);
		seen[f] = true;
		row->col[f] = m->col;
		if (m->val != NULL && m->val_len > 0) {
			row->v[f] = m->val;
			row->len[f] = m->val_len;
		}
	}
	return check_required(r, row, seen);
}

ctl_rows_res
ctl_rows_next(ctl_rows *r, ctl_row *row)
{
	r->err[0] = '\0';
	switch (r->fmt) {
	case CTL_FMT_CSV:
		return csv_next(r, row);
	case CTL_FMT_JSONL:
		return jsonl_next(r, row);
	case CTL_FMT_YAML:
		return yaml_next(r, row);
	}
	return CTL_ROWS_FATAL;
}

const char *
ctl_rows_error(const ctl_rows *r)
{
	return r->err;
}

uint64_t
ctl_rows_offset(const ctl_rows *r)
{
	switch (r->fmt) {
	case CTL_FMT_CSV:
		return ctl_csv_offset(r->csv);
	case CTL_FMT_JSONL:
		return ctl_jsonl_offset(r->jsonl);
	case CTL_FMT_YAML:
		return ctl_yaml_offset(r->yaml);
	}
	return 0;
}
