/*
 * cmd_report.h - `consentctl report`: the decision log, filtered, as a
 * table, CSV or JSON Lines, or counted (prefix ctl_cmd_report).
 */
#ifndef CTL_CMD_REPORT_H
#define CTL_CMD_REPORT_H

#include "ctx.h"

int ctl_cmd_report(ctl_ctx *c, int argc, char **argv);

#endif
