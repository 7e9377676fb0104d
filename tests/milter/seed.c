/*
 * seed.c - test-only tool: write known records into a consent index.
 *
 *   seed DIR < COMMANDS
 *
 * DIR is created as an index if needed.  One command per line ('#'
 * starts a comment); addresses are normalized with the default options:
 *   grant ADDR TYPE [DAYS_AGO]   granted (at now - DAYS_AGO days)
 *   pending ADDR TYPE            signed up, not confirmed
 *   confirm ADDR TYPE
 *   withdraw ADDR TYPE
 *   object ADDR                  objection to all marketing
 *   suppress DOMAIN              domain-wide suppression
 *   erase ADDR
 *   corrupt ADDR                 damage the stored entry of ADDR (its
 *                                format octet), so lookups of ADDR fail
 * Exit 0 on success; the first failing line is reported and exits 1.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/index.h"
#include "core/timefmt.h"

/* In named database NAME, damage the first value holding KEY. */
static int
corrupt_in(MDB_txn *txn, const char *name, const char *key)
{
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t klen = strlen(key);
	int rc, found = 0;

	if (mdb_dbi_open(txn, name, 0, &dbi) != 0 ||
	    mdb_cursor_open(txn, dbi, &cur) != 0)
		return 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		unsigned char *copy;
		MDB_val nv;

		if (v.mv_size <= klen ||
		    memmem(v.mv_data, v.mv_size, key, klen) == NULL)
			continue;
		if ((copy = malloc(v.mv_size)) == NULL)
			break;
		memcpy(copy, v.mv_data, v.mv_size);
		copy[0] = 0xee;	/* unknown value format */
		nv.mv_data = copy;
		nv.mv_size = v.mv_size;
		found = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT) == 0;
		free(copy);
		break;
	}
	mdb_cursor_close(cur);
	return found;
}

/*
 * Damage the stored entry of normalized address KEY: the first value that
 * contains it, in any named database, gets an unknown format octet.
 */
static int
corrupt(const char *dir, const char *key)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi main_dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	char names[32][64];
	size_t n = 0, i;
	int rc, found = 0;

	if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 32) != 0 ||
	    mdb_env_open(env, dir, 0, 0600) != 0)
		return -1;
	if (mdb_txn_begin(env, NULL, 0, &txn) != 0) {
		mdb_env_close(env);
		return -1;
	}
	if (mdb_dbi_open(txn, NULL, 0, &main_dbi) == 0 &&
	    mdb_cursor_open(txn, main_dbi, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		    rc == 0 && n < 32;
		    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (k.mv_size == 0 || k.mv_size >= sizeof(names[0]))
				continue;
			memcpy(names[n], k.mv_data, k.mv_size);
			names[n][k.mv_size] = '\0';
			n++;
		}
		mdb_cursor_close(cur);
	}
	for (i = 0; i < n && !found; i++)
		found = corrupt_in(txn, names[i], key);
	if (found && mdb_txn_commit(txn) == 0) {
		mdb_env_close(env);
		return 0;
	}
	if (!found)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return -1;
}

int
main(int argc, char **argv)
{
	cm_index_opts o;
	cm_index *idx = NULL;
	char line[2048];
	unsigned lineno = 0;
	cm_status st;

	if (argc != 2) {
		fprintf(stderr, "usage: seed DIR < commands\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.create = true;
	if ((st = cm_index_open(argv[1], &o, &idx)) != CM_OK) {
		fprintf(stderr, "seed: open %s: %s\n", argv[1],
		    cm_strerror((int)st));
		return 1;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *cmd, *a, *t, *extra, *save = NULL;
		cm_event ev;
		cm_addr addr;

		lineno++;
		if ((cmd = strtok_r(line, " \t\r\n", &save)) == NULL ||
		    cmd[0] == '#')
			continue;
		a = strtok_r(NULL, " \t\r\n", &save);
		t = strtok_r(NULL, " \t\r\n", &save);
		extra = strtok_r(NULL, " \t\r\n", &save);
		if (a == NULL)
			goto bad;
		memset(&ev, 0, sizeof(ev));
		ev.source = "test-seed";
		ev.actor = "seed";
		if (strcmp(cmd, "suppress") == 0) {
			char dom[CM_ADDR_DOMAIN_MAX + 1];
			size_t dl;

			if (cm_addr_normalize_domain(a, strlen(a), dom, &dl) !=
			    CM_OK)
				goto bad;
			ev.kind = CM_EV_SUPPRESS_DOMAIN;
			ev.addr = dom;
			st = cm_index_apply(idx, &ev);
			if (st != CM_OK)
				goto fail;
			continue;
		}
		if (cm_addr_normalize(a, strlen(a), NULL, &addr) != CM_OK)
			goto bad;
		ev.addr = addr.key;
		ev.type = t;
		if (strcmp(cmd, "grant") == 0 || strcmp(cmd, "pending") == 0) {
			ev.kind = CM_EV_GRANT;
			ev.state = cmd[0] == 'g' ? CM_STATE_GRANTED :
			    CM_STATE_PENDING;
			if (extra != NULL)
				ev.at_us = cm_time_now() -
				    (int64_t)atol(extra) * 86400 * 1000000LL;
		} else if (strcmp(cmd, "confirm") == 0) {
			ev.kind = CM_EV_CONFIRM;
		} else if (strcmp(cmd, "withdraw") == 0) {
			ev.kind = CM_EV_WITHDRAW;
		} else if (strcmp(cmd, "object") == 0) {
			ev.kind = CM_EV_OBJECT;
		} else if (strcmp(cmd, "erase") == 0) {
			ev.kind = CM_EV_ERASE;
		} else if (strcmp(cmd, "corrupt") == 0) {
			cm_index_close(idx);
			idx = NULL;
			if (corrupt(argv[1], addr.key) != 0) {
				fprintf(stderr, "seed: line %u: cannot corrupt "
				    "%s\n", lineno, addr.key);
				return 1;
			}
			if ((st = cm_index_open(argv[1], &o, &idx)) != CM_OK)
				goto fail;
			continue;
		} else {
			goto bad;
		}
		if ((st = cm_index_apply(idx, &ev)) != CM_OK)
			goto fail;
	}
	cm_index_close(idx);
	return 0;
bad:
	fprintf(stderr, "seed: line %u: bad command\n", lineno);
	cm_index_close(idx);
	return 1;
fail:
	fprintf(stderr, "seed: line %u: %s\n", lineno, cm_strerror((int)st));
	cm_index_close(idx);
	return 1;
}
