/* check_keyring.c - evstore.subject_keys through privacy/keyring.h against
 * a real PostgreSQL: a take makes a subject's key once and finds it after,
 * a read fetches the same key, an erased key reads as erased and the
 * subject's next take makes a new one; the one-statement sealed append
 * (keyring_lookup, keyring_append) stores its new keys with its events and
 * writes nothing at all when a key was erased or made meanwhile, the
 * expectation fails or an event id is stored; and the take's plan reads
 * one key by both columns of its index however big the table, in both
 * plan modes (check_plan.h). */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "privacy/keyring.h"
#include "privacy/keyring_sql.h"
#include "privacy/masterkey.h"
#include "store/feed.h"
#include "store/store.h"
#include "check_plan.h"

#define TENANT "6f7c2a1e-0000-4000-8000-00000000abcd"

static void install_master(void)
{
	struct masterkey mk;

	memset(&mk, 0, sizeof mk);
	for (size_t i = 0; i < sizeof mk.key; i++)
		mk.key[i] = (unsigned char)(0x40 + i);
	cipher_fingerprint(mk.key, mk.id);
	masterkey_install(&mk);
}

/* keyring_take of subjects[0..n) in its own transaction, committed. */
static void take(struct db *db, const char *tenant, const char *const *subjects, size_t n,
		 struct keyring *kr)
{
	exec_ok(db, "BEGIN");
	ck_assert_int_eq(keyring_take(db, tenant, subjects, n, kr), ES_OK);
	exec_ok(db, "COMMIT");
}

START_TEST(test_take_fetch_forget)
{
	static const char *const subjects[] = { "alice", "bob", "alice" };
	static const char *const alice[] = { "alice" };
	struct db *db = migrated_db();
	struct keyring first = KEYRING_INIT, again = KEYRING_INIT, read = KEYRING_INIT;
	const struct keyring_key *a, *b, *k;
	enum keyring_outcome outcome;
	int64_t ids[2];

	install_master();
	take(db, TENANT, subjects, 3, &first);
	ck_assert_uint_eq(first.n, 2); /* alice once */
	a = keyring_by_subject(&first, TENANT, "alice");
	b = keyring_by_subject(&first, TENANT, "bob");
	ck_assert(a && b && a->key_id != b->key_id);
	ck_assert(memcmp(a->dek, b->dek, CIPHER_KEY_LEN) != 0);
	/* the same subject in another tenant is another key */
	take(db, NULL, alice, 1, &first);
	k = keyring_by_subject(&first, NULL, "alice");
	a = keyring_by_subject(&first, TENANT, "alice");
	ck_assert(k && a && k->key_id != a->key_id);

	/* taken again: the stored keys, unwrapped */
	take(db, TENANT, subjects, 3, &again);
	ck_assert_uint_eq(again.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct keyring_key *x = keyring_by_subject(&first, TENANT, subjects[i]);
		const struct keyring_key *y = keyring_by_subject(&again, TENANT, subjects[i]);

		ck_assert_int_eq(x->key_id, y->key_id);
		ck_assert(memcmp(x->dek, y->dek, CIPHER_KEY_LEN) == 0);
	}
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM evstore.subject_keys"), 3);

	/* erased: a read sees a tombstone, the next take a new key */
	ids[0] = keyring_by_subject(&first, TENANT, "alice")->key_id;
	ids[1] = keyring_by_subject(&first, TENANT, "bob")->key_id;
	ck_assert_int_eq(keyring_forget(db, TENANT, "alice", "dpo", &outcome), ES_OK);
	ck_assert_int_eq(outcome, KEYRING_ERASED);
	ck_assert_int_eq(keyring_fetch(db, ids, 2, true, NULL, &read), ES_OK);
	ck_assert(keyring_by_id(&read, ids[0])->erased);
	ck_assert(!keyring_by_id(&read, ids[1])->erased);
	ck_assert(memcmp(keyring_by_id(&read, ids[1])->dek, keyring_by_subject(&first, TENANT, "bob")->dek,
			 CIPHER_KEY_LEN) == 0);
	keyring_free(&again);
	take(db, TENANT, alice, 1, &again);
	k = keyring_by_subject(&again, TENANT, "alice");
	ck_assert(k && !k->erased && k->key_id != ids[0]);

	keyring_free(&first);
	keyring_free(&again);
	keyring_free(&read);
	masterkey_install(NULL);
	db_free(db);
}
END_TEST

