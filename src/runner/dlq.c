/* dlq.c - parameters for parking an event. */
#include "buildconf.h"
#include "runner/dlq.h"

#include <inttypes.h>
#include <stdio.h>

void dlq_park_params_fill(struct dlq_park_params *p, const char *subscription, int partition,
			  const struct event *ev, const char *error, const char *error_class,
			  int attempts, int64_t first_failed_usec)
{
	snprintf(p->part, sizeof p->part, "%d", partition);
	snprintf(p->pos, sizeof p->pos, "%" PRId64, ev->position);
	snprintf(p->attempts, sizeof p->attempts, "%d", attempts);
	snprintf(p->first, sizeof p->first, "%" PRId64, first_failed_usec);
	p->values[0] = subscription;
	p->values[1] = p->part;
	p->values[2] = p->pos;
	p->values[3] = ev->txid;
	p->values[4] = ev->event_id;
	p->values[5] = ev->event_type;
	p->values[6] = ev->aggregate_type;
	p->values[7] = ev->aggregate_id;
	p->values[8] = ev->tenant_id;
	p->values[9] = error;
	p->values[10] = error_class;
	p->values[11] = p->attempts;
	p->values[12] = p->first;
}
