/* view.h - what a reader sees of stored events that hold personal data:
 * the clear view (personal:read, handlers asking for it) or the redacted
 * view, and in both an erased field as null. Each event object that had
 * something withheld lists the JSON pointers in "redacted" and "erased"
 * arrays. Events without envelopes are passed through untouched, and a
 * page without any is not even parsed. */
#ifndef EVSTORE_VIEW_H
#define EVSTORE_VIEW_H

#include <stddef.h>
#include <json-c/json.h>
#include "base/error.h"
#include "base/sbuf.h"
#include "privacy/keyring.h"
#include "privacy/personal.h"

struct db;

/* Opens event (an event object as evstore.event_json renders it:
 * tenant_id, event_id, payload) in place, fetching the keys it needs into
 * kr (which may already hold some). ES_EINTERNAL with err ("event <id>:
 * <pointer>: <why>") when an envelope is damaged, moved from elsewhere or
 * names a key that is not stored; the caller answers with a problem and
 * logs err (it never holds personal data). */
enum es_status view_event(struct db *db, struct keyring *kr, json_object *event,
			  enum personal_view view, char *err, size_t errlen) ES_MUST_CHECK;

/* view_event for every event of page: JSON event objects separated by
 * commas, as store_read_stream and the feed write them. The page is
 * rewritten in place when one of them holds an envelope. epoch: the
 * key epoch the page was read under from db's current session
 * (keyring_fetch), or NULL. */
enum es_status view_page(struct db *db, struct sbuf *page, enum personal_view view, const char *epoch,
			 char *err, size_t errlen) ES_MUST_CHECK;

#endif
