/* cmd_migrate.c - evstorectl migrate: applies the pending schema migrations. */
#include "buildconf.h"

#include <getopt.h>
#include <stdio.h>

#include "base/config.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "ctl/commands.h"

static void migrate_progress(const char *name, void *arg)
{
	(void)arg;
	printf("applying %s\n", name);
	fflush(stdout);
}

int cmd_migrate(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct es_config cfg;
	struct db *db = NULL;
	char err[1024];
	int opt, applied = 0, rc = CTL_EXIT_FAILURE;
	enum es_status st;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		if (opt == 'h') {
			ctl_print_usage(stdout, "migrate");
			return CTL_EXIT_OK;
		}
		return ctl_usage_error("migrate", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return ctl_usage_error("migrate", "unexpected argument '%s'", argv[optind]);

	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	st = migrate_apply(db, migrate_progress, NULL, &applied, err, sizeof err);
	ctl_audit(&(struct admin_action){
		.action = "migrate", .outcome = st == ES_OK ? "ok" : "failed",
		.target = { { "schema", "evstore" } },
		.counts = { { "applied", applied },
			    { st == ES_OK ? "schema_version" : NULL, migrate_expected_version() } } });
	if (st != ES_OK) {
		ctl_error("migrate: %s", err);
		goto out;
	}
	if (applied == 0)
		printf("schema is at version %d (nothing to do)\n", migrate_expected_version());
	else
		printf("schema is at version %d (%d migration%s applied)\n",
		       migrate_expected_version(), applied, applied == 1 ? "" : "s");
	rc = CTL_EXIT_OK;
out:
	db_free(db);
	config_free(&cfg);
	return rc;
}
