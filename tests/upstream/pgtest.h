/*
 * pgtest.h - what the tests against a real PostgreSQL share (prefix
 * none: test helpers), run by tests/upstream/pgstore.sh, which starts
 * the server (tests/lib/pg.sh).  Every helper fails the running cmocka
 * test on an error.
 */
#ifndef CM_PGTEST_H
#define CM_PGTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "upstream/pgstore.h"

/* CM_PG_CONNINFO, CM_PG_PWFILE (the test role's password file), CM_TMP */
extern const char *conninfo, *pwfile, *tmpdir;

/* Read the environment: 0, or -1 (not run by pgstore.sh). */
int pgtest_init(void);

/* CALL on PG returns CM_OK, else the test fails with PG's error */
#define assert_pg_ok(pg, call) do { \
	cm_status st_ = (call); \
	if (st_ != CM_OK) \
		fail_msg("%s: %s: %s", #call, cm_strerror(st_), \
		    cm_pg_error(pg)); \
} while (0)

/* A notice processor that prints nothing. */
void quiet(void *arg, const char *msg);
/* The clock, microseconds since the epoch. */
int64_t now_us(void);
/* A connection of the test role of its own (libpq directly). */
PGconn *role_connect(void);
/* Run Q (with one text parameter PARAM, or none) on C, or on a
 * connection of its own; the first row's first column (a static
 * buffer), or "". */
const char *sql_on(PGconn *c, const char *q, const char *param);
const char *sql(const char *q, const char *param);
/* Drop the store's schema. */
void drop_schema(void);
/* cm_pg_open with the test role's conninfo and password file. */
cm_pg *open_ok(void);
/* cmocka setup/teardown: a store with a fresh schema in *STATE. */
int setup_store(void **state);
int teardown_store(void **state);
/* An event: KIND on ADDR (NULL for erase) under key octet K (all zero
 * for the domain events), at AT; its UUID made of SEQ, K and KIND. */
cm_upevent mkev(unsigned seq, cm_event_kind kind, const char *addr,
    unsigned char k, int64_t at);

/* fetch callback: copies what it sees */
struct seen {
	size_t n, stop_at;
	int64_t ids[16];
	cm_upevent ev[16];
	char addr[16][64], origin[16][CM_UPEVENT_NODE_MAX + 1], type[16][16];
	bool addr_null[16];
	cm_pg *other;		/* pushes an event from here at the first row */
};

/* cm_pg_event_cb over a struct seen: checks ids increase, copies the
 * first 16 events, stops before the STOP_AT-th (1-based; 0: never), and
 * pushes one event from OTHER at the first. */
int seen_cb(const cm_upevent *ue, void *arg);

#endif
