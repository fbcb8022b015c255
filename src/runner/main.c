/* main.c - evstore-runner: parses the command line, loads the
 * configuration, tells systemd it is ready (sdnotify.h), and runs the
 * loop. */
#include "buildconf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "base/sdnotify.h"
#include "base/startcheck.h"
#include "aggregate/aggdef.h"
#include "pg/dbcheck.h"
#include "pg/pgconninfo.h"
#include "subs/subcheck.h"
#include "subs/subscription.h"
#include "runner/runner.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: evstore-runner [--config FILE] [--print-config | --check] [--help] [--version]\n"
		"\n"
		"Runs the [subscription NAME] sections of the configuration: reads the event\n"
		"store's global feed and hands each event to its handler (sql, exec, audit),\n"
		"keeping a checkpoint per subscription partition. Runs in the foreground;\n"
		"SIGTERM stops it in order, SIGHUP reloads the configuration.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   read FILE instead of %s\n"
		"      --print-config  print the effective configuration and exit\n"
		"      --check[=MODE]  load the configuration, subscriptions (and their SQL\n"
		"                      files) and aggregate definitions, probe the database and\n"
		"                      its schema, say what was found and exit 0, or 1 when\n"
		"                      something failed; MODE prestart (the unit's ExecStartPre)\n"
		"                      only warns about the database, which the runner waits for\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n", CONFIG_DEFAULT_PATH);
}

#define NO_DATABASE "no database configured: set [database] url, EVSTORE_DATABASE_URL or DATABASE_URL"

/* The subscriptions item of --check, then the aggregate definitions,
 * which the runner reads only for a snapshots subscription. */
static void check_subscriptions(struct startcheck *c, const struct es_config *cfg)
{
	struct subscription *subs;
	size_t n;

	subcheck_config(c, cfg, &subs, &n);
	if (!subs)
		return;
	if (runner_needs_aggdefs(subs, n))
		aggdef_registry_report(c, cfg->aggregates.dir, cfg->privacy.master_key_file,
				       cfg->privacy.previous_master_key_file);
	else
		startcheck_item(c, STARTCHECK_PASS, "aggregate definitions",
				"not read (no snapshots subscription)");
	subscription_free_all(subs, n);
}

/* --check: loads what start-up loads, probes the database (nginx -t). */
static int check_everything(const char *path, const char *mode)
{
	struct startcheck c;
	struct es_config cfg;

	startcheck_init(&c, "evstore-runner", stdout);
	if (!startcheck_mode(&c, mode)) {
		fprintf(stderr, "evstore-runner: --check=%s: expected all or prestart\n", mode);
		return 2;
	}
	if (startcheck_config(&c, path, &cfg)) {
		check_subscriptions(&c, &cfg);
		if (!*cfg.database.url)
			startcheck_item(&c, STARTCHECK_FAIL, "database", "%s", NO_DATABASE);
		else
			dbcheck_report(&c, &cfg, "evstore-runner --check");
		config_free(&cfg);
	}
	return startcheck_finish(&c);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "check", optional_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = NULL;
	bool print = false, check = false;
	const char *check_mode = NULL;
	struct es_config *cfg;
	struct runner *r;
	char err[512];
	int opt, rc;

	config_set_conninfo_check(pgconninfo_problem);
	while ((opt = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'P':
			print = true;
			break;
		case 'C':
			check = true;
			check_mode = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("evstore-runner %s\nLicense %s: see the file LICENSE.\n", PACKAGE_VERSION, PACKAGE_LICENSE);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "evstore-runner: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (check)
		return check_everything(config_path, check_mode);
	cfg = calloc(1, sizeof *cfg);
	if (!cfg || !config_load(cfg, config_path, err, sizeof err)) {
		fprintf(stderr, "evstore-runner: %s\n", cfg ? err : "out of memory");
		free(cfg);
		return 1;
	}
	if (print) {
		struct subscription *subs;
		size_t n;

		rc = 0;
		if (subscription_parse_all(cfg, &subs, &n, err, sizeof err) != ES_OK) {
			fprintf(stderr, "evstore-runner: %s\n", err);
			rc = 1;
		} else {
			if (subscription_print_config(cfg, stdout, err, sizeof err) != ES_OK) {
				fprintf(stderr, "evstore-runner: %s\n", err);
				rc = 1;
			}
			subscription_free_all(subs, n);
		}
		config_free(cfg);
		free(cfg);
		return rc;
	}
	if (!*cfg->database.url) {
		fprintf(stderr, "evstore-runner: %s\n", NO_DATABASE);
		config_free(cfg);
		free(cfg);
		return 1;
	}
	if (!log_open("evstore-runner", &cfg->log, err, sizeof err)) {
		fprintf(stderr, "evstore-runner: %s\n", err);
		config_free(cfg);
		free(cfg);
		return 1;
	}
	config_warn_unknown_env();
	r = runner_new(cfg, config_path, err, sizeof err);
	if (!r) {
		fprintf(stderr, "evstore-runner: %s\n", err);
		log_close();
		return 1;
	}
	runner_install_signals();
	if (sdnotify_send("READY=1") < 0)
		log_kv(LOG_WARNING, "notify_failed", "error", strerror(errno), NULL);
	rc = runner_run(r);
	runner_free(r);
	log_close();
	return rc;
}
