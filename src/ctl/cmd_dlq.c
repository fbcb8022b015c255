/* cmd_dlq.c - evstorectl dlq: the dead-letter queue of the subscriptions
 * (evstore.dlq). list shows entries; retry requeues failed entries (status
 * 'retrying': the runner owning the partition handles them again without
 * moving its checkpoint); resolve marks an entry handled by hand; purge
 * deletes a subscription's entries. */
#include "buildconf.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/config.h"
#include "common/db.h"
#include "ctl/commands.h"

#define DLQ_LIST_SQL \
	"SELECT id, subscription, partition, position, event_type, aggregate_type," \
	" aggregate_id, status, attempts, to_char(last_failed_at AT TIME ZONE 'UTC'," \
	" 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), replace(replace(error, E'\\n', ' '), E'\\t', ' ')" \
	" FROM evstore.dlq WHERE ($1::text IS NULL OR subscription = $1)" \
	" AND ($2::text IS NULL OR status = $2) ORDER BY id"

#define DLQ_RETRY_ONE_SQL \
	"UPDATE evstore.dlq SET status = 'retrying' WHERE id = $1::bigint AND status = 'failed'"

#define DLQ_RETRY_ALL_SQL \
	"UPDATE evstore.dlq SET status = 'retrying' WHERE subscription = $1 AND status = 'failed'"

#define DLQ_RESOLVE_SQL \
	"UPDATE evstore.dlq SET status = 'resolved', resolved_at = now()" \
	" WHERE id = $1::bigint AND status <> 'resolved'"

#define DLQ_PURGE_SQL \
	"DELETE FROM evstore.dlq WHERE subscription = $1 AND ($2::bool IS NOT TRUE OR status = 'resolved')"

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

static int dlq_list(struct db *db, const struct dlq_args *a)
{
	const char *vals[2] = { a->subscription, a->status };
	PGresult *res = NULL;
	int rows;

	if (db_exec_params(db, "dlq_list", DLQ_LIST_SQL, 2, vals, &res) != ES_OK) {
		ctl_error("dlq list: %s", db_last_error(db));
		return CTL_EXIT_FAILURE;
	}
	rows = PQntuples(res);
	printf("ID\tSUBSCRIPTION\tPARTITION\tPOSITION\tEVENT_TYPE\tAGGREGATE_TYPE\tAGGREGATE_ID"
	       "\tSTATUS\tATTEMPTS\tLAST_FAILED_AT\tERROR\n");
	for (int i = 0; i < rows; i++) {
		for (int c = 0; c < 11; c++)
			printf("%s%s", c ? "\t" : "", PQgetvalue(res, i, c));
		printf("\n");
	}
	PQclear(res);
	return CTL_EXIT_OK;
}

/* Runs one changing statement; prints what it did. Exit 1 when an entry
 * named by id was not changed. */
static int dlq_change(struct db *db, const struct dlq_args *a)
{
	const char *vals[2] = { NULL, NULL };
	const char *sql, *done;
	int nparams = 1;
	PGresult *res = NULL;
	long changed;

	if (!strcmp(a->action, "retry")) {
		sql = a->all ? DLQ_RETRY_ALL_SQL : DLQ_RETRY_ONE_SQL;
		vals[0] = a->all ? a->subscription : a->id;
		done = "requeued";
	} else if (!strcmp(a->action, "resolve")) {
		sql = DLQ_RESOLVE_SQL;
		vals[0] = a->id;
		done = "resolved";
	} else {
		sql = DLQ_PURGE_SQL;
		vals[0] = a->subscription;
		vals[1] = a->resolved_only ? "true" : "false";
		nparams = 2;
		done = "purged";
	}
	if (db_exec_params(db, "dlq_change", sql, nparams, vals, &res) != ES_OK) {
		ctl_error("dlq %s: %s", a->action, db_last_error(db));
		return CTL_EXIT_FAILURE;
	}
	changed = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (a->id && changed == 0) {
		ctl_error("dlq %s: no entry %s in state %s", a->action, a->id,
			  !strcmp(a->action, "retry") ? "failed" : "failed or retrying");
		return CTL_EXIT_FAILURE;
	}
	printf("%ld %s %s\n", changed, changed == 1 ? "entry" : "entries", done);
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
	rc = !strcmp(a.action, "list") ? dlq_list(db, &a) : dlq_change(db, &a);
out:
	db_free(db);
	config_free(&cfg);
	return rc;
}
