/* event_line.h - one line of an export (evstorectl export / import): the
 * event object every reader gets (evstore.event_json), checked field by
 * field and turned into a row for the import's COPY.
 *
 * Required: event_id, event_type, aggregate_type, aggregate_id, version,
 * occurred_at, payload. Optional: tenant_id (null: no tenant), actor_id,
 * metadata (default {}), recorded_at (default: when imported), position
 * (checked, then ignored: positions are the importing store's). Any other
 * field is refused, as the API refuses unknown fields. */
#ifndef EVSTORE_EVENT_LINE_H
#define EVSTORE_EVENT_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/uuidtext.h"

struct sbuf;

/* A parsed line. The strings live in the parsed document: valid until
 * event_line_free. */
struct event_line {
	char tenant_id[UUIDTEXT_LEN];     /* the nil UUID for "no tenant" */
	char event_id[UUIDTEXT_LEN];
	char aggregate_id[UUIDTEXT_LEN];
	const char *aggregate_type;
	const char *event_type;
	int64_t version;                  /* >= 1 */
	const char *actor_id;             /* NULL when absent or null */
	int64_t occurred_at;              /* microseconds since the epoch, UTC */
	int64_t recorded_at;
	bool has_recorded_at;
	const char *payload;              /* compact JSON text of an object */
	const char *metadata;             /* idem; "{}" when absent */
	void *doc_;                       /* the parsed document */
};

/* The deepest nesting a line may have (its object is level 1): beyond
 * any [http] limit an append could have passed. */
#define EVENT_LINE_MAX_DEPTH 256

/* Parses line[0..len) (without its newline). ES_EINVAL with err saying
 * what is wrong, in words fit for "FILE:LINE: <err>" (never quoting more
 * than a few dozen bytes of the line); ES_ENOMEM. Release out with
 * event_line_free, also after a failure. */
enum es_status event_line_parse(const char *line, size_t len, struct event_line *out,
				char *err, size_t errlen) ES_MUST_CHECK;

void event_line_free(struct event_line *l);

/* Appends l as one row of COPY's text format, columns in the order of
 * EVENT_LINE_COPY_COLUMNS, lineno first. */
void event_line_copy_row(const struct event_line *l, int64_t lineno, struct sbuf *out);

#define EVENT_LINE_COPY_COLUMNS \
	"line, tenant_id, event_id, aggregate_type, aggregate_id, version, event_type," \
	" actor_id, occurred_at, recorded_at, payload, metadata"

#endif
