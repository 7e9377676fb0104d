/*
 * failalloc.c - a test-only LD_PRELOAD shim: strdup() of the one string
 * named by the environment variable CM_TEST_FAIL_STRDUP fails (NULL,
 * errno ENOMEM); every other call is the C library's.  A protocol test
 * makes the daemon run out of memory where it chooses with it (e.g. a
 * {daemon_name} macro of that value: tests/milter/connect_nr.sh).
 * Never installed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *(*real_strdup)(const char *);
static const char *fail_on, *fail_calloc;

/* the C library's own, without dlsym (which itself may call calloc) */
extern void *__libc_calloc(size_t n, size_t size);

__attribute__((constructor)) static void
failalloc_init(void)
{
	real_strdup = (char *(*)(const char *))dlsym(RTLD_NEXT, "strdup");
	fail_on = getenv("CM_TEST_FAIL_STRDUP");
	fail_calloc = getenv("CM_TEST_FAIL_CALLOC");
}

void *
calloc(size_t n, size_t size)
{
	if (fail_calloc != NULL && n != 0 && size > 4096 / n &&
	    access(fail_calloc, F_OK) == 0) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

char *
strdup(const char *s)
{
	if (fail_on != NULL && strcmp(fail_on, s) == 0) {
		errno = ENOMEM;
		return NULL;
	}
	if (real_strdup == NULL)	/* called before the constructor ran */
		failalloc_init();
	return real_strdup(s);
}
