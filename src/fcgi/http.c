/* http.c - requests in, responses out, and the strict little parsers. */
#include "buildconf.h"
#include "base/text.h"
#include "fcgi/http.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json/jsondoc.h"
#include "base/uuidtext.h"

/* --- small helpers -------------------------------------------------------- */

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool all_zero(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '0')
			return false;
	return true;
}

static const char *skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Length of s without trailing spaces and tabs. */
static size_t trimmed_len(const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return len;
}

/* Parses digits s[0..len) as a non-negative int64; false on anything else. */
static bool parse_digits(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Returns a malloc'd copy of a parameter, NULL when absent; sets *oom when
 * the copy failed. */
static char *param_dup(const struct http_io *io, const char *name, bool *oom)
{
	const char *v = io->param(io->ctx, name);
	char *copy;

	if (!v)
		return NULL;
	copy = strdup(v);
	if (!copy)
		*oom = true;
	return copy;
}

/* --- parsers -------------------------------------------------------------- */

enum es_status http_parse_content_length(const char *s, long max, long *out)
{
	long v = 0;

	*out = 0;
	if (!s || !*s)
		return ES_OK;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return ES_EINVAL;
	}
	for (const char *p = s; *p; p++) {
		if (v > (LONG_MAX - (*p - '0')) / 10)
			return ES_ETOOLARGE;
		v = v * 10 + (*p - '0');
	}
	if (v > max)
		return ES_ETOOLARGE;
	*out = v;
	return ES_OK;
}

bool http_request_id_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n < 1 || n > HTTP_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

bool http_traceparent_parse(const char *s, char out[HTTP_TRACEPARENT_LEN + 1])
{
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, HTTP_TRACEPARENT_MAX + 1);
	if (n < HTTP_TRACEPARENT_LEN || n > HTTP_TRACEPARENT_MAX)
		return false;
	if (!is_lower_hex(s, 2) || strncmp(s, "ff", 2) == 0)
		return false;
	if (s[2] != '-' || s[35] != '-' || s[52] != '-')
		return false;
	if (!is_lower_hex(s + 3, 32) || all_zero(s + 3, 32))
		return false;
	if (!is_lower_hex(s + 36, 16) || all_zero(s + 36, 16))
		return false;
	if (!is_lower_hex(s + 53, 2))
		return false;
	if (n > HTTP_TRACEPARENT_LEN) {
		/* Version 00 has four fields; a later one may add more. */
		if (strncmp(s, "00", 2) == 0 || s[HTTP_TRACEPARENT_LEN] != '-')
			return false;
	}
	memcpy(out, s, HTTP_TRACEPARENT_LEN);
	out[HTTP_TRACEPARENT_LEN] = '\0';
	return true;
}

bool http_content_type_is_json(const char *ct)
{
	static const char json[] = "application/json";
	const char *p;

	if (!ct)
		return false;
	p = skip_ows(ct);
	if (strncasecmp(p, json, sizeof json - 1) != 0)
		return false;
	p = skip_ows(p + sizeof json - 1);
	while (*p == ';') {
		const char *name = skip_ows(p + 1);
		const char *eq = strchr(name, '=');
		const char *end = strchr(name, ';');
		size_t vlen;
		const char *val;

		if (!end)
			end = name + strlen(name);
		if (!eq || eq > end)
			return false;
		val = eq + 1;
		vlen = trimmed_len(val, (size_t)(end - val));
		if ((size_t)(eq - name) == 7 && strncasecmp(name, "charset", 7) == 0) {
			if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
				val++;
				vlen -= 2;
			}
			if (!((vlen == 5 && strncasecmp(val, "utf-8", 5) == 0) ||
			      (vlen == 4 && strncasecmp(val, "utf8", 4) == 0)))
				return false;
		}
		p = end;
	}
	return *p == '\0';
}

bool http_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	int64_t v;
	bool neg = false;

	if (!s)
		return false;
	if (*s == '-' && min < 0) {
		neg = true;
		s++;
	}
	if (!parse_digits(s, strlen(s), &v))
		return false;
	if (neg)
		v = -v;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

enum es_status http_percent_decode(const char *in, size_t len, bool plus_is_space,
				   char *out, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return ES_EINVAL;
			hi = text_hex_value(in[i + 1]);
			lo = text_hex_value(in[i + 2]);
			if (hi < 0 || lo < 0)
				return ES_EINVAL;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c == '\0')
			return ES_EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	*outlen = o;
	return ES_OK;
}

/* --- query strings -------------------------------------------------------- */

