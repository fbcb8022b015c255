/* startcheck.h - `evstore-fcgi --check` and `evstore-runner --check`, in
 * the style of `nginx -t`: each program loads what it would load at
 * start-up, item by item, and this module prints one line per item
 *
 *	evstore-fcgi: pass configuration: /etc/evstore/evstore.conf
 *	evstore-fcgi: FAIL database: connection to server ... failed
 *
 * then a verdict, and gives the exit status (0: nothing failed, 1). Shared
 * by both programs; the items that need a higher layer (keys, definitions,
 * the database) report through startcheck_item from there. */
#ifndef EVSTORE_STARTCHECK_H
#define EVSTORE_STARTCHECK_H

#include <stdbool.h>
#include <stdio.h>
#include "base/config.h"

enum startcheck_status { STARTCHECK_PASS, STARTCHECK_WARN, STARTCHECK_FAIL };

struct startcheck {
	const char *program;   /* "evstore-fcgi": the prefix of every line */
	FILE *out;             /* NULL: no lines, the sink alone hears the items */
	/* Called with every item as well, when set (evstorectl check --json
	 * collects them); what is borrowed for the call only. */
	void (*sink)(void *arg, enum startcheck_status st, const char *item, const char *what);
	void *sink_arg;
	bool prestart;         /* --check=prestart: the database and its schema
	                        * only warn (the daemons wait for both), so a
	                        * unit's ExecStartPre fails on what no restart fixes */
	int failed, warned;
	char first_failure[256]; /* the reason given with the verdict */
};

/* Starts a report on out for program (both borrowed), without a sink. */
void startcheck_init(struct startcheck *c, const char *program, FILE *out);

/* Reads the MODE of --check[=MODE] (optarg, NULL: "all"): "all" or
 * "prestart". False for anything else. */
bool startcheck_mode(struct startcheck *c, const char *mode);

/* STARTCHECK_FAIL, or STARTCHECK_WARN in prestart mode: the status of a
 * problem with the database or its schema, which the daemons wait out. */
enum startcheck_status startcheck_database_problem(const struct startcheck *c);

/* One line: status, item ("database"), and what was found. */
void startcheck_item(struct startcheck *c, enum startcheck_status st, const char *item,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Loads the configuration (path NULL: the default) into cfg and reports
 * it, with every unknown EVSTORE_* variable as a warning. False when it
 * did not load (cfg then holds nothing). */
bool startcheck_config(struct startcheck *c, const char *path, struct es_config *cfg);

/* Prints the verdict ("check passed", or "check failed: <first failure>";
 * nothing without out) and returns the exit status: 0, or 1 when an item
 * failed. */
int startcheck_finish(struct startcheck *c);

#endif
