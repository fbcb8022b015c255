/* config.c - evstore.conf. One table (config_options below) says, for each
 * key, its section, type, field, default and help; defaults, the INI file,
 * the EVSTORE_<SECTION>_<KEY> environment and config_print all walk it, so
 * a key added there is parsed, overridable and printed everywhere at once.
 * Defaults are written as text and go through the same parser as the file. */
#include "buildconf.h"
#include "base/config.h"
#include "base/log.h"
#include "base/sbuf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum opt_type {
	OPT_STRING,   /* free text; "" when unset */
	OPT_CHOICE,   /* one of opt->choices */
	OPT_FACILITY, /* a syslog facility name */
	OPT_DBURL,    /* a libpq URI or key=value string; "+driver" dropped */
	OPT_URLPATH,  /* "" or "/prefix", trailing slashes dropped */
	OPT_INT,      /* a plain integer */
	OPT_BOOL,     /* true/false/yes/no/on/off/1/0 */
	OPT_SIZE,     /* bytes, with K/KiB/M/MiB/G/GiB suffixes (1024-based) */
	OPT_SECONDS,  /* an int in seconds; "30", "30s", "5m", "1h", "2000ms" */
	OPT_MSEC      /* an int in milliseconds; "500", "500ms", "2s", "1m" */
};

struct config_option {
	const char *section;
	const char *key;
	enum opt_type type;
	size_t offset;
	const char *def;
	long min, max;
	const char *const *choices;
	const char *help;
};

static const char *const log_targets[] = { "syslog", "stderr", NULL };
static const char *const log_levels[] = { "debug", "info", "notice", "warning", "error", NULL };
static const char *const jwt_algorithms[] = {
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", NULL
};

#define F(field) offsetof(struct es_config, field)
#define STR(sec, key, field, def, help) \
	{ sec, key, OPT_STRING, F(field), def, 0, 0, NULL, help }
#define NUM(sec, key, type, field, def, min, max, help) \
	{ sec, key, type, F(field), def, min, max, NULL, help }

