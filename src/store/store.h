/* store.h - the event store's queries on events and streams: append with
 * compare-and-set on the streams row, stream reads, the streams of a type,
 * counts. The global feed is feed.h's. A read renders its events to JSON
 * in the worker (event_render.h), as the same object that the SQL function
 * evstore.event_json gives export and SQL handlers. */
#ifndef EVSTORE_STORE_H
#define EVSTORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include "base/error.h"
#include "base/uuidtext.h"

struct db;
struct db_statement;
struct sbuf;

/* The NOTIFY channel of wake-up hints for feed long-polls and runners
 * (payload empty; never sent inside an append's transaction). */
#define STORE_NOTIFY_CHANNEL "evstore_events"

/* The newest event's position (0: none) as an SQL expression, for a
 * statement of another module that reports a lag in the same round trip
 * (the runner's status rows). */
#define STORE_NEWEST_POSITION_SQL "COALESCE((SELECT max(position) FROM evstore.events), 0)"

enum store_expect {
	STORE_EXPECT_ANY,     /* no check */
	STORE_EXPECT_EXACT,   /* the stream is at expected_version (0: must not exist) */
	STORE_EXPECT_EXISTS   /* the stream has at least one event */
};

struct store_new_event {
	char event_id[UUIDTEXT_LEN];  /* given by the client or generated (UUIDv7) */
	const char *event_type;
	json_object *payload;         /* borrowed; an object */
	json_object *metadata;        /* borrowed; an object or NULL */
	int64_t occurred_at_usec;     /* microseconds since the epoch */
};

struct store_append_req {
	const char *tenant;           /* lowercase UUID, or NULL for no tenant */
	const char *aggregate_type;
	const char *aggregate_id;     /* lowercase UUID */
	enum store_expect expect;
	int64_t expected_version;     /* with STORE_EXPECT_EXACT */
	const char *actor_id;         /* the token's sub; may be NULL */
	struct store_new_event *events;
	size_t n_events;              /* >= 1 */
};

struct store_appended_event {
	char event_id[UUIDTEXT_LEN];
	int64_t version;
	int64_t position;
};

struct store_append_res {
	int64_t version;              /* the stream's version after the append */
	bool replayed;                /* every event_id was already stored: nothing written */
	int64_t current_version;      /* on ES_ECONFLICT: the stream's version now */
	struct store_appended_event *events; /* n_events entries; malloc'd */
	size_t n_events;
};

/* Appends atomically: one round trip, a second one only for a replay, a
 * duplicate or a conflict (the optimistic statement changed nothing; the
 * checking one answers). Never inside a transaction of the caller's: a
 * stored event id rolls the optimistic statement back. Returns ES_OK (res filled; replayed
 * set for an idempotent replay), ES_ECONFLICT (res->current_version set),
 * ES_EDUPLICATE (an event_id is stored elsewhere, with other content, the
 * request mixes stored and new ids, or repeats an id), ES_EUNAVAILABLE,
 * ES_EDB; ES_EINVAL for a request the store cannot take (no events, a
 * payload that is not an object, a negative expected version, a value
 * PostgreSQL refuses), ES_ENOMEM. Borrows req; res is zeroed first and, on
 * ES_OK, owns a malloc'd events array: release it with
 * store_append_res_free(). A replay's version is the highest stored version
 * among the request's events. Two identical requests racing both get ES_OK,
 * one of them replayed. */
enum es_status store_append(struct db *db, const struct store_append_req *req,
			    struct store_append_res *res) ES_MUST_CHECK;
void store_append_res_free(struct store_append_res *res);

/* store_append for a caller that holds a transaction open (sealing
 * personal data under its subjects' key locks): the ids are checked before
 * anything is written, so a stored event id answers as a replay or a
 * duplicate and never aborts the caller's transaction. One round trip,
 * the slower statement. Results as for store_append(). */
enum es_status store_append_in_transaction(struct db *db, const struct store_append_req *req,
					   struct store_append_res *res) ES_MUST_CHECK;

/* A set of optimistic append statements, one per expectation
 * (append_sql.h): the store's own, or a caller's with a guard. */
enum store_append_variant {
	STORE_APPEND_NEW,     /* STORE_EXPECT_EXACT with expected_version 0 */
	STORE_APPEND_EXACT,   /* $6 the expected version */
	STORE_APPEND_EXISTS,
	STORE_APPEND_ANY,
	STORE_APPEND_VARIANTS
};
struct store_append_statements {
	const struct db_statement *st[STORE_APPEND_VARIANTS];
};

#define STORE_GUARD_MAX_PARAMS 4

/* The optimistic append alone, through set's statement for req, whose
 * guard takes guard[0..n_guard) as its parameters: $6.. (from $7 in the
 * STORE_APPEND_EXACT statement). One statement, its own transaction:
 * ES_OK with res filled when the events (and whatever the guard writes)
 * are committed; ES_ENOTFOUND when the expectation or the guard did not
 * hold and ES_EDUPLICATE when an event id is stored (nothing written
 * either way: the caller asks store_append or store_append_in_transaction
 * for the answer); a unique violation of the guard's own tables is ES_EDB
 * with db_last_constraint naming it. res as for store_append(). */
