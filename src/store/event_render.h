/* event_render.h - the JSON object of a stored event, rendered in the
 * worker from the row's columns (private to src/store). A statement
 * selects EVENT_RENDER_COLUMNS of its events row in its innermost query,
 * passes them out with EVENT_RENDER_SELECT, runs with db_exec_binary, and
 * event_render() writes each row's object.
 *
 * The object is evstore.event_json()'s (sql/001_init.sql), the one export
 * and SQL handlers see: the same members in the same order, with the same
 * values (check_store compares the two, event by event). Rendering it here
 * rather than in PostgreSQL took two thirds of a 100-event stream read's
 * database time: json_build_object and to_char cost the server more than
 * the binary values cost to format here, and the server is the part that
 * does not scale out. */
#ifndef EVSTORE_EVENT_RENDER_H
#define EVSTORE_EVENT_RENDER_H

#include <libpq-fe.h>
#include "base/error.h"

struct sbuf;

/* The columns of the evstore.events row E that event_render() reads, in
 * this order, named r_* so they pass through outer queries. The jsonb
 * values come as text: one rendering, which the page budget measures
 * too. */
#define EVENT_RENDER_COLUMNS(E) \
	" " E ".event_id AS r_event_id, " E ".event_type AS r_event_type," \
	" " E ".aggregate_type AS r_aggregate_type, " E ".aggregate_id AS r_aggregate_id," \
	" " E ".version AS r_version, " E ".position AS r_position," \
	" " E ".occurred_at AS r_occurred_at, " E ".recorded_at AS r_recorded_at," \
	" " E ".tenant_id AS r_tenant_id, " E ".actor_id AS r_actor_id," \
	" " E ".payload::text AS r_payload, " E ".metadata::text AS r_metadata"

/* The same columns of a subquery Q that selected them. */
#define EVENT_RENDER_SELECT(Q) \
	" " Q ".r_event_id, " Q ".r_event_type, " Q ".r_aggregate_type, " Q ".r_aggregate_id," \
	" " Q ".r_version, " Q ".r_position, " Q ".r_occurred_at, " Q ".r_recorded_at," \
	" " Q ".r_tenant_id, " Q ".r_actor_id, " Q ".r_payload, " Q ".r_metadata"

/* Their places, from the first. */
enum event_render_column {
	EVENT_RENDER_EVENT_ID, EVENT_RENDER_EVENT_TYPE, EVENT_RENDER_AGGREGATE_TYPE,
	EVENT_RENDER_AGGREGATE_ID, EVENT_RENDER_VERSION, EVENT_RENDER_POSITION,
	EVENT_RENDER_OCCURRED_AT, EVENT_RENDER_RECORDED_AT, EVENT_RENDER_TENANT_ID,
	EVENT_RENDER_ACTOR_ID, EVENT_RENDER_PAYLOAD, EVENT_RENDER_METADATA,
	EVENT_RENDER_NCOLS
};

/* What event_render() will write for the row, in bytes, as SQL over the
 * r_* columns, for a page's byte budget (page_budget.h). Never more than
 * the rendering: the numbers are counted as one digit and strings as if
 * nothing in them needed escaping; so the database cuts a page no later
 * than the worker would, and the worker cuts it exactly. */
#define EVENT_RENDER_SIZE_SQL \
	"(302 + octet_length(r_event_type) + octet_length(r_aggregate_type)" \
	" + COALESCE(octet_length(r_actor_id) + 2, 4) + octet_length(r_payload)" \
	" + octet_length(r_metadata)" \
	" + CASE WHEN r_tenant_id = '00000000-0000-0000-0000-000000000000' THEN 4 ELSE 38 END)"

/* Appends the JSON object of the event in columns col..col +
 * EVENT_RENDER_NCOLS - 1 of row (a binary result) to out. ES_EINTERNAL
 * when the columns are not what EVENT_RENDER_COLUMNS selects; ES_ENOMEM
 * when out ran out of memory. */
enum es_status event_render(const PGresult *r, int row, int col, struct sbuf *out) ES_MUST_CHECK;

#endif
