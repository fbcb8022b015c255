/* check_config.c - evstore.conf: defaults, the INI syntax, the environment,
 * DATABASE_URL, --print-config round trips, and the shipped sample and
 * documentation against the key table. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/conninfo.h"
#include "pg/pgconninfo.h"
#include "subs/subscription.h"
#include "test_helpers.h"


static char tmp_dir[256];
static char conf_path[300];

/* Each test runs in its own process (CK_FORK), so the directory and the
 * environment it changes do not leak into other tests. */
static void make_tmp_dir(void)
{
	test_dir_create(tmp_dir, sizeof(tmp_dir), "evstore-conf");
	snprintf(conf_path, sizeof(conf_path), "%s/evstore.conf", tmp_dir);
}

static void remove_tmp_dir(void)
{
	test_dir_remove(tmp_dir);
}

static void unset_env(void)
{
	extern char **environ;
	char name[128];

	/* the caller's shell may carry overrides; the tests need none */
	for (size_t i = 0; environ[i]; ) {
		const char *eq = strchr(environ[i], '=');
		size_t n = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);

		if (n < sizeof(name) && (strncmp(environ[i], "EVSTORE_", 8) == 0 ||
					 (n == 12 && strncmp(environ[i], "DATABASE_URL", 12) == 0))) {
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);
			continue;
		}
		i++;
	}
}

