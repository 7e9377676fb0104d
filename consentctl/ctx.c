/* ctx.c - global state shared by the subcommands of consentctl. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../core/names.h"
#include "../core/wlock.h"
#include "ctx.h"
#include "diag.h"
#include "parse.h"
#include "sync.h"

static void
set_actor(ctl_ctx *c)
{
	const char *sudo = getenv("SUDO_USER");
	struct passwd *pw;

	if (geteuid() == 0 && sudo != NULL && sudo[0] != '\0' &&
	    strlen(sudo) < 64 && ctl_parse_utf8(sudo, strlen(sudo))) {
		snprintf(c->actor, sizeof(c->actor), "%s", sudo);
		return;
	}
	pw = getpwuid(geteuid());
	if (pw != NULL && pw->pw_name != NULL && strlen(pw->pw_name) < 64)
		snprintf(c->actor, sizeof(c->actor), "%s", pw->pw_name);
	else
		snprintf(c->actor, sizeof(c->actor), "uid %lu",
		    (unsigned long)geteuid());
}

void
ctl_ctx_init(ctl_ctx *c, const char *config, const char *dbdir)
{
	memset(c, 0, sizeof(*c));
	c->db_dir_opt = c->db_dir = dbdir;
	c->config_path = config != NULL ? config :
	    dbdir != NULL ? NULL : CTL_DEFAULT_CONFIG;
	cm_addr_opts_default(&c->addr_opts);
	set_actor(c);
}

void
ctl_ctx_fini(ctl_ctx *c)
{
	if (c->idx != NULL) {
		/* the writer lock is dropped before the push: other
		 * writers (an opt-out) never wait on the network */
		cm_index_close(c->idx);
		c->idx = NULL;
		ctl_sync_flush(c);
	}
	if (c->policy != NULL)
		cm_policy_free(c->policy);
	c->idx = NULL;
	c->policy = NULL;
}

int
ctl_ctx_load_policy(ctl_ctx *c)
{
	cm_errlist *errs;
	cm_status st;

	if (c->config_path == NULL || c->policy != NULL)
		return 0;
	if (access(c->config_path, F_OK) != 0 && errno == ENOENT) {
		ctl_diag_err("%s: configuration file not found (give -c FILE, "
		    "or -d DBDIR for the index alone)", c->config_path);
		return EX_NOINPUT;
	}
	errs = cm_errlist_new();
	if (errs == NULL) {
		ctl_diag_err("%s: %s", c->config_path, cm_strerror(CM_ENOMEM));
		return EX_OSERR;
	}
	st = cm_policy_load(c->config_path, &c->policy, errs);
	if (st != CM_OK) {
		size_t n = cm_errlist_count(errs);

		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s\n", cm_errlist_get(errs, i));
		if (n == 0)
			ctl_diag_err("%s: %s", c->config_path, cm_strerror(st));
		ctl_diag_err("%s: configuration not loaded (%zu error%s)",
		    c->config_path, n, n == 1 ? "" : "s");
		cm_errlist_free(errs);
		c->policy = NULL;
		return st == CM_ENOMEM ? EX_OSERR : EX_CONFIG;
	}
	cm_errlist_free(errs);
	if (c->db_dir_opt == NULL)
		c->db_dir = cm_policy_db_path(c->policy);
	c->addr_opts = *cm_policy_addr_opts(c->policy);
	return 0;
}

int
ctl_ctx_require_policy(ctl_ctx *c)
{
	if (c->config_path == NULL)
		c->config_path = CTL_DEFAULT_CONFIG;
	return ctl_ctx_load_policy(c);
}

/*
 * Run as root with a configuration naming milter.user: give the index
 * files root created (a new index, or a recreated lock file) to that
 * user, so the milter, which runs as that user, can open them.
 */
