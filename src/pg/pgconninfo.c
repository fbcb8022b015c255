/* pgconninfo.c - validating a connection string with PQconninfoParse. */
#include "buildconf.h"
#include "pg/pgconninfo.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <libpq-fe.h>

static char problem[256];

/* The scheme of a URI-looking string ("postgresq" of "postgresq://..."),
 * copied into buf; false when conninfo is no URI (key=value pairs). */
static bool uri_scheme(const char *conninfo, char *buf, size_t len)
{
	const char *sep = strstr(conninfo, "://");
	size_t n;

	if (!sep || sep == conninfo || !isalpha((unsigned char)conninfo[0]))
		return false;
	for (const char *p = conninfo; p < sep; p++) {
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
			return false; /* "host=x options='a://b'" is no URI */
	}
	n = (size_t)(sep - conninfo);
	if (n >= len)
		n = len - 1;
	memcpy(buf, conninfo, n);
	buf[n] = '\0';
	return true;
}

/* True for a quoted word worth repeating: an option name or the "=" libpq
 * missed, never a value. */
static bool is_option_name(const char *s, size_t n)
{
	if (n == 1 && s[0] == '=')
		return true;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	}
	return true;
}

/* Copies libpq's message into problem, one line, with any quoted text that
 * is not an option name replaced by "...". */
static void keep_message(const char *msg)
{
	size_t o = 0;

	for (const char *p = msg; *p && *p != '\n' && o + 8 < sizeof problem; p++) {
		const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
		int len = close ? (int)(close - p - 1) : 0;

		if (close) {
			bool keep = is_option_name(p + 1, (size_t)len);

			o += (size_t)snprintf(problem + o, sizeof problem - o, "\"%.*s\"",
					      keep ? len : 3, keep ? p + 1 : "...");
			if (o >= sizeof problem)
				o = sizeof problem - 1;
			p = close;
			continue;
		}
		problem[o++] = *p;
	}
	problem[o] = '\0';
}

const char *pgconninfo_problem(const char *conninfo)
{
	PQconninfoOption *opts;
	char scheme[32], *msg = NULL;

	if (uri_scheme(conninfo, scheme, sizeof scheme) && strcmp(scheme, "postgresql") != 0 &&
	    strcmp(scheme, "postgres") != 0) {
		snprintf(problem, sizeof problem, "unknown URI scheme \"%s\": libpq takes "
			 "postgresql:// or postgres:// (or key=value pairs)", scheme);
		return problem;
	}
	opts = PQconninfoParse(conninfo, &msg);
	if (opts) {
		PQconninfoFree(opts);
		return NULL;
	}
	keep_message(msg ? msg : "out of memory");
	PQfreemem(msg);
	return problem;
}