static void setup(void)
{
	unset_env();
	make_tmp_dir();
	config_set_conninfo_check(pgconninfo_problem); /* as every program does */
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void write_conf(const char *text)
{
	write_text(conf_path, text, strlen(text));
}

/* Returns config_print's output as a new string. */
static char *print_to_string(const struct es_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	config_print(cfg, f);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* Returns subscription_print_config's output (the global sections and the
 * subscriptions) as a new string. */
static char *print_all_to_string(const struct es_config *cfg)
{
	char *text = NULL, err[512] = "";
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(subscription_print_config(cfg, f, err, sizeof(err)) == ES_OK, "%s", err);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

/* Drops config_print's first line (a comment naming the source). */
static const char *body_of(const char *printed)
{
	const char *nl = strchr(printed, '\n');

	return nl ? nl + 1 : printed;
}

static void load_ok(struct es_config *cfg, const char *path)
{
	char err[512] = "";

	ck_assert_msg(config_load(cfg, path, err, sizeof(err)), "config_load: %s", err);
}

/* ---- defaults ------------------------------------------------------------ */

START_TEST(defaults_match_the_contract)
{
	struct es_config c;

	write_conf("");
	load_ok(&c, conf_path);
	ck_assert_str_eq(c.database.url, "");
	ck_assert_int_eq(c.database.connect_timeout, 2);
	ck_assert_int_eq(c.database.statement_timeout_ms, 0);
	ck_assert_str_eq(c.http.base_path, "");
	ck_assert_int_eq(c.http.max_body_bytes, 1048576);
	ck_assert_int_eq(c.http.max_events, 1000);
	ck_assert_int_eq(c.http.max_depth, 64);
	ck_assert_int_eq(c.http.default_page, 100);
	ck_assert_int_eq(c.http.max_page, 1000);
	ck_assert_int_eq(c.http.max_page_bytes, 4194304);
	ck_assert_int_eq(c.http.max_wait, 30);
	ck_assert(!c.http.health_requires_auth);
	ck_assert_int_eq(c.http.retry_after, 1);
	ck_assert_int_eq(c.http.drain_delay, 5);
	ck_assert_str_eq(c.jwt.algorithm, "HS256");
	ck_assert_str_eq(c.jwt.key_file, "");
	ck_assert_str_eq(c.jwt.keys_dir, "");
	ck_assert_str_eq(c.jwt.issuer, "");
	ck_assert_str_eq(c.jwt.audience, "");
	ck_assert_int_eq(c.jwt.leeway, 30);
	ck_assert_int_eq(c.jwt.max_lifetime, 0);
	ck_assert_str_eq(c.jwt.tenant_claim, "tenant_id");
	ck_assert(!c.jwt.require_tenant);
	ck_assert_str_eq(c.aggregates.dir, SYSCONFDIR "/evstore/aggregates.d");
	ck_assert_str_eq(c.privacy.master_key_file, "");
	ck_assert_str_eq(c.privacy.previous_master_key_file, "");
	ck_assert_int_eq(c.health.error_rate_per_min, 10);
	ck_assert_int_eq(c.health.errors_warn, 10);
	ck_assert_int_eq(c.health.errors_critical, 100);
	ck_assert_int_eq(c.health.lag_warn, 1000);
	ck_assert_int_eq(c.health.lag_critical, 10000);
	ck_assert_int_eq(c.health.dlq_warn, 10);
	ck_assert_int_eq(c.health.dlq_critical, 100);
	ck_assert_int_eq(c.health.runner_stale_after, 15);
	ck_assert(c.metrics.require_auth);
	ck_assert_str_eq(c.log.target, "syslog");
	ck_assert_str_eq(c.log.level, "info");
	ck_assert_str_eq(c.log.facility, "daemon");
	ck_assert_str_eq(c.log.audit_facility, "local5");
	ck_assert_int_eq(c.runner.shutdown_timeout, 30);
	ck_assert_int_eq(c.runner.drain_timeout, 10);
	ck_assert_int_eq(c.runner.poll_interval_ms, 500);
	ck_assert_uint_eq(c.n_subscriptions, 0);
	ck_assert_str_eq(c.source_path, conf_path);
	config_free(&c);
	ck_assert_ptr_null(c.database.url);
	config_free(&c); /* a freed (zeroed) struct can be freed again */
}
END_TEST

START_TEST(missing_explicit_file_is_an_error)
{
	struct es_config c;
	char err[512];

	ck_assert(!config_load(&c, conf_path, err, sizeof(err)));
	ck_assert_msg(strstr(err, conf_path) == err, "%s", err);
	ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
	ck_assert_ptr_null(c.database.url); /* released on failure */
}
END_TEST

START_TEST(missing_default_file_is_fine)
{
	struct es_config c;

	/* only meaningful where the build's default path is not installed */
	if (access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		return;
	setenv("EVSTORE_HTTP_MAX_PAGE", "500", 1);
	load_ok(&c, NULL);
	ck_assert_ptr_null(c.source_path);
	ck_assert_int_eq(c.http.max_page, 500);
	config_free(&c);
}
END_TEST

/* A process a web server starts (mod_fcgid, CGI) finds its file through
 * EVSTORE_CONFIG; --config still wins over it. */
START_TEST(evstore_config_names_the_file)
{
	struct es_config c;
	char other[600];

	write_conf("[http]\nmax_page = 71\n");
	setenv("EVSTORE_CONFIG", conf_path, 1);
	load_ok(&c, NULL);
	ck_assert_str_eq(c.source_path, conf_path);
	ck_assert_int_eq(c.http.max_page, 71);
	config_free(&c);

	snprintf(other, sizeof(other), "%s/other.conf", tmp_dir);
	write_text(other, "[http]\nmax_page = 72\n", 21);
	load_ok(&c, other);
	ck_assert_int_eq(c.http.max_page, 72);
	config_free(&c);
}
END_TEST

START_TEST(evstore_config_missing_file_is_an_error)
{
	struct es_config c;
	char err[512];

	setenv("EVSTORE_CONFIG", conf_path, 1);
	ck_assert(!config_load(&c, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, conf_path) == err, "%s", err);
	ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
}
END_TEST

/* ---- syntax -------------------------------------------------------------- */

static const struct { const char *text; const char *line; const char *why; } bad_files[] = {
	{ "[http]\nmax_page = abc\n", ":2: ", "'abc' is not an integer" },
	{ "[nosuch]\n", ":1: ", "unknown section [nosuch]" },
	{ "[HTTP]\n", ":1: ", "unknown section" },
	{ "[http]\nmax_pages = 1\n", ":2: ", "unknown key 'max_pages' in [http]" },
	{ "[http]\nkey_file = /k\n", ":2: ", "unknown key 'key_file' in [http]" },
	{ "max_page = 1\n", ":1: ", "before any [section]" },
	{ "[http\n", ":1: ", "section header" },
	{ "[]\n", ":1: ", "unknown section" },
	{ "[http]\njust some words\n", ":2: ", "expected 'key = value'" },
	{ "[http]\n= 5\n", ":2: ", "expected 'key = value'" },
	{ "[http]\nmax page = 5\n", ":2: ", "expected 'key = value'" },
	{ "[http]\nmax_page = 1\nmax_page = 2\n", ":3: ", "set twice" },
	{ "[http]\nmax_page = 10 items\n", ":2: ", "not an integer" },
	{ "[http]\nmax_page = 1.5\n", ":2: ", "not an integer" },
	{ "[http]\nmax_page = 0x10\n", ":2: ", "not an integer" },
	{ "[http]\nmax_page = 99999999999999999999\n", ":2: ", "out of range" },
	{ "[http]\nmax_page =\n", ":2: ", "not an integer" },
	{ "[http]\nmax_depth = 0\n", ":2: ", "out of range" },
	{ "[http]\nmax_body_bytes = 5 PB\n", ":2: ", "not a size" },
	{ "[http]\nmax_body_bytes = -1\n", ":2: ", "not a size" },
	{ "[http]\nmax_body_bytes = 2GiB\n", ":2: ", "out of range" },
	{ "[http]\nmax_body_bytes = 99999999999999999999999K\n", ":2: ", "out of range" },
	{ "[http]\nhealth_requires_auth = maybe\n", ":2: ", "not a boolean" },
	{ "[http]\nbase_path = api\n", ":2: ", "must be empty or start with '/'" },
	{ "[http]\nmax_wait = 1 day\n", ":2: ",
	  "http.max_wait: '1 day' is not a duration: a number of seconds, or a number with ms, s, "
	  "m, min or h" },
	{ "[jwt]\nalgorithm = none\n", ":2: ", "'none' is not one of: HS256" },
	{ "[jwt]\nalgorithm = hs256\n", ":2: ", "not one of" },
	{ "[log]\nfacility = local9\n", ":2: ", "not a syslog facility" },
	{ "[log]\ntarget = file\n", ":2: ", "not one of: syslog stderr" },
	{ "[log]\nlevel = verbose\n", ":2: ", "not one of" },
	{ "[runner]\nshutdown_timeout = 1500ms\n", ":2: ", "whole number of seconds" },
	{ "[runner]\npoll_interval_ms = 1x\n", ":2: ", "not a duration: a number of milliseconds" },
	{ "[runner]\npoll_interval_ms = 2h\n", ":2: ", "'2h' is out of range (10ms to 1h)" },
	{ "[http]\nmax_wait = 2h\n", ":2: ", "'2h' is out of range (0s to 1h)" },
	{ "[database]\nurl = \"unterminated\n", ":2: ", "unterminated quoted value" },
	{ "[database]\nurl = \"a\" trailing\n", ":2: ", "unterminated quoted value" },
	{ "[subscription]\n", ":1: ", "needs a name" },
	{ "[subscription a b]\n", ":1: ", "needs a name" },
	{ "[subscription a]\n[subscription a]\n", ":2: ", "defined twice" },
	{ "[subscription a]\nk = 1\nk = 2\n", ":3: ", "'k' is set twice in [subscription a]" },
	{ "\n\n; comment\n# another\n[http]\n\n   max_page = -5\n", ":7: ", "out of range" },
	{ "[http]\nmax_page = 1\r\nmax_page = 2\r\n", ":3: ", "set twice" },
	{ "[http]\ndefault_page = 500\nmax_page = 100\n", ":3: ",
	  "http.default_page (500) is larger than http.max_page (100)" },
	{ "[health]\nlag_critical = 500\nlag_warn = 2000\n", ":3: ",
	  "health.lag_warn (2000) is larger than health.lag_critical (500)" },
	{ "[runner]\ndrain_timeout = 60\nshutdown_timeout = 40\n", ":3: ",
	  "drain_timeout (60) is larger than" },
};

START_TEST(file_errors_name_the_line)
{
	struct es_config c;
	char err[512] = "", want[400];

	write_conf(bad_files[_i].text);
	ck_assert_msg(!config_load(&c, conf_path, err, sizeof(err)), "case %d accepted", _i);
	snprintf(want, sizeof(want), "%s%s", conf_path, bad_files[_i].line);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "case %d: '%s' does not start '%s'",
		      _i, err, want);
	ck_assert_msg(strstr(err, bad_files[_i].why) != NULL, "case %d: '%s' lacks '%s'", _i,
		      err, bad_files[_i].why);
}
END_TEST

START_TEST(file_with_nul_byte)
{
	struct es_config c;
	char err[512];

	write_text(conf_path, "[http]\nmax_page = 1\0\n", 21);
	ck_assert(!config_load(&c, conf_path, err, sizeof(err)));
	ck_assert_msg(strstr(err, ":2: NUL byte") != NULL, "%s", err);
}
END_TEST

/* Value syntax that must be understood: (file text, section.key, printed). */
static const struct { const char *text, *key, *printed; } good_values[] = {
	{ "[http]\nmax_body_bytes = 1K\n", "max_body_bytes", "1024" },
	{ "[http]\nmax_body_bytes = 2 MiB\n", "max_body_bytes", "2097152" },
	{ "[http]\nmax_body_bytes = 3m\n", "max_body_bytes", "3145728" },
	{ "[http]\nmax_body_bytes = 1GiB\n", "max_body_bytes", "1073741824" },
	{ "[http]\nmax_body_bytes = 512kib\n", "max_body_bytes", "524288" },
	{ "[http]\nmax_body_bytes = 4096\n", "max_body_bytes", "4096" },
	{ "[http]\nmax_page_bytes = 8MiB\n", "max_page_bytes", "8388608" },
	{ "[http]\nhealth_requires_auth = yes\n", "health_requires_auth", "true" },
	{ "[http]\nhealth_requires_auth = On\n", "health_requires_auth", "true" },
	{ "[http]\nhealth_requires_auth = 1\n", "health_requires_auth", "true" },
	{ "[http]\nhealth_requires_auth = TRUE\n", "health_requires_auth", "true" },
	{ "[jwt]\nrequire_tenant = off\n", "require_tenant", "false" },
	{ "[jwt]\nrequire_tenant = no\n", "require_tenant", "false" },
	{ "[jwt]\nrequire_tenant = 0\n", "require_tenant", "false" },
	{ "[http]\nmax_wait = 2m\n", "max_wait", "120" },
	{ "[jwt]\nmax_lifetime = 1h\n", "max_lifetime", "3600" },
	{ "[jwt]\nmax_lifetime = 900\n", "max_lifetime", "900" },
	{ "[http]\nmax_wait = 45s\n", "max_wait", "45" },
	{ "[http]\nmax_wait = 1h\n", "max_wait", "3600" },
	{ "[http]\nmax_wait = 3000ms\n", "max_wait", "3" },
	{ "[http]\nmax_wait = 2min\n", "max_wait", "120" },
	{ "[http]\nmax_wait = 30 s\n", "max_wait", "30" },
	{ "[runner]\npoll_interval_ms = 2s\n", "poll_interval_ms", "2000" },
	{ "[runner]\npoll_interval_ms = 250ms\n", "poll_interval_ms", "250" },
	{ "[http]\nbase_path = /api/\n", "base_path", "/api" },
	{ "[http]\nbase_path = /\n", "base_path", "" },
	{ "[jwt]\nissuer = https://auth.example.com/ ; the IdP\n", "issuer",
	  "https://auth.example.com/" },
	{ "[jwt]\nissuer = https://auth.example.com/#frag\n", "issuer",
	  "https://auth.example.com/#frag" },
	{ "[jwt]\nissuer = a;b\n", "issuer", "a;b" },
	{ "[jwt]\nissuer = \"a ; b\" ; comment\n", "issuer", "\"a ; b\"" },
	{ "[jwt]\nissuer = \"  padded  \"\n", "issuer", "\"  padded  \"" },
	{ "[jwt]\nissuer = \"say \"hi\"\"\n", "issuer", "say \"hi\"" },
	{ "[jwt]\nissuer = \"\"\n", "issuer", "" },
	{ "[jwt]\nissuer = ; nothing\n", "issuer", "" },
	{ "[jwt]\n\tissuer\t=\tx\t\n", "issuer", "x" },
	{ "\xef\xbb\xbf[jwt]\r\nissuer = x\r\n", "issuer", "x" },
	{ "  [ jwt ]  ; a comment\nissuer=x\n", "issuer", "x" },
	{ "[jwt]\nalgorithm = ES256\n", "algorithm", "ES256" },
	/* one side of an ordered pair set alone: the other follows */
	{ "[http]\nmax_page = 50\n", "default_page", "50" },
	{ "[http]\ndefault_page = 5000\n", "max_page", "5000" },
	{ "[health]\nlag_warn = 20000\n", "lag_critical", "20000" },
	{ "[runner]\nshutdown_timeout = 5\n", "drain_timeout", "5" },
	{ "[log]\nlevel = debug\n", "level", "debug" },
	{ "[log]\naudit_facility = local0\n", "audit_facility", "local0" },
	{ "[log]\nsocket = /run/syslog-ng/log.sock\n", "socket", "/run/syslog-ng/log.sock" },
};

/* The line config_print writes for key in output (the first match). */
static char *printed_line(const char *output, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = output; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && (p[kl] == ' ')) {
			const char *e = strchr(p, '\n');
			return strndup(p, e ? (size_t)(e - p) : strlen(p));
		}
	}
	return NULL;
}

