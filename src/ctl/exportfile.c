/* exportfile.c - the header of an export file and telling its records
 * apart. */
#include "buildconf.h"
#include "ctl/exportfile.h"

#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "base/text.h"
#include "json/jsondoc.h"
#include "privacy/keytransfer.h"

/* Whether line's first member is "name". */
static bool first_member_is(const char *line, size_t len, const char *name)
{
	size_t i = 0, n = strlen(name);

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= len || line[i++] != '{')
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return len - i >= n + 2 && line[i] == '"' && memcmp(line + i + 1, name, n) == 0 && line[i + 1 + n] == '"';
}

enum exportfile_kind exportfile_kind(const char *line, size_t len)
{
	if (first_member_is(line, len, EXPORTFILE_HEADER_MEMBER))
		return EXPORTFILE_HEADER;
	if (first_member_is(line, len, KEYTRANSFER_MEMBER))
		return EXPORTFILE_KEY;
	return EXPORTFILE_EVENT;
}

void exportfile_header_format(const struct exportfile_header *h, char *out, size_t outlen)
{
	snprintf(out, outlen, "{\"" EXPORTFILE_HEADER_MEMBER "\": {\"format\": %d, \"keys\": %s,"
		 " \"decrypted\": %s}}", h->format, h->keys ? "true" : "false", h->decrypted ? "true" : "false");
}

bool exportfile_header_parse(const char *line, size_t len, struct exportfile_header *h, char *err,
			     size_t errlen)
{
	json_object *doc = NULL, *o = NULL, *v;
	bool ok = false;

	memset(h, 0, sizeof *h);
	if (jsondoc_parse_strict(line, len, 4, &doc, err, errlen) != ES_OK)
		return false;
	if (!json_object_is_type(doc, json_type_object) || json_object_object_length(doc) != 1
	    || !json_object_object_get_ex(doc, EXPORTFILE_HEADER_MEMBER, &o)
	    || !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "an export's header is {\"" EXPORTFILE_HEADER_MEMBER "\": {…}} and nothing else");
		goto out;
	}
	if (!json_object_object_get_ex(o, "format", &v) || !json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, EXPORTFILE_HEADER_MEMBER ".format must be an integer");
		goto out;
	}
	h->format = (int)json_object_get_int64(v);
	if (json_object_get_int64(v) != EXPORTFILE_FORMAT) {
		snprintf(err, errlen, "an export of format %lld: this evstorectl reads format %d",
			 (long long)json_object_get_int64(v), EXPORTFILE_FORMAT);
		goto out;
	}
	json_object_object_foreach(o, key, val) {
		char shown[48];
		bool *flag = strcmp(key, "keys") == 0 ? &h->keys :
			     strcmp(key, "decrypted") == 0 ? &h->decrypted : NULL;

		if (strcmp(key, "format") == 0)
			continue;
		if (!flag) {
			snprintf(err, errlen, EXPORTFILE_HEADER_MEMBER ": unknown member %s",
				 text_quote(shown, sizeof shown, key, strlen(key)));
			goto out;
		}
		if (!json_object_is_type(val, json_type_boolean)) {
			snprintf(err, errlen, EXPORTFILE_HEADER_MEMBER ".%s must be true or false", key);
			goto out;
		}
		*flag = json_object_get_boolean(val);
	}
	ok = true;
out:
	json_object_put(doc);
	return ok;
}
