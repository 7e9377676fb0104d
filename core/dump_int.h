/*
 * dump_int.h - what dump.c (reading) and dump_restore.c (writing) share:
 * the constants of the on-disk format version 1 documented in index.c,
 * and little-endian helpers.  Private to the dump module.
 */
#ifndef CM_DUMP_INT_H
#define CM_DUMP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "dump.h"
#include "index_int.h"

#define FORMAT_VERSION 1
#define KIND_ENTRY 1
#define KIND_TOMB 2
#define KIND_DOMAIN 3
#define HASH_LEN CM_DUMP_HASH_LEN
#define ENTRY_HDR 24
#define REC_HDR 36
#define HIST_HDR 24
#define DOM_HDR 24
#define TOMB_LEN 16
#define ADDR_MAX 320
#define DOMAIN_MAX 255
#define STR_MAX 65535
#define KEYFILE "erasure.key"

_Static_assert(HASH_LEN == CM_SUBJECT_KEY_LEN, "subject key length");

static inline uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline void
put16(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline int64_t
geti64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static inline void
puti64(unsigned char *p, int64_t x)
{
	uint64_t v = (uint64_t)x;

	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline bool
grow(unsigned char **b, size_t *cap, size_t want)
{
	unsigned char *nb;
	size_t nc = *cap ? *cap : 512;

	if (want <= *cap)
		return true;
	while (nc < want)
		nc *= 2;
	if ((nb = realloc(*b, nc)) == NULL)
		return false;
	*b = nb;
	*cap = nc;
	return true;
}

#endif
