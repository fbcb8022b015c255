/* config.c - evstore.conf. One table (config_options below) says, for each
 * key, its section, type, field, default and help; defaults, the INI file,
 * the EVSTORE_<SECTION>_<KEY> environment and config_print all walk it, so
 * a key added there is parsed, overridable and printed everywhere at once.
 * Values are parsed by confval.c (defaults too, written as text), the
 * grammar [subscription NAME] keys share; such sections are kept here as
 * raw pairs with their lines for subs/subscription.c. */
#include "buildconf.h"
#include "base/config.h"
#include "base/confval.h"
#include "base/conninfo.h"
#include "base/log.h"
#include "base/text.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const log_targets[] = { "syslog", "stderr", NULL };
static const char *const log_levels[] = { "debug", "info", "notice", "warning", "error", NULL };
static const char *const poolings[] = { "session", "transaction", NULL };
static const char *const jwt_algorithms[] = {
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", NULL
};

/* A syslog facility name, kept as written. */
static char *facility_convert(const char *v, const char **why)
{
	*why = NULL;
	if (log_facility_from_name(v) < 0) {
		*why = "is not a syslog facility (daemon, user, local0 ... local7, ...)";
		return NULL;
	}
	return strdup(v);
}

/* "" or "/prefix", kept without trailing slashes ("/" becomes ""). */
static char *urlpath_convert(const char *v, const char **why)
{
	size_t n = strlen(v);

	*why = NULL;
	if (v[0] != '\0' && v[0] != '/') {
		*why = "must be empty or start with '/'";
		return NULL;
	}
	while (n > 0 && v[n - 1] == '/')
		n--;
	return strndup(v, n);
}

static config_conninfo_check_fn conninfo_check;

void config_set_conninfo_check(config_conninfo_check_fn check)
{
	conninfo_check = check;
}

/* A libpq URI or key=value string, "+driver" dropped from a URI's scheme,
 * that the conninfo check (libpq's parser) accepts. */
static char *dburl_convert(const char *v, const char **why)
{
	static char because[320];
	char *url = conninfo_normalize(v);
	const char *problem = url && conninfo_check ? conninfo_check(url) : NULL;

	*why = NULL;
	if (problem) {
		snprintf(because, sizeof because, "is not a libpq connection string: %s", problem);
		*why = because;
		free(url);
		return NULL;
	}
	return url;
}

#define F(field) offsetof(struct es_config, field)
#define TEXT(s, k, f, d, h) \
	{ .section = s, .key = k, .type = CONFVAL_TEXT, .offset = F(f), .def = d, .help = h }
#define CHOICE(s, k, f, d, c, h) \
	{ .section = s, .key = k, .type = CONFVAL_CHOICE, .offset = F(f), .def = d, \
	  .choices = c, .help = h }
#define INT(s, k, f, d, lo, hi, h) \
	{ .section = s, .key = k, .type = CONFVAL_INT, .offset = F(f), .def = d, .min = lo, \
	  .max = hi, .help = h }
#define BOOL(s, k, f, d, h) \
	{ .section = s, .key = k, .type = CONFVAL_BOOL, .offset = F(f), .def = d, .help = h }
/* A duration whose field, and a bare number, count seconds (or ms). */
#define SECONDS(s, k, f, d, lo, hi, h) \
	{ .section = s, .key = k, .type = CONFVAL_DURATION, .offset = F(f), .def = d, \
	  .min = lo, .max = hi, .unit_ms = 1000, .store_ms = 1000, .help = h }
#define MSEC(s, k, f, d, lo, hi, h) \
	{ .section = s, .key = k, .type = CONFVAL_DURATION, .offset = F(f), .def = d, \
	  .min = lo, .max = hi, .unit_ms = 1, .store_ms = 1, .help = h }

