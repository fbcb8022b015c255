/* sqlfile.h - the sql handler's projection file:
 *
 *   -- on OrderCreated
 *   INSERT INTO order_summary ... VALUES ($1::jsonb->>'aggregate_id', ...);
 *   UPDATE ...;
 *   -- on OrderShipped
 *   ...
 *   -- truncate
 *   TRUNCATE order_summary;
 *
 * A line "-- on TYPE" or "-- truncate" (outside a string or a comment)
 * starts a section; each section holds one or more statements ended by
 * ';' (the last one may omit it). Semicolons inside quotes, dollar quotes
 * and comments do not split. Other comments are kept in the statements.
 * Text before the first section may only be comments and blank lines. */
#ifndef EVSTORE_SQLFILE_H
#define EVSTORE_SQLFILE_H

#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"

struct db;

struct sqlfile_section {
	char *event_type;       /* NULL for the truncate section */
	char **statements;
	size_t n_statements;
};

struct sqlfile {
	struct sqlfile_section *sections;  /* the "-- on" sections, in file order */
	size_t n_sections;
	struct sqlfile_section truncate;   /* n_statements 0 when absent */
	int line_count;
};

/* Parses text into out (zeroed first). ES_EINVAL with "line N: message"
 * in err for: a statement before the first section, a section twice, an
 * "-- on" without a type, a section without statements, an unterminated
 * quote or comment, no "-- on" section at all. Copies what it keeps; on
 * failure out is released. */
enum es_status sqlfile_parse(const char *text, struct sqlfile *out, char *err,
			     size_t errlen) ES_MUST_CHECK;

/* Reads and parses a file; err then starts with "PATH:". */
enum es_status sqlfile_load(const char *path, struct sqlfile *out, char *err,
			    size_t errlen) ES_MUST_CHECK;

/* The section for an event type, or NULL; borrowed from f. */
const struct sqlfile_section *sqlfile_find(const struct sqlfile *f, const char *event_type);

/* True when every use of $1 in the statement sql is a cast to jsonb
 * ("$1::jsonb", any spacing and case), outside strings, quoted names,
 * comments and dollar quotes. The sql handler then declares $1 jsonb: the
 * event is parsed once instead of once per cast, with the same values. A
 * statement that uses $1 any other way, or that this scan is unsure of
 * (an E'' string, something unterminated), is false and keeps json. */
bool sqlfile_param_only_jsonb(const char *sql);

/* Prepares every "-- on" statement of f on db's current session as
 * "PREFIX_SECTION_INDEX" (indexes from 0, as in f), its one parameter,
 * the event, typed jsonb when sqlfile_param_only_jsonb says so and json
 * otherwise: how the sql handler runs them, so PostgreSQL parses and plans
 * each against the read model's tables. On failure *section and *index
 * name the statement, and the status and db_last_error are
 * db_prepare_named's. Borrows everything. */
enum es_status sqlfile_prepare(struct db *db, const struct sqlfile *f, const char *prefix,
			       size_t *section, size_t *index) ES_MUST_CHECK;

/* Releases what sqlfile_parse allocated; safe on a zeroed struct. */
void sqlfile_free(struct sqlfile *f);

#endif
