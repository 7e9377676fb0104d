/*
 * dump_int.h - what dump.c (reading) and dump_restore.c (writing) share.
 * The values themselves are encoded and decoded by codec.h (the on-disk
 * format is documented in codec.c).  Private to the dump module.
 */
#ifndef CM_DUMP_INT_H
#define CM_DUMP_INT_H

#include "codec.h"
#include "dump.h"
#include "index_int.h"

#define HASH_LEN CM_DUMP_HASH_LEN
#define STR_MAX 65535		/* a u16-length string of a history event */

_Static_assert(HASH_LEN == CM_SUBJECT_KEY_LEN, "subject key length");
_Static_assert(HASH_LEN == CM_CODEC_AKEY_LEN, "address key length");

#endif