/* One event for a new stream of type Contact (expected_version 0, or
 * expected when it is not 0), its id in ev->event_id. */
struct one_append {
	struct store_new_event ev;
	struct store_append_req req;
	char stream[UUIDTEXT_LEN];
	json_object *payload;
};

static void one_append_init(struct one_append *a, int64_t expected)
{
	memset(a, 0, sizeof *a);
	uuidtext_v7(a->stream);
	uuidtext_v7(a->ev.event_id);
	a->payload = json_tokener_parse("{\"email\":\"sealed elsewhere\"}");
	a->ev.event_type = "ContactNoted";
	a->ev.payload = a->payload;
	a->ev.occurred_at_usec = 1700000000000000LL;
	a->req.tenant = TENANT;
	a->req.aggregate_type = "Contact";
	a->req.aggregate_id = a->stream;
	a->req.expect = STORE_EXPECT_EXACT;
	a->req.expected_version = expected;
	a->req.actor_id = "tester";
	a->req.events = &a->ev;
	a->req.n_events = 1;
}

/* Finds subject's key (in the table, or with from_table false as a
 * worker does: cached or guessed) and runs the guarded append of a, with
 * between() run in between (another session's doing); the append's
 * status. */
static enum es_status guarded_from(struct db *db, struct one_append *a, const char *subject,
				   void (*between)(struct db *other, const char *subject),
				   struct keyring *kr, bool from_table)
{
	struct keyring_guard g = KEYRING_GUARD_INIT;
	struct store_append_res res;
	const char *subjects[1] = { subject };
	enum es_status rc;

	g.from_table = from_table;
	ck_assert_int_eq(keyring_lookup(db, TENANT, subjects, 1, kr, &g), ES_OK);
	if (between) {
		struct db *other = test_db();

		between(other, subject);
		db_free(other);
	}
	rc = keyring_append(db, &a->req, kr, &g, &res);
	if (rc == ES_OK)
		store_append_res_free(&res);
	keyring_guard_free(&g);
	return rc;
}

static enum es_status guarded(struct db *db, struct one_append *a, const char *subject,
			      void (*between)(struct db *other, const char *subject),
			      struct keyring *kr)
{
	return guarded_from(db, a, subject, between, kr, true);
}

static void forget_it(struct db *other, const char *subject)
{
	enum keyring_outcome outcome;

	ck_assert_int_eq(keyring_forget(other, TENANT, subject, "dpo", &outcome), ES_OK);
	ck_assert_int_eq(outcome, KEYRING_ERASED);
}

static void take_it(struct db *other, const char *subject)
{
	struct keyring kr = KEYRING_INIT;

	take(other, TENANT, &subject, 1, &kr);
	keyring_free(&kr);
}

static int64_t count_where(struct db *db, const char *fmt, const char *arg)
{
	char sql[400];

	snprintf(sql, sizeof sql, fmt, arg);
	return sql_int(db, sql);
}

#define STREAM_ROWS "SELECT count(*) FROM evstore.streams WHERE aggregate_id = '%s'"
#define LIVE_KEYS "SELECT count(*) FROM evstore.subject_keys WHERE subject = '%s' AND erased_at IS NULL"
#define ALL_KEYS "SELECT count(*) FROM evstore.subject_keys WHERE subject = '%s'"

