/*
 * test_pgconn.c - the connection to the shared consent store
 * (upstream/pgstore.h) against a real PostgreSQL, started by
 * tests/upstream/pgstore.sh (tests/lib/pg.sh):
 *
 *   test_pgconn          password file, connection string, wait woken by
 *                        a push, pushes serialized
 *   test_pgconn stopped  the server stopped and started again under open
 *                        connections ($CM_PG_CTL stop|start)
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "pgtest.h"

static void
test_wait(void **state)
{
	cm_pg *pg = *state, *listener = open_ok();
	cm_upevent e = mkev(1, CM_EV_GRANT, "w@example.com", 0x81, now_us());
	size_t stored;

	/* the first wait LISTENs */
	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	assert_int_equal(cm_pg_wait(listener, 20), CM_NOTFOUND);
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_pg_ok(listener, cm_pg_wait(listener, 10000));
	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	/* a push that stores nothing wakes nobody; a second one does */
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_int_equal(stored, 0);
	e = mkev(2, CM_EV_WITHDRAW, "w@example.com", 0x81, now_us());
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_pg_ok(listener, cm_pg_wait(listener, 10000));
	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	cm_pg_close(listener);
}



/* Pushes are serialized: while one push's transaction is open (its id
 * taken, not yet committed), a second push waits for it, so a follower
 * never sees a later id before an earlier one commits and skips it. */
struct pusher {
	cm_pg *pg;
	cm_upevent ev;
	cm_status st;
};

static void *
push_thread(void *arg)
{
	struct pusher *p = arg;

	p->st = cm_pg_push(p->pg, &p->ev, 1, NULL);
	return NULL;
}

static void
test_serialized(void **state)
{
	cm_pg *pg = *state;
	PGconn *x = role_connect();
	struct pusher p = { open_ok(), mkev(2, CM_EV_GRANT, "second@example.com",
	    0x82, now_us()), CM_OK };
	struct timespec ts = { 0, 20 * 1000000 };
	struct seen s;
	pthread_t th;
	int64_t last;
	int i;

	/* if the test fails, the server ends X's transaction */
	sql_on(x, "SET idle_in_transaction_session_timeout = '10s'", NULL);
	sql_on(x, "BEGIN", NULL);
	sql_on(x, "SELECT consent_push('00000000-0000-4000-8000-000000000001',"
	    " 'grant', 'first@example.com', '\\x81818181818181818181818181818181',"
	    " 'news', 'granted', 1000, NULL, NULL, NULL, NULL, NULL, 'node-x')",
	    NULL);
	assert_int_equal(pthread_create(&th, NULL, push_thread, &p), 0);
	/* the second push waits on the push lock (bounded) */
	for (i = 0; i < 500; i++) {
		if (strcmp(sql("SELECT count(*) FROM pg_stat_activity WHERE "
		    "wait_event_type = 'Lock' AND wait_event = 'advisory'",
		    NULL), "1") == 0)
			break;
		nanosleep(&ts, NULL);
	}
	assert_true(i < 500);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 10, seen_cb, &s, &last));
	assert_int_equal(s.n, 0);
	sql_on(x, "COMMIT", NULL);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(p.st, CM_OK);
	memset(&s, 0, sizeof(s));
	assert_pg_ok(pg, cm_pg_fetch(pg, 0, 10, seen_cb, &s, &last));
	assert_int_equal(s.n, 2);
	assert_string_equal(s.addr[0], "first@example.com");
	assert_string_equal(s.addr[1], "second@example.com");
	assert_string_equal(s.origin[0], "node-x");
	PQfinish(x);
	cm_pg_close(p.pg);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static cm_status
try_open(const char *ci, const char *pw, char *err, size_t size)
{
	cm_pg *pg = NULL;
	cm_status st = cm_pg_open(ci, pw, &pg);

	assert_non_null(pg);
	snprintf(err, size, "%s", cm_pg_error(pg));
	cm_pg_close(pg);
	return st;
}

