/* check_http.c - the HTTP layer: strict parsers, responses and problems,
 * append-body validation, and the whole request pipeline driven in memory
 * (routing, authentication, tenancy, limits, a database that is away). */
#include "buildconf.h"

#include <check.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "auth/token.h"
#include "base/config.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/uuidtext.h"
#include "fcgi/app.h"
#include "fcgi/http.h"
#include "fcgi/routes.h"
#include "json/jsondoc.h"
#include "test_helpers.h"


extern char **environ;

/* ---- an in-memory request/response ------------------------------------------ */

struct fake_io {
	const char *params[40];  /* name, value, name, value, ..., NULL */
	const char *body;
	size_t body_len;
	size_t pos;
	size_t chunk;            /* at most this many bytes per read (0: any) */
	struct sbuf out;
};

static const char *fake_param(void *ctx, const char *name)
{
	struct fake_io *f = ctx;

	for (size_t i = 0; f->params[i]; i += 2)
		if (strcmp(f->params[i], name) == 0)
			return f->params[i + 1];
	return NULL;
}

static long fake_read(void *ctx, char *buf, size_t len)
{
	struct fake_io *f = ctx;
	size_t n = f->body_len - f->pos;

	if (n > len)
		n = len;
	if (f->chunk && n > f->chunk)
		n = f->chunk;
	memcpy(buf, f->body + f->pos, n);
	f->pos += n;
	return (long)n;
}

static bool fake_write(void *ctx, const char *buf, size_t len)
{
	struct fake_io *f = ctx;

	sbuf_append(&f->out, buf, len);
	return true;
}

static void fake_set(struct fake_io *f, const char *name, const char *value)
{
	size_t i = 0;

	while (f->params[i])
		i += 2;
	ck_assert_uint_lt(i + 2, N_ELEMS(f->params));
	f->params[i] = name;
	f->params[i + 1] = value;
	f->params[i + 2] = NULL;
}

static struct http_io fake_io_of(struct fake_io *f)
{
	struct http_io io = { .param = fake_param, .read = fake_read, .write = fake_write, .ctx = f };

	return io;
}

static int out_status(const char *out)
{
	int status = 0;

	ck_assert_msg(sscanf(out, "Status: %d ", &status) == 1, "no status line in: %s", out);
	return status;
}

/* The value of a response header (malloc'd), or NULL. */
static char *out_header(const char *out, const char *name)
{
	const char *end = strstr(out, "\r\n\r\n");
	size_t nlen = strlen(name);

	for (const char *line = out; line && line < end;) {
		const char *eol = strstr(line, "\r\n");

		if (strncmp(line, name, nlen) == 0 && line[nlen] == ':')
			return strndup(line + nlen + 2, (size_t)(eol - line - (ptrdiff_t)nlen - 2));
		line = eol + 2;
	}
	return NULL;
}

static const char *out_body(const char *out)
{
	const char *p = strstr(out, "\r\n\r\n");

	ck_assert_ptr_nonnull(p);
	return p + 4;
}

/* ---- Content-Length ------------------------------------------------------------ */

static const struct {
	const char *in;
	enum es_status st;
	long value;
} content_lengths[] = {
	{ NULL, ES_OK, 0 },
	{ "", ES_OK, 0 },          /* nginx on a GET */
	{ "0", ES_OK, 0 },
	{ "17", ES_OK, 17 },
	{ "1024", ES_OK, 1024 },   /* exactly the limit */
	{ "1025", ES_ETOOLARGE, 0 },
	{ "99999999999999999999999999", ES_ETOOLARGE, 0 },
	{ "-1", ES_EINVAL, 0 },
	{ "+1", ES_EINVAL, 0 },
	{ " 1", ES_EINVAL, 0 },
	{ "1 ", ES_EINVAL, 0 },
	{ "0x10", ES_EINVAL, 0 },
	{ "1e3", ES_EINVAL, 0 },
	{ "12abc", ES_EINVAL, 0 },
	{ "1,2", ES_EINVAL, 0 },
};

/* Every status a route answers has its reason phrase on the Status line
 * (a "202 Unknown" confuses proxies' logs and clients' error messages). */
START_TEST(status_lines_have_reasons)
{
	static const int used[] = { 200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409,
				    413, 415, 422, 500, 503 };

	for (size_t i = 0; i < N_ELEMS(used); i++)
		ck_assert_msg(strcmp(http_status_text(used[i]), "Unknown") != 0, "%d", used[i]);
	ck_assert_str_eq(http_status_text(202), "Accepted");
}
END_TEST

START_TEST(content_length_is_strict)
{
	long v = -1;

	ck_assert_int_eq(http_parse_content_length(content_lengths[_i].in, 1024, &v),
			 content_lengths[_i].st);
	if (content_lengths[_i].st == ES_OK)
		ck_assert_int_eq(v, content_lengths[_i].value);
}
END_TEST

static const struct {
	const char *content_length;
	const char *body;
	size_t chunk;
	enum es_status st;
	const char *got;
} bodies[] = {
	{ "5", "hello", 0, ES_OK, "hello" },
	{ "5", "hello", 2, ES_OK, "hello" },          /* arrives in pieces */
	{ "3", "hello", 0, ES_OK, "hel" },            /* never reads past the length */
	{ "10", "hello", 0, ES_EINVAL, NULL },        /* short read */
	{ "", "", 0, ES_OK, "" },
	{ "2048", "x", 0, ES_ETOOLARGE, NULL },       /* refused before reading */
	{ "abc", "abc", 0, ES_EINVAL, NULL },
};

START_TEST(body_read_exactly)
{
	struct fake_io f = { .params = { "REQUEST_METHOD", "POST", "CONTENT_LENGTH",
					 bodies[_i].content_length, NULL },
			     .body = bodies[_i].body, .body_len = strlen(bodies[_i].body),
			     .chunk = bodies[_i].chunk, .out = SBUF_INIT };
	struct http_io io = fake_io_of(&f);
	struct http_req req;
	char err[256];

	ck_assert_int_eq(http_req_init(&req, &io, ""), ES_OK);
	ck_assert_int_eq(http_req_read_body(&req, 1024, err, sizeof err), bodies[_i].st);
	if (bodies[_i].got) {
		ck_assert_uint_eq(req.body_len, strlen(bodies[_i].got));
		ck_assert_str_eq(req.body, bodies[_i].got);
	}
	if (bodies[_i].st == ES_ETOOLARGE)
		ck_assert_uint_eq(f.pos, 0);
	http_req_free(&req);
	sbuf_free(&f.out);
}
END_TEST

/* ---- X-Request-Id ---------------------------------------------------------------- */

static const struct {
	const char *id;
	bool ok;
} request_ids[] = {
	{ "abc", true },
	{ "A-Z_a.z:0-9", true },
	{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true }, /* 128 */
	{ "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0", false },
	{ "", false },
	{ NULL, false },
	{ "has space", false },
	{ "semi;colon", false },
	{ "new\nline", false },
	{ "quote\"", false },
	{ "caf\xc3\xa9", false },
	{ "slash/", false },
};

START_TEST(request_id_acceptance)
{
	ck_assert_int_eq(http_request_id_valid(request_ids[_i].id), request_ids[_i].ok);
}
END_TEST

START_TEST(request_id_echoed_or_generated)
{
	struct fake_io f = { .params = { "REQUEST_METHOD", "GET", "HTTP_X_REQUEST_ID",
					 request_ids[_i].id, NULL },
			     .out = SBUF_INIT };
	struct http_io io = fake_io_of(&f);
	struct http_req req;
	char uuid[UUIDTEXT_LEN];

	if (!request_ids[_i].id)
		f.params[2] = NULL;
	ck_assert_int_eq(http_req_init(&req, &io, NULL), ES_OK);
	if (request_ids[_i].ok)
		ck_assert_str_eq(req.request_id, request_ids[_i].id);
	else
		ck_assert_msg(uuidtext_parse(req.request_id, uuid), "generated id %s", req.request_id);
	http_req_free(&req);
}
END_TEST

/* ---- traceparent ----------------------------------------------------------------- */

