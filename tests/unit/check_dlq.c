/* check_dlq.c - the dead-letter queue (subs/dlq.h) against a real
 * PostgreSQL: parking with the checkpoint move, listing with filters,
 * scopes and pages, requeueing, resolving and purging (in batches), a
 * rebuild's clearing, and the runner's settling of requeued entries. */
#include "buildconf.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/uuidtext.h"
#include "pg/db.h"
#include "store/feed.h"
#include "subs/checkpoint.h"
#include "subs/dlq.h"
#include "subs/subscription.h"
#include "check_scratch.h"

static int64_t count_sql(struct db *db, const char *fmt, const char *name)
{
	char sql[256];

	snprintf(sql, sizeof sql, fmt, name);
	return sql_int(db, sql);
}

/* Appends n events of tenant (NULL: none) and parks each for subscription
 * name, partition, moving its checkpoint along; ids gets the entries'
 * ids when not NULL. */
static void park_events(struct db *db, const char *name, int partition, const char *tenant,
			size_t n, int64_t *ids)
{
	struct subscription c;
	struct feed_cursor at;
	struct feed_page pg;
	char id[UUIDTEXT_LEN];
	int64_t pos[16];

	ck_assert_uint_le(n, 16);
	memset(&c, 0, sizeof c);
	c.name = (char *)name;
	c.start_from = SUB_START_BEGINNING;
	ck_assert_int_eq(checkpoint_load(db, &c, partition, &at), ES_OK);
	uuidtext_v7(id);
	append_events(db, tenant, "Order", id, "OrderCreated", n, NULL, pos);
	ck_assert_int_eq(feed_read_positions(db, pos, n, &pg), ES_OK);
	ck_assert_uint_eq(pg.n, n);
	for (size_t i = 0; i < n; i++) {
		struct dlq_failure f = {
			.subscription = name, .partition = partition, .ev = &pg.ev[i],
			.error = "no such table", .error_class = "permanent", .attempts = 3,
			.first_failed_usec = 1700000000000000,
		};
		struct feed_cursor to = feed_event_cursor(&pg.ev[i]);
		struct checkpoint_move m;

		checkpoint_move_init(&m, name, partition, &at, &to);
		ck_assert_int_eq(dlq_park(db, &f, &m), ES_OK);
		at = to;
		if (ids) {
			char sql[200];

			/* by event id: the batch tests' bulk entries reuse positions */
			snprintf(sql, sizeof sql, "SELECT id FROM evstore.dlq WHERE subscription = '%s'"
				 " AND event_id = '%s'", name, pg.ev[i].event_id);
			ids[i] = sql_int(db, sql);
		}
	}
	feed_page_free(&pg);
}

/* Adds n 'failed' entries of subscription name straight in SQL (for the
 * batch tests). */
static void bulk_entries(struct db *db, const char *name, int n)
{
	char sql[512];

	snprintf(sql, sizeof sql,
		 "INSERT INTO evstore.dlq (subscription, position, transaction_id, event_id,"
		 " event_type, aggregate_type, aggregate_id)"
		 " SELECT '%s', i, '1', gen_random_uuid(), 'E', 'A', gen_random_uuid()"
		 " FROM generate_series(1, %d) i", name, n);
	exec_ok(db, sql);
}

/* The entry and the checkpoint move together; from a moved checkpoint,
 * neither. Parking again updates the entry. */