static const struct config_option config_options[] = {
	{ "database", "url", OPT_DBURL, F(database.url), "", 0, 0, NULL,
	  "libpq connection URI or key=value string; empty: libpq defaults and PG* variables" },
	NUM("database", "connect_timeout", OPT_SECONDS, database.connect_timeout, "2", 0, 3600,
	    "seconds allowed for one connection attempt (0: wait forever)"),
	NUM("database", "statement_timeout_ms", OPT_MSEC, database.statement_timeout_ms, "0", 0,
	    86400000, "statement_timeout set on each connection (0: the server's default)"),

	{ "http", "base_path", OPT_URLPATH, F(http.base_path), "", 0, 0, NULL,
	  "URL prefix stripped from REQUEST_URI before routing (\"\" or \"/prefix\")" },
	NUM("http", "max_body_bytes", OPT_SIZE, http.max_body_bytes, "1MiB", 1, 1L << 30,
	    "largest request body accepted; larger is 413"),
	NUM("http", "max_events", OPT_INT, http.max_events, "1000", 1, 1000000,
	    "most events in one append; more is 413"),
	NUM("http", "max_depth", OPT_INT, http.max_depth, "64", 1, 10000,
	    "deepest JSON nesting accepted, counted over the whole body"),
	NUM("http", "default_page", OPT_INT, http.default_page, "100", 1, 1000000,
	    "page size when a request gives no limit"),
	NUM("http", "max_page", OPT_INT, http.max_page, "1000", 1, 1000000,
	    "largest page size; larger limits are clamped"),
	NUM("http", "max_wait", OPT_SECONDS, http.max_wait, "30", 0, 3600,
	    "longest long-poll of the feed (wait=N is clamped to this)"),
	NUM("http", "health_requires_auth", OPT_BOOL, http.health_requires_auth, "false", 0, 1,
	    "require a token for /health and /health/subscriptions/NAME"),
	NUM("http", "retry_after", OPT_SECONDS, http.retry_after, "1", 0, 3600,
	    "seconds sent in Retry-After with a 503"),

	{ "jwt", "algorithm", OPT_CHOICE, F(jwt.algorithm), "HS256", 0, 0, jwt_algorithms,
	  "the only signature algorithm accepted" },
	STR("jwt", "key_file", jwt.key_file, "",
	    "HMAC secret (at least 32 bytes) or PEM public key"),
	STR("jwt", "keys_dir", jwt.keys_dir, "",
	    "directory of keys, each file named by its kid"),
	STR("jwt", "issuer", jwt.issuer, "", "required iss claim when set"),
	STR("jwt", "audience", jwt.audience, "", "required aud claim when set"),
	NUM("jwt", "leeway", OPT_SECONDS, jwt.leeway, "30", 0, 3600,
	    "clock skew allowed for exp, nbf and iat"),
	STR("jwt", "tenant_claim", jwt.tenant_claim, "tenant_id",
	    "claim holding the tenant UUID"),
	NUM("jwt", "require_tenant", OPT_BOOL, jwt.require_tenant, "false", 0, 1,
	    "refuse tokens without the tenant claim (403)"),

	STR("aggregates", "dir", aggregates.dir, SYSCONFDIR "/evstore/aggregates.d",
	    "directory of aggregate definition files (*.json)"),

	NUM("health", "error_rate_per_min", OPT_INT, health.error_rate_per_min, "10", 0, INT_MAX,
	    "a subscription failing more often per minute is degraded"),
	NUM("health", "errors_warn", OPT_INT, health.errors_warn, "10", 0, INT_MAX,
	    "failed events making a subscription degraded"),
	NUM("health", "errors_critical", OPT_INT, health.errors_critical, "100", 0, INT_MAX,
	    "failed events making a subscription unhealthy"),
	NUM("health", "lag_warn", OPT_INT, health.lag_warn, "1000", 0, INT_MAX,
	    "events behind making a subscription degraded"),
	NUM("health", "lag_critical", OPT_INT, health.lag_critical, "10000", 0, INT_MAX,
	    "events behind making a subscription unhealthy"),
	NUM("health", "dlq_warn", OPT_INT, health.dlq_warn, "10", 0, INT_MAX,
	    "parked events making a subscription degraded"),
	NUM("health", "dlq_critical", OPT_INT, health.dlq_critical, "100", 0, INT_MAX,
	    "parked events making a subscription unhealthy"),
	NUM("health", "runner_stale_after", OPT_SECONDS, health.runner_stale_after, "15", 1, 86400,
	    "a runner heartbeat older than this makes its subscriptions unhealthy"),

	{ "log", "target", OPT_CHOICE, F(log.target), "syslog", 0, 0, log_targets,
	  "where log records go: syslog or stderr" },
	{ "log", "level", OPT_CHOICE, F(log.level), "info", 0, 0, log_levels,
	  "least severe level kept: debug, info, notice, warning, error" },
	{ "log", "facility", OPT_FACILITY, F(log.facility), "daemon", 0, 0, NULL,
	  "syslog facility of ordinary records" },
	{ "log", "audit_facility", OPT_FACILITY, F(log.audit_facility), "local5", 0, 0, NULL,
	  "syslog facility of audit records" },
	STR("log", "socket", log.socket, "",
	    "unix datagram socket taking the syslog records (containers, chroots); empty: /dev/log"),

	NUM("runner", "shutdown_timeout", OPT_SECONDS, runner.shutdown_timeout, "30", 1, 3600,
	    "longest orderly shutdown before it is forced"),
	NUM("runner", "drain_timeout", OPT_SECONDS, runner.drain_timeout, "10", 0, 3600,
	    "longest wait for in-flight events at shutdown"),
	NUM("runner", "poll_interval_ms", OPT_MSEC, runner.poll_interval_ms, "500", 10, 3600000,
	    "fallback poll interval when no notification arrives"),
};

#define N_OPTIONS (sizeof(config_options) / sizeof(config_options[0]))

/* The sections in the order they are printed. */
static const char *const config_sections[] = {
	"database", "http", "jwt", "aggregates", "health", "log", "runner", NULL
};

#define SUBSCRIPTION_NAME_MAX 64

/* Where each option got its value, for messages about two options. */
struct origin {
	int line;          /* line in the file, 0 if not from the file */
	bool env;          /* set by EVSTORE_<SECTION>_<KEY> (or DATABASE_URL) */
};

struct loader {
	struct es_config *cfg;
	const char *path;
	struct origin origin[N_OPTIONS];
	char *err;
	size_t errlen;
};

static void *field_of(struct es_config *cfg, const struct config_option *o)
{
	return (char *)cfg + o->offset;
}

static const void *cfield_of(const struct es_config *cfg, const struct config_option *o)
{
	return (const char *)cfg + o->offset;
}

