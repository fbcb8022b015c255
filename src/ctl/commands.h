/* commands.h - evstorectl's sub-commands and the helpers they share.
 * main.c parses the global options and dispatches through the table of
 * struct ctl_command; each command lives in its own cmd_NAME.c. */
#ifndef EVSTORE_CTL_COMMANDS_H
#define EVSTORE_CTL_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/adminaudit.h"

struct es_config;
struct db;

/* Exit statuses, the same for every command. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILURE = 1,
	CTL_EXIT_USAGE = 2
};

/* What the global options said. */
struct ctl {
	const char *config_path;    /* --config FILE, or NULL for the default */
};

/* A sub-command gets its own name in argv[0] and its arguments after it,
 * and returns an enum ctl_exit. */
struct ctl_command {
	const char *name;
	int (*run)(const struct ctl *ctl, int argc, char **argv);
	const char *summary;        /* one line for `evstorectl help` */
	const char *usage;          /* the synopsis and options, for --help */
};

int cmd_migrate(const struct ctl *ctl, int argc, char **argv);
int cmd_status(const struct ctl *ctl, int argc, char **argv);
int cmd_check(const struct ctl *ctl, int argc, char **argv);
int cmd_token(const struct ctl *ctl, int argc, char **argv);
int cmd_snapshot(const struct ctl *ctl, int argc, char **argv);
int cmd_dlq(const struct ctl *ctl, int argc, char **argv);
int cmd_rebuild(const struct ctl *ctl, int argc, char **argv);
int cmd_partitions(const struct ctl *ctl, int argc, char **argv);
int cmd_export(const struct ctl *ctl, int argc, char **argv);
int cmd_import(const struct ctl *ctl, int argc, char **argv);
int cmd_verify(const struct ctl *ctl, int argc, char **argv);
int cmd_forget(const struct ctl *ctl, int argc, char **argv);
int cmd_privacy(const struct ctl *ctl, int argc, char **argv);
int cmd_help(const struct ctl *ctl, int argc, char **argv);

/* Prints a command's usage to out; false if there is no such command. */
bool ctl_print_usage(FILE *out, const char *command);

/* Prints "evstorectl: " and the message to stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a bad command line ("evstorectl NAME: message" and a pointer to
 * --help) and returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Loads the configuration (--config or the default file, then the
 * environment) into cfg and opens the log it names under the ident
 * "evstorectl". False after printing why; cfg is then released. */
bool ctl_load_config(const struct ctl *ctl, struct es_config *cfg);

/* Writes the audit record of an admin action (base/adminaudit.h) with
 * the actor filled in: the name of the user running evstorectl (its real
 * uid) and, run through sudo, the sudo user; via "evstorectl". Call it
 * once the action has run (after ctl_load_config, which opens the log),
 * whatever its outcome. A record the [log] socket does not take is a
 * warning on stderr; the exit status stays the action's. Borrows action. */
void ctl_audit(const struct admin_action *action);

/* The audit record of `evstorectl import`: action "import", target
 * {"source": source} (the file read, or "-" for standard input), counts
 * {"events": events, "subject_keys": keys} (the events imported, the key
 * rows written or erased), outcome "ok" or "failed":
 *	ctl_audit_import(path, imported, keys, rc == CTL_EXIT_OK);
 * Borrows source. */
void ctl_audit_import(const char *source, int64_t events, int64_t keys, bool ok);

/* Connects to [database] url. Returns a connected handle (db_free() it),
 * or NULL after printing why. Borrows cfg. */
struct db *ctl_db_connect(const struct es_config *cfg);

#endif
