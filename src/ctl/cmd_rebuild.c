/* cmd_rebuild.c - evstorectl rebuild NAME: empties an sql subscription's
 * read model and has the runner replay the whole feed into it.
 *
 * One transaction does the reset: it locks the subscription's checkpoint
 * rows first (a runner in the middle of a batch then either commits
 * before us, and its rows are truncated, or fails its checkpoint advance
 * after us and rolls back), runs the projection file's "-- truncate"
 * section, deletes the subscription's dead-letter entries (the replay
 * handles those events again; retrying a stale entry afterwards would
 * apply its event twice) and sets every partition's checkpoint back to the
 * start. The running evstore-runner notices within a second and replays;
 * this command then shows its progress until the checkpoints have passed
 * everything committed before the reset. */
#include "buildconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "pg/db.h"
#include "subs/checkpoint.h"
#include "subs/rebuild.h"
#include "subs/sqlfile.h"
#include "subs/subscription.h"
#include "subs/substatus.h"
#include "base/timefmt.h"
#include "ctl/commands.h"
#include "ctl/progress.h"

#define POLL_MS 200
#define RUNNER_CHECK_MS 2000

struct rebuild_args {
	const char *name;
	bool yes;                     /* --yes: no question asked */
	bool wait;                    /* false with --no-wait */
};

static volatile sig_atomic_t rebuild_interrupted;

static void rebuild_on_sigint(int sig)
{
	(void)sig;
	rebuild_interrupted = 1;
}