static const struct confval_option config_options[] = {
	{ .section = "database", .key = "url", .type = CONFVAL_TEXT, .offset = F(database.url),
	  .def = "", .convert = dburl_convert, .show = conninfo_mask_password,
	  .help = "libpq connection URI or key=value string; empty: libpq defaults and PG* variables" },
	{ .section = "database", .key = "read_url", .type = CONFVAL_TEXT,
	  .offset = F(database.read_url), .def = "", .convert = dburl_convert,
	  .show = conninfo_mask_password,
	  .help = "a hot standby for stream reads, state and feed pages; empty: every read on url" },
	CHOICE("database", "pooling", database.pooling, "session", poolings,
	       "how url reaches PostgreSQL: session (directly, or a pooler in session mode) or "
	       "transaction (pgbouncer's pool_mode = transaction; not for evstore-runner)"),
	MSEC("database", "read_wait_ms", database.read_wait_ms, "200", 0, 10000,
	     "how long a read that carries a consistency token waits for the standby before the primary serves it"),
	SECONDS("database", "connect_timeout", database.connect_timeout, "2", 0, 3600,
		"seconds allowed for one connection attempt (0: wait forever)"),
	MSEC("database", "statement_timeout_ms", database.statement_timeout_ms, "0", 0, 86400000,
	     "statement_timeout set on each connection, in milliseconds (0: the server's default)"),

	{ .section = "http", .key = "base_path", .type = CONFVAL_TEXT, .offset = F(http.base_path),
	  .def = "", .convert = urlpath_convert,
	  .help = "URL prefix stripped from REQUEST_URI before routing (\"\" or \"/prefix\")" },
	{ .section = "http", .key = "max_body_bytes", .type = CONFVAL_SIZE,
	  .offset = F(http.max_body_bytes), .def = "1MiB", .min = 1, .max = 1L << 30,
	  .help = "largest request body accepted; larger is 413" },
	INT("http", "max_events", http.max_events, "1000", 1, 1000000,
	    "most events in one append; more is 413"),
	INT("http", "max_depth", http.max_depth, "64", 1, 10000,
	    "deepest JSON nesting accepted, counted over the whole body"),
	INT("http", "default_page", http.default_page, "100", 1, 1000000,
	    "page size when a request gives no limit"),
	INT("http", "max_page", http.max_page, "1000", 1, 1000000,
	    "largest page size; larger limits are clamped"),
	{ .section = "http", .key = "max_page_bytes", .type = CONFVAL_SIZE,
	  .offset = F(http.max_page_bytes), .def = "4MiB", .min = 64L << 10, .max = 1L << 30,
	  .help = "a page of events stops before this many bytes of events (it holds at least one)" },
	SECONDS("http", "max_wait", http.max_wait, "30", 0, 3600,
		"longest long-poll of the feed in seconds (wait=N is clamped to this)"),
	INT("http", "max_waiters", http.max_waiters, "1024", 1, 1000000,
	    "long polls a pool's waiter process holds at once; more are answered at once"),
	BOOL("http", "health_requires_auth", http.health_requires_auth, "false",
	     "require a token for /health and /health/subscriptions/NAME"),
	SECONDS("http", "retry_after", http.retry_after, "1", 0, 3600,
		"seconds sent in Retry-After with a 503"),
	SECONDS("http", "drain_delay", http.drain_delay, "5", 0, 3600,
		"seconds the pool answers /health/ready with 503 after SIGTERM before it stops (0: none)"),
	INT("http", "workers", http.workers, "0", 0, 1024,
	    "evstore-fcgi worker processes (0: with --listen one per CPU, on a handed socket the "
	    "process alone); --workers overrides it"),

	CHOICE("jwt", "algorithm", jwt.algorithm, "HS256", jwt_algorithms,
	       "the only signature algorithm accepted"),
	TEXT("jwt", "key_file", jwt.key_file, "",
	     "HMAC secret (at least 32 bytes) or PEM public key"),
	TEXT("jwt", "keys_dir", jwt.keys_dir, "",
	     "directory of keys, each file named by its kid"),
	TEXT("jwt", "issuer", jwt.issuer, "", "required iss claim when set"),
	TEXT("jwt", "audience", jwt.audience, "", "required aud claim when set"),
	SECONDS("jwt", "leeway", jwt.leeway, "30", 0, 3600,
		"clock skew allowed for exp, nbf and iat, in seconds"),
	SECONDS("jwt", "max_lifetime", jwt.max_lifetime, "0", 0, 315360000,
		"refuse tokens whose exp lies further ahead of now than this (0: no bound)"),
	TEXT("jwt", "tenant_claim", jwt.tenant_claim, "tenant_id",
	     "claim holding the tenant UUID"),
	BOOL("jwt", "require_tenant", jwt.require_tenant, "false",
	     "refuse tokens without the tenant claim (403)"),

	TEXT("aggregates", "dir", aggregates.dir, SYSCONFDIR "/evstore/aggregates.d",
	     "directory of aggregate definition files (*.json)"),

	TEXT("privacy", "master_key_file", privacy.master_key_file, "",
	     "file of 64 hex digits (owner-only) wrapping the data subjects' keys; empty: no personal data"),
	TEXT("privacy", "previous_master_key_file", privacy.previous_master_key_file, "",
	     "the master key being rotated away from: still opens the keys it wrapped; empty: none"),

	INT("health", "error_rate_per_min", health.error_rate_per_min, "10", 0, INT_MAX,
	    "a subscription failing more often per minute is degraded"),
	INT("health", "errors_warn", health.errors_warn, "10", 0, INT_MAX,
	    "failed events making a subscription degraded"),
	INT("health", "errors_critical", health.errors_critical, "100", 0, INT_MAX,
	    "failed events making a subscription unhealthy"),
	INT("health", "lag_warn", health.lag_warn, "1000", 0, INT_MAX,
	    "events behind making a subscription degraded"),
	INT("health", "lag_critical", health.lag_critical, "10000", 0, INT_MAX,
	    "events behind making a subscription unhealthy"),
	INT("health", "dlq_warn", health.dlq_warn, "10", 0, INT_MAX,
	    "parked events making a subscription degraded"),
	INT("health", "dlq_critical", health.dlq_critical, "100", 0, INT_MAX,
	    "parked events making a subscription unhealthy"),
	SECONDS("health", "runner_stale_after", health.runner_stale_after, "15", 1, 86400,
		"seconds after which a runner heartbeat makes its subscriptions unhealthy"),
	SECONDS("health", "transaction_age_warn", health.transaction_age_warn, "300", 1, 86400 * 7,
		"an open transaction older than this holds the feed back: evstorectl check warns"),
	SECONDS("health", "transaction_age_critical", health.transaction_age_critical, "3600", 1,
		86400 * 7, "an open transaction older than this: evstorectl check fails"),

	INT("deployment", "hosts", deployment.hosts, "1", 1, 100000,
	    "evstore-fcgi hosts sharing the database, for the connection budget"),
	INT("deployment", "runners", deployment.runners, "1", 0, 100000,
	    "evstore-runner processes sharing the database (two connections each)"),
	INT("deployment", "spare_connections", deployment.spare_connections, "5", 0, 100000,
	    "connections kept for evstorectl, psql, monitoring and backups"),

	BOOL("metrics", "require_auth", metrics.require_auth, "true",
	     "GET /metrics needs an admin token; false leaves access to the web server's address rules"),

	CHOICE("log", "target", log.target, "syslog", log_targets,
	       "where log records go: syslog or stderr"),
	CHOICE("log", "level", log.level, "info", log_levels,
	       "least severe level kept: debug, info, notice, warning, error"),
	{ .section = "log", .key = "facility", .type = CONFVAL_TEXT, .offset = F(log.facility),
	  .def = "daemon", .convert = facility_convert,
	  .help = "syslog facility of ordinary records" },
	{ .section = "log", .key = "audit_facility", .type = CONFVAL_TEXT,
	  .offset = F(log.audit_facility), .def = "local5", .convert = facility_convert,
	  .help = "syslog facility of audit records" },
	TEXT("log", "socket", log.socket, "",
	     "unix datagram socket taking the syslog records (containers, chroots); empty: /dev/log"),

	SECONDS("runner", "shutdown_timeout", runner.shutdown_timeout, "30", 1, 3600,
		"longest orderly shutdown before it is forced, in seconds"),
	SECONDS("runner", "drain_timeout", runner.drain_timeout, "10", 0, 3600,
		"longest wait for in-flight events at shutdown, in seconds"),
	MSEC("runner", "poll_interval_ms", runner.poll_interval_ms, "500", 10, 3600000,
	     "fallback poll interval when no notification arrives, in milliseconds"),
};

