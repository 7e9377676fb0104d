/*
 * test_ctlctx.c - consentctl's ctl_ctx_open (consentctl/ctx.h) when a
 * step after the index's open fails: the attach to the shared store of
 * an index that holds data recorded before (refused until seeded).  No
 * caller may inherit the half-opened index: C->idx is NULL, its writer
 * lock is free at once, and the next read-only open is read-only.  Run
 * by tests/upstream/ctx.sh, which makes the index and the configuration
 * (no PostgreSQL is reached: the attach is local).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include <cmocka.h>

#include "consentctl/ctx.h"
#include "core/scrubq.h"
#include "core/wlock.h"

static const char *config, *dbdir;

/* Is the writer lock of DBDIR free (taken and given back at once)? */
static bool
lock_free(void)
{
	cm_wlock *l = NULL;
	cm_status st = cm_wlock_acquire(dbdir, false, &l);

	cm_wlock_release(l);
	if (st != CM_OK && st != CM_EBUSY)
		fail_msg("%s: writer lock: %s", dbdir, cm_strerror(st));
	return st == CM_OK;
}

/* The probe sees a writer: with -d alone (no upstream: section, no
 * attach) the open for writing succeeds and holds the lock until the
 * context ends. */
static void
test_probe(void **state)
{
	ctl_ctx c;

	(void)state;
	ctl_ctx_init(&c, NULL, dbdir);
	assert_true(lock_free());
	assert_int_equal(ctl_ctx_open(&c, CTL_OPEN_RW), 0);
	assert_non_null(c.idx);
	assert_false(lock_free());
	ctl_ctx_fini(&c);
	assert_true(lock_free());
}

static const ctl_open_mode write_modes[] = { CTL_OPEN_RW, CTL_OPEN_CREATE,
    CTL_OPEN_UPGRADE };

/* The attach fails (exit 65): the index is closed again, its lock free
 * while the context lives on; an open read-only afterwards is a reader
 * (no lock, writes refused). */
static void
test_attach_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(write_modes) / sizeof(write_modes[0]);
	    i++) {
		ctl_ctx c;

		ctl_ctx_init(&c, config, NULL);
		assert_int_equal(ctl_ctx_open(&c, write_modes[i]), EX_DATAERR);
		assert_null(c.idx);
		assert_false(c.up_attached);
		assert_true(lock_free());
		/* the same context again: refused the same way */
		assert_int_equal(ctl_ctx_open(&c, write_modes[i]), EX_DATAERR);
		assert_null(c.idx);
		assert_int_equal(ctl_ctx_open(&c, CTL_OPEN_RO), 0);
		assert_non_null(c.idx);
		assert_true(lock_free());
		assert_int_equal(cm_scrubq_done(c.idx, "a@example.net"),
		    CM_EPERM);
		ctl_ctx_fini(&c);
		assert_true(lock_free());
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_attach_refused),
	};

	config = getenv("CTX_CONFIG");
	dbdir = getenv("CTX_DBDIR");
	if (config == NULL || dbdir == NULL) {
		fprintf(stderr, "test_ctlctx: run by tests/upstream/ctx.sh\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
