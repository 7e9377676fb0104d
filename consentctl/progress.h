/*
 * progress.h - a progress line on stderr (prefix ctl_progress_).
 *
 * Shown only when stderr is a terminal: "LABEL: N rows, R rows/s, P%,
 * ETA Ss", redrawn at most five times a second and erased at the end.
 * On a pipe or file nothing is ever written.  The environment variable
 * CONSENTCTL_PROGRESS_MS sets the redraw interval in milliseconds
 * (default 200; 0 redraws every 256 rows, which the tests use).
 */
#ifndef CTL_PROGRESS_H
#define CTL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ctl_progress {
	bool on;
	const char *label;
	uint64_t total;		/* octets of input, 0 if unknown */
	int64_t start_us, last_us;
	int64_t interval_us;
	bool drawn;
} ctl_progress;

void ctl_progress_start(ctl_progress *p, const char *label, uint64_t total);
/* Call often (cheap); ROWS done so far, DONE octets consumed. */
void ctl_progress_tick(ctl_progress *p, uint64_t rows, uint64_t done);
void ctl_progress_end(ctl_progress *p);

#endif