START_TEST(test_park)
{
	struct db *db = migrated_db();
	struct dlq_filter f = { .subscription = "dq_park", .scope = { .all_tenants = true } };
	struct dlq_entries list;
	struct feed_page pg;
	struct dlq_failure fail = { .subscription = "dq_park", .error = "again",
				    .error_class = "transient", .attempts = 2, .first_failed_usec = 5 };
	struct checkpoint_move m;
	struct feed_cursor elsewhere = { 1, 1 }, to;
	char tenant[UUIDTEXT_LEN];
	int64_t ids[2];

	uuidtext_v7(tenant);
	park_events(db, "dq_park", 1, tenant, 2, ids);
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_int_eq(list.items[0].id, ids[0]);
	ck_assert_str_eq(list.items[0].subscription, "dq_park");
	ck_assert_int_eq(list.items[0].partition, 1);
	ck_assert_str_eq(list.items[0].tenant_id, tenant);
	ck_assert_str_eq(list.items[0].event_type, "OrderCreated");
	ck_assert_str_eq(list.items[0].aggregate_type, "Order");
	ck_assert_str_eq(list.items[0].error, "no such table");
	ck_assert_str_eq(list.items[0].error_class, "permanent");
	ck_assert_int_eq(list.items[0].attempts, 3);
	ck_assert_str_eq(list.items[0].first_failed_at, "2023-11-14T22:13:20.000000Z");
	ck_assert_str_eq(list.items[0].status, "failed");
	ck_assert_ptr_null(list.items[0].resolved_at);
	/* the checkpoint is past the second event */
	ck_assert_int_eq(count_sql(db, "SELECT position FROM evstore.checkpoints"
				   " WHERE subscription = '%s' AND partition = 1", "dq_park"),
			 list.items[1].position);

	/* the same event parked again (after a failed retry): one entry, updated */
	ck_assert_int_eq(feed_read_positions(db, &list.items[1].position, 1, &pg), ES_OK);
	fail.partition = 1;
	fail.ev = &pg.ev[0];
	to = feed_event_cursor(&pg.ev[0]);
	checkpoint_move_init(&m, "dq_park", 1, &to, &to);
	ck_assert_int_eq(dlq_resolve(db, ids[1], &(bool){ false }), ES_OK);
	ck_assert_int_eq(dlq_park(db, &fail, &m), ES_OK);
	dlq_entries_free(&list);
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_int_eq(list.items[1].attempts, 5);
	ck_assert_str_eq(list.items[1].error, "again");
	ck_assert_str_eq(list.items[1].error_class, "transient");
	ck_assert_str_eq(list.items[1].status, "failed");
	ck_assert_ptr_null(list.items[1].resolved_at);

	/* from a checkpoint that moved: refused, the entry as it was */
	checkpoint_move_init(&m, "dq_park", 1, &elsewhere, &to);
	fail.error = "refused";
	ck_assert_int_eq(dlq_park(db, &fail, &m), ES_EMOVED);
	dlq_entries_free(&list);
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_str_eq(list.items[1].error, "again");
	ck_assert_int_eq(list.items[1].attempts, 5);
	ck_assert_int_eq(sql_int(db, "SELECT 1"), 1); /* no transaction left open */
	feed_page_free(&pg);
	dlq_entries_free(&list);
	db_free(db);
}
END_TEST

/* Filters, keyset pages and tenant scopes. */
START_TEST(test_list)
{
	struct db *db = migrated_db();
	struct dlq_filter f;
	struct dlq_entries list;
	char tenant[UUIDTEXT_LEN];
	int64_t a[3], b[2], none[1];
	bool changed;

	uuidtext_v7(tenant);
	park_events(db, "dq_list_a", 0, tenant, 3, a);
	park_events(db, "dq_list_b", 0, tenant, 2, b);
	park_events(db, "dq_list_a", 1, NULL, 1, none);
	ck_assert_int_eq(dlq_resolve(db, a[1], &changed), ES_OK);
	ck_assert(changed);

	memset(&f, 0, sizeof f);
	f.subscription = "dq_list_a";
	f.scope.all_tenants = true;
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 4);
	ck_assert_int_eq(list.items[0].id, a[0]);
	ck_assert_int_eq(list.items[3].id, none[0]);
	ck_assert_ptr_null(list.items[3].tenant_id);
	dlq_entries_free(&list);

	f.status = "resolved";
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_int_eq(list.items[0].id, a[1]);
	ck_assert_ptr_nonnull(list.items[0].resolved_at);
	dlq_entries_free(&list);

	/* pages of 2 after an id */
	f.status = NULL;
	f.limit = 2;
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 2);
	f.after_id = list.items[1].id;
	dlq_entries_free(&list);
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 2);
	ck_assert_int_eq(list.items[0].id, a[2]);
	dlq_entries_free(&list);

	/* a tenant's scope; the no-tenant space */
	memset(&f, 0, sizeof f);
	f.scope.tenant = tenant;
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 5);
	dlq_entries_free(&list);
	f.subscription = "dq_list_a";
	f.scope.tenant = NULL;
	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_int_eq(list.items[0].id, none[0]);
	dlq_entries_free(&list);

	ck_assert(dlq_status_valid("failed") && dlq_status_valid("retrying") &&
		  dlq_status_valid("resolved"));
	ck_assert(!dlq_status_valid("all") && !dlq_status_valid(NULL) && !dlq_status_valid(""));
	dlq_entries_free(NULL);
	db_free(db);
}
END_TEST

