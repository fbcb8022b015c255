/* claims.c - claiming subscription partitions. */
#include "buildconf.h"
#include "runner/claims.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timefmt.h"
#include "pg/db.h"
#include "runner/partition.h"
#include "runner/sub.h"
#include "runner/unit.h"

void claims_init(struct claims *c, struct db *lockdb)
{
	memset(c, 0, sizeof *c);
	c->lockdb = lockdb;
}

/* Stops unit i (its checkpoint saved first) and, when release, gives its
 * partition back. */
static void claims_remove(struct claims *c, struct unit_host *h, size_t i, bool release)
{
	struct unit *u = c->units[i];
	const char *name = unit_sub(u)->conf.name; /* the sub outlives its units */
	int partition = unit_partition(u);

	c->units[i] = c->units[--c->n];
	unit_stop(h, u);
	if (release && db_connected(c->lockdb) &&
	    partition_release(c->lockdb, name, partition) != ES_OK)
		log_kv(LOG_WARNING, "partition_release_failed", "subscription", name, NULL);
}

static bool claims_hold(const struct claims *c, const struct sub *s, int partition)
{
	for (size_t i = 0; i < c->n; i++)
		if (unit_sub(c->units[i]) == s && unit_partition(c->units[i]) == partition)
			return true;
	return false;
}

void claims_round(struct claims *c, struct unit_host *h, struct sub *const *subs, size_t n_subs)
{
	int runners = 1;

	c->last_round_ms = time_mono_ms();
	if (c->lock_epoch && db_session_epoch(c->lockdb) != c->lock_epoch) {
		log_kv(LOG_WARNING, "partition_claims_lost", NULL);
		while (c->n)
			claims_remove(c, h, c->n - 1, false);
		c->lock_epoch = 0;
	}
	if (db_ensure(c->lockdb) != ES_OK || db_ensure(h->db) != ES_OK)
		return;
	c->lock_epoch = db_session_epoch(c->lockdb);
	if (partition_count_runners(c->lockdb, &runners) != ES_OK)
		return;
	for (size_t s = 0; s < n_subs; s++) {
		struct sub *sub = subs[s];
		int parts = sub->conf.partitions, share = (parts + runners - 1) / runners, owned = 0;

		for (size_t i = 0; i < c->n; i++)
			owned += unit_sub(c->units[i]) == sub;
		for (size_t i = c->n; i-- > 0 && owned > share;) {
			if (unit_sub(c->units[i]) == sub) {
				claims_remove(c, h, i, true);
				owned--;
			}
		}
		for (int p = 0; p < parts && owned < share; p++) {
			bool got = false;
			struct unit *u, **arr;

			if (claims_hold(c, sub, p))
				continue;
			if (partition_try_claim(c->lockdb, sub->conf.name, p, &got) != ES_OK)
				return;
			if (!got)
				continue;
			u = unit_new(h, sub, p);
			arr = u ? realloc(c->units, (c->n + 1) * sizeof *arr) : NULL;
			if (!arr) {
				unit_free(u);
				(void)!partition_release(c->lockdb, sub->conf.name, p);
				continue;
			}
			c->units = arr;
			c->units[c->n++] = u;
			owned++;
		}
	}
}

void claims_drop_sub(struct claims *c, struct unit_host *h, const struct sub *s)
{
	for (size_t i = c->n; i-- > 0;)
		if (unit_sub(c->units[i]) == s)
			claims_remove(c, h, i, true);
}

void claims_drop_last(struct claims *c, struct unit_host *h)
{
	if (c->n)
		claims_remove(c, h, c->n - 1, true);
}

void claims_free(struct claims *c)
{
	for (size_t i = 0; i < c->n; i++)
		unit_free(c->units[i]);
	free(c->units);
	memset(c, 0, sizeof *c);
}
