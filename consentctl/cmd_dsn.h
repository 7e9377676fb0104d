/*
 * cmd_dsn.h - `consentctl dsn list` and `consentctl dsn resend ID|--all`:
 * the DSNs kept in the spool (prefix ctl_cmd_dsn).
 */
#ifndef CTL_CMD_DSN_H
#define CTL_CMD_DSN_H

#include "ctx.h"

int ctl_cmd_dsn(ctl_ctx *c, int argc, char **argv);

#endif
