/*
 * acceptfail.c - LD_PRELOAD hook for tests/cli/web_mailto.sh: the first
 * $ACCEPTFAIL_N accept4() calls on a unix socket fail with EMFILE (as
 * when the process is out of descriptors), and the monotonic time of
 * each is appended to $ACCEPTFAIL_LOG (nanoseconds, one a line), so the
 * test can see whether the daemon paces its retries or spins.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

int
accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	static int (*real)(int, struct sockaddr *, socklen_t *, int);
	static int n;
	const char *max = getenv("ACCEPTFAIL_N"), *log = getenv("ACCEPTFAIL_LOG");
	struct sockaddr_storage me;
	socklen_t ml = sizeof me;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "accept4");
	if (max != NULL && log != NULL && n < atoi(max) &&
	    getsockname(fd, (struct sockaddr *)&me, &ml) == 0 &&
	    me.ss_family == AF_UNIX) {
		struct timespec ts;
		FILE *f = fopen(log, "a");

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (f != NULL) {
			fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000000LL +
			    ts.tv_nsec);
			fclose(f);
		}
		n++;
		errno = EMFILE;
		return -1;
	}
	return real(fd, sa, len, flags);
}
