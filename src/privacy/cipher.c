/* cipher.c - AES-256-GCM, HMAC-SHA256, SHA-256, random bytes and base64,
 * all from OpenSSL's libcrypto: the one file of evstore that calls it. */
#include "buildconf.h"
#include "privacy/cipher.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

enum es_status cipher_random(unsigned char *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? ES_OK : ES_EINTERNAL;
}

/* HMAC-SHA256 through one context for the process: the one-shot HMAC()
 * fetches the MAC and its digest by name every time, which cost more than
 * the rest of sealing a field (callgrind: a third of a declared append's
 * instructions). The context keeps its last key: keying it again hashes
 * the key's pads, so a call with the same key (the two subkeys of a data
 * key, the nonces of one subject's fields) only restarts it. */
static EVP_MAC_CTX *hmac_ctx;
static unsigned char hmac_key[CIPHER_KEY_LEN];
static bool hmac_keyed;

static bool hmac_sha256(const unsigned char key[CIPHER_KEY_LEN], const void *msg, size_t n,
			unsigned char out[CIPHER_KEY_LEN])
{
	size_t len = 0;
	bool same;

	if (!hmac_ctx) {
		EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
			OSSL_PARAM_construct_end()
		};

		hmac_ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
		EVP_MAC_free(mac); /* the context holds its own reference */
		if (!hmac_ctx || EVP_MAC_CTX_set_params(hmac_ctx, params) != 1) {
			EVP_MAC_CTX_free(hmac_ctx);
			hmac_ctx = NULL;
			return false;
		}
	}
	same = hmac_keyed && CRYPTO_memcmp(hmac_key, key, CIPHER_KEY_LEN) == 0;
	hmac_keyed = false;
	if (EVP_MAC_init(hmac_ctx, same ? NULL : key, same ? 0 : CIPHER_KEY_LEN, NULL) != 1)
		return false;
	memcpy(hmac_key, key, CIPHER_KEY_LEN);
	hmac_keyed = true;
	return EVP_MAC_update(hmac_ctx, msg, n) == 1 &&
	       EVP_MAC_final(hmac_ctx, out, &len, CIPHER_KEY_LEN) == 1 && len == CIPHER_KEY_LEN;
}

/* The two subkeys of a data key: one encrypts, one derives nonces, so the
 * key never serves two algorithms. */
static bool derive(const unsigned char key[CIPHER_KEY_LEN], const char *label,
		   unsigned char out[CIPHER_KEY_LEN])
{
	return hmac_sha256(key, label, strlen(label), out);
}

/* Deriving costs two HMACs, more than sealing a field: the subkeys of the
 * last few keys are kept (a page of events mostly uses one or two). */
#define SUBKEY_CACHE 16
static struct {
	unsigned char key[CIPHER_KEY_LEN];
	unsigned char aead[CIPHER_KEY_LEN];
	unsigned char nonce[CIPHER_KEY_LEN];
	bool used;
} subkeys[SUBKEY_CACHE];
static unsigned subkeys_next;

static bool subkey(const unsigned char key[CIPHER_KEY_LEN], const char *label,
		   unsigned char out[CIPHER_KEY_LEN])
{
	static unsigned last;   /* a page's fields mostly share a key */
	bool aead = strcmp(label, "evstore aead v1") == 0;
	unsigned i = last;

	if (!subkeys[i].used || CRYPTO_memcmp(subkeys[i].key, key, CIPHER_KEY_LEN) != 0)
		for (i = 0; i < SUBKEY_CACHE; i++)
			if (subkeys[i].used && CRYPTO_memcmp(subkeys[i].key, key, CIPHER_KEY_LEN) == 0)
				break;
	if (i == SUBKEY_CACHE) {
		i = subkeys_next++ % SUBKEY_CACHE;
		subkeys[i].used = false;
		if (!derive(key, "evstore aead v1", subkeys[i].aead) ||
		    !derive(key, "evstore nonce v1", subkeys[i].nonce))
			return false;
		memcpy(subkeys[i].key, key, CIPHER_KEY_LEN);
		subkeys[i].used = true;
	}
	last = i;
	memcpy(out, aead ? subkeys[i].aead : subkeys[i].nonce, CIPHER_KEY_LEN);
	return true;
}

static void contexts_forget(void);

void cipher_forget_subkeys(void)
{
	OPENSSL_cleanse(subkeys, sizeof subkeys);
	contexts_forget();
}

static bool derive_nonce(const unsigned char key[CIPHER_KEY_LEN], const void *aad, size_t aadlen,
			 const void *pt, size_t ptlen, unsigned char nonce[CIPHER_NONCE_LEN])
{
	unsigned char nk[CIPHER_KEY_LEN], mac[CIPHER_KEY_LEN];
	unsigned char *msg;
	size_t n = 8 + aadlen + ptlen;
	bool ok = false;

	msg = malloc(n);
	if (!msg)
		return false;
	/* The aad's length first, so (aad, pt) splits one way only. */
	for (int i = 0; i < 8; i++)
		msg[i] = (unsigned char)((uint64_t)aadlen >> (56 - 8 * i));
	memcpy(msg + 8, aad, aadlen);
	if (ptlen)
		memcpy(msg + 8 + aadlen, pt, ptlen);
	if (subkey(key, "evstore nonce v1", nk) && hmac_sha256(nk, msg, n, mac)) {
		memcpy(nonce, mac, CIPHER_NONCE_LEN);
		ok = true;
	}
	OPENSSL_cleanse(msg, n);
	free(msg);
	OPENSSL_cleanse(nk, sizeof nk);
	OPENSSL_cleanse(mac, sizeof mac);
	return ok;
}

/* Sealing and opening: one context each for the process, keyed again
 * only when the key changes (EVP_CIPHER_CTX_new, the cipher's fetch and
 * the key schedule cost more than sealing or opening a field). */
