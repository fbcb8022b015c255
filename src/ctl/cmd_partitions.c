/* cmd_partitions.c - evstorectl partitions: who runs each partition of each
 * subscription, how far it has got and whether its runner is alive. The
 * configured subscriptions say which partitions should exist; the
 * checkpoints, status rows and DLQ say how they are doing. A partition no
 * runner has claimed yet shows as unclaimed; one whose runner's heartbeat
 * is older than [health] runner_stale_after shows as stale. */
#include "buildconf.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "base/config.h"
#include "pg/db.h"
#include "base/sbuf.h"
#include "subs/subscription.h"
#include "ctl/commands.h"

/* Parameters: configured names (text[]), their partition counts (int[]),
 * the one subscription asked for (or NULL), runner_stale_after seconds.
 * Partitions come from the configuration and from the checkpoints (a
 * subscription removed from the file still shows while its rows stay). */
#define PARTITIONS_SQL \
	"WITH conf AS (SELECT n AS subscription, p AS partition FROM unnest($1::text[], $2::int[]) AS c(n, k)," \
	"                generate_series(0, c.k - 1) AS p)," \
	" parts AS (SELECT subscription, partition FROM conf" \
	"           UNION SELECT subscription, partition FROM evstore.checkpoints)" \
	" SELECT p.subscription, p.partition, s.runner_id," \
	"  CASE WHEN s.subscription IS NULL THEN 'unclaimed'" \
	"       WHEN s.state <> 'stopped' AND s.heartbeat_at < now() - make_interval(secs => $4::int)" \
	"       THEN 'stale' ELSE s.state END," \
	"  floor(extract(epoch FROM now() - s.heartbeat_at))::bigint," \
	"  NULLIF(c.position, 9223372036854775807), c.position = 9223372036854775807," \
	"  s.lag_events, s.events_processed," \
	"  (SELECT count(*) FROM evstore.dlq d WHERE d.subscription = p.subscription" \
	"     AND d.partition = p.partition AND d.status <> 'resolved')," \
	"  EXISTS (SELECT 1 FROM conf WHERE conf.subscription = p.subscription)" \
	" FROM parts p" \
	" LEFT JOIN evstore.checkpoints c USING (subscription, partition)" \
	" LEFT JOIN evstore.subscription_status s USING (subscription, partition)" \
	" WHERE $3::text IS NULL OR p.subscription = $3" \
	" ORDER BY 1, 2"

enum { COL_SUB, COL_PART, COL_RUNNER, COL_STATE, COL_AGE, COL_POSITION, COL_AT_HORIZON, COL_LAG,
       COL_PROCESSED, COL_DLQ, COL_CONFIGURED };

/* The configured subscriptions as two PostgreSQL array literals: names and
 * partition counts. A section that does not parse is reported and left
 * out. */
static bool partitions_from_config(const struct es_config *cfg, struct sbuf *names,
				   struct sbuf *counts)
{
	sbuf_putc(names, '{');
	sbuf_putc(counts, '{');
	for (size_t i = 0, kept = 0; i < cfg->n_subscriptions; i++) {
		struct subscription c;
		char err[512];

		if (subscription_parse(&cfg->subscriptions[i], cfg->source_path, &c, err, sizeof err) != ES_OK) {
			ctl_error("%s (left out)", err);
			continue;
		}
		/* Names are [A-Za-z0-9_.-] (subscription.c): no quoting needed. */
		sbuf_printf(names, "%s\"%s\"", kept ? "," : "", c.name);
		sbuf_printf(counts, "%s%d", kept ? "," : "", c.partitions);
		kept++;
		subscription_free(&c);
	}
	sbuf_putc(names, '}');
	sbuf_putc(counts, '}');
	return !names->failed && !counts->failed;
}

static const char *cell(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? "-" : PQgetvalue(r, row, col);
}

static bool is_true(const PGresult *r, int row, int col)
{
	return strcmp(PQgetvalue(r, row, col), "t") == 0;
}

