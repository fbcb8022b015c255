/* fuzz_aggdef.c - the aggregate definition loader (aggdef_parse): a
 * definition file's bytes, parsed as the registry parses them; a loaded
 * definition then checks an empty payload for each of its event types and
 * finds each of its commands. */
#include "buildconf.h"

#include "aggregate/aggdef.h"
#include "fuzz.h"

#define FUZZ_DEPTH 64

static void exercise(const struct aggdef *def)
{
	json_object *empty = json_object_new_object();

	for (size_t i = 0; i < def->n_events; i++) {
		struct jschema_violations v = { NULL, 0, 0, false };

		FUZZ_ASSERT(aggdef_event_find(def, def->events[i].event_type) == &def->events[i],
			    "event %s", def->events[i].event_type);
		(void)aggdef_validate(def, def->events[i].event_type, empty, "", "/payload", &v);
		jschema_violations_free(&v);
	}
	for (size_t i = 0; i < def->n_commands; i++)
		FUZZ_ASSERT(aggdef_command_find(def, def->commands[i].name)->emits != NULL, "command %s",
			    def->commands[i].name);
	json_object_put(empty);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *doc = NULL;
	struct aggdef *def = NULL;
	char err[512];

	if (jsondoc_parse_strict((const char *)data, size, FUZZ_DEPTH, &doc, err, sizeof err) != ES_OK)
		return 0;
	if (aggdef_parse(doc, "fuzz.json", &def, err, sizeof err) == ES_OK)
		exercise(def);
	aggdef_free(def);
	json_object_put(doc);
	return 0;
}
