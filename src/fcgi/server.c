/* server.c - sockets, the worker accept loop and plain CGI (the pre-fork
 * supervisor is pool.c).
 *
 * Stopping without losing a request: a worker keeps SIGTERM, SIGINT and
 * SIGHUP blocked except while it waits in ppoll() for a connection (the
 * atomic unblock closes the check-then-wait race) and while it serves one.
 * The handlers use SA_RESTART, so a signal arriving mid-request does not
 * break libfcgi's reads and writes (it treats EINTR as a lost peer): the
 * request finishes and the loop exits at its top. The listening socket is
 * non-blocking, so when several workers wake for one connection the losers
 * get EAGAIN from FCGX_Accept_r instead of sleeping in accept(). */
#include "buildconf.h"
#include "fcgi/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "base/fdio.h"
#include "base/log.h"
#include "base/sdnotify.h"
#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/http.h"
#include "fcgi/poolstats.h"

#define SD_LISTEN_FDS_START 3

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_reload(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static void set_handler(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void control_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/* --- sockets ---------------------------------------------------------------- */

int server_systemd_fd(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	int fd = -1;
	struct stat st;

	if (pid && fds && strtol(pid, NULL, 10) == (long)getpid() && strtol(fds, NULL, 10) >= 1 &&
	    fstat(SD_LISTEN_FDS_START, &st) == 0 && S_ISSOCK(st.st_mode))
		fd = SD_LISTEN_FDS_START;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return fd;
}

bool server_fd0_is_listener(void)
{
	struct stat st;
	int listening = 0;
	socklen_t len = sizeof listening;

	if (fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode))
		return false;
	/* A connected socket on stdin (a CGI body through a socketpair) is CGI. */
	return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

/* Binds a unix socket whose file is born owner-only (umask 0177): between
 * bind() and the chmod() to --socket-mode nobody else may connect, whatever
 * umask the process was started with. errno is bind's. */
static bool bind_private(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0177);
	int rc = bind(fd, (const struct sockaddr *)sa, sizeof *sa);
	int saved = errno;

	umask(old);
	errno = saved;
	return rc == 0;
}

static int listen_unix(const char *path, mode_t mode, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "--listen %s: the socket path is longer than %zu bytes", path,
			 sizeof sa.sun_path - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "--listen %s: exists and is not a socket", path);
			return -1;
		}
		/* Replace the file only when nothing answers on it any more. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0) {
			snprintf(err, errlen, "--listen %s: socket: %s", path, strerror(errno));
			return -1;
		}
		if (connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			snprintf(err, errlen, "--listen %s: another process is listening on it", path);
			return -1;
		}
		if (errno != ECONNREFUSED) {
			snprintf(err, errlen, "--listen %s: %s", path, strerror(errno));
			close(probe);
			return -1;
		}
		close(probe);
		if (unlink(path) != 0) {
			snprintf(err, errlen, "--listen %s: removing the stale socket: %s", path,
				 strerror(errno));
			return -1;
		}
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "--listen %s: socket: %s", path, strerror(errno));
		return -1;
	}
	if (!bind_private(fd, &sa)) {
		snprintf(err, errlen, "--listen %s: bind: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, mode) != 0) {
		snprintf(err, errlen, "--listen %s: chmod: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) != 0) {
		snprintf(err, errlen, "--listen %s: listen: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static int listen_tcp(const char *addr, char *err, size_t errlen)
{
	char host[256];
	const char *port;
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, rc, saved = 0;

	if (addr[0] == '[') {
		const char *close_br = strchr(addr, ']');

		if (!close_br || close_br[1] != ':' || (size_t)(close_br - addr - 1) >= sizeof host)
			goto usage;
		memcpy(host, addr + 1, (size_t)(close_br - addr - 1));
		host[close_br - addr - 1] = '\0';
		port = close_br + 2;
	} else {
		const char *colon = strrchr(addr, ':');

		if (!colon || (size_t)(colon - addr) >= sizeof host)
			goto usage;
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
		port = colon + 1;
	}
	/* getaddrinfo() would wrap 99999 around; 0 would pick a random port. */
	{
		char *end;
		long n = strtol(port, &end, 10);

		if (!*port || *end || port[0] < '0' || port[0] > '9' || n < 1 || n > 65535)
			goto usage;
	}

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "--listen %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "--listen %s: %s", addr, strerror(saved));
	return fd;
usage:
	snprintf(err, errlen, "--listen %s: expected HOST:PORT (port 1-65535), [IPv6]:PORT or a socket path", addr);
	return -2;
}

int server_listen(const char *addr, mode_t mode, char *err, size_t errlen)
{
	if (strchr(addr, '/'))
		return listen_unix(addr, mode, err, errlen);
	return listen_tcp(addr, err, errlen);
}

