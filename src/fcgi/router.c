/* router.c - matching a method and a path against a route table. */
#include "buildconf.h"
#include "fcgi/router.h"
#include "base/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/uuidtext.h"
#include "fcgi/http.h"

bool router_name_valid(const char *s, size_t max_len)
{
	size_t n;

	if (!s)
		return false;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (n = 1; s[n]; n++) {
		char c = s[n];

		if (n >= max_len)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Splits the raw path into m->seg, each segment decoded into m->buf. */
static enum router_result split_path(const char *path, struct route_match *m)
{
	size_t len = strlen(path);
	const char *p = path + 1;
	char *o;

	m->buf = malloc(len + 1);
	if (!m->buf)
		return ROUTER_NOT_FOUND;
	o = m->buf;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t raw = end ? (size_t)(end - p) : strlen(p);
		size_t n;

		if (m->nseg == ROUTER_MAX_SEGMENTS)
			return ROUTER_NOT_FOUND;
		if (http_percent_decode(p, raw, false, o, &n) != ES_OK) {
			snprintf(m->detail, sizeof m->detail,
				 "the path has a malformed percent-escape or an encoded NUL");
			return ROUTER_BAD_REQUEST;
		}
		m->seg[m->nseg++] = o;
		o += n + 1;
		if (!end)
			break;
		p = end + 1;
	}
	return ROUTER_OK;
}

/* Walks pattern against m's segments; true when every literal matches and
 * the segment counts agree. With record set, the placeholders are stored in
 * m->params. */
static bool pattern_matches(const char *pattern, struct route_match *m, bool record)
{
	const char *p = pattern + 1;
	size_t i = 0;

	if (record)
		m->nparams = 0;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (i >= m->nseg)
			return false;
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
			/* A placeholder takes any non-empty segment. */
			if (m->seg[i][0] == '\0')
				return false;
			if (record && m->nparams < ROUTER_MAX_PARAMS) {
				m->params[m->nparams].name = p + 1;
				m->params[m->nparams].name_len = len - 2;
				m->params[m->nparams].value = m->seg[i];
				m->nparams++;
			}
		} else if (strlen(m->seg[i]) != len || memcmp(m->seg[i], p, len) != 0) {
			return false;
		}
		i++;
		if (!end)
			break;
		p = end + 1;
	}
	return i == m->nseg;
}

static void allow_add(struct route_match *m, const char *method)
{
	size_t used = strlen(m->allow);

	if (strstr(m->allow, method))
		return;
	snprintf(m->allow + used, sizeof m->allow - used, "%s%s", used ? ", " : "", method);
}

static bool param_is(const struct route_match *m, size_t i, const char *name)
{
	return m->params[i].name_len == strlen(name) &&
	       memcmp(m->params[i].name, name, m->params[i].name_len) == 0;
}

/* A 400 whose detail quotes the decoded value (escaped: it may hold any
 * byte a %-escape made). */
static enum router_result param_invalid(struct route_match *m, const char *what, const char *v,
					const char *rule)
{
	char quoted[80];

	snprintf(m->detail, sizeof m->detail, "%s %s %s", what,
		 text_quote(quoted, sizeof quoted, v, strlen(v)), rule);
	return ROUTER_BAD_REQUEST;
}

/* A data subject's id: what evstore.subject_keys takes, and nothing that
 * could break a log line. */
static bool subject_valid(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 256)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	return true;
}

/* Checks the chosen route's parameters and normalises UUIDs in place. */
static enum router_result validate_params(struct route_match *m)
{
	for (size_t i = 0; i < m->nparams; i++) {
		const char *v = m->params[i].value;

		if (param_is(m, i, "type") && !router_name_valid(v, ROUTER_AGGREGATE_TYPE_MAX))
			return param_invalid(m, "aggregate_type", v,
					     "must match ^[A-Za-z][A-Za-z0-9_.-]{0,63}$");
		if (param_is(m, i, "name") && !router_name_valid(v, ROUTER_AGGREGATE_TYPE_MAX))
			return param_invalid(m, "subscription name", v,
					     "must match ^[A-Za-z][A-Za-z0-9_.-]{0,63}$");
		if (param_is(m, i, "subject") && !subject_valid(v))
			return param_invalid(m, "subject", v, "must be 1 to 256 bytes without control characters");
		if (param_is(m, i, "id")) {
			char id[UUIDTEXT_LEN];

			if (!uuidtext_parse(v, id))
				return param_invalid(m, "aggregate_id", v,
						     "must be a UUID in the 8-4-4-4-12 form");
			/* Same length: the lowercase form replaces the segment. */
			memcpy((char *)v, id, UUIDTEXT_LEN);
		}
	}
	return ROUTER_OK;
}

enum router_result router_match(const struct route *routes, size_t n_routes, const char *method,
				 const char *path, struct route_match *m)
{
	enum router_result rr;
	bool shape = false;
	bool head;

	memset(m, 0, sizeof *m);
	if (!path || path[0] != '/')
		return ROUTER_NOT_FOUND;
	rr = split_path(path, m);
	if (rr != ROUTER_OK)
		return rr;

	head = strcmp(method, "HEAD") == 0;
	for (size_t i = 0; i < n_routes; i++) {
		const struct route *r = &routes[i];
		bool is_get = strcmp(r->method, "GET") == 0;

		if (!pattern_matches(r->pattern, m, false))
			continue;
		shape = true;
		allow_add(m, r->method);
		if (is_get)
			allow_add(m, "HEAD");
		if (!m->route && (strcmp(r->method, method) == 0 || (head && is_get)))
			m->route = r;
	}
	if (!shape)
		return ROUTER_NOT_FOUND;
	if (!m->route)
		return ROUTER_METHOD_NOT_ALLOWED;
	pattern_matches(m->route->pattern, m, true);
	return validate_params(m);
}

void route_match_free(struct route_match *m)
{
	free(m->buf);
	m->buf = NULL;
	m->nseg = 0;
	m->nparams = 0;
	m->route = NULL;
}

const char *route_param(const struct route_match *m, const char *name)
{
	for (size_t i = 0; i < m->nparams; i++)
		if (param_is(m, i, name))
			return m->params[i].value;
	return NULL;
}

bool route_takes_query_param(const struct route *route, const char *name)
{
	size_t n = strlen(name);

	if (!route->query)
		return true;
	for (const char *p = route->query; *p; ) {
		size_t len = strcspn(p, " ");

		if (len == n && len > 0 && memcmp(p, name, n) == 0)
			return true;
		p += len;
		p += strspn(p, " ");
	}
	return false;
}