enum es_status store_append_guarded(struct db *db, const struct store_append_statements *set,
				    const struct store_append_req *req, const char *const *guard,
				    size_t n_guard, struct store_append_res *res) ES_MUST_CHECK;

/* The idempotency check of store_append alone, writing nothing: ES_OK with
 * res->replayed set and the original result when every event_id of req is
 * stored in this stream with the same type and payload; ES_ENOTFOUND when
 * none is stored; ES_EDUPLICATE as for store_append. Lets a caller that
 * refuses a request (a guard, a schema) answer a replay first. Borrows
 * req; res as for store_append(). */
enum es_status store_append_known(struct db *db, const struct store_append_req *req,
				  struct store_append_res *res) ES_MUST_CHECK;

struct store_stream_page {
	int64_t current_version;      /* the stream's version */
	size_t count;                 /* events written to the sbuf */
	int64_t next_from_version;    /* the next version to read, or 0: none */
	char key_epoch[UUIDTEXT_LEN]; /* with STORE_READ_KEY_EPOCH (sql/010, keyring_fetch), else "" */
};

/* How store_read_stream reads. */
enum {
	STORE_READ_BACKWARD = 1,      /* newest first */
	STORE_READ_KEY_EPOCH = 2      /* the key epoch too: a reader of personal data */
};

/* Reads up to limit events of a stream starting at from_version (forward:
 * 0 means 1; backward: 0 means the last), stopping before their JSON
 * passes max_bytes (0: no budget; the page holds at least one event),
 * and appends them to out as JSON
 * objects separated by commas (no brackets). ES_ENOTFOUND when the stream
 * does not exist for this tenant (tenant NULL: no tenant). A page past the
 * end is ES_OK with count 0. ES_EINVAL when limit < 1 or from_version < 0.
 * next_from_version: forward, last + 1 while below the current version;
 * backward, last - 1 down to 1; otherwise 0. how: STORE_READ_* flags. */
enum es_status store_read_stream(struct db *db, const char *tenant, const char *aggregate_type,
				 const char *aggregate_id, int64_t from_version, int limit,
				 long max_bytes, unsigned how, struct sbuf *out,
				 struct store_stream_page *page) ES_MUST_CHECK;

/* The stream's current version, or ES_ENOTFOUND. */
enum es_status store_stream_version(struct db *db, const char *tenant, const char *aggregate_type,
				    const char *aggregate_id, int64_t *version) ES_MUST_CHECK;

/* A stream's key within its aggregate type. */
struct store_stream_key {
	char tenant[UUIDTEXT_LEN];    /* the nil UUID for no tenant */
	char aggregate_id[UUIDTEXT_LEN];
};

/* How many streams of aggregate_type there are, in every tenant. */
enum es_status store_count_streams(struct db *db, const char *aggregate_type,
				   int64_t *count) ES_MUST_CHECK;

/* Lists up to limit streams of aggregate_type, every tenant, in key order
 * after `after` (NULL: from the first) into out[0..*n): keyset pages, so a
 * caller walks any number of streams one page at a time. ES_EINVAL when
 * limit < 1. */
enum es_status store_list_streams(struct db *db, const char *aggregate_type,
				  const struct store_stream_key *after, int limit,
				  struct store_stream_key *out, size_t *n) ES_MUST_CHECK;

/* Events of one stream with versions in (after, upto], at most limit,
 * oldest first, for folding: rows of version, event type, payload,
 * metadata (NULL unless with_metadata), event id (personal data inside
 * the payload is bound to it). tenant NULL is no tenant. On ES_OK
 * *out is the result; the caller PQclear()s it. Borrows everything. */
enum es_status store_read_stream_rows(struct db *db, const char *tenant, const char *aggregate_type,
				      const char *aggregate_id, int64_t after, int64_t upto,
				      bool with_metadata, int limit, PGresult **out) ES_MUST_CHECK;

/* The store's numbers for GET /metrics, each cheap whatever the store's
 * size (one round trip, index or catalogue lookups only). */
struct store_gauges {
	int64_t highest_position;  /* the newest event's position (0: none): the primary key's end */
	int64_t events_estimate;   /* events stored, as the planner estimates them: the tuple
				    * density ANALYZE measured times the table's pages now
				    * (the statistics' live-tuple count before any ANALYZE),
				    * summed over partitions */
	double horizon_age_seconds;/* how long the oldest committed event the feed still
				    * holds back (its writer's transaction_id at or above the
				    * snapshot's xmin, because an older transaction is still
				    * open) has waited since its transaction began; 0: none */
};

/* Fills *out. A count(*) would read the whole table: the estimate is what
 * a scrape can afford. Borrows db. */
enum es_status store_gauges_read(struct db *db, struct store_gauges *out) ES_MUST_CHECK;

/* Counts for `evstorectl status`: events, streams. */
enum es_status store_counts(struct db *db, int64_t *events, int64_t *streams) ES_MUST_CHECK;

/* Sends a NOTIFY on STORE_NOTIFY_CHANNEL in a transaction of its own,
 * committed asynchronously: it carries no data, so it waits for no WAL
 * flush, and it never holds the server's notification lock across an
 * append's commit (a NOTIFY inside the append's transaction would, and
 * commits would queue behind each other's flushes). Best effort: a lost
 * notification costs a waiter its next poll, never an event. */
void store_announce_commit(struct db *db);

#endif