START_TEST(values_are_understood)
{
	struct es_config c;
	char *out, *line, want[256];

	write_conf(good_values[_i].text);
	load_ok(&c, conf_path);
	out = print_to_string(&c);
	line = printed_line(out, good_values[_i].key);
	ck_assert_ptr_nonnull(line);
	if (*good_values[_i].printed)
		snprintf(want, sizeof(want), "%s = %s", good_values[_i].key, good_values[_i].printed);
	else
		snprintf(want, sizeof(want), "%s =", good_values[_i].key);
	ck_assert_str_eq(line, want);
	free(line);
	free(out);
	config_free(&c);
}
END_TEST

START_TEST(subscriptions_are_kept_raw)
{
	struct es_config c;

	write_conf("[database]\nurl = postgresql:///evstore\n"
		   "[subscription order_summary]\n"
		   "handler = sql                       ; sql | exec | snapshots | audit\n"
		   "event_types = OrderCreated, OrderShipped\n"
		   "checkpoint_interval = 5s\n"
		   "future_key = whatever the runner decides\n"
		   "\n[subscription audit]\nhandler = audit\n"
		   "[http]\nmax_page = 50\n");
	load_ok(&c, conf_path);
	ck_assert_uint_eq(c.n_subscriptions, 2);
	ck_assert_str_eq(c.subscriptions[0].name, "order_summary");
	ck_assert_uint_eq(c.subscriptions[0].n_items, 4);
	ck_assert_str_eq(c.subscriptions[0].items[0].key, "handler");
	ck_assert_str_eq(c.subscriptions[0].items[0].value, "sql");
	ck_assert_int_eq(c.subscriptions[0].items[0].line, 4);
	ck_assert_str_eq(c.subscriptions[0].items[1].value, "OrderCreated, OrderShipped");
	ck_assert_str_eq(c.subscriptions[0].items[3].key, "future_key");
	ck_assert_str_eq(c.subscriptions[1].name, "audit");
	ck_assert_str_eq(c.subscriptions[1].items[0].value, "audit");
	ck_assert_int_eq(c.http.max_page, 50); /* sections after a subscription still work */
	config_free(&c);
}
END_TEST

