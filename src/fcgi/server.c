/* server.c - sockets, the worker accept loop, the pre-fork supervisor and
 * plain CGI.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "base/fdio.h"
#include "base/log.h"
#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/http.h"

#define SD_LISTEN_FDS_START 3

/* A worker that exits sooner than this after its start counts as a crash
 * loop; its replacement waits RESTART_DELAY_MIN_MS doubling up to
 * RESTART_DELAY_MAX_MS. */
#define YOUNG_EXIT_MS 2000
#define RESTART_DELAY_MIN_MS 100
#define RESTART_DELAY_MAX_MS 5000

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

static void on_child(int sig)
{
	(void)sig;
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
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
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

/* --- request I/O -------------------------------------------------------------- */

static const char *fcgx_param(void *ctx, const char *name)
{
	FCGX_Request *r = ctx;

	return FCGX_GetParam(name, r->envp);
}

static long fcgx_read(void *ctx, char *buf, size_t len)
{
	FCGX_Request *r = ctx;
	int n = len > INT_MAX ? INT_MAX : (int)len;

	return FCGX_GetStr(buf, n, r->in);
}

static bool fcgx_write(void *ctx, const char *buf, size_t len)
{
	FCGX_Request *r = ctx;

	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		if (FCGX_PutStr(buf, n, r->out) != n)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
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

static void worker_reload(struct app *app)
{
	char err[512];

	if (app_reload(app, err, sizeof err))
		log_kv(LOG_NOTICE, "config_reloaded", "path", app->config_path, (const char *)NULL);
	else
		log_kv(LOG_ERR, "config_reload_failed", "error", err, (const char *)NULL);
}

int server_run_worker(struct app *app, int listen_fd)
{
	FCGX_Request req;
	struct http_io io = { fcgx_param, fcgx_read, fcgx_write, NULL };
	sigset_t control, open_mask;
	int flags, status = 0;

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
	    FCGX_InitRequest(&req, listen_fd, 0) != 0) {
		log_kv(LOG_ERR, "worker_start_failed", "error", strerror(errno), (const char *)NULL);
		return 1;
	}
	io.ctx = &req;

	while (!stop_requested) {
		struct pollfd pfd;
		int rc;

		if (reload_requested) {
			reload_requested = 0;
			worker_reload(app);
		}
		/* A connection the web server keeps open (fastcgi_keep_conn)
		 * carries the next request; libfcgi reads it before accepting. */
		pfd.fd = req.ipcFd >= 0 ? req.ipcFd : listen_fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (ppoll(&pfd, 1, NULL, &open_mask) < 0) {
			if (errno == EINTR)
				continue;
			log_kv(LOG_ERR, "worker_poll_failed", "error", strerror(errno), (const char *)NULL);
			status = 1;
			break;
		}

		sigprocmask(SIG_SETMASK, &open_mask, NULL);
		rc = FCGX_Accept_r(&req);
		if (rc == 0) {
			app_handle(app, &io);
			FCGX_Finish_r(&req);
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
	FCGX_Free(&req, 1);
	return status;
}

int server_run_cgi(struct app *app)
{
	struct http_io io = { cgi_param, cgi_read, cgi_write, NULL };

	set_handler(SIGPIPE, SIG_IGN, 0);
	if (!app->db && !app_open_db(app)) {
		fprintf(stderr, "evstore-fcgi: out of memory\n");
		return 1;
	}
	app_handle(app, &io);
	cgi_drain_body();
	return 0;
}

/* --- the supervisor ------------------------------------------------------------- */

struct worker_slot {
	pid_t pid;                 /* 0: not running */
	int64_t started_ms;
	int64_t restart_at_ms;     /* when to start a replacement */
	unsigned young_exits;      /* consecutive exits soon after start */
};

struct pool {
	struct app *app;
	int listen_fd;
	struct worker_slot *slots;
	int n;
	sigset_t parent_mask;      /* the mask before the pool blocked signals */
};

static void spawn_worker(struct pool *p, struct worker_slot *w)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();

	if (pid < 0) {
		log_kv(LOG_ERR, "worker_fork_failed", "error", strerror(errno), (const char *)NULL);
		w->restart_at_ms = time_mono_ms() + RESTART_DELAY_MAX_MS;
		return;
	}
	if (pid == 0) {
		int rc;

		set_handler(SIGCHLD, SIG_DFL, 0);
		sigprocmask(SIG_SETMASK, &p->parent_mask, NULL);
		/* A worker never outlives its supervisor. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);
		free(p->slots);
		rc = server_run_worker(p->app, p->listen_fd);
		app_fini(p->app);
		log_close();
		/* exit(), not _exit(): a worker is a whole process with its own
		 * life, and leak checkers run at exit. Nothing is left in stdio
		 * buffers from the parent (flushed before fork). */
		exit(rc);
	}
	w->pid = pid;
	w->started_ms = time_mono_ms();
	w->restart_at_ms = 0;
}

static int live_workers(const struct pool *p)
{
	int live = 0;

	for (int i = 0; i < p->n; i++)
		live += p->slots[i].pid != 0;
	return live;
}

static void signal_workers(const struct pool *p, int sig)
{
	for (int i = 0; i < p->n; i++)
		if (p->slots[i].pid)
			kill(p->slots[i].pid, sig);
}

/* Reaps exited workers and schedules their replacement. */
static void reap_workers(struct pool *p, bool stopping)
{
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		char pidbuf[24], how[48];
		int64_t now = time_mono_ms();

		for (int i = 0; i < p->n; i++) {
			struct worker_slot *w = &p->slots[i];

			if (w->pid != pid)
				continue;
			w->pid = 0;
			if (now - w->started_ms < YOUNG_EXIT_MS) {
				int64_t delay = RESTART_DELAY_MIN_MS;

				for (unsigned k = 0; k < w->young_exits && delay < RESTART_DELAY_MAX_MS; k++)
					delay *= 2;
				w->young_exits++;
				w->restart_at_ms = now + (delay > RESTART_DELAY_MAX_MS ? RESTART_DELAY_MAX_MS : delay);
			} else {
				w->young_exits = 0;
				w->restart_at_ms = now;
			}
		}
		if (stopping && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
			continue;
		snprintf(pidbuf, sizeof pidbuf, "%ld", (long)pid);
		if (WIFSIGNALED(wstatus))
			snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(wstatus));
		else
			snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(wstatus));
		log_kv(stopping ? LOG_NOTICE : LOG_WARNING, "worker_exited", "pid", pidbuf, "how", how,
		       (const char *)NULL);
	}
}

