/*
 * cmd_sync.c - consentctl sync: a node and the shared consent store
 * (sync.h): push the outbox, apply the other nodes' events, once or as
 * a service; and the sync status.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "../core/outbox.h"
#include "../core/timefmt.h"
#include "../core/upsync.h"
#include "cmd.h"
#include "diag.h"
#include "parse.h"
#include "sync.h"

static const char sync_help[] =
"usage: consentctl [-c FILE] sync [--once | --follow | --status [--json]]\n"
"                  [--batch N] [--seed]\n"
"       consentctl [-c FILE | -d DBDIR] sync --detach\n"
"\n"
"Exchange changes with the shared consent store of the upstream: section:\n"
"send this node's outbox (the changes made here, applied locally at once),\n"
"then apply, in transactions of at most N events (default 10000), the\n"
"events the other nodes stored after this node's position, which moves in\n"
"the same transaction.  A new node (an empty index) starts from a\n"
"consistent snapshot of the whole store.\n"
"\n"
"  --once    one exchange, then exit (the default)\n"
"  --follow  run until SIGTERM: woken by the store's notifications and\n"
"            by changes to the index (consent-web's), and every\n"
"            upstream.poll_interval; reconnects with a growing delay\n"
"            (1 s to 60 s) while the store cannot be reached\n"
"  --status  the position, the lag behind the store in events and\n"
"            seconds, the outbox, the last error; --json: one object\n"
"  --seed    attach an index that holds data recorded before: queue its\n"
"            records, objections, suppressed domains and tombstones\n"
"            for the shared store (refused without it)\n"
"  --detach  the index stops writing an outbox (after the upstream:\n"
"            section was removed); what the outbox holds is dropped\n"
"\n"
"Exit status: 0; 75 when the shared store cannot be reached (--once,\n"
"--status: the change stays queued); 78 without an upstream: section.\n";

static volatile sig_atomic_t stop_flag;
/* the socket of the service's connection to the store, or -1 */
static volatile sig_atomic_t pg_fd = -1;

/* SIGTERM, SIGINT: stop; a call blocked on the store (a lock, a hung
 * server) ends at once: its socket is shut down (the server rolls the
 * transaction back; what was applied is committed with its position). */
static void
on_signal(int sig)
{
	int fd = pg_fd;

	(void)sig;
	stop_flag = 1;
	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
}

/* Let on_signal end calls on PG (NULL: none). */
static void
arm(const cm_pg *pg)
{
	pg_fd = cm_pg_socket(pg);
	if (stop_flag && pg_fd >= 0)
		(void)shutdown(pg_fd, SHUT_RDWR);
}

