/* fold_bench.c - fold throughput without the database: N synthetic Order
 * events in streams of STREAM_EVENTS (each an OrderCreated, NoteAdded
 * events and an OrderShipped, folded into a fresh state) by the rules of an
 * aggregate definition, payloads parsed from text as the server does, then
 * the same with payloads already parsed.
 *   fold_bench DEFINITION.json [N]     prints events/s for both */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "aggregate/aggdef.h"
#include "aggregate/fold.h"
#include "json/jsondoc.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define STREAM_EVENTS 100

static const char *event_type(long i, long n)
{
	(void)n;
	i %= STREAM_EVENTS;
	return i == 0 ? "OrderCreated" : i == STREAM_EVENTS - 1 ? "OrderShipped" : "NoteAdded";
}

static void payload_text(long i, long n, char *buf, size_t len)
{
	(void)n;
	i %= STREAM_EVENTS;
	if (i == 0)
		snprintf(buf, len, "{\"customer_id\":\"c-%ld\",\"total\":%ld.5}", i, i);
	else if (i == STREAM_EVENTS - 1)
		snprintf(buf, len, "{\"tracking_number\":\"1Z%08ld\"}", i);
	else
		snprintf(buf, len, "{\"note\":\"note number %ld\"}", i);
}

int main(int argc, char **argv)
{
	struct aggdef_registry *reg = NULL;
	const struct aggdef *def;
	long n = argc > 2 ? atol(argv[2]) : 1000000;
	json_object **payloads, *state;
	json_tokener *tok = json_tokener_new_ex(64);
	char err[512], buf[128], dir[512];
	double t0, parse_fold, fold_only;
	const char *slash;

	if (argc < 2 || n < STREAM_EVENTS || !tok) {
		fprintf(stderr, "usage: fold_bench DEFINITION.json [N]\n");
		return 2;
	}
	slash = strrchr(argv[1], '/');
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - argv[1]) : 1, slash ? argv[1] : ".");
	if (aggdef_registry_load(dir, &reg, err, sizeof err) != ES_OK || !(def = aggdef_find(reg, "Order"))) {
		fprintf(stderr, "fold_bench: %s\n", reg ? "no Order definition" : err);
		return 1;
	}

	/* parse + fold, as aggregate_load does for each stored event */
	state = json_object_new_object();
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		json_object *p;

		if (i % STREAM_EVENTS == 0) {
			json_object_put(state);
			state = json_object_new_object();
		}
		payload_text(i, n, buf, sizeof buf);
		json_tokener_reset(tok);
		p = json_tokener_parse_ex(tok, buf, (int)strlen(buf));
		if (!p || fold_event(def, &state, event_type(i, n), p, NULL) != ES_OK)
			return 1;
		json_object_put(p);
	}
	parse_fold = now_s() - t0;
	printf("final state: status=%s note_count=%s\n",
	       json_object_get_string(json_object_object_get(state, "status")),
	       json_object_get_string(json_object_object_get(state, "note_count")));
	json_object_put(state);

	/* fold only */
	payloads = calloc((size_t)n, sizeof *payloads);
	if (!payloads)
		return 1;
	for (long i = 0; i < n; i++) {
		payload_text(i, n, buf, sizeof buf);
		payloads[i] = json_tokener_parse(buf);
	}
	state = json_object_new_object();
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		if (i % STREAM_EVENTS == 0) {
			json_object_put(state);
			state = json_object_new_object();
		}
		if (fold_event(def, &state, event_type(i, n), payloads[i], NULL) != ES_OK)
			return 1;
	}
	fold_only = now_s() - t0;
	json_object_put(state);
	for (long i = 0; i < n; i++)
		json_object_put(payloads[i]);
	free(payloads);

	printf("events %ld\nparse+fold %.0f events/s\nfold-only %.0f events/s\n", n, (double)n / parse_fold,
	       (double)n / fold_only);
	json_tokener_free(tok);
	aggdef_registry_free(reg);
	return 0;
}
