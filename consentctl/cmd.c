/* cmd.c - helpers shared by the consentctl subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "diag.h"
#include "parse.h"

int
ctl_cmd_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "consentctl: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'consentctl %s --help'.\n", cmd);
	return EX_USAGE;
}

int
ctl_cmd_help(const char *help)
{
	fputs(help, stdout);
	return 0;
}

int
ctl_cmd_time_opt(const char *cmd, const char *opt, const char *s,
    int64_t *us)
{
	cm_status st = ctl_parse_time(s, us);

	if (st != CM_OK) {
		/* a bad value, not a bad command line: EX_DATAERR (65) */
		fflush(stdout);
		fprintf(stderr, "consentctl: %s: %s '%s': %s (expected e.g. "
		    "2026-11-23T10:00:00Z or now)\n", cmd, opt, s,
		    cm_strerror(st));
		return EX_DATAERR;
	}
	return 0;
}

int
ctl_cmd_field_opt(const char *cmd, const char *opt, const char *s)
{
	size_t n = strlen(s);

	if (n > CM_FIELD_MAX)
		return ctl_cmd_usage(cmd, "%s: longer than %d octets", opt,
		    CM_FIELD_MAX);
	if (!ctl_parse_utf8(s, n))
		return ctl_cmd_usage(cmd, "%s: not valid UTF-8", opt);
	return 0;
}

int
ctl_cmd_index_error(ctl_ctx *c, cm_status st, const char *what)
{
	if ((st == CM_EDB || st == CM_EFUTURE) && c->idx != NULL)
		ctl_diag_err("%s: %s: %s (%s)", c->db_dir, what,
		    cm_strerror(st), cm_index_last_error(c->idx));
	else
		ctl_diag_err("%s: %s: %s", c->db_dir, what, cm_strerror(st));
	return ctl_diag_exit(st);
}

int
ctl_cmd_oom(void)
{
	ctl_diag_err("%s", cm_strerror(CM_ENOMEM));
	return EX_OSERR;
}

int
ctl_cmd_table(bool json, size_t ncols, const char *const *hdr,
    ctl_table **t)
{
	*t = NULL;
	if (!json && (*t = ctl_out_table_new(ncols, hdr)) == NULL)
		return ctl_cmd_oom();
	return 0;
}

int
ctl_cmd_row(ctl_table *t, const char *const *cells, bool *oom)
{
	if (ctl_out_table_add(t, cells))
		return 0;
	*oom = true;
	return 1;
}

int
ctl_cmd_listing_end(ctl_ctx *c, cm_status st, ctl_table *t,
    const char *what)
{
	if (st != CM_OK) {
		ctl_out_table_free(t);
		return ctl_cmd_index_error(c, st, what);
	}
	if (t != NULL)
		ctl_out_table_print(t, stdout);
	ctl_out_table_free(t);
	return 0;
}
