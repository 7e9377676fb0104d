/*
 * failalloc.c - a test-only LD_PRELOAD shim: strdup() of the one string
 * named by the environment variable CM_TEST_FAIL_STRDUP fails (NULL,
 * errno ENOMEM); every other call is the C library's.  A protocol test
 * makes the daemon run out of memory where it chooses with it (e.g. a
 * {daemon_name} macro of that value: tests/milter/connect_nr.sh).
 * While the file named by CM_TEST_FAIL_CALLOC exists, every calloc and
 * malloc of more than 4 KiB fails: the filter's state for a connection
 * (tests/milter/reuse.sh).  Never installed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *(*real_strdup)(const char *);
static const char *fail_on, *fail_calloc;

/* the real calloc and malloc (the C library's, or a sanitizer's, whose
 * free() must see its own blocks); dlsym() may allocate while they are
 * looked up: those few blocks come from a static buffer, never freed */
static void *(*real_calloc)(size_t, size_t);
static void *(*real_malloc)(size_t);
static _Alignas(16) char boot[1024];
static size_t boot_used;
static int resolving;

/* WANT zeroed octets of the static buffer, for dlsym()'s own calls */
static void *
boot_alloc(size_t want)
{
	size_t at = (boot_used + 15) & ~(size_t)15;

	if (at + want > sizeof(boot))
		return NULL;
	boot_used = at + want;
	return boot + at;	/* zeroed: static */
}

/* the large allocations are to fail now */
static int
failing(void)
{
	return fail_calloc != NULL && access(fail_calloc, F_OK) == 0;
}

/* Find the real malloc and calloc (once: a later call finds them set).
 * dlsym() may allocate meanwhile: resolving sends that to boot[]. */
static void
resolve(void)
{
	resolving = 1;
	if (real_malloc == NULL)
		real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	if (real_calloc == NULL)
		real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT,
		    "calloc");
	resolving = 0;
}

/* Every real function found here, at load, while the process has one
 * thread: the lazy look-ups below only serve calls made before (the
 * dynamic loader's), never two threads at once.  The shim must come
 * before the allocator in the lookup order: with gcc's shared ASan
 * (verify_asan_link_order=0), not with a static sanitizer runtime. */
__attribute__((constructor)) static void
failalloc_init(void)
{
	real_strdup = (char *(*)(const char *))dlsym(RTLD_NEXT, "strdup");
	resolve();
	fail_on = getenv("CM_TEST_FAIL_STRDUP");
	fail_calloc = getenv("CM_TEST_FAIL_CALLOC");
}

void *
calloc(size_t n, size_t size)
{
	if (n != 0 && size > 4096 / n && failing()) {
		errno = ENOMEM;
		return NULL;
	}
	if (real_calloc == NULL) {
		if (resolving) {
			size_t want = n * size;

			if (size != 0 && want / size != n)
				return NULL;
			return boot_alloc(want);
		}
		resolve();
		if (real_calloc == NULL)
			return NULL;
	}
	return real_calloc(n, size);
}

void *
malloc(size_t size)
{
	if (size > 4096 && failing()) {
		errno = ENOMEM;
		return NULL;
	}
	if (real_malloc == NULL) {
		if (resolving)
			return boot_alloc(size);
		resolve();
		if (real_malloc == NULL)
			return NULL;
	}
	return real_malloc(size);
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
