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

/* Whether one of subs[0..n) is a snapshots subscription, the only reader of
 * the aggregate definitions in the runner. */
bool runner_needs_aggdefs(const struct subscription *subs, size_t n);

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