const char *server_socket_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[NI_MAXHOST], port[NI_MAXSERV];

	snprintf(out, len, "unknown");
	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return out;
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		size_t n = sl > offsetof(struct sockaddr_un, sun_path)
				   ? sl - offsetof(struct sockaddr_un, sun_path) : 0;

		/* An abstract name starts with a NUL byte: shown as '@'. */
		if (n > 0 && un->sun_path[0] == '\0')
			snprintf(out, len, "unix:@%.*s", (int)strnlen(un->sun_path + 1, n - 1),
				 un->sun_path + 1);
		else
			snprintf(out, len, "unix:%.*s", (int)strnlen(un->sun_path, n), un->sun_path);
	} else if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
			       NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		snprintf(out, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	}
	return out;
}

/* --- request I/O -------------------------------------------------------------- */

/* A FastCGI request, and whether it was handed to the waiter. */
struct fcgx_conn {
	FCGX_Request req;
	bool detached;
};

static const char *fcgx_param(void *ctx, const char *name)
{
	struct fcgx_conn *c = ctx;

	return FCGX_GetParam(name, c->req.envp);
}

static long fcgx_read(void *ctx, char *buf, size_t len)
{
	struct fcgx_conn *c = ctx;
	int n = len > INT_MAX ? INT_MAX : (int)len;

	return FCGX_GetStr(buf, n, c->req.in);
}

static bool fcgx_write(void *ctx, const char *buf, size_t len)
{
	struct fcgx_conn *c = ctx;

	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		if (FCGX_PutStr(buf, n, c->req.out) != n)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static int fcgx_connection(void *ctx, uint16_t *fcgi_id)
{
	struct fcgx_conn *c = ctx;

	if (c->req.ipcFd < 0 || c->req.requestId < 1 || c->req.requestId > UINT16_MAX)
		return -1;
	*fcgi_id = (uint16_t)c->req.requestId;
	return c->req.ipcFd;
}

static void fcgx_detach(void *ctx)
{
	struct fcgx_conn *c = ctx;

	c->detached = true;
}

/* Ends the request: FCGX_Finish_r answers it (FCGI_END_REQUEST); one the
 * waiter took is only forgotten. FCGX_Free with close=0 frees the streams
 * without writing and without libfcgi's shutdown(SHUT_WR), which would cut
 * the connection for the waiter too; our close() drops this process's
 * descriptor only. */
static void fcgx_end(struct fcgx_conn *c)
{
	int fd;

	if (!c->detached) {
		FCGX_Finish_r(&c->req);
		return;
	}
	fd = c->req.ipcFd;
	c->req.ipcFd = -1;
	FCGX_Free(&c->req, 0);
	if (fd >= 0)
		close(fd);
	c->detached = false;
}

static const char *cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static long cgi_read(void *ctx, char *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return (long)n;
}

static bool cgi_write(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	return fdio_write_all(STDOUT_FILENO, buf, len);
}

/* Apache's mod_cgi and mod_cgid write the whole body before they read the
 * answer: a body left unread (a 401 or 413 answered without it) fails
 * their write, and the client gets no answer at all. The answer is out by
 * now; read the rest of the body (Apache's LimitRequestBody bounds it). */
static void cgi_drain_body(void)
{
	const char *len = getenv("CONTENT_LENGTH");
	char buf[16384];

	if (!len || !*len || strcmp(len, "0") == 0)
		return;
	while (cgi_read(NULL, buf, sizeof buf) > 0)
		;
}

/* --- one worker ----------------------------------------------------------------- */

void server_reload(struct app *app)
{
	char err[512];

	if (app_reload(app, err, sizeof err))
		log_kv(LOG_NOTICE, "config_reloaded", "path", app->config_path, (const char *)NULL);
	else
		log_kv(LOG_ERR, "config_reload_failed", "error", err, (const char *)NULL);
}

/* The listening socket as an epoll set of its own with EPOLLEXCLUSIVE, or
 * -1 (then ppoll). Every idle worker of a pool waits on that one socket:
 * polled plainly, each new connection would wake all of them to race for
 * one accept (measured at 32 workers: most of a worker's CPU per request
 * went to those wake-ups); exclusively, one waiter is woken per event.
 * Level-triggered still: a worker coming back to wait while a connection
 * is pending returns at once, so none is left waiting. */
static int listen_wait_open(int listen_fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ev.data.fd = listen_fd;
	if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
		close(ep);
		ep = -1;
	}
	return ep;
}

/* Waits until fd is readable or one of the signals mask leaves open
 * arrives (-1, EINTR); fd is the listening socket (through listen_ep when
 * that is an epoll set) or a connection the web server keeps open. */
static int wait_readable(int fd, int listen_fd, int listen_ep, const sigset_t *mask)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct epoll_event ev;

	if (fd == listen_fd && listen_ep >= 0)
		return epoll_pwait(listen_ep, &ev, 1, -1, mask);
	return ppoll(&pfd, 1, NULL, mask);
}

