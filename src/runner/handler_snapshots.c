/* handler_snapshots.c - the built-in snapshots handler: when an event
 * carries a stream of a type whose definition says "mode": "background"
 * across a multiple of the threshold, the stream is folded (from its newest
 * usable snapshot) and its snapshot saved. At least once: a snapshot
 * written twice is harmless (an older or equal one never replaces a newer
 * one). During a catch-up many events of one stream cross thresholds; the
 * first fold already reaches the stream's current version, so the handler
 * remembers what it wrote until the next page and skips the rest. */
#include "buildconf.h"
#include "runner/handler.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate/aggdef.h"
#include "pg/db.h"
#include "base/log.h"
#include "aggregate/aggregate.h"
#include "aggregate/snapshot.h"

/* One stream written during this page: its key and the version saved. */
struct snap_seen {
	char *key;                    /* "tenant/type/id"; NULL: empty slot */
	int64_t version;
};

struct handler_snapshots {
	struct snap_seen *slots;      /* open addressing, a power of two long */
	size_t cap, used;
};

struct handler_snapshots *handler_snapshots_new(void)
{
	return calloc(1, sizeof(struct handler_snapshots));
}

void handler_snapshots_forget(struct handler_snapshots *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->cap; i++)
		free(h->slots[i].key);
	free(h->slots);
	h->slots = NULL;
	h->cap = h->used = 0;
}

void handler_snapshots_free(struct handler_snapshots *h)
{
	handler_snapshots_forget(h);
	free(h);
}

/* FNV-1a 64 of a NUL-terminated key. */
static uint64_t snap_hash(const char *s)
{
	uint64_t x = 1469598103934665603ULL;

	for (; *s; s++) {
		x ^= (unsigned char)*s;
		x *= 1099511628211ULL;
	}
	return x;
}

/* The slot holding key, or the empty slot where it would go. cap > 0. */
static struct snap_seen *snap_slot(struct snap_seen *slots, size_t cap, const char *key)
{
	size_t i = (size_t)snap_hash(key) & (cap - 1);

	while (slots[i].key && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* The version already written for key during this page, 0 when none. */
static int64_t snap_seen_version(const struct handler_snapshots *h, const char *key)
{
	return h->cap ? snap_slot(h->slots, h->cap, key)->version : 0;
}

/* Remembers key at version (copies key). Out of memory only loses the
 * shortcut: the next crossing folds and writes again, which is harmless. */
static void snap_remember(struct handler_snapshots *h, const char *key, int64_t version)
{
	struct snap_seen *s;

	if (2 * (h->used + 1) > h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct snap_seen *slots = calloc(cap, sizeof *slots);

		if (!slots)
			return;
		for (size_t i = 0; i < h->cap; i++)
			if (h->slots[i].key)
				*snap_slot(slots, cap, h->slots[i].key) = h->slots[i];
		free(h->slots);
		h->slots = slots;
		h->cap = cap;
	}
	s = snap_slot(h->slots, h->cap, key);
	if (!s->key) {
		s->key = strdup(key);
		if (!s->key)
			return;
		h->used++;
	}
	if (version > s->version)
		s->version = version;
}

enum handler_result handler_snapshots_handle(struct handler_snapshots *h,
					     const struct aggdef_registry *defs, struct db *db,
					     const struct event *ev, struct handler_error *err)
{
	const struct aggdef *def = aggdef_find(defs, ev->aggregate_type);
	const char *tenant = *ev->tenant_id ? ev->tenant_id : NULL;
	char key[512];
	int64_t written = 0;
	enum es_status rc;

	if (!def || def->snapshot_mode != AGGDEF_SNAPSHOT_BACKGROUND ||
	    !snapshot_due(def, ev->version - 1, ev->version))
		return HANDLER_OK;
	snprintf(key, sizeof key, "%s/%s/%s", ev->tenant_id, ev->aggregate_type, ev->aggregate_id);
	if (snap_seen_version(h, key) >= ev->version)
		return HANDLER_OK; /* a fold earlier in this page got past it */
	rc = aggregate_snapshot(db, def, tenant, ev->aggregate_id, &written);
	switch (rc) {
	case ES_OK:
		snap_remember(h, key, written);
		if (log_enabled(LOG_DEBUG)) {
			char v[24];

			snprintf(v, sizeof v, "%" PRId64, written);
			log_kv(LOG_DEBUG, "snapshot_written", "aggregate_type", ev->aggregate_type,
			       "aggregate_id", ev->aggregate_id, "version", v, NULL);
		}
		return HANDLER_OK;
	case ES_ENOTFOUND:
		return HANDLER_OK; /* no streams row: nothing to fold */
	case ES_EUNAVAILABLE:
	case ES_ERETRY:
	case ES_EDB:
		/* Our own statements failing is the database's trouble, not the
		 * event's: wait for it rather than park. */
		snprintf(err->summary, sizeof err->summary, "snapshot of %s %s: SQLSTATE %s",
			 ev->aggregate_type, ev->aggregate_id,
			 *db_last_sqlstate(db) ? db_last_sqlstate(db) : "none");
		snprintf(err->detail, sizeof err->detail, "snapshot of %s %s: %s", ev->aggregate_type,
			 ev->aggregate_id, db_last_error(db));
		return HANDLER_TRANSIENT;
	default:
		handler_error_set(err, "snapshot of %s %s at version %" PRId64 ": the stream cannot be "
			 "folded by %s (%s)", ev->aggregate_type, ev->aggregate_id, ev->version,
			 def->file ? def->file : def->aggregate_type,
			 rc == ES_EINTERNAL ? "its events and its version disagree, or a stored "
			 "document is unreadable" : es_status_name(rc));
		return HANDLER_RETRY;
	}
}
