/* main.c - evstorectl: the global options, then one sub-command from the
 * table below. Options come before the sub-command:
 * evstorectl [--config FILE] [--help] [--version] COMMAND [ARGS]. */
#include "buildconf.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "pg/db.h"
#include "pg/pgconninfo.h"
#include "base/log.h"
#include "ctl/commands.h"

static const struct ctl_command commands[] = {
	{ "migrate", cmd_migrate, "apply the pending schema migrations",
	  "Usage: evstorectl [--config FILE] migrate\n"
	  "\n"
	  "Applies the schema migrations this build carries that the database has not\n"
	  "seen yet, each in its own transaction, and prints each file applied. Running\n"
	  "it again does nothing. Refuses to go on when an applied migration's text has\n"
	  "changed since, or when the database is newer than this build.\n"
	  "\n"
	  "Options:\n"
	  "  -h, --help    show this help and exit\n" },
	{ "status", cmd_status, "show the schema version, event and stream counts",
	  "Usage: evstorectl [--config FILE] status [--json]\n"
	  "\n"
	  "Shows the database server's version, the schema version applied against the\n"
	  "one this build expects, and how many events and streams are stored. Exits 0\n"
	  "when the database answers and its schema is the expected one, 1 otherwise.\n"
	  "\n"
	  "Options:\n"
	  "      --json    print one JSON object instead of text\n"
	  "  -h, --help    show this help and exit\n" },
	{ "check", cmd_check, "say whether this deployment is ready, item by item",
	  "Usage: evstorectl [--config FILE] check [--json]\n"
	  "\n"
	  "Loads what evstore-fcgi and evstore-runner load (the configuration, the JWT\n"
	  "keys and their strength, the aggregate definitions, the subscriptions and\n"
	  "their SQL files), then asks the database: is it reachable, its version, the\n"
	  "schema; fsync, full_page_writes, synchronous_commit; wal_level and\n"
	  "archive_mode for point-in-time recovery; max_connections against the\n"
	  "connection budget ([deployment] hosts x ([http] workers + 1) + runners x 2\n"
	  "+ spare_connections); statement_timeout and\n"
	  "idle_in_transaction_session_timeout; autovacuum; the oldest open\n"
	  "transaction; TLS (sslmode=verify-full) to a database that is not local; and\n"
	  "for each subscription whether runners with a fresh heartbeat run all its\n"
	  "partitions and how many events its dead-letter queue holds. Each item is\n"
	  "pass, warn or fail, with one line saying why and what to do. Exits 1 when an\n"
	  "item failed, 0 otherwise (warnings included).\n"
	  "\n"
	  "Options:\n"
	  "      --json    print one JSON object: status, failed, warned, items\n"
	  "  -h, --help    show this help and exit\n" },
	{ "token", cmd_token, "mint a signed token for development",
	  "Usage: evstorectl [--config FILE] token --sub SUBJECT --scope \"SCOPE...\"\n"
	  "                  [--tenant UUID] [--ttl SECONDS]\n"
	  "\n"
	  "Prints a JWT signed with the configured HMAC key ([jwt] algorithm HS256, HS384\n"
	  "or HS512 and [jwt] key_file or keys_dir), followed by a newline.\n"
	  "\n"
	  "Options:\n"
	  "      --sub SUBJECT    the token's subject: the actor_id of what it writes\n"
	  "      --scope SCOPES   space-separated: events:read, events:write, admin,\n"
	  "                       personal:read\n"
	  "      --tenant UUID    bind the token to this tenant ([jwt] tenant_claim)\n"
	  "      --ttl SECONDS    lifetime in seconds (default 3600)\n"
	  "  -h, --help           show this help and exit\n" },
	{ "snapshot", cmd_snapshot, "write or drop aggregate snapshots",
	  "Usage: evstorectl [--config FILE] snapshot [--tenant UUID] TYPE ID\n"
	  "       evstorectl [--config FILE] snapshot TYPE --all\n"
	  "       evstorectl [--config FILE] snapshot --invalidate TYPE\n"
	  "\n"
	  "Folds a stream of TYPE by its definition in [aggregates] dir and stores the\n"
	  "state as its snapshot at the current version (snapshot mode manual, or to\n"
	  "warm a type up after a rules change). --all does it for every stream of TYPE\n"
	  "in every tenant, with a progress line on stderr when it is a terminal.\n"
	  "--invalidate deletes every snapshot of TYPE. A stored snapshot is never\n"
	  "replaced by an older one.\n"
	  "\n"
	  "Options:\n"
	  "      --all            every stream of TYPE\n"
	  "      --tenant UUID    the stream's tenant (default: no tenant)\n"
	  "      --invalidate     delete the snapshots of TYPE\n"
	  "  -h, --help           show this help and exit\n" },
	{ "dlq", cmd_dlq, "list, requeue, resolve or purge dead-lettered events",
	  "Usage: evstorectl [--config FILE] dlq list [--subscription NAME] [--status STATUS]\n"
	  "       evstorectl [--config FILE] dlq retry ID\n"
	  "       evstorectl [--config FILE] dlq retry --all --subscription NAME\n"
	  "       evstorectl [--config FILE] dlq resolve ID\n"
	  "       evstorectl [--config FILE] dlq purge --subscription NAME [--resolved]\n"
	  "\n"
	  "The dead-letter queue holds the events a subscription parked after its\n"
	  "retries. list prints the entries, one tab-separated line each under a header.\n"
	  "retry requeues failed entries (status retrying): the runner owning the\n"
	  "partition handles them again, without moving its checkpoint, and marks them\n"
	  "resolved or failed again. resolve marks an entry as handled by hand. purge\n"
	  "deletes a subscription's entries (only the resolved ones with --resolved).\n"
	  "retry ID and resolve ID exit 1 when the entry is not in a state to change.\n"
	  "\n"
	  "Options:\n"
	  "      --subscription NAME   the subscription the entries belong to\n"
	  "      --status STATUS       list only failed, retrying or resolved entries\n"
	  "      --all                 retry every failed entry of the subscription\n"
	  "      --resolved            purge only the resolved entries\n"
	  "  -h, --help                show this help and exit\n" },
	{ "rebuild", cmd_rebuild, "empty an sql projection and replay the feed into it",
	  "Usage: evstorectl [--config FILE] rebuild [--yes] [--no-wait] NAME\n"
	  "\n"
	  "Rebuilds the read model of [subscription NAME] (handler = sql). In one\n"
	  "transaction it runs the '-- truncate' section of the subscription's sql_file,\n"
	  "deletes the subscription's dead-letter entries (the replay handles their\n"
	  "events again) and sets the checkpoint of every partition back to the start of\n"
	  "the feed. The running evstore-runner notices within a second and replays every\n"
	  "event; rebuild follows it, with a progress bar on stderr when that is a\n"
	  "terminal, until the replay has passed everything committed before the reset.\n"
	  "Events appended meanwhile are handled too, in order; a subscription stopped in\n"
	  "state error starts again. Interrupting rebuild only\n"
	  "stops the watching. Without --yes it asks first, and refuses when stdin is not\n"
	  "a terminal. Exits 1 when the runner stops before the replay is done.\n"
	  "\n"
	  "Options:\n"
	  "  -y, --yes       do not ask\n"
	  "      --no-wait   reset and exit; the runner replays on its own\n"
	  "  -h, --help      show this help and exit\n" },
	{ "partitions", cmd_partitions, "show who runs each subscription partition, and how far",
	  "Usage: evstorectl [--config FILE] partitions [--json] [NAME]\n"
	  "\n"
	  "Lists every partition of the configured subscriptions (and of removed ones\n"
	  "whose checkpoints remain): the runner that owns it (\"host:pid\"), its state\n"
	  "(starting, catching_up, live, paused, stopped, error; stale when the runner's\n"
	  "heartbeat is older than [health] runner_stale_after; unclaimed when no runner\n"
	  "has started it), the heartbeat's age, the checkpoint position (horizon when an\n"
	  "idle partition has read everything), the lag in events and the unresolved\n"
	  "dead-letter entries. NAME shows one subscription (exit 1 when unknown).\n"
	  "\n"
	  "Options:\n"
	  "      --json    print one JSON array instead of the table\n"
	  "  -h, --help    show this help and exit\n" },
	{ "export", cmd_export, "write the events as JSON Lines, in feed order",
	  "Usage: evstorectl [--config FILE] export [--all-tenants | --tenant UUID | --no-tenant]\n"
	  "                  [--aggregate-type TYPE,...] [--after CURSOR] [--output FILE]\n"
	  "                  [--without-keys | --decrypt]\n"
	  "\n"
	  "Writes the store's events to stdout (or FILE), one JSON object per line: a\n"
	  "header, the subject keys of the tenants exported (wrapped, as stored), then\n"
	  "the event objects the API returns, in the global feed's order, personal\n"
	  "fields as their ciphertext. Every tenant by default. It exports what was\n"
	  "committed when it started, streaming in batches, with a progress bar on stderr\n"
	  "when that is a terminal, and ends with a line on stderr naming the cursor of\n"
	  "the last event written: --after CURSOR goes on from there, after an\n"
	  "interruption (^C, a full disk) or later for the events written since.\n"
	  "\n"
	  "Options:\n"
	  "      --all-tenants             every tenant and the no-tenant space (the default)\n"
	  "      --tenant UUID             this tenant only\n"
	  "      --no-tenant               the no-tenant space only\n"
	  "      --aggregate-type TYPES    only these aggregate types (comma-separated)\n"
	  "      --after CURSOR            start after this cursor\n"
	  "  -o, --output FILE             write to FILE (replaced) instead of stdout\n"
	  "      --batch-size N            events per query (default 10000)\n"
	  "      --without-keys            leave the subject keys out: the personal fields\n"
	  "                                can then be read only beside this store's keys\n"
	  "      --decrypt                 personal fields in clear (needs the master key;\n"
	  "                                audited; no keys; import refuses the file)\n"
	  "  -h, --help                    show this help and exit\n" },
	{ "import", cmd_import, "read events from JSON Lines (what export writes)",
	  "Usage: evstorectl [--config FILE] import [--batch-size N] [FILE]\n"
	  "\n"
	  "Reads events from FILE (default: stdin), one JSON object per line as export\n"
	  "writes them, and stores them with their event ids, tenants, aggregate ids,\n"
	  "versions, types, occurred_at, recorded_at, actor, payload and metadata; the\n"
	  "positions are this store's, in the order of the lines. Streams rows are\n"
	  "created or moved to match. An event stored already with the same content is\n"
	  "skipped, so importing a file twice adds nothing. Each batch of lines is one\n"
	  "transaction. It stops at the first line that is not a valid event, gives an\n"
	  "event id stored with other content, or a version that leaves a gap or is\n"
	  "taken, naming the line: the batches before it are imported, nothing of its\n"
	  "own. Blank lines are skipped. A progress bar shows on stderr when that is a\n"
	  "terminal. The subject keys of an export are written first, in a transaction\n"
	  "of their own, keeping their key ids (one stored with other content refuses\n"
	  "them all; an erased key stays erased). A decrypted export is refused. Events\n"
	  "naming keys held neither in the file nor here are imported with a warning.\n"
	  "\n"
	  "Options:\n"
	  "      --batch-size N   lines per transaction (default 10000)\n"
	  "  -h, --help           show this help and exit\n" },
	{ "verify", cmd_verify, "check the store's integrity",
	  "Usage: evstorectl [--config FILE] verify [--envelopes]\n"
	  "\n"
	  "Checks that the applied migrations' checksums match this build's files, that\n"
	  "every stream's versions run from 1 without a gap and its streams row holds\n"
	  "the highest one, that no snapshot is ahead of its stream and no subscription\n"
	  "checkpoint ahead of the feed. It reads by index scans only, a chunk of streams\n"
	  "at a time, with a progress bar on stderr when that is a terminal. Prints each\n"
	  "problem found (the first 20) and exits 1, or exits 0 when there is none. When\n"
	  "the migrations do not match, the tables are not checked. It checks that the\n"
	  "subject keys' identity is ahead of every key id, and with --envelopes that\n"
	  "every personal field's envelope names a key that has a row (this reads\n"
	  "every event's payload: a full scan).\n"
	  "\n"
	  "Options:\n"
	  "      --envelopes   also check the envelopes' keys (reads every payload)\n"
	  "  -h, --help        show this help and exit\n" },
	{ "forget", cmd_forget, "erase a data subject's personal data (destroy its key)",
	  "Usage: evstorectl [--config FILE] forget [--tenant UUID] SUBJECT\n"
	  "       evstorectl [--config FILE] forget --replay AUDIT-LOG\n"
	  "\n"
	  "Destroys the key that seals the personal data of SUBJECT (the id an\n"
	  "aggregate definition's \"personal\" declares) in one committed transaction:\n"
	  "from then on every read, fold, snapshot and handler sees its fields as null,\n"
	  "listed as erased. An append waiting on the key finishes first; personal data\n"
	  "of SUBJECT appended later gets a new key. Writes an audit record naming the\n"
	  "login that ran it. Erasing again answers \"already erased\" (exit 0); a\n"
	  "subject of which nothing was ever stored is exit 1. Backups taken before keep\n"
	  "the key: after a restore, --replay erases again every subject that the\n"
	  "subject_erased records of AUDIT-LOG name (JSON lines, - for stdin; other\n"
	  "lines are skipped) and prints the counts.\n"
	  "\n"
	  "Options:\n"
	  "      --tenant UUID    the subject's tenant (default: no tenant)\n"
	  "      --replay FILE    erase the subjects of FILE's subject_erased records\n"
	  "  -h, --help           show this help and exit\n" },
	{ "privacy", cmd_privacy, "rewrap the data subjects' keys under a new master key",
	  "Usage: evstorectl [--config FILE] privacy rotate-master [--batch-size N] [--dry-run]\n"
	  "\n"
	  "Rewraps every live data subject key that the previous master key\n"
	  "([privacy] previous_master_key_file) wrapped under the current one\n"
	  "(master_key_file), without touching any event: the subject keys stay the\n"
	  "same. Each batch is one short transaction, a compare-and-set: a key erased\n"
	  "meanwhile stays erased, a key made meanwhile is already current, a key another\n"
	  "transaction holds is tried again. Safe while evstore-fcgi and evstore-runner\n"
	  "run, once they have been reloaded with both keys. A progress bar shows on\n"
	  "stderr when that is a terminal; the last line says how many keys were\n"
	  "rewrapped, already current, erased (skipped) and under an unknown master key.\n"
	  "An interrupted run goes on where it stopped when run again; a finished one has\n"
	  "0 to do. Keys under a master key that is neither are left alone and make the\n"
	  "exit status 1. Writes an audit record (action rotate_master).\n"
	  "\n"
	  "Options:\n"
	  "      --batch-size N   keys per transaction (default 1000; --batch works too)\n"
	  "  -n, --dry-run        count what would be done, change nothing\n"
	  "  -h, --help           show this help and exit\n" },
	{ "help", cmd_help, "show the help of evstorectl or of one command",
	  "Usage: evstorectl help [COMMAND]\n"
	  "\n"
	  "Shows the list of commands, or the options of COMMAND.\n" },
};