#define N_OPTIONS (sizeof(config_options) / sizeof(config_options[0]))

/* The sections in the order they are printed. */
static const char *const config_sections[] = {
	"database", "http", "jwt", "aggregates", "privacy", "health", "metrics", "deployment", "log",
	"runner", NULL
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

static const struct confval_option *option_find(const char *section, const char *key)
{
	return confval_find(config_options, N_OPTIONS, section, key);
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
	const struct confval_option *o;
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
	if (!confval_set(o, ld->cfg, value, msg, sizeof(msg)))
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
static void env_name(const struct confval_option *o, char *buf, size_t len)
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
	const struct confval_option *url = option_find("database", "url");
	char name[96], msg[256];
	const char *v;

	v = getenv("DATABASE_URL");
	if (v && *v) {
		if (strpbrk(v, "\r\n"))
			return env_error(ld, "DATABASE_URL", "the value contains a line break");
		if (!confval_set(url, ld->cfg, v, msg, sizeof(msg)))
			return env_error(ld, "DATABASE_URL", msg);
		ld->origin[url - config_options].env = true;
	}
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct confval_option *o = &config_options[i];

		env_name(o, name, sizeof(name));
		v = getenv(name);
		if (!v)
			continue;
		if (strpbrk(v, "\r\n"))
			return env_error(ld, name, "the value contains a line break");
		if (!confval_set(o, ld->cfg, v, msg, sizeof(msg)))
			return env_error(ld, name, msg);
		ld->origin[i].env = true;
	}
	return true;
}

