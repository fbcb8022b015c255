/* check_dbjudge.c - the judgements of evstorectl check on a server's
 * settings, its TLS and the connection budget: every value an operator
 * could set, and what it must be called. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "pg/dbjudge.h"

#define P STARTCHECK_PASS
#define W STARTCHECK_WARN
#define F STARTCHECK_FAIL

static const char *const names[] = { "pass", "warn", "fail" };

struct setting_case {
	const char *name, *value;
	enum startcheck_status want;
	const char *says; /* a piece of the message */
};

static const struct setting_case setting_cases[] = {
	{ "fsync", "on", P, "on" },
	{ "fsync", "off", F, "fsync = on" },
	{ "full_page_writes", "on", P, "on" },
	{ "full_page_writes", "off", F, "torn pages" },
	{ "synchronous_commit", "on", P, "on" },
	{ "synchronous_commit", "remote_apply", P, "remote_apply" },
	{ "synchronous_commit", "remote_write", P, "remote_write" },
	{ "synchronous_commit", "local", P, "local" },
	{ "synchronous_commit", "off", F, "a crash then loses" },
	{ "wal_level", "replica", P, "point-in-time recovery possible" },
	{ "wal_level", "logical", P, "logical" },
	{ "wal_level", "minimal", F, "wal_level = replica and restart" },
	{ "autovacuum", "on", P, "on" },
	{ "autovacuum", "off", F, "wrap around" },
	{ "track_counts", "off", F, "track_counts = off" },
	{ "statement_timeout", "0", W, "statement_timeout_ms" },
	{ "statement_timeout", "30000", P, "30000 ms" },
	{ "idle_in_transaction_session_timeout", "0", W, "idle_in_transaction_session_timeout = 60s" },
	{ "idle_in_transaction_session_timeout", "60000", P, "60000 ms" },
	{ "fsync", NULL, F, "does not report fsync" },
	{ "work_mem", "4096", F, "no judgement" },
};

START_TEST(test_setting)
{
	const struct setting_case *c = &setting_cases[_i];
	struct dbjudge_verdict v;

	dbjudge_setting(c->name, c->value, &v);
	ck_assert_msg(v.status == c->want && strstr(v.why, c->says),
		      "%s = %s: %s (%s), want %s with '%s'", c->name, c->value ? c->value : "(null)",
		      names[v.status], v.why, names[c->want], c->says);
}
END_TEST

struct archive_case {
	const char *mode, *command, *library;
	enum startcheck_status want;
};

static const struct archive_case archive_cases[] = {
	{ "off", "", "", W },
	{ "off", "cp %p /a/%f", "", W },   /* a command is not archiving yet */
	{ NULL, NULL, NULL, W },
	{ "on", "", "", F },
	{ "on", "", NULL, F },              /* before PostgreSQL 15: no archive_library */
	{ "always", "", "", F },
	{ "on", "cp %p /a/%f", "", P },
	{ "on", "", "basic_archive", P },
	{ "always", "pgbackrest archive-push %p", NULL, P },
};

START_TEST(test_archive)
{
	const struct archive_case *c = &archive_cases[_i];
	struct dbjudge_verdict v;

	dbjudge_archive(c->mode, c->command, c->library, &v);
	ck_assert_msg(v.status == c->want, "case %d: %s (%s), want %s", _i, names[v.status], v.why,
		      names[c->want]);
}
END_TEST

START_TEST(test_version)
{
	struct dbjudge_verdict v;

	dbjudge_version(120017, &v);
	ck_assert_int_eq(v.status, F);
	ck_assert_ptr_nonnull(strstr(v.why, "PostgreSQL 13 or later"));
	dbjudge_version(130000, &v);
	ck_assert_int_eq(v.status, P);
	dbjudge_version(150008, &v);
	ck_assert_int_eq(v.status, P);
	ck_assert_str_eq(v.why, "PostgreSQL 15.8, at least 13");
	dbjudge_version(0, &v);
	ck_assert_int_eq(v.status, F);
}
END_TEST

static struct es_config cfg;

static void setup(void)
{
	char err[256];

	unsetenv("DATABASE_URL");
	ck_assert_msg(config_load(&cfg, "/dev/null", err, sizeof err), "%s", err);
}

static void teardown(void)
{
	config_free(&cfg);
}

START_TEST(test_budget)
{
	/* defaults: 1 host, [http] workers 0 (one per CPU) and the waiter,
	 * 1 runner, 5 spare */
	ck_assert_int_eq(dbjudge_connection_budget(&cfg, 4), 4 + 1 + 2 + 5);
	ck_assert_int_eq(dbjudge_connection_budget(&cfg, 0), 1 + 1 + 2 + 5);
	cfg.http.workers = 16;
	cfg.deployment.hosts = 3;
	cfg.deployment.runners = 2;
	cfg.deployment.spare_connections = 10;
	ck_assert_int_eq(dbjudge_connection_budget(&cfg, 4), 3 * 17 + 2 * 2 + 10);
	cfg.deployment.runners = 0;
	ck_assert_int_eq(dbjudge_connection_budget(&cfg, 4), 3 * 17 + 10);
	cfg.http.workers = 1024;
	cfg.deployment.hosts = 100000;
	cfg.deployment.spare_connections = 100000;
	ck_assert_int_eq(dbjudge_connection_budget(&cfg, 4), 1025 * 100000 + 100000);
}
END_TEST