#define TP_FIELDS "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* Each header, and what is kept of it (NULL: refused). */
static const struct {
	const char *tp;
	const char *kept;
} traceparents[] = {
	{ "00-" TP_FIELDS, "00-" TP_FIELDS },
	{ "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
	  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00" },
	{ "01-" TP_FIELDS, "01-" TP_FIELDS },
	/* a later version: its four fields, never what follows */
	{ "01-" TP_FIELDS "-future", "01-" TP_FIELDS },
	{ "cc-" TP_FIELDS "-", "cc-" TP_FIELDS },
	{ "01-" TP_FIELDS "-\x01\x1b[31m\n", "01-" TP_FIELDS },
	{ "01-" TP_FIELDS "-\xff\xfe\xc0\xaf", "01-" TP_FIELDS },
	{ "01-" TP_FIELDS "-\"}\\", "01-" TP_FIELDS },
	{ "01-" TP_FIELDS "x", NULL },
	{ "01-" TP_FIELDS "\xff", NULL },
	{ "00-" TP_FIELDS "-extra", NULL },
	{ "00-" TP_FIELDS " ", NULL },
	{ "ff-" TP_FIELDS, NULL },
	{ "0A-" TP_FIELDS, NULL },
	{ "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL },
	{ "00-00000000000000000000000000000000-00f067aa0ba902b7-01", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", NULL },
	{ "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", NULL },
	{ "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL },
	{ "00-" TP_FIELDS "0", NULL },
	{ "", NULL },
	{ NULL, NULL },
};

START_TEST(traceparent_parsing)
{
	char out[HTTP_TRACEPARENT_LEN + 1] = "untouched";
	bool ok = http_traceparent_parse(traceparents[_i].tp, out);

	ck_assert_msg(ok == (traceparents[_i].kept != NULL), "case %d: %s", _i,
		      ok ? "accepted" : "refused");
	ck_assert_str_eq(out, ok ? traceparents[_i].kept : "untouched");
}
END_TEST

/* The length cap: a later version with a long tail is refused whole. */
START_TEST(traceparent_length_cap)
{
	char tp[HTTP_TRACEPARENT_MAX + 2], out[HTTP_TRACEPARENT_LEN + 1];

	memset(tp, 'a', sizeof tp - 1);
	tp[sizeof tp - 1] = '\0';
	memcpy(tp, "01-" TP_FIELDS "-", HTTP_TRACEPARENT_LEN + 1);
	ck_assert(!http_traceparent_parse(tp, out));             /* 513 bytes */
	tp[HTTP_TRACEPARENT_MAX] = '\0';
	ck_assert(http_traceparent_parse(tp, out));              /* 512 bytes */
	ck_assert_str_eq(out, "01-" TP_FIELDS);
}
END_TEST

/* A request keeps only the four fields of its traceparent. */
START_TEST(request_keeps_traceparent_fields)
{
	struct fake_io f = { .params = { "REQUEST_METHOD", "GET", "HTTP_TRACEPARENT",
					 "02-" TP_FIELDS "-\x07\xff{\"", NULL },
			     .out = SBUF_INIT };
	struct http_io io = fake_io_of(&f);
	struct http_req req;

	ck_assert_int_eq(http_req_init(&req, &io, NULL), ES_OK);
	ck_assert_str_eq(req.traceparent, "02-" TP_FIELDS);
	http_req_free(&req);
	sbuf_free(&f.out);
}
END_TEST

/* A detail cut inside a UTF-8 sequence still makes a valid document. */
START_TEST(problem_detail_always_utf8)
{
	struct http_resp resp;

	http_resp_init(&resp, 1);
	http_reply_problem(&resp, HTTP_PROBLEM_INVALID_REQUEST, "cut \xe2\x82 raw \xff", NULL);
	ck_assert_ptr_nonnull(strstr(sbuf_cstr(&resp.body), "\"detail\":\"cut ?? raw ?\""));
	http_resp_free(&resp);
}
END_TEST

/* ---- Content-Type ------------------------------------------------------------------ */

static const struct {
	const char *ct;
	bool ok;
} content_types[] = {
	{ "application/json", true },
	{ "Application/JSON", true },
	{ "application/json; charset=utf-8", true },
	{ "application/json;charset=UTF-8", true },
	{ "application/json; charset=\"utf-8\"", true },
	{ "application/json ; charset=utf-8", true },
	{ "application/json; foo=bar", true },
	{ "application/json; charset=latin1", false },
	{ "application/jsonx", false },
	{ "application/json-patch+json", false },
	{ "text/json", false },
	{ "text/plain", false },
	{ "application/x-www-form-urlencoded", false },
	{ "application/json; charset", false },
	{ "", false },
	{ NULL, false },
};

START_TEST(content_type_matching)
{
	ck_assert_int_eq(http_content_type_is_json(content_types[_i].ct), content_types[_i].ok);
}
END_TEST

/* ---- preconditions ----------------------------------------------------------------- */

static const struct {
	const char *in;
	enum es_status st;
	enum http_precond_kind kind;
	int64_t version;
} if_matches[] = {
	{ NULL, ES_OK, HTTP_PRECOND_NONE, 0 },
	{ "\"3\"", ES_OK, HTTP_PRECOND_VERSION, 3 },
	{ "\"0\"", ES_OK, HTTP_PRECOND_VERSION, 0 },
	{ " \"42\" ", ES_OK, HTTP_PRECOND_VERSION, 42 },
	{ "7", ES_OK, HTTP_PRECOND_VERSION, 7 },
	{ "*", ES_OK, HTTP_PRECOND_ANY_EXISTS, 0 },
	{ "W/\"3\"", ES_EINVAL, HTTP_PRECOND_NONE, 0 },  /* If-Match compares strongly */
	{ "\"3\", \"4\"", ES_EINVAL, HTTP_PRECOND_NONE, 0 },
	{ "\"-1\"", ES_EINVAL, HTTP_PRECOND_NONE, 0 },
	{ "\"abc\"", ES_EINVAL, HTTP_PRECOND_NONE, 0 },
	{ "\"3", ES_EINVAL, HTTP_PRECOND_NONE, 0 },
	{ "", ES_EINVAL, HTTP_PRECOND_NONE, 0 },
	{ "\"99999999999999999999\"", ES_EINVAL, HTTP_PRECOND_NONE, 0 },
};

START_TEST(if_match_parsing)
{
	struct http_precond p;

	ck_assert_int_eq(http_parse_if_match(if_matches[_i].in, &p), if_matches[_i].st);
	if (if_matches[_i].st != ES_OK)
		return;
	ck_assert_int_eq(p.kind, if_matches[_i].kind);
	ck_assert_int_eq(p.version, if_matches[_i].version);
}
END_TEST

static const struct {
	const char *in;
	enum es_status st;
	enum http_precond_kind kind;
} if_none_matches_write[] = {
	{ NULL, ES_OK, HTTP_PRECOND_NONE },
	{ "*", ES_OK, HTTP_PRECOND_ANY_EXISTS },
	{ " * ", ES_OK, HTTP_PRECOND_ANY_EXISTS },
	{ "\"3\"", ES_EINVAL, HTTP_PRECOND_NONE },
	{ "", ES_EINVAL, HTTP_PRECOND_NONE },
	{ "**", ES_EINVAL, HTTP_PRECOND_NONE },
};

START_TEST(if_none_match_on_write)
{
	struct http_precond p;

	ck_assert_int_eq(http_parse_if_none_match_write(if_none_matches_write[_i].in, &p),
			 if_none_matches_write[_i].st);
	if (if_none_matches_write[_i].st == ES_OK)
		ck_assert_int_eq(p.kind, if_none_matches_write[_i].kind);
}
END_TEST

static const struct {
	const char *in;
	int64_t current;
	bool fresh;
} if_none_matches_read[] = {
	{ "\"5\"", 5, true },
	{ "\"4\"", 5, false },
	{ "W/\"5\"", 5, true },
	{ "\"1\", \"5\"", 5, true },
	{ "\"1\",\"2\"", 5, false },
	{ "*", 5, true },
	{ "5", 5, true },
	{ "\"abc\"", 5, false },
	{ "", 5, false },
	{ NULL, 5, false },
};

START_TEST(if_none_match_on_read)
{
	ck_assert_int_eq(http_if_none_match_fresh(if_none_matches_read[_i].in,
						  if_none_matches_read[_i].current),
			 if_none_matches_read[_i].fresh);
}
END_TEST

/* ---- query strings ----------------------------------------------------------------- */

static const struct {
	const char *qs;
	enum es_status st;
	size_t n;
	const char *name, *value;   /* the first pair */
} queries[] = {
	{ "", ES_OK, 0, NULL, NULL },
	{ "a=1&b=2", ES_OK, 2, "a", "1" },
	{ "a=x%20y", ES_OK, 1, "a", "x y" },
	{ "a=x+y", ES_OK, 1, "a", "x y" },
	{ "a=x%2By", ES_OK, 1, "a", "x+y" },
	{ "flag", ES_OK, 1, "flag", "" },
	{ "&&a=1&", ES_OK, 1, "a", "1" },
	{ "%61%5F=%C3%A9", ES_OK, 1, "a_", "\xc3\xa9" },
	{ "a=b=c", ES_OK, 1, "a", "b=c" },
	{ "=x&a=1", ES_OK, 1, "a", "1" },
	{ "a=%zz", ES_EINVAL, 0, NULL, NULL },
	{ "a=%2", ES_EINVAL, 0, NULL, NULL },
	{ "a=%", ES_EINVAL, 0, NULL, NULL },
	{ "%g1=1", ES_EINVAL, 0, NULL, NULL },
	{ "a=%00", ES_EINVAL, 0, NULL, NULL },
};

START_TEST(query_parsing)
{
	struct http_query q;
	char err[128];

	ck_assert_int_eq(http_query_parse(queries[_i].qs, &q, err, sizeof err), queries[_i].st);
	if (queries[_i].st == ES_OK) {
		ck_assert_uint_eq(q.n, queries[_i].n);
		if (queries[_i].n) {
			ck_assert_str_eq(q.items[0].name, queries[_i].name);
			ck_assert_str_eq(q.items[0].value, queries[_i].value);
		}
	}
	http_query_free(&q);
}
END_TEST

START_TEST(query_repeated_parameter)
{
	struct http_query q;
	const char *v;
	char err[128];

	ck_assert_int_eq(http_query_parse("limit=1&after=x&limit=2", &q, err, sizeof err), ES_OK);
	ck_assert_int_eq(http_query_get(&q, "limit", &v), ES_EINVAL);
	ck_assert_int_eq(http_query_get(&q, "after", &v), ES_OK);
	ck_assert_str_eq(v, "x");
	ck_assert_int_eq(http_query_get(&q, "wait", &v), ES_OK);
	ck_assert_ptr_null(v);
	http_query_free(&q);
}
END_TEST

static const struct {
	const char *in;
	int64_t min, max;
	bool ok;
	int64_t v;
} ints[] = {
	{ "1", 1, 100, true, 1 },
	{ "100", 1, 100, true, 100 },
	{ "101", 1, 100, false, 0 },
	{ "0", 1, 100, false, 0 },
	{ "-1", 0, 100, false, 0 },
	{ "-1", -5, 5, true, -1 },
	{ "1.5", 1, 100, false, 0 },
	{ "1e2", 1, 1000, false, 0 },
	{ " 1", 1, 100, false, 0 },
	{ "", 0, 100, false, 0 },
	{ "abc", 0, 100, false, 0 },
	{ "9223372036854775808", 0, INT64_MAX, false, 0 },
};

START_TEST(integer_parsing)
{
	int64_t v = 0;

	ck_assert_int_eq(http_parse_int64(ints[_i].in, ints[_i].min, ints[_i].max, &v), ints[_i].ok);
	if (ints[_i].ok)
		ck_assert_int_eq(v, ints[_i].v);
}
END_TEST

/* ---- responses and problems ------------------------------------------------------- */

/* Renders resp for a GET (or HEAD) and returns the bytes written (malloc'd). */
static char *render(struct http_resp *resp, const char *method)
{
	struct fake_io f = { .params = { "REQUEST_METHOD", method, "HTTP_X_REQUEST_ID", "req-1", NULL },
			     .out = SBUF_INIT };
	struct http_io io = fake_io_of(&f);
	struct http_req req;
	char *out;

	ck_assert_int_eq(http_req_init(&req, &io, NULL), ES_OK);
	ck_assert(http_resp_write(resp, &req));
	out = strdup(sbuf_cstr(&f.out));
	http_req_free(&req);
	sbuf_free(&f.out);
	return out;
}

static json_object *parse_json(const char *s)
{
	json_object *o = json_tokener_parse(s);

	ck_assert_msg(o != NULL, "not JSON: %s", s);
	return o;
}

static const struct {
	enum http_problem p;
	int status;
	const char *slug;
} problem_table[] = {
	{ HTTP_PROBLEM_INVALID_REQUEST, 400, "invalid-request" },
	{ HTTP_PROBLEM_UNAUTHORIZED, 401, "unauthorized" },
	{ HTTP_PROBLEM_FORBIDDEN, 403, "forbidden" },
	{ HTTP_PROBLEM_NOT_FOUND, 404, "not-found" },
	{ HTTP_PROBLEM_METHOD_NOT_ALLOWED, 405, "method-not-allowed" },
	{ HTTP_PROBLEM_VERSION_CONFLICT, 409, "version-conflict" },
	{ HTTP_PROBLEM_DUPLICATE_EVENT_ID, 409, "duplicate-event-id" },
	{ HTTP_PROBLEM_INVALID_STATE, 409, "invalid-state" },
	{ HTTP_PROBLEM_PAYLOAD_TOO_LARGE, 413, "payload-too-large" },
	{ HTTP_PROBLEM_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported-media-type" },
	{ HTTP_PROBLEM_VALIDATION_FAILED, 422, "validation-failed" },
	{ HTTP_PROBLEM_UNAVAILABLE, 503, "unavailable" },
	{ HTTP_PROBLEM_INTERNAL, 500, "internal" },
};

START_TEST(problem_documents)
{
	struct http_resp resp;
	char *out, *ct;
	json_object *doc, *v;
	char type[64];
	const char *detail = "SELECT secret FROM pg_authid failed"; /* must never leak on 5xx */

	http_resp_init(&resp, 7);
	http_reply_problem(&resp, problem_table[_i].p, detail, NULL);
	out = render(&resp, "GET");
	ck_assert_int_eq(out_status(out), problem_table[_i].status);
	ct = out_header(out, "Content-Type");
	ck_assert_str_eq(ct, "application/problem+json");
	doc = parse_json(out_body(out));
	snprintf(type, sizeof type, "urn:evstore:%s", problem_table[_i].slug);
	ck_assert(json_object_object_get_ex(doc, "type", &v));
	ck_assert_str_eq(json_object_get_string(v), type);
	ck_assert(json_object_object_get_ex(doc, "title", &v));
	ck_assert(json_object_object_get_ex(doc, "status", &v));
	ck_assert_int_eq(json_object_get_int(v), problem_table[_i].status);
	ck_assert(json_object_object_get_ex(doc, "detail", &v));
	if (problem_table[_i].status >= 500)
		ck_assert_ptr_null(strstr(out, "pg_authid"));
	else
		ck_assert_str_eq(json_object_get_string(v), detail);
	if (problem_table[_i].status == 503) {
		char *ra = out_header(out, "Retry-After");

		ck_assert_str_eq(ra, "7");
		free(ra);
	}
	json_object_put(doc);
	free(ct);
	free(out);
	http_resp_free(&resp);
}
END_TEST

START_TEST(problem_for_status)
{
	ck_assert_int_eq(http_problem_for(ES_EINVAL), HTTP_PROBLEM_INVALID_REQUEST);
	ck_assert_int_eq(http_problem_for(ES_ENOTFOUND), HTTP_PROBLEM_NOT_FOUND);
	ck_assert_int_eq(http_problem_for(ES_ECONFLICT), HTTP_PROBLEM_VERSION_CONFLICT);
	ck_assert_int_eq(http_problem_for(ES_EDUPLICATE), HTTP_PROBLEM_DUPLICATE_EVENT_ID);
	ck_assert_int_eq(http_problem_for(ES_ESTATE), HTTP_PROBLEM_INVALID_STATE);
	ck_assert_int_eq(http_problem_for(ES_ETOOLARGE), HTTP_PROBLEM_PAYLOAD_TOO_LARGE);
	ck_assert_int_eq(http_problem_for(ES_EVALIDATION), HTTP_PROBLEM_VALIDATION_FAILED);
	ck_assert_int_eq(http_problem_for(ES_EUNAVAILABLE), HTTP_PROBLEM_UNAVAILABLE);
	ck_assert_int_eq(http_problem_for(ES_ERETRY), HTTP_PROBLEM_UNAVAILABLE);
	ck_assert_int_eq(http_problem_for(ES_EDB), HTTP_PROBLEM_INTERNAL);
	ck_assert_int_eq(http_problem_for(ES_ENOMEM), HTTP_PROBLEM_INTERNAL);
	ck_assert_int_eq(http_problem_for(ES_EINTERNAL), HTTP_PROBLEM_INTERNAL);
}
END_TEST

START_TEST(problem_extra_members)
{
	struct http_resp resp;
	json_object *extra = json_object_new_object();
	json_object *doc, *v;
	char *out;

	json_object_object_add(extra, "expected_version", json_object_new_string("no_stream"));
	json_object_object_add(extra, "current_version", json_object_new_int(4));
	http_resp_init(&resp, 1);
	http_reply_problem(&resp, HTTP_PROBLEM_VERSION_CONFLICT, "conflict", extra);
	out = render(&resp, "GET");
	doc = parse_json(out_body(out));
	ck_assert(json_object_object_get_ex(doc, "expected_version", &v));
	ck_assert_str_eq(json_object_get_string(v), "no_stream");
	ck_assert(json_object_object_get_ex(doc, "current_version", &v));
	ck_assert_int_eq(json_object_get_int(v), 4);
	json_object_put(doc);
	free(out);
	http_resp_free(&resp);
}
END_TEST

/* http_reject: a formatted detail, a pointer member when given, and false. */
START_TEST(problem_rejects)
{
	struct http_resp resp;
	json_object *doc, *v;
	char *out;

	http_resp_init(&resp, 1);
	ck_assert(!http_reject(&resp, HTTP_PROBLEM_INVALID_REQUEST, "/events/2/payload",
			       "%s is required (%d)", "/events/2/payload", 7));
	out = render(&resp, "GET");
	ck_assert_int_eq(out_status(out), 400);
	doc = parse_json(out_body(out));
	ck_assert(json_object_object_get_ex(doc, "detail", &v));
	ck_assert_str_eq(json_object_get_string(v), "/events/2/payload is required (7)");
	ck_assert(json_object_object_get_ex(doc, "pointer", &v));
	ck_assert_str_eq(json_object_get_string(v), "/events/2/payload");
	json_object_put(doc);
	free(out);

	ck_assert(!http_reject(&resp, HTTP_PROBLEM_NOT_FOUND, NULL, "no stream %s/%s", "Order", "1"));
	out = render(&resp, "GET");
	ck_assert_int_eq(out_status(out), 404);
	doc = parse_json(out_body(out));
	ck_assert(json_object_object_get_ex(doc, "detail", &v));
	ck_assert_str_eq(json_object_get_string(v), "no stream Order/1");
	ck_assert(!json_object_object_get_ex(doc, "pointer", NULL));
	json_object_put(doc);
	free(out);
	http_resp_free(&resp);
}
END_TEST

START_TEST(unauthorized_headers)
{
	struct http_resp resp;
	char *out, *wa;

	http_resp_init(&resp, 1);
	http_reply_unauthorized(&resp, NULL);
	out = render(&resp, "GET");
	ck_assert_int_eq(out_status(out), 401);
	wa = out_header(out, "WWW-Authenticate");
	ck_assert_str_eq(wa, "Bearer realm=\"evstore\"");
	free(wa);
	free(out);

	http_reply_unauthorized(&resp, "token \"expired\"\r\nX-Evil: 1");
	out = render(&resp, "GET");
	wa = out_header(out, "WWW-Authenticate");
	ck_assert_str_eq(wa, "Bearer realm=\"evstore\", error=\"invalid_token\", "
			     "error_description=\"token  expired   X-Evil: 1\"");
	ck_assert_ptr_null(out_header(out, "X-Evil"));
	free(wa);
	free(out);
	http_resp_free(&resp);
}
END_TEST

START_TEST(response_framing)
{
	struct http_resp resp;
	char *out, *v;

	http_resp_init(&resp, 1);
	http_resp_json(&resp, 201);
	http_resp_header(&resp, "ETag", "\"%d\"", 3);
	http_resp_header(&resp, "Location", "/v1/x\r\nSet-Cookie: a=b");
	sbuf_puts(&resp.body, "{\"ok\":true}");

	out = render(&resp, "GET");
	ck_assert(strncmp(out, "Status: 201 Created\r\n", 21) == 0);
	v = out_header(out, "Content-Type");
	ck_assert_str_eq(v, "application/json");
	free(v);
	v = out_header(out, "X-Request-Id");
	ck_assert_str_eq(v, "req-1");
	free(v);
	v = out_header(out, "Content-Length");
	ck_assert_str_eq(v, "11");
	free(v);
	v = out_header(out, "ETag");
	ck_assert_str_eq(v, "\"3\"");
	free(v);
	ck_assert_ptr_null(out_header(out, "Set-Cookie"));
	ck_assert_str_eq(out_body(out), "{\"ok\":true}");
	free(out);

	/* HEAD: the same headers, no body */
	out = render(&resp, "HEAD");
	v = out_header(out, "Content-Length");
	ck_assert_str_eq(v, "11");
	free(v);
	ck_assert_str_eq(out_body(out), "");
	free(out);

	/* 304: no body, no Content-Length */
	http_resp_reset(&resp);
	resp.status = 304;
	http_resp_header(&resp, "ETag", "\"3\"");
	out = render(&resp, "GET");
	ck_assert_int_eq(out_status(out), 304);
	ck_assert_ptr_null(out_header(out, "Content-Length"));
	ck_assert_str_eq(out_body(out), "");
	free(out);

	/* nothing set: a handler bug answers 500, never an empty response */
	http_resp_reset(&resp);
	out = render(&resp, "GET");
	ck_assert_int_eq(out_status(out), 500);
	free(out);
	http_resp_free(&resp);
}
END_TEST

/* ---- the append body ------------------------------------------------------------- */

#define EV "{\"event_type\":\"OrderCreated\",\"payload\":{\"a\":1}}"
#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void append_cfg(struct es_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->http.max_depth = 8;
	cfg->http.max_events = 3;
	cfg->http.max_body_bytes = 1 << 20;
	cfg->http.retry_after = 1;
}

static void append_req(struct http_req *req, const char *ct, const char *body, const char *if_match,
		       const char *if_none_match)
{
	memset(req, 0, sizeof *req);
	req->content_type = (char *)ct;
	req->body = (char *)body;
	req->body_len = strlen(body);
	req->if_match = (char *)if_match;
	req->if_none_match = (char *)if_none_match;
	memcpy(req->request_id, "req-42", 7);
}

static const struct {
	const char *why;
	const char *ct, *if_match, *if_none_match, *body;
	int status;
	const char *detail;    /* a substring of the problem's detail */
} append_rejects[] = {
	{ "no content type", NULL, NULL, NULL, "{\"events\":[" EV "]}", 415, "application/json" },
	{ "text/plain", "text/plain", NULL, NULL, "{\"events\":[" EV "]}", 415, "application/json" },
	{ "latin1", "application/json; charset=latin1", NULL, NULL, "{\"events\":[" EV "]}", 415, NULL },
	{ "not JSON", "application/json", NULL, NULL, "{\"events\":", 400, NULL },
	{ "empty body", "application/json", NULL, NULL, "", 400, NULL },
	{ "trailing data", "application/json", NULL, NULL, "{\"events\":[" EV "]} x", 400, NULL },
	{ "array body", "application/json", NULL, NULL, "[" EV "]", 400, "object" },
	{ "null body", "application/json", NULL, NULL, "null", 400, "object" },
	{ "duplicate key", "application/json", NULL, NULL, "{\"events\":[],\"events\":[" EV "]}", 400,
	  NULL },
	{ "unknown field", "application/json", NULL, NULL, "{\"events\":[" EV "],\"foo\":1}", 400,
	  "unknown field \"foo\"" },
	{ "typo", "application/json", NULL, NULL, "{\"expected_verison\":3,\"events\":[" EV "]}", 400,
	  "expected_verison" },
	{ "no events", "application/json", NULL, NULL, "{\"expected_version\":0}", 400, "events" },
	{ "events null", "application/json", NULL, NULL, "{\"events\":null}", 400, "events" },
	{ "zero events", "application/json", NULL, NULL, "{\"events\":[]}", 400, "at least one" },
	{ "events object", "application/json", NULL, NULL, "{\"events\":" EV "}", 400, "array" },
	{ "too many events", "application/json", NULL, NULL,
	  "{\"events\":[" EV "," EV "," EV "," EV "]}", 413, "at most 3" },
	{ "event not object", "application/json", NULL, NULL, "{\"events\":[1]}", 400, "/events/0" },
	{ "unknown event field", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{},\"data\":{}}]}", 400, "\"data\" in /events/0" },
	{ "payload missing", "application/json", NULL, NULL, "{\"events\":[{\"event_type\":\"A\"}]}", 400,
	  "/events/0/payload" },
	{ "payload array", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":[1]}]}", 400, "/events/0/payload" },
	{ "payload string", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":\"x\"}]}", 400, "/events/0/payload" },
	{ "payload null", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":null}]}", 400, "/events/0/payload" },
	{ "metadata array", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{},\"metadata\":[]}]}", 400, "/events/0/metadata" },
	{ "event_type missing", "application/json", NULL, NULL, "{\"events\":[{\"payload\":{}}]}", 400,
	  "/events/0/event_type" },
	{ "event_type digit", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"1A\",\"payload\":{}}]}", 400, "event_type" },
	{ "event_type space", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"Order Created\",\"payload\":{}}]}", 400, "event_type" },
	{ "event_type number", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":7,\"payload\":{}}]}", 400, "event_type" },
	{ "event_type 129", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A1234567890123456789012345678901234567890123456789012345678901"
	  "2345678901234567890123456789012345678901234567890123456789012345678\",\"payload\":{}}]}",
	  400, "event_type" },
	{ "bad uuid", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_id\":\"123\",\"event_type\":\"A\",\"payload\":{}}]}", 400,
	  "/events/0/event_id" },
	{ "uuid not string", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_id\":5,\"event_type\":\"A\",\"payload\":{}}]}", 400, "event_id" },
	{ "same id twice", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_id\":\"123e4567-e89b-12d3-a456-426614174000\",\"event_type\":\"A\","
	  "\"payload\":{}},{\"event_id\":\"123E4567-E89B-12D3-A456-426614174000\",\"event_type\":\"A\","
	  "\"payload\":{}}]}", 400, "more than once" },
	{ "bad occurred_at", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{},\"occurred_at\":\"yesterday\"}]}", 400,
	  "/events/0/occurred_at" },
	{ "month 13", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{},\"occurred_at\":\"2026-13-01T00:00:00Z\"}]}",
	  400, "occurred_at" },
	{ "occurred_at number", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{},\"occurred_at\":1700000000}]}", 400,
	  "occurred_at" },
	{ "NUL in payload", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{\"x\":\"a\\u0000b\"}}]}", 400,
	  "/events/0/payload/x" },
	{ "NUL in metadata", "application/json", NULL, NULL,
	  "{\"events\":[" EV ",{\"event_type\":\"A\",\"payload\":{},\"metadata\":{\"k\":[\"\\u0000\"]}}]}",
	  400, "/events/1/metadata/k/0" },
	{ "NUL in a key", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{\"k\\u0000\":1}}]}", 400, "u0000" },
	{ "too deep", "application/json", NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{}}}}}}}]}",
	  400, NULL },
	{ "float version", "application/json", NULL, NULL, "{\"expected_version\":1.0,\"events\":[" EV "]}",
	  400, "expected_version" },
	{ "negative version", "application/json", NULL, NULL,
	  "{\"expected_version\":-1,\"events\":[" EV "]}", 400, "expected_version" },
	{ "unknown keyword", "application/json", NULL, NULL,
	  "{\"expected_version\":\"latest\",\"events\":[" EV "]}", 400, "expected_version" },
	{ "boolean version", "application/json", NULL, NULL,
	  "{\"expected_version\":true,\"events\":[" EV "]}", 400, "expected_version" },
	{ "version as text", "application/json", NULL, NULL,
	  "{\"expected_version\":\"3\",\"events\":[" EV "]}", 400, "expected_version" },
	{ "If-Match vs body", "application/json", "\"3\"", NULL,
	  "{\"expected_version\":2,\"events\":[" EV "]}", 400, "disagrees" },
	{ "If-Match vs any", "application/json", "\"3\"", NULL,
	  "{\"expected_version\":\"any\",\"events\":[" EV "]}", 400, "disagrees" },
	{ "If-None-Match vs exists", "application/json", NULL, "*",
	  "{\"expected_version\":\"exists\",\"events\":[" EV "]}", 400, "disagrees" },
	{ "If-Match * vs no_stream", "application/json", "*", NULL,
	  "{\"expected_version\":\"no_stream\",\"events\":[" EV "]}", 400, "disagrees" },
	{ "both headers", "application/json", "\"2\"", "*", "{\"events\":[" EV "]}", 400, "contradict" },
	{ "bad If-Match", "application/json", "W/\"3\"", NULL, "{\"events\":[" EV "]}", 400, "If-Match" },
	{ "If-None-Match tag", "application/json", NULL, "\"3\"", "{\"events\":[" EV "]}", 400,
	  "If-None-Match" },
};

