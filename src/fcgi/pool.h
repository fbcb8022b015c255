/* pool.h - the pre-fork supervisor of evstore-fcgi: workers on one
 * listening socket, kept running, reloaded, and stopped with a drain. */
#ifndef EVSTORE_FCGI_POOL_H
#define EVSTORE_FCGI_POOL_H

struct app;

/* Pre-forks workers processes serving listen_fd (server_run_pool_worker)
 * and supervises them until it is stopped:
 * - a worker that dies is replaced, after a growing delay when they keep
 *   dying young;
 * - SIGHUP reloads the configuration here and is forwarded;
 * - the first SIGTERM starts the drain: for [http] drain_delay seconds
 *   every worker answers /health/ready with 503 "draining" and serves all
 *   else; then (or at once on a second SIGTERM, or with drain_delay 0, or
 *   on SIGINT) the workers get SIGTERM, finish their requests and exit; a
 *   further SIGTERM or SIGINT kills them;
 * - under systemd (NOTIFY_SOCKET) it sends READY=1 once every worker
 *   accepts, RELOADING=1 then READY=1 around a reload, STOPPING=1 when the
 *   drain starts, and STATUS= with its workers and requests served.
 * On the way out removes unix_path (may be NULL) if it is still the socket
 * file found at start, and closes listen_fd. Returns the exit status. */
int server_run_pool(struct app *app, int listen_fd, int workers, const char *unix_path);

#endif
