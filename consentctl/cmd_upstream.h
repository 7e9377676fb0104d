/*
 * cmd_upstream.h - `consentctl upstream init|check`: the schema of the
 * shared consent store on PostgreSQL (upstream/pgstore.h; prefix
 * ctl_cmd_upstream).
 */
#ifndef CTL_CMD_UPSTREAM_H
#define CTL_CMD_UPSTREAM_H

#include "ctx.h"

int ctl_cmd_upstream(ctl_ctx *c, int argc, char **argv);

#endif
