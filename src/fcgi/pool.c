/* pool.c - the pre-fork supervisor.
 *
 * One loop in poll(2) over two descriptors: a signalfd for SIGTERM,
 * SIGINT, SIGHUP and SIGCHLD (blocked, so nothing interrupts the
 * bookkeeping), and a pipe on which each worker writes its pid when it
 * reaches its accept loop: that is what "the workers are up" means for
 * READY=1. Workers count their requests, and read the drain flag, in the
 * shared mapping of poolstats.c.
 *
 * Beside the workers runs one waiter process (waiter.h) that holds the
 * long polls, so that they never hold a worker; the pool makes the socket
 * and the eventfd workers reach it by before anything forks, and keeps
 * both open, so that tickets queued while a waiter restarts wait for the
 * next one.
 *
 * The phases: starting (until every worker reported), ready, draining
 * (SIGTERM seen; /health/ready says 503 for drain_delay), stopping (the
 * workers got SIGTERM and finish their requests; the socket file is
 * removed so that nothing new queues on a socket nobody will accept from). */
#include "buildconf.h"
#include "fcgi/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sdnotify.h"
#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/poolstats.h"
#include "fcgi/server.h"
#include "fcgi/waiter.h"

/* A worker that exits sooner than this after its start counts as a crash
 * loop; its replacement waits RESTART_DELAY_MIN_MS doubling up to
 * RESTART_DELAY_MAX_MS. */
#define YOUNG_EXIT_MS 2000
#define RESTART_DELAY_MIN_MS 100
#define RESTART_DELAY_MAX_MS 5000
/* How often STATUS= is brought up to date (when it changed). */
#define STATUS_INTERVAL_MS 1000

enum pool_phase { POOL_STARTING, POOL_READY, POOL_DRAINING, POOL_STOPPING };

static const char *const phase_names[] = { "starting", "ready", "draining", "stopping" };

struct worker_slot {
	pid_t pid;                 /* 0: not running */
	int64_t started_ms;
	int64_t restart_at_ms;     /* when to start a replacement */
	unsigned young_exits;      /* consecutive exits soon after start */
	bool ready;                /* reported from its accept loop */
};

struct pool {
	struct app *app;
	int listen_fd;
	const char *unix_path;     /* the socket file to remove; NULL: none */
	struct stat socket_file;   /* what unix_path was at start */
	struct worker_slot *slots;
	int n;
	struct worker_slot waiter;
	int park_rx, park_tx;      /* tickets: the waiter reads, workers send */
	int poke_fd;               /* the eventfd workers poke the waiter with */
	sigset_t parent_mask;      /* the mask before the pool blocked signals */
	int sigfd;
	int ready_rd, ready_wr;    /* the workers' "in my accept loop" pipe */
	struct poolstats *stats;
	enum pool_phase phase;
	int64_t drain_until_ms;
	char status[160];          /* the last STATUS= sent */
};

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

/* Forks a child of the pool; in the child runs fn and exits with its
 * status. Returns the pid, 0 when fork failed (logged). */
static pid_t spawn(struct pool *p, int (*fn)(struct pool *p, int i), int i)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		log_kv(LOG_ERR, "worker_fork_failed", "error", strerror(errno), (const char *)NULL);
		return 0;
	}
	if (pid == 0) {
		int rc;

		set_handler(SIGCHLD, SIG_DFL, 0);
		close(p->sigfd);
		close(p->ready_rd);
		/* systemd hears the supervisor only. */
		sdnotify_unset_environment();
		sigprocmask(SIG_SETMASK, &p->parent_mask, NULL);
		/* A child never outlives its supervisor. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);
		rc = fn(p, i);
		app_fini(p->app);
		log_close();
		/* exit(), not _exit(): a child is a whole process with its own
		 * life, and leak checkers run at exit. Nothing is left in stdio
		 * buffers from the parent (flushed before fork). */
		exit(rc);
	}
	return pid;
}

static int worker_main(struct pool *p, int i)
{
	close(p->park_rx);
	p->app->pool = p->stats;
	p->app->pool_slot = i;
	p->app->waiter_sock = p->park_tx;
	p->app->waiter_poke = p->poke_fd;
	free(p->slots);
	return server_run_pool_worker(p->app, p->listen_fd, p->ready_wr);
}

