/*
 * outlet.h - the decision log writer and DSN queue in use, replaced on
 * reload (prefix cm_outlet_).
 *
 * An outlet set holds what the log: and dsn: sections of one policy
 * open: the decision log (core/declog), the DSN queue (core/dsnq) and
 * the Reporting-MTA name.  A message takes a reference to the current
 * set when it starts (cm_outlet_get) and writes its records and its DSN
 * through that set until it ends (cm_outlet_put), even if a reload
 * installed another set meanwhile.
 *
 * A reload prepares a set for the new policy (cm_outlet_prepare), which
 * shares what did not change: the same decision log when the log:
 * settings are equal, the same DSN queue when the spool directory is the
 * same (its target, attempts and delays then change in place, see
 * cm_dsnq_reconfigure: two queues on one spool would send each DSN
 * twice).  Only what changed is opened anew.  cm_outlet_install makes it
 * current.  The set it replaces is retired: a thread of its own waits
 * until the last message using it has ended, then closes what no other
 * set shares -- the decision log after writing every queued record, the
 * DSN queue of a spool no longer used after it has sent what it holds
 * (with its own settings; at stop, what is left stays in that spool).
 *
 * Nothing here blocks a mail thread on the disk or the network.
 */
#ifndef CM_OUTLET_H
#define CM_OUTLET_H

#include "../config/policy.h"
#include "../core/declog.h"
#include "../core/dsnq.h"

typedef struct cm_outlet cm_outlet;

/* Open the outlets of P and make them current (at start, after
 * privileges were dropped).  0, or -1 after logging why. */
int cm_outlet_start(const cm_policy *p);

/*
 * The outlets for NEW, sharing with the current set whatever NEW does
 * not change; opens a new decision log or DSN queue where needed.  Not
 * yet in use.  0 and *OUT, or -1 after logging why (nothing changed).
 */
int cm_outlet_prepare(const cm_policy *new_policy, cm_outlet **out);

/* Make O (from cm_outlet_prepare) current and retire the previous set;
 * logs what changed.  Never fails. */
void cm_outlet_install(cm_outlet *o);

/* Close what O opened and free it (a prepared set not installed). */
void cm_outlet_discard(cm_outlet *o);

/* A reference to the current set (NULL before start or after stop). */
cm_outlet *cm_outlet_get(void);
/* Drop a reference (NULL is allowed); never closes anything itself. */
void cm_outlet_put(cm_outlet *o);

/* The decision log of O, or NULL when there is none. */
cm_declog *cm_outlet_log(const cm_outlet *o);
/* The DSN queue of O, or NULL when DSNs are off. */
cm_dsnq *cm_outlet_dsnq(const cm_outlet *o);
/* The Reporting-MTA name of O's DSNs. */
const char *cm_outlet_host(const cm_outlet *o);

/* At exit: stop the retired sets' threads (a DSN queue not yet drained
 * keeps its DSNs in its spool), close the current set. */
void cm_outlet_stop(void);

#endif
