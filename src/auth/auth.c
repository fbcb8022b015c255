/* auth.c - bearer token verification and development tokens.
 *
 * libjwt 1.10 only checks signatures, and does so for whatever algorithm the
 * token names. Everything else happens here: the token is split and its
 * header read with our own bounded decoder before libjwt sees it, so the
 * pinned algorithm and the key id are decided by us; after the signature
 * check the claims are re-read with json-c and checked one by one.
 * Nothing in this file logs: tokens and claims never reach a log line. */
#include "buildconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jwt.h>
#include <json-c/json.h>

#include "auth/auth.h"
#include "base/config.h"
#include "json/jsondoc.h"
#include "base/uuidtext.h"

#define AUTH_MAX_TOKEN 8192             /* bytes of token text, API.md section 2 */
#define AUTH_MAX_SEGMENT (AUTH_MAX_TOKEN / 4 * 3)
#define AUTH_MIN_SECRET 32              /* bytes of HMAC secret */
#define AUTH_MAX_KEY_FILE (64 * 1024)   /* far above any PEM public key */
#define AUTH_MAX_KID 255                /* a file name */
#define AUTH_MAX_SUB 255                /* struct auth_principal.sub less its NUL */
#define AUTH_HEADER_DEPTH 8
#define AUTH_CLAIMS_DEPTH 32
#define AUTH_DEFAULT_TENANT_CLAIM "tenant_id"

enum key_kind { KEY_HMAC, KEY_RSA, KEY_EC_P256, KEY_EC_P384 };

static const struct algorithm {
	const char *name;
	jwt_alg_t alg;
	enum key_kind kind;
} algorithms[] = {
	{ "HS256", JWT_ALG_HS256, KEY_HMAC },
	{ "HS384", JWT_ALG_HS384, KEY_HMAC },
	{ "HS512", JWT_ALG_HS512, KEY_HMAC },
	{ "RS256", JWT_ALG_RS256, KEY_RSA },
	{ "RS384", JWT_ALG_RS384, KEY_RSA },
	{ "RS512", JWT_ALG_RS512, KEY_RSA },
	{ "ES256", JWT_ALG_ES256, KEY_EC_P256 },
	{ "ES384", JWT_ALG_ES384, KEY_EC_P384 },
};

struct auth_key {
	char *kid;               /* file name under keys_dir; NULL for key_file */
	unsigned char *material; /* HMAC secret, or PEM text as read */
	size_t len;
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

/* ---- base64 ------------------------------------------------------------ */

static int b64_value(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decodes in[0..len) into out (at most cap bytes). url: the base64url
 * alphabet without padding (RFC 7515); otherwise the standard alphabet with
 * optional '=' padding. Refuses stray characters and non-zero pad bits, so
 * every input has one meaning. */
static bool b64_decode(const char *in, size_t len, bool url,
		       unsigned char *out, size_t cap, size_t *outlen)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0;

	if (!url) {
		size_t pad = 0;
		while (len > 0 && in[len - 1] == '=' && pad < 2) {
			len--;
			pad++;
		}
		if (pad && (len + pad) % 4 != 0)
			return false;
	}
	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i], url);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return false;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return false;
	*outlen = n;
	return true;
}

/* ---- keys -------------------------------------------------------------- */

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

/* Reads a whole regular file (relative to dirfd, or AT_FDCWD) into a new
 * malloc'd buffer with a NUL after the data. On failure why says what went
 * wrong. */
static bool key_file_read(int dirfd, const char *path, unsigned char **out, size_t *outlen,
			  char *why, size_t whylen)
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

/* Checks that text is a PEM "PUBLIC KEY" (what libjwt reads) of the kind the
 * algorithm needs, so a wrong key fails start-up rather than every request. */