/* The accept loop. A worker of a pool (ready_fd >= 0) reports its pid on
 * ready_fd when it reaches the loop; a process serving alone speaks to
 * systemd itself. */
static int run_worker(struct app *app, int listen_fd, int ready_fd)
{
	struct fcgx_conn conn = { .detached = false };
	FCGX_Request *req = &conn.req;
	struct http_io io = { .param = fcgx_param, .read = fcgx_read, .write = fcgx_write,
			      .ctx = &conn };
	sigset_t control, open_mask;
	bool alone = ready_fd < 0;
	int flags, listen_ep, status = 0;

	set_handler(SIGTERM, on_stop, SA_RESTART);
	set_handler(SIGINT, on_stop, SA_RESTART);
	set_handler(SIGHUP, on_reload, SA_RESTART);
	set_handler(SIGPIPE, SIG_IGN, 0);
	control_signals(&control);
	sigprocmask(SIG_BLOCK, &control, &open_mask);
	sigdelset(&open_mask, SIGTERM);
	sigdelset(&open_mask, SIGINT);
	sigdelset(&open_mask, SIGHUP);
	app->stop = &stop_requested;

	if (!app->db && !app_open_db(app)) {
		log_kv(LOG_ERR, "worker_start_failed", "error", "out of memory", (const char *)NULL);
		return 1;
	}
	flags = fcntl(listen_fd, F_GETFL);
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0 || FCGX_Init() != 0 ||
	    FCGX_InitRequest(req, listen_fd, 0) != 0) {
		log_kv(LOG_ERR, "worker_start_failed", "error", strerror(errno), (const char *)NULL);
		return 1;
	}
	listen_ep = listen_wait_open(listen_fd);
	if (app->waiter_sock >= 0) {
		io.connection = fcgx_connection;
		io.detach = fcgx_detach;
	}

	if (alone) {
		(void)sdnotify_send("READY=1");
	} else {
		pid_t self = getpid();

		/* One write of a few bytes to a pipe is atomic: reports of
		 * several workers never interleave. */
		(void)fdio_write_all(ready_fd, &self, sizeof self);
		close(ready_fd);
	}

	while (!stop_requested) {
		int rc;

		if (reload_requested) {
			reload_requested = 0;
			if (alone)
				(void)sdnotify_sendf("RELOADING=1\nMONOTONIC_USEC=%lld",
						     (long long)time_mono_ms() * 1000);
			server_reload(app);
			if (alone)
				(void)sdnotify_send("READY=1");
		}
		/* A connection the web server keeps open (fastcgi_keep_conn)
		 * carries the next request; libfcgi reads it before accepting. */
		rc = wait_readable(req->ipcFd >= 0 ? req->ipcFd : listen_fd, listen_fd, listen_ep,
				   &open_mask);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_kv(LOG_ERR, "worker_poll_failed", "error", strerror(errno), (const char *)NULL);
			status = 1;
			break;
		}

		sigprocmask(SIG_SETMASK, &open_mask, NULL);
		rc = FCGX_Accept_r(req);
		if (rc == 0) {
			poolstats_request_begin(app->pool, app->pool_slot);
			app_handle(app, &io);
			fcgx_end(&conn);
			poolstats_request_end(app->pool, app->pool_slot);
		}
		sigprocmask(SIG_BLOCK, &control, NULL);

		if (rc < 0 && rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
			log_kv(LOG_ERR, "worker_accept_failed", "error", strerror(-rc), (const char *)NULL);
			if (rc == -EBADF || rc == -ENOTSOCK || rc == -EINVAL) {
				status = 1;
				break;
			}
			/* EMFILE and the like: let the moment pass instead of spinning. */
			poll(NULL, 0, 100);
		}
	}
	if (alone)
		(void)sdnotify_send("STOPPING=1");
	FCGX_Free(req, 1);
	if (listen_ep >= 0)
		close(listen_ep);
	return status;
}

int server_run_worker(struct app *app, int listen_fd)
{
	/* Serving alone, the process counts its own requests for /metrics. */
	struct poolstats *own = app->pool ? NULL : poolstats_new(1);
	int rc;

	if (own) {
		app->pool = own;
		app->pool_slot = 0;
		poolstats_slot_started(own, 0);
	}
	rc = run_worker(app, listen_fd, -1);
	if (own) {
		app->pool = NULL;
		poolstats_free(own);
	}
	return rc;
}

int server_run_pool_worker(struct app *app, int listen_fd, int ready_fd)
{
	return run_worker(app, listen_fd, ready_fd);
}

int server_run_cgi(struct app *app)
{
	struct http_io io = { .param = cgi_param, .read = cgi_read, .write = cgi_write };

	set_handler(SIGPIPE, SIG_IGN, 0);
	if (!app->db && !app_open_db(app)) {
		fprintf(stderr, "evstore-fcgi: out of memory\n");
		return 1;
	}
	app_handle(app, &io);
	cgi_drain_body();
	return 0;
}
