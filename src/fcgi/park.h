/* park.h - handing a long poll from a worker to the waiter process.
 *
 * A worker whose GET /v1/events?wait=N finds nothing does not wait: it
 * sends the connection's descriptor (SCM_RIGHTS) and a ticket saying what
 * the client asked for over a SOCK_SEQPACKET socket the pool made before
 * forking, forgets the request, and serves the next one. The waiter
 * answers it when events arrive or the wait is over. One message, one
 * ticket: SOCK_SEQPACKET keeps them whole, whichever worker sends.
 *
 * Workers also poke the waiter after each committed append, so that it
 * looks again at once, through an eventfd: a counter never fills up, so
 * pokes under heavy writing never crowd tickets out of the socket's
 * queue. */
#ifndef EVSTORE_FCGI_PARK_H
#define EVSTORE_FCGI_PARK_H

#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"
#include "base/uuidtext.h"
#include "fcgi/http.h"
#include "store/feed.h"

/* The largest ticket on the wire; a request whose ticket is larger (very
 * long filter lists) waits in its worker instead. */
#define PARK_TICKET_MAX 16384

/* A parked long poll: the feed request and what the answer needs. */
struct park_ticket {
	uint16_t fcgi_id;                /* the FastCGI request id on the connection */
	int64_t deadline_ms;             /* CLOCK_MONOTONIC: answer by then, events or not */
	int64_t started_us;              /* CLOCK_MONOTONIC: when the request arrived (access log) */
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	char traceparent[HTTP_TRACEPARENT_LEN + 1]; /* "" when none */
	char tenant[UUIDTEXT_LEN];       /* "" when the request has no tenant */
	struct feed_request q;           /* q.tenant points into tenant; strings below owned */
	char *headers;                   /* extra response header lines, or NULL */
};

/* Sends a ticket and the connection fd (which the caller still closes).
 * Never blocks: ES_ERETRY when the waiter's queue is full or the ticket is
 * too big, ES_EUNAVAILABLE when the socket is gone, ES_ENOMEM. */
enum es_status park_send(int sock, const struct park_ticket *t, int fd) ES_MUST_CHECK;

/* Tells the waiter, through the eventfd poke_fd, that an append committed
 * (never blocks). */
void park_poke(int poke_fd);

/* Takes the pokes received so far: true when there was at least one. */
bool park_take_pokes(int poke_fd);

/* What park_recv read. */
enum park_msg { PARK_NONE, PARK_TICKET, PARK_BAD };

/* Reads one message without blocking: PARK_NONE when there is none, or a
 * ticket with its connection in *fd (close-on-exec; the caller owns it and
 * t's strings: park_ticket_free). PARK_BAD for a message that is not a
 * ticket (its descriptor, if any, is closed). */
enum park_msg park_recv(int sock, struct park_ticket *t, int *fd);

/* Releases what a received ticket owns. */
void park_ticket_free(struct park_ticket *t);

/* True when a and b ask for the same page (one query answers both). */
bool park_same_query(const struct park_ticket *a, const struct park_ticket *b);

#endif