static bool key_check_pem(const char *text, size_t len, enum key_kind kind,
			  char *why, size_t whylen)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----";
	static const char end[] = "-----END PUBLIC KEY-----";
	const char *b, *e;
	char *body = NULL;
	unsigned char *der = NULL;
	size_t nbody = 0, nder = 0, head;
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
	der = malloc((size_t)(e - b) + 1);
	if (!body || !der) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	for (const char *p = b; p < e; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
			body[nbody++] = *p;
	if (!b64_decode(body, nbody, false, der, (size_t)(e - b) + 1, &nder) || nder < 24) {
		snprintf(why, whylen, "PEM public key with a damaged body");
		goto out;
	}
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
	free(body);
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

	if (!key_file_read(dirfd, path, &buf, &len, why, whylen))
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

/* ---- verification ------------------------------------------------------ */

/* Finds the token in an Authorization value: "Bearer" in any case, one or
 * more spaces, then the token (trailing blanks dropped). Borrows from
 * header. */
static bool bearer_token(const char *header, const char **tok, size_t *len)
{
	const char *p;
	size_t n;

	if (!header || strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
		return false;
	p = header + 6;
	while (*p == ' ')
		p++;
	n = strnlen(p, AUTH_MAX_TOKEN + 64);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return false;
	*tok = p;
	*len = n;
	return true;
}

struct token_parts {
	const char *header, *payload, *signature;
	size_t header_len, payload_len, signature_len;
};

/* Splits header.payload.signature; every character must be base64url. The
 * signature may be empty here (alg "none" is refused by name later). */
static bool token_split(const char *tok, size_t len, struct token_parts *p)
{
	const char *seg[3];
	size_t seglen[3], n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && tok[i] != '.') {
			if (b64_value((unsigned char)tok[i], true) < 0)
				return false;
			continue;
		}
		if (n == 3)
			return false;
		seg[n] = tok + start;
		seglen[n] = i - start;
		n++;
		start = i + 1;
	}
	if (n != 3 || seglen[0] == 0 || seglen[1] == 0)
		return false;
	p->header = seg[0];
	p->header_len = seglen[0];
	p->payload = seg[1];
	p->payload_len = seglen[1];
	p->signature = seg[2];
	p->signature_len = seglen[2];
	return true;
}

/* Decodes one segment and parses it as a JSON object. Returns a new
 * reference or NULL. */
static json_object *segment_object(const char *seg, size_t len, int depth)
{
	unsigned char buf[AUTH_MAX_SEGMENT];
	char perr[128];
	size_t n;
	json_object *obj = NULL;

	if (!b64_decode(seg, len, true, buf, sizeof buf, &n))
		return NULL;
	if (jsondoc_parse_strict((const char *)buf, n, depth, &obj, perr, sizeof perr) != ES_OK)
		return NULL;
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

/* True when v is the JSON string want, byte for byte (no NUL tricks). */
static bool string_is(json_object *v, const char *want)
{
	return json_object_is_type(v, json_type_string) &&
	       (size_t)json_object_get_string_len(v) == strlen(want) &&
	       strcmp(json_object_get_string(v), want) == 0;
}

/* Reads the token header before any signature work: the algorithm must be
 * the pinned one by name, typ (if any) JWT, no crit extensions, and with
 * keys_dir the kid picks the key. On success *key borrows from keys. */
static bool header_check(const struct auth_keys *keys, const struct token_parts *parts,
			 const struct auth_key **key, const char **why)
{
	json_object *hdr = segment_object(parts->header, parts->header_len, AUTH_HEADER_DEPTH);
	json_object *v;
	const char *kid;
	bool ok = false;

	if (!hdr) {
		*why = "malformed token";
		goto out;
	}
	if (!json_object_object_get_ex(hdr, "alg", &v) || !string_is(v, keys->algorithm->name)) {
		*why = "algorithm not allowed";
		goto out;
	}
	if (json_object_object_get_ex(hdr, "typ", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     strcasecmp(json_object_get_string(v), "JWT") != 0)) {
		*why = "unsupported token type";
		goto out;
	}
	if (json_object_object_get_ex(hdr, "crit", NULL)) {
		*why = "unsupported critical header";
		goto out;
	}
	if (parts->signature_len == 0) {
		*why = "malformed token";
		goto out;
	}
	if (!keys->by_kid) {
		*key = &keys->keys[0];
		ok = true;
		goto out;
	}
	if (!json_object_object_get_ex(hdr, "kid", &v)) {
		if (keys->n_keys != 1) {
			*why = "missing key id";
			goto out;
		}
		*key = &keys->keys[0];
		ok = true;
		goto out;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    !kid_acceptable(json_object_get_string(v), (size_t)json_object_get_string_len(v))) {
		*why = "invalid key id";
		goto out;
	}
	kid = json_object_get_string(v);
	{
		struct auth_key probe = { .kid = (char *)kid };
		*key = bsearch(&probe, keys->keys, keys->n_keys, sizeof keys->keys[0], key_cmp);
	}
	if (!*key) {
		*why = "unknown key id";
		goto out;
	}
	ok = true;
out:
	json_object_put(hdr);
	return ok;
}

/* Reads an integer-valued time claim: 0 absent, 1 found (*val set), -1
 * present but not an integer (a string, a fraction, a boolean, null). */
static int claim_time(json_object *claims, const char *name, int64_t *val)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*val = json_object_get_int64(v);
	return 1;
}