static int waiter_main(struct pool *p, int i)
{
	(void)i;
	/* What ps -o comm and top show, and how an operator finds it. */
	prctl(PR_SET_NAME, "evstore-waiter");
	close(p->listen_fd);
	close(p->ready_wr);
	close(p->park_tx);
	free(p->slots);
	p->app->pool = p->stats;
	p->app->pool_slot = p->n;
	return waiter_run(p->app, p->park_rx, p->poke_fd);
}

static void slot_started(struct worker_slot *w, pid_t pid)
{
	w->pid = pid;
	w->ready = false;
	w->started_ms = time_mono_ms();
	w->restart_at_ms = pid ? 0 : time_mono_ms() + RESTART_DELAY_MAX_MS;
}

static void spawn_worker(struct pool *p, int i)
{
	slot_started(&p->slots[i], spawn(p, worker_main, i));
	if (p->slots[i].pid)
		poolstats_slot_started(p->stats, i);
}

static void spawn_waiter(struct pool *p)
{
	slot_started(&p->waiter, spawn(p, waiter_main, 0));
}

static int live_workers(const struct pool *p)
{
	int live = 0;

	for (int i = 0; i < p->n; i++)
		live += p->slots[i].pid != 0;
	return live;
}

/* Signals the workers and the waiter. */
static void signal_workers(const struct pool *p, int sig)
{
	for (int i = 0; i < p->n; i++)
		if (p->slots[i].pid)
			kill(p->slots[i].pid, sig);
	if (p->waiter.pid)
		kill(p->waiter.pid, sig);
}

/* The child of slot w exited: when to start its replacement. */
static void slot_exited(struct worker_slot *w, int64_t now)
{
	w->pid = 0;
	w->ready = false;
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

/* Reaps exited workers and schedules their replacement. */
static void reap_workers(struct pool *p)
{
	bool stopping = p->phase == POOL_STOPPING;
	int wstatus;
	pid_t pid;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		char pidbuf[24], how[48];
		int64_t now = time_mono_ms();

		const char *who = "worker_exited";

		for (int i = 0; i < p->n; i++) {
			if (p->slots[i].pid != pid)
				continue;
			slot_exited(&p->slots[i], now);
			poolstats_slot_reset(p->stats, i);
			/* Replaced unless the pool stops: /metrics counts a restart. */
			if (!stopping)
				poolstats_count_restart(p->stats);
		}
		if (p->waiter.pid == pid) {
			slot_exited(&p->waiter, now);
			poolstats_set_waiters(p->stats, 0);
			if (!stopping)
				poolstats_count_restart(p->stats);
			who = "waiter_exited";
		}
		if (stopping && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
			continue;
		snprintf(pidbuf, sizeof pidbuf, "%ld", (long)pid);
		if (WIFSIGNALED(wstatus))
			snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(wstatus));
		else
			snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(wstatus));
		log_kv(stopping ? LOG_NOTICE : LOG_WARNING, who, "pid", pidbuf, "how", how,
		       (const char *)NULL);
	}
}

/* Removes the unix socket file if it is still the one found at start
 * (another instance may have replaced it since). */
static void remove_socket(struct pool *p)
{
	struct stat now;

	if (p->unix_path && lstat(p->unix_path, &now) == 0 && S_ISSOCK(now.st_mode) &&
	    now.st_dev == p->socket_file.st_dev && now.st_ino == p->socket_file.st_ino)
		unlink(p->unix_path);
	p->unix_path = NULL;
}

/* STATUS= for `systemctl status`, sent when it says something new. */
static void report_status(struct pool *p)
{
	struct poolstats_view v;
	char status[sizeof p->status];

	poolstats_read(p->stats, &v);
	snprintf(status, sizeof status,
		 "%s: %d workers (%d busy), long polls parked: %d, %llu requests served",
		 phase_names[p->phase], live_workers(p), v.busy, v.waiters,
		 (unsigned long long)v.requests);
	if (strcmp(status, p->status) == 0)
		return;
	memcpy(p->status, status, sizeof status);
	(void)sdnotify_sendf("STATUS=%s", status);
}

/* Takes the pids the workers wrote from their accept loop; READY=1 once
 * every worker has reported. */
