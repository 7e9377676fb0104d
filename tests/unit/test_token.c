/* test_token.c - link tokens (core/token.h): round trips, tampering,
 * foreign keys, expiry, rotation, the key ring on disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/token.h"
#include "tests/unit/cmtest.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MIN (60LL * 1000000)
#define DAY (1440 * MIN)
#define NOW (29483520LL * MIN)	/* 2026-01-21T16:00:00Z, whole minute */

static cm_token_ring *
ring_of(unsigned id, unsigned char fill)
{
	unsigned char key[CM_TOKEN_KEY_LEN];
	cm_token_ring *r;

	memset(key, fill, sizeof key);
	assert_int_equal(cm_token_ring_new(&r), CM_OK);
	assert_int_equal(cm_token_ring_add(r, id, key), CM_OK);
	return r;
}

struct rt {
	cm_token_purpose p;
	const char *addr, *type;
};

static const struct rt rts[] = {
	{ CM_TOKEN_UNSUBSCRIBE, "bob@example.com", "news" },
	{ CM_TOKEN_CONFIRM, "bob@example.com", "news" },
	{ CM_TOKEN_UNSUBSCRIBE, "a@b", "x" },
	{ CM_TOKEN_UNSUBSCRIBE, "\"john doe\"@example.org", "offers.weekly-2" },
	{ CM_TOKEN_CONFIRM, "über@xn--mnchen-3ya.de", "a_b" },
	{ CM_TOKEN_UNSUBSCRIBE,
	    "0123456789012345678901234567890123456789012345678901234567890123@"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
	    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
	    "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
	    "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt" },
};