static bool is_string_type(enum opt_type t)
{
	return t == OPT_STRING || t == OPT_CHOICE || t == OPT_FACILITY || t == OPT_DBURL ||
	       t == OPT_URLPATH;
}

/* Shows an operator's value in a message: quoted, cut at 64 bytes. */
static void quote_value(char *buf, size_t len, const char *v)
{
	snprintf(buf, len, "'%.64s%s'", v, strlen(v) > 64 ? "..." : "");
}

static bool parse_long(const char *v, long *out)
{
	char *end;
	long n;

	if (!isdigit((unsigned char)v[0]) && !(v[0] == '-' && isdigit((unsigned char)v[1])))
		return false;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end)
		return false;
	*out = n;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* A non-negative number, optional blanks, then a unit; splits them. */
static bool split_number_unit(const char *v, unsigned long long *num, const char **unit)
{
	char *end;

	if (!isdigit((unsigned char)v[0]))
		return false;
	errno = 0;
	*num = strtoull(v, &end, 10);
	if (errno)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	*unit = end;
	return true;
}

static bool parse_size(const char *v, long max, long *out)
{
	static const struct { const char *unit; unsigned long long mult; } units[] = {
		{ "", 1 },
		{ "K", 1ULL << 10 }, { "KiB", 1ULL << 10 },
		{ "M", 1ULL << 20 }, { "MiB", 1ULL << 20 },
		{ "G", 1ULL << 30 }, { "GiB", 1ULL << 30 },
	};
	unsigned long long n;
	const char *unit;

	if (!split_number_unit(v, &n, &unit))
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(unit, units[i].unit) != 0)
			continue;
		if (n > (unsigned long long)max / units[i].mult)
			*out = max + 1L; /* reported as out of range */
		else
			*out = (long)(n * units[i].mult);
		return true;
	}
	return false;
}

/* A duration in the unit of the field (1000 = ms per unit for seconds,
 * 1 for milliseconds); a value that is not a whole number of units fails. */
static bool parse_duration(const char *v, long ms_per_unit, long max, long *out)
{
	static const struct { const char *unit; unsigned long long ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	unsigned long long n, ms;
	const char *unit;

	if (!split_number_unit(v, &n, &unit))
		return false;
	if (*unit == '\0') {
		*out = n > (unsigned long long)max ? max + 1L : (long)n;
		return true;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].unit) != 0)
			continue;
		if (n > ULLONG_MAX / units[i].ms)
			return false;
		ms = n * units[i].ms;
		if (ms % (unsigned long long)ms_per_unit != 0)
			return false;
		ms /= (unsigned long long)ms_per_unit;
		*out = ms > (unsigned long long)max ? max + 1L : (long)ms;
		return true;
	}
	return false;
}

/* Returns a new string: v without trailing slashes ("/" becomes ""). */
static char *normalize_urlpath(const char *v)
{
	size_t n = strlen(v);

	while (n > 0 && v[n - 1] == '/')
		n--;
	return strndup(v, n);
}

/* Sets option o of cfg from the text v (borrowed). On failure msg says why,
 * without location, and the field keeps its value. */
