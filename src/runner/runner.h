/* runner.h - the evstore-runner daemon: subscriptions claimed partition
 * by partition, the feed loop, signals, reload and the orderly shutdown. */
#ifndef EVSTORE_RUNNER_RUNNER_H
#define EVSTORE_RUNNER_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"

struct es_config;
struct subscription;
struct runner;

/* Validates every subscription of cfg (and loads sql files). On failure
 * err holds "file:line: message" and *subs is NULL. On ES_OK *subs is a new
 * array of *n configurations: release with runner_free_confs. */
enum es_status runner_parse_confs(const struct es_config *cfg, struct subscription **subs, size_t *n,
				  char *err, size_t errlen) ES_MUST_CHECK;
void runner_free_confs(struct subscription *subs, size_t n);

/* Whether one of subs[0..n) is a snapshots subscription, the only reader of
 * the aggregate definitions in the runner. */
bool runner_needs_aggdefs(const struct subscription *subs, size_t n);

/* What the runner says when the configuration has no [subscription NAME]
 * section: it starts (a reload may bring some) but has nothing to do. */
#define RUNNER_NO_SUBSCRIPTIONS \
	"no [subscription NAME] section: the runner has nothing to run"

/* Takes cfg (config_free'd by runner_free) and config_path (borrowed for
 * reloads). Returns NULL after writing why into err. */
struct runner *runner_new(struct es_config *cfg, const char *config_path, char *err,
			  size_t errlen);
void runner_free(struct runner *r);

/* Installs the signal handlers (TERM/INT: stop, HUP: reload). */
void runner_install_signals(void);

/* Runs until SIGTERM/SIGINT, then shuts down in phases. Returns the exit
 * status: 0 after an orderly stop, 1 when it was forced. */
int runner_run(struct runner *r);

#endif
