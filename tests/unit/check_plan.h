/* check_plan.h - what the suites that hold statements to their plans
 * share (on top of check_scratch.h): a database of their own, so that a
 * table's statistics are theirs alone, and EXPLAIN (FORMAT JSON) read as a
 * tree. */
#ifndef EVSTORE_CHECK_PLAN_H
#define EVSTORE_CHECK_PLAN_H

#include "check_scratch.h"

/* A database of its own next to the scratch one, every migration applied;
 * *name receives its name (for plan_db_drop), *conninfo its connection
 * string (free it). */
static inline struct db *plan_db_create(const char *suffix, char *name, size_t namelen,
					char **conninfo)
{
	struct db *admin = test_db(), *db;
	char sql[160], err[512];
	PGresult *r;
	int applied;

	ck_assert_int_eq(db_exec_sql(admin, "SELECT current_database()", &r), ES_OK);
	snprintf(name, namelen, "%s_%s", PQgetvalue(r, 0, 0), suffix);
	PQclear(r);
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	exec_ok(admin, sql);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	exec_ok(admin, sql);
	db_free(admin);
	*conninfo = test_conninfo_for(test_conninfo, name);
	ck_assert_ptr_nonnull(*conninfo);
	db = test_db_at(*conninfo);
	ck_assert_msg(migrate_apply(db, NULL, NULL, &applied, err, sizeof err) == ES_OK, "%s", err);
	return db;
}

static inline void plan_db_drop(const char *name)
{
	struct db *admin = test_db();
	char sql[160];

	snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", name);
	exec_ok(admin, sql);
	db_free(admin);
}

/* The first node of type `type` in plan's tree (depth first), or NULL. */
static inline json_object *plan_find(json_object *plan, const char *type)
{
	json_object *v, *kids;

	if (json_object_object_get_ex(plan, "Node Type", &v) &&
	    strcmp(json_object_get_string(v), type) == 0)
		return plan;
	if (!json_object_object_get_ex(plan, "Plans", &kids))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(kids); i++) {
		json_object *hit = plan_find(json_object_array_get_idx(kids, i), type);

		if (hit)
			return hit;
	}
	return NULL;
}

/* Whether any node of plan's tree is a scan of relation `table` other
 * than through an index (a Seq Scan or a Bitmap Heap Scan). */
static inline bool plan_scans_table(json_object *plan, const char *table)
{
	json_object *v, *kids;

	if (json_object_object_get_ex(plan, "Relation Name", &v) &&
	    strcmp(json_object_get_string(v), table) == 0 &&
	    json_object_object_get_ex(plan, "Node Type", &v) &&
	    (strcmp(json_object_get_string(v), "Seq Scan") == 0 ||
	     strcmp(json_object_get_string(v), "Bitmap Heap Scan") == 0))
		return true;
	if (!json_object_object_get_ex(plan, "Plans", &kids))
		return false;
	for (size_t i = 0; i < json_object_array_length(kids); i++)
		if (plan_scans_table(json_object_array_get_idx(kids, i), table))
			return true;
	return false;
}

/* Whether some Index Scan (or Index Only Scan) of plan's tree reads
 * index_name. */
static inline bool plan_uses_index(json_object *plan, const char *index_name)
{
	json_object *v, *kids;

	if (json_object_object_get_ex(plan, "Index Name", &v) &&
	    strcmp(json_object_get_string(v), index_name) == 0 &&
	    json_object_object_get_ex(plan, "Node Type", &v) &&
	    strncmp(json_object_get_string(v), "Index", 5) == 0)
		return true;
	if (!json_object_object_get_ex(plan, "Plans", &kids))
		return false;
	for (size_t i = 0; i < json_object_array_length(kids); i++)
		if (plan_uses_index(json_object_array_get_idx(kids, i), index_name))
			return true;
	return false;
}

/* Runs explain (an EXPLAIN (FORMAT JSON) statement) and returns its plan
 * tree; *doc owns it (json_object_put), *text is the plan as text (PQclear
 * *res). */