/* Returns an exit status, or -1 to go on. */
static int rebuild_parse(int argc, char **argv, struct rebuild_args *a)
{
	static const struct option options[] = {
		{ "yes", no_argument, NULL, 'y' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int opt;

	memset(a, 0, sizeof *a);
	a->wait = true;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":yh", options, NULL)) != -1) {
		switch (opt) {
		case 'y':
			a->yes = true;
			break;
		case 'n':
			a->wait = false;
			break;
		case 'h':
			ctl_print_usage(stdout, "rebuild");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("rebuild", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error("rebuild", "missing the subscription's name");
	a->name = argv[optind++];
	if (optind < argc)
		return ctl_usage_error("rebuild", "unexpected argument '%s'", argv[optind]);
	return -1;
}

/* Finds and validates [subscription NAME]; loads its projection file. */
static bool rebuild_load(const struct es_config *cfg, const char *name, struct subscription *conf,
			 struct sqlfile *file)
{
	const struct config_subscription *raw = NULL;
	char err[512];

	for (size_t i = 0; i < cfg->n_subscriptions; i++)
		if (strcmp(cfg->subscriptions[i].name, name) == 0)
			raw = &cfg->subscriptions[i];
	if (!raw) {
		ctl_error("there is no [subscription %s] in %s", name,
			  cfg->source_path ? cfg->source_path : "the configuration");
		return false;
	}
	if (subscription_parse(raw, cfg->source_path, conf, err, sizeof err) != ES_OK) {
		ctl_error("%s", err);
		return false;
	}
	if (conf->handler != SUB_HANDLER_SQL) {
		ctl_error("%s is not an sql subscription: rebuild empties and replays sql"
			  " projections only", name);
		return false;
	}
	if (sqlfile_load(conf->sql_file, file, err, sizeof err) != ES_OK) {
		ctl_error("%s", err);
		return false;
	}
	if (file->truncate.n_statements == 0) {
		ctl_error("%s has no '-- truncate' section: add the statements that empty the"
			  " read model of %s", conf->sql_file, name);
		return false;
	}
	return true;
}

/* Asks on the terminal unless --yes. Returns an exit status, or -1 to go on. */
static int rebuild_confirm(const struct rebuild_args *a, const struct subscription *conf)
{
	char line[16];

	if (a->yes)
		return -1;
	if (!isatty(STDIN_FILENO))
		return ctl_usage_error("rebuild", "this empties the read model of %s; say --yes"
				       " when not asked on a terminal", a->name);
	fprintf(stderr, "This empties the read model of %s (the '-- truncate' section of %s),\n"
		"clears its dead-letter entries and replays every event into it.\n"
		"Rebuild %s? [y/N] ", a->name, conf->sql_file, a->name);
	fflush(stderr);
	if (!fgets(line, sizeof line, stdin) || (line[0] != 'y' && line[0] != 'Y')) {
		fprintf(stderr, "Nothing was changed.\n");
		return CTL_EXIT_FAILURE;
	}
	return -1;
}

/* The reset, in one transaction (rebuild_reset); says why when it fails. */
static bool rebuild_start(struct db *db, const struct subscription *conf, const struct sqlfile *file,
			  struct rebuild_reset *t)
{
	char err[512];

	if (rebuild_reset(db, conf, &file->truncate, t, err, sizeof err) == ES_OK)
		return true;
	ctl_error("rebuild of %s failed, nothing was changed: %s", conf->name, err);
	return false;
}

/* How many partitions of the subscription a live runner owns; -1 when the
 * database did not answer. */
static int rebuild_runner_partitions(struct db *db, const char *name, int stale_after)
{
	int n;

	return substatus_live_partitions(db, name, stale_after, &n) == ES_OK ? n : -1;
}

/* Follows the checkpoints until every partition has passed the target. */
static int rebuild_follow(struct db *db, const struct es_config *cfg, const struct subscription *conf,
			  const struct rebuild_reset *t)
{
	char label[96], count[32];
	int64_t target_pos = t->last.position, pos = 0, started = time_mono_ms();
	int64_t last_check = started;
	struct sigaction sa, old;
	struct progress bar;
	int rc = CTL_EXIT_FAILURE;

	snprintf(label, sizeof label, "rebuild %s", conf->name);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = rebuild_on_sigint;
	sigaction(SIGINT, &sa, &old);
	progress_start(&bar, label, target_pos);
	while (!rebuild_interrupted) {
		bool done;

		if (checkpoint_progress(db, conf->name, conf->partitions, &t->last, &pos,
					&done) != ES_OK) {
			progress_finish(&bar, pos);
			ctl_error("lost the database while following the rebuild: %s; the runner"
				  " goes on with it", db_last_error(db));
			goto out;
		}
		progress_update(&bar, pos);
		if (done) {
			rc = CTL_EXIT_OK;
			break;
		}
		if (time_mono_ms() - last_check >= RUNNER_CHECK_MS) {
			last_check = time_mono_ms();
			if (rebuild_runner_partitions(db, conf->name, cfg->health.runner_stale_after) == 0) {
				progress_finish(&bar, pos);
				ctl_error("no evstore-runner is running %s any more (no heartbeat for %d s);"
					  " the replay goes on when one is back", conf->name,
					  cfg->health.runner_stale_after);
				goto out;
			}
		}
		usleep(POLL_MS * 1000);
	}
	progress_finish(&bar, rc == CTL_EXIT_OK ? target_pos : pos);
	if (rebuild_interrupted) {
		fprintf(stderr, "Stopped watching; the runner goes on rebuilding %s.\n", conf->name);
		goto out;
	}
	progress_format_count(t->events, count, sizeof count);
	printf("%s rebuilt: %s event%s replayed in %.1f s\n", conf->name, count,
	       t->events == 1 ? "" : "s", (double)(time_mono_ms() - started) / 1000.0);
out:
	sigaction(SIGINT, &old, NULL);
	return rc;
}

int cmd_rebuild(const struct ctl *ctl, int argc, char **argv)
{
	struct rebuild_args a;
	struct es_config cfg;
	struct subscription conf = { 0 };
	struct sqlfile file = { 0 };
	struct rebuild_reset t = { 0 };
	struct db *db = NULL;
	char count[32];
	int rc, runners;
	bool started;

	rc = rebuild_parse(argc, argv, &a);
	if (rc >= 0)
		return rc;
	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	rc = CTL_EXIT_FAILURE;
	if (!rebuild_load(&cfg, a.name, &conf, &file))
		goto out;
	rc = rebuild_confirm(&a, &conf);
	if (rc >= 0)
		goto out;
	rc = CTL_EXIT_FAILURE;
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	started = rebuild_start(db, &conf, &file, &t);
	ctl_audit(&(struct admin_action){
		.action = "rebuild", .outcome = started ? "ok" : "failed",
		.target = { { "subscription", a.name } },
		.counts = { { "events_to_replay", t.events }, { "dlq_cleared", t.dlq_cleared } } });
	if (!started)
		goto out;
	progress_format_count(t.events, count, sizeof count);
	printf("%s: read model emptied, %" PRId64 " dead-letter entr%s cleared, checkpoint reset;"
	       " %s event%s to replay\n", a.name, t.dlq_cleared, t.dlq_cleared == 1 ? "y" : "ies",
	       count, t.events == 1 ? "" : "s");
	fflush(stdout);
	rc = CTL_EXIT_OK;
	if (!a.wait || !t.have_last)
		goto out;
	runners = rebuild_runner_partitions(db, a.name, cfg.health.runner_stale_after);
	if (runners == 0) {
		printf("No evstore-runner is running %s now: the replay starts when one does.\n",
		       a.name);
		goto out;
	}
	rc = rebuild_follow(db, &cfg, &conf, &t);
out:
	db_free(db);
	sqlfile_free(&file);
	subscription_free(&conf);
	config_free(&cfg);
	return rc;
}