START_TEST(append_body_rejected)
{
	struct es_config cfg;
	struct http_req req;
	struct http_resp resp;
	struct append_request a;
	json_object *doc, *detail;

	append_cfg(&cfg);
	append_req(&req, append_rejects[_i].ct, append_rejects[_i].body, append_rejects[_i].if_match,
		   append_rejects[_i].if_none_match);
	http_resp_init(&resp, 1);
	ck_assert_msg(!append_request_parse(&cfg, &req, &resp, &a), "accepted: %s", append_rejects[_i].why);
	ck_assert_int_eq(resp.status, append_rejects[_i].status);
	doc = parse_json(sbuf_cstr(&resp.body));
	ck_assert(json_object_object_get_ex(doc, "detail", &detail));
	if (append_rejects[_i].detail)
		ck_assert_msg(strstr(json_object_get_string(detail), append_rejects[_i].detail),
			      "%s: detail '%s' lacks '%s'", append_rejects[_i].why,
			      json_object_get_string(detail), append_rejects[_i].detail);
	json_object_put(doc);
	append_request_free(&a);
	http_resp_free(&resp);
}
END_TEST

static const struct {
	const char *why;
	const char *ct, *if_match, *if_none_match, *traceparent, *body;
	enum store_expect expect;
	int64_t version;
	const char *as_sent;       /* the expectation as a 409 would echo it */
	size_t n;
} append_accepts[] = {
	{ "minimal", "application/json", NULL, NULL, NULL, "{\"events\":[" EV "]}", STORE_EXPECT_ANY, 0,
	  NULL, 1 },
	{ "charset", "application/json; charset=utf-8", NULL, NULL, NULL, "{\"events\":[" EV "]}",
	  STORE_EXPECT_ANY, 0, NULL, 1 },
	{ "exact", "application/json", NULL, NULL, NULL, "{\"expected_version\":5,\"events\":[" EV "]}",
	  STORE_EXPECT_EXACT, 5, "5", 1 },
	{ "zero", "application/json", NULL, NULL, NULL, "{\"expected_version\":0,\"events\":[" EV "]}",
	  STORE_EXPECT_EXACT, 0, "0", 1 },
	{ "no_stream", "application/json", NULL, NULL, NULL,
	  "{\"expected_version\":\"no_stream\",\"events\":[" EV "," EV "]}", STORE_EXPECT_EXACT, 0,
	  "\"no_stream\"", 2 },
	{ "exists", "application/json", NULL, NULL, NULL,
	  "{\"expected_version\":\"exists\",\"events\":[" EV "]}", STORE_EXPECT_EXISTS, 0, "\"exists\"", 1 },
	{ "any", "application/json", NULL, NULL, NULL, "{\"expected_version\":\"any\",\"events\":[" EV "]}",
	  STORE_EXPECT_ANY, 0, "\"any\"", 1 },
	{ "null version", "application/json", NULL, NULL, NULL,
	  "{\"expected_version\":null,\"events\":[" EV "]}", STORE_EXPECT_ANY, 0, NULL, 1 },
	{ "If-Match", "application/json", "\"4\"", NULL, NULL, "{\"events\":[" EV "]}", STORE_EXPECT_EXACT,
	  4, "4", 1 },
	{ "If-Match bare", "application/json", "4", NULL, NULL, "{\"expected_version\":4,\"events\":[" EV "]}",
	  STORE_EXPECT_EXACT, 4, "4", 1 },
	{ "If-Match *", "application/json", "*", NULL, NULL, "{\"events\":[" EV "]}", STORE_EXPECT_EXISTS,
	  0, "\"exists\"", 1 },
	{ "If-None-Match *", "application/json", NULL, "*", NULL, "{\"events\":[" EV "]}",
	  STORE_EXPECT_EXACT, 0, "0", 1 },
	{ "If-None-Match and no_stream", "application/json", NULL, "*", NULL,
	  "{\"expected_version\":\"no_stream\",\"events\":[" EV "]}", STORE_EXPECT_EXACT, 0,
	  "\"no_stream\"", 1 },
	{ "traceparent", "application/json", NULL, NULL, TP, "{\"events\":[" EV "]}", STORE_EXPECT_ANY, 0,
	  NULL, 1 },
	{ "three events", "application/json", NULL, NULL, NULL, "{\"events\":[" EV "," EV "," EV "]}",
	  STORE_EXPECT_ANY, 0, NULL, 3 },
	{ "depth at the limit", "application/json", NULL, NULL, NULL,
	  "{\"events\":[{\"event_type\":\"A\",\"payload\":{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}}]}",
	  STORE_EXPECT_ANY, 0, NULL, 1 },
};