/* Requeueing one entry, resolving it by hand. */
START_TEST(test_retry_and_resolve)
{
	struct db *db = migrated_db();
	struct dlq_scope all = { .all_tenants = true }, other = { 0 };
	struct dlq_entries now;
	char tenant[UUIDTEXT_LEN];
	int64_t ids[2];
	bool requeued, changed;

	uuidtext_v7(tenant);
	other.tenant = tenant;
	park_events(db, "dq_retry", 0, NULL, 2, ids);

	ck_assert_int_eq(dlq_retry(db, "dq_retry", &all, ids[0], &requeued, &now), ES_OK);
	ck_assert(requeued);
	ck_assert_uint_eq(now.count, 1);
	ck_assert_str_eq(now.items[0].status, "retrying");
	dlq_entries_free(&now);
	ck_assert_int_eq(dlq_retry(db, NULL, &all, ids[0], &requeued, NULL), ES_OK);
	ck_assert(!requeued);
	/* not the caller's: another subscription, another tenant, no such id */
	ck_assert_int_eq(dlq_retry(db, "dq_other", &all, ids[1], &requeued, NULL), ES_ENOTFOUND);
	ck_assert_int_eq(dlq_retry(db, NULL, &other, ids[1], &requeued, NULL), ES_ENOTFOUND);
	ck_assert_int_eq(dlq_retry(db, NULL, &all, INT64_MAX, &requeued, NULL), ES_ENOTFOUND);

	ck_assert_int_eq(dlq_resolve(db, ids[1], &changed), ES_OK);
	ck_assert(changed);
	ck_assert_int_eq(dlq_resolve(db, ids[1], &changed), ES_OK);
	ck_assert(!changed);
	ck_assert_int_eq(dlq_resolve(db, INT64_MAX, &changed), ES_OK);
	ck_assert(!changed);
	ck_assert_int_eq(dlq_retry(db, NULL, &all, ids[1], &requeued, &now), ES_ESTATE);
	ck_assert(!requeued);
	ck_assert_uint_eq(now.count, 1);
	ck_assert_str_eq(now.items[0].status, "resolved");
	dlq_entries_free(&now);
	db_free(db);
}
END_TEST

/* retry --all and purge go through any number of entries in batches of
 * DLQ_BATCH, each entry once. */