/* Removes the unix socket file if it is still the one found at start
 * (another instance may have replaced it since). */
static void remove_socket(const char *path, const struct stat *at_start)
{
	struct stat now;

	if (path && lstat(path, &now) == 0 && S_ISSOCK(now.st_mode) &&
	    now.st_dev == at_start->st_dev && now.st_ino == at_start->st_ino)
		unlink(path);
}

int server_run_pool(struct app *app, int listen_fd, int workers, const char *unix_path)
{
	struct pool p;
	sigset_t waitset;
	struct stat socket_file;
	bool stopping = false;

	memset(&p, 0, sizeof p);
	memset(&socket_file, 0, sizeof socket_file);
	p.app = app;
	p.listen_fd = listen_fd;
	p.n = workers;
	p.slots = calloc((size_t)workers, sizeof *p.slots);
	if (!p.slots) {
		fprintf(stderr, "evstore-fcgi: out of memory\n");
		return 1;
	}
	if (!unix_path || lstat(unix_path, &socket_file) != 0)
		unix_path = NULL;
	control_signals(&waitset);
	sigaddset(&waitset, SIGCHLD);
	/* Blocked signals are taken with sigtimedwait(); SIGCHLD needs a
	 * handler so that it is queued rather than discarded. */
	set_handler(SIGCHLD, on_child, SA_NOCLDSTOP);
	set_handler(SIGPIPE, SIG_IGN, 0);
	sigprocmask(SIG_BLOCK, &waitset, &p.parent_mask);

	for (int i = 0; i < p.n; i++)
		spawn_worker(&p, &p.slots[i]);
	log_kv(LOG_NOTICE, "pool_started", (const char *)NULL);

	for (;;) {
		int64_t now = time_mono_ms(), next = now + 1000;
		struct timespec ts;
		siginfo_t info;
		int sig;

		if (!stopping) {
			for (int i = 0; i < p.n; i++) {
				struct worker_slot *w = &p.slots[i];

				if (w->pid == 0 && w->restart_at_ms <= now)
					spawn_worker(&p, w);
				if (w->pid == 0 && w->restart_at_ms < next)
					next = w->restart_at_ms;
			}
		} else if (live_workers(&p) == 0) {
			break;
		}
		if (next < now)
			next = now;
		ts.tv_sec = (next - now) / 1000;
		ts.tv_nsec = ((next - now) % 1000) * 1000000;
		sig = sigtimedwait(&waitset, &info, &ts);
		switch (sig) {
		case SIGTERM:
		case SIGINT:
			/* The first asks the workers to finish, a second insists. */
			signal_workers(&p, stopping ? SIGKILL : SIGTERM);
			stopping = true;
			break;
		case SIGHUP:
			worker_reload(app);
			signal_workers(&p, SIGHUP);
			break;
		default:
			break;
		}
		reap_workers(&p, stopping);
	}
	close(listen_fd);
	remove_socket(unix_path, &socket_file);
	log_kv(LOG_NOTICE, "pool_stopped", (const char *)NULL);
	free(p.slots);
	return 0;
}
