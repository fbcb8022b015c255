/* keys.c - reading [jwt] key_file or keys_dir, and checking that each key
 * fits the pinned algorithm: an HMAC secret long enough, a public key a PEM
 * of the right type and curve. Nothing in this file logs: key material
 * never reaches a log line. */
#include "buildconf.h"
#include "auth/keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/base64.h"
#include "base/config.h"
#include "base/startcheck.h"

#define AUTH_MIN_SECRET 32              /* bytes of HMAC secret */
#define AUTH_MAX_KEY_FILE (64 * 1024)   /* far above any PEM public key */
#define AUTH_MAX_KID 255                /* a file name */

enum key_kind { KEY_HMAC, KEY_RSA, KEY_EC_P256, KEY_EC_P384 };

/* The algorithms we allow, named as JOSE spells them: auth.c and token.c
 * hand these names to libjwt's jwt_str_alg(). */
static const struct algorithm {
	const char *name;
	enum key_kind kind;
} algorithms[] = {
	{ "HS256", KEY_HMAC },
	{ "HS384", KEY_HMAC },
	{ "HS512", KEY_HMAC },
	{ "RS256", KEY_RSA },
	{ "RS384", KEY_RSA },
	{ "RS512", KEY_RSA },
	{ "ES256", KEY_EC_P256 },
	{ "ES384", KEY_EC_P384 },
};

struct auth_keys {
	const struct algorithm *algorithm;
	bool by_kid;             /* keys_dir: the token's kid picks the key */
	struct auth_key *keys;   /* sorted by kid */
	size_t n_keys;
};

static bool is_set(const char *s)
{
	return s && *s;
}

/* A kid names a file in keys_dir: never a path, never hidden. */
static bool kid_acceptable(const char *kid, size_t len)
{
	return len > 0 && len <= AUTH_MAX_KID && strlen(kid) == len && kid[0] != '.' &&
	       !strchr(kid, '/') && !strstr(kid, "..");
}

static const struct algorithm *algorithm_find(const char *name)
{
	for (size_t i = 0; i < sizeof algorithms / sizeof algorithms[0]; i++)
		if (strcasecmp(algorithms[i].name, name) == 0)
			return &algorithms[i];
	return NULL;
}

/* Whoever can read an HMAC secret can mint tokens, and whoever can
 * replace a public key too: a secret must be its owner's alone, a public
 * key (or keys_dir) writable by its owner only. False, with why saying
 * what to do, when st's mode allows more. */
static bool key_mode_safe(const struct stat *st, bool secret, char *why, size_t whylen)
{
	mode_t mode = st->st_mode & 07777;

	if (secret && (mode & (S_IRWXG | S_IRWXO))) {
		snprintf(why, whylen, "a secret group or others may access (mode %04o); give it to "
			 "the user evstore runs as, mode 0600", (unsigned)mode);
		return false;
	}
	if (mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, whylen, "group or others may replace it (mode %04o); chmod go-w",
			 (unsigned)mode);
		return false;
	}
	return true;
}

/* Reads a whole regular file (relative to dirfd, or AT_FDCWD) of a key of
 * that kind into a new malloc'd buffer with a NUL after the data; its mode
 * must pass key_mode_safe. On failure why says what went wrong. */