START_TEST(append_body_accepted)
{
	struct es_config cfg;
	struct http_req req;
	struct http_resp resp;
	struct append_request a;
	json_object *v;
	char uuid[UUIDTEXT_LEN];

	append_cfg(&cfg);
	append_req(&req, append_accepts[_i].ct, append_accepts[_i].body, append_accepts[_i].if_match,
		   append_accepts[_i].if_none_match);
	req.traceparent = (char *)append_accepts[_i].traceparent;
	http_resp_init(&resp, 1);
	ck_assert_msg(append_request_parse(&cfg, &req, &resp, &a), "%s refused: %s", append_accepts[_i].why,
		      sbuf_cstr(&resp.body));
	ck_assert_int_eq(a.expect, append_accepts[_i].expect);
	ck_assert_int_eq(a.expected_version, append_accepts[_i].version);
	if (append_accepts[_i].as_sent)
		ck_assert_str_eq(json_object_to_json_string(a.expected_as_sent), append_accepts[_i].as_sent);
	ck_assert_uint_eq(a.n_events, append_accepts[_i].n);
	for (size_t i = 0; i < a.n_events; i++) {
		/* a generated id is a lowercase UUID, distinct per event */
		ck_assert(uuidtext_parse(a.events[i].event_id, uuid));
		ck_assert_str_eq(uuid, a.events[i].event_id);
		if (i)
			ck_assert_str_ne(a.events[i].event_id, a.events[i - 1].event_id);
		ck_assert(router_name_valid(a.events[i].event_type, ROUTER_EVENT_TYPE_MAX));
		ck_assert(json_object_is_type(a.events[i].payload, json_type_object));
		ck_assert(json_object_object_get_ex(a.events[i].metadata, "request_id", &v));
		ck_assert_str_eq(json_object_get_string(v), "req-42");
		ck_assert_int_eq(json_object_object_get_ex(a.events[i].metadata, "traceparent", &v),
				 append_accepts[_i].traceparent != NULL);
		ck_assert_int_gt(a.events[i].occurred_at_usec, 0);
	}
	append_request_free(&a);
	http_resp_free(&resp);
}
END_TEST