START_TEST(test_guarded_append)
{
	struct db *db = migrated_db();
	struct keyring made = KEYRING_INIT, held = KEYRING_INIT, read = KEYRING_INIT, kr = KEYRING_INIT;
	struct one_append a;
	int64_t id;

	install_master();
	/* a new subject: its key is stored with the event, and unwraps to
	 * the key the event was sealed with */
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded(db, &a, "s1", NULL, &made), ES_OK);
	ck_assert_int_eq(count_where(db, STREAM_ROWS, a.stream), 1);
	id = keyring_by_subject(&made, TENANT, "s1")->key_id;
	ck_assert_int_eq(keyring_fetch(db, &id, 1, true, NULL, &read), ES_OK);
	ck_assert(memcmp(keyring_by_id(&read, id)->dek, keyring_by_subject(&made, TENANT, "s1")->dek,
			 CIPHER_KEY_LEN) == 0);
	json_object_put(a.payload);

	/* the subject again: the same key, held, nothing made */
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded(db, &a, "s1", NULL, &held), ES_OK);
	ck_assert_int_eq(keyring_by_subject(&held, TENANT, "s1")->key_id, id);
	ck_assert_int_eq(count_where(db, ALL_KEYS, "s1"), 1);
	json_object_put(a.payload);

	/* erased between the lookup and the append: nothing written */
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded(db, &a, "s1", forget_it, &kr), ES_ENOTFOUND);
	ck_assert_int_eq(count_where(db, STREAM_ROWS, a.stream), 0);
	ck_assert_int_eq(count_where(db, LIVE_KEYS, "s1"), 0);
	json_object_put(a.payload);
	keyring_free(&kr);

	/* another append gave the subject a key first: nothing of ours */
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded(db, &a, "s2", take_it, &kr), ES_ENOTFOUND);
	ck_assert_int_eq(count_where(db, STREAM_ROWS, a.stream), 0);
	ck_assert_int_eq(count_where(db, ALL_KEYS, "s2"), 1);
	id = keyring_by_subject(&kr, TENANT, "s2")->key_id;
	ck_assert_int_ne(sql_int(db, "SELECT key_id FROM evstore.subject_keys WHERE subject = 's2'"), id);
	json_object_put(a.payload);
	keyring_free(&kr);

	/* the expectation fails (version 5 of a stream that does not exist):
	 * the new key is not stored either */
	one_append_init(&a, 5);
	ck_assert_int_eq(guarded(db, &a, "s3", NULL, &kr), ES_ENOTFOUND);
	ck_assert_int_eq(count_where(db, ALL_KEYS, "s3"), 0);
	json_object_put(a.payload);
	keyring_free(&kr);

	/* an event id already stored: refused whole, no key for s4 */
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded(db, &a, "s4a", NULL, &kr), ES_OK);
	uuidtext_v7(a.stream);
	ck_assert_int_eq(guarded(db, &a, "s4", NULL, &kr), ES_EDUPLICATE);
	ck_assert_int_eq(count_where(db, STREAM_ROWS, a.stream), 0);
	ck_assert_int_eq(count_where(db, ALL_KEYS, "s4"), 0);
	json_object_put(a.payload);

	keyring_free(&kr);
	keyring_free(&made);
	keyring_free(&held);
	keyring_free(&read);
	masterkey_install(NULL);
	db_free(db);
}
END_TEST

/* Another worker's erasure of subject: keyring_forget's UPDATE, in SQL,
 * so that this process's cache hears nothing of it. */
static void erase_elsewhere(struct db *other, const char *subject)
{
	char sql[300];

	snprintf(sql, sizeof sql, "UPDATE evstore.subject_keys SET wrapped_key = NULL, erased_at = now(),"
		 " erased_by = 'dpo' WHERE subject = '%s' AND erased_at IS NULL", subject);
	exec_ok(other, sql);
}

/* How often the session has run the prepared statement name. */
static int64_t runs_of(struct db *db, const char *name)
{
	return count_where(db, "SELECT COALESCE(sum(generic_plans + custom_plans), 0)"
			   " FROM pg_prepared_statements WHERE name = '%s'", name);
}

