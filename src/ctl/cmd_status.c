/* cmd_status.c - evstorectl status: the database, the schema version and
 * what the store holds, as text or one JSON object. */
#include "buildconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/config.h"
#include "pg/db.h"
#include "json/jsondoc.h"
#include "pg/migrate.h"
#include "store/store.h"
#include "ctl/commands.h"

struct status_report {
	bool reachable;
	const char *error;            /* why not reachable or not readable */
	const char *server_version;
	int schema_version;
	int expected_version;
	bool have_counts;
	int64_t events;
	int64_t streams;
};

static void status_print_text(const struct status_report *s)
{
	if (!s->reachable) {
		printf("database          unreachable: %s\n", s->error);
		return;
	}
	printf("database          ok (PostgreSQL %s)\n", s->server_version);
	printf("schema version    %d (this build expects %d", s->schema_version, s->expected_version);
	if (s->schema_version < s->expected_version)
		printf(": run evstorectl migrate");
	else if (s->schema_version > s->expected_version)
		printf(": the database is newer than this build");
	printf(")\n");
	if (s->have_counts) {
		printf("events            %" PRId64 "\n", s->events);
		printf("streams           %" PRId64 "\n", s->streams);
	}
	if (s->error)
		printf("error             %s\n", s->error);
}

static int status_print_json(const struct status_report *s)
{
	json_object *o = json_object_new_object();
	const char *text;

	if (!o)
		return -1;
	json_object_object_add(o, "database", json_object_new_string(s->reachable ? "ok" : "unreachable"));
	if (s->reachable) {
		json_object_object_add(o, "server_version", json_object_new_string(s->server_version));
		json_object_object_add(o, "schema_version", json_object_new_int(s->schema_version));
	}
	json_object_object_add(o, "expected_schema_version", json_object_new_int(s->expected_version));
	if (s->reachable)
		json_object_object_add(o, "schema_up_to_date",
				       json_object_new_boolean(s->schema_version == s->expected_version));
	if (s->have_counts) {
		json_object_object_add(o, "events", json_object_new_int64(s->events));
		json_object_object_add(o, "streams", json_object_new_int64(s->streams));
	}
	if (s->error)
		json_object_object_add(o, "error", json_object_new_string(s->error));
	text = jsondoc_compact(o);
	if (text)
		printf("%s\n", text);
	json_object_put(o);
	return text ? 0 : -1;
}

int cmd_status(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct status_report s;
	struct es_config cfg;
	struct db *db = NULL;
	bool json = false;
	int opt, rc = CTL_EXIT_FAILURE;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			ctl_print_usage(stdout, "status");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("status", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("status", "unexpected argument '%s'", argv[optind]);

	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	memset(&s, 0, sizeof s);
	s.expected_version = migrate_expected_version();
	if (!cfg.database.url || !*cfg.database.url) {
		s.error = "no database configured: set [database] url, EVSTORE_DATABASE_URL or DATABASE_URL";
		goto report;
	}
	db = db_new(cfg.database.url, cfg.database.connect_timeout);
	if (!db) {
		s.error = "out of memory";
		goto report;
	}
	db_set_application_name(db, "evstorectl");
	if (db_ensure(db) != ES_OK) {
		s.error = db_last_error(db);
		goto report;
	}
	s.reachable = true;
	s.server_version = db_server_version(db);
	if (!s.server_version)
		s.server_version = "unknown";
	if (migrate_current_version(db, &s.schema_version) != ES_OK) {
		s.error = db_last_error(db);
		goto report;
	}
	/* The tables exist from version 1 on. */
	if (s.schema_version >= 1) {
		if (store_counts(db, &s.events, &s.streams) != ES_OK) {
			s.error = db_last_error(db);
			goto report;
		}
		s.have_counts = true;
	}
	if (s.schema_version == s.expected_version)
		rc = CTL_EXIT_OK;
report:
	if (json) {
		if (status_print_json(&s) != 0) {
			ctl_error("out of memory");
			rc = CTL_EXIT_FAILURE;
		}
	} else {
		status_print_text(&s);
	}
	if (s.error)
		rc = CTL_EXIT_FAILURE;
	db_free(db);
	config_free(&cfg);
	return rc;
}