/* The variable of config_options (or EVSTORE_CONFIG) nearest to name by
 * edit distance, written into buf. */
static void env_closest(const char *name, char *buf, size_t len)
{
	size_t best;
	char known[96];

	snprintf(buf, len, "EVSTORE_CONFIG");
	best = text_edit_distance(name, buf);
	for (size_t i = 0; i < N_OPTIONS; i++) {
		size_t d;

		env_name(&config_options[i], known, sizeof(known));
		d = text_edit_distance(name, known);
		if (d < best) {
			best = d;
			snprintf(buf, len, "%s", known);
		}
	}
}

/* True when name (up to '=') is EVSTORE_CONFIG or an option's variable. */
static bool env_known(const char *name)
{
	char known[96];

	if (strcmp(name, "EVSTORE_CONFIG") == 0)
		return true;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		env_name(&config_options[i], known, sizeof(known));
		if (strcmp(name, known) == 0)
			return true;
	}
	return false;
}

size_t config_unknown_env(void (*warn)(const char *name, const char *closest, void *arg),
			  void *arg)
{
	extern char **environ;
	char name[128], closest[96];
	size_t count = 0;

	for (char **e = environ; e && *e; e++) {
		size_t n = strcspn(*e, "=");

		if (strncmp(*e, "EVSTORE_", 8) != 0 || n >= sizeof(name))
			continue;
		memcpy(name, *e, n);
		name[n] = '\0';
		if (env_known(name))
			continue;
		env_closest(name, closest, sizeof(closest));
		warn(name, closest, arg);
		count++;
	}
	return count;
}

static void warn_unknown_env(const char *name, const char *closest, void *arg)
{
	(void)arg;
	log_kv(LOG_WARNING, "unknown_environment_variable", "name", name, "closest_known", closest,
	       "action", "ignored: no configuration key has this name", NULL);
}

void config_warn_unknown_env(void)
{
	(void)config_unknown_env(warn_unknown_env, NULL);
}

/* Reports a relation between two options that does not hold, located at
 * the one set last: an environment variable, else the later file line. */
static bool relation_error(struct loader *ld, size_t a, size_t b, long va, long vb,
			   const char *rel)
{
	const struct confval_option *oa = &config_options[a], *ob = &config_options[b];
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
		const struct confval_option *lo = option_find(pairs[i].section, pairs[i].lo);
		const struct confval_option *hi = option_find(pairs[i].section, pairs[i].hi);
		size_t ilo = (size_t)(lo - config_options), ihi = (size_t)(hi - config_options);
		int *vlo = (int *)((char *)ld->cfg + lo->offset);
		int *vhi = (int *)((char *)ld->cfg + hi->offset);
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
	char msg[320];

	if (confval_set_defaults(config_options, N_OPTIONS, ld->cfg, msg, sizeof(msg)))
		return true;
	if (ld->err && ld->errlen)
		snprintf(ld->err, ld->errlen, "%s", msg);
	return false;
}

/* The file to read: --config, else $EVSTORE_CONFIG (a program a web server
 * starts through mod_fcgid or CGI gets no options, only an environment),
 * else the default. Only the default may be missing. */
static const char *config_file(const char *path, bool *may_be_missing)
{
	const char *env = getenv("EVSTORE_CONFIG");

	*may_be_missing = false;
	if (path)
		return path;
	if (env && *env)
		return env;
	*may_be_missing = true;
	return CONFIG_DEFAULT_PATH;
}

/* cfg is overwritten (not freed first). On false it holds nothing. */
bool config_load(struct es_config *cfg, const char *path, char *err, size_t errlen)
{
	struct loader ld;
	bool may_be_missing;
	const char *file = config_file(path, &may_be_missing);
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
	if (!f && !(may_be_missing && errno == ENOENT)) {
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
	confval_free(config_options, N_OPTIONS, cfg);
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

/* Borrows cfg. Each key comes with its help as a comment; sizes are
 * printed in bytes and durations as plain numbers in the key's unit, which
 * read back as the same values. */
void config_print(const struct es_config *cfg, FILE *out)
{
	fprintf(out, "# evstore configuration in effect%s%s\n",
		cfg->source_path ? ", read from " : " (no file read)",
		cfg->source_path ? cfg->source_path : "");
	for (size_t s = 0; config_sections[s]; s++) {
		fprintf(out, "%s[%s]\n", s ? "\n" : "", config_sections[s]);
		for (size_t i = 0; i < N_OPTIONS; i++) {
			if (strcmp(config_options[i].section, config_sections[s]) == 0)
				confval_print(&config_options[i], cfg, out);
		}
	}
}
