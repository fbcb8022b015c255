/* routes.c - the application's route table, built from EVSTORE_ROUTES. */
#include "buildconf.h"
#include "fcgi/routes.h"
#include "fcgi/poolstats.h"

#include <string.h>

#define ROUTE_ENTRY(method, pattern, handler, auth, query) { method, pattern, handler, auth, query },
static const struct route routes[] = {
	EVSTORE_ROUTES(ROUTE_ENTRY)
};
#undef ROUTE_ENTRY

/* /metrics counts requests per route in fixed tables: one entry per route
 * and one for requests no route matched. */
_Static_assert(sizeof routes / sizeof routes[0] < POOLSTATS_ROUTES,
	       "the route table outgrew POOLSTATS_ROUTES (poolstats.h)");

const struct route *routes_table(size_t *count)
{
	*count = sizeof routes / sizeof routes[0];
	return routes;
}

int routes_index(const char *method, const char *pattern)
{
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].pattern, pattern) == 0)
			return (int)i;
	return POOLSTATS_UNMATCHED;
}
