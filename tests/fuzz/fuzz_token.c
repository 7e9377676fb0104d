/*
 * fuzz_token.c - libFuzzer target for core/token.h.
 *
 * First octet even: the rest is a token text, opened under a fixed ring
 * of two keys; it must never crash, and a success (a valid token, e.g.
 * from the seed corpus) must hold a valid purpose, type and address.
 * First octet odd: the rest is "ADDR\0TYPE"; if sealing accepts it, the
 * token must fit its bound and open to exactly what was sealed, and
 * with any one bit of it flipped it must be refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define NOW (29483520LL * 60 * 1000000)

static cm_token_ring *ring;

static void
setup(void)
{
	unsigned char k[CM_TOKEN_KEY_LEN];

	if (ring)
		return;
	CHECK(cm_token_ring_new(&ring) == CM_OK);
	memset(k, 0x11, sizeof k);
	CHECK(cm_token_ring_add(ring, 0, k) == CM_OK);
	memset(k, 0x22, sizeof k);
	CHECK(cm_token_ring_add(ring, 1, k) == CM_OK);
}

static void
check_token(const cm_token *t)
{
	size_t tl = strlen(t->type), al = strlen(t->addr);

	CHECK(t->purpose == CM_TOKEN_UNSUBSCRIBE || t->purpose == CM_TOKEN_CONFIRM);
	CHECK(t->key_id <= 1);
	CHECK(tl >= 1 && tl <= CM_TYPE_ID_MAX);
	CHECK(al >= 3 && al < CM_ADDR_KEY_MAX && strchr(t->addr, '@'));
	CHECK(t->issued_us % (60LL * 1000000) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[CM_TOKEN_TEXT_MAX];
	cm_token t;

	setup();
	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		if (cm_token_open(ring, (const char *)data + 1, size - 1, NOW, 0,
		    &t) == CM_OK)
			check_token(&t);
		return 0;
	} else {
		char buf[512];
		const char *addr, *type;
		size_t n = size - 1, al;
		cm_token_purpose p = (data[0] & 2) ? CM_TOKEN_CONFIRM :
		    CM_TOKEN_UNSUBSCRIBE;

		if (n >= sizeof buf)
			return 0;
		memcpy(buf, data + 1, n);
		buf[n] = '\0';
		addr = buf;
		al = strlen(addr);
		if (al == n)
			return 0;
		type = buf + al + 1;
		if (cm_token_seal(ring, p, addr, type, NOW, text, sizeof text) != CM_OK)
			return 0;
		CHECK(strlen(text) < CM_TOKEN_TEXT_MAX);
		CHECK(cm_token_open(ring, text, strlen(text), NOW, 0, &t) == CM_OK);
		check_token(&t);
		CHECK(t.purpose == p && t.key_id == 1 && t.issued_us == NOW);
		CHECK(strcmp(t.addr, addr) == 0 && strcmp(t.type, type) == 0);
		/* one bit flipped in one character (chosen by the input) */
		{
			size_t len = strlen(text), i = (size_t)data[0] * 7 % len;
			cm_token u;
			text[i] ^= (char)(1 << (data[size - 1] % 6));
			CHECK(cm_token_open(ring, text, len, NOW, 0, &u) != CM_OK);
		}
	}
	return 0;
}