/* ---- the environment ----------------------------------------------------- */

static const struct { const char *name, *value, *key, *printed; } env_good[] = {
	{ "EVSTORE_HTTP_MAX_PAGE", "50", "max_page", "50" },
	{ "EVSTORE_JWT_KEY_FILE", "/etc/evstore/jwt.key", "key_file", "/etc/evstore/jwt.key" },
	{ "EVSTORE_DATABASE_URL", "postgresql://db/evstore", "url", "postgresql://db/evstore" },
	{ "EVSTORE_HTTP_MAX_BODY_BYTES", "2MiB", "max_body_bytes", "2097152" },
	{ "EVSTORE_JWT_REQUIRE_TENANT", "yes", "require_tenant", "true" },
	{ "EVSTORE_LOG_TARGET", "stderr", "target", "stderr" },
	{ "EVSTORE_LOG_SOCKET", "/run/log.sock", "socket", "/run/log.sock" },
	{ "EVSTORE_JWT_ISSUER", "", "issuer", "" },
	{ "EVSTORE_RUNNER_POLL_INTERVAL_MS", "1s", "poll_interval_ms", "1000" },
	{ "EVSTORE_AGGREGATES_DIR", "/srv/aggregates", "dir", "/srv/aggregates" },
	{ "EVSTORE_METRICS_REQUIRE_AUTH", "off", "require_auth", "false" },
};

START_TEST(env_overrides_file)
{
	struct es_config c;
	char *out, *line, want[256];

	/* the file sets every one of these to something else */
	write_conf("[database]\nurl = postgresql://file/db\n"
		   "[http]\nmax_page = 70\nmax_body_bytes = 4K\n"
		   "[jwt]\nkey_file = /file.key\nrequire_tenant = no\nissuer = file-iss\n"
		   "[log]\ntarget = syslog\nsocket = /file.sock\n[aggregates]\ndir = /file/dir\n"
		   "[runner]\npoll_interval_ms = 700\n[metrics]\nrequire_auth = yes\n");
	setenv(env_good[_i].name, env_good[_i].value, 1);
	load_ok(&c, conf_path);
	out = print_to_string(&c);
	line = printed_line(out, env_good[_i].key);
	ck_assert_ptr_nonnull(line);
	if (*env_good[_i].printed)
		snprintf(want, sizeof(want), "%s = %s", env_good[_i].key, env_good[_i].printed);
	else
		snprintf(want, sizeof(want), "%s =", env_good[_i].key);
	ck_assert_str_eq(line, want);
	free(line);
	free(out);
	config_free(&c);
}
END_TEST

static const struct { const char *name, *value, *why; } env_bad[] = {
	{ "EVSTORE_HTTP_MAX_PAGE", "abc", "'abc' is not an integer" },
	{ "EVSTORE_HTTP_MAX_PAGE", "", "not an integer" },
	{ "EVSTORE_HTTP_MAX_PAGE", "0", "out of range" },
	{ "EVSTORE_JWT_ALGORITHM", "none", "not one of" },
	{ "EVSTORE_LOG_FACILITY", "kernel", "not a syslog facility" },
	{ "EVSTORE_JWT_ISSUER", "a\nb", "line break" },
	{ "EVSTORE_HTTP_HEALTH_REQUIRES_AUTH", "sometimes", "not a boolean" },
	{ "EVSTORE_HTTP_DEFAULT_PAGE", "5000", "is larger than http.max_page (70)" },
};

