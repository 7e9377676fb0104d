/*
 * mailmix.h - whether a new MTA connection negotiates MAIL without a
 * reply (SMFIP_NR_MAIL), from the mail the filter has seen lately
 * (prefix cm_mailmix_).
 *
 * MAIL without a reply saves a round trip for every message the filter
 * goes on with after MAIL (a newsletter decided at RCPT, mail read to
 * its headers) but costs one step more for every message it could
 * answer at MAIL (accepted: no newsletter, out of scope; refused): the
 * MTA then sends the first RCPT only to learn that answer.  Which is
 * cheaper depends on the traffic, and the choice must be made when the
 * MTA connects, before the sender is known.  milter.mail_reply chooses:
 *
 *   rcpt  always without a reply (the answer at the first RCPT);
 *   mail  always with a reply (MAIL is answered at MAIL);
 *   auto  by the recent messages: without a reply while at least half
 *         of them went on after MAIL (an exponentially weighted share
 *         over about the last CM_MAILMIX_SPAN messages of the process;
 *         a new process starts as "rcpt").
 *
 * Lock-free and shared by every connection: an update lost to a race
 * only shifts the share by one message's weight.  Neither choice changes
 * any answer, only the step that carries it (envelope.h cm_env_held).
 */
#ifndef CM_MAILMIX_H
#define CM_MAILMIX_H

#include <stdbool.h>

#include "../config/policy.h"

#define CM_MAILMIX_SPAN 32

/* A message's MAIL was answered: WENT_ON when the answer was CONTINUE
 * (the message needs later steps), false when it was final (accepted
 * or refused at MAIL). */
void cm_mailmix_note(bool went_on);

/* Should a connection negotiated now ask for MAIL without a reply,
 * under SETTING (milter.mail_reply)? */
bool cm_mailmix_nr_mail(cm_mail_reply setting);

/* The share of recent messages that went on after MAIL, in 1/65536
 * (tests and logs). */
unsigned cm_mailmix_share(void);

/* Forget the history: back to a new process's start (tests). */
void cm_mailmix_reset(void);

#endif