START_TEST(append_keeps_client_values)
{
	static const char body[] =
		"{\"events\":[{\"event_id\":\"123E4567-E89B-12D3-A456-426614174000\","
		"\"event_type\":\"Shipped\",\"payload\":{\"n\":1},"
		"\"metadata\":{\"c\":2},"
		"\"occurred_at\":\"2026-11-27T10:00:00Z\"}]}";
	struct es_config cfg;
	struct http_req req;
	struct http_resp resp;
	struct append_request a;
	json_object *v;

	append_cfg(&cfg);
	append_req(&req, "application/json", body, NULL, NULL);
	req.traceparent = (char *)TP;
	http_resp_init(&resp, 1);
	ck_assert(append_request_parse(&cfg, &req, &resp, &a));
	ck_assert_str_eq(a.events[0].event_id, "123e4567-e89b-12d3-a456-426614174000");
	ck_assert_str_eq(a.events[0].event_type, "Shipped");
	ck_assert(json_object_object_get_ex(a.events[0].metadata, "c", &v));
	ck_assert_int_eq(json_object_get_int(v), 2);
	/* request_id and traceparent are the server's, from the headers */
	ck_assert(json_object_object_get_ex(a.events[0].metadata, "request_id", &v));
	ck_assert_str_eq(json_object_get_string(v), "req-42");
	ck_assert(json_object_object_get_ex(a.events[0].metadata, "traceparent", &v));
	ck_assert_str_eq(json_object_get_string(v), TP);
	/* 2026-11-27T10:00:00Z */
	ck_assert_int_eq(a.events[0].occurred_at_usec, INT64_C(1795773600) * 1000000);
	append_request_free(&a);
	http_resp_free(&resp);
}
END_TEST

