/* masterkey.h - the process's master key: [privacy] master_key_file, 64
 * hexadecimal characters (a 256-bit key; one trailing newline is
 * ignored) in a file nobody but its owner may read. It wraps every data
 * subject's key (keyring.h) and is held here, once per process, so that
 * the layers above need not carry it around. */
#ifndef EVSTORE_MASTERKEY_H
#define EVSTORE_MASTERKEY_H

#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"
#include "privacy/cipher.h"

struct masterkey {
	unsigned char key[CIPHER_KEY_LEN];
	char id[17];                 /* cipher_fingerprint(key) */
};

/* Reads and checks path: a regular file, no permission bits for group or
 * others, exactly 64 hex digits (and an optional "\n"). On ES_EINVAL err
 * holds "path: reason" (never the file's contents). */
enum es_status masterkey_read(const char *path, struct masterkey *out, char *err,
			      size_t errlen) ES_MUST_CHECK;

/* Installs (copies) k as the process's master key; NULL forgets it.
 * Either install empties the cache of unwrapped subject keys (keycache.h). */
void masterkey_install(const struct masterkey *k);

/* The installed master key, or NULL when [privacy] master_key_file is
 * not set. Borrowed until the next masterkey_install. */
const struct masterkey *masterkey_current(void);

/* While the master key is rotated ([privacy] previous_master_key_file):
 * the old key, which still opens the subject keys it wrapped but wraps
 * no new one. Installs (copies) k; NULL forgets it. */
void masterkey_install_previous(const struct masterkey *k);

/* The installed previous master key, or NULL. Borrowed until the next
 * masterkey_install_previous. */
const struct masterkey *masterkey_previous(void);

/* The installed key (current or previous) whose fingerprint is
 * master_id, or NULL when neither is: a subject key's row says which
 * master wrapped it, and only that one may open it. Borrowed as above. */
const struct masterkey *masterkey_by_id(const char *master_id);

/* Overwrites k. */
void masterkey_wipe(struct masterkey *k);

#endif