static bool claim_time_check(json_object *claims, time_t now, int leeway, const char **why)
{
	int64_t exp = 0, nbf = 0, iat = 0;
	int64_t t = (int64_t)now;
	int r;

	r = claim_time(claims, "exp", &exp);
	if (r == 0) {
		*why = "missing exp claim";
		return false;
	}
	if (r < 0) {
		*why = "exp claim is not an integer";
		return false;
	}
	r = claim_time(claims, "nbf", &nbf);
	if (r < 0) {
		*why = "nbf claim is not an integer";
		return false;
	}
	if (r > 0 && nbf > t + leeway) {
		*why = "token not yet valid";
		return false;
	}
	r = claim_time(claims, "iat", &iat);
	if (r < 0) {
		*why = "iat claim is not an integer";
		return false;
	}
	if (r > 0 && iat > t + leeway) {
		*why = "issued in the future";
		return false;
	}
	/* RFC 7519: the current time must be before exp. */
	if (t - leeway >= exp) {
		*why = "token expired";
		return false;
	}
	return true;
}

static bool claim_iss_aud_check(json_object *claims, const struct es_config *cfg, const char **why)
{
	json_object *v;

	if (is_set(cfg->jwt.issuer) &&
	    (!json_object_object_get_ex(claims, "iss", &v) || !string_is(v, cfg->jwt.issuer))) {
		*why = "wrong issuer";
		return false;
	}
	if (is_set(cfg->jwt.audience)) {
		bool found = false;
		if (json_object_object_get_ex(claims, "aud", &v)) {
			if (json_object_is_type(v, json_type_array)) {
				size_t n = json_object_array_length(v);
				for (size_t i = 0; i < n && !found; i++)
					found = string_is(json_object_array_get_idx(v, i), cfg->jwt.audience);
			} else {
				found = string_is(v, cfg->jwt.audience);
			}
		}
		if (!found) {
			*why = "wrong audience";
			return false;
		}
	}
	return true;
}

/* A claim that must be a string without NUL bytes; NULL otherwise. */
static const char *plain_string(json_object *v)
{
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	if ((size_t)json_object_get_string_len(v) != strlen(json_object_get_string(v)))
		return NULL;
	return json_object_get_string(v);
}

/* sub, scope/scp and the tenant claim into out. */
static enum auth_result claim_principal(json_object *claims, const struct es_config *cfg,
					struct auth_principal *out, const char **why)
{
	const char *tenant_claim = is_set(cfg->jwt.tenant_claim) ? cfg->jwt.tenant_claim
								  : AUTH_DEFAULT_TENANT_CLAIM;
	json_object *v;
	const char *s;