static void partitions_print_text(const PGresult *r)
{
	printf("%-24s %4s  %-28s %-11s %9s %12s %8s %5s\n", "SUBSCRIPTION", "PART", "RUNNER", "STATE",
	       "HEARTBEAT", "CHECKPOINT", "LAG", "DLQ");
	for (int i = 0; i < PQntuples(r); i++) {
		char age[24] = "-", name[64];

		if (!PQgetisnull(r, i, COL_AGE))
			snprintf(age, sizeof age, "%ss ago", PQgetvalue(r, i, COL_AGE));
		snprintf(name, sizeof name, "%s%s", PQgetvalue(r, i, COL_SUB),
			 is_true(r, i, COL_CONFIGURED) ? "" : " (removed)");
		printf("%-24s %4s  %-28s %-11s %9s %12s %8s %5s\n", name, PQgetvalue(r, i, COL_PART),
		       cell(r, i, COL_RUNNER), cell(r, i, COL_STATE), age,
		       is_true(r, i, COL_AT_HORIZON) ? "horizon" : cell(r, i, COL_POSITION),
		       cell(r, i, COL_LAG), PQgetvalue(r, i, COL_DLQ));
	}
}

/* Adds the column as a JSON integer, string or null. */
static void json_add(json_object *o, const char *key, const PGresult *r, int row, int col,
		     bool integer)
{
	json_object *v = NULL;

	if (!PQgetisnull(r, row, col)) {
		const char *s = PQgetvalue(r, row, col);

		v = integer ? json_object_new_int64(strtoll(s, NULL, 10)) : json_object_new_string(s);
	}
	json_object_object_add(o, key, v);
}

static int partitions_print_json(const PGresult *r)
{
	json_object *arr = json_object_new_array();

	if (!arr)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		json_object *o = json_object_new_object();

		if (!o)
			break;
		json_add(o, "subscription", r, i, COL_SUB, false);
		json_add(o, "partition", r, i, COL_PART, true);
		json_add(o, "runner_id", r, i, COL_RUNNER, false);
		json_add(o, "state", r, i, COL_STATE, false);
		json_add(o, "heartbeat_age_seconds", r, i, COL_AGE, true);
		json_add(o, "checkpoint_position", r, i, COL_POSITION, true);
		json_object_object_add(o, "checkpoint_at_horizon",
				       json_object_new_boolean(is_true(r, i, COL_AT_HORIZON)));
		json_add(o, "lag_events", r, i, COL_LAG, true);
		json_add(o, "events_processed", r, i, COL_PROCESSED, true);
		json_add(o, "dlq_count", r, i, COL_DLQ, true);
		json_object_object_add(o, "configured",
				       json_object_new_boolean(is_true(r, i, COL_CONFIGURED)));
		json_object_array_add(arr, o);
	}
	printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
	return 0;
}

int cmd_partitions(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sbuf names = SBUF_INIT, counts = SBUF_INIT;
	const char *vals[4];
	char stale[16];
	struct es_config cfg;
	struct db *db = NULL;
	PGresult *r = NULL;
	bool json = false;
	int opt, rc = CTL_EXIT_FAILURE;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			ctl_print_usage(stdout, "partitions");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("partitions", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return ctl_usage_error("partitions", "unexpected argument '%s'", argv[optind + 1]);
	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	if (!partitions_from_config(&cfg, &names, &counts)) {
		ctl_error("out of memory");
		goto out;
	}
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	snprintf(stale, sizeof stale, "%d", cfg.health.runner_stale_after);
	vals[0] = sbuf_cstr(&names);
	vals[1] = sbuf_cstr(&counts);
	vals[2] = optind < argc ? argv[optind] : NULL;
	vals[3] = stale;
	if (db_exec_params(db, "partitions", PARTITIONS_SQL, 4, vals, &r) != ES_OK) {
		ctl_error("cannot read the partitions: %s", db_last_error(db));
		goto out;
	}
	if (vals[2] && PQntuples(r) == 0) {
		ctl_error("no subscription %s: not configured and no checkpoint", vals[2]);
		goto out;
	}
	if (json ? partitions_print_json(r) != 0 : (partitions_print_text(r), false)) {
		ctl_error("out of memory");
		goto out;
	}
	rc = CTL_EXIT_OK;
out:
	PQclear(r);
	db_free(db);
	sbuf_free(&names);
	sbuf_free(&counts);
	config_free(&cfg);
	return rc;
}
