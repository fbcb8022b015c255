/* subcheck.c - the subscription items of a check run. */
#include "buildconf.h"
#include "subs/subcheck.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/startcheck.h"
#include "pg/db.h"
#include "subs/sqlfile.h"
#include "subs/subscription.h"
#include "subs/substatus.h"

void subcheck_config(struct startcheck *c, const struct es_config *cfg,
		     struct subscription **subs, size_t *n)
{
	char err[512];

	if (subscription_parse_all(cfg, subs, n, err, sizeof err) != ES_OK) {
		startcheck_item(c, STARTCHECK_FAIL, "subscriptions", "%s", err);
		*subs = NULL;
		*n = 0;
	} else if (*n == 0) {
		startcheck_item(c, STARTCHECK_WARN, "subscriptions", "%s", SUBSCRIPTION_NONE);
	} else {
		startcheck_item(c, STARTCHECK_PASS, "subscriptions", "%zu, their SQL files read", *n);
	}
}

/* The "projection NAME" item of one sql subscription; k numbers its
 * statements' names. */
static void report_projection(struct startcheck *c, struct db *db, const struct subscription *sub,
			      size_t k)
{
	struct sqlfile f;
	char item[96], prefix[48], err[512];
	size_t sec = 0, i = 0, n = 0;

	snprintf(item, sizeof item, "projection %s", sub->name);
	if (sqlfile_load(sub->sql_file, &f, err, sizeof err) != ES_OK) {
		startcheck_item(c, STARTCHECK_FAIL, item, "%s", err);
		return;
	}
	snprintf(prefix, sizeof prefix, "evstorectl_check_%zu", k);
	if (sqlfile_prepare(db, &f, prefix, &sec, &i) != ES_OK) {
		startcheck_item(c, STARTCHECK_FAIL, item, "%s: '-- on %s', statement %zu: %s; fix the "
				"file or create the read model's tables, then reload the runner",
				sub->sql_file, f.sections[sec].event_type, i + 1, db_last_error(db));
	} else {
		for (size_t s = 0; s < f.n_sections; s++)
			n += f.sections[s].n_statements;
		startcheck_item(c, STARTCHECK_PASS, item, "%zu statements of %s prepared by "
				"PostgreSQL", n, sub->sql_file);
	}
	sqlfile_free(&f);
}

void subcheck_projections(struct startcheck *c, struct db *db, const struct subscription *subs,
			  size_t n)
{
	bool prepared = false;

	for (size_t k = 0; k < n; k++) {
		if (subs[k].handler != SUB_HANDLER_SQL)
			continue;
		report_projection(c, db, &subs[k], k);
		prepared = true;
	}
	/* Leave the session as found. */
	if (prepared && db_exec_sql(db, "DEALLOCATE ALL", NULL) != ES_OK)
		startcheck_item(c, STARTCHECK_WARN, "projections", "cannot deallocate the "
				"statements: %s", db_last_error(db));
}

/* One subscription's partitions summed up from the list. */
struct sub_tally {
	int partitions, running;
	int64_t dlq;
	const char *example;  /* the state of a partition not running */
};

static struct sub_tally tally(const struct substatus_partitions *l, const char *name)
{
	struct sub_tally t = { 0, 0, 0, NULL };

	for (size_t i = 0; i < l->count; i++) {
		const struct substatus_partition *p = &l->items[i];

		if (strcmp(p->subscription, name) != 0)
			continue;
		t.partitions++;
		t.dlq += p->dlq_count;
		if (strcmp(p->state, "unclaimed") != 0 && strcmp(p->state, "stale") != 0 &&
		    strcmp(p->state, "stopped") != 0)
			t.running++;
		else if (!t.example)
			t.example = p->state;
	}
	return t;
}

static void report_heartbeat(struct startcheck *c, const char *name, const struct sub_tally *t,
			     int stale_after)
{
	char item[96];

	snprintf(item, sizeof item, "runner heartbeat %s", name);
	if (t->running == t->partitions)
		startcheck_item(c, STARTCHECK_PASS, item, "%d of %d partitions run by a runner "
				"heard from within %d s", t->running, t->partitions, stale_after);
	else if (t->running > 0)
		startcheck_item(c, STARTCHECK_WARN, item, "%d of %d partitions run (another is %s): "
				"start more runners or look at the missing one's log", t->running,
				t->partitions, t->example);
	else
		startcheck_item(c, STARTCHECK_FAIL, item, "no partition runs (%s): nothing projects "
				"or handles its events; start evstore-runner with this configuration "
				"(systemctl status evstore-runner)", t->example ? t->example : "none");
}

static void report_dlq(struct startcheck *c, const char *name, int64_t dlq,
		       const struct es_config *cfg)
{
	char item[96];

	snprintf(item, sizeof item, "dlq %s", name);
	if (dlq >= cfg->health.dlq_critical)
		startcheck_item(c, STARTCHECK_FAIL, item, "%" PRId64 " parked events (critical: %d): "
				"look at them with evstorectl dlq list --subscription %s, fix the "
				"cause, then dlq retry --all", dlq, cfg->health.dlq_critical, name);
	else if (dlq >= cfg->health.dlq_warn)
		startcheck_item(c, STARTCHECK_WARN, item, "%" PRId64 " parked events (warn: %d): "
				"evstorectl dlq list --subscription %s", dlq, cfg->health.dlq_warn, name);
	else
		startcheck_item(c, STARTCHECK_PASS, item, "%" PRId64 " parked events (warn: %d)", dlq,
				cfg->health.dlq_warn);
}

void subcheck_runtime(struct startcheck *c, struct db *db, const struct es_config *cfg,
		      const struct subscription *subs, size_t n)
{
	const char **names = calloc(n ? n : 1, sizeof *names);
	int *parts = calloc(n ? n : 1, sizeof *parts);
	struct substatus_partitions list = { NULL, 0, NULL };

	if (!names || !parts) {
		startcheck_item(c, STARTCHECK_FAIL, "runner heartbeat", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		names[i] = subs[i].name;
		parts[i] = subs[i].partitions;
	}
	if (substatus_partitions(db, names, parts, n, NULL, cfg->health.runner_stale_after,
				 &list) != ES_OK) {
		startcheck_item(c, STARTCHECK_FAIL, "runner heartbeat", "cannot read the "
				"subscriptions' status: %s", db_last_error(db));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct sub_tally t = tally(&list, subs[i].name);

		report_heartbeat(c, subs[i].name, &t, cfg->health.runner_stale_after);
		report_dlq(c, subs[i].name, t.dlq, cfg);
	}
out:
	substatus_partitions_free(&list);
	free(names);
	free(parts);
}
