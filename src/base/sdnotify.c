/* sdnotify.c - sd_notify(3) in one datagram, without libsystemd. */
#include "buildconf.h"
#include "base/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SDNOTIFY_MAX 4096

int sdnotify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t plen, slen = strlen(state);
	ssize_t sent;
	int fd, saved;

	if (!path || !*path)
		return 0;
	plen = strlen(path);
	/* A path names a file; '@' starts a name in the abstract namespace. */
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sa.sun_path || plen < 2) {
		errno = EINVAL;
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* An abstract name's length is the address length: no trailing NUL. */
	do
		sent = sendto(fd, state, slen, MSG_NOSIGNAL, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
					  (path[0] == '/')));
	while (sent < 0 && errno == EINTR);
	saved = errno;
	close(fd);
	if (sent < 0) {
		errno = saved;
		return -1;
	}
	return 1;
}

int sdnotify_sendf(const char *fmt, ...)
{
	char buf[SDNOTIFY_MAX];
	va_list ap;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return sdnotify_send(buf);
}

uint64_t sdnotify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (!usec || !*usec)
		return 0;
	if (pid && *pid) {
		long p;

		errno = 0;
		p = strtol(pid, &end, 10);
		if (errno || *end || p != (long)getpid())
			return 0;
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno || *end || usec[0] < '0' || usec[0] > '9' || v == 0)
		return 0;
	return (uint64_t)v;
}

void sdnotify_unset_environment(void)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}