static int
give_to_milter_user(ctl_ctx *c)
{
	static const char *const files[] = { ".", "data.mdb", "lock.mdb",
	    "erasure.key", CM_WLOCK_FILE };
	const char *user, *group;
	struct passwd *pw;
	struct group *gr;
	uid_t uid;
	gid_t gid;
	int dfd;

	if (geteuid() != 0 || c->policy == NULL ||
	    (user = cm_policy_user(c->policy)) == NULL || user[0] == '\0')
		return 0;
	if ((pw = getpwnam(user)) == NULL) {
		ctl_diag_err("%s: milter.user '%s' does not exist; the index "
		    "files stay owned by root", c->config_path, user);
		return 0;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	group = cm_policy_group(c->policy);
	if (group != NULL && group[0] != '\0') {
		if ((gr = getgrnam(group)) == NULL) {
			ctl_diag_err("%s: milter.group '%s' does not exist",
			    c->config_path, group);
			return 0;
		}
		gid = gr->gr_gid;
	}
	if ((dfd = open(c->db_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct stat sb;

		if (fstatat(dfd, files[i], &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    sb.st_uid != 0 || !(S_ISREG(sb.st_mode) ||
		    S_ISDIR(sb.st_mode)))
			continue;
		if (fchownat(dfd, files[i], uid, gid,
		    AT_SYMLINK_NOFOLLOW) != 0)
			ctl_diag_err("%s/%s: cannot give it to %s: %s",
			    c->db_dir, files[i], user, strerror(errno));
	}
	close(dfd);
	return 0;
}

int
ctl_ctx_open(ctl_ctx *c, ctl_open_mode mode)
{
	cm_index_opts o;
	cm_status st;
	int rc;

	if ((rc = ctl_ctx_load_policy(c)) != 0)
		return rc;
	if (c->idx != NULL)
		return 0;
	if (c->db_dir == NULL || c->db_dir[0] == '\0') {
		ctl_diag_err("no index directory (use -c FILE or -d DBDIR)");
		return EX_USAGE;
	}
	memset(&o, 0, sizeof(o));
	if (c->policy != NULL) {
		o.map_size = cm_policy_db_map_size(c->policy);
		o.max_readers = cm_policy_db_max_readers(c->policy);
	}
	o.clock_skew_us = ctl_ctx_clock_skew(c);
	o.readonly = mode == CTL_OPEN_RO;
	o.create = mode == CTL_OPEN_CREATE || mode == CTL_OPEN_IMPORT;
	o.bulk = mode == CTL_OPEN_IMPORT;
	o.upgrade = mode == CTL_OPEN_UPGRADE;
	if (o.create && mkdir(c->db_dir, 0750) != 0 &&
	    errno != EEXIST) {
		ctl_diag_err("%s: cannot create directory: %s", c->db_dir,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	/* try first, to say why we wait */
	o.no_wait = true;
	st = cm_index_open(c->db_dir, &o, &c->idx);
	if (st == CM_EBUSY && !c->no_wait) {
		if (isatty(STDERR_FILENO))
			ctl_diag_err("%s: the index is held by another writer; "
			    "waiting for it (--no-wait: fail at once)",
			    c->db_dir);
		o.no_wait = false;
		st = cm_index_open(c->db_dir, &o, &c->idx);
	}
	if (st == CM_OK && mode == CTL_OPEN_RO)
		return 0;
	if (st == CM_OK) {
		if ((rc = give_to_milter_user(c)) == 0)
			rc = ctl_sync_attach(c);
		if (rc != 0) {
			/* opened, but not usable as asked: no caller inherits
			 * a half-opened index, nor its writer lock (a later
			 * read-only open would otherwise reuse it) */
			cm_index_close(c->idx);
			c->idx = NULL;
			c->up_attached = false;
		}
		return rc;
	}
	c->idx = NULL;
	if (st == CM_EBUSY) {
		ctl_diag_err("%s: index busy: another writer holds it (try "
		    "again later, or without --no-wait to wait)", c->db_dir);
		return EX_TEMPFAIL;
	}
	if (st == CM_NOTFOUND) {
		ctl_diag_err("%s: no consent index here (create one with "
		    "'consentctl init')", c->db_dir);
		return EX_NOINPUT;
	}
	if (st == CM_EPERM)
		ctl_diag_err("%s: cannot open the consent index: permission "
		    "denied", c->db_dir);
	else if (st == CM_EIO)
		ctl_diag_err("%s: cannot open the consent index: %s (%s)",
		    c->db_dir, cm_strerror(st), strerror(errno));
	else
		ctl_diag_err("%s: cannot open the consent index: %s",
		    c->db_dir, cm_strerror(st));
	if (o.create && (st == CM_EIO || st == CM_EPERM))
		return EX_CANTCREAT;
	return ctl_diag_exit(st);
}

int64_t
ctl_ctx_clock_skew(const ctl_ctx *c)
{
	if (c->clock_skew_opt > 0)
		return c->clock_skew_opt;
	return c->policy != NULL ? cm_policy_db_clock_skew(c->policy) : 0;
}

int
ctl_ctx_addr(ctl_ctx *c, const char *in, cm_addr *out)
{
	cm_status st = cm_addr_normalize(in, strlen(in), &c->addr_opts, out);

	if (st != CM_OK) {
		ctl_diag_err("address '%s': %s", in, cm_strerror(st));
		return EX_DATAERR;
	}
	return 0;
}

int
ctl_ctx_type(ctl_ctx *c, const char *id, const cm_ntype **nt)
{
	int rc;

	*nt = NULL;
	if ((rc = ctl_ctx_load_policy(c)) != 0)
		return rc;
	if (c->policy != NULL) {
		*nt = cm_policy_find_type(c->policy, id);
		if (*nt == NULL) {
			ctl_diag_err("newsletter type '%s': not defined in %s",
			    id, c->config_path);
			return EX_DATAERR;
		}
		return 0;
	}
	if (!cm_type_id_valid(id, strlen(id))) {
		ctl_diag_err("newsletter type '%s': invalid id (expected "
		    "[a-z0-9._-], 1 to %d characters)", id, CM_TYPE_ID_MAX);
		return EX_DATAERR;
	}
	return 0;
}