static bool key_file_read(int dirfd, const char *path, enum key_kind kind, unsigned char **out,
			  size_t *outlen, char *why, size_t whylen)
{
	unsigned char *buf = NULL;
	size_t n = 0;
	bool ok = false;
	struct stat st;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		goto out;
	}
	if (!key_mode_safe(&st, kind == KEY_HMAC, why, whylen))
		goto out;
	buf = malloc(AUTH_MAX_KEY_FILE + 1);
	if (!buf) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, AUTH_MAX_KEY_FILE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > AUTH_MAX_KEY_FILE) {
			snprintf(why, whylen, "larger than %d bytes", AUTH_MAX_KEY_FILE);
			goto out;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	ok = true;
out:
	if (buf) {
		explicit_bzero(buf, n);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

/* DER encodings of the object identifiers that name the key type in a
 * SubjectPublicKeyInfo. */
static const unsigned char oid_rsa[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const unsigned char oid_ec[] = { 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const unsigned char oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const unsigned char oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

/* The DER bytes of the PEM "PUBLIC KEY" in text[0..len): a new buffer in
 * *der (free() it) of *nder bytes. False, with why, when there is none. */
static bool pem_public_der(const char *text, size_t len, unsigned char **der, size_t *nder,
			   char *why, size_t whylen)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----";
	static const char end[] = "-----END PUBLIC KEY-----";
	const char *b, *e;
	char *body = NULL;
	size_t nbody = 0;
	bool ok = false;

	*der = NULL;
	*nder = 0;
	b = memmem(text, len, begin, sizeof begin - 1);
	if (!b) {
		snprintf(why, whylen, "not a PEM public key (no \"%s\" line)", begin);
		goto out;
	}
	b += sizeof begin - 1;
	e = memmem(b, len - (size_t)(b - text), end, sizeof end - 1);
	if (!e) {
		snprintf(why, whylen, "PEM public key without its END line");
		goto out;
	}
	body = malloc((size_t)(e - b) + 1);
	*der = malloc((size_t)(e - b) + 1);
	if (!body || !*der) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	for (const char *p = b; p < e; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
			body[nbody++] = *p;
	if (!base64_decode(body, nbody, BASE64_STD, *der, (size_t)(e - b) + 1, nder) || *nder < 24) {
		snprintf(why, whylen, "PEM public key with a damaged body");
		goto out;
	}
	ok = true;
out:
	free(body);
	if (!ok) {
		free(*der);
		*der = NULL;
	}
	return ok;
}

/* Checks that text is a PEM "PUBLIC KEY" (what libjwt reads) of the kind the
 * algorithm needs, so a wrong key fails start-up rather than every request. */
static bool key_check_pem(const char *text, size_t len, enum key_kind kind,
			  char *why, size_t whylen)
{
	unsigned char *der = NULL;
	size_t nder = 0, head;
	bool ok = false;

	if (memmem(text, len, "PRIVATE KEY-----", 16)) {
		snprintf(why, whylen, "holds a private key; give the public key "
			 "(openssl pkey -in KEY -pubout)");
		goto out;
	}
	if (memmem(text, len, "-----BEGIN CERTIFICATE-----", 27)) {
		snprintf(why, whylen, "holds a certificate; extract its public key "
			 "(openssl x509 -in CERT -pubkey -noout)");
		goto out;
	}
	if (memmem(text, len, "-----BEGIN RSA PUBLIC KEY-----", 30)) {
		snprintf(why, whylen, "holds a PKCS#1 RSA key; convert it "
			 "(openssl rsa -RSAPublicKey_in -in KEY -pubout)");
		goto out;
	}
	if (!pem_public_der(text, len, &der, &nder, why, whylen))
		goto out;
	/* The algorithm identifier opens the structure; look only there. */
	head = nder < 40 ? nder : 40;
	switch (kind) {
	case KEY_RSA:
		ok = memmem(der, head, oid_rsa, sizeof oid_rsa) != NULL;
		if (!ok)
			snprintf(why, whylen, "not an RSA public key");
		break;
	case KEY_EC_P256:
	case KEY_EC_P384:
		ok = memmem(der, head, oid_ec, sizeof oid_ec) != NULL;
		if (!ok) {
			snprintf(why, whylen, "not an EC public key");
			break;
		}
		if (kind == KEY_EC_P256)
			ok = memmem(der, head, oid_p256, sizeof oid_p256) != NULL;
		else
			ok = memmem(der, head, oid_p384, sizeof oid_p384) != NULL;
		if (!ok)
			snprintf(why, whylen, "EC key on the wrong curve (ES256 needs P-256, ES384 P-384)");
		break;
	case KEY_HMAC:
		ok = true;
		break;
	}
out:
	free(der);
	return ok;
}

/* Reads one key file and shapes it for libjwt: an HMAC secret loses one
 * trailing newline and must keep at least AUTH_MIN_SECRET bytes; a public
 * key must be a PEM of the right kind. Fills key->material and key->len. */
static bool key_load(int dirfd, const char *path, enum key_kind kind, struct auth_key *key,
		     char *why, size_t whylen)
{
	unsigned char *buf = NULL;
	size_t len = 0;

	if (!key_file_read(dirfd, path, kind, &buf, &len, why, whylen))
		return false;
	if (kind == KEY_HMAC) {
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len < AUTH_MIN_SECRET) {
			snprintf(why, whylen, "HMAC secret is %zu bytes, at least %d are needed",
				 len, AUTH_MIN_SECRET);
			goto fail;
		}
	} else if (!key_check_pem((const char *)buf, len, kind, why, whylen)) {
		goto fail;
	}
	key->material = buf;
	key->len = len;
	return true;
fail:
	explicit_bzero(buf, len);
	free(buf);
	return false;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct auth_key *)a)->kid, ((const struct auth_key *)b)->kid);
}

