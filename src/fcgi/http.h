/* http.h - one HTTP request and its response, independent of how they travel:
 * the same code serves FastCGI streams, plain CGI (environment, stdin and
 * stdout) and in-memory tests through struct http_io. Also the small strict
 * parsers for what a request carries: Content-Length, query strings,
 * percent escapes, preconditions, X-Request-Id and traceparent. */
#ifndef EVSTORE_FCGI_HTTP_H
#define EVSTORE_FCGI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "base/error.h"
#include "base/sbuf.h"

/* How a request reaches us and how its response leaves. */
struct http_io {
	/* The value of a CGI/FastCGI parameter (REQUEST_METHOD, HTTP_IF_MATCH,
	 * ...) or NULL; borrowed until the next request is accepted. */
	const char *(*param)(void *ctx, const char *name);
	/* Reads up to len bytes of the request body; returns the number read,
	 * 0 at the end of the body, -1 on an error. */
	long (*read)(void *ctx, char *buf, size_t len);
	/* Writes all len bytes of the response; false when the peer is gone. */
	bool (*write)(void *ctx, const char *buf, size_t len);
	void *ctx;
	/* Handing a long poll to the waiter process (FastCGI in a pool only;
	 * NULL elsewhere): the connection's descriptor and FastCGI request id,
	 * or -1 when the request cannot leave; then detach, once the waiter
	 * has the descriptor, so that the transport forgets the request
	 * without answering it. */
	int (*connection)(void *ctx, uint16_t *fcgi_id);
	void (*detach)(void *ctx);
};

#define HTTP_REQUEST_ID_MAX 128

/* A request, with everything it needs copied out of the parameters (they
 * die at the next accept). Strings are malloc'd and NULL when the header
 * was absent, unless said otherwise. */
struct http_req {
	char *method;              /* never NULL ("" when absent) */
	char *path;                /* raw path of REQUEST_URI less base_path; NULL
	                            * when there is no REQUEST_URI or it lies
	                            * outside base_path */
	char *query;               /* raw query string, never NULL */
	char *content_type;
	char *content_length;      /* raw; parsed by http_req_read_body */
	char *authorization;
	char *if_match;
	char *if_none_match;
	char *tenant;              /* X-Evstore-Tenant */
	char *idempotency_key;
	char *consistency;         /* Evstore-Consistency: a token from a write */
	char *traceparent;         /* a valid W3C traceparent's four fields only */
	char request_id[HTTP_REQUEST_ID_MAX + 1]; /* the caller's or a UUIDv7 */
	char *body;                /* NUL-terminated; NULL until read */
	size_t body_len;
	bool head;                 /* HEAD: answer as GET without the body */
	const struct http_io *io;  /* borrowed */
};

/* Fills req from io's parameters, copying what it keeps; base_path
 * ("" or NULL for none, a trailing '/' ignored) is removed from the front of
 * the path. Never reads the body. Returns ES_ENOMEM when a copy failed;
 * req is then still safe to answer and free. io is borrowed for req's life. */
enum es_status http_req_init(struct http_req *req, const struct http_io *io,
			     const char *base_path) ES_MUST_CHECK;

/* Reads the body announced by CONTENT_LENGTH into req->body: ES_EINVAL for
 * a malformed length or a short read, ES_ETOOLARGE (nothing read) above
 * max_body_bytes. err gets a message fit for the client. */
enum es_status http_req_read_body(struct http_req *req, long max_body_bytes,
				  char *err, size_t errlen) ES_MUST_CHECK;

/* Releases what req holds; safe on a zeroed or already freed request. */
void http_req_free(struct http_req *req);

/* CONTENT_LENGTH: NULL or "" is 0, otherwise digits only (no sign, no
 * blanks). ES_EINVAL when malformed, ES_ETOOLARGE when above max. */
enum es_status http_parse_content_length(const char *s, long max, long *out) ES_MUST_CHECK;

/* A caller's X-Request-Id is used when it is 1..128 of [A-Za-z0-9._:-]. */
bool http_request_id_valid(const char *s);

#define HTTP_TRACEPARENT_LEN 55  /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define HTTP_TRACEPARENT_MAX 512 /* a longer header is refused whole */

/* Parses a W3C trace context traceparent strictly: version (2 lowercase
 * hex, not ff), trace-id (32, not all zero), parent-id (16, not all zero)
 * and flags (2), joined by '-'. Version 00 is exactly that; a later
 * version may go on after a '-', and what follows is dropped, so control
 * characters or invalid UTF-8 there never reach a log or an event. Writes
 * the 55 characters and a NUL to out; false (out untouched) for anything
 * else, NULL, or more than HTTP_TRACEPARENT_MAX bytes. */
bool http_traceparent_parse(const char *s, char out[HTTP_TRACEPARENT_LEN + 1]);

/* True for "application/json" in any case, with optional parameters; a
 * charset parameter must say utf-8. */
bool http_content_type_is_json(const char *content_type);

/* Strict decimal integer in [min, max]: optional '-' only when min < 0,
 * then digits, nothing else. */
bool http_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Decodes %XX escapes (and '+' as a space when plus_is_space) of in[0..len)
 * into out, which must hold len + 1 bytes; out is NUL-terminated and its
 * length stored in *outlen. A malformed escape or a decoded NUL byte is
 * ES_EINVAL. */
enum es_status http_percent_decode(const char *in, size_t len, bool plus_is_space,
				   char *out, size_t *outlen) ES_MUST_CHECK;

/* --- query strings ------------------------------------------------------ */

struct http_param {
	char *name;
	char *value;
};

struct http_query {
	struct http_param *items;
	size_t n;
};

