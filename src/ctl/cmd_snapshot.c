/* cmd_snapshot.c - evstorectl snapshot: write aggregate snapshots by hand
 * (snapshot mode manual, or to warm a type up) and drop them. */
#include "buildconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregate/aggdef.h"
#include "base/config.h"
#include "pg/db.h"
#include "aggregate/aggregate.h"
#include "aggregate/snapshot.h"
#include "base/uuidtext.h"
#include "store/store.h"
#include "ctl/commands.h"
#include "ctl/progress.h"

/* Streams of one type read per statement by --all (keyset pages). */
#define SNAPSHOT_PAGE 1000

/* Snapshots every stream of def's type, with a progress line on stderr
 * when it is a terminal. */
static int snapshot_all(struct db *db, const struct aggdef *def)
{
	struct store_stream_key *page = calloc(SNAPSHOT_PAGE, sizeof *page), after = { "", "" };
	struct progress bar;
	int64_t total = 0, done = 0, failed = 0;
	size_t rows = 0;
	int rc = CTL_EXIT_FAILURE;

	if (!page) {
		ctl_error("out of memory");
		goto out;
	}
	if (store_count_streams(db, def->aggregate_type, &total) != ES_OK) {
		ctl_error("cannot count the streams: %s", db_last_error(db));
		goto out;
	}
	progress_start(&bar, "snapshots", total);
	do {
		if (store_list_streams(db, def->aggregate_type, *after.tenant ? &after : NULL,
				       SNAPSHOT_PAGE, page, &rows) != ES_OK) {
			ctl_error("cannot list the streams: %s", db_last_error(db));
			goto out;
		}
		for (size_t i = 0; i < rows; i++) {
			const char *tenant = page[i].tenant, *id = page[i].aggregate_id;
			enum es_status st = aggregate_snapshot(db, def, tenant, id, NULL);

			if (st != ES_OK && st != ES_ENOTFOUND) {
				ctl_error("%s/%s: %s%s%s", def->aggregate_type, id, es_status_name(st),
					  *db_last_error(db) ? ": " : "", db_last_error(db));
				failed++;
			}
			progress_update(&bar, ++done);
		}
		if (rows > 0)
			after = page[rows - 1];
	} while (rows == SNAPSHOT_PAGE);
	progress_finish(&bar, done);
	printf("%" PRId64 " snapshot%s of %s written", done - failed, done - failed == 1 ? "" : "s",
	       def->aggregate_type);
	if (failed)
		printf(", %" PRId64 " failed", failed);
	printf("\n");
	rc = failed ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
out:
	free(page);
	return rc;
}

int cmd_snapshot(const struct ctl *ctl, int argc, char **argv)
{
	enum { OPT_ALL = 256, OPT_INVALIDATE, OPT_TENANT };
	static const struct option options[] = {
		{ "all", no_argument, NULL, OPT_ALL },
		{ "invalidate", no_argument, NULL, OPT_INVALIDATE },
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct aggdef_registry *reg = NULL;
	const struct aggdef *def;
	struct es_config cfg;
	struct db *db = NULL;
	bool all = false, invalidate = false, have_tenant = false;
	char tenant[UUIDTEXT_LEN], id[UUIDTEXT_LEN], err[512];
	const char *type;
	int opt, rc = CTL_EXIT_FAILURE;
	int64_t n;
	enum es_status st;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_ALL:
			all = true;
			break;
		case OPT_INVALIDATE:
			invalidate = true;
			break;
		case OPT_TENANT:
			if (!uuidtext_parse(optarg, tenant))
				return ctl_usage_error("snapshot", "--tenant needs a UUID");
			have_tenant = true;
			break;
		case 'h':
			ctl_print_usage(stdout, "snapshot");
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error("snapshot", "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("snapshot", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error("snapshot", "an aggregate type is required");
	type = argv[optind++];
	if (invalidate && (all || have_tenant || optind < argc))
		return ctl_usage_error("snapshot", "--invalidate takes only an aggregate type");
	if (!invalidate && all == (optind < argc))
		return ctl_usage_error("snapshot", "give either an aggregate id or --all");
	if (optind < argc && !uuidtext_parse(argv[optind++], id))
		return ctl_usage_error("snapshot", "the aggregate id must be a UUID");
	if (optind < argc)
		return ctl_usage_error("snapshot", "unexpected argument '%s'", argv[optind]);

	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	if (invalidate) {
		st = snapshot_invalidate(db, type, &n);
		ctl_audit(&(struct admin_action){
			.action = "snapshot_invalidate", .outcome = st == ES_OK ? "ok" : "failed",
			.target = { { "aggregate_type", type } },
			.counts = { { "deleted", st == ES_OK ? n : 0 } } });
		if (st != ES_OK) {
			ctl_error("cannot delete the snapshots: %s", db_last_error(db));
			goto out;
		}
		printf("%" PRId64 " snapshot%s of %s deleted\n", n, n == 1 ? "" : "s", type);
		rc = CTL_EXIT_OK;
		goto out;
	}
	if (aggdef_registry_load(cfg.aggregates.dir, &reg, err, sizeof err) != ES_OK ||
	    aggdef_registry_privacy(reg, cfg.privacy.master_key_file,
				    cfg.privacy.previous_master_key_file, err, sizeof err) != ES_OK) {
		ctl_error("%s", err);
		goto out;
	}
	def = aggdef_find(reg, type);
	if (!def) {
		ctl_error("%s has no aggregate definition in %s", type, cfg.aggregates.dir);
		goto out;
	}
	if (all) {
		rc = snapshot_all(db, def);
		goto out;
	}
	st = aggregate_snapshot(db, def, have_tenant ? tenant : NULL, id, &n);
	if (st == ES_ENOTFOUND) {
		ctl_error("no stream %s/%s", type, id);
		goto out;
	}
	if (st != ES_OK) {
		ctl_error("cannot write the snapshot: %s%s%s", es_status_name(st),
			  *db_last_error(db) ? ": " : "", db_last_error(db));
		goto out;
	}
	printf("snapshot of %s/%s written at version %" PRId64 "\n", type, id, n);
	rc = CTL_EXIT_OK;
out:
	aggdef_registry_free(reg);
	db_free(db);
	config_free(&cfg);
	return rc;
}
