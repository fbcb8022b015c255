/* cmd_partitions.c - evstorectl partitions: who runs each partition of each
 * subscription, how far it has got and whether its runner is alive. The
 * configured subscriptions say which partitions should exist; the
 * checkpoints, status rows and DLQ say how they are doing. A partition no
 * runner has claimed yet shows as unclaimed; one whose runner's heartbeat
 * is older than [health] runner_stale_after shows as stale. */
#include "buildconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/config.h"
#include "pg/db.h"
#include "subs/subscription.h"
#include "subs/substatus.h"
#include "ctl/commands.h"

/* The configured subscriptions, parsed into confs[0..*n) (the caller
 * releases each with subscription_free), their names and partition counts
 * into names and counts. A section that does not parse is reported and
 * left out. */
static void partitions_from_config(const struct es_config *cfg, struct subscription *confs,
				   const char **names, int *counts, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < cfg->n_subscriptions; i++) {
		char err[512];

		if (subscription_parse(&cfg->subscriptions[i], cfg->source_path, &confs[*n], err,
				       sizeof err) != ES_OK) {
			ctl_error("%s (left out)", err);
			continue;
		}
		names[*n] = confs[*n].name;
		counts[*n] = confs[*n].partitions;
		(*n)++;
	}
}

static void partitions_print_text(const struct substatus_partitions *l)
{
	printf("%-24s %4s  %-28s %-11s %9s %12s %8s %5s\n", "SUBSCRIPTION", "PART", "RUNNER", "STATE",
	       "HEARTBEAT", "CHECKPOINT", "LAG", "DLQ");
	for (size_t i = 0; i < l->count; i++) {
		const struct substatus_partition *p = &l->items[i];
		char age[32] = "-", name[64], part[16], position[24] = "-", lag[24] = "-", dlq[24];

		if (p->has_status) {
			snprintf(age, sizeof age, "%" PRId64 "s ago", p->heartbeat_age_seconds);
			snprintf(lag, sizeof lag, "%" PRId64, p->lag_events);
		}
		if (p->has_position)
			snprintf(position, sizeof position, "%" PRId64, p->checkpoint_position);
		snprintf(name, sizeof name, "%s%s", p->subscription, p->configured ? "" : " (removed)");
		snprintf(part, sizeof part, "%d", p->partition);
		snprintf(dlq, sizeof dlq, "%" PRId64, p->dlq_count);
		printf("%-24s %4s  %-28s %-11s %9s %12s %8s %5s\n", name, part,
		       p->has_status ? p->runner_id : "-", p->state, age,
		       p->checkpoint_at_horizon ? "horizon" : position, lag, dlq);
	}
}

static json_object *int_or_null(bool has, int64_t v)
{
	return has ? json_object_new_int64(v) : NULL;
}

static int partitions_print_json(const struct substatus_partitions *l)
{
	json_object *arr = json_object_new_array();

	if (!arr)
		return -1;
	for (size_t i = 0; i < l->count; i++) {
		const struct substatus_partition *p = &l->items[i];
		json_object *o = json_object_new_object();

		if (!o)
			break;
		json_object_object_add(o, "subscription", json_object_new_string(p->subscription));
		json_object_object_add(o, "partition", json_object_new_int64(p->partition));
		json_object_object_add(o, "runner_id",
				       p->has_status ? json_object_new_string(p->runner_id) : NULL);
		json_object_object_add(o, "state", json_object_new_string(p->state));
		json_object_object_add(o, "heartbeat_age_seconds",
				       int_or_null(p->has_status, p->heartbeat_age_seconds));
		json_object_object_add(o, "checkpoint_position",
				       int_or_null(p->has_position, p->checkpoint_position));
		json_object_object_add(o, "checkpoint_at_horizon",
				       json_object_new_boolean(p->checkpoint_at_horizon));
		json_object_object_add(o, "lag_events", int_or_null(p->has_status, p->lag_events));
		json_object_object_add(o, "events_processed",
				       int_or_null(p->has_status, p->events_processed));
		json_object_object_add(o, "dlq_count", json_object_new_int64(p->dlq_count));
		json_object_object_add(o, "configured", json_object_new_boolean(p->configured));
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
	struct substatus_partitions list = { 0 };
	struct subscription *confs = NULL;
	const char **names = NULL;
	const char *only;
	int *counts = NULL;
	size_t n = 0;
	struct es_config cfg;
	struct db *db = NULL;
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
	confs = calloc(cfg.n_subscriptions + 1, sizeof *confs);
	names = calloc(cfg.n_subscriptions + 1, sizeof *names);
	counts = calloc(cfg.n_subscriptions + 1, sizeof *counts);
	if (!confs || !names || !counts) {
		ctl_error("out of memory");
		goto out;
	}
	partitions_from_config(&cfg, confs, names, counts, &n);
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	only = optind < argc ? argv[optind] : NULL;
	if (substatus_partitions(db, names, counts, n, only, cfg.health.runner_stale_after,
				 &list) != ES_OK) {
		ctl_error("cannot read the partitions: %s", db_last_error(db));
		goto out;
	}
	if (only && list.count == 0) {
		ctl_error("no subscription %s: not configured and no checkpoint", only);
		goto out;
	}
	if (json ? partitions_print_json(&list) != 0 : (partitions_print_text(&list), false)) {
		ctl_error("out of memory");
		goto out;
	}
	rc = CTL_EXIT_OK;
out:
	substatus_partitions_free(&list);
	for (size_t i = 0; i < n; i++)
		subscription_free(&confs[i]);
	free(confs);
	free(names);
	free(counts);
	db_free(db);
	config_free(&cfg);
	return rc;
}