static char *decode_piece(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t n;

	if (!out)
		return NULL;
	if (http_percent_decode(s, len, true, out, &n) != ES_OK) {
		free(out);
		return NULL;
	}
	return out;
}

enum es_status http_query_parse(const char *qs, struct http_query *out,
				char *err, size_t errlen)
{
	enum es_status st = ES_OK;
	const char *p = qs ? qs : "";

	out->items = NULL;
	out->n = 0;
	while (*p) {
		const char *end = strchr(p, '&');
		const char *eq;
		size_t len, nlen;
		struct http_param *grown;
		char *name, *value;

		len = end ? (size_t)(end - p) : strlen(p);
		eq = memchr(p, '=', len);
		nlen = eq ? (size_t)(eq - p) : len;
		if (nlen > 0) {
			name = decode_piece(p, nlen);
			value = eq ? decode_piece(eq + 1, len - nlen - 1) : strdup("");
			if (!name || !value) {
				char quoted[80];

				free(name);
				free(value);
				snprintf(err, errlen, "query parameter %s has a malformed %%-escape",
					 text_quote(quoted, sizeof quoted, p, nlen));
				st = ES_EINVAL;
				goto out;
			}
			grown = realloc(out->items, (out->n + 1) * sizeof *grown);
			if (!grown) {
				free(name);
				free(value);
				st = ES_ENOMEM;
				goto out;
			}
			out->items = grown;
			out->items[out->n].name = name;
			out->items[out->n].value = value;
			out->n++;
		}
		p += len;
		if (*p == '&')
			p++;
	}
out:
	return st;
}

enum es_status http_query_get(const struct http_query *q, const char *name, const char **value)
{
	*value = NULL;
	for (size_t i = 0; i < q->n; i++) {
		if (strcmp(q->items[i].name, name) != 0)
			continue;
		if (*value)
			return ES_EINVAL;
		*value = q->items[i].value;
	}
	return ES_OK;
}

bool http_query_single(const struct http_query *q, struct http_resp *resp, const char *name,
		       const char **value)
{
	if (http_query_get(q, name, value) == ES_OK)
		return true;
	return http_reject(resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
			   "query parameter %s is given more than once", name);
}

void http_query_free(struct http_query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->items[i].name);
		free(q->items[i].value);
	}
	free(q->items);
	q->items = NULL;
	q->n = 0;
}

/* --- preconditions -------------------------------------------------------- */

/* Parses one entity tag "n" (or bare digits) in s[0..len) as a version. */
static bool parse_version_tag(const char *s, size_t len, int64_t *out)
{
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
		return parse_digits(s + 1, len - 2, out);
	return parse_digits(s, len, out);
}

enum es_status http_parse_if_match(const char *s, struct http_precond *out)
{
	size_t len;

	out->kind = HTTP_PRECOND_NONE;
	out->version = 0;
	if (!s)
		return ES_OK;
	s = skip_ows(s);
	len = trimmed_len(s, strlen(s));
	if (len == 1 && s[0] == '*') {
		out->kind = HTTP_PRECOND_ANY_EXISTS;
		return ES_OK;
	}
	if (!parse_version_tag(s, len, &out->version))
		return ES_EINVAL;
	out->kind = HTTP_PRECOND_VERSION;
	return ES_OK;
}

enum es_status http_parse_if_none_match_write(const char *s, struct http_precond *out)
{
	size_t len;

	out->kind = HTTP_PRECOND_NONE;
	out->version = 0;
	if (!s)
		return ES_OK;
	s = skip_ows(s);
	len = trimmed_len(s, strlen(s));
	if (len != 1 || s[0] != '*')
		return ES_EINVAL;
	out->kind = HTTP_PRECOND_ANY_EXISTS;
	return ES_OK;
}

bool http_if_none_match_fresh(const char *s, int64_t current_version)
{
	if (!s)
		return false;
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len;
		int64_t v;

		s = skip_ows(s);
		if (!end)
			end = s + strlen(s);
		len = trimmed_len(s, (size_t)(end - s));
		if (len == 1 && s[0] == '*')
			return true;
		/* If-None-Match compares weakly (RFC 9110 13.1.2). */
		if (len > 2 && s[0] == 'W' && s[1] == '/') {
			s += 2;
			len -= 2;
		}
		if (parse_version_tag(s, len, &v) && v == current_version)
			return true;
		s = *end ? end + 1 : end;
	}
	return false;
}

/* --- requests ------------------------------------------------------------- */