static void ctl_print_help(FILE *out)
{
	fprintf(out,
		"Usage: evstorectl [--config FILE] [--help] [--version] COMMAND [ARGS]\n"
		"\n"
		"Operates an evstore event store: its readiness, schema, status, snapshots, dead letters,\n"
		"projection rebuilds, exports, imports, integrity and development tokens.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   read FILE instead of %s\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n"
		"\n"
		"Commands:\n", CONFIG_DEFAULT_PATH);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"'evstorectl COMMAND --help' shows a command's options. The database is\n"
		"[database] url, or EVSTORE_DATABASE_URL, or DATABASE_URL.\n"
		"Exit status: 0 success, 1 failure, 2 bad usage.\n");
}

static const struct ctl_command *ctl_find(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

bool ctl_print_usage(FILE *out, const char *command)
{
	const struct ctl_command *c = ctl_find(command);

	if (!c)
		return false;
	fputs(c->usage, out);
	return true;
}

void ctl_error(const char *fmt, ...)
{
	va_list ap;

	fputs("evstorectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int ctl_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "evstorectl%s%s: ", command ? " " : "", command ? command : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'evstorectl %s%s--help'.\n", command ? command : "", command ? " " : "");
	return CTL_EXIT_USAGE;
}

bool ctl_load_config(const struct ctl *ctl, struct es_config *cfg)
{
	char err[512];

	memset(cfg, 0, sizeof *cfg);
	if (!config_load(cfg, ctl->config_path, err, sizeof err)) {
		ctl_error("%s", err);
		return false;
	}
	if (!log_open("evstorectl", &cfg->log, err, sizeof err)) {
		ctl_error("%s", err);
		config_free(cfg);
		return false;
	}
	return true;
}

struct db *ctl_db_connect(const struct es_config *cfg)
{
	struct db *db;

	if (!cfg->database.url || !*cfg->database.url) {
		ctl_error("no database configured: set [database] url, EVSTORE_DATABASE_URL"
			  " or DATABASE_URL");
		return NULL;
	}
	db = db_new(cfg->database.url, cfg->database.connect_timeout);
	if (!db) {
		ctl_error("out of memory");
		return NULL;
	}
	db_set_application_name(db, "evstorectl");
	if (config_transaction_pooling(cfg))
		db_set_transaction_pooling(db);
	if (db_ensure(db) != ES_OK) {
		ctl_error("cannot connect to the database: %s", db_last_error(db));
		db_free(db);
		return NULL;
	}
	return db;
}

int cmd_help(const struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	if (argc > 2)
		return ctl_usage_error("help", "too many arguments");
	if (argc == 2 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
		if (!ctl_print_usage(stdout, argv[1]))
			return ctl_usage_error("help", "unknown command '%s'", argv[1]);
		return CTL_EXIT_OK;
	}
	if (argc == 2)
		ctl_print_usage(stdout, "help");
	else
		ctl_print_help(stdout);
	return CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl ctl = { NULL };
	const struct ctl_command *c;
	int opt, rc;

	config_set_conninfo_check(pgconninfo_problem);
	opterr = 0;
	/* '+': stop at the sub-command; its options are its own. */
	while ((opt = getopt_long(argc, argv, "+:c:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ctl.config_path = optarg;
			break;
		case 'h':
			ctl_print_help(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("evstorectl %s\nLicense %s: see the file LICENSE.\n", PACKAGE_VERSION, PACKAGE_LICENSE);
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		ctl_print_help(stderr);
		return CTL_EXIT_USAGE;
	}
	c = ctl_find(argv[optind]);
	if (!c)
		return ctl_usage_error(NULL, "unknown command '%s'", argv[optind]);
	rc = c->run(&ctl, argc - optind, argv + optind);
	log_close();
	return rc;
}
