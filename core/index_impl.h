/*
 * index_impl.h - the consent index handle, shared by the files that
 * implement index.h's API: index.c (open, close, decisions, glue),
 * apply.c (events), batch.c, import.c and index_read.c (whole entries,
 * history, statistics).  Private to them: other modules use index.h and
 * index_int.h.
 */
#ifndef CM_INDEX_IMPL_H
#define CM_INDEX_IMPL_H

#include <stdbool.h>

#include <lmdb.h>

#include "codec.h"
#include "index.h"
#include "rules.h"
#include "store.h"

struct cm_index {
	cm_store *st;
	MDB_dbi db_meta, db_index, db_hist;	/* copies of the store's */
	unsigned char sipkey[CM_CODEC_SIPKEY_LEN];	/* AKEY, HKEY */
	cm_rules_opts rules;		/* the allowed clock skew */
	bool readonly;
	bool upgrade;			/* opts.upgrade: format 1 accepted */
	unsigned meta_format;		/* "meta" "format" found at open */
};

#endif