static bool option_set(struct es_config *cfg, const struct config_option *o, const char *v,
		       char *msg, size_t msglen)
{
	char shown[80];
	char *copy = NULL;
	long n = 0;
	bool b;

	quote_value(shown, sizeof(shown), v);
	switch (o->type) {
	case OPT_CHOICE:
		for (size_t i = 0; o->choices[i]; i++) {
			if (strcmp(v, o->choices[i]) == 0) {
				copy = strdup(v);
				break;
			}
		}
		if (!copy) {
			size_t used = (size_t)snprintf(msg, msglen, "%s is not one of:", shown);
			for (size_t i = 0; o->choices[i] && used < msglen; i++)
				used += (size_t)snprintf(msg + used, msglen - used, " %s",
							 o->choices[i]);
			return false;
		}
		break;
	case OPT_FACILITY:
		if (log_facility_from_name(v) < 0) {
			snprintf(msg, msglen, "%s is not a syslog facility "
				 "(daemon, user, local0 ... local7, ...)", shown);
			return false;
		}
		copy = strdup(v);
		break;
	case OPT_DBURL:
		copy = config_normalize_db_url(v);
		break;
	case OPT_URLPATH:
		if (v[0] != '\0' && v[0] != '/') {
			snprintf(msg, msglen, "%s must be empty or start with '/'", shown);
			return false;
		}
		copy = normalize_urlpath(v);
		break;
	case OPT_STRING:
		copy = strdup(v);
		break;
	case OPT_BOOL:
		if (!parse_bool(v, &b)) {
			snprintf(msg, msglen, "%s is not a boolean (true/false, yes/no, on/off, 1/0)",
				 shown);
			return false;
		}
		*(bool *)field_of(cfg, o) = b;
		return true;
	case OPT_INT:
		if (!parse_long(v, &n)) {
			snprintf(msg, msglen, "%s is not an integer", shown);
			return false;
		}
		break;
	case OPT_SIZE:
		if (!parse_size(v, o->max, &n)) {
			snprintf(msg, msglen, "%s is not a size (bytes, or with K, KiB, M, MiB, G, GiB)",
				 shown);
			return false;
		}
		break;
	case OPT_SECONDS:
		if (!parse_duration(v, 1000, o->max, &n)) {
			snprintf(msg, msglen, "%s is not a whole number of seconds "
				 "(30, 30s, 5m, 1h)", shown);
			return false;
		}
		break;
	case OPT_MSEC:
		if (!parse_duration(v, 1, o->max, &n)) {
			snprintf(msg, msglen, "%s is not a duration in milliseconds "
				 "(500, 500ms, 2s, 1m)", shown);
			return false;
		}
		break;
	}

	if (is_string_type(o->type)) {
		char **field = field_of(cfg, o);

		if (!copy) {
			snprintf(msg, msglen, "out of memory");
			return false;
		}
		free(*field);
		*field = copy;
		return true;
	}
	if (n < o->min || n > o->max) {
		snprintf(msg, msglen, "%s is out of range (%ld to %ld%s)", shown, o->min, o->max,
			 o->type == OPT_SIZE ? " bytes" :
			 o->type == OPT_SECONDS ? " seconds" :
			 o->type == OPT_MSEC ? " milliseconds" : "");
		return false;
	}
	if (o->type == OPT_SIZE)
		*(long *)field_of(cfg, o) = n;
	else
		*(int *)field_of(cfg, o) = (int)n;
	return true;
}

static const struct config_option *option_find(const char *section, const char *key)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (strcmp(config_options[i].section, section) == 0 &&
		    strcmp(config_options[i].key, key) == 0)
			return &config_options[i];
	}
	return NULL;
}

/* Writes "path:line: message" into the loader's err. */
static bool file_error(struct loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool file_error(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ld->err || ld->errlen == 0)
		return false;
	n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, line);
	if (n < 0 || (size_t)n >= ld->errlen)
		return false;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = '\0';
	return s;
}

/* Cuts a comment off s: ';' or '#' at the start or after a blank. */
static void strip_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if ((*p == ';' || *p == '#') && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

/* True when what follows a closing quote is blanks, then the end or a
 * comment. */
static bool only_comment_after(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0' || *p == ';' || *p == '#';
}

/* Parses the value part of a line in place (s starts after '='). A value
 * in double quotes ends at the first quote followed only by blanks or a
 * comment, so it may hold quotes, ';' and '#'; there are no escapes. */
static bool parse_value(char *s, char **value, const char **problem)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '"') {
		for (char *q = s + 1; *q; q++) {
			if (*q == '"' && only_comment_after(q + 1)) {
				*q = '\0';
				*value = s + 1;
				return true;
			}
		}
		*problem = "unterminated quoted value";
		return false;
	}
	strip_comment(s);
	*value = trim(s);
	return true;
}

static bool valid_subscription_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SUBSCRIPTION_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

static bool valid_key(const char *key)
{
	if (!*key)
		return false;
	for (const char *p = key; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	}
	return true;
}

/* Appends a new subscription called name (copied); NULL when out of memory. */
static struct config_subscription *subscription_add(struct es_config *cfg, const char *name)
{
	struct config_subscription *arr, *s;

