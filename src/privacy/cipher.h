/* cipher.h - the only door to libcrypto: AES-256-GCM sealing with a
 * nonce derived from the key, the associated data and the plaintext (so
 * the same field of the same event sealed twice under one key gives the
 * same ciphertext, and an idempotent replay stays byte-equal), random
 * bytes for new keys, and base64. Nothing here knows JSON or SQL. */
#ifndef EVSTORE_CIPHER_H
#define EVSTORE_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"

#define CIPHER_KEY_LEN 32    /* AES-256 */
#define CIPHER_NONCE_LEN 12
#define CIPHER_TAG_LEN 16
/* A sealed message: nonce || ciphertext || tag. */
#define CIPHER_SEALED_LEN(n) (CIPHER_NONCE_LEN + (n) + CIPHER_TAG_LEN)

/* Fills buf with n bytes from the CSPRNG. ES_EINTERNAL when it fails. */
enum es_status cipher_random(unsigned char *buf, size_t n) ES_MUST_CHECK;

/* Seals pt[0..ptlen) under key with aad: out receives
 * CIPHER_SEALED_LEN(ptlen) bytes. The nonce is HMAC-SHA256 of (aad, pt)
 * under a subkey of key, truncated: equal inputs give equal output, and
 * different plaintexts never share a nonce short of an HMAC collision. */
enum es_status cipher_seal(const unsigned char key[CIPHER_KEY_LEN], const void *aad, size_t aadlen,
			   const void *pt, size_t ptlen, unsigned char *out) ES_MUST_CHECK;

/* Opens what cipher_seal made: out receives len - CIPHER_SEALED_LEN(0)
 * bytes. False when the input is too short, or was sealed under another
 * key or other aad, or was changed: nothing of out may then be used. */
bool cipher_open(const unsigned char key[CIPHER_KEY_LEN], const void *aad, size_t aadlen,
		 const unsigned char *in, size_t len, unsigned char *out) ES_MUST_CHECK;

/* Standard base64 with padding. cipher_b64_encode writes
 * CIPHER_B64_LEN(n) characters and a NUL. cipher_b64_decode returns the
 * decoded length, or -1 for anything that is not canonical base64; out
 * must hold 3 * (len / 4) bytes. */
#define CIPHER_B64_LEN(n) (4 * (((n) + 2) / 3))
void cipher_b64_encode(const unsigned char *in, size_t n, char *out);
long cipher_b64_decode(const char *in, size_t len, unsigned char *out);

/* Wipes the subkeys kept for the last keys used (a process keeps those of
 * at most 16 keys between requests) and frees the contexts that sealing,
 * opening and HMAC keep (each holds the last key it was given). */
void cipher_forget_subkeys(void);

/* The first 16 hex digits of SHA-256(key): names a master key in the key
 * table without revealing it. out holds 17 bytes. */
void cipher_fingerprint(const unsigned char key[CIPHER_KEY_LEN], char out[17]);

#endif