/* A client cannot put its own request_id or traceparent in metadata. */
static const char *const server_metadata_keys[] = { "request_id", "traceparent" };

START_TEST(append_refuses_server_metadata)
{
	char body[256], pointer[64];
	struct es_config cfg;
	struct http_req req;
	struct http_resp resp;
	struct append_request a;

	snprintf(body, sizeof body, "{\"events\":[{\"event_type\":\"Shipped\",\"payload\":{},"
		 "\"metadata\":{\"%s\":\"theirs\"}}]}", server_metadata_keys[_i]);
	snprintf(pointer, sizeof pointer, "/events/0/metadata/%s", server_metadata_keys[_i]);
	append_cfg(&cfg);
	append_req(&req, "application/json", body, NULL, NULL);
	http_resp_init(&resp, 1);
	ck_assert(!append_request_parse(&cfg, &req, &resp, &a));
	ck_assert_int_eq(resp.status, 400);
	ck_assert_ptr_nonnull(strstr(sbuf_cstr(&resp.body), pointer));
	append_request_free(&a);
	http_resp_free(&resp);
}
END_TEST

/* Found by fuzz_append (tests/fuzz/corpus/append/crash-truncated-key): the
 * unknown field's name, quoted with "%.100s", was cut inside a two-byte
 * character, and the problem document was no longer valid UTF-8. */
START_TEST(append_problem_quoting_a_cut_key_is_json)
{
	char body[512], key[128] = "k", err[128];
	struct es_config cfg;
	struct http_req req;
	struct http_resp resp;
	struct append_request a;
	json_object *doc = NULL;

	for (int i = 0; i < 51; i++)
		strcat(key, "\xc3\xa9");
	/* 1 + 51 * 2 bytes: "%.100s" keeps 'k' and 49 characters and a half */
	snprintf(body, sizeof body, "{\"events\":[{\"event_type\":\"A\",\"payload\":{},\"%s\":0}]}", key);
	append_cfg(&cfg);
	append_req(&req, "application/json", body, NULL, NULL);
	http_resp_init(&resp, 1);
	ck_assert(!append_request_parse(&cfg, &req, &resp, &a));
	ck_assert_int_eq(resp.status, 400);
	ck_assert_msg(jsondoc_parse_strict(sbuf_cstr(&resp.body), resp.body.len, 8, &doc, err, sizeof err) == ES_OK,
		      "%s: %s", err, sbuf_cstr(&resp.body));
	json_object_put(doc);
	append_request_free(&a);
	http_resp_free(&resp);
}
END_TEST

/* A detail or pointer quoting raw client bytes stays valid UTF-8. */
START_TEST(problem_quoting_raw_bytes_is_json)
{
	struct http_resp resp;
	json_object *doc = NULL, *v;
	char err[128];

	http_resp_init(&resp, 1);
	http_reject(&resp, HTTP_PROBLEM_INVALID_REQUEST, "/\xff\xfe", "bad \"%s\"", "\xff\xfe\xc3");
	ck_assert_msg(jsondoc_parse_strict(sbuf_cstr(&resp.body), resp.body.len, 8, &doc, err, sizeof err) == ES_OK,
		      "%s", err);
	ck_assert(json_object_object_get_ex(doc, "detail", &v));
	ck_assert_str_eq(json_object_get_string(v), "bad \"???\"");
	ck_assert(json_object_object_get_ex(doc, "pointer", &v));
	ck_assert_str_eq(json_object_get_string(v), "/??");
	json_object_put(doc);
	http_resp_free(&resp);
}
END_TEST

/* ---- the pipeline, in memory, with the database away ------------------------------ */

static char tmpdir[256];
static char conf_path[300], key_path[300];
static struct app app;
enum { TOK_NONE, TOK_READ, TOK_WRITE, TOK_ADMIN, TOK_TENANT, TOK_GARBAGE, TOK_LOWER, N_TOK };
static char *tokens[N_TOK];

#define TENANT_A "6f1c2a4e-3b5d-4c6e-8f70-112233445566"
#define TENANT_B "0a0b0c0d-1111-2222-3333-444455556666"

/* Keeps an EVSTORE_* or DATABASE_URL from the environment out of the test. */
static void clear_environment(void)
{
	for (;;) {
		char name[128] = "";

		for (char **e = environ; *e; e++) {
			if (strncmp(*e, "EVSTORE_", 8) == 0 || strncmp(*e, "DATABASE_URL=", 13) == 0) {
				size_t n = strcspn(*e, "=");

				snprintf(name, sizeof name, "%.*s", (int)n, *e);
				break;
			}
		}
		if (!name[0])
			return;
		unsetenv(name);
	}
}

static char *mint(const char *scope, const char *tenant)
{
	char err[256];
	char *tok = auth_token_mint(&app.cfg, "alice", scope, tenant, 300, time(NULL), err,
				    sizeof err);
	char *header;

	ck_assert_msg(tok != NULL, "auth_token_mint: %s", err);
	ck_assert(asprintf(&header, "Bearer %s", tok) > 0);
	free(tok);
	return header;
}

static void pipeline_setup(void)
{
	char conf[1024], err[512];

	clear_environment();
	test_dir_create(tmpdir, sizeof tmpdir, "check_http");
	snprintf(key_path, sizeof key_path, "%s/hmac.key", tmpdir);
	snprintf(conf_path, sizeof conf_path, "%s/evstore.conf", tmpdir);
	test_file_write(tmpdir, "hmac.key", "a test secret that is comfortably longer than 32 bytes\n");
	ck_assert_int_eq(chmod(key_path, 0600), 0); /* a secret others may read is refused */
	/* The database socket directory does not exist: every connection fails. */
	snprintf(conf, sizeof conf,
		 "[database]\nurl = host=%s/no-database dbname=evstore\nconnect_timeout = 1\n"
		 "[http]\nmax_body_bytes = 4096\nmax_events = 3\nretry_after = 2\n"
		 "[jwt]\nkey_file = %s\n"
		 "[log]\ntarget = stderr\nlevel = error\n"
		 "[aggregates]\ndir =\n",
		 tmpdir, key_path);
	test_file_write(tmpdir, "evstore.conf", conf);
	ck_assert_msg(app_init(&app, conf_path, err, sizeof err), "app_init: %s", err);
	ck_assert(log_open("check_http", &app.cfg.log, err, sizeof err));
	ck_assert(app_open_db(&app));

	tokens[TOK_NONE] = NULL;
	tokens[TOK_READ] = mint("events:read", NULL);
	tokens[TOK_WRITE] = mint("events:read events:write", NULL);
	tokens[TOK_ADMIN] = mint("admin", NULL);
	tokens[TOK_TENANT] = mint("events:read events:write", TENANT_A);
	tokens[TOK_GARBAGE] = strdup("Bearer not.a.token");
	tokens[TOK_LOWER] = strdup(tokens[TOK_READ]);
	memcpy(tokens[TOK_LOWER], "bearer", 6);
}