static void take_ready_reports(struct pool *p)
{
	pid_t pids[64];
	ssize_t got;

	while ((got = read(p->ready_rd, pids, sizeof pids)) > 0) {
		for (size_t k = 0; k < (size_t)got / sizeof pids[0]; k++)
			for (int i = 0; i < p->n; i++)
				if (p->slots[i].pid == pids[k])
					p->slots[i].ready = true;
	}
	if (p->phase != POOL_STARTING)
		return;
	for (int i = 0; i < p->n; i++)
		if (!p->slots[i].ready)
			return;
	p->phase = POOL_READY;
	report_status(p);
	(void)sdnotify_send("READY=1");
	log_kv(LOG_NOTICE, "pool_ready", (const char *)NULL);
}

/* The workers stop accepting, finish what they serve and exit. */
static void begin_stop(struct pool *p)
{
	if (p->phase != POOL_DRAINING)
		(void)sdnotify_send("STOPPING=1");
	p->phase = POOL_STOPPING;
	poolstats_set_draining(p->stats, true);
	signal_workers(p, SIGTERM);
	remove_socket(p);
	log_kv(LOG_NOTICE, "pool_stopping", (const char *)NULL);
}

/* /health/ready turns 503 for drain_delay; everything else is served. */
static void begin_drain(struct pool *p)
{
	char delay[24];

	snprintf(delay, sizeof delay, "%d", p->app->cfg.http.drain_delay);
	p->phase = POOL_DRAINING;
	p->drain_until_ms = time_mono_ms() + (int64_t)p->app->cfg.http.drain_delay * 1000;
	poolstats_set_draining(p->stats, true);
	(void)sdnotify_send("STOPPING=1");
	log_kv(LOG_NOTICE, "pool_draining", "drain_delay", delay, (const char *)NULL);
}

static void reload(struct pool *p)
{
	bool tell = p->phase == POOL_READY;

	if (tell)
		(void)sdnotify_sendf("RELOADING=1\nMONOTONIC_USEC=%lld", (long long)time_mono_ms() * 1000);
	server_reload(p->app);
	signal_workers(p, SIGHUP);
	if (tell)
		(void)sdnotify_send("READY=1");
}

static void on_signal(struct pool *p, int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (p->phase == POOL_STOPPING) {
			/* Asked again while the workers finish: insist. */
			signal_workers(p, SIGKILL);
			log_kv(LOG_WARNING, "pool_killing_workers", (const char *)NULL);
		} else if (p->phase == POOL_DRAINING || sig == SIGINT || p->app->cfg.http.drain_delay == 0) {
			/* A second SIGTERM cuts the drain short; SIGINT (a terminal's
			 * ^C) never waits. */
			begin_stop(p);
		} else {
			begin_drain(p);
		}
		break;
	case SIGHUP:
		reload(p);
		break;
	default:
		break;
	}
}

