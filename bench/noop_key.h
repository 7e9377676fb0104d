/*
 * noop_key.h - the key a do-nothing filter (noop_milter, noop_policy)
 * looks a recipient up by.  Benchmark-only, included by both.
 *
 * By default the key is the address itself, lowercased, in an
 * environment of its own (`noop_milter -l`).  With -K HEX (from
 * `bench_core sipkey DIR`) it is the consent index's address key of the
 * lowercased address, so that the filter makes its one lookup in the
 * consent index itself (-d DIR -b index): the same tree, the same pages,
 * the same scattered keys as consent-milter's and consent-policy's.
 * -M MIB sets the map size both read with (default 64 GiB, room for the
 * index to grow meanwhile).
 */
#ifndef NOOP_KEY_H
#define NOOP_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/util.h"

struct noop_key {
	bool hashed;
	unsigned char sipkey[CM_CODEC_SIPKEY_LEN];
};

/* HEX (2 x CM_CODEC_SIPKEY_LEN hex digits) into K; -1 if it is not. */
static inline int
noop_key_set(struct noop_key *k, const char *hex)
{
	if (!cm_hex_decode(hex, k->sipkey, sizeof(k->sipkey)))
		return -1;
	k->hashed = true;
	return 0;
}

/* The lookup key of the lowercased address BUF (LEN octets): BUF itself,
 * or with K hashed, its address key written over BUF (which must hold
 * CM_CODEC_AKEY_LEN octets).  Returns the key's length. */
static inline size_t
noop_key_make(const struct noop_key *k, char *buf, size_t len)
{
	unsigned char ak[CM_CODEC_AKEY_LEN];

	if (!k->hashed)
		return len;
	cm_codec_akey(k->sipkey, buf, len, ak);
	memcpy(buf, ak, sizeof(ak));
	return sizeof(ak);
}

/* -M MIB: the map size to read the environment with, 1 to 1048576 MiB
 * (a smaller one where the address space is scarce: under valgrind); 0
 * if S is not such a number. */
static inline size_t
noop_mib(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	return *s >= '0' && *s <= '9' && *end == '\0' && v >= 1 &&
	    v <= 1048576 ? (size_t)v : 0;
}

#endif