/* A directory others may write could be given a key of theirs. */
static bool keys_dir_safe(DIR *d, char *why, size_t whylen)
{
	struct stat st;

	if (fstat(dirfd(d), &st) != 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return false;
	}
	return key_mode_safe(&st, false, why, whylen);
}

/* Loads every regular file of dir whose name does not start with '.' (so
 * editor leftovers and Kubernetes' "..data" links are skipped), sorted by
 * name. */
static bool keys_load_dir(struct auth_keys *keys, const char *dir, char *err, size_t errlen)
{
	char why[256];
	size_t cap = 0;
	bool ok = false;
	DIR *d = opendir(dir);

	if (!d) {
		snprintf(err, errlen, "jwt.keys_dir %s: %s", dir, strerror(errno));
		return false;
	}
	if (!keys_dir_safe(d, why, sizeof why)) {
		snprintf(err, errlen, "jwt.keys_dir %s: %s", dir, why);
		goto out;
	}
	for (;;) {
		struct dirent *de;
		struct stat st;
		struct auth_key *k;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				snprintf(err, errlen, "jwt.keys_dir %s: %s", dir, strerror(errno));
				goto out;
			}
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (!kid_acceptable(de->d_name, strlen(de->d_name))) {
			snprintf(err, errlen, "jwt.keys_dir %s: key %s: the name cannot be a kid "
				 "(no \"..\" allowed)", dir, de->d_name);
			goto out;
		}
		if (keys->n_keys == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct auth_key *nk = realloc(keys->keys, ncap * sizeof *nk);
			if (!nk) {
				snprintf(err, errlen, "jwt.keys_dir %s: out of memory", dir);
				goto out;
			}
			keys->keys = nk;
			cap = ncap;
		}
		k = &keys->keys[keys->n_keys];
		memset(k, 0, sizeof *k);
		k->kid = strdup(de->d_name);
		if (!k->kid) {
			snprintf(err, errlen, "jwt.keys_dir %s: out of memory", dir);
			goto out;
		}
		keys->n_keys++;
		if (!key_load(dirfd(d), de->d_name, keys->algorithm->kind, k, why, sizeof why)) {
			snprintf(err, errlen, "jwt.keys_dir %s: key %s: %s", dir, de->d_name, why);
			goto out;
		}
	}
	if (keys->n_keys == 0) {
		snprintf(err, errlen, "jwt.keys_dir %s: no key files (each file is one key, named by its kid)",
			 dir);
		goto out;
	}
	qsort(keys->keys, keys->n_keys, sizeof keys->keys[0], key_cmp);
	ok = true;
out:
	closedir(d);
	return ok;
}

/* Returns a new key set for cfg->jwt (free with auth_keys_free), or NULL with
 * err filled. keys_dir is read once, here. */
struct auth_keys *auth_keys_load(const struct es_config *cfg, char *err, size_t errlen)
{
	struct auth_keys *keys = NULL;
	const char *key_file = cfg->jwt.key_file, *keys_dir = cfg->jwt.keys_dir;
	char why[256];