static void pipeline_teardown(void)
{
	for (int i = 0; i < N_TOK; i++) {
		free(tokens[i]);
		tokens[i] = NULL;
	}
	app_fini(&app);
	log_close();
	test_dir_remove(tmpdir);
}

#define STREAM_URI "/v1/aggregates/Order/123e4567-e89b-12d3-a456-426614174000/events"
#define APPEND_BODY "{\"events\":[" EV "]}"

static const struct {
	const char *why;
	const char *method, *uri;
	int token;
	const char *content_type, *body, *content_length;
	const char *hname, *hvalue;        /* one more request parameter */
	int status;
	const char *header, *header_has;   /* a response header and a substring of it */
	const char *body_has;              /* a substring of the response body */
} pipeline[] = {
	{ "liveness", "GET", "/health/live", TOK_NONE, NULL, NULL, NULL, NULL, NULL, 200,
	  "Content-Type", "application/json", "{\"alive\":true,\"reason\":\"ok\"}" },
	{ "caller's request id", "GET", "/health/live", TOK_NONE, NULL, NULL, NULL, "HTTP_X_REQUEST_ID",
	  "abc-123.XYZ:9", 200, "X-Request-Id", "abc-123.XYZ:9", NULL },
	{ "liveness with a query", "GET", "/health/live?x=1", TOK_NONE, NULL, NULL, NULL, NULL, NULL, 200,
	  NULL, NULL, "alive" },
	{ "readiness, database away", "GET", "/health/ready", TOK_NONE, NULL, NULL, NULL, NULL, NULL, 503,
	  "Retry-After", "2", "{\"ready\":false,\"reason\":\"database unreachable\"}" },
	{ "health, database away", "GET", "/health", TOK_NONE, NULL, NULL, NULL, NULL, NULL, 503, NULL,
	  NULL, "\"status\":\"unhealthy\",\"details\":{\"database\":\"unreachable\"" },
	{ "unknown path", "GET", "/nope", TOK_READ, NULL, NULL, NULL, NULL, NULL, 404, "Content-Type",
	  "application/problem+json", "urn:evstore:not-found" },
	{ "trailing slash", "GET", "/v1/events/", TOK_READ, NULL, NULL, NULL, NULL, NULL, 404, NULL, NULL,
	  "not-found" },
	{ "wrong method", "DELETE", "/v1/events", TOK_READ, NULL, NULL, NULL, NULL, NULL, 405, "Allow",
	  "GET, HEAD", "method-not-allowed" },
	{ "bad aggregate id", "GET", "/v1/aggregates/Order/42/events", TOK_READ, NULL, NULL, NULL, NULL,
	  NULL, 400, NULL, NULL, "aggregate_id" },
	{ "no token", "GET", "/v1/events", TOK_NONE, NULL, NULL, NULL, NULL, NULL, 401,
	  "WWW-Authenticate", "Bearer realm=\"evstore\"", "urn:evstore:unauthorized" },
	{ "garbage token", "GET", "/v1/events", TOK_GARBAGE, NULL, NULL, NULL, NULL, NULL, 401,
	  "WWW-Authenticate", "error=\"invalid_token\", error_description=", NULL },
	{ "feed, database away", "GET", "/v1/events", TOK_READ, NULL, NULL, NULL, NULL, NULL, 503,
	  "Retry-After", "2", "urn:evstore:unavailable" },
	{ "scheme in lower case", "GET", "/v1/events", TOK_LOWER, NULL, NULL, NULL, NULL, NULL, 503, NULL,
	  NULL, "unavailable" },
	{ "stream read, database away", "GET", STREAM_URI, TOK_READ, NULL, NULL, NULL, NULL, NULL, 503,
	  "Retry-After", "2", NULL },
	{ "append without write scope", "POST", STREAM_URI, TOK_READ, "application/json", APPEND_BODY,
	  NULL, NULL, NULL, 403, NULL, NULL, "events:write" },
	{ "append as text/plain", "POST", STREAM_URI, TOK_WRITE, "text/plain", APPEND_BODY, NULL, NULL,
	  NULL, 415, NULL, NULL, "unsupported-media-type" },
	{ "append too large", "POST", STREAM_URI, TOK_WRITE, "application/json", APPEND_BODY, "5000",
	  NULL, NULL, 413, NULL, NULL, "payload-too-large" },
	{ "append bad length", "POST", STREAM_URI, TOK_WRITE, "application/json", APPEND_BODY, "12abc",
	  NULL, NULL, 400, NULL, NULL, "Content-Length" },
	{ "append short body", "POST", STREAM_URI, TOK_WRITE, "application/json", APPEND_BODY, "100",
	  NULL, NULL, 400, NULL, NULL, "shorter" },
	{ "append unknown field", "POST", STREAM_URI, TOK_WRITE, "application/json",
	  "{\"events\":[" EV "],\"expected_verison\":1}", NULL, NULL, NULL, 400, NULL, NULL,
	  "expected_verison" },
	{ "append, database away", "POST", STREAM_URI, TOK_WRITE, "application/json", APPEND_BODY, NULL,
	  NULL, NULL, 503, "Retry-After", "2", "unavailable" },
	{ "tenant header not a uuid", "GET", "/v1/events", TOK_ADMIN, NULL, NULL, NULL,
	  "HTTP_X_EVSTORE_TENANT", "acme", 400, NULL, NULL, "X-Evstore-Tenant" },
	{ "tenant header from a tenant-less user", "GET", "/v1/events", TOK_READ, NULL, NULL, NULL,
	  "HTTP_X_EVSTORE_TENANT", TENANT_A, 403, NULL, NULL, "forbidden" },
	{ "another tenant's header", "GET", "/v1/events", TOK_TENANT, NULL, NULL, NULL,
	  "HTTP_X_EVSTORE_TENANT", TENANT_B, 403, NULL, NULL, "forbidden" },
	{ "own tenant's header", "GET", "/v1/events", TOK_TENANT, NULL, NULL, NULL,
	  "HTTP_X_EVSTORE_TENANT", TENANT_A, 503, NULL, NULL, NULL },
	{ "admin acting in a tenant", "GET", "/v1/events", TOK_ADMIN, NULL, NULL, NULL,
	  "HTTP_X_EVSTORE_TENANT", TENANT_B, 503, NULL, NULL, NULL },
	{ "feed limit not a number", "GET", "/v1/events?limit=abc", TOK_READ, NULL, NULL, NULL, NULL, NULL,
	  400, NULL, NULL, "limit" },
	{ "feed limit zero", "GET", "/v1/events?limit=0", TOK_READ, NULL, NULL, NULL, NULL, NULL, 400,
	  NULL, NULL, "limit" },
	{ "feed bad escape", "GET", "/v1/events?limit=%zz", TOK_READ, NULL, NULL, NULL, NULL, NULL, 400,
	  NULL, NULL, "limit" },
	{ "feed garbage cursor", "GET", "/v1/events?after=garbage", TOK_READ, NULL, NULL, NULL, NULL, NULL,
	  400, NULL, NULL, "cursor" },
	{ "feed bad type filter", "GET", "/v1/events?aggregate_type=Order,1bad", TOK_READ, NULL, NULL,
	  NULL, NULL, NULL, 400, NULL, NULL, "aggregate_type" },
	{ "feed empty filter item", "GET", "/v1/events?event_type=A,,B", TOK_READ, NULL, NULL, NULL, NULL,
	  NULL, 400, NULL, NULL, "event_type" },
	{ "feed negative wait", "GET", "/v1/events?wait=-1", TOK_READ, NULL, NULL, NULL, NULL, NULL, 400,
	  NULL, NULL, "wait" },
	{ "feed repeated limit", "GET", "/v1/events?limit=1&limit=2", TOK_READ, NULL, NULL, NULL, NULL,
	  NULL, 400, NULL, NULL, "more than once" },
	{ "feed good filters, database away", "GET",
	  "/v1/events?aggregate_type=Order,Invoice&event_type=OrderCreated&limit=5000&wait=1", TOK_READ,
	  NULL, NULL, NULL, NULL, NULL, 503, NULL, NULL, NULL },
	{ "stream from_version zero", "GET", STREAM_URI "?from_version=0", TOK_READ, NULL, NULL, NULL, NULL,
	  NULL, 400, NULL, NULL, "from_version" },
	{ "stream direction", "GET", STREAM_URI "?direction=sideways", TOK_READ, NULL, NULL, NULL, NULL,
	  NULL, 400, NULL, NULL, "direction" },
	{ "stream limit float", "GET", STREAM_URI "?limit=1.5", TOK_READ, NULL, NULL, NULL, NULL, NULL,
	  400, NULL, NULL, "limit" },
};