	if (json_object_object_get_ex(claims, "sub", &v)) {
		s = plain_string(v);
		if (!s) {
			*why = "sub claim is not a string";
			return AUTH_INVALID;
		}
		if (strlen(s) >= sizeof out->sub) {
			*why = "sub claim too long";
			return AUTH_INVALID;
		}
		memcpy(out->sub, s, strlen(s) + 1);
	}
	if (json_object_object_get_ex(claims, "scope", &v)) {
		s = plain_string(v);
		if (!s) {
			*why = "scope claim is not a string";
			return AUTH_INVALID;
		}
		out->scopes |= auth_parse_scopes(s);
	}
	/* scp: an array of strings; a space separated string is taken too,
	 * as some identity providers send it that way. */
	if (json_object_object_get_ex(claims, "scp", &v)) {
		if (json_object_is_type(v, json_type_array)) {
			size_t n = json_object_array_length(v);
			for (size_t i = 0; i < n; i++) {
				s = plain_string(json_object_array_get_idx(v, i));
				if (!s) {
					*why = "scp claim is not an array of strings";
					return AUTH_INVALID;
				}
				out->scopes |= auth_parse_scopes(s);
			}
		} else if ((s = plain_string(v)) != NULL) {
			out->scopes |= auth_parse_scopes(s);
		} else {
			*why = "scp claim is not an array of strings";
			return AUTH_INVALID;
		}
	}
	if (json_object_object_get_ex(claims, tenant_claim, &v)) {
		s = plain_string(v);
		if (!s || !uuidtext_parse(s, out->tenant)) {
			*why = "tenant claim is not a UUID";
			return AUTH_INVALID;
		}
		out->has_tenant = true;
	} else if (cfg->jwt.require_tenant) {
		*why = "tenant claim required";
		return AUTH_FORBIDDEN;
	}
	return AUTH_OK;
}

/* Verifies the Authorization header value against keys and cfg->jwt (see
 * auth.h). Borrows everything; fills *out (zeroed unless AUTH_OK or
 * AUTH_FORBIDDEN); *why is static text. */
enum auth_result auth_verify(const struct auth_keys *keys, const struct es_config *cfg,
			     const char *header, time_t now,
			     struct auth_principal *out, const char **why)
{
	char tok[AUTH_MAX_TOKEN + 1];
	const char *raw, *unused_why;
	size_t len;
	struct token_parts parts;
	const struct auth_key *key = NULL;
	jwt_t *jwt = NULL;
	char *grants = NULL;
	json_object *claims = NULL;
	enum auth_result res = AUTH_INVALID;
	int leeway = cfg->jwt.leeway > 0 ? cfg->jwt.leeway : 0;
	int rc;

	if (!why)
		why = &unused_why;
	*why = NULL;
	memset(out, 0, sizeof *out);

	if (!bearer_token(header, &raw, &len)) {
		res = AUTH_MISSING;
		goto out;
	}
	if (len > AUTH_MAX_TOKEN) {
		*why = "token too large";
		goto out;
	}
	if (!keys) {
		*why = "no verification key configured";
		goto out;
	}
	memcpy(tok, raw, len);
	tok[len] = '\0';
	if (!token_split(tok, len, &parts)) {
		*why = "malformed token";
		goto out;
	}
	if (!header_check(keys, &parts, &key, why))
		goto out;

	rc = jwt_decode(&jwt, tok, key->material, (int)key->len);
	if (rc != 0) {
		jwt = NULL;
		if (rc == ENOMEM) {
			*why = "token could not be verified";
		} else {
			json_object *payload = segment_object(parts.payload, parts.payload_len,
							      AUTH_CLAIMS_DEPTH);
			*why = payload ? "bad signature" : "malformed token";
			json_object_put(payload);
		}
		goto out;
	}
	/* libjwt verified with whatever algorithm the header named; we read
	 * that header too, but pin it again on what libjwt actually used. */
	if (jwt_get_alg(jwt) != keys->algorithm->alg) {
		*why = "algorithm not allowed";
		goto out;
	}
	grants = jwt_get_grants_json(jwt, NULL);
	if (!grants) {
		*why = "malformed token";
		goto out;
	}
	{
		char perr[128];
		if (jsondoc_parse_strict(grants, strlen(grants), AUTH_CLAIMS_DEPTH, &claims, perr,
				      sizeof perr) != ES_OK ||
		    !json_object_is_type(claims, json_type_object)) {
			*why = "malformed token";
			goto out;
		}
	}
	if (!claim_time_check(claims, now, leeway, why))
		goto out;
	if (!claim_iss_aud_check(claims, cfg, why))
		goto out;
	res = claim_principal(claims, cfg, out, why);
out:
	if (res == AUTH_INVALID || res == AUTH_MISSING)
		memset(out, 0, sizeof *out);
	json_object_put(claims);
	free(grants);
	jwt_free(jwt);
	explicit_bzero(tok, sizeof tok);
	return res;
}

/* Parses space separated scope names; borrows s. Unknown names are
 * ignored; admin brings read and write along. */
