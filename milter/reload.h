/*
 * reload.h - apply a newly loaded policy to the running daemon (prefix
 * cm_reload_).
 *
 * What a reload applies, for the messages that start after it: every
 * section of the file that is read per message -- milter.mode and
 * on_error, scope, addresses, unclassified_bulk, newsletters (types),
 * templates -- and the log: and dsn: sections, whose decision log writer
 * and DSN queue are replaced as milter/outlet.h describes.  What cannot
 * change while the daemon runs is logged, one line per setting that
 * changed, as "reload: SETTING changed; it takes effect after a
 * restart": milter.socket, milter.socket_mode, milter.socket_group,
 * milter.user, milter.group, database.path, database.map_size and
 * database.max_readers.  The rest of the new file still applies.
 */
#ifndef CM_RELOAD_H
#define CM_RELOAD_H

#include "../config/policy.h"

/*
 * Log each restart-only setting that differs between OLD and NEW;
 * returns how many.
 */
unsigned cm_reload_restart_only(const cm_policy *old_policy,
    const cm_policy *new_policy);

/*
 * Put NP (a loaded, valid policy; ownership taken) in force: open the
 * outlets it needs, swap the policy (milter/live) and the outlets.  On
 * failure (the new decision log or DSN spool cannot be opened, out of
 * memory) it is logged, NP is freed and the previous policy and outlets
 * stay in force.  0 or -1.
 */
int cm_reload_apply(cm_policy *np);

#endif
