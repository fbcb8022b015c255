/* cmd_check.c - evstorectl check: is this deployment ready? Everything
 * evstore-fcgi --check and evstore-runner --check load (configuration, JWT
 * keys, aggregate definitions, subscriptions), the database server's
 * settings judged for an event store (durability, point-in-time recovery,
 * connections, timeouts, vacuum, TLS), and how the runners are doing (their
 * heartbeats, the dead letters, the oldest open transaction). Each item
 * comes from the module of its layer through base/startcheck.h; this file
 * only orders them and prints them, as lines or as one JSON object. */
#include "buildconf.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/config.h"
#include "base/log.h"
#include "base/startcheck.h"
#include "auth/keys.h"
#include "aggregate/aggdef.h"
#include "json/jsondoc.h"
#include "pg/db.h"
#include "pg/dbcheck.h"
#include "pg/dbjudge.h"
#include "privacy/keyring.h"
#include "subs/subcheck.h"
#include "subs/subscription.h"
#include "ctl/commands.h"

static const char *const status_words[] = { "pass", "warn", "fail" };

/* The sink collecting items into a JSON array (arg). */
static void collect_item(void *arg, enum startcheck_status st, const char *item, const char *what)
{
	json_object *o = json_object_new_object();

	if (!o)
		return;
	json_object_object_add(o, "item", json_object_new_string(item));
	json_object_object_add(o, "status", json_object_new_string(status_words[st]));
	json_object_object_add(o, "message", json_object_new_string(what));
	if (json_object_array_add(arg, o) != 0)
		json_object_put(o);
}

static int cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (int)n;
}

/* The items that need the database, once its url is known. */
static void check_database(struct startcheck *c, const struct es_config *cfg,
			   const struct subscription *subs, size_t n_subs)
{
	struct db *db;
	bool schema_ok;

	dbcheck_tls_report(c, cfg->database.url);
	if (!*cfg->database.url) {
		startcheck_item(c, STARTCHECK_FAIL, "database", "no database configured: set "
				"[database] url, EVSTORE_DATABASE_URL or DATABASE_URL");
		return;
	}
	db = dbcheck_connect(c, cfg, "evstorectl check", &schema_ok);
	if (!db)
		return;
	dbcheck_server_report(c, db, cfg, dbjudge_connection_budget(cfg, cpus()));
	if (subs)
		subcheck_projections(c, db, subs, n_subs);
	/* The status tables exist at the expected schema only. */
	if (schema_ok && subs)
		subcheck_runtime(c, db, cfg, subs, n_subs);
	if (schema_ok)
		keyring_rotation_report(c, db);
	db_free(db);
}

static void check_all(struct startcheck *c, const char *config_path)
{
	struct es_config cfg;
	struct subscription *subs;
	size_t n_subs;
	char err[512];

	if (!startcheck_config(c, config_path, &cfg))
		return;
	/* Where the database layer's own records go, as for every command. */
	if (!log_open("evstorectl", &cfg.log, err, sizeof err))
		startcheck_item(c, STARTCHECK_WARN, "log", "%s (records go to stderr)", err);
	auth_keys_report(c, &cfg);
	aggdef_registry_report(c, cfg.aggregates.dir, cfg.privacy.master_key_file,
			       cfg.privacy.previous_master_key_file);
	subcheck_config(c, &cfg, &subs, &n_subs);
	check_database(c, &cfg, subs, n_subs);
	subscription_free_all(subs, n_subs);
	config_free(&cfg);
}

static int print_json(const struct startcheck *c, json_object *items)
{
	json_object *o = json_object_new_object();
	const char *text;
	int rc = -1;

	if (!o)
		return -1;
	json_object_object_add(o, "status", json_object_new_string(
		c->failed ? "fail" : c->warned ? "warn" : "pass"));
	json_object_object_add(o, "failed", json_object_new_int(c->failed));
	json_object_object_add(o, "warned", json_object_new_int(c->warned));
	json_object_object_add(o, "items", json_object_get(items));
	text = jsondoc_compact(o);
	if (text) {
		printf("%s\n", text);
		rc = 0;
	}
	json_object_put(o);
	return rc;
}

int cmd_check(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct startcheck c;
	json_object *items = NULL;
	bool json = false;
	int opt, rc;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			ctl_print_usage(stdout, "check");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("check", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("check", "unexpected argument '%s'", argv[optind]);

	startcheck_init(&c, "evstorectl", json ? NULL : stdout);
	if (json) {
		items = json_object_new_array();
		if (!items) {
			ctl_error("out of memory");
			return CTL_EXIT_FAILURE;
		}
		c.sink = collect_item;
		c.sink_arg = items;
	}
	check_all(&c, ctl->config_path);
	rc = startcheck_finish(&c) ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
	if (json && print_json(&c, items) != 0) {
		ctl_error("out of memory");
		rc = CTL_EXIT_FAILURE;
	}
	json_object_put(items);
	return rc;
}