static void epoch_now(struct db *db, char out[UUIDTEXT_LEN])
{
	PGresult *r = NULL;

	ck_assert_int_eq(db_exec_sql(db, "SELECT epoch FROM evstore.key_epoch", &r), ES_OK);
	ck_assert_int_eq(PQntuples(r), 1);
	snprintf(out, UUIDTEXT_LEN, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* A worker's keys between requests (keycache.h): an append to a subject
 * it knows runs no lookup, and one to a subject it guesses new none
 * either; a cached key erased by another worker, or a wrong guess, writes
 * nothing (ES_ERETRY) and the append then goes by the table, under a new
 * key; a read uses a cached key only under the key epoch it was
 * fetched under, which every destroyed key changes and a stream page
 * reports. */
START_TEST(test_cached_keys)
{
	struct db *db = migrated_db(), *other = test_db();
	struct keyring kr = KEYRING_INIT, read = KEYRING_INIT;
	struct store_stream_page page;
	struct sbuf events = SBUF_INIT;
	char e1[UUIDTEXT_LEN], e2[UUIDTEXT_LEN], c1_stream[UUIDTEXT_LEN];
	struct one_append a;
	int64_t id, renewed, lookups;

	install_master();
	/* a new subject, guessed new: its key stored with the event */
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded_from(db, &a, "c1", NULL, &kr, false), ES_OK);
	id = keyring_by_subject(&kr, TENANT, "c1")->key_id;
	ck_assert_int_eq(sql_int(db, "SELECT key_id FROM evstore.subject_keys WHERE subject = 'c1'"), id);
	ck_assert_int_eq(runs_of(db, "keyring_lookup"), 0);
	json_object_put(a.payload);
	keyring_free(&kr);

	/* known now: the cached key, no lookup */
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded_from(db, &a, "c1", NULL, &kr, false), ES_OK);
	ck_assert_int_eq(keyring_by_subject(&kr, TENANT, "c1")->key_id, id);
	ck_assert_int_eq(runs_of(db, "keyring_lookup"), 0);
	ck_assert_int_eq(count_where(db, STREAM_ROWS, a.stream), 1);
	json_object_put(a.payload);
	keyring_free(&kr);

	/* erased by another worker: the cached key writes nothing; by the
	 * table, the subject's next key */
	erase_elsewhere(other, "c1");
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded_from(db, &a, "c1", NULL, &kr, false), ES_ERETRY);
	ck_assert_int_eq(count_where(db, STREAM_ROWS, a.stream), 0);
	keyring_free(&kr);
	ck_assert_int_eq(guarded_from(db, &a, "c1", NULL, &kr, true), ES_OK);
	renewed = keyring_by_subject(&kr, TENANT, "c1")->key_id;
	ck_assert_int_ne(renewed, id);
	ck_assert_int_eq(count_where(db, LIVE_KEYS, "c1"), 1);
	ck_assert_int_eq(sql_int(db, "SELECT key_id FROM evstore.subject_keys WHERE subject = 'c1'"
				     " AND erased_at IS NULL"), renewed);
	memcpy(c1_stream, a.stream, sizeof c1_stream);
	json_object_put(a.payload);
	keyring_free(&kr);

	/* a subject another worker gave a key, guessed new here (the misses
	 * so far were new): nothing written, no second key */
	take_it(other, "c2");
	one_append_init(&a, 0);
	ck_assert_int_eq(guarded_from(db, &a, "c2", NULL, &kr, false), ES_ERETRY);
	ck_assert_int_eq(count_where(db, STREAM_ROWS, a.stream), 0);
	ck_assert_int_eq(count_where(db, ALL_KEYS, "c2"), 1);
	json_object_put(a.payload);
	keyring_free(&kr);

	/* reads: fetched once under the epoch, then from the cache */
	epoch_now(db, e1);
	ck_assert_int_eq(keyring_fetch(db, &renewed, 1, true, e1, &read), ES_OK);
	keyring_free(&read);
	lookups = runs_of(db, "keyring_fetch");
	ck_assert_int_eq(keyring_fetch(db, &renewed, 1, true, e1, &read), ES_OK);
	ck_assert_int_eq(runs_of(db, "keyring_fetch"), lookups);
	ck_assert(!keyring_by_id(&read, renewed)->erased);
	keyring_free(&read);

	/* an UPDATE that changes no key leaves the epoch; erasing elsewhere
	 * moves it, and a read under the new one sees the erasure */
	exec_ok(other, "UPDATE evstore.subject_keys SET wrapped_key = wrapped_key, master_id = master_id");
	epoch_now(db, e2);
	ck_assert_str_eq(e2, e1);
	erase_elsewhere(other, "c1");
	epoch_now(db, e2);
	ck_assert_str_ne(e2, e1);
	ck_assert_int_eq(keyring_fetch(db, &renewed, 1, true, e2, &read), ES_OK);
	ck_assert_int_eq(runs_of(db, "keyring_fetch"), lookups + 1);
	ck_assert(keyring_by_id(&read, renewed)->erased);
	keyring_free(&read);
	/* so does a key wrapped anew (a rotation's batch) */
	exec_ok(other, "UPDATE evstore.subject_keys SET wrapped_key = wrapped_key || '\\x00'::bytea"
		       " WHERE subject = 'c2'");
	epoch_now(db, e1);
	ck_assert_str_ne(e1, e2);
	epoch_now(db, e2);

	/* a stream page carries the epoch it was read under, when asked */
	ck_assert_int_eq(store_read_stream(db, TENANT, "Contact", c1_stream, 0, 10, 0, STORE_READ_KEY_EPOCH,
					   &events, &page), ES_OK);
	ck_assert_uint_eq(page.count, 1);
	ck_assert_str_eq(page.key_epoch, e2);
	sbuf_reset(&events);
	ck_assert_int_eq(store_read_stream(db, TENANT, "Contact", c1_stream, 0, 10, 0, 0, &events, &page),
			 ES_OK);
	ck_assert_str_eq(page.key_epoch, "");
	/* and so does a page of the feed */
	{
		struct feed_request q = { .all_tenants = true, .limit = 10, .key_epoch = true };
		struct feed_cursor next;
		char fe[UUIDTEXT_LEN] = "";
		size_t count;

		sbuf_reset(&events);
		ck_assert_int_eq(feed_read_json(db, &q, &events, &count, &next, fe), ES_OK);
		ck_assert_uint_gt(count, 0);
		ck_assert_str_eq(fe, e2);
	}

	sbuf_free(&events);
	masterkey_install(NULL);
	db_free(other);
	db_free(db);
}
END_TEST

