/*
 * cmd_upstream.h - `consentctl upstream init|check`: the schema of the
 * shared consent store on PostgreSQL (upstream/pgstore.h; prefix
 * ctl_cmd_upstream).
 */
#ifndef CTL_CMD_UPSTREAM_H
#define CTL_CMD_UPSTREAM_H

#include "ctx.h"

#include "../upstream/pgstore.h"

int ctl_cmd_upstream(ctl_ctx *c, int argc, char **argv);

/*
 * Check that the erasure key of the index in DIR is the one of the
 * shared store's nodes (cm_pg_key_check; the first node's is stored).
 * CM_OK; CM_NOTFOUND (DIR NULL or no erasure.key in it: nothing
 * checked); CM_EINVAL (another key), CM_EFORMAT, CM_EUPSTREAM, with the
 * reason in ERR (SZ octets); CM_EPERM, CM_EIO (the key file).
 */
cm_status ctl_upstream_key_check(const char *dir, cm_pg *pg, char *err,
    size_t sz);

#endif
