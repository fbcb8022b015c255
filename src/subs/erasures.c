/* erasures.c - the inboxes of SubjectErased (sql/008). */
#include "buildconf.h"
#include "subs/erasures.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"

/* Run at each unit start of partition 0, so not prepared. */
#define ERASURES_REGISTER_SQL \
	"INSERT INTO evstore.erasure_subscribers (subscription) VALUES ($1)" \
	" ON CONFLICT (subscription) DO NOTHING"
#define ERASURES_UNREGISTER_SQL \
	"DELETE FROM evstore.erasure_subscribers WHERE subscription = $1"

/* Once a second per delivering subscription: prepared. The event is built
 * here, as evstore.event_json builds a stored one, so that every handler
 * gets the same bytes. */
static const struct db_statement st_pending = {
	"erasures_pending",
	"SELECT k.key_id, CASE WHEN k.tenant_id = '00000000-0000-0000-0000-000000000000'::uuid"
	"   THEN '' ELSE k.tenant_id::text END,"
	" json_build_object('event_id', NULL, 'event_type', '" ERASURES_EVENT_TYPE "',"
	"   'aggregate_type', NULL, 'aggregate_id', NULL, 'version', NULL, 'position', NULL,"
	"   'tenant_id', NULLIF(k.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid),"
	"   'subject', k.subject, 'key_id', k.key_id,"
	"   'erased_at', to_char(k.erased_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	"   'payload', NULL, 'metadata', NULL)::text"
	" FROM evstore.erasure_inbox i JOIN evstore.subject_keys k ON k.key_id = i.key_id"
	" WHERE i.subscription = $1 ORDER BY i.key_id LIMIT $2::int",
	2
};

#define ERASURES_DELIVERED_SQL "SELECT evstore.erasure_delivered($1, $2::bigint)"

static const struct db_statement st_delivered = {
	"erasures_delivered", ERASURES_DELIVERED_SQL, 2
};

enum es_status erasures_subscribe(struct db *db, const char *subscription, bool deliver)
{
	const char *vals[1] = { subscription };

	return db_exec_params(db, deliver ? "erasures_register" : "erasures_unregister",
			      deliver ? ERASURES_REGISTER_SQL : ERASURES_UNREGISTER_SQL, 1, vals, NULL);
}

void erasures_free(struct erasure *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++) {
		free(e[i].json);
		e[i].json = NULL;
	}
}

enum es_status erasures_pending(struct db *db, const char *subscription, struct erasure *out,
				size_t max, size_t *n)
{
	char limit[24];
	const char *vals[2] = { subscription, limit };
	PGresult *r = NULL;
	enum es_status rc;
	int rows;

	*n = 0;
	snprintf(limit, sizeof limit, "%zu", max);
	rc = db_exec(db, &st_pending, vals, &r);
	if (rc != ES_OK)
		goto out;
	rows = PQntuples(r);
	for (int i = 0; i < rows && (size_t)i < max; i++) {
		struct erasure *e = &out[*n];

		e->key_id = db_value_int64(r, i, 0);
		snprintf(e->tenant, sizeof e->tenant, "%s", PQgetvalue(r, i, 1));
		e->json = strdup(PQgetvalue(r, i, 2));
		if (!e->json) {
			erasures_free(out, *n);
			*n = 0;
			rc = ES_ENOMEM;
			goto out;
		}
		(*n)++;
	}
out:
	PQclear(r);
	return rc;
}

void erasures_delivered_init(struct erasures_delivered *s, const char *subscription,
			     int64_t key_id)
{
	snprintf(s->key_id_, sizeof s->key_id_, "%" PRId64, key_id);
	s->sql = ERASURES_DELIVERED_SQL;
	s->nparams = 2;
	s->values[0] = subscription;
	s->values[1] = s->key_id_;
}

enum es_status erasures_mark_delivered(struct db *db, const char *subscription, int64_t key_id)
{
	struct erasures_delivered s;
	PGresult *r = NULL;
	enum es_status rc;

	erasures_delivered_init(&s, subscription, key_id);
	rc = db_exec(db, &st_delivered, s.values, &r);
	PQclear(r);
	return rc;
}