static void
test_round_trip(void **state)
{
	cm_token_ring *r = ring_of(7, 0x42);
	(void)state;
	for (size_t i = 0; i < NELEM(rts); i++) {
		char t[CM_TOKEN_TEXT_MAX], t2[CM_TOKEN_TEXT_MAX];
		cm_token tok;
		assert_int_equal(cm_token_seal(r, rts[i].p, rts[i].addr,
		    rts[i].type, NOW + 59 * 1000000, t, sizeof t), CM_OK);
		assert_true(strlen(t) < CM_TOKEN_TEXT_MAX);
		assert_null(strstr(t, "bob"));
		assert_int_equal(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_"), strlen(t));
		assert_int_equal(cm_token_open(r, t, strlen(t), NOW + DAY, 0,
		    &tok), CM_OK);
		assert_int_equal(tok.purpose, rts[i].p);
		assert_int_equal(tok.key_id, 7);
		assert_int_equal(tok.issued_us, NOW);
		assert_string_equal(tok.addr, rts[i].addr);
		assert_string_equal(tok.type, rts[i].type);
		/* a fresh nonce each time */
		assert_int_equal(cm_token_seal(r, rts[i].p, rts[i].addr,
		    rts[i].type, NOW, t2, sizeof t2), CM_OK);
		assert_string_not_equal(t, t2);
	}
	{
		char t[CM_TOKEN_TEXT_MAX];
		assert_int_equal(cm_token_seal(r, CM_TOKEN_UNSUBSCRIBE,
		    "bob@example.com", "news", NOW, t, sizeof t), CM_OK);
		assert_int_equal(strlen(t), 72);
	}
	cm_token_ring_free(r);
}

struct bad_seal {
	int p;
	const char *addr, *type;
	int64_t now;
	size_t outsz;
	cm_status st;
};

static const struct bad_seal bad_seals[] = {
	{ 3, "bob@example.com", "news", NOW, CM_TOKEN_TEXT_MAX, CM_EINVAL },
	{ 1, "bob@example.com", "News", NOW, CM_TOKEN_TEXT_MAX, CM_EINVAL },
	{ 1, "bob@example.com", "", NOW, CM_TOKEN_TEXT_MAX, CM_EINVAL },
	{ 1, "bobexample.com", "news", NOW, CM_TOKEN_TEXT_MAX, CM_EINVAL },
	{ 1, "@example.com", "news", NOW, CM_TOKEN_TEXT_MAX, CM_EINVAL },
	{ 1, "bob@", "news", NOW, CM_TOKEN_TEXT_MAX, CM_EINVAL },
	{ 1, "bob@example.com", "news", -1, CM_TOKEN_TEXT_MAX, CM_EINVAL },
	{ 1, "bob@example.com", "news", NOW, 72, CM_ETOOLONG },
	{ 1, "bob@example.com", "news", NOW, 73, CM_OK },
};

static void
test_bad_seal(void **state)
{
	cm_token_ring *r = ring_of(0, 1), *empty;
	char t[CM_TOKEN_TEXT_MAX];
	(void)state;
	for (size_t i = 0; i < NELEM(bad_seals); i++)
		assert_int_equal(cm_token_seal(r,
		    (cm_token_purpose)bad_seals[i].p, bad_seals[i].addr,
		    bad_seals[i].type, bad_seals[i].now, t, bad_seals[i].outsz),
		    bad_seals[i].st);
	assert_int_equal(cm_token_ring_new(&empty), CM_OK);
	assert_int_equal(cm_token_seal(empty, CM_TOKEN_UNSUBSCRIBE,
	    "bob@example.com", "news", NOW, t, sizeof t), CM_NOTFOUND);
	cm_token_ring_free(empty);
	cm_token_ring_free(r);
}

/* Every single bit flipped, in the text (each character changed to each
 * other base64url character and to a few others) and at each length. */
static void
test_tamper(void **state)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	cm_token_ring *r = ring_of(0, 9);
	char t[CM_TOKEN_TEXT_MAX], m[CM_TOKEN_TEXT_MAX];
	size_t n;
	cm_token tok;
	(void)state;

	assert_int_equal(cm_token_seal(r, CM_TOKEN_UNSUBSCRIBE,
	    "bob@example.com", "news", NOW, t, sizeof t), CM_OK);
	n = strlen(t);
	for (size_t i = 0; i < n; i++) {
		for (const char *c = alpha; *c; c++) {
			cm_status st;
			if (*c == t[i])
				continue;
			memcpy(m, t, n + 1);
			m[i] = *c;
			st = cm_token_open(r, m, n, NOW, 0, &tok);
			/* the key id octet may name a key that is absent */
			assert_true(st == CM_EINVAL || (i < 2 && st == CM_NOTFOUND));
		}
		for (const char *c = "=+/. %\n"; *c; c++) {
			memcpy(m, t, n + 1);
			m[i] = *c;
			assert_int_equal(cm_token_open(r, m, n, NOW, 0, &tok),
			    CM_EINVAL);
		}
	}
	for (size_t k = 0; k < n; k++)
		assert_int_not_equal(cm_token_open(r, t, k, NOW, 0, &tok), CM_OK);
	memcpy(m, t, n);
	memcpy(m + n, "AA", 3);
	assert_int_equal(cm_token_open(r, m, n + 2, NOW, 0, &tok), CM_EINVAL);
	assert_int_equal(cm_token_open(r, "", 0, NOW, 0, &tok), CM_EINVAL);
	cm_token_ring_free(r);
}

struct keycase {
	unsigned seal_id;
	unsigned char seal_fill;
	unsigned open_id;
	unsigned char open_fill;
	cm_status st;
};

static const struct keycase keycases[] = {
	{ 0, 1, 0, 1, CM_OK },
	{ 0, 1, 0, 2, CM_EINVAL },	/* another key with the same id */
	{ 0, 1, 1, 1, CM_NOTFOUND },	/* same bytes, unknown id */
	{ 200, 5, 200, 5, CM_OK },
	{ 200, 5, 201, 5, CM_NOTFOUND },
};

static void
test_other_key(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(keycases); i++) {
		cm_token_ring *a = ring_of(keycases[i].seal_id, keycases[i].seal_fill);
		cm_token_ring *b = ring_of(keycases[i].open_id, keycases[i].open_fill);
		char t[CM_TOKEN_TEXT_MAX];
		cm_token tok;
		assert_int_equal(cm_token_seal(a, CM_TOKEN_CONFIRM,
		    "bob@example.com", "news", NOW, t, sizeof t), CM_OK);
		assert_int_equal(cm_token_open(b, t, strlen(t), NOW, 0, &tok),
		    keycases[i].st);
		cm_token_ring_free(a);
		cm_token_ring_free(b);
	}
}

struct agecase {
	int64_t issued, now, max_age;
	cm_status st;
};