/* Sleep MS milliseconds, or less when asked to stop. */
static void
nap(long ms)
{
	while (ms > 0 && !stop_flag) {
		long step = ms > 200 ? 200 : ms;
		struct timespec ts = { 0, step * 1000000L };

		(void)nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* Open the index for one exchange (the writer lock is not kept between
 * exchanges: other writers go on). */
static int
open_index(ctl_ctx *c)
{
	c->up_no_flush = true;
	return ctl_ctx_open(c, CTL_OPEN_RW);
}

static void
close_index(ctl_ctx *c)
{
	if (c->idx != NULL)
		cm_index_close(c->idx);
	c->idx = NULL;
	c->up_attached = false;
}

/* The modification time of DIR/data.mdb (every commit writes it), or
 * zero: another program's change (consent-web's, to the outbox) shows
 * as a new time. */
static struct timespec
data_mtime(const char *dir)
{
	struct timespec none = { 0, 0 };
	char p[4096];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	return stat(p, &sb) == 0 ? sb.st_mtim : none;
}

static bool
same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Record the outcome of an exchange (ERR NULL: success) in the index,
 * opened for it when it is not open.  0, or the exit code after
 * ctl_ctx_open said why. */
static int
note(ctl_ctx *c, const char *err)
{
	bool opened = c->idx == NULL;
	int rc;

	if (opened && (rc = open_index(c)) != 0)
		return rc;
	(void)cm_upsync_note(c->idx, err);
	if (opened)
		close_index(c);
	return 0;
}

/* One exchange: push the outbox, then pull, even when the push failed
 * (the other nodes' opt-outs arrive all the same).  C->idx is closed
 * throughout: both take the writer lock only to change the index, never
 * while the store is waited for (sync.h).  Prints what it did when
 * something happened (or VERBOSE), and why the push failed.  The push's
 * failure is returned (ERR) when the pull succeeded; *RC: an exit code
 * when the index could not be opened to note the outcome (ctl_ctx_open
 * said why), else 0. */
static cm_status
exchange(ctl_ctx *c, cm_pg *pg, size_t batch, bool verbose, char *err,
    size_t sz, int *rc)
{
	ctl_sync_counts n;
	char perr[512] = "";
	size_t sent = 0;
	int64_t t0 = cm_time_now();
	cm_status st, pst;
	bool pulled;

	*rc = 0;
	memset(&n, 0, sizeof(n));
	close_index(c);
	pst = ctl_sync_push(c, pg, &sent, perr, sizeof(perr));
	st = ctl_sync_pull(c, pg, batch, &stop_flag, &n, err, sz);
	pulled = st == CM_OK;
	if (st == CM_OK && pst != CM_OK) {
		st = pst;
		snprintf(err, sz, "%s", perr);
	}
	if ((*rc = note(c, st == CM_OK ? NULL : err)) != 0)
		return CM_EDB;
	if (pst != CM_OK && st != pst)
		ctl_diag_err("sync: %s", perr);
	if (pulled && (verbose || sent > 0 || n.fetched > 0)) {
		printf("sync: sent %zu, received %zu: %zu applied, %zu stale, "
		    "%zu already applied, %zu refused, %zu erased; position %lld "
		    "(%.3f s)\n", sent, n.fetched, n.applied, n.stale,
		    n.skipped, n.refused, n.erased, (long long)n.pos,
		    (double)(cm_time_now() - t0) / 1e6);
		fflush(stdout);
	}
	return st;
}

static int
sync_once(ctl_ctx *c, size_t batch)
{
	char err[512] = "";
	cm_pg *pg = NULL;
	cm_status st;
	int rc = 0;

	if ((rc = open_index(c)) != 0)
		return rc;
	close_index(c);
	st = ctl_sync_connect(c, &pg, err, sizeof(err));
	if (st == CM_OK)
		st = exchange(c, pg, batch, true, err, sizeof(err), &rc);
	else
		rc = note(c, err);
	cm_pg_close(pg);
	if (rc != 0)
		return rc;
	if (st == CM_OK)
		return 0;
	ctl_diag_err("sync: %s", err);
	if (st == CM_EINVAL)
		return EX_CONFIG;	/* another erasure key */
	return st == CM_EUPSTREAM || st == CM_EFORMAT ? EX_TEMPFAIL :
	    ctl_diag_exit(st);
}

static int
sync_follow(ctl_ctx *c, size_t batch)
{
	struct sigaction sa;
	char err[512] = "", lasterr[512] = "";
	int64_t poll_us = cm_policy_upstream_poll(c->policy);
	long backoff = 1000;
	struct timespec seen;
	cm_pg *pg = NULL;
	cm_status st;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	printf("sync: following the shared store as node %s\n",
	    cm_policy_upstream_node(c->policy));
	fflush(stdout);
	while (!stop_flag) {
		if (pg == NULL) {
			st = ctl_sync_connect(c, &pg, err, sizeof(err));
			/* LISTEN before the first fetch: a push between the
			 * two would otherwise wake no one until the poll */
			if (st == CM_OK && (st = cm_pg_wait(pg, 0)) ==
			    CM_NOTFOUND)
				st = CM_OK;
			if (st != CM_OK && pg != NULL)
				snprintf(err, sizeof(err), "%s",
				    cm_pg_error(pg));
		} else {
			st = CM_OK;
		}
		arm(pg);
		if (st == CM_OK)
			st = exchange(c, pg, batch, false, err, sizeof(err),
			    &rc);
		else
			rc = note(c, err);
		arm(NULL);
		if (rc != 0) {
			cm_pg_close(pg);
			return rc;
		}
		seen = data_mtime(c->db_dir);
		if (st != CM_OK && st != CM_EUPSTREAM && st != CM_EFORMAT) {
			ctl_diag_err("sync: %s", err);
			cm_pg_close(pg);
			return st == CM_EINVAL ? EX_CONFIG : ctl_diag_exit(st);
		}
		if (st != CM_OK) {
			if (strcmp(err, lasterr) != 0 && !stop_flag)
				ctl_diag_err("sync: %s (retrying)", err);
			snprintf(lasterr, sizeof(lasterr), "%s", err);
			cm_pg_close(pg);
			pg = NULL;
			nap(backoff);
			backoff = backoff * 2 > 60000 ? 60000 : backoff * 2;
			continue;
		}
		if (lasterr[0] != '\0')
			printf("sync: the shared store is back\n");
		lasterr[0] = '\0';
		backoff = 1000;
		/* wait for a notification, or a change made here by
		 * another program, at most poll_interval */
		for (int64_t waited = 0; !stop_flag && waited < poll_us;
		    waited += 250000) {
			st = cm_pg_wait(pg, 250);
			if (st != CM_NOTFOUND ||
			    !same_time(seen, data_mtime(c->db_dir)))
				break;
		}
		if (st == CM_EUPSTREAM) {
			cm_pg_close(pg);
			pg = NULL;
		}
	}
	cm_pg_close(pg);
	printf("sync: stopped\n");
	return 0;
}

/* --detach: the index writes no outbox any more; its rows are dropped. */
static int
sync_detach(ctl_ctx *c)
{
	size_t n = 0;
	cm_status st;
	int rc;

	c->up_no_flush = true;
	if ((rc = ctl_ctx_open(c, CTL_OPEN_RW)) != 0)
		return rc;
	if ((st = cm_outbox_attach(c->idx, NULL)) != CM_OK ||
	    (st = cm_outbox_count(c->idx, &n, NULL)) != CM_OK ||
	    (st = cm_outbox_remove(c->idx, UINT64_MAX)) != CM_OK)
		return ctl_cmd_index_error(c, st, "sync --detach");
	c->up_attached = false;
	printf("%s: detached from the shared store; %zu unsent event%s "
	    "dropped\n", c->db_dir, n, n == 1 ? "" : "s");
	return 0;
}

static void
json_i64(const char *key, int64_t v, bool null)
{
	if (null)
		printf(",\"%s\":null", key);
	else
		printf(",\"%s\":%lld", key, (long long)v);
}

static int
sync_status(ctl_ctx *c, bool json)
{
	cm_upsync_state us;
	char err[512] = "", t1[CM_TIME_BUFSZ], t2[CM_TIME_BUFSZ];
	int64_t head = 0, head_us = 0, oldest = 0, lag_us = 0, offset = 0,
	    first_us = 0, skew;
	bool clock_off;
	size_t nout = 0;
	cm_pg *pg = NULL;
	cm_status st, pst;
	int rc;

	if ((rc = ctl_ctx_open(c, CTL_OPEN_RO)) != 0)
		return rc;
	if ((st = cm_upsync_state_get(c->idx, &us)) != CM_OK ||
	    (st = cm_outbox_count(c->idx, &nout, &oldest)) != CM_OK)
		return ctl_cmd_index_error(c, st, "sync --status");
	pst = ctl_sync_connect(c, &pg, err, sizeof(err));
	if (pst == CM_OK && (pst = cm_pg_head(pg, &head, &head_us)) != CM_OK)
		snprintf(err, sizeof(err), "%s", cm_pg_error(pg));
	if (pst == CM_OK && (pst = cm_pg_clock_offset(pg, &offset)) != CM_OK)
		snprintf(err, sizeof(err), "%s", cm_pg_error(pg));
	if (pst == CM_OK && head > us.pos && (pst = cm_pg_stored_after(pg,
	    us.pos, &first_us)) != CM_OK)
		snprintf(err, sizeof(err), "%s", cm_pg_error(pg));
	cm_pg_close(pg);
	skew = ctl_ctx_clock_skew(c);
	if (skew <= 0)
		skew = 300000000;	/* the index's default, 5 min */
	clock_off = pst == CM_OK && (offset > skew || offset < -skew);
	if (clock_off)
		ctl_diag_err("sync --status: WARNING: this node's clock is "
		    "%.1f s %s the shared store's, more than the clock skew "
		    "(%.0f s): keep the nodes' clocks NTP-synced",
		    (double)(offset < 0 ? -offset : offset) / 1e6,
		    offset < 0 ? "behind" : "ahead of", (double)skew / 1e6);
	/* the lag in seconds: how long the oldest event not applied here
	 * has been in the store, by the server's clock (the position's own
	 * time is not known after a bootstrap) */
	if (pst == CM_OK && head > us.pos && first_us > 0) {
		lag_us = cm_time_now() - offset - first_us;
		if (lag_us < 0)
			lag_us = 0;
	}
	if (json) {
		printf("{\"node\":");
		ctl_out_json_str(stdout, cm_policy_upstream_node(c->policy));
		printf(",\"attached\":%s", us.node[0] ? "true" : "false");
		json_i64("position", us.pos, false);
		ctl_out_json_member_time(stdout, "position_stored",
		    us.pos_stored_us);
		printf(",\"reachable\":%s", pst == CM_OK ? "true" : "false");
		json_i64("head", head, pst != CM_OK);
		json_i64("lag_events", head > us.pos ? head - us.pos : 0,
		    pst != CM_OK);
		if (pst == CM_OK)
			printf(",\"lag_seconds\":%.3f", (double)lag_us / 1e6);
		else
			printf(",\"lag_seconds\":null");
		if (pst == CM_OK)
			printf(",\"clock_offset_seconds\":%.3f",
			    (double)offset / 1e6);
		else
			printf(",\"clock_offset_seconds\":null");
		printf(",\"clock_warning\":%s", clock_off ? "true" : "false");
		json_i64("outbox", (int64_t)nout, false);
		ctl_out_json_member_time(stdout, "outbox_oldest", oldest);
		ctl_out_json_member_time(stdout, "last_ok", us.ok_us);
		ctl_out_json_member(stdout, "last_error", us.err[0] ? us.err :
		    NULL);
		ctl_out_json_member_time(stdout, "last_error_at", us.err_us);
		ctl_out_json_member(stdout, "error", pst == CM_OK ? NULL : err);
		printf("}\n");
	} else {
		printf("node:          %s%s\n",
		    cm_policy_upstream_node(c->policy),
		    us.node[0] ? "" : " (index not attached yet)");
		printf("position:      %lld%s%s\n", (long long)us.pos,
		    us.pos_stored_us ? ", stored " : "",
		    ctl_out_time(us.pos_stored_us, t1));
		if (pst == CM_OK)
			printf("shared store:  head %lld, lag at most %lld "
			    "events, %.3f s\n", (long long)head, (long long)(head >
			    us.pos ? head - us.pos : 0), (double)lag_us / 1e6);
		else
			printf("shared store:  unreachable: %s\n", err);
		if (pst == CM_OK)
			printf("clock:         %.3f s %s the store's%s\n",
			    (double)(offset < 0 ? -offset : offset) / 1e6,
			    offset < 0 ? "behind" : "ahead of", clock_off ?
			    " (beyond the clock skew: keep clocks NTP-synced)" :
			    "");
		printf("outbox:        %zu event%s%s%s\n", nout,
		    nout == 1 ? "" : "s", oldest ? ", oldest " : "",
		    ctl_out_time(oldest, t1));
		printf("last success:  %s\n", us.ok_us ?
		    ctl_out_time(us.ok_us, t1) : "never");
		if (us.err[0])
			printf("last error:    %s: %s\n",
			    ctl_out_time(us.err_us, t2), us.err);
		else
			printf("last error:    none\n");
	}
	return pst == CM_OK ? 0 : pst == CM_EINVAL ? EX_CONFIG : EX_TEMPFAIL;
}

int
ctl_cmd_sync(ctl_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "follow", no_argument, NULL, 'f' },
		{ "status", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "batch", required_argument, NULL, 'b' },
		{ "detach", no_argument, NULL, 'd' },
		{ "seed", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int ch, rc, mode = 'o';
	bool json = false;
	size_t batch = 10000;
	char *end;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_cmd_help(sync_help);
		case 'o':
		case 'f':
		case 's':
		case 'd':
			mode = ch;
			break;
		case 'j':
			json = true;
			break;
		case 'S':
			c->up_seed = true;
			break;
		case 'b':
			errno = 0;
			batch = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || batch == 0 ||
			    batch > 1000000)
				return ctl_cmd_usage("sync", "--batch '%s': "
				    "expected 1 to 1000000", optarg);
			break;
		default:
			return ctl_cmd_usage("sync", "invalid option");
		}
	}
	if (optind != argc)
		return ctl_cmd_usage("sync", "no arguments expected");
	if (json && mode != 's')
		return ctl_cmd_usage("sync", "--json goes with --status");
	if (mode == 'd')
		return sync_detach(c);
	if ((rc = ctl_ctx_require_policy(c)) != 0)
		return rc;
	if (!ctl_sync_configured(c)) {
		ctl_diag_err("sync: no upstream: section in %s: this node "
		    "works alone", c->config_path ? c->config_path : "the "
		    "configuration");
		return EX_CONFIG;
	}
	if (mode == 's')
		return sync_status(c, json);
	return mode == 'f' ? sync_follow(c, batch) : sync_once(c, batch);
}
