/* handler_exec.c - the exec handler: a kept-alive child process fed one
 * JSON event per line on stdin, answering one line per event on stdout.
 *
 * The runner never blocks on the program: its stdin is non-blocking and
 * both the write of the event and the read of the answer wait in poll()
 * under one deadline (processing_timeout) and the abort check, so a
 * program that stops reading costs a timeout, not the runner.
 *
 * The program must not outlive the runner, even a kill -9 of it. The
 * forked child becomes a guard: it asks for a signal when the runner dies
 * (PR_SET_PDEATHSIG), starts the program in a grandchild inside its own
 * process group, and on that signal kills the whole group, the program and
 * whatever it started (PR_SET_PDEATHSIG alone would reach the shell, not
 * its children). When the program exits, the guard exits likewise. */
#include "buildconf.h"
#include "runner/handler.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/timefmt.h"

#define EXEC_LINE_MAX 4096

/* The runner's variables a program gets (the rest, DATABASE_URL,
 * PGPASSWORD, EVSTORE_*, NOTIFY_SOCKET, ..., may hold secrets). */
static const char *const exec_env_kept[] = { "PATH", "HOME", "LANG", "TZ" };
#define EXEC_ENV_KEPT (sizeof exec_env_kept / sizeof exec_env_kept[0])
#define EXEC_DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

/* What waiting on the program came to. */
enum exec_io { EXEC_IO_DONE, EXEC_IO_TIMEOUT, EXEC_IO_CLOSED, EXEC_IO_ABORTED };

struct handler_exec {
	char *command;
	char **envp;                  /* the program's environment, NULL-terminated */
	int timeout_ms;
	pid_t pid;                    /* 0: not running */
	int to_child;                 /* its stdin */
	int from_child;               /* its stdout */
	char buf[EXEC_LINE_MAX];      /* bytes read, not yet a whole line */
	size_t len;
	bool (*abort_fn)(void *);     /* NULL: wait out the whole timeout */
	void *abort_arg;
};

/* How long one wait for an answer lasts before the abort check runs. */
#define EXEC_WAIT_SLICE_MS 100

