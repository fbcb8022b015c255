/* fuzz_json.c - the strict JSON parser every request body, token and
 * definition goes through (jsondoc_parse_strict), and what is done with
 * what it accepts: the jsonb check and the compact serialisation, which
 * must parse back strictly to an equal document. */
#include "buildconf.h"

#include "json/jschema.h"
#include "fuzz.h"

#define FUZZ_DEPTH 64

static void check_round_trip(json_object *doc)
{
	const char *text = jsondoc_compact(doc);
	json_object *again = NULL;
	char err[256];

	FUZZ_ASSERT(jsondoc_parse_strict(text, strlen(text), FUZZ_DEPTH, &again, err, sizeof err) == ES_OK,
		    "our own output %.200s refused: %s", text, err);
	FUZZ_ASSERT(jschema_equal(doc, again), "%.200s read back differently", text);
	json_object_put(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *doc = NULL;
	char *pointer = NULL;
	char err[256];

	if (jsondoc_parse_strict((const char *)data, size, FUZZ_DEPTH, &doc, err, sizeof err) != ES_OK)
		return 0;
	(void)jsondoc_pg_storable(doc, &pointer);
	free(pointer);
	check_round_trip(doc);
	json_object_put(doc);
	return 0;
}
