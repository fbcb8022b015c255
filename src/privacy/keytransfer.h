/* keytransfer.h - the rows of evstore.subject_keys carried by an export
 * and restored by an import (evstorectl export / import), beside
 * keyring.h, the table's owner: what leaves and enters the table for a
 * backup goes through here, always wrapped (never unwrapped; no master
 * key is needed either way).
 *
 * A key record is one line of the export:
 *	{"subject_key": {"key_id": 17, "tenant_id": null, "subject": "customer-4711",
 *	  "wrapped_key": "<hex>" | null, "master_id": "…", "created_at": "…Z",
 *	  "erased_at": null | "…Z", "erased_by": null | "…"}}
 * A tombstone (an erased key) has wrapped_key null and erased_at set.
 *
 * An import keeps each key_id, so the envelopes naming it open. A key_id
 * stored already is the same key when tenant, subject, master_id,
 * created_at and (both being live) the wrapped bytes agree: skipped. It
 * never brings an erased key back: a live key of the file whose row here
 * is a tombstone is skipped (kept erased), and a tombstone of the file
 * erases the key stored here live (an erasure an incremental export
 * carries). Any other difference refuses the whole group of key records,
 * as does a live key for a subject that has another live key here. */
#ifndef EVSTORE_KEYTRANSFER_H
#define EVSTORE_KEYTRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "base/uuidtext.h"

struct db;
struct sbuf;

/* The member that marks a key record, as the line's first member. */
#define KEYTRANSFER_MEMBER "subject_key"

/* Called for each key record of an export (json: len bytes, no newline,
 * borrowed for the call). Returning false stops the export. */
typedef bool (*keytransfer_row_fn)(void *arg, const char *json, size_t len);

/* Streams the key rows of a tenant (tenant NULL: the no-tenant space), or
 * of every tenant, in key_id order, through row; *n says how many. Call it
 * after the events' horizon is taken: every key an exported event names is
 * committed by then. ES_ENOMEM; db failures as db_copy_out_next's. */
enum es_status keytransfer_export(struct db *db, bool all_tenants, const char *tenant,
				  keytransfer_row_fn row, void *arg, int64_t *n) ES_MUST_CHECK;

/* A key record, checked. Strings live in the parsed document until
 * keytransfer_line_free. */
struct keytransfer_line {
	int64_t key_id;
	char tenant_id[UUIDTEXT_LEN];  /* the nil UUID for no tenant */
	const char *subject;
	const char *wrapped_hex;       /* NULL: a tombstone */
	const char *master_id;
	int64_t created_at;            /* microseconds since the epoch */
	int64_t erased_at;
	bool erased;
	const char *erased_by;         /* may be NULL */
	void *doc_;
};

/* Parses line[0..len) as a key record. ES_EINVAL with err fit for
 * "FILE:LINE: <err>"; ES_ENOMEM. Free out with keytransfer_line_free,
 * also after a failure. */
enum es_status keytransfer_line_parse(const char *line, size_t len, struct keytransfer_line *out,
				      char *err, size_t errlen) ES_MUST_CHECK;
void keytransfer_line_free(struct keytransfer_line *l);

/* Appends l as a row for keytransfer_import (COPY text), lineno first. */
void keytransfer_copy_row(const struct keytransfer_line *l, int64_t lineno, struct sbuf *out);

/* What keytransfer_import did, or why it refused. */
struct keytransfer_result {
	int64_t inserted;              /* rows written, key_id kept */
	int64_t same;                  /* stored already, the same: skipped */
	int64_t erased;                /* live here, a tombstone in the file: erased */
	int64_t kept_erased;           /* a tombstone here, live in the file: skipped */
	bool refused;
	int64_t line;                  /* refused: the first line at fault */
	char reason[512];              /* refused: why; after a failure: the database's message */
};

/* Writing a group of key records, in one transaction that holds the
 * table against new keys meanwhile:
 *	keytransfer_begin(db, &res)          BEGIN, LOCK, COPY ... FROM STDIN
 *	keytransfer_put(db, rows, len)       keytransfer_copy_row's text, any number
 *	keytransfer_finish(db, &res)         the check and the writes; COMMIT
 *	keytransfer_abort(db, why)           or this instead: nothing is kept
 * keytransfer_finish moves the key_id identity past the highest id
 * stored, so keys made later never take an imported id. Refused or
 * failed, nothing is kept. ES_OK with res->refused set: refused, res says
 * why; other statuses: failed, res->reason says why. */
enum es_status keytransfer_begin(struct db *db, struct keytransfer_result *res) ES_MUST_CHECK;
void keytransfer_put(struct db *db, const char *rows, size_t len);
enum es_status keytransfer_finish(struct db *db, struct keytransfer_result *res) ES_MUST_CHECK;
void keytransfer_abort(struct db *db, const char *reason);

/* Calls id(arg, key id) for each envelope in the JSON text s[0..len)
 * (a "$enc" member whose value starts "v1:<key id>:"), read from the text
 * without parsing it: a line of an export is checked this way as it
 * streams by. A document without PERSONAL_ENVELOPE_MARK costs one memmem.
 * Returns false when id did. */
bool keytransfer_envelope_ids(const char *s, size_t len, bool (*id)(void *arg, int64_t key_id),
			      void *arg);

/* Of the key ids ids[0..n), those without a row in the table, in
 * missing[0..*n_missing) (missing holds n entries). */
enum es_status keytransfer_missing(struct db *db, const int64_t *ids, size_t n, int64_t *missing,
				   size_t *n_missing) ES_MUST_CHECK;

/* verify's checks of the table (store/verify.h): the key_id identity is
 * ahead of every key id stored (an import of keys moves it; a row written
 * by hand may not have), which reads one index entry; and, with
 * envelopes, every envelope of every event names a key that has a row,
 * which reads every event's payload (a full scan: verify --envelopes). */
struct verify_report;
enum es_status keytransfer_verify(struct db *db, struct verify_report *rep, bool envelopes) ES_MUST_CHECK;

#endif
