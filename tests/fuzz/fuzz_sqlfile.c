/* fuzz_sqlfile.c - the subscription SQL-file splitter (sqlfile_parse) and
 * the $1::jsonb scan run on every statement it keeps. */
#include "buildconf.h"

#include "subs/sqlfile.h"
#include "fuzz.h"

static void check_section(const struct sqlfile_section *s)
{
	FUZZ_ASSERT(s->n_statements >= 1, "section %s without statements",
		    s->event_type ? s->event_type : "truncate");
	for (size_t i = 0; i < s->n_statements; i++)
		(void)sqlfile_param_only_jsonb(s->statements[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct sqlfile f;
	char err[256];

	if (!text)
		return 0;
	(void)sqlfile_param_only_jsonb(text);
	if (sqlfile_parse(text, &f, err, sizeof err) == ES_OK) {
		FUZZ_ASSERT(f.n_sections >= 1, "no section");
		for (size_t i = 0; i < f.n_sections; i++) {
			check_section(&f.sections[i]);
			FUZZ_ASSERT(sqlfile_find(&f, f.sections[i].event_type) == &f.sections[i],
				    "section %s", f.sections[i].event_type);
		}
		if (f.truncate.n_statements)
			check_section(&f.truncate);
		sqlfile_free(&f);
	}
	free(text);
	return 0;
}