static const struct agecase agecases[] = {
	{ NOW, NOW, 0, CM_OK },
	{ NOW, NOW + 3650 * DAY, 0, CM_OK },		/* no expiry */
	{ NOW, NOW + 730 * DAY, 731 * DAY, CM_OK },
	{ NOW, NOW + 732 * DAY, 731 * DAY, CM_ESTALE },
	{ NOW, NOW + DAY, DAY, CM_OK },
	{ NOW, NOW + DAY + 1, DAY, CM_ESTALE },
	{ NOW, NOW - 5 * MIN, 0, CM_OK },		/* clock skew */
	{ NOW, NOW - 5 * MIN - 1, 0, CM_EFUTURE },
};

static void
test_expiry(void **state)
{
	cm_token_ring *r = ring_of(3, 3);
	(void)state;
	for (size_t i = 0; i < NELEM(agecases); i++) {
		char t[CM_TOKEN_TEXT_MAX];
		cm_token tok;
		assert_int_equal(cm_token_seal(r, CM_TOKEN_UNSUBSCRIBE,
		    "bob@example.com", "news", agecases[i].issued, t, sizeof t),
		    CM_OK);
		assert_int_equal(cm_token_open(r, t, strlen(t), agecases[i].now,
		    agecases[i].max_age, &tok), agecases[i].st);
	}
	cm_token_ring_free(r);
}

/* The ring on disk: create, rotate, old tokens still open, new ones are
 * sealed by the newest key, a removed key's tokens are refused. */
static void
test_ring_dir(void **state)
{
	char *dir = cmt_mkdtemp();
	char ring[2048], path[4096], t0[CM_TOKEN_TEXT_MAX], t1[CM_TOKEN_TEXT_MAX];
	cm_token_ring *r;
	const char *ep;
	unsigned id = 99;
	struct stat st;
	cm_token tok;
	(void)state;

	snprintf(ring, sizeof ring, "%s/" CM_TOKEN_RING_DIR, dir);
	assert_int_equal(cm_token_ring_load(ring, &r, &ep), CM_NOTFOUND);
	assert_int_equal(cm_token_ring_create_key(ring, &id), CM_OK);
	assert_int_equal(id, 0);
	assert_int_equal(stat(ring, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof path, "%s/0.key", ring);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, CM_TOKEN_KEY_LEN);

	assert_int_equal(cm_token_ring_load(ring, &r, &ep), CM_OK);
	assert_int_equal(cm_token_seal(r, CM_TOKEN_UNSUBSCRIBE, "a@b.c", "n",
	    NOW, t0, sizeof t0), CM_OK);
	cm_token_ring_free(r);

	/* rotation */
	assert_int_equal(cm_token_ring_create_key(ring, &id), CM_OK);
	assert_int_equal(id, 1);
	assert_int_equal(cm_token_ring_load(ring, &r, &ep), CM_OK);
	assert_int_equal(cm_token_ring_current(r, &id), CM_OK);
	assert_int_equal(id, 1);
	assert_int_equal(cm_token_seal(r, CM_TOKEN_UNSUBSCRIBE, "a@b.c", "n",
	    NOW, t1, sizeof t1), CM_OK);
	assert_int_equal(cm_token_open(r, t0, strlen(t0), NOW, 0, &tok), CM_OK);
	assert_int_equal(tok.key_id, 0);
	assert_int_equal(cm_token_open(r, t1, strlen(t1), NOW, 0, &tok), CM_OK);
	assert_int_equal(tok.key_id, 1);
	cm_token_ring_free(r);

	/* retire key 0 */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cm_token_ring_load(ring, &r, &ep), CM_OK);
	assert_int_equal(cm_token_open(r, t0, strlen(t0), NOW, 0, &tok),
	    CM_NOTFOUND);
	assert_int_equal(cm_token_open(r, t1, strlen(t1), NOW, 0, &tok), CM_OK);
	cm_token_ring_free(r);

	/* a key file others can read is refused, and named */
	snprintf(path, sizeof path, "%s/1.key", ring);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(cm_token_ring_load(ring, &r, &ep), CM_EPERM);
	assert_non_null(strstr(ep, "1.key"));
	assert_int_equal(chmod(path, 0600), 0);
	/* a short key file */
	assert_int_equal(truncate(path, 31), 0);
	assert_int_equal(cm_token_ring_load(ring, &r, &ep), CM_EFORMAT);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(ring), 0);
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_seal),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_ring_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