struct gcm {
	EVP_CIPHER_CTX *ctx;
	unsigned char ek[CIPHER_KEY_LEN];  /* the key it holds, when keyed */
	bool keyed;
};
static struct gcm sealer, opener;

static void gcm_forget(struct gcm *g)
{
	EVP_CIPHER_CTX_free(g->ctx);
	OPENSSL_cleanse(g, sizeof *g);
}

/* The contexts hold the last keys they were given: freed (and so wiped). */
static void contexts_forget(void)
{
	gcm_forget(&sealer);
	gcm_forget(&opener);
	EVP_MAC_CTX_free(hmac_ctx);
	hmac_ctx = NULL;
	OPENSSL_cleanse(hmac_key, sizeof hmac_key);
	hmac_keyed = false;
}

/* g's context, with key ek and nonce iv; enc is 1 for sealer, 0 for
 * opener. */
static EVP_CIPHER_CTX *gcm_for(struct gcm *g, int enc, const unsigned char ek[CIPHER_KEY_LEN],
			       const unsigned char *iv)
{
	bool same = g->keyed && CRYPTO_memcmp(g->ek, ek, CIPHER_KEY_LEN) == 0;

	if (!g->ctx) {
		g->ctx = EVP_CIPHER_CTX_new();
		if (!g->ctx || EVP_CipherInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
		    EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_IVLEN, CIPHER_NONCE_LEN, NULL) != 1) {
			gcm_forget(g);
			return NULL;
		}
	}
	g->keyed = false;
	if (EVP_CipherInit_ex(g->ctx, NULL, NULL, same ? NULL : ek, iv, enc) != 1) {
		gcm_forget(g);
		return NULL;
	}
	memcpy(g->ek, ek, CIPHER_KEY_LEN);
	g->keyed = true;
	return g->ctx;
}

enum es_status cipher_seal(const unsigned char key[CIPHER_KEY_LEN], const void *aad, size_t aadlen,
			   const void *pt, size_t ptlen, unsigned char *out)
{
	unsigned char ek[CIPHER_KEY_LEN];
	EVP_CIPHER_CTX *c;
	enum es_status rc = ES_EINTERNAL;
	int n = 0, fin = 0;

	if (!subkey(key, "evstore aead v1", ek) ||
	    !derive_nonce(key, aad, aadlen, pt, ptlen, out))
		goto out;
	c = gcm_for(&sealer, 1, ek, out);
	if (!c || (aadlen && EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
	    (ptlen && EVP_EncryptUpdate(c, out + CIPHER_NONCE_LEN, &n, pt, (int)ptlen) != 1) ||
	    EVP_EncryptFinal_ex(c, out + CIPHER_NONCE_LEN + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CIPHER_TAG_LEN,
				out + CIPHER_NONCE_LEN + ptlen) != 1)
		goto out;
	rc = ES_OK;
out:
	OPENSSL_cleanse(ek, sizeof ek);
	return rc;
}

bool cipher_open(const unsigned char key[CIPHER_KEY_LEN], const void *aad, size_t aadlen,
		 const unsigned char *in, size_t len, unsigned char *out)
{
	unsigned char ek[CIPHER_KEY_LEN], tag[CIPHER_TAG_LEN];
	EVP_CIPHER_CTX *c;
	size_t ctlen;
	bool ok = false;
	int n = 0, fin = 0;

	if (len < CIPHER_SEALED_LEN(0) || len > (size_t)1 << 30)
		return false;
	ctlen = len - CIPHER_SEALED_LEN(0);
	memcpy(tag, in + CIPHER_NONCE_LEN + ctlen, CIPHER_TAG_LEN);
	if (!subkey(key, "evstore aead v1", ek))
		goto out;
	c = gcm_for(&opener, 0, ek, in);
	if (!c || (aadlen && EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
	    (ctlen && EVP_DecryptUpdate(c, out, &n, in + CIPHER_NONCE_LEN, (int)ctlen) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CIPHER_TAG_LEN, tag) != 1)
		goto out;
	ok = EVP_DecryptFinal_ex(c, out + n, &fin) == 1;
out:
	OPENSSL_cleanse(ek, sizeof ek);
	if (!ok && ctlen)
		OPENSSL_cleanse(out, ctlen);
	return ok;
}

void cipher_b64_encode(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* The value of each base64 digit, -1 for every other byte. */
static const signed char b64_digit[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* Checks and decodes in one pass (a page's fields are decoded on every
 * read): '=' only as the last one or two characters. */
long cipher_b64_decode(const char *in, size_t len, unsigned char *out)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char last[4];
	size_t pad = 0, n = 0, full;

	if (len == 0 || len % 4 != 0 || len > (size_t)1 << 30)
		return -1;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	/* the last quad with its padding as 'A' (zero bits) */
	memcpy(last, s + len - 4, 4);
	memset(last + 4 - pad, 'A', pad);
	full = len - 4;
	for (size_t i = 0; i <= full; i += 4) {
		const unsigned char *q = i < full ? s + i : last;
		int a = b64_digit[q[0]], b = b64_digit[q[1]], c = b64_digit[q[2]], d = b64_digit[q[3]];
		uint32_t v;

		if ((a | b | c | d) < 0)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[n++] = (unsigned char)(v >> 16);
		out[n++] = (unsigned char)(v >> 8);
		out[n++] = (unsigned char)v;
	}
	return (long)(n - pad);
}

void cipher_fingerprint(const unsigned char key[CIPHER_KEY_LEN], char out[17])
{
	unsigned char h[SHA256_DIGEST_LENGTH];

	SHA256(key, CIPHER_KEY_LEN, h);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
	OPENSSL_cleanse(h, sizeof h);
}
