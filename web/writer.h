/*
 * writer.h - the one writer of consent-web (prefix web_writer_): group
 * commit of withdrawals and confirmations.
 *
 * Request threads submit a job and wait; one writer thread takes every
 * job waiting, opens the index (its writer lock: other writers such as
 * consentctl wait at most for one batch), applies the withdrawals in one
 * durable transaction (cm_index_apply_batch) and the confirmations one
 * by one, closes the index and wakes the submitters.  A job is answered
 * only after the transaction that holds it has committed.
 */
#ifndef WEB_WRITER_H
#define WEB_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/index.h"

typedef enum web_outcome {
	WEB_DONE = 1,		/* recorded and committed */
	WEB_ALREADY,		/* nothing to record: done before (a replay) */
	WEB_NOTHING,		/* a confirmation with nothing to confirm */
	WEB_BUSY,		/* another writer held the index for 5 s */
	WEB_FAILED		/* the index could not be written (logged) */
} web_outcome;

/* Start the writer thread for the index in DB_DIR.  0 or -1 (errno). */
int web_writer_start(const char *db_dir, int64_t clock_skew_us);

/* Stop it after the jobs already submitted. */
void web_writer_stop(void);

/* Record EV (CM_EV_WITHDRAW or CM_EV_CONFIRM; its strings stay valid
 * until the call returns) and wait for the outcome.  Thread-safe. */
web_outcome web_writer_submit(const cm_event *ev);

/* The number of jobs submitted and not yet taken by the writer thread
 * (for tests and diagnostics).  Thread-safe. */
size_t web_writer_waiting(void);

#endif
