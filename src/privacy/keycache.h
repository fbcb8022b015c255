/* keycache.h - the subject keys this process has met lately, kept
 * unwrapped between requests, so that an append to a subject it knows, or
 * a read of envelopes under keys it knows, needs no key statement.
 * keyring.c alone decides when an entry may stand in for the table:
 *   - an append may use any live entry: its guard holds the key live in
 *     the statement that writes, or writes nothing (keyring_append);
 *   - a read may use a live entry only while the key epoch (sql/010)
 *     its page was read under is the one the entry was fetched under; an
 *     erased entry always, since erasure is final.
 * Bounded: when full it starts again empty. Keys are wiped when dropped.
 * One per process; a worker serves one request at a time. */
#ifndef EVSTORE_KEYCACHE_H
#define EVSTORE_KEYCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include "base/uuidtext.h"
#include "privacy/cipher.h"

#define KEYCACHE_CAPACITY 4096
/* A wrapped key as the table's bytea text gives it: "\x" and hex digits. */
#define KEYCACHE_WRAPPED_TEXT (2 * CIPHER_SEALED_LEN(CIPHER_KEY_LEN) + 3)

struct keycache_entry {
	int64_t key_id;
	char tenant[UUIDTEXT_LEN];       /* the nil UUID for no tenant */
	char *subject;
	bool erased;                     /* the key is destroyed */
	bool has_dek;                    /* dek holds the unwrapped key */
	bool dropped;                    /* not to be found any more */
	char epoch[UUIDTEXT_LEN];        /* the key epoch it was fetched under; "" unknown */
	char wrapped[KEYCACHE_WRAPPED_TEXT]; /* what dek was unwrapped from; "" unknown */
	unsigned char dek[CIPHER_KEY_LEN];
};

/* Empties the cache when it was filled through another session than
 * (db, session) (db_session_epoch): a server restarted, perhaps from a
 * backup, may have given a cached key id to another key. */
void keycache_bind(const void *db, unsigned long session);

/* The live entry with a key of (tenant, subject), or NULL. */
const struct keycache_entry *keycache_by_subject(const char *tenant, const char *subject);
/* The entry of key_id (live or erased), or NULL. */
const struct keycache_entry *keycache_by_id(int64_t key_id);

/* Records what is known of key_id: erased, or live with dek (NULL: not
 * unwrapped) unwrapped from wrapped (the stored bytea text; NULL:
 * unknown), fetched under epoch (NULL or "": unknown). An entry of the
 * same id is updated (an erased one stays erased; what is known and not
 * given is kept); a live key of the same subject under another id is
 * dropped. */
void keycache_put(int64_t key_id, const char *tenant, const char *subject, bool erased,
		  const unsigned char *dek, const char *wrapped, const char *epoch);

/* Drops the entries of (tenant, subject): an append found them stale. */
void keycache_drop_subject(const char *tenant, const char *subject);

/* Wipes and frees everything. */
void keycache_clear(void);

#endif