START_TEST(env_errors_name_the_variable)
{
	struct es_config c;
	char err[512] = "", want[128];

	write_conf("[http]\nmax_page = 70\n");
	setenv(env_bad[_i].name, env_bad[_i].value, 1);
	ck_assert(!config_load(&c, conf_path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: ", env_bad[_i].name);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s'", err);
	ck_assert_msg(strstr(err, env_bad[_i].why) != NULL, "'%s' lacks '%s'", err,
		      env_bad[_i].why);
}
END_TEST

START_TEST(database_url_precedence)
{
	struct es_config c;

	write_conf("[database]\nurl = postgresql://from-file/db\n");
	load_ok(&c, conf_path);
	ck_assert_str_eq(c.database.url, "postgresql://from-file/db");
	config_free(&c);

	/* DATABASE_URL beats the file, with the Python driver suffix dropped */
	setenv("DATABASE_URL", "postgresql+asyncpg://app@from-env/db", 1);
	load_ok(&c, conf_path);
	ck_assert_str_eq(c.database.url, "postgresql://app@from-env/db");
	config_free(&c);

	/* EVSTORE_DATABASE_URL beats both */
	setenv("EVSTORE_DATABASE_URL", "postgres+psycopg://app@evstore-env/db", 1);
	load_ok(&c, conf_path);
	ck_assert_str_eq(c.database.url, "postgres://app@evstore-env/db");
	config_free(&c);

	/* an empty DATABASE_URL, as container templates leave it, is ignored */
	unsetenv("EVSTORE_DATABASE_URL");
	setenv("DATABASE_URL", "", 1);
	load_ok(&c, conf_path);
	ck_assert_str_eq(c.database.url, "postgresql://from-file/db");
	config_free(&c);
}
END_TEST

START_TEST(database_url_in_file_is_normalized)
{
	struct es_config c;

	write_conf("[database]\nurl = postgresql+asyncpg://u@h:5432/db?sslmode=require\n");
	load_ok(&c, conf_path);
	ck_assert_str_eq(c.database.url, "postgresql://u@h:5432/db?sslmode=require");
	config_free(&c);
}
END_TEST

static const struct { const char *in, *out; } urls[] = {
	{ "postgresql+asyncpg://u:p@h/db", "postgresql://u:p@h/db" },
	{ "postgresql+psycopg2://h/db", "postgresql://h/db" },
	{ "postgres+asyncpg://h", "postgres://h" },
	{ "postgresql://h/db", "postgresql://h/db" },
	{ "postgres://h/db", "postgres://h/db" },
	{ "host=/run/postgresql dbname=evstore", "host=/run/postgresql dbname=evstore" },
	{ "host=h options='-c x+y://z'", "host=h options='-c x+y://z'" },
	{ "", "" },
};

START_TEST(normalize_db_url)
{
	char *out = conninfo_normalize(urls[_i].in);

	ck_assert_str_eq(out, urls[_i].out);
	free(out);
}
END_TEST

/* [database] url is read by libpq's parser at load: a typo is a config
 * error naming the key (file:line or the variable), never quoting a
 * password. */
static const struct { const char *url, *why; } bad_urls[] = {
	{ "postgresq://u:secret@h/db", "unknown URI scheme \"postgresq\"" },
	{ "POSTGRESQL://h/db", "unknown URI scheme \"POSTGRESQL\"" },
	{ "postgresql://h/db?sslmod=require", "invalid URI query parameter: \"sslmod\"" },
	{ "host=h dbnme=x", "invalid connection option \"dbnme\"" },
	{ "host=h password='secret", "unterminated quoted string" },
	{ "postgresql://u:secret%zz@h/db", "invalid percent-encoded token" },
	{ "just-a-name", "missing \"=\" after" },
};

START_TEST(database_url_is_checked_at_load)
{
	struct es_config c;
	char err[512] = "", text[256], want[400];

	snprintf(text, sizeof text, "[database]\nurl = %s\n", bad_urls[_i].url);
	write_conf(text);
	ck_assert(!config_load(&c, conf_path, err, sizeof err));
	snprintf(want, sizeof want, "%s:2: database.url: ", conf_path);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s'", err);
	ck_assert_msg(strstr(err, bad_urls[_i].why), "'%s' lacks '%s'", err, bad_urls[_i].why);
	ck_assert_msg(!strstr(err, "secret"), "a password in '%s'", err);

	write_conf("");
	setenv("EVSTORE_DATABASE_URL", bad_urls[_i].url, 1);
	ck_assert(!config_load(&c, conf_path, err, sizeof err));
	ck_assert_msg(strncmp(err, "EVSTORE_DATABASE_URL: ", 22) == 0, "'%s'", err);
	ck_assert_msg(strstr(err, bad_urls[_i].why), "'%s' lacks '%s'", err, bad_urls[_i].why);
	ck_assert_msg(!strstr(err, "secret"), "a password in '%s'", err);
}
END_TEST

/* A typo in a variable's name is otherwise silently ignored. */
struct unknown_seen {
	char names[4][64];
	char closest[4][64];
	size_t n;
};

static void record_unknown(const char *name, const char *closest, void *arg)
{
	struct unknown_seen *seen = arg;

	ck_assert_uint_lt(seen->n, 4);
	snprintf(seen->names[seen->n], sizeof seen->names[0], "%s", name);
	snprintf(seen->closest[seen->n], sizeof seen->closest[0], "%s", closest);
	seen->n++;
}

static const char *closest_for(const struct unknown_seen *seen, const char *name)
{
	for (size_t i = 0; i < seen->n; i++) {
		if (strcmp(seen->names[i], name) == 0)
			return seen->closest[i];
	}
	return NULL;
}

START_TEST(unknown_env_names_the_closest_key)
{
	struct unknown_seen seen = { .n = 0 };

	setenv("EVSTORE_DATABSE_URL", "x", 1);
	setenv("EVSTORE_JWT_KEYFILE", "x", 1);
	setenv("EVSTORE_AGGREGATES_DIRECTORY", "x", 1);
	setenv("EVSTORE_CONFIG", "/x", 1);             /* known: the file */
	setenv("EVSTORE_HTTP_MAX_PAGE", "10", 1);      /* known: a key */
	setenv("PGEVSTORE_X", "x", 1);                 /* not ours */
	ck_assert_uint_eq(config_unknown_env(record_unknown, &seen), 3);
	ck_assert_str_eq(closest_for(&seen, "EVSTORE_DATABSE_URL"), "EVSTORE_DATABASE_URL");
	ck_assert_str_eq(closest_for(&seen, "EVSTORE_JWT_KEYFILE"), "EVSTORE_JWT_KEY_FILE");
	ck_assert_str_eq(closest_for(&seen, "EVSTORE_AGGREGATES_DIRECTORY"), "EVSTORE_AGGREGATES_DIR");
}
END_TEST

/* ---- printing ------------------------------------------------------------ */

START_TEST(print_round_trip)
{
	struct es_config a, b;
	struct subscription sub;
	char *first, *second;
	char path2[400], err[512] = "";

	/* every key off its default, and values that need care to print */
	write_conf("[database]\nurl = postgresql://app@db.internal:5432/evstore?sslmode=verify-full\n"
		   "connect_timeout = 5\nstatement_timeout_ms = 2s\n"
		   "[http]\nbase_path = /events-api\nmax_body_bytes = 256K\nmax_events = 50\n"
		   "max_depth = 32\ndefault_page = 20\nmax_page = 200\nmax_wait = 10\n"
		   "health_requires_auth = true\nretry_after = 3\ndrain_delay = 0\n"
		   "[jwt]\nalgorithm = RS256\nkey_file = /etc/evstore/jwt.pem\n"
		   "keys_dir = /etc/evstore/keys.d\nissuer = \"  https://idp ; x  \"\n"
		   "audience = \"#aud\"\nleeway = 5\ntenant_claim = org\nrequire_tenant = yes\n"
		   "[aggregates]\ndir = /srv/evstore/aggregates\n"
		   "[privacy]\nmaster_key_file = /etc/evstore/master.key\n"
		   "previous_master_key_file = /etc/evstore/master.key.old\n"
		   "[health]\nerror_rate_per_min = 1\nerrors_warn = 2\nerrors_critical = 3\n"
		   "lag_warn = 4\nlag_critical = 5\ndlq_warn = 6\ndlq_critical = 7\n"
		   "runner_stale_after = 8\n"
		   "[metrics]\nrequire_auth = false\n"
		   "[log]\ntarget = stderr\nlevel = debug\nfacility = local1\n"
		   "audit_facility = local2\n"
		   "[runner]\nshutdown_timeout = 60\ndrain_timeout = 20\npoll_interval_ms = 100\n"
		   "[subscription s1]\nhandler = exec\ncommand = \"/usr/bin/handler --x ; y\"\n"
		   "event_types = \"\"inside\", B,C\"\nstart_from = 42\n"
		   "checkpoint_strategy = periodic\ncheckpoint_interval = 250ms\n"
		   "continue_on_error = off\nmax_retries = 0\nretry_initial_delay = 2\n"
		   "retry_max_delay = 3min\nprocessing_timeout = 1h\nstatement_timeout = 1500ms\n"
		   "partitions = 4\n"
		   "[subscription s2]\nhandler = sql\nsql_file = /p.sql\naggregate_types =\n");
	load_ok(&a, conf_path);
	first = print_all_to_string(&a);

	snprintf(path2, sizeof(path2), "%s/printed.conf", tmp_dir);
	write_text(path2, first, strlen(first));
	load_ok(&b, path2);
	second = print_all_to_string(&b);
	unlink(path2);

	ck_assert_str_eq(body_of(second), body_of(first));
	ck_assert_str_eq(b.jwt.issuer, "  https://idp ; x  ");
	ck_assert_str_eq(b.jwt.audience, "#aud");
	ck_assert_int_eq(b.database.statement_timeout_ms, 2000);
	ck_assert_int_eq(b.http.max_body_bytes, 262144);
	ck_assert_uint_eq(b.n_subscriptions, 2);
	ck_assert_int_eq(subscription_parse(&b.subscriptions[0], b.source_path, &sub, err,
					    sizeof(err)), ES_OK);
	ck_assert_str_eq(sub.command, "/usr/bin/handler --x ; y");
	ck_assert_str_eq(sub.event_types, "{\"\\\"inside\\\"\",\"B\",\"C\"}");
	ck_assert_int_eq(sub.start_from, SUB_START_POSITION);
	ck_assert_int_eq(sub.start_position, 42);
	ck_assert_int_eq(sub.checkpoint_interval_ms, 250);
	ck_assert(!sub.continue_on_error);
	ck_assert_int_eq(sub.retry_initial_delay_ms, 2000);
	ck_assert_int_eq(sub.retry_max_delay_ms, 180000);
	ck_assert_int_eq(sub.processing_timeout_ms, 3600000);
	ck_assert_int_eq(sub.statement_timeout_ms, 1500);
	ck_assert_int_eq(sub.partitions, 4);
	subscription_free(&sub);
	/* every key is printed, defaults and unset ones (commented out) too */
	ck_assert_ptr_nonnull(strstr(first, "\n[subscription s2]\n"));
	ck_assert_ptr_nonnull(strstr(first, "\nbatch_size = 100\n"));
	ck_assert_ptr_nonnull(strstr(first, "\n;aggregate_types =\n"));
	ck_assert_ptr_nonnull(strstr(first, "\nretry_max_delay = 3min\n"));
	free(first);
	free(second);
	config_free(&a);
	config_free(&b);
}
END_TEST

static const struct { const char *url, *printed, *secret; } masked[] = {
	{ "postgresql://user:s3cret@host:5432/db", "url = postgresql://user:***@host:5432/db",
	  "s3cret" },
	{ "postgresql://user:p%40ss@host/db?sslmode=require",
	  "url = postgresql://user:***@host/db?sslmode=require", "p%40ss" },
	{ "postgresql://host/db?user=u&password=s3cret&sslmode=require",
	  "url = postgresql://host/db?user=u&password=***&sslmode=require", "s3cret" },
	{ "host=db user=app password=s3cret dbname=evstore",
	  "url = host=db user=app password=*** dbname=evstore", "s3cret" },
	{ "host=db password = 'it\\'s s3cret' dbname=evstore",
	  "url = host=db password = *** dbname=evstore", "s3cret" },
	{ "postgresql://user@host/db", "url = postgresql://user@host/db", NULL },
	/* libpq percent-decodes query keys and values */
	{ "postgresql://u@h/db?password=s%65cret", "url = postgresql://u@h/db?password=***",
	  "s%65cret" },
	{ "postgresql://u@h/db?pass%77ord=s3cret&sslmode=require",
	  "url = postgresql://u@h/db?pass%77ord=***&sslmode=require", "s3cret" },
	{ "postgresql://u@h/db?sslmode=require&%70%61%73%73%77%6F%72%64=s3cret",
	  "url = postgresql://u@h/db?sslmode=require&%70%61%73%73%77%6F%72%64=***", "s3cret" },
	{ "postgresql://u@h/db?sslpassword=k3y#x", "url = postgresql://u@h/db?sslpassword=***#x",
	  "k3y" },
	{ "host=db sslpassword=k3y", "url = host=db sslpassword=***", "k3y" },
	/* a value that says password is not one */
	{ "postgresql://u@h/db?application_name=password&options=-cpassword%3D1",
	  "url = postgresql://u@h/db?application_name=password&options=-cpassword%3D1", NULL },
};

START_TEST(print_masks_password)
{
	struct es_config c;
	char *out, *line;

	write_conf("");
	setenv("EVSTORE_DATABASE_URL", masked[_i].url, 1);
	load_ok(&c, conf_path);
	ck_assert_str_eq(c.database.url, masked[_i].url); /* the real value is intact */
	out = print_to_string(&c);
	line = printed_line(out, "url");
	ck_assert_ptr_nonnull(line);
	ck_assert_str_eq(line, masked[_i].printed);
	if (masked[_i].secret)
		ck_assert_ptr_null(strstr(out, masked[_i].secret));
	free(line);
	free(out);
	config_free(&c);
}
END_TEST

/* ---- the shipped sample and documentation -------------------------------- */

/* Returns the contents of $srcdir/rel as a new string. */
static char *read_source_file(const char *rel)
{
	const char *srcdir = getenv("srcdir");
	char path[1024];
	char *text;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", srcdir && *srcdir ? srcdir : ".", rel);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s (is srcdir set?)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(fread(text, 1, (size_t)n, f), n);
	fclose(f);
	return text;
}

/* Calls fn for each "key = value" line of config_print's output for the
 * defaults (the built-in keys only; there are no subscriptions). */
static void for_each_default_key(void (*fn)(const char *key, const char *line, void *arg),
				 void *arg)
{
	struct es_config c;
	char *out, *p, *nl, key[64];

	write_conf("");
	load_ok(&c, conf_path);
	out = print_to_string(&c);
	for (p = out; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		if (*p != '#' && *p != '[' && *p != '\0') {
			size_t kl = strcspn(p, " ");
			ck_assert_uint_lt(kl, sizeof(key));
			memcpy(key, p, kl);
			key[kl] = '\0';
			fn(key, p, arg);
		}
	}
	free(out);
	config_free(&c);
}

/* True when line (up to its newline) sets one of the keys the package
 * chooses a value for, which the sample sets instead of listing. */
static bool package_setting(const char *line)
{
	static const char *const chosen[] = { "workers = " };

	for (size_t i = 0; i < sizeof chosen / sizeof chosen[0]; i++)
		if (strncmp(line, chosen[i], strlen(chosen[i])) == 0)
			return true;
	return false;
}

/* The sample lists each key as ";key = default", except the few the
 * package sets (package_setting). */
START_TEST(sample_lists_every_default)
{
	char *sample = read_source_file("packaging/evstore.conf");
	char *uncommented = calloc(1, strlen(sample) + 1), *o = uncommented;
	struct es_config d, s;
	char *dp, *sp, *dl, *sl;
	int keys = 0, set = 0;

	/* uncomment the ";key = value" lines; '#' lines are prose */
	for (char *p = sample; *p; ) {
		char *nl = strchrnul(p, '\n');
		size_t kl = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz_");

		if (*p == ';' && kl > 0 && strncmp(p + 1 + kl, " =", 2) == 0) {
			p++;
			keys++;
		} else if (package_setting(p)) {
			keys++;
			set++;
		}
		memcpy(o, p, (size_t)(nl - p));
		o += nl - p;
		*o++ = '\n';
		p = *nl ? nl + 1 : nl;
	}
	write_conf(uncommented);
	load_ok(&s, conf_path);
	sp = print_to_string(&s);

	write_conf("");
	load_ok(&d, conf_path);
	dp = print_to_string(&d);

	/* same values, line by line, except the directory a package puts in /etc */
	dl = strstr(dp, "\n[");
	sl = strstr(sp, "\n[");
	ck_assert_ptr_nonnull(dl);
	ck_assert_ptr_nonnull(sl);
	while (*dl && *sl) {
		char *dn = strchrnul(dl + 1, '\n'), *sn = strchrnul(sl + 1, '\n');

		if (strncmp(dl + 1, "dir = ", 6) == 0)
			ck_assert(strncmp(sl + 1, "dir = /etc/evstore/aggregates.d\n", 32) == 0);
		else if (package_setting(sl + 1))
			ck_assert(strncmp(sl + 1, "workers = 4\n", 12) == 0);
		else
			ck_assert_msg(dn - dl == sn - sl && strncmp(dl, sl, (size_t)(dn - dl)) == 0,
				      "sample differs from the default: %.*s vs %.*s",
				      (int)(sn - sl - 1), sl + 1, (int)(dn - dl - 1), dl + 1);
		dl = dn;
		sl = sn;
	}
	ck_assert(*dl == '\0' && *sl == '\0');
	ck_assert_uint_eq(d.n_subscriptions, 0);
	ck_assert_uint_eq(s.n_subscriptions, 0);
	ck_assert_int_eq(keys, 53); /* every key of the table, once */
	ck_assert_int_eq(set, 1);

	free(sp);
	free(dp);
	config_free(&s);
	config_free(&d);
	free(uncommented);
	free(sample);
}
END_TEST

struct doc_check {
	const char *text;
	const char *fmt; /* how the document introduces a key */
	const char *name;
	int keys;
};

static void key_documented(const char *key, const char *line, void *arg)
{
	struct doc_check *dc = arg;
	char needle[128];

	(void)line;
	snprintf(needle, sizeof(needle), dc->fmt, key);
	ck_assert_msg(strstr(dc->text, needle) != NULL, "%s does not document '%s'", dc->name,
		      key);
	dc->keys++;
}

/* Calls fn for each key of a [subscription NAME] section, as
 * --print-config writes them (every key of the subscription table). */
static void for_each_subscription_key(void (*fn)(const char *key, const char *line, void *arg),
				      void *arg)
{
	struct es_config c;
	char *out, *p, *nl, key[64];

	write_conf("[subscription s]\nhandler = audit\n");
	load_ok(&c, conf_path);
	out = print_all_to_string(&c);
	p = strstr(out, "[subscription s]\n");
	ck_assert_ptr_nonnull(p);
	for (p = strchr(p, '\n') + 1; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		if (*p == ';')
			p++; /* a key without a value, written commented out */
		if (*p != '#' && *p != '\0') {
			size_t kl = strcspn(p, " ");
			ck_assert_uint_lt(kl, sizeof(key));
			memcpy(key, p, kl);
			key[kl] = '\0';
			fn(key, p, arg);
		}
	}
	free(out);
	config_free(&c);
}

START_TEST(docs_cover_every_key)
{
	struct doc_check man = { read_source_file("doc/evstore.conf.5"), "\n.B %s\n",
				 "doc/evstore.conf.5", 0 };
	struct doc_check md = { read_source_file("doc/configuration.md"), "| `%s` |",
				"doc/configuration.md", 0 };

	for_each_default_key(key_documented, &man);
	for_each_default_key(key_documented, &md);
	ck_assert_int_eq(man.keys, 53);
	for_each_subscription_key(key_documented, &man);
	for_each_subscription_key(key_documented, &md);
	ck_assert_int_eq(man.keys, 53 + 19);
	free((char *)man.text);
	free((char *)md.text);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, remove_tmp_dir);
	tcase_add_test(tc, defaults_match_the_contract);
	tcase_add_test(tc, missing_explicit_file_is_an_error);
	tcase_add_test(tc, missing_default_file_is_fine);
	tcase_add_test(tc, evstore_config_names_the_file);
	tcase_add_test(tc, evstore_config_missing_file_is_an_error);
	tcase_add_loop_test(tc, file_errors_name_the_line, 0, N_ELEMS(bad_files));
	tcase_add_test(tc, file_with_nul_byte);
	tcase_add_loop_test(tc, values_are_understood, 0, N_ELEMS(good_values));
	tcase_add_test(tc, subscriptions_are_kept_raw);
	suite_add_tcase(s, tc);

	tc = tcase_create("environment");
	tcase_add_checked_fixture(tc, setup, remove_tmp_dir);
	tcase_add_loop_test(tc, env_overrides_file, 0, N_ELEMS(env_good));
	tcase_add_loop_test(tc, env_errors_name_the_variable, 0, N_ELEMS(env_bad));
	tcase_add_test(tc, database_url_precedence);
	tcase_add_test(tc, database_url_in_file_is_normalized);
	tcase_add_loop_test(tc, normalize_db_url, 0, N_ELEMS(urls));
	tcase_add_loop_test(tc, database_url_is_checked_at_load, 0, N_ELEMS(bad_urls));
	tcase_add_test(tc, unknown_env_names_the_closest_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("print");
	tcase_add_checked_fixture(tc, setup, remove_tmp_dir);
	tcase_add_test(tc, print_round_trip);
	tcase_add_loop_test(tc, print_masks_password, 0, N_ELEMS(masked));
	suite_add_tcase(s, tc);

	tc = tcase_create("shipped");
	tcase_add_checked_fixture(tc, setup, remove_tmp_dir);
	tcase_add_test(tc, sample_lists_every_default);
	tcase_add_test(tc, docs_cover_every_key);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(config_suite());
}
