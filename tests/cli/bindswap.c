/*
 * bindswap.c - LD_PRELOAD hook for tests/cli/web_mailto.sh: right after
 * a successful bind() of a unix socket, replace the socket file by a
 * symbolic link to $BINDSWAP_TARGET, as someone who can write the
 * socket's directory could.  consent-web must then change nothing of
 * the target (no chmod or chown through the link).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	const char *target = getenv("BINDSWAP_TARGET");
	int r;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bind");
	r = real(fd, sa, len);
	if (r == 0 && target != NULL && sa->sa_family == AF_UNIX) {
		const char *p = ((const struct sockaddr_un *)sa)->sun_path;

		if (unlink(p) == 0 && symlink(target, p) != 0)
			abort();
	}
	return r;
}
