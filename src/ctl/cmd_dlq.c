/* cmd_dlq.c - evstorectl dlq: the dead-letter queue of the subscriptions
 * (evstore.dlq). list shows entries; retry requeues failed entries (status
 * 'retrying': the runner owning the partition handles them again without
 * moving its checkpoint); resolve marks an entry handled by hand; purge
 * deletes a subscription's entries. The queries are subs/dlq's,
 * shared with the HTTP admin routes; retry --all and purge work in bounded
 * batches. Entries of every tenant. */
#include "buildconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "pg/db.h"
#include "subs/dlq.h"
#include "ctl/commands.h"

/* The parsed command line. */
struct dlq_args {
	const char *action;           /* list retry resolve purge */
	const char *subscription;     /* NULL: any (list only) */
	const char *status;           /* list filter, NULL: any */
	const char *id;               /* retry/resolve one entry */
	bool all;                     /* retry --all */
	bool resolved_only;           /* purge --resolved */
};

/* True when s is a positive decimal id. */
static bool dlq_is_id(const char *s)
{
	if (!*s)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return strlen(s) <= 18;
}

static int dlq_parse(int argc, char **argv, struct dlq_args *a)
{
	static const struct option options[] = {
		{ "subscription", required_argument, NULL, 's' },
		{ "status", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "resolved", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int opt;

	memset(a, 0, sizeof *a);
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			a->subscription = optarg;
			break;
		case 't':
			if (strcmp(optarg, "failed") && strcmp(optarg, "retrying") &&
			    strcmp(optarg, "resolved"))
				return ctl_usage_error("dlq", "--status must be failed, retrying or resolved");
			a->status = optarg;
			break;
		case 'a':
			a->all = true;
			break;
		case 'r':
			a->resolved_only = true;
			break;
		case 'h':
			ctl_print_usage(stdout, "dlq");
			return -1;
		case ':':
			return ctl_usage_error("dlq", "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("dlq", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error("dlq", "missing the action: list, retry, resolve or purge");
	a->action = argv[optind++];
	if (optind < argc)
		a->id = argv[optind++];
	if (optind < argc)
		return ctl_usage_error("dlq", "unexpected argument '%s'", argv[optind]);

	if (!strcmp(a->action, "list")) {
		if (a->id || a->all || a->resolved_only)
			return ctl_usage_error("dlq", "list takes only --subscription and --status");
	} else if (!strcmp(a->action, "retry")) {
		if (a->all ? (a->id || !a->subscription) : (!a->id || a->subscription))
			return ctl_usage_error("dlq", "retry takes an ID, or --all --subscription NAME");
	} else if (!strcmp(a->action, "resolve")) {
		if (!a->id || a->all || a->subscription)
			return ctl_usage_error("dlq", "resolve takes one ID");
	} else if (!strcmp(a->action, "purge")) {
		if (!a->subscription || a->id || a->all)
			return ctl_usage_error("dlq", "purge needs --subscription NAME");
	} else {
		return ctl_usage_error("dlq", "unknown action '%s'", a->action);
	}
	if (a->status && strcmp(a->action, "list"))
		return ctl_usage_error("dlq", "--status goes with list only");
	if (a->id && !dlq_is_id(a->id))
		return ctl_usage_error("dlq", "'%s' is not a DLQ entry id", a->id);
	return CTL_EXIT_OK;
}

/* An error message on one line of the tab-separated listing. */
static void dlq_print_flat(const char *s)
{
	for (; *s; s++)
		putchar(*s == '\n' || *s == '\t' ? ' ' : *s);
}

static int dlq_print(struct db *db, const struct dlq_args *a)
{
	struct dlq_filter f = { .subscription = a->subscription, .status = a->status,
				     .scope = { .all_tenants = true } };
	struct dlq_entries list;

	if (dlq_list(db, &f, &list) != ES_OK) {
		ctl_error("dlq list: %s", db_last_error(db));
		dlq_entries_free(&list);
		return CTL_EXIT_FAILURE;
	}
	printf("ID\tSUBSCRIPTION\tPARTITION\tPOSITION\tEVENT_TYPE\tAGGREGATE_TYPE\tAGGREGATE_ID"
	       "\tSTATUS\tATTEMPTS\tLAST_FAILED_AT\tERROR\n");
	for (size_t i = 0; i < list.count; i++) {
		const struct dlq_entry *e = &list.items[i];

		/* Whole seconds: "2026-11-27T10:00:00" of "2026-11-27T10:00:00.123456Z". */
		printf("%" PRId64 "\t%s\t%d\t%" PRId64 "\t%s\t%s\t%s\t%s\t%d\t%.19sZ\t",
		       e->id, e->subscription, e->partition, e->position, e->event_type,
		       e->aggregate_type, e->aggregate_id, e->status, e->attempts, e->last_failed_at);
		dlq_print_flat(e->error);
		printf("\n");
	}
	dlq_entries_free(&list);
	return CTL_EXIT_OK;
}

/* The audit record of a changing action: dlq_retry (one entry),
 * dlq_retry_all, dlq_resolve or dlq_purge, and how many entries it
 * changed, counted under what it did to them (done: requeued, ...). */
static void dlq_audit(const struct dlq_args *a, const char *outcome, int64_t changed,
		      const char *done)
{
	char action[32];

	snprintf(action, sizeof action, "dlq_%s%s", a->action, a->all ? "_all" : "");
	ctl_audit(&(struct admin_action){
		.action = action, .outcome = outcome,
		.target = { { "subscription", a->subscription }, { "dlq_entry", a->id },
			    { "entries", !strcmp(a->action, "purge")
						 ? (a->resolved_only ? "resolved" : "all") : NULL } },
		.counts = { { done, changed } } });
}

/* Runs one changing action; prints what it did. Exit 1 when an entry
 * named by id was not changed. */
static int dlq_change(struct db *db, const struct dlq_args *a)
{
	const struct dlq_scope any = { .all_tenants = true };
	int64_t id = a->id ? strtoll(a->id, NULL, 10) : 0;
	int64_t changed = 0;
	const char *done;
	enum es_status rc;
	bool one = false;

	if (!strcmp(a->action, "retry") && a->all) {
		rc = dlq_retry_all(db, a->subscription, &any, &changed);
		done = "requeued";
	} else if (!strcmp(a->action, "retry")) {
		rc = dlq_retry(db, NULL, &any, id, &one, NULL);
		/* Not found or resolved: nothing was requeued, as for a retrying one. */
		if (rc == ES_ENOTFOUND || rc == ES_ESTATE)
			rc = ES_OK;
		changed = one;
		done = "requeued";
	} else if (!strcmp(a->action, "resolve")) {
		rc = dlq_resolve(db, id, &one);
		changed = one;
		done = "resolved";
	} else {
		rc = dlq_purge(db, a->subscription, a->resolved_only, &changed);
		done = "purged";
	}
	dlq_audit(a, rc != ES_OK ? "failed" : a->id && changed == 0 ? "no_change" : "ok", changed,
		  done);
	if (rc != ES_OK) {
		ctl_error("dlq %s: %s", a->action, db_last_error(db));
		return CTL_EXIT_FAILURE;
	}
	if (a->id && changed == 0) {
		ctl_error("dlq %s: no entry %s in state %s", a->action, a->id,
			  !strcmp(a->action, "retry") ? "failed" : "failed or retrying");
		return CTL_EXIT_FAILURE;
	}
	printf("%" PRId64 " %s %s\n", changed, changed == 1 ? "entry" : "entries", done);
	return CTL_EXIT_OK;
}

int cmd_dlq(const struct ctl *ctl, int argc, char **argv)
{
	struct dlq_args a;
	struct es_config cfg;
	struct db *db = NULL;
	int rc = dlq_parse(argc, argv, &a);

	if (rc != CTL_EXIT_OK)
		return rc < 0 ? CTL_EXIT_OK : rc;
	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	db = ctl_db_connect(&cfg);
	if (!db) {
		rc = CTL_EXIT_FAILURE;
		goto out;
	}
	rc = !strcmp(a.action, "list") ? dlq_print(db, &a) : dlq_change(db, &a);
out:
	db_free(db);
	config_free(&cfg);
	return rc;
}
