/* handler_exec.c - the exec handler: a kept-alive child process fed one
 * JSON event per line on stdin, answering one line per event on stdout. */
#include "buildconf.h"
#include "runner/handler.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fdio.h"
#include "base/log.h"
#include "base/timefmt.h"

#define EXEC_LINE_MAX 4096

struct handler_exec {
	char *command;
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

struct handler_exec *handler_exec_new(const char *command, int timeout_ms)
{
	struct handler_exec *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->command = strdup(command);
	if (!h->command) {
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
 * its whole process group (a shell's children go with it). */
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
	free(h);
}

static bool exec_start(struct handler_exec *h)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		goto fail;
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		/* Its own process group: a timeout kills the program and
		 * whatever it started, not just the shell. */
		setpgid(0, 0);
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", h->command, (char *)NULL);
		_exit(127);
	}
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

/* Reads one line into line (NUL-terminated) before deadline. 1: a line,
 * 0: timeout, -1: the child closed its stdout or the line is too long,
 * -2: the abort check said to give up. */
static int exec_read_line(struct handler_exec *h, int64_t deadline, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(h->buf, '\n', h->len);
		struct pollfd pfd = { h->from_child, POLLIN, 0 };
		int64_t left;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - h->buf);

			if (l >= cap)
				return -1;
			memcpy(line, h->buf, l);
			line[l] = '\0';
			memmove(h->buf, nl + 1, h->len - l - 1);
			h->len -= l + 1;
			return 1;
		}
		if (h->len == sizeof h->buf)
			return -1;
		if (h->abort_fn && h->abort_fn(h->abort_arg))
			return -2;
		left = deadline - time_mono_ms();
		if (left <= 0)
			return 0;
		n = poll(&pfd, 1, left > EXEC_WAIT_SLICE_MS ? EXEC_WAIT_SLICE_MS : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		n = read(h->from_child, h->buf + h->len, sizeof h->buf - h->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		h->len += (size_t)n;
	}
}

enum handler_result handler_exec_handle(struct handler_exec *h, const struct event *ev,
					char *err, size_t errlen)
{
	char line[EXEC_LINE_MAX];
	enum exec_answer kind;
	const char *msg;
	int got;

	if (h->pid > 0) {
		int status;

		if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
			h->pid = 0;
			exec_stop(h, 0);
		}
	}
	if (h->pid <= 0 && !exec_start(h)) {
		snprintf(err, errlen, "cannot start the handler: %s", strerror(errno));
		return HANDLER_RETRY;
	}
	if (!fdio_write_all(h->to_child, ev->json, strlen(ev->json)) ||
	    !fdio_write_all(h->to_child, "\n", 1)) {
		snprintf(err, errlen, "the handler exited");
		exec_stop(h, 100);
		return HANDLER_RETRY;
	}
	got = exec_read_line(h, time_mono_ms() + h->timeout_ms, line, sizeof line);
	if (got == 0) {
		snprintf(err, errlen, "no answer within processing_timeout (%d ms)", h->timeout_ms);
		log_kv(LOG_WARNING, "exec_timeout", "command", h->command, NULL);
		exec_stop(h, 0);
		return HANDLER_RETRY;
	}
	if (got == -2) {
		/* Unanswered: it is handed over again after the restart. */
		snprintf(err, errlen, "the wait for an answer was abandoned by the shutdown");
		exec_stop(h, 0);
		return HANDLER_TRANSIENT;
	}
	if (got < 0) {
		snprintf(err, errlen, "the handler exited without answering");
		exec_stop(h, 100);
		return HANDLER_RETRY;
	}
	if (!exec_parse_answer(line, &kind, &msg)) {
		snprintf(err, errlen, "unreadable answer from the handler");
		return HANDLER_RETRY;
	}
	switch (kind) {
	case EXEC_ANSWER_OK:
		return HANDLER_OK;
	case EXEC_ANSWER_RETRY:
		snprintf(err, errlen, "retry: %s", msg);
		return HANDLER_RETRY;
	case EXEC_ANSWER_PARK:
	default:
		snprintf(err, errlen, "park: %s", msg);
		return HANDLER_PARK;
	}
}
