/* fuzz_jschema.c - the payload schema compiler and validator. The input is
 * a schema, a NUL byte and a document (without a NUL the input is both):
 * every schema is compiled, every compiled one validates the document, and
 * the 422 problem listing the violations must be strict JSON. */
#include "buildconf.h"

#include "fcgi/routes.h"
#include "json/jschema.h"
#include "fuzz.h"

#define FUZZ_DEPTH 32

static json_object *parse(const char *text, size_t len, bool *ok)
{
	json_object *doc = NULL;
	char err[256];

	*ok = jsondoc_parse_strict(text, len, FUZZ_DEPTH, &doc, err, sizeof err) == ES_OK;
	return doc;
}

static void validate(const struct jschema *s, json_object *doc)
{
	struct jschema_violations v = { NULL, 0, 0, false };
	struct http_resp resp;
	bool valid = jschema_validate(s, doc, "/payload", &v);

	FUZZ_ASSERT(valid == (v.n == 0), "valid %d with %zu violations", valid, v.n);
	if (!valid) {
		http_resp_init(&resp, 1);
		reply_violations(&resp, &v);
		fuzz_assert_json(sbuf_cstr(&resp.body), resp.body.len);
		http_resp_free(&resp);
	}
	jschema_violations_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	size_t schema_len = nul ? (size_t)(nul - text) : size;
	json_object *schema, *doc = NULL;
	struct jschema *compiled = NULL;
	char err[512];
	bool ok;

	schema = parse(text, schema_len, &ok);
	if (!ok)
		return 0;
	if (jschema_compile(schema, "", &compiled, err, sizeof err) == ES_OK) {
		if (nul)
			doc = parse(nul + 1, size - schema_len - 1, &ok);
		else
			doc = json_object_get(schema);
		if (ok)
			validate(compiled, doc);
		jschema_free(compiled);
	}
	json_object_put(doc);
	json_object_put(schema);
	return 0;
}