	arr = realloc(cfg->subscriptions, (cfg->n_subscriptions + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	cfg->subscriptions = arr;
	s = &arr[cfg->n_subscriptions];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	if (!s->name)
		return NULL;
	cfg->n_subscriptions++;
	return s;
}

static bool subscription_put(struct config_subscription *s, const char *key, const char *value,
			     int line)
{
	struct config_kv *arr, *kv;

	arr = realloc(s->items, (s->n_items + 1) * sizeof(*arr));
	if (!arr)
		return false;
	s->items = arr;
	kv = &arr[s->n_items];
	kv->key = strdup(key);
	kv->value = strdup(value);
	kv->line = line;
	if (!kv->key || !kv->value) {
		free(kv->key);
		free(kv->value);
		return false;
	}
	s->n_items++;
	return true;
}

/* Handles "[name]" or "[subscription NAME]" (inner is what is between the
 * brackets). *section and *sub tell the caller where keys now go. */
static bool parse_section(struct loader *ld, int line, char *inner, const char **section,
			  struct config_subscription **sub)
{
	struct es_config *cfg = ld->cfg;
	char *name;

	inner = trim(inner);
	*sub = NULL;
	*section = NULL;
	if (strncmp(inner, "subscription", 12) == 0 &&
	    (inner[12] == ' ' || inner[12] == '\t' || inner[12] == '\0')) {
		name = trim(inner + 12);
		if (!valid_subscription_name(name))
			return file_error(ld, line, "a subscription needs a name of 1 to %d "
					  "letters, digits, '_', '-' or '.': [subscription NAME]",
					  SUBSCRIPTION_NAME_MAX);
		for (size_t i = 0; i < cfg->n_subscriptions; i++) {
			if (strcmp(cfg->subscriptions[i].name, name) == 0)
				return file_error(ld, line, "subscription '%s' is defined twice",
						  name);
		}
		*sub = subscription_add(cfg, name);
		if (!*sub)
			return file_error(ld, line, "out of memory");
		*section = "subscription";
		return true;
	}
	for (size_t i = 0; config_sections[i]; i++) {
		if (strcmp(config_sections[i], inner) == 0) {
			*section = config_sections[i];
			return true;
		}
	}
	return file_error(ld, line, "unknown section [%.64s]", inner);
}

/* One "key = value" line (comment and newline already gone from the raw
 * text, except inside quotes). */
static bool parse_assignment(struct loader *ld, int line, char *text, const char *section,
			     struct config_subscription *sub)
{
	const struct config_option *o;
	const char *problem = NULL;
	char *eq, *key, *value;
	char msg[256];
	size_t idx;

	eq = strchr(text, '=');
	if (!eq) {
		strip_comment(text);
		return file_error(ld, line, "expected 'key = value', '[section]' or a comment");
	}
	*eq = '\0';
	key = trim(text);
	if (!valid_key(key))
		return file_error(ld, line, "expected 'key = value' (a key is letters, "
				  "digits and '_')");
	if (!section)
		return file_error(ld, line, "key '%.64s' before any [section]", key);
	if (!parse_value(eq + 1, &value, &problem))
		return file_error(ld, line, "%s", problem);

	if (sub) {
		for (size_t i = 0; i < sub->n_items; i++) {
			if (strcmp(sub->items[i].key, key) == 0)
				return file_error(ld, line, "'%s' is set twice in [subscription %s] "
						  "(first on line %d)", key, sub->name,
						  sub->items[i].line);
		}
		if (!subscription_put(sub, key, value, line))
			return file_error(ld, line, "out of memory");
		return true;
	}
	o = option_find(section, key);
	if (!o)
		return file_error(ld, line, "unknown key '%.64s' in [%s]", key, section);
	idx = (size_t)(o - config_options);
	if (ld->origin[idx].line)
		return file_error(ld, line, "'%s' is set twice in [%s] (first on line %d)", key,
				  section, ld->origin[idx].line);
	if (!option_set(ld->cfg, o, value, msg, sizeof(msg)))
		return file_error(ld, line, "%s.%s: %s", section, key, msg);
	ld->origin[idx].line = line;
	return true;
}

/* Reads the INI file f line by line into ld->cfg. */
static bool parse_file(struct loader *ld, FILE *f)
{
	const char *section = NULL;
	struct config_subscription *sub = NULL;
	char *buf = NULL, *s, *close;
	size_t cap = 0, n;
	ssize_t len;
	int line = 0;
	bool ok = false;

	while ((len = getline(&buf, &cap, f)) >= 0) {
		line++;
		n = (size_t)len;
		if (strlen(buf) != n) {
			file_error(ld, line, "NUL byte in the file");
			goto out;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		s = buf;
		if (line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3; /* a UTF-8 byte order mark from some editors */
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			strip_comment(s);
			s = trim(s);
			close = s + strlen(s) - 1;
			if (close <= s || *close != ']') {
				file_error(ld, line, "a section header is '[name]'");
				goto out;
			}
			*close = '\0';
			if (!parse_section(ld, line, s + 1, &section, &sub))
				goto out;
			continue;
		}
		if (!parse_assignment(ld, line, s, section, sub))
			goto out;
	}
	if (ferror(f)) {
		file_error(ld, line + 1, "read error: %s", strerror(errno));
		goto out;
	}
	ok = true;
out:
	free(buf);
	return ok;
}

/* "EVSTORE_" + SECTION + "_" + KEY in upper case. */
static void env_name(const struct config_option *o, char *buf, size_t len)
{
	size_t i;

	snprintf(buf, len, "EVSTORE_%s_%s", o->section, o->key);
	for (i = 0; buf[i]; i++)
		buf[i] = (char)toupper((unsigned char)buf[i]);
}

static bool env_error(struct loader *ld, const char *name, const char *msg)
{
	if (ld->err && ld->errlen)
		snprintf(ld->err, ld->errlen, "%s: %s", name, msg);
	return false;
}

/* Applies DATABASE_URL, then every EVSTORE_<SECTION>_<KEY> that is set. */
static bool apply_env(struct loader *ld)
{
	const struct config_option *url = option_find("database", "url");
	char name[96], msg[256];
	const char *v;

	v = getenv("DATABASE_URL");
	if (v && *v) {
		if (strpbrk(v, "\r\n"))
			return env_error(ld, "DATABASE_URL", "the value contains a line break");
		if (!option_set(ld->cfg, url, v, msg, sizeof(msg)))
			return env_error(ld, "DATABASE_URL", msg);
		ld->origin[url - config_options].env = true;
	}
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct config_option *o = &config_options[i];

		env_name(o, name, sizeof(name));
		v = getenv(name);
		if (!v)
			continue;
		if (strpbrk(v, "\r\n"))
			return env_error(ld, name, "the value contains a line break");
		if (!option_set(ld->cfg, o, v, msg, sizeof(msg)))
			return env_error(ld, name, msg);
		ld->origin[i].env = true;
	}
	return true;
}

/* Reports a relation between two options that does not hold, located at
 * the one set last: an environment variable, else the later file line. */
static bool relation_error(struct loader *ld, size_t a, size_t b, long va, long vb,
			   const char *rel)
{
	const struct config_option *oa = &config_options[a], *ob = &config_options[b];
	char where[128];
	size_t at;

	if (ld->origin[a].env || ld->origin[b].env)
		at = ld->origin[a].env ? a : b;
	else
		at = ld->origin[a].line > ld->origin[b].line ? a : b;

	if (ld->origin[at].env)
		env_name(&config_options[at], where, sizeof(where));
	else if (ld->origin[at].line)
		snprintf(where, sizeof(where), "%s:%d", ld->path, ld->origin[at].line);
	else
		snprintf(where, sizeof(where), "%s", ld->path ? ld->path : "defaults");
	if (ld->err && ld->errlen)
		snprintf(ld->err, ld->errlen, "%s: %s.%s (%ld) %s %s.%s (%ld)", where,
			 oa->section, oa->key, va, rel, ob->section, ob->key, vb);
	return false;
}

/* The pairs that must be ordered (lo <= hi). When only one of a pair was
 * set, the other follows it (max_page = 50 lowers the default page size to
 * 50); when both were set and disagree, that is an error. */
static bool check_relations(struct loader *ld)
{
	static const struct { const char *section, *lo, *hi; } pairs[] = {
		{ "http", "default_page", "max_page" },
		{ "health", "errors_warn", "errors_critical" },
		{ "health", "lag_warn", "lag_critical" },
		{ "health", "dlq_warn", "dlq_critical" },
		{ "runner", "drain_timeout", "shutdown_timeout" },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const struct config_option *lo = option_find(pairs[i].section, pairs[i].lo);
		const struct config_option *hi = option_find(pairs[i].section, pairs[i].hi);
		size_t ilo = (size_t)(lo - config_options), ihi = (size_t)(hi - config_options);
		int *vlo = field_of(ld->cfg, lo), *vhi = field_of(ld->cfg, hi);
		bool lo_set = ld->origin[ilo].line || ld->origin[ilo].env;
		bool hi_set = ld->origin[ihi].line || ld->origin[ihi].env;

		if (*vlo <= *vhi)
			continue;
		if (!lo_set)
			*vlo = *vhi;
		else if (!hi_set)
			*vhi = *vlo;
		else
			return relation_error(ld, ilo, ihi, *vlo, *vhi, "is larger than");
	}
	return true;
}

static bool apply_defaults(struct loader *ld)
{
	char msg[256];

	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (!option_set(ld->cfg, &config_options[i], config_options[i].def, msg,
				sizeof(msg))) {
			if (ld->err && ld->errlen)
				snprintf(ld->err, ld->errlen, "built-in default of %s.%s: %s",
					 config_options[i].section, config_options[i].key, msg);
			return false;
		}
	}
	return true;
}

/* cfg is overwritten (not freed first). On false it holds nothing. */
bool config_load(struct es_config *cfg, const char *path, char *err, size_t errlen)
{
	struct loader ld;
	const char *file = path ? path : CONFIG_DEFAULT_PATH;
	FILE *f = NULL;
	bool ok = false;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ld, 0, sizeof(ld));
	ld.cfg = cfg;
	ld.err = err;
	ld.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';

