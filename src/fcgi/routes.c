/* routes.c - the application's route table, built from EVSTORE_ROUTES. */
#include "buildconf.h"
#include "fcgi/routes.h"

#define ROUTE_ENTRY(method, pattern, handler, auth, query) { method, pattern, handler, auth, query },
static const struct route routes[] = {
	EVSTORE_ROUTES(ROUTE_ENTRY)
};
#undef ROUTE_ENTRY

const struct route *routes_table(size_t *count)
{
	*count = sizeof routes / sizeof routes[0];
	return routes;
}
