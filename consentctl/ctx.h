/*
 * ctx.h - what every consentctl subcommand shares (prefix ctl_ctx_):
 * the global options, the policy (with -c), the consent index, address
 * normalization options and the actor recorded in history events.
 *
 * Functions returning int return 0 on success or the sysexits.h code to
 * exit with, after printing a message that names what and where.
 */
#ifndef CTL_CTX_H
#define CTL_CTX_H

#include <stdbool.h>

#include "../config/policy.h"
#include "../core/addr.h"
#include "../core/decide.h"
#include "../core/index.h"

#define CTL_DEFAULT_CONFIG "/etc/consent-milter/consent-milter.yaml"

typedef enum ctl_open_mode {
	CTL_OPEN_RO = 1,	/* lookups only */
	CTL_OPEN_RW,		/* changes; the index must exist */
	CTL_OPEN_CREATE,	/* changes; create directory and files */
	CTL_OPEN_IMPORT,	/* as CREATE, for one large import (bulk) */
	CTL_OPEN_UPGRADE	/* as RW, and an index of format 1 is opened */
} ctl_open_mode;

typedef struct ctl_ctx {
	const char *config_path;	/* -c, the default, or NULL (-d only) */
	const char *db_dir_opt;		/* -d */
	const char *db_dir;		/* -d, or database.path of the policy */
	cm_policy *policy;		/* loaded with -c */
	cm_index *idx;
	bool no_wait;			/* --no-wait: a busy index is an error */
	cm_addr_opts addr_opts;
	char actor[256];
	int64_t clock_skew_opt;		/* --clock-skew, 0 = not given */
	bool up_attached;		/* the index writes the outbox (sync.h) */
	bool up_no_flush;		/* the command pushes it itself */
	bool up_seed;			/* attach by seeding (sync --seed) */
} ctl_ctx;

/* Fill C from the global options -c CONFIG and -d DBDIR (either may be
 * NULL): without -c and -d the default configuration is used; with -d
 * alone no configuration is read unless a command requires it. */
void ctl_ctx_init(ctl_ctx *c, const char *config, const char *dbdir);
void ctl_ctx_fini(ctl_ctx *c);

/* Load the policy if -c is in force (no-op with -d). */
int ctl_ctx_load_policy(ctl_ctx *c);

/* Load the policy, reading the default configuration if only -d was
 * given (for commands that need the newsletter types). */
int ctl_ctx_require_policy(ctl_ctx *c);

/* Load the policy (if any) and open the index in MODE.  A mode that may
 * write waits while another writer holds the index (saying so once on a
 * terminal), or with C->no_wait fails at once: "index busy",
 * EX_TEMPFAIL; it then attaches the index to the shared store
 * (ctl_sync_attach).  On any failure C->idx is NULL: an index opened but
 * not attached is closed again (its writer lock released) before the
 * exit code is returned.  With C->idx open already: 0, whatever MODE. */
int ctl_ctx_open(ctl_ctx *c, ctl_open_mode mode);

/* The allowed clock skew of changes, in microseconds: --clock-skew,
 * else database.clock_skew of the policy (if loaded), else 0 (the
 * index's default, five minutes). */
int64_t ctl_ctx_clock_skew(const ctl_ctx *c);

/* Normalize address IN into *OUT; on error prints it (EX_DATAERR). */
int ctl_ctx_addr(ctl_ctx *c, const char *in, cm_addr *out);

/* Check a type id: with a policy it must name a configured type (its
 * entry in *NT, else NULL); with -d it must be a valid id. */
int ctl_ctx_type(ctl_ctx *c, const char *id, const cm_ntype **nt);

#endif