	if (!apply_defaults(&ld))
		goto out;

	f = fopen(file, "re");
	if (!f && !(path == NULL && errno == ENOENT)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		goto out;
	}
	if (f) {
		cfg->source_path = strdup(file);
		if (!cfg->source_path) {
			if (err && errlen)
				snprintf(err, errlen, "%s: out of memory", file);
			goto out;
		}
		ld.path = cfg->source_path;
		if (!parse_file(&ld, f))
			goto out;
	}
	if (!apply_env(&ld))
		goto out;
	if (!check_relations(&ld))
		goto out;
	ok = true;
out:
	if (f)
		fclose(f);
	if (!ok)
		config_free(cfg);
	return ok;
}

/* Frees every string and subscription cfg owns and zeroes it; NULL and a
 * zeroed struct are fine. */
void config_free(struct es_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (is_string_type(config_options[i].type))
			free(*(char **)field_of(cfg, &config_options[i]));
	}
	for (size_t i = 0; i < cfg->n_subscriptions; i++) {
		struct config_subscription *s = &cfg->subscriptions[i];

		for (size_t j = 0; j < s->n_items; j++) {
			free(s->items[j].key);
			free(s->items[j].value);
		}
		free(s->items);
		free(s->name);
	}
	free(cfg->subscriptions);
	free(cfg->source_path);
	memset(cfg, 0, sizeof(*cfg));
}

