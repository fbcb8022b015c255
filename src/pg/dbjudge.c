/* dbjudge.c - PostgreSQL settings judged for evstore. */
#include "buildconf.h"
#include "pg/dbjudge.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"

static void say(struct dbjudge_verdict *v, enum startcheck_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct dbjudge_verdict *v, enum startcheck_status st, const char *fmt, ...)
{
	va_list ap;

	v->status = st;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof v->why, fmt, ap);
	va_end(ap);
}

static bool is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

void dbjudge_version(int version_num, struct dbjudge_verdict *v)
{
	if (version_num < DBJUDGE_MIN_VERSION_NUM)
		say(v, STARTCHECK_FAIL, "server_version_num %d: evstore needs PostgreSQL 13 or later "
		    "(xid8, pg_current_xact_id); upgrade the server", version_num);
	else
		say(v, STARTCHECK_PASS, "PostgreSQL %d.%d, at least 13", version_num / 10000,
		    version_num % 10000);
}

/* An on/off setting that must be on: a crash must not lose or tear what
 * was acknowledged. */
static void must_be_on(const char *name, const char *value, const char *because,
		       struct dbjudge_verdict *v)
{
	if (is(value, "on"))
		say(v, STARTCHECK_PASS, "on");
	else
		say(v, STARTCHECK_FAIL, "%s: %s; set %s = on in postgresql.conf and reload", value,
		    because, name);
}

void dbjudge_setting(const char *name, const char *value, struct dbjudge_verdict *v)
{
	if (!value) {
		say(v, STARTCHECK_FAIL, "the server does not report %s", name);
	} else if (is(name, "fsync")) {
		must_be_on(name, value, "a crash of the server or host can lose or corrupt "
			   "acknowledged events", v);
	} else if (is(name, "full_page_writes")) {
		must_be_on(name, value, "a crash during a page write can leave torn pages that "
			   "WAL replay cannot repair", v);
	} else if (is(name, "synchronous_commit")) {
		if (is(value, "off"))
			say(v, STARTCHECK_FAIL, "off: a 201 may be answered for an event a crash then "
			    "loses; set synchronous_commit = on (or remote_apply with a standby)");
		else
			say(v, STARTCHECK_PASS, "%s", value);
	} else if (is(name, "wal_level")) {
		if (is(value, "minimal"))
			say(v, STARTCHECK_FAIL, "minimal: no base backup, archive or standby can be "
			    "made; set wal_level = replica and restart the server");
		else
			say(v, STARTCHECK_PASS, "%s (base backups and point-in-time recovery possible)",
			    value);
	} else if (is(name, "autovacuum") || is(name, "track_counts")) {
		if (is(value, "on"))
			say(v, STARTCHECK_PASS, "on");
		else
			say(v, STARTCHECK_FAIL, "%s = %s: autovacuum does not run, tables bloat and "
			    "transaction ids wrap around; set it on and reload", name, value);
	} else if (is(name, "statement_timeout")) {
		long ms = strtol(value, NULL, 10);

		if (ms > 0)
			say(v, STARTCHECK_PASS, "%ld ms", ms);
		else
			say(v, STARTCHECK_WARN, "none: a runaway statement holds its connection and "
			    "locks for ever; set [database] statement_timeout_ms (e.g. 30000) or "
			    "ALTER ROLE ... SET statement_timeout");
	} else if (is(name, "idle_in_transaction_session_timeout")) {
		long ms = strtol(value, NULL, 10);

		if (ms > 0)
			say(v, STARTCHECK_PASS, "%ld ms", ms);
		else
			say(v, STARTCHECK_WARN, "none: a session left idle inside a transaction holds "
			    "the feed and vacuum back until someone ends it; set "
			    "idle_in_transaction_session_timeout = 60s (evstore never idles in one)");
	} else {
		say(v, STARTCHECK_FAIL, "no judgement for setting %s", name);
	}
}

void dbjudge_archive(const char *mode, const char *command, const char *library,
		     struct dbjudge_verdict *v)
{
	bool archiver = (command && *command) || (library && *library);

	if (!mode || is(mode, "off"))
		say(v, STARTCHECK_WARN, "archive_mode off: no WAL archive, so no point-in-time "
		    "recovery (a base backup restores only to its own end); set archive_mode = on "
		    "and archive_command, restart (doc/operations.md)");
	else if (!archiver)
		say(v, STARTCHECK_FAIL, "archive_mode %s without archive_command or archive_library: "
		    "WAL piles up in pg_wal until the disk is full; set archive_command", mode);
	else
		say(v, STARTCHECK_PASS, "archive_mode %s, WAL archived by %s", mode,
		    command && *command ? "archive_command" : "archive_library");
}

int dbjudge_connection_budget(const struct es_config *cfg, int cpus)
{
	long workers = cfg->http.workers > 0 ? cfg->http.workers : (cpus > 0 ? cpus : 1);
	long n = (long)cfg->deployment.hosts * (workers + 1) + 2L * cfg->deployment.runners +
		 cfg->deployment.spare_connections;

	return n > 1000000000L ? 1000000000 : (int)n;
}