static void
test_password_file(void **state)
{
	char path[512], err[512], pw[128];
	FILE *f;

	(void)state;
	f = fopen(pwfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(pw, sizeof(pw), f));
	fclose(f);
	snprintf(path, sizeof(path), "%s/pw", tmpdir);
	write_file(path, pw, 0644);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_EPERM);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "0644"));
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_OK);
	/* no newline at the end, CRLF */
	pw[strcspn(pw, "\n")] = '\0';
	write_file(path, pw, 0600);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_OK);
	strcat(pw, "\r\nsecond line\n");
	write_file(path, pw, 0600);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_OK);
	/* a wrong password: the server refuses */
	write_file(path, "wrong-password\n", 0600);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)),
	    CM_EUPSTREAM);
	assert_non_null(strstr(err, "password authentication failed"));
	assert_null(strchr(err, '\n'));
	write_file(path, "\nsecond\n", 0600);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)), CM_EINVAL);
	assert_non_null(strstr(err, "empty"));
	snprintf(path, sizeof(path), "%s/none", tmpdir);
	assert_int_equal(try_open(conninfo, path, err, sizeof(err)),
	    CM_NOTFOUND);
	assert_int_equal(try_open(conninfo, tmpdir, err, sizeof(err)),
	    CM_EINVAL);
	/* no password at all (nor ~/.pgpass nor PGPASSWORD) */
	setenv("PGPASSFILE", path, 1);
	unsetenv("PGPASSWORD");
	assert_int_equal(try_open(conninfo, NULL, err, sizeof(err)),
	    CM_EUPSTREAM);
	assert_non_null(strstr(err, "password"));
	/* a bad connection string */
	assert_int_equal(try_open("host=127.0.0.1 bogus=1", NULL, err,
	    sizeof(err)), CM_EUPSTREAM);
	assert_non_null(strstr(err, "connection string"));
	assert_int_equal(try_open("host=127.0.0.1 port", NULL, err,
	    sizeof(err)), CM_EUPSTREAM);
	assert_non_null(strstr(err, "connection string"));
}

/* --- the server stopped and started again ----------------------------- */

static void
pgctl(const char *what)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "'%s' %s", getenv("CM_PG_CTL"), what);
	assert_int_equal(system(cmd), 0);
}

static void
test_server_stopped(void **state)
{
	cm_pg *pg = *state, *listener = open_ok(), *late = NULL;
	cm_upevent e = mkev(1, CM_EV_GRANT, "s@example.com", 0x81, now_us());
	struct seen s;
	int64_t head, last;
	size_t stored;

	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	assert_pg_ok(pg, cm_pg_head(pg, &head, NULL));
	pgctl("stop");
	assert_int_equal(cm_pg_head(pg, &head, NULL), CM_EUPSTREAM);
	assert_true(strlen(cm_pg_error(pg)) > 10);
	assert_null(strchr(cm_pg_error(pg), '\n'));
	assert_int_equal(cm_pg_push(pg, &e, 1, &stored), CM_EUPSTREAM);
	assert_non_null(strstr(cm_pg_error(pg), "connect"));
	assert_int_equal(cm_pg_wait(listener, 5000), CM_EUPSTREAM);
	assert_int_equal(cm_pg_open(conninfo, pwfile, &late), CM_EUPSTREAM);
	assert_non_null(strstr(cm_pg_error(late), "connect"));
	assert_int_equal(cm_pg_fetch(late, 0, 10, seen_cb, &s, &last),
	    CM_EUPSTREAM);

	/* back: every handle connects again */
	pgctl("start");
	assert_pg_ok(late, cm_pg_push(late, &e, 1, &stored));
	assert_int_equal(stored, 1);
	/* a wait after a reconnect says "fetch": notifications were lost */
	assert_pg_ok(listener, cm_pg_wait(listener, 0));
	assert_int_equal(cm_pg_wait(listener, 0), CM_NOTFOUND);
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_int_equal(stored, 0);
	e = mkev(2, CM_EV_WITHDRAW, "s@example.com", 0x81, now_us());
	assert_pg_ok(pg, cm_pg_push(pg, &e, 1, &stored));
	assert_pg_ok(listener, cm_pg_wait(listener, 10000));
	memset(&s, 0, sizeof(s));
	assert_pg_ok(late, cm_pg_fetch(late, 0, 10, seen_cb, &s, &last));
	assert_int_equal(s.n, 2);
	cm_pg_close(late);
	cm_pg_close(listener);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_file),
		cmocka_unit_test_setup_teardown(test_wait, setup_store,
		    teardown_store),
		cmocka_unit_test_setup_teardown(test_serialized, setup_store,
		    teardown_store),
	};
	const struct CMUnitTest stopped[] = {
		cmocka_unit_test_setup_teardown(test_server_stopped,
		    setup_store, teardown_store),
	};

	if (pgtest_init() != 0)
		return 77;
	if (argc > 1 && strcmp(argv[1], "stopped") == 0) {
		if (getenv("CM_PG_CTL") == NULL)
			return 77;
		return cmocka_run_group_tests_name("pgconn stopped", stopped,
		    NULL, NULL);
	}
	return cmocka_run_group_tests_name("pgconn", tests, NULL, NULL);
}
