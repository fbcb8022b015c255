/* envscan.h - opening the envelopes of a page of events without parsing
 * it into a tree: one pass of a JSON tokenizer over the text finds the
 * envelopes inside each event's "payload" (and the event's tenant_id and
 * event_id, which the AAD needs), the keys they name are fetched in one
 * go, and the text is copied through with each envelope replaced by null
 * (redacted, erased) or its plaintext (clear), and the event's "redacted"
 * and "erased" pointers appended before its closing brace. What comes out
 * is what view_event (view.h) makes of the same events, as JSON, not as
 * bytes: the text around the envelopes keeps its spacing.
 *
 * A page the scanner does not read (an event without tenant_id and
 * event_id before its payload, an escaped object key, a depth beyond the
 * parser's, anything unexpected) is left to view_event. */
#ifndef EVSTORE_ENVSCAN_H
#define EVSTORE_ENVSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/sbuf.h"
#include "privacy/keyring.h"
#include "privacy/personal.h"

/* Adds the keys ids[0..n) name to kr (keyring_fetch, or a test's own). */
typedef enum es_status (*envscan_fetch_fn)(void *arg, const int64_t *ids, size_t n,
					   struct keyring *kr);

/* Rewrites page[0..len) (event objects separated by commas, as
 * evstore.event_json renders them) into out (appended to) in view,
 * fetching the keys it lacks into kr with fetch (once for the page, and
 * once more for each plaintext that holds envelopes of keys not yet in
 * kr). *scanned false: the page is not one the scanner reads, out is
 * unspecified and the caller goes the json-c way (kr may then already
 * hold keys). Errors as view_event's: ES_EINTERNAL with err "event <id>:
 * <pointer>: <why>" (never any plaintext), ES_ENOMEM, or what fetch
 * answers. */
enum es_status envscan_page(const char *page, size_t len, enum personal_view view,
			    struct keyring *kr, envscan_fetch_fn fetch, void *arg, struct sbuf *out,
			    bool *scanned, char *err, size_t errlen) ES_MUST_CHECK;

#endif