/* Runs one request through app_handle and returns what it wrote (malloc'd). */
static char *run_request(const char *method, const char *uri, const char *auth, const char *ct,
			 const char *body, const char *content_length, const char *hname,
			 const char *hvalue)
{
	struct fake_io f = { .params = { NULL }, .out = SBUF_INIT };
	struct http_io io = fake_io_of(&f);
	char len[32];
	char *out;

	fake_set(&f, "REQUEST_METHOD", method);
	fake_set(&f, "REQUEST_URI", uri);
	if (strchr(uri, '?'))
		fake_set(&f, "QUERY_STRING", strchr(uri, '?') + 1);
	if (auth)
		fake_set(&f, "HTTP_AUTHORIZATION", auth);
	if (ct)
		fake_set(&f, "CONTENT_TYPE", ct);
	if (body) {
		f.body = body;
		f.body_len = strlen(body);
		snprintf(len, sizeof len, "%zu", f.body_len);
		fake_set(&f, "CONTENT_LENGTH", content_length ? content_length : len);
	} else {
		fake_set(&f, "CONTENT_LENGTH", "");
	}
	if (hname)
		fake_set(&f, hname, hvalue);
	app_handle(&app, &io);
	out = strdup(sbuf_cstr(&f.out));
	sbuf_free(&f.out);
	return out;
}

START_TEST(pipeline_answers)
{
	char *out = run_request(pipeline[_i].method, pipeline[_i].uri, tokens[pipeline[_i].token],
				pipeline[_i].content_type, pipeline[_i].body,
				pipeline[_i].content_length, pipeline[_i].hname, pipeline[_i].hvalue);
	char *id = out_header(out, "X-Request-Id");
	char *ct = out_header(out, "Content-Type");

	ck_assert_msg(out_status(out) == pipeline[_i].status, "%s: got %s", pipeline[_i].why, out);
	ck_assert_msg(id && *id, "%s: no X-Request-Id", pipeline[_i].why);
	ck_assert_msg(ct && *ct, "%s: no Content-Type", pipeline[_i].why);
	if (pipeline[_i].header) {
		char *v = out_header(out, pipeline[_i].header);

		ck_assert_msg(v && strstr(v, pipeline[_i].header_has), "%s: %s is '%s'", pipeline[_i].why,
			      pipeline[_i].header, v ? v : "(absent)");
		free(v);
	}
	if (pipeline[_i].body_has)
		ck_assert_msg(strstr(out_body(out), pipeline[_i].body_has), "%s: body %s", pipeline[_i].why,
			      out_body(out));
	/* a 5xx never tells the client about sockets, SQL or libpq */
	if (pipeline[_i].status >= 500)
		ck_assert_msg(!strstr(out, "no-database") && !strstr(out, "PGSQL"), "%s leaks: %s",
			      pipeline[_i].why, out);
	free(ct);
	free(id);
	free(out);
}
END_TEST

START_TEST(pipeline_generates_request_id)
{
	char *out = run_request("GET", "/health/live", NULL, NULL, NULL, NULL, "HTTP_X_REQUEST_ID",
				"not valid!");
	char *id = out_header(out, "X-Request-Id");
	char uuid[UUIDTEXT_LEN];

	ck_assert_msg(uuidtext_parse(id, uuid), "X-Request-Id %s", id);
	free(id);
	free(out);
}
END_TEST

START_TEST(pipeline_head_has_no_body)
{
	char *out = run_request("HEAD", "/health/live", NULL, NULL, NULL, NULL, NULL, NULL);
	char *len = out_header(out, "Content-Length");

	ck_assert_int_eq(out_status(out), 200);
	ck_assert_str_eq(len, "28");
	ck_assert_str_eq(out_body(out), "");
	free(len);
	free(out);
}
END_TEST

START_TEST(pipeline_base_path)
{
	char *out;

	free(app.cfg.http.base_path);
	app.cfg.http.base_path = strdup("/api/");
	out = run_request("GET", "/api/health/live", NULL, NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(out_status(out), 200);
	free(out);
	out = run_request("GET", "/api", NULL, NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(out_status(out), 404);
	free(out);
	out = run_request("GET", "/health/live", NULL, NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(out_status(out), 404);
	free(out);
	out = run_request("GET", "/apix/health/live", NULL, NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(out_status(out), 404);
	free(out);
}
END_TEST

START_TEST(pipeline_health_can_require_auth)
{
	char *out;

	app.cfg.http.health_requires_auth = true;
	out = run_request("GET", "/health", NULL, NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(out_status(out), 401);
	free(out);
	out = run_request("GET", "/health", tokens[TOK_READ], NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(out_status(out), 503);
	free(out);
	/* the probes stay open */
	out = run_request("GET", "/health/live", NULL, NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(out_status(out), 200);
	free(out);
	out = run_request("GET", "/health/ready", NULL, NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(out_status(out), 503);
	free(out);
}
END_TEST

START_TEST(pipeline_database_away_never_waits)
{
	struct timespec t0, t1;
	char *out;

	/* The first attempt fails; the ones during the backoff must not wait. */
	out = run_request("GET", "/v1/events", tokens[TOK_READ], NULL, NULL, NULL, NULL, NULL);
	free(out);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 50; i++) {
		out = run_request("GET", "/v1/events?wait=30", tokens[TOK_READ], NULL, NULL, NULL, NULL,
				  NULL);
		ck_assert_int_eq(out_status(out), 503);
		free(out);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("parsers");
	TCase *resp = tcase_create("responses");
	TCase *append = tcase_create("append body");
	TCase *pipe = tcase_create("pipeline");

	tcase_add_loop_test(tc, content_length_is_strict, 0, N_ELEMS(content_lengths));
	tcase_add_loop_test(tc, body_read_exactly, 0, N_ELEMS(bodies));
	tcase_add_loop_test(tc, request_id_acceptance, 0, N_ELEMS(request_ids));
	tcase_add_loop_test(tc, request_id_echoed_or_generated, 0, N_ELEMS(request_ids));
	tcase_add_loop_test(tc, traceparent_parsing, 0, N_ELEMS(traceparents));
	tcase_add_test(tc, traceparent_length_cap);
	tcase_add_test(tc, request_keeps_traceparent_fields);
	tcase_add_test(tc, problem_detail_always_utf8);
	tcase_add_loop_test(tc, content_type_matching, 0, N_ELEMS(content_types));
	tcase_add_loop_test(tc, if_match_parsing, 0, N_ELEMS(if_matches));
	tcase_add_loop_test(tc, if_none_match_on_write, 0, N_ELEMS(if_none_matches_write));
	tcase_add_loop_test(tc, if_none_match_on_read, 0, N_ELEMS(if_none_matches_read));
	tcase_add_loop_test(tc, query_parsing, 0, N_ELEMS(queries));
	tcase_add_test(tc, query_repeated_parameter);
	tcase_add_loop_test(tc, integer_parsing, 0, N_ELEMS(ints));
	suite_add_tcase(s, tc);

	tcase_add_loop_test(resp, problem_documents, 0, N_ELEMS(problem_table));
	tcase_add_test(resp, status_lines_have_reasons);
	tcase_add_test(resp, problem_for_status);
	tcase_add_test(resp, problem_extra_members);
	tcase_add_test(resp, problem_rejects);
	tcase_add_test(resp, unauthorized_headers);
	tcase_add_test(resp, response_framing);
	suite_add_tcase(s, resp);

	tcase_add_loop_test(append, append_body_rejected, 0, N_ELEMS(append_rejects));
	tcase_add_loop_test(append, append_body_accepted, 0, N_ELEMS(append_accepts));
	tcase_add_test(append, append_keeps_client_values);
	tcase_add_loop_test(append, append_refuses_server_metadata, 0, N_ELEMS(server_metadata_keys));
	tcase_add_test(append, append_problem_quoting_a_cut_key_is_json);
	tcase_add_test(resp, problem_quoting_raw_bytes_is_json);
	suite_add_tcase(s, append);

	tcase_add_checked_fixture(pipe, pipeline_setup, pipeline_teardown);
	tcase_set_timeout(pipe, 30);
	tcase_add_loop_test(pipe, pipeline_answers, 0, N_ELEMS(pipeline));
	tcase_add_test(pipe, pipeline_generates_request_id);
	tcase_add_test(pipe, pipeline_head_has_no_body);
	tcase_add_test(pipe, pipeline_base_path);
	tcase_add_test(pipe, pipeline_health_can_require_auth);
	tcase_add_test(pipe, pipeline_database_away_never_waits);
	suite_add_tcase(s, pipe);
	return s;
}

int main(void)
{
	return check_run(http_suite());
}
