/*
 * cmd_link.c - `consentctl link`: print one-click unsubscribe and
 * double opt-in confirmation links (core/token.h, config/links.h), and
 * manage the key ring that seals them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../config/links.h"
#include "../core/timefmt.h"
#include "../core/token.h"
#include "cmd.h"
#include "diag.h"

static const char link_help[] =
"usage: consentctl [-c FILE | -d DBDIR] link unsubscribe ADDR TYPE [--token] [--at T]\n"
"       consentctl [-c FILE | -d DBDIR] link confirm ADDR TYPE [--token] [--at T]\n"
"       consentctl [-c FILE | -d DBDIR] link new-key\n"
"       consentctl [-c FILE | -d DBDIR] link open TOKEN\n"
"\n"
"unsubscribe, confirm: print the link that withdraws ADDR's consent to\n"
"TYPE with one click (and, if links.mailto_domain is set, its mailto\n"
"form on a second line), or the link that confirms a pending double\n"
"opt-in.  The links are built from the links: section of the\n"
"configuration; with --token (or with -d and no configuration) only the\n"
"token is printed.  --at TIME issues the token as of TIME (for tests\n"
"of expiry).  Tokens are sealed with the newest key of the key\n"
"ring (links.key_dir, default DBDIR/link-keys) and need no storage.\n"
"\n"
"new-key: add a key to the ring (the first one, or the next for a\n"
"rotation: new tokens are sealed with it, older keys still open theirs;\n"
"remove an old key's file to refuse its tokens).  `consentctl init`\n"
"creates the first key.\n"
"\n"
"open: print what TOKEN says (purpose, type, address, issue time, key\n"
"id), or why it is refused (exit 65).\n";

static const char *
key_dir(ctl_ctx *c, char *buf, size_t size)
{
	static const cm_links none;
	const cm_links *l = c->policy ? cm_policy_links(c->policy) : &none;

	if (!cm_links_key_dir(l, c->db_dir, buf, size)) {
		ctl_diag_err("%s: path too long", c->db_dir);
		return NULL;
	}
	return buf;
}

/* Run as root with milter.user configured: give DIR and its keys to
 * that user (the milter and consent-web read them after dropping
 * privileges), as ctx.c does with the index files. */