	if (!is_set(cfg->jwt.algorithm)) {
		snprintf(err, errlen, "jwt.algorithm: not set");
		goto fail;
	}
	keys = calloc(1, sizeof *keys);
	if (!keys) {
		snprintf(err, errlen, "jwt: out of memory");
		goto fail;
	}
	keys->algorithm = algorithm_find(cfg->jwt.algorithm);
	if (!keys->algorithm) {
		snprintf(err, errlen, "jwt.algorithm %s: not one of HS256 HS384 HS512 RS256 RS384 "
			 "RS512 ES256 ES384", cfg->jwt.algorithm);
		goto fail;
	}
	if (is_set(key_file) && is_set(keys_dir)) {
		snprintf(err, errlen, "jwt.key_file and jwt.keys_dir are both set; use one");
		goto fail;
	}
	if (is_set(keys_dir)) {
		keys->by_kid = true;
		if (!keys_load_dir(keys, keys_dir, err, errlen))
			goto fail;
		return keys;
	}
	if (!is_set(key_file)) {
		snprintf(err, errlen, "jwt.key_file or jwt.keys_dir must be set");
		goto fail;
	}
	keys->keys = calloc(1, sizeof keys->keys[0]);
	if (!keys->keys) {
		snprintf(err, errlen, "jwt: out of memory");
		goto fail;
	}
	keys->n_keys = 1;
	if (!key_load(AT_FDCWD, key_file, keys->algorithm->kind, &keys->keys[0], why, sizeof why)) {
		snprintf(err, errlen, "jwt.key_file %s: %s", key_file, why);
		goto fail;
	}
	return keys;
fail:
	auth_keys_free(keys);
	return NULL;
}

/* Releases keys and wipes the key material; NULL does nothing. */
void auth_keys_free(struct auth_keys *keys)
{
	if (!keys)
		return;
	for (size_t i = 0; i < keys->n_keys; i++) {
		if (keys->keys[i].material) {
			explicit_bzero(keys->keys[i].material, keys->keys[i].len);
			free(keys->keys[i].material);
		}
		free(keys->keys[i].kid);
	}
	free(keys->keys);
	free(keys);
}
const char *auth_keys_algorithm(const struct auth_keys *keys)
{
	return keys->algorithm->name;
}

bool auth_keys_hmac(const struct auth_keys *keys)
{
	return keys->algorithm->kind == KEY_HMAC;
}

/* Picks the key for a token's kid (see keys.h); borrows everything. */
const struct auth_key *auth_keys_select(const struct auth_keys *keys, bool has_kid,
					const char *kid, size_t kid_len, const char **why)
{
	struct auth_key probe = { .kid = (char *)kid };
	const struct auth_key *key;

	if (!keys->by_kid)
		return &keys->keys[0];
	if (!has_kid) {
		if (keys->n_keys != 1) {
			*why = "missing key id";
			return NULL;
		}
		return &keys->keys[0];
	}
	if (!kid || !kid_acceptable(kid, kid_len)) {
		*why = "invalid key id";
		return NULL;
	}
	key = bsearch(&probe, keys->keys, keys->n_keys, sizeof keys->keys[0], key_cmp);
	if (!key)
		*why = "unknown key id";
	return key;
}

/* The keys are sorted by kid; doc/authentication.md asks operators to name
 * them so that the newest sorts last. */
const struct auth_key *auth_keys_signing(const struct auth_keys *keys)
{
	return &keys->keys[keys->n_keys - 1];
}

/* ------------------------------------------------- check: strength */

/* One DER element at *p (before end): its tag and content; *p moves past
 * it. False when it does not fit. */
static bool der_next(const unsigned char **p, const unsigned char *end, unsigned char *tag,
		     const unsigned char **content, size_t *len)
{
	const unsigned char *q = *p;
	size_t n;

	if (end - q < 2)
		return false;
	*tag = *q++;
	n = *q++;
	if (n & 0x80) {
		size_t k = n & 0x7f;

		if (k == 0 || k > 4 || (size_t)(end - q) < k)
			return false;
		for (n = 0; k > 0; k--)
			n = (n << 8) | *q++;
	}
	if ((size_t)(end - q) < n)
		return false;
	*content = q;
	*len = n;
	*p = q + n;
	return true;
}

/* The bit length of an RSA SubjectPublicKeyInfo's modulus, 0 when der is
 * not one: SEQUENCE { SEQUENCE algorithm, BIT STRING { 0, SEQUENCE {
 * INTEGER n, INTEGER e } } }. */