unsigned auth_parse_scopes(const char *s)
{
	unsigned bits = 0;

	if (!s)
		return 0;
	while (*s) {
		size_t n;
		while (*s == ' ' || *s == '\t')
			s++;
		n = strcspn(s, " \t");
		if (n == 11 && strncmp(s, "events:read", n) == 0)
			bits |= AUTH_SCOPE_READ;
		else if (n == 12 && strncmp(s, "events:write", n) == 0)
			bits |= AUTH_SCOPE_WRITE;
		else if (n == 5 && strncmp(s, "admin", n) == 0)
			bits |= AUTH_SCOPE_ADMIN | AUTH_SCOPE_READ | AUTH_SCOPE_WRITE;
		s += n;
	}
	return bits;
}

/* ---- development tokens ------------------------------------------------ */

/* Mints an HS* token with the configured key (see auth.h). Borrows its
 * arguments; returns a malloc'd string the caller frees, or NULL with err
 * filled. With keys_dir the lexicographically last key signs, and its name
 * goes into the kid header. */
char *auth_mint(const struct es_config *cfg, const char *sub, const char *scope,
		const char *tenant, long ttl_seconds, time_t now, char *err, size_t errlen)
{
	struct auth_keys *keys = NULL;
	const struct auth_key *key;
	const char *tenant_claim = is_set(cfg->jwt.tenant_claim) ? cfg->jwt.tenant_claim
								  : AUTH_DEFAULT_TENANT_CLAIM;
	char tenant_lc[UUIDTEXT_LEN];
	jwt_t *jwt = NULL;
	char *token = NULL;
	int rc = 0;

	if (ttl_seconds <= 0 || (long)now > LONG_MAX - ttl_seconds) {
		snprintf(err, errlen, "ttl must be a positive number of seconds");
		goto out;
	}
	if (sub && strlen(sub) > AUTH_MAX_SUB) {
		snprintf(err, errlen, "sub is longer than 255 bytes");
		goto out;
	}
	if (tenant && !uuidtext_parse(tenant, tenant_lc)) {
		snprintf(err, errlen, "tenant %s is not a UUID", tenant);
		goto out;
	}
	keys = auth_keys_load(cfg, err, errlen);
	if (!keys)
		goto out;
	if (keys->algorithm->kind != KEY_HMAC) {
		snprintf(err, errlen, "jwt.algorithm %s: tokens can only be minted with an HS* "
			 "secret; use the identity provider that holds the private key",
			 keys->algorithm->name);
		goto out;
	}
	key = &keys->keys[keys->n_keys - 1];
	if ((rc = jwt_new(&jwt)) != 0)
		goto out;
	if (key->kid && (rc = jwt_add_header(jwt, "kid", key->kid)) != 0)
		goto out;
	if (is_set(cfg->jwt.issuer) && (rc = jwt_add_grant(jwt, "iss", cfg->jwt.issuer)) != 0)
		goto out;
	if (is_set(cfg->jwt.audience) && (rc = jwt_add_grant(jwt, "aud", cfg->jwt.audience)) != 0)
		goto out;
	if (sub && (rc = jwt_add_grant(jwt, "sub", sub)) != 0)
		goto out;
	if (is_set(scope) && (rc = jwt_add_grant(jwt, "scope", scope)) != 0)
		goto out;
	if (tenant && (rc = jwt_add_grant(jwt, tenant_claim, tenant_lc)) != 0)
		goto out;
	if ((rc = jwt_add_grant_int(jwt, "iat", (long)now)) != 0)
		goto out;
	if ((rc = jwt_add_grant_int(jwt, "exp", (long)now + ttl_seconds)) != 0)
		goto out;
	if ((rc = jwt_set_alg(jwt, keys->algorithm->alg, key->material, (int)key->len)) != 0)
		goto out;
	token = jwt_encode_str(jwt);
	if (!token)
		rc = errno ? errno : ENOMEM;
out:
	if (rc != 0)
		snprintf(err, errlen, "jwt: cannot build the token: %s%s", strerror(rc),
			 rc == EEXIST ? " (jwt.tenant_claim names a standard claim)" : "");
	jwt_free(jwt);
	auth_keys_free(keys);
	return token;
}
