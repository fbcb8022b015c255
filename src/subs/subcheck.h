/* subcheck.h - the subscription items of a check run (base/startcheck.h):
 * `evstore-runner --check` reports the configuration, `evstorectl check`
 * also how the runners are doing with it. */
#ifndef EVSTORE_SUBCHECK_H
#define EVSTORE_SUBCHECK_H

#include <stddef.h>

struct db;
struct es_config;
struct startcheck;
struct subscription;

/* The "subscriptions" item: every [subscription NAME] of cfg parses and
 * the SQL file of each sql subscription reads (subscription_parse_all).
 * On success *subs is a new array of *n (subscription_free_all); on
 * failure *subs is NULL and *n 0. Borrows cfg. */
void subcheck_config(struct startcheck *c, const struct es_config *cfg,
		     struct subscription **subs, size_t *n);

/* Per sql subscription, the item "projection NAME": PostgreSQL parses
 * and plans every statement of its SQL file as the runner prepares them
 * (sqlfile_prepare), so a typo, a missing table or column fails here and
 * not in the runner. The statements are deallocated after. */
void subcheck_projections(struct startcheck *c, struct db *db, const struct subscription *subs,
			  size_t n);

/* Per configured subscription, two items: "runner heartbeat NAME" (every
 * partition claimed by a runner whose heartbeat is younger than [health]
 * runner_stale_after: pass; some: warn; none: fail) and "dlq NAME" (the
 * entries not resolved against [health] dlq_warn and dlq_critical).
 * Borrows everything. */
void subcheck_runtime(struct startcheck *c, struct db *db, const struct es_config *cfg,
		      const struct subscription *subs, size_t n);

#endif