static inline json_object *plan_explain(struct db *db, const char *explain, json_object **doc,
					PGresult **res)
{
	ck_assert_msg(db_exec_sql(db, explain, res) == ES_OK, "%s: %s", explain, db_last_error(db));
	*doc = json_tokener_parse(PQgetvalue(*res, 0, 0));
	ck_assert_ptr_nonnull(*doc);
	return json_object_object_get(json_object_array_get_idx(*doc, 0), "Plan");
}

/* Checks that explain's plan reads `table` only through index_name:
 * an Index Scan on it, no sequential or bitmap scan of the table. */
static inline void assert_plan_index(struct db *db, const char *explain, const char *table,
				     const char *index_name)
{
	PGresult *r;
	json_object *doc, *plan = plan_explain(db, explain, &doc, &r);

	ck_assert_msg(plan_uses_index(plan, index_name) && !plan_scans_table(plan, table),
		      "%s does not read %s through %s: %s", explain, table, index_name,
		      PQgetvalue(r, 0, 0));
	json_object_put(doc);
	PQclear(r);
}

/* Checks the page's plan: below the Limit that ends the page, the events
 * are read through index_name in order (an Index Scan) and nothing is
 * sorted. The Sort above the Limit orders the page's own rows, at most
 * limit of them. explain is an EXPLAIN (FORMAT JSON) statement. */
static inline void assert_reads_in_order(struct db *db, const char *explain,
					 const char *index_name)
{
	PGresult *r;
	json_object *doc, *limit, *scan, *v;

	limit = plan_find(plan_explain(db, explain, &doc, &r), "Limit");
	ck_assert_msg(limit, "no Limit in %s", PQgetvalue(r, 0, 0));
	ck_assert_msg(!plan_find(limit, "Sort") && !plan_find(limit, "Incremental Sort"),
		      "%s sorts the events: %s", explain, PQgetvalue(r, 0, 0));
	scan = plan_find(limit, "Index Scan");
	ck_assert_msg(scan, "%s does not read an index in order: %s", explain, PQgetvalue(r, 0, 0));
	ck_assert(json_object_object_get_ex(scan, "Index Name", &v));
	ck_assert_msg(strcmp(json_object_get_string(v), index_name) == 0, "%s reads %s, not %s: %s",
		      explain, json_object_get_string(v), index_name, PQgetvalue(r, 0, 0));
	json_object_put(doc);
	PQclear(r);
}

/* Whether some Limit of plan's tree reads index_name in order right below
 * it (its input an Index Scan of it: nothing sorted in between). */
static inline bool plan_limit_over_index(json_object *plan, const char *index_name)
{
	json_object *v, *kids, *child;

	if (!json_object_object_get_ex(plan, "Plans", &kids))
		return false;
	child = NULL; /* the input, not an InitPlan ((SELECT $5) is one) */
	for (size_t i = 0; i < json_object_array_length(kids); i++) {
		json_object *k = json_object_array_get_idx(kids, i);

		if (json_object_object_get_ex(k, "Parent Relationship", &v) &&
		    strcmp(json_object_get_string(v), "Outer") == 0)
			child = k;
	}
	if (json_object_object_get_ex(plan, "Node Type", &v) &&
	    strcmp(json_object_get_string(v), "Limit") == 0 && child &&
	    json_object_object_get_ex(child, "Node Type", &v) &&
	    strcmp(json_object_get_string(v), "Index Scan") == 0 &&
	    json_object_object_get_ex(child, "Index Name", &v) &&
	    strcmp(json_object_get_string(v), index_name) == 0)
		return true;
	for (size_t i = 0; i < json_object_array_length(kids); i++)
		if (plan_limit_over_index(json_object_array_get_idx(kids, i), index_name))
			return true;
	return false;
}

/* Checks that explain's plan reads events only through index_name, in
 * order, up to a Limit (each aggregate type's part of a typed page). */
static inline void assert_limit_over_index(struct db *db, const char *explain,
					   const char *index_name)
{
	PGresult *r;
	json_object *doc, *plan = plan_explain(db, explain, &doc, &r);

	ck_assert_msg(plan_limit_over_index(plan, index_name) && !plan_scans_table(plan, "events"),
		      "%s does not read %s in order up to a Limit: %s", explain, index_name,
		      PQgetvalue(r, 0, 0));
	json_object_put(doc);
	PQclear(r);
}

#endif