START_TEST(test_batches)
{
	struct db *db = migrated_db();
	struct dlq_scope all = { .all_tenants = true }, none = { 0 };
	char tenant[UUIDTEXT_LEN];
	int64_t n, ids[2];
	const int many = DLQ_BATCH * 2 + 500;

	uuidtext_v7(tenant);
	bulk_entries(db, "dq_batch", many);
	park_events(db, "dq_batch", 0, tenant, 2, ids);

	/* the no-tenant scope: the bulk entries only */
	ck_assert_int_eq(dlq_retry_all(db, "dq_batch", &none, &n), ES_OK);
	ck_assert_int_eq(n, many);
	ck_assert_int_eq(dlq_retry_all(db, "dq_batch", &all, &n), ES_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(dlq_retry_all(db, "dq_batch", &all, &n), ES_OK);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(count_sql(db, "SELECT count(*) FROM evstore.dlq WHERE subscription = '%s'"
				   " AND status = 'retrying'", "dq_batch"), many + 2);

	ck_assert_int_eq(dlq_resolve(db, ids[0], &(bool){ false }), ES_OK);
	ck_assert_int_eq(dlq_purge(db, "dq_batch", true, &n), ES_OK);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(dlq_purge(db, "dq_batch", false, &n), ES_OK);
	ck_assert_int_eq(n, many + 1);
	ck_assert_int_eq(count_sql(db, "SELECT count(*) FROM evstore.dlq WHERE subscription = '%s'",
				   "dq_batch"), 0);
	db_free(db);
}
END_TEST

/* A rebuild deletes a subscription's entries, in its transaction. */
START_TEST(test_clear)
{
	struct db *db = migrated_db();
	int64_t n;

	bulk_entries(db, "dq_clear", 3);
	bulk_entries(db, "dq_clear_other", 1);
	exec_ok(db, "BEGIN");
	ck_assert_int_eq(dlq_clear(db, "dq_clear", &n), ES_OK);
	ck_assert_int_eq(n, 3);
	exec_ok(db, "ROLLBACK");
	ck_assert_int_eq(count_sql(db, "SELECT count(*) FROM evstore.dlq WHERE subscription = '%s'",
				   "dq_clear"), 3);
	ck_assert_int_eq(dlq_clear(db, "dq_clear", &n), ES_OK);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(dlq_clear(db, "dq_clear", &n), ES_OK);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(count_sql(db, "SELECT count(*) FROM evstore.dlq WHERE subscription = '%s'",
				   "dq_clear_other"), 1);
	db_free(db);
}
END_TEST

/* The runner's side: its partition's requeued entries, oldest first, and
 * how it settles them. */
START_TEST(test_requeued_settled)
{
	struct db *db = migrated_db();
	struct dlq_scope all = { .all_tenants = true };
	struct dlq_requeued got[8];
	struct dlq_retry_done done;
	struct dlq_filter f = { .subscription = "dq_runner", .scope = { .all_tenants = true } };
	struct dlq_entries list;
	int64_t p0[3], p1[1], n64;
	size_t n;

	park_events(db, "dq_runner", 0, NULL, 3, p0);
	park_events(db, "dq_runner", 1, NULL, 1, p1);
	ck_assert_int_eq(dlq_list_requeued(db, "dq_runner", 0, got, 8, &n), ES_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(dlq_retry_all(db, "dq_runner", &all, &n64), ES_OK);
	ck_assert_int_eq(n64, 4);

	ck_assert_int_eq(dlq_list_requeued(db, "dq_runner", 0, got, 2, &n), ES_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(got[0].id, p0[0]);
	ck_assert_int_eq(got[1].id, p0[1]);
	ck_assert_int_eq(got[0].attempts, 3); /* as parked: the runner's next is the 4th */
	ck_assert_int_eq(dlq_list_requeued(db, "dq_runner", 1, got, 8, &n), ES_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(got[0].id, p1[0]);

	/* settled on its own */
	ck_assert_int_eq(dlq_mark_retry_done(db, p0[0]), ES_OK);
	ck_assert_int_eq(dlq_mark_retry_failed(db, p0[1], "still broken"), ES_OK);
	/* settled in the caller's transaction: rolled back with it */
	dlq_retry_done_init(&done, p0[2]);
	ck_assert_int_eq(done.nparams, 1);
	exec_ok(db, "BEGIN");
	ck_assert_int_eq(db_exec_params(db, "test", done.sql, done.nparams, done.values, NULL), ES_OK);
	exec_ok(db, "ROLLBACK");

	ck_assert_int_eq(dlq_list(db, &f, &list), ES_OK);
	ck_assert_uint_eq(list.count, 4);
	ck_assert_str_eq(list.items[0].status, "resolved");
	ck_assert_ptr_nonnull(list.items[0].resolved_at);
	ck_assert_int_eq(list.items[0].attempts, 4);
	ck_assert_str_eq(list.items[1].status, "failed");
	ck_assert_str_eq(list.items[1].error, "still broken");
	ck_assert_int_eq(list.items[1].attempts, 4);
	ck_assert_str_eq(list.items[2].status, "retrying");
	ck_assert_int_eq(list.items[2].attempts, 3);
	dlq_entries_free(&list);

	exec_ok(db, "BEGIN");
	ck_assert_int_eq(db_exec_params(db, "test", done.sql, done.nparams, done.values, NULL), ES_OK);
	exec_ok(db, "COMMIT");
	ck_assert_int_eq(dlq_list_requeued(db, "dq_runner", 0, got, 8, &n), ES_OK);
	ck_assert_uint_eq(n, 0);
	db_free(db);
}
END_TEST

static Suite *dlq_suite(void)
{
	Suite *s = suite_create("dlq");
	TCase *tc = tcase_create("dlq");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_park);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_retry_and_resolve);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_requeued_settled);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_scratch_run("check_dlq", dlq_suite);
}
