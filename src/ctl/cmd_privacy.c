/* cmd_privacy.c - evstorectl privacy rotate-master: rewraps every live
 * data subject key under the current master key ([privacy]
 * master_key_file), from the previous one (previous_master_key_file),
 * without touching a single event: the subject keys stay the same, only
 * their wrapping changes (privacy/keyring.h). Batches commit one by one,
 * so an interrupted run is resumed by running it again, and a finished
 * one says it has nothing to do. Safe beside running servers: each batch
 * is a compare-and-set that skips rows other transactions hold. */
#include "buildconf.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregate/aggdef.h"
#include "base/config.h"
#include "ctl/commands.h"
#include "ctl/progress.h"
#include "pg/db.h"
#include "privacy/keyring.h"
#include "privacy/masterkey.h"

#define ROTATE_BATCH_DEFAULT 1000
/* Rows locked by appends or erasures are tried again this often, this
 * long apart, before the run gives up on them (and says to run again). */
#define ROTATE_BUSY_ROUNDS 50
#define ROTATE_BUSY_PAUSE_MS 100

struct rotate_args {
	int batch;
	bool dry_run;
};

static volatile sig_atomic_t rotate_interrupted;

static void rotate_on_sigint(int sig)
{
	(void)sig;
	rotate_interrupted = 1;
}