enum es_status http_req_init(struct http_req *req, const struct http_io *io,
			     const char *base_path)
{
	const char *uri, *q, *id;
	char traceparent[HTTP_TRACEPARENT_LEN + 1];
	bool oom = false;
	size_t base_len = 0;

	memset(req, 0, sizeof *req);
	req->io = io;

	req->method = param_dup(io, "REQUEST_METHOD", &oom);
	if (!req->method && !oom)
		req->method = strdup("");
	if (!req->method)
		oom = true;
	req->head = req->method && strcmp(req->method, "HEAD") == 0;

	uri = io->param(io->ctx, "REQUEST_URI");
	if (base_path) {
		base_len = strlen(base_path);
		while (base_len > 0 && base_path[base_len - 1] == '/')
			base_len--;
	}
	if (uri) {
		size_t plen;

		q = strchr(uri, '?');
		plen = q ? (size_t)(q - uri) : strlen(uri);
		if (plen >= base_len && strncmp(uri, base_path ? base_path : "", base_len) == 0 &&
		    (plen == base_len || uri[base_len] == '/')) {
			if (plen == base_len)
				req->path = strdup("/");
			else
				req->path = strndup(uri + base_len, plen - base_len);
			if (!req->path)
				oom = true;
		}
		if (q) {
			req->query = strdup(q + 1);
			if (!req->query)
				oom = true;
		}
	}
	if (!req->query && !oom) {
		/* No '?' in REQUEST_URI: QUERY_STRING, as a CGI caller may set only that. */
		const char *qs = io->param(io->ctx, "QUERY_STRING");

		req->query = strdup(qs ? qs : "");
	}
	if (!req->query)
		oom = true;

	req->content_type = param_dup(io, "CONTENT_TYPE", &oom);
	req->content_length = param_dup(io, "CONTENT_LENGTH", &oom);
	req->authorization = param_dup(io, "HTTP_AUTHORIZATION", &oom);
	req->if_match = param_dup(io, "HTTP_IF_MATCH", &oom);
	req->if_none_match = param_dup(io, "HTTP_IF_NONE_MATCH", &oom);
	req->tenant = param_dup(io, "HTTP_X_EVSTORE_TENANT", &oom);
	req->idempotency_key = param_dup(io, "HTTP_IDEMPOTENCY_KEY", &oom);
	req->consistency = param_dup(io, "HTTP_EVSTORE_CONSISTENCY", &oom);
	if (http_traceparent_parse(io->param(io->ctx, "HTTP_TRACEPARENT"), traceparent)) {
		req->traceparent = strdup(traceparent);
		if (!req->traceparent)
			oom = true;
	}

	id = io->param(io->ctx, "HTTP_X_REQUEST_ID");
	if (http_request_id_valid(id)) {
		memcpy(req->request_id, id, strlen(id) + 1);
	} else {
		char uuid[UUIDTEXT_LEN];

		uuidtext_v7(uuid);
		memcpy(req->request_id, uuid, sizeof uuid);
	}
	return oom ? ES_ENOMEM : ES_OK;
}

