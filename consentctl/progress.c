/* progress.c - progress line on a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
ctl_progress_start(ctl_progress *p, const char *label, uint64_t total)
{
	const char *ms = getenv("CONSENTCTL_PROGRESS_MS");
	long v;
	char *end;

	p->on = isatty(STDERR_FILENO) == 1;
	p->interval_us = 200000;
	if (ms != NULL && *ms != '\0') {
		v = strtol(ms, &end, 10);
		if (*end == '\0' && v >= 0 && v <= 60000)
			p->interval_us = (int64_t)v * 1000;
	}
	p->label = label;
	p->total = total;
	p->start_us = p->last_us = mono_us();
	p->drawn = false;
}

void
ctl_progress_tick(ctl_progress *p, uint64_t rows, uint64_t done)
{
	int64_t now, el;
	double rate;

	if (!p->on || (rows & 255) != 0)
		return;
	now = mono_us();
	if (now - p->last_us < p->interval_us)
		return;
	p->last_us = now;
	el = now - p->start_us;
	rate = el > 0 ? (double)rows * 1e6 / (double)el : 0;
	fprintf(stderr, "\r%s: %llu rows, %.0f rows/s", p->label,
	    (unsigned long long)rows, rate);
	if (p->total > 0 && done > 0 && done <= p->total) {
		double eta = (double)el / 1e6 *
		    (double)(p->total - done) / (double)done;

		fprintf(stderr, ", %.0f%%, ETA %.0fs",
		    100.0 * (double)done / (double)p->total, eta);
	}
	fputs("\033[K", stderr);
	fflush(stderr);
	p->drawn = true;
}

void
ctl_progress_end(ctl_progress *p)
{
	if (p->on && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
}
