/* view.c - opening the personal data of event objects for a reader. */
#include "buildconf.h"
#include "privacy/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/jsondoc.h"
#include "privacy/envscan.h"

/* The page's own nesting plus a stored document's. */
#define VIEW_PARSE_DEPTH 1100

enum es_status view_event(struct db *db, struct keyring *kr, json_object *event,
			  enum personal_view view, char *err, size_t errlen)
{
	struct personal_withheld w = { NULL, NULL };
	json_object *payload, *tenant, *id;
	const char *tenant_text = NULL;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	enum es_status rc;

	if (!json_object_object_get_ex(event, "payload", &payload) || !payload ||
	    !json_object_object_get_ex(event, "event_id", &id) || !json_object_is_type(id, json_type_string))
		return ES_OK;
	if (json_object_object_get_ex(event, "tenant_id", &tenant) && json_object_is_type(tenant, json_type_string))
		tenant_text = json_object_get_string(tenant);
	rc = personal_key_ids(payload, &ids, &n, &cap);
	if (rc != ES_OK || n == 0)
		goto out;
	rc = keyring_fetch(db, ids, n, view == PERSONAL_CLEAR, NULL, kr);
	if (rc != ES_OK)
		goto out;
	json_object_get(payload);
	rc = personal_open(kr, tenant_text, json_object_get_string(id), "/payload", &payload, view, &w, err,
			   errlen);
	if (rc == ES_OK && json_object_object_add(event, "payload", payload) != 0)
		rc = ES_ENOMEM;
	else if (rc != ES_OK)
		json_object_put(payload);
	if (rc == ES_OK && w.redacted) {
		rc = json_object_object_add(event, "redacted", w.redacted) == 0 ? ES_OK : ES_ENOMEM;
		w.redacted = NULL;
	}
	if (rc == ES_OK && w.erased) {
		rc = json_object_object_add(event, "erased", w.erased) == 0 ? ES_OK : ES_ENOMEM;
		w.erased = NULL;
	}
out:
	personal_withheld_clear(&w);
	free(ids);
	return rc;
}

/* The page through json-c: what envscan does not read. */
static enum es_status view_page_parsed(struct db *db, struct keyring *kr, struct sbuf *page,
				       enum personal_view view, char *err, size_t errlen)
{
	struct sbuf text = SBUF_INIT;
	json_tokener *tok = NULL;
	json_object *events = NULL;
	enum es_status rc = ES_OK;

	sbuf_putc(&text, '[');
	sbuf_append(&text, page->data, page->len);
	sbuf_putc(&text, ']');
	tok = json_tokener_new_ex(VIEW_PARSE_DEPTH);
	if (text.failed || !tok) {
		rc = ES_ENOMEM;
		goto out;
	}
	events = json_tokener_parse_ex(tok, text.data, (int)text.len);
	if (json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(events, json_type_array)) {
		rc = ES_EINTERNAL;
		snprintf(err, errlen, "a page of stored events does not parse");
		goto out;
	}
	/* view_event leaves an event without envelopes as it is */
	for (size_t i = 0; rc == ES_OK && i < json_object_array_length(events); i++)
		rc = view_event(db, kr, json_object_array_get_idx(events, i), view, err, errlen);
	if (rc != ES_OK)
		goto out;
	sbuf_reset(page);
	for (size_t i = 0; i < json_object_array_length(events); i++) {
		if (i)
			sbuf_putc(page, ',');
		sbuf_puts(page, jsondoc_compact(json_object_array_get_idx(events, i)));
	}
	if (page->failed)
		rc = ES_ENOMEM;
out:
	if (tok)
		json_tokener_free(tok);
	json_object_put(events);
	sbuf_free(&text);
	return rc;
}

struct fetch_arg {
	struct db *db;
	bool unwrap;
	const char *epoch;
};

static enum es_status fetch_keys(void *arg, const int64_t *ids, size_t n, struct keyring *kr)
{
	const struct fetch_arg *a = arg;

	return keyring_fetch(a->db, ids, n, a->unwrap, a->epoch, kr);
}

enum es_status view_page(struct db *db, struct sbuf *page, enum personal_view view, const char *epoch,
			 char *err, size_t errlen)
{
	struct keyring kr = KEYRING_INIT;
	struct fetch_arg fa = { db, view == PERSONAL_CLEAR, epoch };
	struct sbuf out = SBUF_INIT;
	bool scanned = false;
	enum es_status rc;

	if (!page->data || !personal_find_mark(page->data, page->len))
		return ES_OK;
	rc = envscan_page(page->data, page->len, view, &kr, fetch_keys, &fa, &out, &scanned, err, errlen);
	if (rc == ES_OK && scanned) {
		struct sbuf old = *page;

		*page = out;
		out = old;
	} else if (rc == ES_OK) {
		rc = view_page_parsed(db, &kr, page, view, err, errlen);
	}
	sbuf_free(&out);
	keyring_free(&kr);
	return rc;
}