void dbjudge_connections(int max_connections, int reserved, int budget,
			 struct dbjudge_verdict *v)
{
	int available = max_connections - reserved;

	if (budget > available)
		say(v, STARTCHECK_FAIL, "%d, %d of them reserved: %d left for evstore's budget of %d "
		    "([deployment] hosts x ([http] workers + 1) + runners x 2 + spare_connections); raise "
		    "max_connections or put pgbouncer in front of the pools", max_connections, reserved,
		    available, budget);
	else
		say(v, STARTCHECK_PASS, "%d, %d reserved: covers the budget of %d connections",
		    max_connections, reserved, budget);
}

void dbjudge_transaction_age(const char *who, double age_seconds, int warn, int critical,
			     struct dbjudge_verdict *v)
{
	if (!who)
		say(v, STARTCHECK_PASS, "no other transaction open");
	else if (age_seconds >= critical)
		say(v, STARTCHECK_FAIL, "%s open for %.0f s (critical: %d s): it holds the feed and "
		    "every subscription back; end it (pg_terminate_backend)", who, age_seconds,
		    critical);
	else if (age_seconds >= warn)
		say(v, STARTCHECK_WARN, "%s open for %.0f s (warn: %d s): the feed waits behind it; "
		    "find out why it stays open", who, age_seconds, warn);
	else
		say(v, STARTCHECK_PASS, "the oldest, %s, open for %.0f s", who, age_seconds);
}

/* One host (and its hostaddr) reached without leaving the machine. */
static bool host_local(const char *host, size_t hlen, const char *addr, size_t alen)
{
	const char *h = alen ? addr : host;
	size_t n = alen ? alen : hlen;

	if (n == 0)
		return true; /* libpq's default: the unix socket */
	if (!alen && (h[0] == '/' || h[0] == '@'))
		return true; /* a socket directory, or an abstract socket */
	if (n == 9 && strncmp(h, "localhost", 9) == 0)
		return true;
	if (n == 3 && strncmp(h, "::1", 3) == 0)
		return true;
	return n >= 4 && strncmp(h, "127.", 4) == 0;
}

/* The next element of a comma-separated list: *p moves past it. */
static size_t next_element(const char **p, const char **start)
{
	size_t n;

	*start = *p ? *p : "";
	n = strcspn(*start, ",");
	*p = (*start)[n] == ',' ? *start + n + 1 : NULL;
	return n;
}

void dbjudge_replication(const char *sync_names, int standbys, int sync_standbys,
			 struct dbjudge_verdict *v)
{
	const char *names = sync_names ? sync_names : "";

	if (standbys == 0 && *names)
		say(v, STARTCHECK_FAIL, "synchronous_standby_names is '%s' but no standby streams from "
		    "this server: every commit waits for one; start a standby, or let Patroni manage "
		    "the setting (synchronous_mode: true)", names);
	else if (standbys == 0)
		say(v, STARTCHECK_PASS, "no standby streams from this server: a lost server is "
		    "recovered from backups (doc/high-availability.md for a standby)");
	else if (sync_standbys == 0)
		say(v, STARTCHECK_WARN, "%d standby%s stream%s asynchronously: a failover to one can "
		    "lose acknowledged appends; use Patroni's synchronous_mode: true, or "
		    "synchronous_standby_names", standbys, standbys == 1 ? "" : "s",
		    standbys == 1 ? "s" : "");
	else
		say(v, STARTCHECK_PASS, "%d standby%s, %d synchronous (synchronous_standby_names '%s'): "
		    "an acknowledged append is on two servers", standbys, standbys == 1 ? "" : "s",
		    sync_standbys, names);
}

void dbjudge_tls(const char *hosts, const char *hostaddrs, const char *sslmode,
		 struct dbjudge_verdict *v)
{
	const char *hp = hosts ? hosts : "", *ap = hostaddrs && *hostaddrs ? hostaddrs : NULL;
	const char *remote = NULL;
	size_t remote_len = 0;
	const char *mode = sslmode && *sslmode ? sslmode : "prefer";

	do {
		const char *h, *a = "";
		size_t hl = next_element(&hp, &h), al = 0;

		if (ap)
			al = next_element(&ap, &a);
		if (!host_local(h, hl, a, al) && !remote) {
			remote = al ? a : h;
			remote_len = al ? al : hl;
		}
	} while (hp || ap);
	if (!remote)
		say(v, STARTCHECK_PASS, "local database (unix socket or loopback): sslmode %s", mode);
	else if (is(mode, "verify-full"))
		say(v, STARTCHECK_PASS, "sslmode verify-full to %.*s", (int)remote_len, remote);
	else if (is(mode, "verify-ca") || is(mode, "require"))
		say(v, STARTCHECK_WARN, "sslmode %s to %.*s: encrypted, but the server's name is not "
		    "checked; set sslmode=verify-full and sslrootcert in [database] url", mode,
		    (int)remote_len, remote);
	else
		say(v, STARTCHECK_FAIL, "sslmode %s to %.*s: passwords and events may cross the "
		    "network in clear; set sslmode=verify-full and sslrootcert in [database] url", mode,
		    (int)remote_len, remote);
}