/* Whether a node of plan reads subject_keys other than by key_id, or a
 * named subject's live key by tenant and subject (the guard's check that
 * a new key's subject has none): any other scan of an index on
 * (tenant_id, subject), or a sequential scan. */
static bool reads_beyond_pkey(json_object *plan)
{
	json_object *v, *kids, *cond;

	if (json_object_object_get_ex(plan, "Index Name", &v) &&
	    strncmp(json_object_get_string(v), "subject_keys_", 13) == 0 &&
	    strcmp(json_object_get_string(v), "subject_keys_pkey") != 0 &&
	    !(strcmp(json_object_get_string(v), "subject_keys_live_idx") == 0 &&
	      json_object_object_get_ex(plan, "Index Cond", &cond) &&
	      strstr(json_object_get_string(cond), "tenant_id") &&
	      strstr(json_object_get_string(cond), "subject")))
		return true;
	if (json_object_object_get_ex(plan, "Relation Name", &v) &&
	    strcmp(json_object_get_string(v), "subject_keys") == 0 &&
	    json_object_object_get_ex(plan, "Node Type", &v) &&
	    strcmp(json_object_get_string(v), "Seq Scan") == 0)
		return true;
	if (!json_object_object_get_ex(plan, "Plans", &kids))
		return false;
	for (size_t i = 0; i < json_object_array_length(kids); i++)
		if (reads_beyond_pkey(json_object_array_get_idx(kids, i)))
			return true;
	return false;
}

static const char *const by_subject[] = {
	"EXPLAIN (FORMAT JSON) EXECUTE keyring_take('" TENANT "', 'customer-1')",
	"EXPLAIN (FORMAT JSON) EXECUTE keyring_lookup('" TENANT "', 'customer-1')",
};

/* The guarded append's hold on the keys it found, and a read's fetch of
 * its keys: by key id alone. */
