/* cmd_verify.c - evstorectl verify: the store's integrity. Every stream's
 * versions run from 1 without a gap and its streams row holds the highest;
 * no snapshot is ahead of its stream; no checkpoint is ahead of the feed;
 * the applied migrations' checksums match this build's files; the subject
 * keys' identity is ahead of their ids, and with --envelopes every
 * envelope's key has a row (a full read of the payloads). Each table's
 * check lives with its owner; this file runs them and lists what they
 * find. */
#include "buildconf.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/timefmt.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "store/verify.h"
#include "aggregate/snapshot.h"
#include "subs/checkpoint.h"
#include "privacy/keytransfer.h"
#include "ctl/commands.h"
#include "ctl/progress.h"

#define VERIFY_MAX_PROBLEMS 20
#define VERIFY_CHUNK 10000

struct verify_out {
	struct progress bar;
};

/* A problem: on its own line, below the bar when one is drawn. */
static void verify_print_problem(void *arg, const char *text)
{
	struct verify_out *o = arg;

	if (o->bar.drawn) {
		fputs("\r\033[K", stderr);
		o->bar.drawn = false;
	}
	printf("problem: %s\n", text);
	fflush(stdout);
}

static void verify_print_progress(void *arg, int64_t done)
{
	struct verify_out *o = arg;

	progress_update(&o->bar, done);
}

int cmd_verify(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "envelopes", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct verify_out o;
	bool envelopes = false;
	struct verify_report rep = {
		.problem = verify_print_problem, .progress = verify_print_progress, .arg = &o,
		.max_problems = VERIFY_MAX_PROBLEMS,
	};
	struct es_config cfg;
	struct db *db = NULL;
	int64_t streams = 0, started = time_mono_ms();
	char count[32];
	int opt, rc, found = 0;
	enum es_status st;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == 'e') {
			envelopes = true;
			continue;
		}
		if (opt == 'h') {
			ctl_print_usage(stdout, "verify");
			return CTL_EXIT_OK;
		}
		return ctl_usage_error("verify", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return ctl_usage_error("verify", "unexpected argument '%s'", argv[optind]);
	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	rc = CTL_EXIT_FAILURE;
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	memset(&o, 0, sizeof o);
	st = migrate_verify(db, verify_print_problem, &o, &found);
	rep.found = found;
	if (st == ES_OK && found == 0)
		st = verify_stream_count(db, &streams);
	if (st == ES_OK && found == 0) {
		progress_start(&o.bar, "verify", streams);
		st = verify_streams(db, VERIFY_CHUNK, &rep);
		progress_finish(&o.bar, streams);
		if (st == ES_OK)
			st = snapshot_verify(db, &rep);
		if (st == ES_OK)
			st = checkpoint_verify(db, &rep);
		if (st == ES_OK)
			st = keytransfer_verify(db, &rep, envelopes);
	}
	if (st != ES_OK) {
		ctl_error("verify could not finish: %s", db_last_error(db));
		goto out;
	}
	progress_format_count(streams, count, sizeof count);
	if (rep.found == 0) {
		printf("ok: %s stream%s, their snapshots, checkpoints%s and migrations verified in %.1f s\n",
		       count, streams == 1 ? "" : "s", envelopes ? ", envelopes' keys" : "",
		       (double)(time_mono_ms() - started) / 1000.0);
		rc = CTL_EXIT_OK;
	} else if (rep.found >= VERIFY_MAX_PROBLEMS) {
		printf("%d problems found; verify stopped there\n", rep.found);
	} else {
		printf("%d problem%s found\n", rep.found, rep.found == 1 ? "" : "s");
	}
out:
	db_free(db);
	config_free(&cfg);
	return rc;
}
