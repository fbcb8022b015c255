/* sub.h - a subscription as the runner runs it: its configuration and its
 * handler, and the one place that hands events to a handler of any kind. */
#ifndef EVSTORE_RUNNER_SUB_H
#define EVSTORE_RUNNER_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include "runner/handler.h"
#include "subs/subscription.h"

struct aggdef_registry;
struct db;

struct sub {
	struct subscription conf;
	struct handler_sql *sql;          /* the handler of conf.handler; the others NULL */
	struct handler_exec *exec;
	struct handler_snapshots *snap;
};

/* Takes conf (moved into the new sub, conf zeroed) and starts its handler.
 * abort_fn(arg) is the exec handler's abort check (handler_exec_set_abort);
 * arg is borrowed for the sub's lifetime. NULL when the handler cannot be
 * made (logged). */
struct sub *sub_new(struct subscription *conf, bool (*abort_fn)(void *), void *arg);
void sub_free(struct sub *s);

/* Called before the events of a new page are handed over. */
void sub_page_start(struct sub *s);

/* Hands events to the subscription's handler. The sql handler runs
 * ev[0..n) and then tail[0..n_tail) in one transaction (*failed: see
 * handler_sql_run). Every other handler takes one event (n is 1), ignores
 * the tail (the caller settles what the tail would: those handlers are at
 * least once) and sets *failed to 0. Borrows everything; aggdefs may be
 * NULL. */
enum handler_result sub_handle(struct sub *s, struct db *db, const struct aggdef_registry *aggdefs,
			       const struct event *ev, size_t n, const struct sql_tail *tail,
			       size_t n_tail, size_t *failed, struct handler_error *err);

#endif