static const char *const by_id[] = {
	"EXPLAIN (FORMAT JSON) EXECUTE keyring_append_new('" TENANT "', 'Contact',"
	" '0192f3c4-0000-7000-8000-000000000001', 'tester', '[{}]', '[1,2]', '[]')",
	"EXPLAIN (FORMAT JSON) EXECUTE keyring_append_new('" TENANT "', 'Contact',"
	" '0192f3c4-0000-7000-8000-000000000001', 'tester', '[{}]', '[1]',"
	" '[{\"key_id\":9,\"subject\":\"customer-1\",\"wrapped_key\":\"00\",\"master_id\":\"m\"}]')",
	"EXPLAIN (FORMAT JSON) EXECUTE keyring_fetch('[1,2]')",
};

/* The take and the lookup read subject_keys through an index whose
 * condition names both the tenant and the subject: not a scan of the
 * tenant's keys, filtered. */
static void assert_take_plan(struct db *db)
{
	static const char *const modes[] = { "force_custom_plan", "force_generic_plan" };

	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		char set[64];

		snprintf(set, sizeof set, "SET plan_cache_mode = %s", modes[m]);
		exec_ok(db, set);
		for (size_t i = 0; i < sizeof by_subject / sizeof by_subject[0]; i++) {
			json_object *doc, *scan, *cond, *plan;
			PGresult *r;

			plan = plan_explain(db, by_subject[i], &doc, &r);
			scan = plan_find(plan, "Index Scan");
			ck_assert_msg(scan && json_object_object_get_ex(scan, "Index Cond", &cond) &&
					      strstr(json_object_get_string(cond), "tenant_id") &&
					      strstr(json_object_get_string(cond), "subject") &&
					      !plan_scans_table(plan, "subject_keys"),
				      "%s (%s) does not find the key by tenant and subject: %.1500s", by_subject[i],
				      modes[m], PQgetvalue(r, 0, 0));
			json_object_put(doc);
			PQclear(r);
		}
		for (size_t i = 0; i < sizeof by_id / sizeof by_id[0]; i++) {
			json_object *doc;
			PGresult *r;

			ck_assert_msg(!reads_beyond_pkey(plan_explain(db, by_id[i], &doc, &r)),
				      "%s (%s) reads more than the keys it names: %.1500s", by_id[i],
				      modes[m], PQgetvalue(r, 0, 0));
			json_object_put(doc);
			PQclear(r);
		}
	}
	exec_ok(db, "RESET plan_cache_mode");
}

/* Erasing a subject and its report look past the live key by the two
 * partial indexes (sql/009), never through the whole table: with 100,000
 * keys, some of them tombstones. Prepared, and planned both generic (the
 * parameters unknown) and for the values at hand. */
static void assert_subject_queries_plan(struct db *db)
{
	static const char *const modes[] = { "force_custom_plan", "force_generic_plan" };
	static const char *const sql[] = { KEYRING_FORGET_SQL, KEYRING_INFO_SQL };
	static const char *const params[] = { "('" TENANT "', 'customer-7', 'tester')",
					      "('" TENANT "', 'customer-7')" };

	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		char stmt[2048], explain[256];

		snprintf(stmt, sizeof stmt, "PREPARE subject_q%zu AS %s", i, sql[i]);
		exec_ok(db, stmt);
		for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
			json_object *doc, *plan;
			PGresult *r;

			snprintf(stmt, sizeof stmt, "SET plan_cache_mode = %s", modes[m]);
			exec_ok(db, stmt);
			snprintf(explain, sizeof explain, "EXPLAIN (FORMAT JSON) EXECUTE subject_q%zu%s",
				 i, params[i]);
			plan = plan_explain(db, explain, &doc, &r);
			ck_assert_msg(!plan_scans_table(plan, "subject_keys") &&
					      plan_uses_index(plan, "subject_keys_live_idx") &&
					      plan_uses_index(plan, "subject_keys_erased_idx"),
				      "%s (%s) reads subject_keys beyond the subject's keys: %.1500s",
				      sql[i], modes[m], PQgetvalue(r, 0, 0));
			json_object_put(doc);
			PQclear(r);
		}
		snprintf(stmt, sizeof stmt, "DEALLOCATE subject_q%zu", i);
		exec_ok(db, stmt);
	}
	exec_ok(db, "RESET plan_cache_mode");
}

