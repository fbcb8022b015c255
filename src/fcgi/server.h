/* server.h - how evstore-fcgi gets its requests: a listening socket it is
 * handed (systemd on fd 3, a spawner or web server on fd 0), one it creates
 * (--listen), served by this process or by a pool of pre-forked workers
 * (pool.h), or a single plain-CGI request. */
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

/* Writes where the listening socket fd takes connections into out (len
 * bytes): "unix:/run/evstore/fcgi.sock", "127.0.0.1:9000", "[::1]:9000",
 * or "unknown" when getsockname cannot tell. Works for a socket made here
 * as for a handed one (systemd, fd 0), so the start-up record names the
 * truth, not the command line. Returns out. */
const char *server_socket_name(int fd, char *out, size_t len);

/* Serves FastCGI requests accepted on listen_fd in this process until
 * SIGTERM or SIGINT; an in-flight request finishes first (a long-poll
 * returns its current page at once). SIGHUP reloads the configuration.
 * Serving alone, it tells systemd (sdnotify.h) READY=1 when it accepts,
 * RELOADING=1 then READY=1 around a reload and STOPPING=1 at the end; it
 * does not drain ([http] drain_delay is the pool's). Counts its requests
 * for /metrics in a poolstats of one slot of its own. Returns the process
 * exit status. */
int server_run_worker(struct app *app, int listen_fd);

/* server_run_worker for a worker of a pool (pool.c): silent towards
 * systemd; writes its pid (a pid_t) to ready_fd, and closes it, when it
 * reaches its accept loop; counts its requests in app->pool. */
int server_run_pool_worker(struct app *app, int listen_fd, int ready_fd);

/* Re-reads app's configuration (app_reload) and logs the outcome: on
 * failure the old configuration stays. */
void server_reload(struct app *app);

/* Serves one plain-CGI request from the environment and stdin to stdout. */
int server_run_cgi(struct app *app);

#endif