bool exec_parse_answer(const char *line, enum exec_answer *kind, const char **message)
{
	static const struct { const char *word; enum exec_answer kind; bool msg; } words[] = {
		{ "ok", EXEC_ANSWER_OK, false },
		{ "retry", EXEC_ANSWER_RETRY, true },
		{ "park", EXEC_ANSWER_PARK, true },
	};
	size_t len = strlen(line);

	if (len && line[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t wl = strlen(words[i].word);

		if (len < wl || strncmp(line, words[i].word, wl) != 0)
			continue;
		if (len == wl) {
			*kind = words[i].kind;
			*message = line + len; /* "" (or the '\r') */
			if (**message == '\r')
				*message = "";
			return true;
		}
		if (words[i].msg && line[wl] == ' ') {
			*kind = words[i].kind;
			*message = line + wl + 1;
			return true;
		}
	}
	return false;
}

void exec_environment_free(char **envp)
{
	if (!envp)
		return;
	for (char **e = envp; *e; e++)
		free(*e);
	free(envp);
}

/* Appends a copy of len bytes of s to envp[*n]; false when out of memory. */
static bool env_push(char **envp, size_t *n, const char *s, size_t len)
{
	envp[*n] = strndup(s, len);
	return envp[(*n)++] != NULL;
}

/* Whether envp (NULL-terminated) sets name. */
static bool exec_env_has(char *const *envp, const char *name)
{
	size_t len = strlen(name);

	for (; *envp; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return true;
	return false;
}

/* Appends the space-separated pairs of env (NULL: none). */
static bool env_add_pairs(char **envp, size_t *n, const char *env)
{
	for (const char *p = env; p && *p;) {
		size_t len = strcspn(p, " ");

		if (!env_push(envp, n, p, len))
			return false;
		p += len + (p[len] == ' ');
	}
	return true;
}

/* Appends the runner's own kept variables that envp does not set yet. */
static bool env_add_kept(char **envp, size_t *n)
{
	for (size_t i = 0; i < EXEC_ENV_KEPT; i++) {
		const char *v = getenv(exec_env_kept[i]);

		if (!v || exec_env_has(envp, exec_env_kept[i]))
			continue;
		if (asprintf(&envp[*n], "%s=%s", exec_env_kept[i], v) < 0) {
			envp[*n] = NULL;
			return false;
		}
		(*n)++;
	}
	return true;
}

char **exec_environment(const char *env)
{
	size_t cap = EXEC_ENV_KEPT + 3, n = 0; /* + the first pair, a default PATH, NULL */
	char **envp;

	for (const char *p = env; p && *p; p++)
		cap += *p == ' ';
	envp = calloc(cap, sizeof *envp);
	if (!envp)
		return NULL;
	/* The subscription's own pairs first: a name set there wins. */
	if (!env_add_pairs(envp, &n, env) || !env_add_kept(envp, &n) ||
	    (!exec_env_has(envp, "PATH") &&
	     !env_push(envp, &n, EXEC_DEFAULT_PATH, strlen(EXEC_DEFAULT_PATH)))) {
		exec_environment_free(envp);
		return NULL;
	}
	return envp;
}

struct handler_exec *handler_exec_new(const char *command, const char *env, int timeout_ms)
{
	struct handler_exec *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->command = strdup(command);
	h->envp = exec_environment(env);
	if (!h->command || !h->envp) {
		free(h->command);
		exec_environment_free(h->envp);
		free(h);
		return NULL;
	}
	h->timeout_ms = timeout_ms;
	h->to_child = h->from_child = -1;
	return h;
}

void handler_exec_set_abort(struct handler_exec *h, bool (*abort_fn)(void *), void *arg)
{
	h->abort_fn = abort_fn;
	h->abort_arg = arg;
}

/* Stops the child: closes its stdin, waits up to grace_ms, then SIGKILL to
 * its whole process group (the guard, the program and its children). */
static void exec_stop(struct handler_exec *h, int grace_ms)
{
	int status;

	if (h->to_child >= 0)
		close(h->to_child);
	if (h->from_child >= 0)
		close(h->from_child);
	h->to_child = h->from_child = -1;
	h->len = 0;
	if (h->pid <= 0)
		return;
	for (int waited = 0; waited < grace_ms; waited += 10) {
		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(-h->pid, SIGKILL);
	kill(h->pid, SIGKILL);
	while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
		;
	h->pid = 0;
}

void handler_exec_free(struct handler_exec *h)
{
	if (!h)
		return;
	exec_stop(h, 1000);
	free(h->command);
	exec_environment_free(h->envp);
	free(h);
}

/* Closes every descriptor from fd up: the guard holds no copy of the
 * runner's pipes (the other programs' stdin would never see EOF) or of
 * its database sockets. */
static void close_from(int fd)
{
	if (close_range((unsigned)fd, ~0u, 0) == 0)
		return;
	for (long max = sysconf(_SC_OPEN_MAX); fd < max; fd++)
		close(fd);
}

/* In the grandchild: the program itself, with stdin and stdout already
 * in place. Never returns. */
static void exec_program(const struct handler_exec *h)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execle("/bin/sh", "sh", "-c", h->command, (char *)NULL, h->envp);
	_exit(127);
}

/* In the guard, until the program exits (then the guard exits the same
 * way) or the runner dies (then the whole group is killed). Never returns. */
static void exec_guard(pid_t program, const sigset_t *sigs)
{
	int sig, status;

	for (;;) {
		if (sigwait(sigs, &sig) != 0)
			continue;
		if (sig == SIGTERM)
			kill(0, SIGKILL);
		if (waitpid(program, &status, WNOHANG) == program)
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
}

/* In the forked child: its own process group, stdin and stdout from the
 * pipes, the death signal armed, then the program in a grandchild and the
 * guard here. Never returns. */
static void exec_child(const struct handler_exec *h, pid_t runner, int in, int out)
{
	sigset_t sigs;
	pid_t program;

	setpgid(0, 0);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	/* A runner that died before prctl() sends no signal: we are already
	 * someone else's child then. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != runner)
		_exit(127);
	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0)
		_exit(127);
	close_from(STDERR_FILENO + 1);
	program = fork();
	if (program < 0)
		_exit(127);
	if (program == 0)
		exec_program(h);
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	exec_guard(program, &sigs);
}

static bool exec_start(struct handler_exec *h)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	pid_t pid, runner = getpid();

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		goto fail;
	/* Writes wait in poll() under the deadline, never in write(). */
	if (fcntl(in[1], F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0)
		exec_child(h, runner, in[0], out[1]);
	setpgid(pid, pid); /* also here: no race with the first kill */
	close(in[0]);
	close(out[1]);
	h->pid = pid;
	h->to_child = in[1];
	h->from_child = out[0];
	h->len = 0;
	log_kv(LOG_INFO, "exec_started", "command", h->command, NULL);
	return true;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return false;
}

/* Waits until fd is ready for events, the deadline passes or the abort
 * check gives up; the check runs at least every EXEC_WAIT_SLICE_MS. */
static enum exec_io exec_wait(struct handler_exec *h, int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { fd, events, 0 };
		int64_t left;

		if (h->abort_fn && h->abort_fn(h->abort_arg))
			return EXEC_IO_ABORTED;
		left = deadline - time_mono_ms();
		if (left <= 0)
			return EXEC_IO_TIMEOUT;
		if (poll(&pfd, 1, left > EXEC_WAIT_SLICE_MS ? EXEC_WAIT_SLICE_MS : (int)left) > 0)
			return EXEC_IO_DONE;
	}
}

/* Writes len bytes of buf to the program's stdin before deadline. */
static enum exec_io exec_write(struct handler_exec *h, int64_t deadline, const char *buf,
			       size_t len)
{
	while (len > 0) {
		ssize_t n = write(h->to_child, buf, len);
		enum exec_io io;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return EXEC_IO_CLOSED;
		io = exec_wait(h, h->to_child, POLLOUT, deadline);
		if (io != EXEC_IO_DONE)
			return io;
	}
	return EXEC_IO_DONE;
}

/* Reads one line into line (NUL-terminated) before deadline. CLOSED also
 * when the line is too long. */
static enum exec_io exec_read_line(struct handler_exec *h, int64_t deadline, char *line,
				   size_t cap)
{
	for (;;) {
		char *nl = memchr(h->buf, '\n', h->len);
		enum exec_io io;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - h->buf);

			if (l >= cap)
				return EXEC_IO_CLOSED;
			memcpy(line, h->buf, l);
			line[l] = '\0';
			memmove(h->buf, nl + 1, h->len - l - 1);
			h->len -= l + 1;
			return EXEC_IO_DONE;
		}
		if (h->len == sizeof h->buf)
			return EXEC_IO_CLOSED;
		io = exec_wait(h, h->from_child, POLLIN, deadline);
		if (io != EXEC_IO_DONE)
			return io;
		n = read(h->from_child, h->buf + h->len, sizeof h->buf - h->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return EXEC_IO_CLOSED;
		h->len += (size_t)n;
	}
}

/* Hands ev to the program and reads its answer, all before one deadline. */
static enum exec_io exec_exchange(struct handler_exec *h, const struct event *ev, char *line,
				  size_t cap)
{
	int64_t deadline = time_mono_ms() + h->timeout_ms;
	enum exec_io io = exec_write(h, deadline, ev->json, strlen(ev->json));

	if (io == EXEC_IO_DONE)
		io = exec_write(h, deadline, "\n", 1);
	if (io == EXEC_IO_DONE)
		io = exec_read_line(h, deadline, line, cap);
	return io;
}

enum handler_result handler_exec_handle(struct handler_exec *h, const struct event *ev,
					struct handler_error *err)
{
	char line[EXEC_LINE_MAX];
	enum exec_answer kind;
	const char *msg;

	if (h->pid > 0) {
		int status;

		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			exec_stop(h, 0);
		}
	}
	if (h->pid <= 0 && !exec_start(h)) {
		handler_error_set(err, "cannot start the handler: %s", strerror(errno));
		return HANDLER_RETRY;
	}
	switch (exec_exchange(h, ev, line, sizeof line)) {
	case EXEC_IO_DONE:
		break;
	case EXEC_IO_TIMEOUT:
		handler_error_set(err, "no answer within processing_timeout (%d ms)", h->timeout_ms);
		log_kv(LOG_WARNING, "exec_timeout", "command", h->command, NULL);
		exec_stop(h, 0);
		return HANDLER_RETRY;
	case EXEC_IO_ABORTED:
		/* Unanswered: it is handed over again after the restart. */
		handler_error_set(err, "the wait for an answer was abandoned by the shutdown");
		exec_stop(h, 0);
		return HANDLER_TRANSIENT;
	case EXEC_IO_CLOSED:
	default:
		handler_error_set(err, "the handler exited without answering");
		exec_stop(h, 100);
		return HANDLER_RETRY;
	}
	if (!exec_parse_answer(line, &kind, &msg)) {
		handler_error_set(err, "unreadable answer from the handler");
		return HANDLER_RETRY;
	}
	if (kind == EXEC_ANSWER_OK)
		return HANDLER_OK;
	/* The program's message may quote the event: the DLQ row only. */
	snprintf(err->summary, sizeof err->summary, "the handler answered %s",
		 kind == EXEC_ANSWER_RETRY ? "retry" : "park");
	snprintf(err->detail, sizeof err->detail, "%s: %s",
		 kind == EXEC_ANSWER_RETRY ? "retry" : "park", msg);
	return kind == EXEC_ANSWER_RETRY ? HANDLER_RETRY : HANDLER_PARK;
}
