/* waiter.h - the pool's long-poll process.
 *
 * A long poll that finds nothing would hold a worker for up to max_wait
 * seconds; a handful of them would starve the pool (health probes fail, a
 * load balancer takes the host out). Instead the worker hands the
 * connection over (park.h) and this one process keeps every waiting long
 * poll in a poll(2) loop: it re-reads the feed when an append on this host
 * pokes it, when a NOTIFY from another host arrives, and every
 * FEED_POLL_MS regardless, and answers each poll (its own FastCGI records,
 * fcgi_record.h) when its page has events or its time is up. Polls asking
 * for the same page share one query. */
#ifndef EVSTORE_FCGI_WAITER_H
#define EVSTORE_FCGI_WAITER_H

struct app;

/* Runs the waiter until SIGTERM (or SIGINT): tickets arrive on sock, pokes
 * on the eventfd poke_fd. On stop every waiting poll is answered with the
 * page as it is. Opens its own database session. Returns the exit
 * status. */
int waiter_run(struct app *app, int sock, int poke_fd);

#endif
