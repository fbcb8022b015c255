/* keys.h - the keys bearer tokens are checked against: [jwt] algorithm
 * with its key_file or keys_dir, read and checked when the configuration is
 * (re)loaded, so a wrong key fails start-up or the reload rather than every
 * request. The material is kept as read, in the form libjwt takes it. */
#ifndef EVSTORE_AUTH_KEYS_H
#define EVSTORE_AUTH_KEYS_H

#include <stdbool.h>
#include <stddef.h>

struct es_config;
struct startcheck;
struct auth_keys; /* opaque: the pinned algorithm and its key(s) */

/* One key, borrowed from the struct auth_keys it belongs to. */
struct auth_key {
	char *kid;               /* file name under keys_dir; NULL for key_file */
	unsigned char *material; /* HMAC secret, or PEM text as read */
	size_t len;
};

/* Loads [jwt] algorithm and key_file or keys_dir. HMAC secrets are the
 * file's bytes less one trailing newline and must be >= 32 bytes. Returns
 * NULL and fills err ("jwt.key_file /x: ...") on failure.
 * For RS and ES algorithms a file is a PEM "PUBLIC KEY" of the matching type
 * (and curve). keys_dir is read here, once: every regular file whose name does
 * not start with '.' is a key whose kid is the file name. Nothing watches the
 * directory; a configuration reload calls this again. Borrows cfg. Returns a
 * new set that the caller releases with auth_keys_free(), which also wipes
 * the secrets. */
struct auth_keys *auth_keys_load(const struct es_config *cfg, char *err, size_t errlen);

/* Releases keys and wipes the key material; NULL does nothing. */
void auth_keys_free(struct auth_keys *keys);

/* The pinned algorithm as JOSE spells it ("HS256", "ES384", ...); static. */
const char *auth_keys_algorithm(const struct auth_keys *keys);

/* True for HS*: the key is a shared secret, and can sign as well as verify. */
bool auth_keys_hmac(const struct auth_keys *keys);

/* The key that verifies a token whose header has a kid member (has_kid);
 * kid[0..kid_len) is its value, kid NULL when that is not a string. With
 * key_file the kid is ignored. With keys_dir a token without a kid is
 * verified by the only key, and a kid must name a key file. Returns a key
 * borrowed from keys, or NULL with *why one of "missing key id", "invalid key
 * id", "unknown key id" (static). */
const struct auth_key *auth_keys_select(const struct auth_keys *keys, bool has_kid,
					const char *kid, size_t kid_len, const char **why);

/* The key development tokens are signed with: the key file, or the
 * lexicographically last file of keys_dir. Borrowed from keys. */
const struct auth_key *auth_keys_signing(const struct auth_keys *keys);

/* The strength of key in bits: an HMAC secret's length, an RSA modulus,
 * an EC curve's size; 0 when it cannot be told. Borrows both. */
int auth_key_bits(const struct auth_keys *keys, const struct auth_key *key);

/* A key's strength judged: an HMAC secret shorter than its hash's output
 * (RFC 7518 3.2) warns, an RSA key below 2048 bits fails. */
struct auth_strength {
	bool fail, warn;
	char why[256];   /* one line, with what to do */
};
void auth_keys_judge_strength(const char *algorithm, int bits, struct auth_strength *s);

/* The "jwt keys" and "jwt key strength" items of a check run
 * (base/startcheck.h): the keys load (algorithm, files, and secrets that
 * group and others cannot read: auth_keys_load refuses them), and the
 * weakest key's strength. Borrows cfg. */
void auth_keys_report(struct startcheck *c, const struct es_config *cfg);

#endif