/* Returns an exit status, or -1 to go on. */
static int rotate_parse(int argc, char **argv, struct rotate_args *a)
{
	static const struct option options[] = {
		{ "batch-size", required_argument, NULL, 'b' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	long n;
	int opt;

	a->batch = ROTATE_BATCH_DEFAULT;
	a->dry_run = false;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hn", options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > 100000)
				return ctl_usage_error("privacy", "--batch-size needs a number from 1 to"
						       " 100000, not '%s'", optarg);
			a->batch = (int)n;
			break;
		case 'n':
			a->dry_run = true;
			break;
		case 'h':
			ctl_print_usage(stdout, "privacy");
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error("privacy", "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("privacy", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error("privacy", "missing the action: rotate-master");
	if (strcmp(argv[optind], "rotate-master") != 0)
		return ctl_usage_error("privacy", "unknown action '%s' (there is rotate-master)",
				       argv[optind]);
	if (++optind < argc)
		return ctl_usage_error("privacy", "unexpected argument '%s'", argv[optind]);
	return -1;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The whole run: one pass over the table in key_id order, then the rows
 * that were locked at the time, tried again. False after printing why. */
static bool rotate_run(struct db *db, const struct rotate_args *a, int64_t todo,
		       struct keyring_rotation *rot)
{
	struct progress bar;
	int64_t after = 0, seen, done = 0;
	enum es_status st = ES_OK;

	progress_start(&bar, a->dry_run ? "rotate-master (dry run)" : "rotate-master", todo);
	while (!rotate_interrupted) {
		st = keyring_rotate_next(db, &after, a->batch, a->dry_run, rot, &seen);
		if (st != ES_OK || seen == 0)
			break;
		done += seen;
		progress_update(&bar, done);
	}
	for (int round = 0; st == ES_OK && rot->n_busy && round < ROTATE_BUSY_ROUNDS &&
	     !rotate_interrupted; round++) {
		pause_ms(ROTATE_BUSY_PAUSE_MS);
		for (size_t left = rot->n_busy; st == ES_OK && left > 0 && !rotate_interrupted; ) {
			st = keyring_rotate_busy(db, a->batch, rot, &seen);
			left = seen < (int64_t)left ? left - (size_t)seen : 0;
			if (seen == 0)
				break;
		}
	}
	progress_finish(&bar, done);
	if (st != ES_OK) {
		ctl_error("cannot rewrap the subject keys: %s%s%s (the batches before are done; "
			  "run it again to go on)", es_status_name(st), *db_last_error(db) ? ": " : "",
			  db_last_error(db));
		return false;
	}
	if (rotate_interrupted) {
		ctl_error("interrupted: the batches done so far are committed; run it again to finish");
		return false;
	}
	return true;
}

int cmd_privacy(const struct ctl *ctl, int argc, char **argv)
{
	struct keyring_rotation rot = KEYRING_ROTATION_INIT;
	struct rotate_args a;
	struct es_config cfg;
	struct db *db = NULL;
	char err[512];
	int64_t todo = 0, left, current_now, erased_now;
	bool ran;
	int rc;
	enum es_status st;

	rc = rotate_parse(argc, argv, &a);
	if (rc >= 0)
		return rc;
	rc = CTL_EXIT_FAILURE;
	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	if (!cfg.privacy.master_key_file || !*cfg.privacy.master_key_file) {
		ctl_error("[privacy] master_key_file is not set: there is no master key to rotate to");
		goto out;
	}
	if (aggdef_registry_privacy(NULL, cfg.privacy.master_key_file, cfg.privacy.previous_master_key_file,
				    err, sizeof err) != ES_OK) {
		ctl_error("%s", err);
		goto out;
	}
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	st = keyring_rotation_survey(db, &rot.current, &rot.erased, &todo);
	if (st != ES_OK) {
		ctl_error("cannot count the subject keys: %s%s%s", es_status_name(st),
			  *db_last_error(db) ? ": " : "", db_last_error(db));
		goto out;
	}
	printf("%sto do: %" PRId64 " key%s not under master key %s", a.dry_run ? "dry run, " : "", todo,
	       todo == 1 ? "" : "s", masterkey_current()->id);
	if (masterkey_previous())
		printf(" (previous %s)", masterkey_previous()->id);
	putchar('\n');
	fflush(stdout);
	signal(SIGINT, rotate_on_sigint);
	ran = rotate_run(db, &a, todo, &rot);
	signal(SIGINT, SIG_DFL);
	/* The tombstones as the run leaves them: erasures made meanwhile count. */
	if (keyring_rotation_survey(db, &current_now, &erased_now, &left) == ES_OK)
		rot.erased = erased_now;
	printf("%s %" PRId64 ", already current %" PRId64 ", erased skipped %" PRId64 ", unknown %" PRId64,
	       a.dry_run ? "would rewrap" : "rewrapped", rot.rewrapped, rot.current, rot.erased, rot.unknown);
	if (rot.unreadable)
		printf(", unreadable %" PRId64, rot.unreadable);
	if (rot.n_busy)
		printf(", still locked %zu", rot.n_busy);
	putchar('\n');
	if (!a.dry_run)
		ctl_audit(&(struct admin_action){
			.action = "rotate_master", .outcome = ran && !rot.unknown && !rot.unreadable &&
							      !rot.n_busy ? "ok" : "failed",
			.target = { { "master_id", masterkey_current()->id },
				    { "previous_master_id", masterkey_previous() ? masterkey_previous()->id : NULL } },
			.counts = { { "rewrapped", rot.rewrapped }, { "already_current", rot.current },
				    { "erased_skipped", rot.erased }, { "unknown", rot.unknown } } });
	if (!ran)
		goto out;
	rc = CTL_EXIT_OK;
	if (rot.unknown) {
		ctl_error("%" PRId64 " live key%s wrapped by a master key that is neither master_key_file "
			  "nor previous_master_key_file (fingerprint %s%s): left as %s; set "
			  "[privacy] previous_master_key_file to that key and run again", rot.unknown,
			  rot.unknown == 1 ? " is" : "s are", rot.unknown_master,
			  rot.unknown > 1 ? ", among others perhaps" : "", rot.unknown == 1 ? "it is" : "they are");
		rc = CTL_EXIT_FAILURE;
	}
	if (rot.unreadable) {
		ctl_error("%" PRId64 " key%s under the previous master key do%s not open with it (damaged "
			  "rows; see the subject_key_unwrap_failed log records): left as they are",
			  rot.unreadable, rot.unreadable == 1 ? "" : "s", rot.unreadable == 1 ? "es" : "");
		rc = CTL_EXIT_FAILURE;
	}
	if (rot.n_busy) {
		ctl_error("%zu key%s stayed locked by other transactions: run it again", rot.n_busy,
			  rot.n_busy == 1 ? "" : "s");
		rc = CTL_EXIT_FAILURE;
	}
out:
	keyring_rotation_free(&rot);
	masterkey_install(NULL);
	masterkey_install_previous(NULL);
	db_free(db);
	config_free(&cfg);
	return rc;
}