/* Splits "a=1&b=x%20y" into decoded name/value pairs (a name without '='
 * has the value ""; empty pieces are skipped). ES_EINVAL for a bad escape,
 * with the offending name in err. out is always safe to free. */
enum es_status http_query_parse(const char *qs, struct http_query *out,
				char *err, size_t errlen) ES_MUST_CHECK;

/* The value of name, borrowed from q: ES_OK with *value NULL when absent,
 * ES_EINVAL when the parameter is given more than once. */
enum es_status http_query_get(const struct http_query *q, const char *name,
			      const char **value) ES_MUST_CHECK;

void http_query_free(struct http_query *q);

struct http_resp;

/* http_query_get for a route: false, with a 400 invalid-request naming
 * the parameter in resp, when it is given more than once. */
bool http_query_single(const struct http_query *q, struct http_resp *resp, const char *name,
		       const char **value);

/* --- preconditions ------------------------------------------------------ */

enum http_precond_kind {
	HTTP_PRECOND_NONE,       /* no header */
	HTTP_PRECOND_VERSION,    /* a stream version */
	HTTP_PRECOND_ANY_EXISTS  /* "*" */
};

struct http_precond {
	enum http_precond_kind kind;
	int64_t version;
};

/* If-Match on a write: "n" (quoted; bare digits accepted too) or "*".
 * NULL is HTTP_PRECOND_NONE. A list, a weak tag or anything else is
 * ES_EINVAL. */
enum es_status http_parse_if_match(const char *s, struct http_precond *out) ES_MUST_CHECK;

/* If-None-Match on a write: only "*" (the stream must not exist) makes
 * sense. NULL is HTTP_PRECOND_NONE; anything but "*" is ES_EINVAL. */
enum es_status http_parse_if_none_match_write(const char *s,
					      struct http_precond *out) ES_MUST_CHECK;

/* If-None-Match on a read: true when the list ("*", "3", W/"3", ...)
 * names the current version, i.e. the client's copy is fresh. */
bool http_if_none_match_fresh(const char *s, int64_t current_version);

/* --- responses ---------------------------------------------------------- */

/* Every problem type the API answers with (ProblemType in doc/openapi.yaml). */
enum http_problem {
	HTTP_PROBLEM_INVALID_REQUEST,
	HTTP_PROBLEM_UNAUTHORIZED,
	HTTP_PROBLEM_FORBIDDEN,
	HTTP_PROBLEM_NOT_FOUND,
	HTTP_PROBLEM_METHOD_NOT_ALLOWED,
	HTTP_PROBLEM_VERSION_CONFLICT,
	HTTP_PROBLEM_DUPLICATE_EVENT_ID,
	HTTP_PROBLEM_INVALID_STATE,
	HTTP_PROBLEM_PAYLOAD_TOO_LARGE,
	HTTP_PROBLEM_UNSUPPORTED_MEDIA_TYPE,
	HTTP_PROBLEM_VALIDATION_FAILED,
	HTTP_PROBLEM_UNAVAILABLE,
	HTTP_PROBLEM_SCHEMA_NOT_MIGRATED,
	HTTP_PROBLEM_INTERNAL
};

struct http_resp {
	int status;                /* 0 until a reply is set */
	const char *content_type;  /* static string */
	struct sbuf headers;       /* extra "Name: value\r\n" lines */
	struct sbuf body;
	int retry_after;           /* seconds, sent with every 503 */
	bool detached;             /* handed to the waiter: nothing is written here */
};

#define HTTP_CT_JSON "application/json"
#define HTTP_CT_PROBLEM "application/problem+json"

/* retry_after is [http] retry_after. */
void http_resp_init(struct http_resp *resp, int retry_after);
/* Forgets headers and body so another reply can be set; keeps memory. */
void http_resp_reset(struct http_resp *resp);
void http_resp_free(struct http_resp *resp);

/* Adds a header line. CR, LF and other control characters in the value
 * are replaced by spaces so that no caller can split the response. */
void http_resp_header(struct http_resp *resp, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets status and Content-Type: application/json; the caller appends the
 * body to resp->body. */
void http_resp_json(struct http_resp *resp, int status);

/* The problem a status is answered with (ES_EDB, ES_ENOMEM, ... are
 * internal; ES_ERETRY is unavailable). */
enum http_problem http_problem_for(enum es_status st);

/* Replaces the reply with an application/problem+json document. detail may
 * be NULL; for a 5xx it is replaced by a generic text so nothing internal
 * leaks. extra (taken, may be NULL) is an object whose members are added.
 * A 503 gets Retry-After. */
void http_reply_problem(struct http_resp *resp, enum http_problem p, const char *detail,
			json_object *extra);

/* http_reply_problem with a printf-style detail (at most 319 bytes) and,
 * when pointer is not NULL, a "pointer" member naming the body member at
 * fault (copied). Returns false, for a parser to return. */
bool http_reject(struct http_resp *resp, enum http_problem p, const char *pointer,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* http_reply_problem for the problem a status maps to. */
void http_reply_status(struct http_resp *resp, enum es_status st, const char *detail);

/* 401 with WWW-Authenticate: realm only when why is NULL (no token), else
 * error="invalid_token" and error_description=why. */
void http_reply_unauthorized(struct http_resp *resp, const char *why);

/* The reason phrase of a status code ("Created"). */
const char *http_status_text(int status);

/* Serialises resp for req (Status, Content-Type, X-Request-Id,
 * Content-Length, the extra headers, the body unless the request is HEAD
 * or the status forbids one) and writes it with one io->write call.
 * false when the peer went away. A detached response writes nothing. */
bool http_resp_write(struct http_resp *resp, const struct http_req *req);

#endif