/* Returns a new string; see config.h. A string that is not a URI with a
 * "scheme+driver://" prefix is copied unchanged. */
char *config_normalize_db_url(const char *url)
{
	const char *sep = strstr(url, "://"), *plus = NULL;
	size_t i;
	char *out;

	if (!sep || sep == url || !isalpha((unsigned char)url[0]))
		return strdup(url);
	for (i = 0; url + i < sep; i++) {
		char c = url[i];
		if (!isalnum((unsigned char)c) && c != '+' && c != '-' && c != '.')
			return strdup(url); /* "host=x options='a://b'" is no URI */
		if (c == '+' && !plus)
			plus = url + i;
	}
	if (!plus)
		return strdup(url);
	out = malloc(strlen(url) + 1);
	if (!out)
		return NULL;
	memcpy(out, url, (size_t)(plus - url));
	strcpy(out + (plus - url), sep);
	return out;
}

/* Returns a new string: url with the password parts replaced by "***":
 * the userinfo password and password= query parameters of a URI, or the
 * password keyword of a key=value string. NULL when memory runs out. */
static char *mask_db_url(const char *url)
{
	const char *p = url, *sep = strstr(url, "://");
	struct sbuf b = SBUF_INIT;

	if (sep && !strpbrk(url, " \t")) {
		const char *auth = sep + 3, *auth_end = auth + strcspn(auth, "/?#");
		const char *at = NULL, *colon;

		for (const char *q = auth; q < auth_end; q++) {
			if (*q == '@')
				at = q;
		}
		colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon) {
			sbuf_append(&b, url, (size_t)(colon + 1 - url));
			sbuf_puts(&b, "***");
			p = at;
		}
		while (*p) {
			bool param_start = p > url && (p[-1] == '?' || p[-1] == '&');

			if (param_start && strncmp(p, "password=", 9) == 0) {
				sbuf_puts(&b, "password=***");
				p += 9 + strcspn(p + 9, "&#");
				continue;
			}
			sbuf_putc(&b, *p++);
		}
		goto out;
	}
	while (*p) {
		const char *kstart = p, *kend, *v;

		if (*p == ' ' || *p == '\t') {
			sbuf_putc(&b, *p++);
			continue;
		}
		kend = kstart;
		while (*kend && *kend != '=' && *kend != ' ' && *kend != '\t')
			kend++;
		v = kend;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=') {
			sbuf_append(&b, kstart, (size_t)(v - kstart));
			p = v;
			continue;
		}
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		sbuf_append(&b, kstart, (size_t)(v - kstart));
		p = v;
		if (*p == '\'') {
			/* libpq's quoting: 'it\'s' */
			for (p++; *p && *p != '\''; p++) {
				if (*p == '\\' && p[1])
					p++;
			}
			if (*p == '\'')
				p++;
		} else {
			while (*p && *p != ' ' && *p != '\t')
				p++;
		}
		if (kend - kstart == 8 && strncmp(kstart, "password", 8) == 0)
			sbuf_puts(&b, "***");
		else
			sbuf_append(&b, v, (size_t)(p - v));
	}
