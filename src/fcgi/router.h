/* router.h - maps a method and a raw path to a route of a table (the
 * application's is in routes.h). The path is split into segments first and each segment is
 * percent-decoded on its own, so "%2F" stays inside its segment. Path
 * parameters are validated by name: {type} is an aggregate type, {id} a
 * canonical UUID (lowercased in the match); anything else invalid is 400,
 * never 404.
 *
 * Decisions: the path must match exactly, so a trailing slash ("/v1/events/")
 * or an empty segment is 404. HEAD is served by the GET route of a path
 * (without a body) and listed in Allow next to GET. */
#ifndef EVSTORE_FCGI_ROUTER_H
#define EVSTORE_FCGI_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct route_ctx;

/* Who may call a route. */
enum route_auth {
	ROUTE_OPEN,    /* no token needed (liveness, readiness) */
	ROUTE_HEALTH,  /* open unless [http] health_requires_auth; then any valid token */
	ROUTE_READ,    /* events:read */
	ROUTE_WRITE,   /* events:write */
	ROUTE_ADMIN,   /* admin */
	ROUTE_METRICS  /* admin unless [metrics] require_auth = false */
};

struct route {
	const char *method;    /* "GET", "POST", ... */
	const char *pattern;   /* "/v1/aggregates/{type}/{id}/events" */
	void (*handler)(struct route_ctx *ctx);
	enum route_auth auth;
	const char *query;     /* the query parameters it takes, space separated;
	                        * NULL: it ignores the query string */
};

#define ROUTER_MAX_SEGMENTS 16
#define ROUTER_MAX_PARAMS 8

enum router_result {
	ROUTER_OK,
	ROUTER_NOT_FOUND,           /* no pattern has this path */
	ROUTER_METHOD_NOT_ALLOWED,  /* m->allow lists the methods that are */
	ROUTER_BAD_REQUEST          /* bad escape or parameter; m->detail says which */
};

struct route_match {
	const struct route *route;             /* borrowed from the table */
	char *buf;                             /* the decoded segments, owned */
	size_t nseg;
	const char *seg[ROUTER_MAX_SEGMENTS];  /* into buf */
	size_t nparams;
	struct {
		const char *name;              /* into the pattern, not terminated */
		size_t name_len;
		const char *value;             /* into buf, decoded and validated */
	} params[ROUTER_MAX_PARAMS];
	char allow[64];                        /* "GET, HEAD, POST" on 405 */
	char detail[192];                      /* the reason of a 400 */
};

/* Matches method and path (raw, without the query; may be NULL, which is
 * 404) against routes[0..n_routes), the first match winning. m is filled
 * in any case and must be released with route_match_free(); m->route is
 * borrowed from routes. */
enum router_result router_match(const struct route *routes, size_t n_routes, const char *method,
				const char *path, struct route_match *m);
void route_match_free(struct route_match *m);

/* The decoded value of the path parameter {name}, borrowed from m; NULL if
 * the route has no such parameter. */
const char *route_param(const struct route_match *m, const char *name);

/* True when route takes the query parameter name (see struct route). */
bool route_takes_query_param(const struct route *route, const char *name);

/* ^[A-Za-z][A-Za-z0-9_.-]{0,max_len-1}$: aggregate types use 64, event
 * types 128. */
bool router_name_valid(const char *s, size_t max_len);

#define ROUTER_AGGREGATE_TYPE_MAX 64
#define ROUTER_EVENT_TYPE_MAX 128

#endif