static int rsa_modulus_bits(const unsigned char *der, size_t nder)
{
	const unsigned char *p = der, *end = der + nder, *c;
	unsigned char tag;
	size_t len;

	if (!der_next(&p, end, &tag, &c, &len) || tag != 0x30)
		return 0;
	p = c;
	end = c + len;
	if (!der_next(&p, end, &tag, &c, &len) || tag != 0x30)     /* algorithm */
		return 0;
	if (!der_next(&p, end, &tag, &c, &len) || tag != 0x03 || len < 1 || c[0] != 0)
		return 0;
	p = c + 1;
	end = c + len;
	if (!der_next(&p, end, &tag, &c, &len) || tag != 0x30)
		return 0;
	p = c;
	end = c + len;
	if (!der_next(&p, end, &tag, &c, &len) || tag != 0x02)     /* the modulus */
		return 0;
	while (len > 0 && *c == 0) {
		c++;
		len--;
	}
	if (len == 0 || len > 4096)
		return 0;
	{
		int bits = (int)(len - 1) * 8;

		for (unsigned char top = *c; top; top >>= 1)
			bits++;
		return bits;
	}
}

int auth_key_bits(const struct auth_keys *keys, const struct auth_key *key)
{
	unsigned char *der;
	size_t nder;
	char why[128];
	int bits;

	switch (keys->algorithm->kind) {
	case KEY_HMAC:
		return (int)(key->len * 8 > 65536 ? 65536 : key->len * 8);
	case KEY_EC_P256:
		return 256;
	case KEY_EC_P384:
		return 384;
	case KEY_RSA:
		break;
	}
	if (!pem_public_der((const char *)key->material, key->len, &der, &nder, why, sizeof why))
		return 0;
	bits = rsa_modulus_bits(der, nder);
	free(der);
	return bits;
}

void auth_keys_judge_strength(const char *algorithm, int bits, struct auth_strength *s)
{
	/* RFC 7518 3.2: an HMAC key at least as long as the hash's output. */
	int hash = atoi(algorithm + 2);

	s->fail = false;
	s->warn = false;
	if (algorithm[0] == 'H' && bits < hash) {
		s->warn = true;
		snprintf(s->why, sizeof s->why, "%s secret of %d bytes, shorter than the hash's %d: "
			 "make one of %d random bytes (head -c %d /dev/urandom | base64)", algorithm,
			 bits / 8, hash / 8, hash / 8, hash / 8);
	} else if (algorithm[0] == 'R' && bits < 2048) {
		s->fail = true;
		snprintf(s->why, sizeof s->why, "%s key of %d bits: RSA below 2048 bits can be "
			 "factored; issue tokens with a key of 2048 bits or more", algorithm, bits);
	} else {
		snprintf(s->why, sizeof s->why, "%s, %d-bit %s", algorithm, bits,
			 algorithm[0] == 'H' ? "secret" : "key");
	}
}

void auth_keys_report(struct startcheck *c, const struct es_config *cfg)
{
	const char *source = *cfg->jwt.keys_dir ? cfg->jwt.keys_dir : cfg->jwt.key_file;
	struct auth_keys *keys;
	struct auth_strength s, weakest = { false, false, "" };
	char err[512];
	int weakest_bits = -1;

	keys = auth_keys_load(cfg, err, sizeof err);
	if (!keys) {
		startcheck_item(c, STARTCHECK_FAIL, "jwt keys", "%s", err);
		return;
	}
	startcheck_item(c, STARTCHECK_PASS, "jwt keys", "%s, %zu from %s%s",
			keys->algorithm->name, keys->n_keys, source,
			keys->algorithm->kind == KEY_HMAC ? " (secrets owner-only)" : "");
	for (size_t i = 0; i < keys->n_keys; i++) {
		int bits = auth_key_bits(keys, &keys->keys[i]);

		if (weakest_bits < 0 || bits < weakest_bits) {
			weakest_bits = bits;
			auth_keys_judge_strength(keys->algorithm->name, bits, &s);
			weakest = s;
			if (keys->keys[i].kid) /* which file of keys_dir */
				snprintf(weakest.why + strlen(s.why), sizeof weakest.why - strlen(s.why),
					 " (kid %.64s)", keys->keys[i].kid);
		}
	}
	startcheck_item(c, weakest.fail ? STARTCHECK_FAIL : weakest.warn ? STARTCHECK_WARN :
			STARTCHECK_PASS, "jwt key strength", "%s", weakest.why);
	auth_keys_free(keys);
}
