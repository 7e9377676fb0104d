/*
 * cmd.h - the subcommands of consentctl (prefix ctl_cmd_).
 *
 * Each ctl_cmd_NAME(ctx, argc, argv) parses its own options with
 * getopt_long (main() resets optind; argv[0] is "consentctl NAME"),
 * prints its results on stdout and every error on stderr, and returns
 * the exit status (sysexits.h; 0 success, 1 deny / not found where
 * documented).
 *
 * Implemented in cmd_change.c (init, grant, withdraw, confirm,
 * suppress-domain, unsuppress-domain, erase, bulk-update), cmd_query.c
 * (check, show, history, stats, types, domains), cmd_future.c (future),
 * cmd_import.c, cmd_export.c, cmd_dump.c (dump, export --full) and
 * cmd_restore.c; the shared helpers in cmd.c.
 */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "out.h"

typedef int (*ctl_cmd_fn)(ctl_ctx *c, int argc, char **argv);

int ctl_cmd_init(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_grant(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_withdraw(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_confirm(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_suppress_domain(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_unsuppress_domain(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_erase(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_bulk_update(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_check(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_show(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_history(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_stats(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_types(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_domains(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_future(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_import(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_export(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_dump(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_restore(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_upgrade(ctl_ctx *c, int argc, char **argv);
int ctl_cmd_link(ctl_ctx *c, int argc, char **argv);	/* cmd_link.c */
int ctl_link_init_key(ctl_ctx *c);	/* cmd_link.c: init's first link key */
int ctl_cmd_expiring(ctl_ctx *c, int argc, char **argv);	/* cmd_expiring.c */
int ctl_cmd_sync(ctl_ctx *c, int argc, char **argv);	/* cmd_sync.c */

/* Print "consentctl: CMD: MSG" and "Try 'consentctl CMD --help'."; returns
 * EX_USAGE. */
int ctl_cmd_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print HELP on stdout; returns 0. */
int ctl_cmd_help(const char *help);

/* Parse a --at style time option (or "now") into *US; 0, or on a bad
 * time prints an error naming CMD, OPT and S and returns EX_DATAERR. */
int ctl_cmd_time_opt(const char *cmd, const char *opt, const char *s,
    int64_t *us);

/* Check a text field (source, basis, ...) given on the command line:
 * valid UTF-8, at most CM_FIELD_MAX octets; EX_USAGE otherwise. */
int ctl_cmd_field_opt(const char *cmd, const char *opt, const char *s);

/* Report a failed core call on the index: "consentctl: DIR: WHAT: error"
 * (with the index's text for CM_EDB and CM_EFUTURE: LMDB's error, or the
 * event's time and the latest time accepted); returns the exit code. */
int ctl_cmd_index_error(ctl_ctx *c, cm_status st, const char *what);

/* Print the out-of-memory error; returns EX_OSERR. */
int ctl_cmd_oom(void);

/*
 * Start a listing: unless JSON, a text table of NCOLS columns with the
 * headers HDR into *T (else *T = NULL).  Returns 0, or ctl_cmd_oom().
 */
int ctl_cmd_table(bool json, size_t ncols, const char *const *hdr,
    ctl_table **t);

/* Add the row CELLS to T from a walk's callback: returns 0, or 1 (stop
 * the walk) with *OOM set when out of memory. */
int ctl_cmd_row(ctl_table *t, const char *const *cells, bool *oom);

/*
 * End a listing the core call WHAT walked with status ST (CM_ENOMEM
 * when a row could not be added): on CM_OK print T (if any) on stdout
 * and return 0, else report ST as ctl_cmd_index_error() does.  T is
 * freed either way.
 */
int ctl_cmd_listing_end(ctl_ctx *c, cm_status st, ctl_table *t,
    const char *what);
#endif