/* A guarded append for subject (its key found or made), then a read's
 * fetch of that key. */
static void append_and_fetch(struct db *db, const char *subject)
{
	struct keyring kr = KEYRING_INIT, read = KEYRING_INIT;
	struct one_append a;
	int64_t id;

	one_append_init(&a, 0);
	ck_assert_int_eq(guarded(db, &a, subject, NULL, &kr), ES_OK);
	json_object_put(a.payload);
	id = keyring_by_subject(&kr, TENANT, subject)->key_id;
	ck_assert_int_eq(keyring_fetch(db, &id, 1, true, NULL, &read), ES_OK);
	keyring_free(&read);
	keyring_free(&kr);
}

/* A new session on conninfo with every statement of by_subject and by_id
 * prepared, and so planned, now: a take, a guarded append and a fetch for
 * the subject "prep-<stage>". */
static struct db *session_planned_now(const char *conninfo, int stage)
{
	struct db *db = test_db_at(conninfo);
	struct keyring kr = KEYRING_INIT;
	char subject[32];
	const char *one[1] = { subject };

	snprintf(subject, sizeof subject, "prep-%d", stage);
	take(db, TENANT, one, 1, &kr);
	keyring_free(&kr);
	append_and_fetch(db, subject);
	return db;
}

/* Each stage plans in a session of its own, as a worker started then
 * would, and keeps: on an empty table never analyzed; with 500 keys not
 * analyzed yet (a table growing faster than autovacuum looks at it: the
 * plan made then is kept until the next ANALYZE); with 100,000 keys of one
 * tenant, analyzed. */
START_TEST(test_take_plan)
{
	char name[96], *conninfo;
	struct db *db;

	install_master();
	db = plan_db_create("keyring_plan", name, sizeof name, &conninfo);
	exec_ok(db, "ALTER TABLE evstore.subject_keys SET (autovacuum_enabled = false)");
	db_free(db);
	db = session_planned_now(conninfo, 1);
	assert_take_plan(db);

	exec_ok(db, "INSERT INTO evstore.subject_keys (tenant_id, subject, wrapped_key, master_id)"
		    " SELECT '" TENANT "', 'early-' || g, '\\x00', 'test' FROM generate_series(1, 500) g");
	db_free(db);
	db = session_planned_now(conninfo, 2);
	assert_take_plan(db);

	exec_ok(db, "INSERT INTO evstore.subject_keys (tenant_id, subject, wrapped_key, master_id)"
		    " SELECT '" TENANT "', 'customer-' || g, '\\x00', 'test'"
		    " FROM generate_series(1, 100000) g");
	exec_ok(db, "UPDATE evstore.subject_keys SET wrapped_key = NULL, erased_at = now()"
		    " WHERE subject LIKE 'customer-%5'");
	exec_ok(db, "ANALYZE evstore.subject_keys");
	db_free(db);
	db = session_planned_now(conninfo, 3);
	assert_take_plan(db);
	assert_subject_queries_plan(db);

	/* and planned once: after the five plans for the values at hand that
	 * PostgreSQL makes first, each runs its generic plan (a statement
	 * whose generic plan looks dearer is planned again at every call) */
	for (int i = 0; i < 10; i++) {
		char subject[32];

		snprintf(subject, sizeof subject, "fresh-%d", i);
		append_and_fetch(db, i % 2 ? "prep-3" : subject);
	}
	ck_assert_int_eq(sql_int(db, "SELECT count(*) FROM pg_prepared_statements"
				     " WHERE name IN ('keyring_lookup', 'keyring_append_new', 'keyring_fetch')"
				     "   AND generic_plans > 0"), 3);

	masterkey_install(NULL);
	db_free(db);
	plan_db_drop(name);
	free(conninfo);
}
END_TEST

static Suite *keyring_suite(void)
{
	Suite *s = suite_create("keyring");
	TCase *tc = tcase_create("keyring");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_take_fetch_forget);
	tcase_add_test(tc, test_guarded_append);
	tcase_add_test(tc, test_cached_keys);
	tcase_add_test(tc, test_take_plan);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_scratch_run("check_keyring", keyring_suite);
}