static void
give_keys(ctl_ctx *c, const char *dir)
{
	const char *user, *group;
	struct passwd *pw;
	struct group *gr;
	struct dirent *de;
	gid_t gid;
	DIR *d;

	if (geteuid() != 0 || c->policy == NULL ||
	    (user = cm_policy_user(c->policy)) == NULL || user[0] == '\0' ||
	    (pw = getpwnam(user)) == NULL)
		return;
	gid = pw->pw_gid;
	group = cm_policy_group(c->policy);
	if (group != NULL && group[0] != '\0' && (gr = getgrnam(group)) != NULL)
		gid = gr->gr_gid;
	if (chown(dir, pw->pw_uid, gid) != 0) {
		ctl_diag_err("%s: cannot give it to %s: %s", dir, user,
		    strerror(errno));
		return;
	}
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && fchownat(dirfd(d), de->d_name,
		    pw->pw_uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
			ctl_diag_err("%s/%s: cannot give it to %s: %s", dir,
			    de->d_name, user, strerror(errno));
	closedir(d);
}

/* Called by `consentctl init` after the index is ready: the first key of
 * the ring, unless it has one.  Returns 0 or an exit code. */
int
ctl_link_init_key(ctl_ctx *c)
{
	char dir[4096];
	cm_token_ring *r;
	cm_status st;
	unsigned id;

	if (!key_dir(c, dir, sizeof dir))
		return EX_USAGE;
	st = cm_token_ring_load(dir, &r, NULL);
	if (st == CM_OK) {
		cm_token_ring_free(r);
		return 0;
	}
	if (st == CM_NOTFOUND)
		st = cm_token_ring_create_key(dir, &id);
	if (st != CM_OK) {
		ctl_diag_err("%s: cannot create the link key: %s", dir,
		    cm_strerror(st));
		return ctl_diag_exit(st);
	}
	give_keys(c, dir);
	printf("link key %u created in %s\n", id, dir);
	return 0;
}

static int
new_key(ctl_ctx *c)
{
	char dir[4096];
	cm_status st;
	unsigned id;

	if (!key_dir(c, dir, sizeof dir))
		return EX_USAGE;
	if ((st = cm_token_ring_create_key(dir, &id)) != CM_OK) {
		ctl_diag_err("%s: cannot create a link key: %s%s", dir,
		    cm_strerror(st), st == CM_EFULL ? " (ids 0..255 used: "
		    "remove retired keys and their tokens' ids first)" : "");
		return ctl_diag_exit(st);
	}
	give_keys(c, dir);
	printf("link key %u created in %s: it seals new links from now on\n",
	    id, dir);
	return 0;
}

/* `link open TOKEN`: what a token says (for support questions). */
static int
open_token(ctl_ctx *c, const char *text)
{
	char dir[4096], when[40];
	const cm_links *l;
	const char *ep = NULL;
	cm_token_ring *r;
	cm_status st;
	cm_token t;
	int rc;

	if ((rc = ctl_ctx_load_policy(c)) != 0)
		return rc;
	if (!key_dir(c, dir, sizeof dir))
		return EX_USAGE;
	if ((st = cm_token_ring_load(dir, &r, &ep)) != CM_OK) {
		ctl_diag_err("%s: cannot load the link keys: %s", ep,
		    cm_strerror(st));
		return ctl_diag_exit(st);
	}
	l = c->policy ? cm_policy_links(c->policy) : NULL;
	st = cm_token_open(r, text, strlen(text), cm_time_now(),
	    l && l->present ? l->max_age : 0, &t);
	cm_token_ring_free(r);
	if (st != CM_OK) {
		ctl_diag_err("link open: %s", st == CM_ESTALE ? "token expired" :
		    st == CM_NOTFOUND ? "sealed by a key not in the ring" :
		    st == CM_EFUTURE ? "issued in the future" :
		    "not a valid token");
		return EX_DATAERR;
	}
	printf("%s %s %s %s key=%u\n", cm_token_purpose_name(t.purpose), t.type,
	    t.addr, cm_time_format(t.issued_us, when), t.key_id);
	return 0;
}

static int
print_link(ctl_ctx *c, cm_token_purpose p, const char *addr_in,
    const char *type, bool token_only, int64_t at)
{
	char dir[4096], tok[CM_TOKEN_TEXT_MAX], url[1024];
	const cm_links *l = NULL;
	const cm_ntype *nt;
	const char *ep = NULL;
	cm_token_ring *r;
	cm_addr a;
	cm_status st;
	int rc;

	if ((rc = ctl_ctx_load_policy(c)) != 0)
		return rc;
	if (c->policy)
		l = cm_policy_links(c->policy);
	if (!token_only && (l == NULL || l->base_url == NULL)) {
		ctl_diag_err("link: no links: section with base_url in the "
		    "configuration (use --token to print the token only)");
		return EX_CONFIG;
	}
	if ((rc = ctl_ctx_addr(c, addr_in, &a)) != 0 ||
	    (rc = ctl_ctx_type(c, type, &nt)) != 0)
		return rc;
	if (!key_dir(c, dir, sizeof dir))
		return EX_USAGE;
	if ((st = cm_token_ring_load(dir, &r, &ep)) != CM_OK) {
		ctl_diag_err("%s: cannot load the link keys: %s%s", ep,
		    cm_strerror(st), st == CM_NOTFOUND ? " (run `consentctl "
		    "link new-key`)" : "");
		return ctl_diag_exit(st);
	}
	st = cm_token_seal(r, p, a.key, type, at, tok, sizeof tok);
	cm_token_ring_free(r);
	if (st != CM_OK) {
		ctl_diag_err("link: cannot seal a token: %s", cm_strerror(st));
		return ctl_diag_exit(st);
	}
	if (token_only) {
		printf("%s\n", tok);
		return 0;
	}
	if (!cm_links_url(l, p, tok, url, sizeof url)) {
		ctl_diag_err("link: URL too long");
		return EX_SOFTWARE;
	}
	printf("%s\n", url);
	if (p == CM_TOKEN_UNSUBSCRIBE && cm_links_mailto(l, tok, url, sizeof url))
		printf("%s\n", url);
	return 0;
}

int
ctl_cmd_link(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "token", no_argument, NULL, 't' },
		{ "at", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	bool token_only = false;
	int64_t at = 0;
	const char *what;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h')
			return ctl_cmd_help(link_help);
		if (ch == 't') {
			token_only = true;
			continue;
		}
		if (ch == 'a') {
			if ((rc = ctl_cmd_time_opt("link", "--at", optarg, &at)) != 0)
				return rc;
			continue;
		}
		return ctl_cmd_usage("link", "invalid option");
	}
	if (optind >= argc)
		return ctl_cmd_usage("link", "expected unsubscribe, confirm or "
		    "new-key");
	what = argv[optind++];
	if (strcmp(what, "new-key") == 0) {
		if (optind != argc)
			return ctl_cmd_usage("link", "new-key takes no arguments");
		rc = ctl_ctx_load_policy(c);
		return rc != 0 ? rc : new_key(c);
	}
	if (strcmp(what, "open") == 0) {
		if (argc - optind != 1)
			return ctl_cmd_usage("link", "expected open TOKEN");
		return open_token(c, argv[optind]);
	}
	if (strcmp(what, "unsubscribe") != 0 && strcmp(what, "confirm") != 0)
		return ctl_cmd_usage("link", "unknown link '%s', expected "
		    "unsubscribe, confirm or new-key", what);
	if (argc - optind != 2)
		return ctl_cmd_usage("link", "expected ADDR TYPE");
	return print_link(c, strcmp(what, "confirm") == 0 ? CM_TOKEN_CONFIRM :
	    CM_TOKEN_UNSUBSCRIBE, argv[optind], argv[optind + 1], token_only,
	    at ? at : cm_time_now());
}