static void take_signals(struct pool *p)
{
	struct signalfd_siginfo si;

	while (read(p->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		on_signal(p, (int)si.ssi_signo);
}

/* Runs one round of supervision: starts what is due, moves the drain on,
 * and returns how long the loop may sleep, or -1 when the pool is done. */
static int64_t supervise(struct pool *p)
{
	int64_t now = time_mono_ms(), next = now + STATUS_INTERVAL_MS;

	if (p->phase == POOL_DRAINING && now >= p->drain_until_ms)
		begin_stop(p);
	if (p->phase == POOL_STOPPING)
		return live_workers(p) == 0 && p->waiter.pid == 0 ? -1 : next - now;
	if (p->waiter.pid == 0 && p->waiter.restart_at_ms <= now)
		spawn_waiter(p);
	if (p->waiter.pid == 0 && p->waiter.restart_at_ms < next)
		next = p->waiter.restart_at_ms;
	for (int i = 0; i < p->n; i++) {
		struct worker_slot *w = &p->slots[i];

		if (w->pid == 0 && w->restart_at_ms <= now)
			spawn_worker(p, i);
		if (w->pid == 0 && w->restart_at_ms < next)
			next = w->restart_at_ms;
	}
	if (p->phase == POOL_DRAINING && p->drain_until_ms < next)
		next = p->drain_until_ms;
	return next < now ? 0 : next - now;
}

/* The start-up record: which build listens where with how many workers,
 * so a log read later tells what was running. */
static void log_started(const struct pool *p)
{
	json_object *f = json_object_new_object();
	char where[128];

	if (f) {
		json_object_object_add(f, "version", json_object_new_string(PACKAGE_VERSION));
		json_object_object_add(f, "listen", json_object_new_string(
			server_socket_name(p->listen_fd, where, sizeof where)));
		json_object_object_add(f, "workers", json_object_new_int(p->n));
		json_object_object_add(f, "pid", json_object_new_int((int)getpid()));
	}
	log_json(LOG_NOTICE, "pool_started", f);
}

int server_run_pool(struct app *app, int listen_fd, int workers, const char *unix_path)
{
	struct pool p;
	sigset_t waitset;
	int pipefd[2], rc = 1;
	int64_t wait_ms;

	memset(&p, 0, sizeof p);
	p.app = app;
	p.listen_fd = listen_fd;
	p.n = workers;
	p.sigfd = p.ready_rd = p.ready_wr = p.park_rx = p.park_tx = p.poke_fd = -1;
	if (unix_path && lstat(unix_path, &p.socket_file) == 0)
		p.unix_path = unix_path;
	p.slots = calloc((size_t)workers, sizeof *p.slots);
	/* One slot per worker, and the last for the waiter's answers. */
	p.stats = poolstats_new(workers + 1);
	if (!p.slots || !p.stats || pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
		fprintf(stderr, "evstore-fcgi: starting the pool: %s\n", strerror(errno));
		goto out;
	}
	p.ready_rd = pipefd[0];
	p.ready_wr = pipefd[1];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pipefd) != 0 ||
	    (p.poke_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		fprintf(stderr, "evstore-fcgi: starting the pool: %s\n", strerror(errno));
		goto out;
	}
	p.park_rx = pipefd[0];
	p.park_tx = pipefd[1];

	sigemptyset(&waitset);
	sigaddset(&waitset, SIGTERM);
	sigaddset(&waitset, SIGINT);
	sigaddset(&waitset, SIGHUP);
	sigaddset(&waitset, SIGCHLD);
	/* SIGCHLD gets a handler so that it is queued for the signalfd
	 * rather than discarded as ignored. */
	set_handler(SIGCHLD, on_child, SA_NOCLDSTOP);
	set_handler(SIGPIPE, SIG_IGN, 0);
	sigprocmask(SIG_BLOCK, &waitset, &p.parent_mask);
	p.sigfd = signalfd(-1, &waitset, SFD_CLOEXEC | SFD_NONBLOCK);
	if (p.sigfd < 0) {
		fprintf(stderr, "evstore-fcgi: signalfd: %s\n", strerror(errno));
		goto out;
	}

	spawn_waiter(&p);
	for (int i = 0; i < p.n; i++)
		spawn_worker(&p, i);
	log_started(&p);

	while ((wait_ms = supervise(&p)) >= 0) {
		struct pollfd fds[2] = {
			{ .fd = p.sigfd, .events = POLLIN },
			{ .fd = p.ready_rd, .events = POLLIN },
		};

		report_status(&p);
		if (poll(fds, 2, (int)(wait_ms > STATUS_INTERVAL_MS ? STATUS_INTERVAL_MS : wait_ms)) < 0 &&
		    errno != EINTR) {
			log_kv(LOG_ERR, "pool_poll_failed", "error", strerror(errno), (const char *)NULL);
			/* Without its loop the pool cannot supervise: stop in order. */
			if (p.phase != POOL_STOPPING)
				begin_stop(&p);
			poll(NULL, 0, 100);
		}
		if (fds[1].revents & POLLIN)
			take_ready_reports(&p);
		if (fds[0].revents & POLLIN)
			take_signals(&p);
		reap_workers(&p);
	}
	rc = 0;
	log_kv(LOG_NOTICE, "pool_stopped", (const char *)NULL);
out:
	close(listen_fd);
	remove_socket(&p);
	if (p.sigfd >= 0)
		close(p.sigfd);
	if (p.ready_rd >= 0) {
		close(p.ready_rd);
		close(p.ready_wr);
	}
	if (p.park_rx >= 0) {
		close(p.park_rx);
		close(p.park_tx);
	}
	if (p.poke_fd >= 0)
		close(p.poke_fd);
	poolstats_free(p.stats);
	free(p.slots);
	return rc;
}
