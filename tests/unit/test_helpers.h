/* test_helpers.h - what the unit suites share: running a suite, a
 * temporary directory with files in it, and, for the suites that need
 * PostgreSQL, a scratch database of their own, migrated connections to it
 * and one-value queries.
 *
 * Each suite is one file, so everything here is static inline. Helpers
 * that can fail fail the test (ck_assert): call them inside a test or a
 * checked fixture. */
#ifndef EVSTORE_TEST_HELPERS_H
#define EVSTORE_TEST_HELPERS_H

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "base/sbuf.h"
#include "pg/db.h"
#include "pg/migrate.h"

/* The entries of a case table, for tcase_add_loop_test. */
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* How every suite ends: runs it, reports in Check's usual lines and
 * returns the exit status (non-zero when anything failed). Takes s. */
static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- temporary files ------------------------------------------------------ */

/* Creates a fresh directory $TMPDIR/NAME.XXXXXX (P_tmpdir without TMPDIR)
 * and writes its path to dir (len bytes). */
static inline void test_dir_create(char *dir, size_t len, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	int n = snprintf(dir, len, "%s/%s.XXXXXX", tmp && *tmp ? tmp : P_tmpdir, name);

	ck_assert_msg(n > 0 && (size_t)n < len, "temporary directory name too long");
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

/* test_dir_remove's nftw callback. */
static inline int test_remove_entry(const char *path, const struct stat *st, int flag,
				    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes path and everything below it, following no symbolic link. A
 * path that is already gone is fine. */
static inline void test_dir_remove(const char *path)
{
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return;
	ck_assert_msg(nftw(path, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0,
		      "removing %s: %s", path, strerror(errno));
}

/* Writes text to DIR/NAME (created or truncated). */
static inline void test_file_write(const char *dir, const char *name, const char *text)
{
	char path[1024];
	size_t len = strlen(text);
	FILE *f;

	ck_assert_uint_lt((size_t)snprintf(path, sizeof path, "%s/%s", dir, name), sizeof path);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- a scratch database ----------------------------------------------------- */

/* Appends key='value' to a connection string, quotes and backslashes
 * escaped. */
static inline void test_conninfo_add(struct sbuf *b, const char *key, const char *value)
{
	if (b->len)
		sbuf_putc(b, ' ');
	sbuf_printf(b, "%s='", key);
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			sbuf_putc(b, '\\');
		sbuf_putc(b, *p);
	}
	sbuf_putc(b, '\'');
}

/* The connection string of url (a URL or key=value string) with its
 * database replaced by dbname: a new string, NULL if url does not parse. */
static inline char *test_conninfo_for(const char *url, const char *dbname)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	struct sbuf b = SBUF_INIT;
	char *s;

	if (!opts)
		return NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && *o->val && strcmp(o->keyword, "dbname") != 0)
			test_conninfo_add(&b, o->keyword, o->val);
	test_conninfo_add(&b, "dbname", dbname);
	PQconninfoFree(opts);
	s = b.failed ? NULL : strdup(sbuf_cstr(&b));
	sbuf_free(&b);
	return s;
}

/* Runs one command on the server url names, outside any transaction
 * (CREATE and DROP DATABASE), saying why on stderr when it fails. */
static inline bool test_admin_exec(const char *prog, const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r = NULL;
	bool ok = PQstatus(c) == CONNECTION_OK;

	if (ok) {
		r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	}
	if (!ok)
		fprintf(stderr, "%s: %s: %s", prog, sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok;
}

/* check_run() for a suite that needs PostgreSQL. EVSTORE_TEST_DATABASE_URL
 * names a server and a role allowed to create databases: the suite gets
 * a scratch database of its own (*conninfo is its connection string while
 * the suite runs), dropped at the end. Without the variable the suite is
 * skipped: 77, automake's SKIP. Takes s. */
static inline int check_run_db(Suite *s, const char *prog, char **conninfo)
{
	const char *url = getenv("EVSTORE_TEST_DATABASE_URL");
	char dbname[64], sql[128];
	int rc;

	if (!url || !*url) {
		printf("%s: EVSTORE_TEST_DATABASE_URL is not set: skipped\n", prog);
		srunner_free(srunner_create(s));
		return 77;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(dbname, sizeof dbname, "evstore_%s_%ld_%04x", prog, (long)getpid(), rand() & 0xffff);
	*conninfo = test_conninfo_for(url, dbname);
	if (!*conninfo) {
		fprintf(stderr, "%s: EVSTORE_TEST_DATABASE_URL does not parse\n", prog);
		srunner_free(srunner_create(s));
		return EXIT_FAILURE;
	}
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
	if (!test_admin_exec(prog, url, sql)) {
		srunner_free(srunner_create(s));
		rc = EXIT_FAILURE;
		goto out;
	}
	rc = check_run(s);
	snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", dbname);
	if (!test_admin_exec(prog, url, sql))
		rc = EXIT_FAILURE;
out:
	free(*conninfo);
	*conninfo = NULL;
	return rc;
}

/* A new connection to conninfo with the schema migrated, named app in
 * pg_stat_activity. The caller frees it with db_free(). */
static inline struct db *test_db_open(const char *conninfo, const char *app)
{
	struct db *db = db_new(conninfo, 5);
	char err[512];
	int applied;

	ck_assert_ptr_nonnull(db);
	db_set_application_name(db, app);
	ck_assert_msg(db_ensure(db) == ES_OK, "%s", db_last_error(db));
	ck_assert_msg(migrate_apply(db, NULL, NULL, &applied, err, sizeof err) == ES_OK, "%s", err);
	return db;
}

/* Runs SQL text that must succeed. */
static inline void test_sql_exec(struct db *db, const char *sql)
{
	ck_assert_msg(db_exec_sql(db, sql, NULL) == ES_OK, "%s: %s", sql, db_last_error(db));
}

/* The first column of the first row of a query, as an integer. */
static inline int64_t test_sql_int(struct db *db, const char *sql)
{
	PGresult *r;
	int64_t v;

	ck_assert_msg(db_exec_sql(db, sql, &r) == ES_OK, "%s: %s", sql, db_last_error(db));
	ck_assert_msg(PQntuples(r) == 1, "%s: %d rows", sql, PQntuples(r));
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

#endif