START_TEST(test_connections)
{
	struct dbjudge_verdict v;

	dbjudge_connections(100, 3, 97, &v);
	ck_assert_int_eq(v.status, P);
	dbjudge_connections(100, 3, 98, &v);
	ck_assert_int_eq(v.status, F);
	ck_assert_ptr_nonnull(strstr(v.why, "97 left for evstore's budget of 98"));
	ck_assert_ptr_nonnull(strstr(v.why, "pgbouncer"));
	dbjudge_connections(100, 13, 90, &v); /* superuser + reserved_connections (16) */
	ck_assert_int_eq(v.status, F);
}
END_TEST

START_TEST(test_transaction_age)
{
	struct dbjudge_verdict v;

	dbjudge_transaction_age(NULL, 0, 300, 3600, &v);
	ck_assert_int_eq(v.status, P);
	dbjudge_transaction_age("pid 7 (psql, idle in transaction)", 299.9, 300, 3600, &v);
	ck_assert_int_eq(v.status, P);
	dbjudge_transaction_age("pid 7 (psql, idle in transaction)", 300, 300, 3600, &v);
	ck_assert_int_eq(v.status, W);
	ck_assert_ptr_nonnull(strstr(v.why, "pid 7 (psql, idle in transaction) open for 300 s"));
	dbjudge_transaction_age("prepared transaction 'x'", 3600, 300, 3600, &v);
	ck_assert_int_eq(v.status, F);
	ck_assert_ptr_nonnull(strstr(v.why, "prepared transaction 'x'"));
}
END_TEST

START_TEST(test_replication)
{
	struct dbjudge_verdict v;

	dbjudge_replication("", 0, 0, &v);
	ck_assert_int_eq(v.status, P);
	dbjudge_replication(NULL, 0, 0, &v);
	ck_assert_int_eq(v.status, P);
	dbjudge_replication("\"n2\"", 0, 0, &v);
	ck_assert_int_eq(v.status, F);
	ck_assert_ptr_nonnull(strstr(v.why, "every commit waits"));
	dbjudge_replication("", 1, 0, &v);
	ck_assert_int_eq(v.status, W);
	ck_assert_ptr_nonnull(strstr(v.why, "1 standby streams asynchronously"));
	dbjudge_replication("", 2, 0, &v);
	ck_assert_int_eq(v.status, W);
	ck_assert_ptr_nonnull(strstr(v.why, "2 standbys stream asynchronously"));
	dbjudge_replication("\"n2\"", 2, 1, &v);
	ck_assert_int_eq(v.status, P);
	ck_assert_ptr_nonnull(strstr(v.why, "2 standbys, 1 synchronous"));
}
END_TEST

struct tls_case {
	const char *host, *hostaddr, *sslmode;
	enum startcheck_status want;
};

static const struct tls_case tls_cases[] = {
	{ NULL, NULL, NULL, P },                         /* libpq's default socket */
	{ "", "", "", P },
	{ "/run/postgresql", NULL, "disable", P },
	{ "@abstract", NULL, NULL, P },
	{ "localhost", NULL, "prefer", P },
	{ "127.0.0.1", NULL, "disable", P },
	{ "127.10.0.1", NULL, NULL, P },
	{ "::1", NULL, NULL, P },
	{ "db.example", "127.0.0.1", NULL, P },          /* hostaddr decides where bytes go */
	{ "localhost", "10.0.0.5", NULL, F },
	{ "db.example", NULL, NULL, F },                 /* prefer: may fall back to clear text */
	{ "db.example", NULL, "disable", F },
	{ "db.example", NULL, "allow", F },
	{ "db.example", NULL, "prefer", F },
	{ "db.example", NULL, "require", W },
	{ "db.example", NULL, "verify-ca", W },
	{ "db.example", NULL, "verify-full", P },
	{ "10.0.0.5", NULL, "verify-full", P },
	{ "localhost,db.example", NULL, "require", W },  /* one remote host is enough */
	{ "db1.example,db2.example", NULL, "verify-full", P },
	{ "/run/postgresql,db.example", NULL, "prefer", F },
	{ "a.example,b.example", "127.0.0.1,10.0.0.6", "disable", F },
	{ "a.example,b.example", "127.0.0.1,127.0.0.2", "disable", P },
	{ "localhost127.0.0.1", NULL, "disable", F },    /* not a loopback name */
};

START_TEST(test_tls)
{
	const struct tls_case *c = &tls_cases[_i];
	struct dbjudge_verdict v;

	dbjudge_tls(c->host, c->hostaddr, c->sslmode, &v);
	ck_assert_msg(v.status == c->want, "host=%s hostaddr=%s sslmode=%s: %s (%s), want %s",
		      c->host ? c->host : "(null)", c->hostaddr ? c->hostaddr : "(null)",
		      c->sslmode ? c->sslmode : "(null)", names[v.status], v.why, names[c->want]);
	if (v.status != P)
		ck_assert_ptr_nonnull(strstr(v.why, "sslmode=verify-full and sslrootcert"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dbjudge");
	TCase *tc = tcase_create("settings");
	TCase *tb = tcase_create("budget");

	tcase_add_loop_test(tc, test_setting, 0, (int)(sizeof setting_cases / sizeof setting_cases[0]));
	tcase_add_loop_test(tc, test_archive, 0, (int)(sizeof archive_cases / sizeof archive_cases[0]));
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_transaction_age);
	tcase_add_test(tc, test_replication);
	tcase_add_loop_test(tc, test_tls, 0, (int)(sizeof tls_cases / sizeof tls_cases[0]));
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tb, setup, teardown);
	tcase_add_test(tb, test_budget);
	tcase_add_test(tb, test_connections);
	suite_add_tcase(s, tb);
	return check_run(s);
}
