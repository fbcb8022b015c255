/* server.h - how evstore-fcgi gets its requests: a listening socket it is
 * handed (systemd on fd 3, a spawner or web server on fd 0), one it creates
 * (--listen) with a supervised pool of pre-forked workers, or a single
 * plain-CGI request. */
#ifndef EVSTORE_FCGI_SERVER_H
#define EVSTORE_FCGI_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct app;

/* The listening socket of systemd socket activation (LISTEN_PID is us and
 * LISTEN_FDS >= 1): fd 3, or -1 when not socket-activated. Clears the
 * LISTEN_* variables so children do not take them for their own. */
int server_systemd_fd(void);

/* True when fd 0 is a listening socket (spawn-fcgi, a web server that
 * starts FastCGI applications, systemd StandardInput=socket). */
bool server_fd0_is_listener(void);

/* Creates a listening socket for --listen: an address containing '/' is a
 * unix socket path (a stale socket file nobody answers on is replaced; its
 * mode is set to mode), anything else HOST:PORT ("127.0.0.1:9000",
 * "[::1]:9000", ":9000" for every address). Returns the descriptor, or -1
 * with err filled (-2 when addr itself is malformed: a usage error). */
int server_listen(const char *addr, mode_t mode, char *err, size_t errlen);

/* Serves FastCGI requests accepted on listen_fd in this process until
 * SIGTERM or SIGINT; an in-flight request finishes first. SIGHUP reloads
 * the configuration. Returns the process exit status. */
int server_run_worker(struct app *app, int listen_fd);

/* Pre-forks workers processes serving listen_fd and supervises them: a
 * worker that dies is replaced (after a growing delay when they keep dying
 * young); SIGTERM/SIGINT are forwarded as SIGTERM and waited for (a second
 * one kills); SIGHUP reloads the configuration here and is forwarded. On
 * the way out removes unix_path (may be NULL) if it is still the socket
 * created at start. Returns the process exit status. */
int server_run_pool(struct app *app, int listen_fd, int workers, const char *unix_path);

/* Serves one plain-CGI request from the environment and stdin to stdout. */
int server_run_cgi(struct app *app);

#endif