out:
	if (b.failed) {
		sbuf_free(&b);
		return NULL;
	}
	if (!b.data)
		return strdup("");
	return b.data;
}

/* True when v must be quoted to read back as itself. */
static bool needs_quotes(const char *v)
{
	size_t n = strlen(v);

	if (n == 0)
		return false;
	if (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t' || v[0] == '"' ||
	    v[0] == ';' || v[0] == '#')
		return true;
	for (size_t i = 1; i < n; i++) {
		if ((v[i] == ';' || v[i] == '#') && (v[i - 1] == ' ' || v[i - 1] == '\t'))
			return true;
	}
	return false;
}

static void print_kv(FILE *out, const char *key, const char *v)
{
	if (needs_quotes(v))
		fprintf(out, "%s = \"%s\"\n", key, v);
	else if (*v)
		fprintf(out, "%s = %s\n", key, v);
	else
		fprintf(out, "%s =\n", key);
}

/* Borrows cfg. Each key comes with its help as a comment; sizes are
 * printed in bytes and durations as plain numbers in the key's unit, which
 * read back as the same values. */
void config_print(const struct es_config *cfg, FILE *out)
{
	char num[32];

	fprintf(out, "# evstore configuration in effect%s%s\n",
		cfg->source_path ? ", read from " : " (no file read)",
		cfg->source_path ? cfg->source_path : "");
	for (size_t s = 0; config_sections[s]; s++) {
		fprintf(out, "%s[%s]\n", s ? "\n" : "", config_sections[s]);
		for (size_t i = 0; i < N_OPTIONS; i++) {
			const struct config_option *o = &config_options[i];
			const void *f = cfield_of(cfg, o);

			if (strcmp(o->section, config_sections[s]) != 0)
				continue;
			fprintf(out, "# %s\n", o->help);
			switch (o->type) {
			case OPT_DBURL: {
				const char *v = *(char *const *)f ? *(char *const *)f : "";
				char *masked = mask_db_url(v);

				print_kv(out, o->key, masked ? masked : "***");
				free(masked);
				break;
			}
			case OPT_STRING:
			case OPT_CHOICE:
			case OPT_FACILITY:
			case OPT_URLPATH:
				print_kv(out, o->key, *(char *const *)f ? *(char *const *)f : "");
				break;
			case OPT_BOOL:
				print_kv(out, o->key, *(const bool *)f ? "true" : "false");
				break;
			case OPT_SIZE:
				snprintf(num, sizeof(num), "%ld", *(const long *)f);
				print_kv(out, o->key, num);
				break;
			case OPT_INT:
			case OPT_SECONDS:
			case OPT_MSEC:
				snprintf(num, sizeof(num), "%d", *(const int *)f);
				print_kv(out, o->key, num);
				break;
			}
		}
	}
	for (size_t i = 0; i < cfg->n_subscriptions; i++) {
		const struct config_subscription *sub = &cfg->subscriptions[i];

		fprintf(out, "\n[subscription %s]\n", sub->name);
		for (size_t j = 0; j < sub->n_items; j++)
			print_kv(out, sub->items[j].key, sub->items[j].value);
	}
}