enum es_status http_req_read_body(struct http_req *req, long max_body_bytes,
				  char *err, size_t errlen)
{
	enum es_status st;
	long want;
	size_t got = 0;

	st = http_parse_content_length(req->content_length, max_body_bytes, &want);
	if (st == ES_EINVAL) {
		snprintf(err, errlen, "Content-Length must be a decimal number of bytes");
		return st;
	}
	if (st == ES_ETOOLARGE) {
		snprintf(err, errlen, "the request body exceeds %ld bytes", max_body_bytes);
		return st;
	}
	free(req->body);
	req->body = malloc((size_t)want + 1);
	if (!req->body)
		return ES_ENOMEM;
	while (got < (size_t)want) {
		long n = req->io->read(req->io->ctx, req->body + got, (size_t)want - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	req->body[got] = '\0';
	req->body_len = got;
	if (got < (size_t)want) {
		snprintf(err, errlen, "the request body is shorter than its Content-Length (%zu of %ld bytes)",
			 got, want);
		return ES_EINVAL;
	}
	return ES_OK;
}

void http_req_free(struct http_req *req)
{
	free(req->method);
	free(req->path);
	free(req->query);
	free(req->content_type);
	free(req->content_length);
	free(req->authorization);
	free(req->if_match);
	free(req->if_none_match);
	free(req->tenant);
	free(req->idempotency_key);
	free(req->consistency);
	free(req->traceparent);
	free(req->body);
	memset(req, 0, sizeof *req);
}

/* --- responses ------------------------------------------------------------ */

/* The one table of problem types: index = enum http_problem. */
static const struct {
	int status;
	const char *slug;
	const char *title;
	bool keeps_detail;  /* a 5xx whose detail is written for the operator */
} problems[] = {
	[HTTP_PROBLEM_INVALID_REQUEST] = { 400, "invalid-request", "Invalid request", false },
	[HTTP_PROBLEM_UNAUTHORIZED] = { 401, "unauthorized", "Unauthorized", false },
	[HTTP_PROBLEM_FORBIDDEN] = { 403, "forbidden", "Forbidden", false },
	[HTTP_PROBLEM_NOT_FOUND] = { 404, "not-found", "Not found", false },
	[HTTP_PROBLEM_METHOD_NOT_ALLOWED] = { 405, "method-not-allowed", "Method not allowed", false },
	[HTTP_PROBLEM_VERSION_CONFLICT] = { 409, "version-conflict", "Version conflict", false },
	[HTTP_PROBLEM_DUPLICATE_EVENT_ID] = { 409, "duplicate-event-id", "Duplicate event id", false },
	[HTTP_PROBLEM_INVALID_STATE] = { 409, "invalid-state", "Invalid state", false },
	[HTTP_PROBLEM_PAYLOAD_TOO_LARGE] = { 413, "payload-too-large", "Payload too large", false },
	[HTTP_PROBLEM_UNSUPPORTED_MEDIA_TYPE] = { 415, "unsupported-media-type", "Unsupported media type", false },
	[HTTP_PROBLEM_VALIDATION_FAILED] = { 422, "validation-failed", "Validation failed", false },
	[HTTP_PROBLEM_UNAVAILABLE] = { 503, "unavailable", "Service unavailable", false },
	[HTTP_PROBLEM_SCHEMA_NOT_MIGRATED] = { 503, "schema-not-migrated", "Schema not migrated", true },
	[HTTP_PROBLEM_INTERNAL] = { 500, "internal", "Internal server error", false },
};

enum http_problem http_problem_for(enum es_status st)
{
	switch (st) {
	case ES_EINVAL: return HTTP_PROBLEM_INVALID_REQUEST;
	case ES_ENOTFOUND: return HTTP_PROBLEM_NOT_FOUND;
	case ES_ECONFLICT: return HTTP_PROBLEM_VERSION_CONFLICT;
	case ES_EDUPLICATE: return HTTP_PROBLEM_DUPLICATE_EVENT_ID;
	case ES_ESTATE: return HTTP_PROBLEM_INVALID_STATE;
	case ES_ETOOLARGE: return HTTP_PROBLEM_PAYLOAD_TOO_LARGE;
	case ES_EVALIDATION: return HTTP_PROBLEM_VALIDATION_FAILED;
	case ES_EUNAVAILABLE:
	case ES_ERETRY: return HTTP_PROBLEM_UNAVAILABLE;
	case ES_OK:
	case ES_EMOVED: /* checkpoints are the runner's; no route meets one */
	case ES_EDB:
	case ES_ENOMEM:
	case ES_EINTERNAL: break;
	}
	return HTTP_PROBLEM_INTERNAL;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

void http_resp_init(struct http_resp *resp, int retry_after)
{
	memset(resp, 0, sizeof *resp);
	resp->headers = (struct sbuf)SBUF_INIT;
	resp->body = (struct sbuf)SBUF_INIT;
	resp->retry_after = retry_after;
	resp->content_type = HTTP_CT_JSON;
}

void http_resp_reset(struct http_resp *resp)
{
	resp->status = 0;
	resp->content_type = HTTP_CT_JSON;
	sbuf_reset(&resp->headers);
	sbuf_reset(&resp->body);
}

void http_resp_free(struct http_resp *resp)
{
	sbuf_free(&resp->headers);
	sbuf_free(&resp->body);
}

void http_resp_header(struct http_resp *resp, const char *name, const char *fmt, ...)
{
	char small[256];
	char *value = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof small) {
		value = malloc((size_t)n + 1);
		if (!value) {
			resp->headers.failed = true;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(value, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	for (int i = 0; i < n; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			value[i] = ' ';
	sbuf_puts(&resp->headers, name);
	sbuf_puts(&resp->headers, ": ");
	sbuf_append(&resp->headers, value, (size_t)n);
	sbuf_puts(&resp->headers, "\r\n");
	if (value != small)
		free(value);
}

void http_resp_json(struct http_resp *resp, int status)
{
	resp->status = status;
	resp->content_type = HTTP_CT_JSON;
}

/* Quoted input is escaped where it is quoted (text_quote); this is the
 * last guard, as json-c writes a string's bytes as they are: a detail cut
 * inside a UTF-8 sequence must not make the document invalid. */
static void problem_add_detail(json_object *doc, const char *detail)
{
	char *clean = strdup(detail);

	if (!clean)
		return;
	text_utf8_scrub(clean);
	json_object_object_add(doc, "detail", json_object_new_string(clean));
	free(clean);
}

void http_reply_problem(struct http_resp *resp, enum http_problem p, const char *detail,
			json_object *extra)
{
	json_object *doc = json_object_new_object();
	char type[64];
	int status = problems[p].status;

	/* A 5xx says what the client can do, never what went wrong inside
	 * (an unmigrated schema says what the operator must do). */
	if (status >= 500 && !problems[p].keeps_detail)
		detail = status == 503 ? "the service is temporarily unavailable; retry later"
				       : "the server could not complete the request";

	http_resp_reset(resp);
	resp->status = status;
	resp->content_type = HTTP_CT_PROBLEM;
	if (status == 503)
		http_resp_header(resp, "Retry-After", "%d", resp->retry_after);
	if (!doc)
		goto out;
	snprintf(type, sizeof type, "urn:evstore:%s", problems[p].slug);
	json_object_object_add(doc, "type", json_object_new_string(type));
	json_object_object_add(doc, "title", json_object_new_string(problems[p].title));
	json_object_object_add(doc, "status", json_object_new_int(status));
	if (detail)
		problem_add_detail(doc, detail);
	if (extra && json_object_is_type(extra, json_type_object)) {
		json_object_object_foreach(extra, key, val) {
			json_object_object_add(doc, key, json_object_get(val));
		}
	}
	sbuf_puts(&resp->body, jsondoc_compact(doc));
out:
	json_object_put(doc);
	json_object_put(extra);
}

bool http_reject(struct http_resp *resp, enum http_problem p, const char *pointer,
		 const char *fmt, ...)
{
	char detail[320];
	json_object *extra = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	if (pointer) {
		char *text = strdup(pointer);

		extra = json_object_new_object();
		if (extra && text)
			json_object_object_add(extra, "pointer", json_object_new_string(text_utf8_scrub(text)));
		free(text);
	}
	http_reply_problem(resp, p, detail, extra);
	return false;
}

void http_reply_status(struct http_resp *resp, enum es_status st, const char *detail)
{
	http_reply_problem(resp, http_problem_for(st), detail, NULL);
}

void http_reply_unauthorized(struct http_resp *resp, const char *why)
{
	char quoted[256];
	size_t o = 0;

	if (!why) {
		http_reply_problem(resp, HTTP_PROBLEM_UNAUTHORIZED, "a bearer token is required", NULL);
		http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"evstore\"");
		return;
	}
	/* error_description is a quoted-string of visible ASCII without '"'
	 * and '\\' (RFC 6750 section 3). */
	for (const char *p = why; *p && o + 1 < sizeof quoted; p++) {
		unsigned char c = (unsigned char)*p;

		quoted[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : ' ';
	}
	quoted[o] = '\0';
	http_reply_problem(resp, HTTP_PROBLEM_UNAUTHORIZED, why, NULL);
	http_resp_header(resp, "WWW-Authenticate",
			 "Bearer realm=\"evstore\", error=\"invalid_token\", error_description=\"%s\"",
			 quoted);
}

bool http_resp_write(struct http_resp *resp, const struct http_req *req)
{
	struct sbuf out = SBUF_INIT;
	bool with_body, ok;

	if (resp->detached)
		return true;
	if (resp->status == 0 || resp->headers.failed || resp->body.failed)
		http_reply_problem(resp, HTTP_PROBLEM_INTERNAL, NULL, NULL);
	with_body = resp->status != 204 && resp->status != 304;

	sbuf_printf(&out, "Status: %d %s\r\n", resp->status, http_status_text(resp->status));
	sbuf_printf(&out, "Content-Type: %s\r\n", resp->content_type);
	sbuf_printf(&out, "X-Request-Id: %s\r\n", req->request_id);
	if (with_body)
		sbuf_printf(&out, "Content-Length: %zu\r\n", resp->body.len);
	sbuf_append(&out, resp->headers.data ? resp->headers.data : "", resp->headers.len);
	sbuf_puts(&out, "\r\n");
	if (with_body && !req->head)
		sbuf_append(&out, resp->body.data ? resp->body.data : "", resp->body.len);
	ok = !out.failed && req->io->write(req->io->ctx, out.data, out.len);
	sbuf_free(&out);
	return ok;
}
