/* check_auth.c - bearer token verification (API.md section 2), key loading
 * and development tokens. Keys are generated at start with the openssl
 * command line in a fresh temporary directory; tokens are minted with
 * libjwt, or built by hand where libjwt refuses to (a duplicated alg, a
 * header that is not JSON). Every check runs at a fixed clock, NOW. */
#include "buildconf.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jwt.h>

#include "auth/auth.h"
#include "base/config.h"

#define NOW 1700000000L
/* times relative to NOW, as JSON text */
#define EXP_OK "1700003600"        /* NOW + 1h */
#define PAST_BEYOND "1699999969"   /* NOW - 31: outside the 30 s leeway */
#define PAST_WITHIN "1699999990"   /* NOW - 10 */
#define FUTURE_BEYOND "1700000120" /* NOW + 120 */
#define FUTURE_WITHIN "1700000020" /* NOW + 20 */

#define TENANT "0b7e3c1e-5a43-4f7e-9d8f-2a6b1c9e4d01"
#define TENANT_UC "0B7E3C1E-5A43-4F7E-9D8F-2A6B1C9E4D01"

static const char secret_main[] = "main-secret-0123456789abcdefghijklmnop"; /* 38 bytes */
static const char secret_other[] = "other-secret-0123456789abcdefghijklmno";
static const char secret_kid_a[] = "kid-a-secret-0123456789abcdefghijklmno";
static const char secret_kid_b[] = "kid-b-secret-0123456789abcdefghijklmno";
static const char secret_hidden[] = "hidden-secret-0123456789abcdefghijklmn";

static char tmpdir[512];

/* ---- fixture ------------------------------------------------------------ */

static const char *tmp_path(const char *name)
{
	static char bufs[8][1024];
	static unsigned next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
	return b;
}

static void write_file(const char *name, const char *data, size_t len)
{
	FILE *f = fopen(tmp_path(name), "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s: %s\n", tmp_path(name), strerror(errno));
		exit(1);
	}
}

static void write_secret(const char *name, const char *secret)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "%s\n", secret);
	write_file(name, buf, (size_t)n);
}

static void run_openssl(const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "cd '%s' && openssl %s 2>/dev/null", tmpdir, args);
	if (system(cmd) != 0) {
		fprintf(stderr, "openssl %s: failed\n", args);
		exit(1);
	}
}

static unsigned char *slurp(const char *name, size_t *len)
{
	FILE *f = fopen(tmp_path(name), "rb");
	unsigned char *buf = malloc(65536);
	if (!f || !buf) {
		fprintf(stderr, "cannot read %s\n", tmp_path(name));
		exit(1);
	}
	*len = fread(buf, 1, 65535, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static unsigned char *rsa_priv, *rsa_pub, *ec256_priv, *ec384_priv;
static size_t rsa_priv_len, rsa_pub_len, ec256_priv_len, ec384_priv_len;

static void fixture_create(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/check_auth.XXXXXX", base && *base ? base : P_tmpdir);
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	write_secret("hs.key", secret_main);
	run_openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key");
	run_openssl("pkey -in rsa.key -pubout -out rsa.pub");
	run_openssl("rsa -in rsa.key -RSAPublicKey_out -out rsa.pkcs1");
	run_openssl("req -x509 -new -key rsa.key -subj /CN=evstore-test -days 1 -out rsa.crt");
	run_openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256.key");
	run_openssl("pkey -in ec256.key -pubout -out ec256.pub");
	run_openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.key");
	run_openssl("pkey -in ec384.key -pubout -out ec384.pub");
	rsa_priv = slurp("rsa.key", &rsa_priv_len);
	rsa_pub = slurp("rsa.pub", &rsa_pub_len);
	ec256_priv = slurp("ec256.key", &ec256_priv_len);
	ec384_priv = slurp("ec384.key", &ec384_priv_len);

	/* a rotation directory: two keys, plus what must be skipped */
	if (mkdir(tmp_path("keys"), 0700) != 0 || mkdir(tmp_path("keys/subdir"), 0700) != 0 ||
	    mkdir(tmp_path("keys1"), 0700) != 0 || mkdir(tmp_path("empty"), 0700) != 0 ||
	    mkdir(tmp_path("badname"), 0700) != 0) {
		fprintf(stderr, "mkdir: %s\n", strerror(errno));
		exit(1);
	}
	write_secret("keys/key-a", secret_kid_a);
	write_secret("keys/key-b", secret_kid_b);
	write_secret("keys/.hidden", secret_hidden);
	write_secret("keys1/only", secret_kid_a);
	write_secret("badname/a..b", secret_kid_a);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fixture_remove(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(rsa_priv);
	free(rsa_pub);
	free(ec256_priv);
	free(ec384_priv);
}

/* ---- configurations --------------------------------------------------- */

enum profile {
	P_HS256, P_HS384, P_HS512, P_RS256, P_RS512, P_ES256, P_ES384,
	P_ISSAUD,       /* HS256 with issuer and audience */
	P_KEYS,         /* HS256, keys_dir with key-a and key-b */
	P_KEYS1,        /* HS256, keys_dir with one key */
	P_TENANT,       /* HS256, require_tenant */
	P_ORG,          /* HS256, tenant_claim = org */
};

static void profile_config(enum profile p, struct es_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->jwt.leeway = 30;
	cfg->jwt.tenant_claim = (char *)"tenant_id";
	cfg->jwt.algorithm = (char *)"HS256";
	cfg->jwt.key_file = (char *)tmp_path("hs.key");
	switch (p) {
	case P_HS256: break;
	case P_HS384: cfg->jwt.algorithm = (char *)"HS384"; break;
	case P_HS512: cfg->jwt.algorithm = (char *)"HS512"; break;
	case P_RS256:
		cfg->jwt.algorithm = (char *)"RS256";
		cfg->jwt.key_file = (char *)tmp_path("rsa.pub");
		break;
	case P_RS512:
		cfg->jwt.algorithm = (char *)"RS512";
		cfg->jwt.key_file = (char *)tmp_path("rsa.pub");
		break;
	case P_ES256:
		cfg->jwt.algorithm = (char *)"ES256";
		cfg->jwt.key_file = (char *)tmp_path("ec256.pub");
		break;
	case P_ES384:
		cfg->jwt.algorithm = (char *)"ES384";
		cfg->jwt.key_file = (char *)tmp_path("ec384.pub");
		break;
	case P_ISSAUD:
		cfg->jwt.issuer = (char *)"https://idp.example";
		cfg->jwt.audience = (char *)"evstore";
		break;
	case P_KEYS:
		cfg->jwt.key_file = NULL;
		cfg->jwt.keys_dir = (char *)tmp_path("keys");
		break;
	case P_KEYS1:
		cfg->jwt.key_file = NULL;
		cfg->jwt.keys_dir = (char *)tmp_path("keys1");
		break;
	case P_TENANT: cfg->jwt.require_tenant = true; break;
	case P_ORG: cfg->jwt.tenant_claim = (char *)"org"; break;
	}
}

/* ---- token building --------------------------------------------------- */

enum signer {
	S_MAIN,          /* the HS secret of hs.key */
	S_OTHER,         /* some other HS secret */
	S_RSA,           /* the RSA private key */
	S_RSA_PUB_HMAC,  /* HMAC keyed with the RSA public key's PEM bytes */
	S_EC256, S_EC384,
	S_KID_A, S_KID_B,
	S_NONE,          /* alg none, no signature */
	S_RAW            /* hand-built; raw_header is the header JSON, signature bogus */
};

static void signer_key(enum signer s, const unsigned char **key, size_t *len)
{
	switch (s) {
	case S_MAIN: *key = (const unsigned char *)secret_main; *len = strlen(secret_main); return;
	case S_OTHER: *key = (const unsigned char *)secret_other; *len = strlen(secret_other); return;
	case S_RSA: *key = rsa_priv; *len = rsa_priv_len; return;
	case S_RSA_PUB_HMAC: *key = rsa_pub; *len = rsa_pub_len; return;
	case S_EC256: *key = ec256_priv; *len = ec256_priv_len; return;
	case S_EC384: *key = ec384_priv; *len = ec384_priv_len; return;
	case S_KID_A: *key = (const unsigned char *)secret_kid_a; *len = strlen(secret_kid_a); return;
	case S_KID_B: *key = (const unsigned char *)secret_kid_b; *len = strlen(secret_kid_b); return;
	case S_NONE: case S_RAW: break;
	}
	*key = NULL;
	*len = 0;
}

static char *b64url(const char *in, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(len / 3 * 4 + 5), *o = out;
	size_t i;
	ck_assert_ptr_nonnull(out);
	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 |
			     (unsigned char)in[i + 2];
		*o++ = abc[v >> 18];
		*o++ = abc[v >> 12 & 63];
		*o++ = abc[v >> 6 & 63];
		*o++ = abc[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned char)in[i] << 16;
		*o++ = abc[v >> 18];
		*o++ = abc[v >> 12 & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
		*o++ = abc[v >> 18];
		*o++ = abc[v >> 12 & 63];
		*o++ = abc[v >> 6 & 63];
	}
	*o = '\0';
	return out;
}

/* "<header>.<claims>.<sig>" from JSON texts; returns a new string. */
static char *raw_token(const char *header, const char *claims, const char *sig)
{
	char *h = b64url(header, strlen(header)), *c = b64url(claims, strlen(claims));
	size_t n = strlen(h) + strlen(c) + strlen(sig) + 3;
	char *t = malloc(n);
	ck_assert_ptr_nonnull(t);
	snprintf(t, n, "%s.%s.%s", h, c, sig);
	free(h);
	free(c);
	return t;
}

/* Signs claims (a JSON object) with libjwt; headers adds header members.
 * pad > 0 adds a "pad" claim of that many bytes. Returns a new string. */
static char *mint(enum signer s, jwt_alg_t alg, const char *headers, const char *claims, size_t pad)
{
	const unsigned char *key;
	size_t keylen;
	jwt_t *jwt = NULL;
	char *tok, *copy;

	signer_key(s, &key, &keylen);
	ck_assert_int_eq(jwt_new(&jwt), 0);
	if (headers)
		ck_assert_int_eq(jwt_add_headers_json(jwt, headers), 0);
	ck_assert_int_eq(jwt_add_grants_json(jwt, claims), 0);
	if (pad) {
		char *p = malloc(pad + 1);
		ck_assert_ptr_nonnull(p);
		memset(p, 'x', pad);
		p[pad] = '\0';
		ck_assert_int_eq(jwt_add_grant(jwt, "pad", p), 0);
		free(p);
	}
	ck_assert_int_eq(jwt_set_alg(jwt, s == S_NONE ? JWT_ALG_NONE : alg, key, (int)keylen), 0);
	tok = jwt_encode_str(jwt);
	ck_assert_ptr_nonnull(tok);
	copy = strdup(tok);
	free(tok);
	jwt_free(jwt);
	return copy;
}

struct vcase {
	const char *name;
	enum profile profile;
	const char *literal;    /* the whole Authorization value; no token built */
	bool no_header;         /* Authorization absent */
	const char *scheme;     /* NULL: "Bearer " */
	enum signer signer;
	jwt_alg_t alg;
	const char *headers;    /* extra header members (S_RAW: the whole header) */
	const char *claims;
	size_t pad;
	bool tamper;            /* replace the claims after signing */
	enum auth_result result;
	const char *why;
	unsigned scopes;        /* expected on AUTH_OK */
	const char *sub;
	const char *tenant;     /* NULL: no tenant */
};

/* The Authorization value for a case; a new string, or NULL for no_header. */
static char *case_header(const struct vcase *c)
{
	char *tok, *hdr;
	size_t n;

	if (c->no_header)
		return NULL;
	if (c->literal)
		return strdup(c->literal);
	if (c->signer == S_RAW)
		tok = raw_token(c->headers, c->claims, "c2lnbmF0dXJl");
	else
		tok = mint(c->signer, c->alg, c->headers, c->claims, c->pad);
	if (c->tamper) {
		/* keep header and signature, swap in claims granting more */
		char *dot1 = strchr(tok, '.'), *dot2 = strchr(dot1 + 1, '.');
		const char *evil = "{\"exp\":" EXP_OK ",\"scope\":\"admin\",\"sub\":\"mallory\"}";
		char *c2 = b64url(evil, strlen(evil));
		char *t2;
		n = strlen(tok) + strlen(c2) + 1;
		t2 = malloc(n);
		ck_assert_ptr_nonnull(t2);
		*dot1 = '\0';
		snprintf(t2, n, "%s.%s%s", tok, c2, dot2);
		free(c2);
		free(tok);
		tok = t2;
	}
	n = strlen(tok) + 32;
	hdr = malloc(n);
	ck_assert_ptr_nonnull(hdr);
	snprintf(hdr, n, "%s%s", c->scheme ? c->scheme : "Bearer ", tok);
	free(tok);
	return hdr;
}

static void run_case(const struct vcase *c)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct auth_principal p;
	char err[512];
	const char *why = "unset";
	char *hdr;
	enum auth_result r;

	profile_config(c->profile, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s: keys: %s", c->name, err);
	hdr = case_header(c);
	r = auth_verify(keys, &cfg, hdr, (time_t)NOW, &p, &why);
	ck_assert_msg(r == c->result, "%s: result %d, expected %d (why: %s)", c->name, (int)r,
		      (int)c->result, why ? why : "(null)");
	if (c->why)
		ck_assert_msg(why && strcmp(why, c->why) == 0, "%s: why \"%s\", expected \"%s\"",
			      c->name, why ? why : "(null)", c->why);
	else if (r != AUTH_OK)
		ck_assert_msg(why == NULL, "%s: why \"%s\" for a missing token", c->name, why);
	if (r == AUTH_OK) {
		ck_assert_msg(p.scopes == c->scopes, "%s: scopes %#x, expected %#x", c->name,
			      p.scopes, c->scopes);
		ck_assert_str_eq(p.sub, c->sub ? c->sub : "");
		ck_assert_int_eq(p.has_tenant, c->tenant != NULL);
		if (c->tenant)
			ck_assert_str_eq(p.tenant, c->tenant);
	}
	if (r == AUTH_INVALID || r == AUTH_MISSING) {
		ck_assert_int_eq(p.scopes, 0);
		ck_assert_int_eq(p.has_tenant, 0);
		ck_assert_str_eq(p.sub, "");
	}
	free(hdr);
	auth_keys_free(keys);
}

#define GOOD "{\"exp\":" EXP_OK ",\"sub\":\"alice\",\"scope\":\"events:read\"}"
#define HS JWT_ALG_HS256

/* ---- tokens that must be refused ---------------------------------------- */

static const struct vcase refused[] = {
	{ .name = "no Authorization header", .profile = P_HS256, .no_header = true,
	  .result = AUTH_MISSING },
	{ .name = "Basic scheme", .profile = P_HS256, .literal = "Basic YWxpY2U6c2VjcmV0",
	  .result = AUTH_MISSING },
	{ .name = "Bearer without a token", .profile = P_HS256, .literal = "Bearer   ",
	  .result = AUTH_MISSING },
	{ .name = "scheme glued to the token", .profile = P_HS256, .scheme = "Bearer",
	  .signer = S_MAIN, .alg = HS, .claims = GOOD, .result = AUTH_MISSING },
	{ .name = "empty header", .profile = P_HS256, .literal = "", .result = AUTH_MISSING },

	{ .name = "alg none", .profile = P_HS256, .signer = S_NONE, .claims = GOOD,
	  .result = AUTH_INVALID, .why = "algorithm not allowed" },
	{ .name = "HS384 when HS256 is pinned", .profile = P_HS256, .signer = S_MAIN,
	  .alg = JWT_ALG_HS384, .claims = GOOD, .result = AUTH_INVALID, .why = "algorithm not allowed" },
	{ .name = "HS256 keyed with the RSA public key when RS256 is pinned", .profile = P_RS256,
	  .signer = S_RSA_PUB_HMAC, .alg = HS, .claims = GOOD, .result = AUTH_INVALID,
	  .why = "algorithm not allowed" },
	{ .name = "RS256 when HS256 is pinned", .profile = P_HS256, .signer = S_RSA,
	  .alg = JWT_ALG_RS256, .claims = GOOD, .result = AUTH_INVALID, .why = "algorithm not allowed" },
	{ .name = "alg in lower case", .profile = P_HS256, .signer = S_RAW,
	  .headers = "{\"alg\":\"hs256\",\"typ\":\"JWT\"}", .claims = GOOD,
	  .result = AUTH_INVALID, .why = "algorithm not allowed" },
	{ .name = "alg missing", .profile = P_HS256, .signer = S_RAW,
	  .headers = "{\"typ\":\"JWT\"}", .claims = GOOD,
	  .result = AUTH_INVALID, .why = "algorithm not allowed" },
	{ .name = "alg with a NUL escape", .profile = P_HS256, .signer = S_RAW,
	  .headers = "{\"alg\":\"HS256\\u0000\"}", .claims = GOOD,
	  .result = AUTH_INVALID, .why = "algorithm not allowed" },
	{ .name = "alg given twice", .profile = P_HS256, .signer = S_RAW,
	  .headers = "{\"alg\":\"HS256\",\"alg\":\"none\"}", .claims = GOOD,
	  .result = AUTH_INVALID, .why = "malformed token" },

	{ .name = "signed with another secret", .profile = P_HS256, .signer = S_OTHER, .alg = HS,
	  .claims = GOOD, .result = AUTH_INVALID, .why = "bad signature" },
	{ .name = "HS256 claims swapped after signing", .profile = P_HS256, .signer = S_MAIN,
	  .alg = HS, .claims = GOOD, .tamper = true, .result = AUTH_INVALID, .why = "bad signature" },
	{ .name = "RS256 claims swapped after signing", .profile = P_RS256, .signer = S_RSA,
	  .alg = JWT_ALG_RS256, .claims = GOOD, .tamper = true, .result = AUTH_INVALID,
	  .why = "bad signature" },
	{ .name = "ES256 claims swapped after signing", .profile = P_ES256, .signer = S_EC256,
	  .alg = JWT_ALG_ES256, .claims = GOOD, .tamper = true, .result = AUTH_INVALID,
	  .why = "bad signature" },
	{ .name = "typ at+jwt", .profile = P_HS256, .signer = S_RAW,
	  .headers = "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "unsupported token type" },
	{ .name = "crit header", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .headers = "{\"crit\":[\"exp\"]}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "unsupported critical header" },

	{ .name = "expired beyond the leeway", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" PAST_BEYOND "}", .result = AUTH_INVALID, .why = "token expired" },
	{ .name = "nbf in the future", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"nbf\":" FUTURE_BEYOND "}", .result = AUTH_INVALID,
	  .why = "token not yet valid" },
	{ .name = "iat in the future", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"iat\":" FUTURE_BEYOND "}", .result = AUTH_INVALID,
	  .why = "issued in the future" },
	{ .name = "exp missing", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"sub\":\"alice\"}", .result = AUTH_INVALID, .why = "missing exp claim" },
	{ .name = "exp as a string", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":\"" EXP_OK "\"}", .result = AUTH_INVALID,
	  .why = "exp claim is not an integer" },
	{ .name = "exp as 1.5", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":1.5}", .result = AUTH_INVALID, .why = "exp claim is not an integer" },
	{ .name = "exp with a fraction far ahead", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ".5}", .result = AUTH_INVALID,
	  .why = "exp claim is not an integer" },
	{ .name = "exp as true", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":true}", .result = AUTH_INVALID, .why = "exp claim is not an integer" },
	{ .name = "exp null", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":null}", .result = AUTH_INVALID, .why = "exp claim is not an integer" },
	{ .name = "nbf as a string", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"nbf\":\"0\"}", .result = AUTH_INVALID,
	  .why = "nbf claim is not an integer" },
	{ .name = "iat as a float", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"iat\":2.25}", .result = AUTH_INVALID,
	  .why = "iat claim is not an integer" },

	{ .name = "wrong iss", .profile = P_ISSAUD, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"iss\":\"https://evil.example\",\"aud\":\"evstore\"}",
	  .result = AUTH_INVALID, .why = "wrong issuer" },
	{ .name = "iss missing when configured", .profile = P_ISSAUD, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"aud\":\"evstore\"}", .result = AUTH_INVALID,
	  .why = "wrong issuer" },
	{ .name = "wrong aud string", .profile = P_ISSAUD, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"iss\":\"https://idp.example\",\"aud\":\"billing\"}",
	  .result = AUTH_INVALID, .why = "wrong audience" },
	{ .name = "wrong aud array", .profile = P_ISSAUD, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"iss\":\"https://idp.example\",\"aud\":[\"billing\",\"evstore2\"]}",
	  .result = AUTH_INVALID, .why = "wrong audience" },
	{ .name = "aud missing when configured", .profile = P_ISSAUD, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"iss\":\"https://idp.example\"}", .result = AUTH_INVALID,
	  .why = "wrong audience" },

	{ .name = "tenant not a UUID", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"tenant_id\":\"acme\"}", .result = AUTH_INVALID,
	  .why = "tenant claim is not a UUID" },
	{ .name = "tenant UUID without hyphens", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"tenant_id\":\"0b7e3c1e5a434f7e9d8f2a6b1c9e4d01\"}",
	  .result = AUTH_INVALID, .why = "tenant claim is not a UUID" },
	{ .name = "tenant as a number", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"tenant_id\":42}", .result = AUTH_INVALID,
	  .why = "tenant claim is not a UUID" },
	{ .name = "sub as a number", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"sub\":7}", .result = AUTH_INVALID,
	  .why = "sub claim is not a string" },
	{ .name = "sub longer than 255 bytes", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"sub\":\""
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	  .result = AUTH_INVALID, .why = "sub claim too long" },
	{ .name = "scope as an array", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"scope\":[\"admin\"]}", .result = AUTH_INVALID,
	  .why = "scope claim is not a string" },
	{ .name = "scp with a number", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"scp\":[\"events:read\",1]}", .result = AUTH_INVALID,
	  .why = "scp claim is not an array of strings" },

	{ .name = "token over 8 KiB", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = GOOD, .pad = 7000, .result = AUTH_INVALID, .why = "token too large" },
	{ .name = "one segment", .profile = P_HS256, .literal = "Bearer abcdef",
	  .result = AUTH_INVALID, .why = "malformed token" },
	{ .name = "four segments", .profile = P_HS256, .literal = "Bearer eyJh.eyJi.c2ln.c2ln",
	  .result = AUTH_INVALID, .why = "malformed token" },
	{ .name = "characters outside base64url", .profile = P_HS256,
	  .literal = "Bearer ey!J.ey*J.c2ln", .result = AUTH_INVALID, .why = "malformed token" },
	{ .name = "padding in a segment", .profile = P_HS256,
	  .literal = "Bearer eyJhbGciOiJIUzI1NiJ9.e30=.c2ln", .result = AUTH_INVALID,
	  .why = "malformed token" },
	{ .name = "empty header segment", .profile = P_HS256, .literal = "Bearer .e30.c2ln",
	  .result = AUTH_INVALID, .why = "malformed token" },
	{ .name = "header is not JSON", .profile = P_HS256, .signer = S_RAW,
	  .headers = "alg=HS256", .claims = GOOD, .result = AUTH_INVALID, .why = "malformed token" },
	{ .name = "header is a JSON array", .profile = P_HS256, .signer = S_RAW,
	  .headers = "[\"HS256\"]", .claims = GOOD, .result = AUTH_INVALID, .why = "malformed token" },
	{ .name = "claims are not JSON", .profile = P_HS256, .signer = S_RAW,
	  .headers = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", .claims = "exp=1",
	  .result = AUTH_INVALID, .why = "malformed token" },
	{ .name = "made-up signature", .profile = P_HS256, .signer = S_RAW,
	  .headers = "{\"alg\":\"HS256\"}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "bad signature" },
	{ .name = "empty signature", .profile = P_HS256,
	  .literal = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.", .result = AUTH_INVALID,
	  .why = "malformed token" },

	{ .name = "unknown kid with keys_dir", .profile = P_KEYS, .signer = S_KID_A, .alg = HS,
	  .headers = "{\"kid\":\"key-c\"}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "unknown key id" },
	{ .name = "kid of a hidden file", .profile = P_KEYS, .signer = S_MAIN, .alg = HS,
	  .headers = "{\"kid\":\".hidden\"}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "invalid key id" },
	{ .name = "kid with a path", .profile = P_KEYS, .signer = S_MAIN, .alg = HS,
	  .headers = "{\"kid\":\"../hs.key\"}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "invalid key id" },
	{ .name = "kid with a slash", .profile = P_KEYS, .signer = S_KID_A, .alg = HS,
	  .headers = "{\"kid\":\"subdir/key-a\"}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "invalid key id" },
	{ .name = "empty kid", .profile = P_KEYS, .signer = S_KID_A, .alg = HS,
	  .headers = "{\"kid\":\"\"}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "invalid key id" },
	{ .name = "kid as a number", .profile = P_KEYS, .signer = S_KID_A, .alg = HS,
	  .headers = "{\"kid\":1}", .claims = GOOD, .result = AUTH_INVALID, .why = "invalid key id" },
	{ .name = "no kid with two keys", .profile = P_KEYS, .signer = S_KID_A, .alg = HS,
	  .claims = GOOD, .result = AUTH_INVALID, .why = "missing key id" },
	{ .name = "signed with key-a, kid says key-b", .profile = P_KEYS, .signer = S_KID_A,
	  .alg = HS, .headers = "{\"kid\":\"key-b\"}", .claims = GOOD, .result = AUTH_INVALID,
	  .why = "bad signature" },

	{ .name = "require_tenant without a tenant", .profile = P_TENANT, .signer = S_MAIN,
	  .alg = HS, .claims = GOOD, .result = AUTH_FORBIDDEN, .why = "tenant claim required" },
};

START_TEST(test_refused)
{
	run_case(&refused[_i]);
}
END_TEST

/* ---- tokens that must be accepted --------------------------------------- */

#define R AUTH_SCOPE_READ
#define W AUTH_SCOPE_WRITE
#define A AUTH_SCOPE_ADMIN

static const struct vcase accepted[] = {
	{ .name = "HS256", .profile = P_HS256, .signer = S_MAIN, .alg = HS, .claims = GOOD,
	  .scopes = R, .sub = "alice" },
	{ .name = "HS384", .profile = P_HS384, .signer = S_MAIN, .alg = JWT_ALG_HS384,
	  .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "HS512", .profile = P_HS512, .signer = S_MAIN, .alg = JWT_ALG_HS512,
	  .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "RS256", .profile = P_RS256, .signer = S_RSA, .alg = JWT_ALG_RS256,
	  .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "RS512", .profile = P_RS512, .signer = S_RSA, .alg = JWT_ALG_RS512,
	  .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "ES256", .profile = P_ES256, .signer = S_EC256, .alg = JWT_ALG_ES256,
	  .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "ES384", .profile = P_ES384, .signer = S_EC384, .alg = JWT_ALG_ES384,
	  .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "no sub, no scope", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK "}" },
	{ .name = "expired within the leeway", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" PAST_WITHIN ",\"sub\":\"bob\"}", .sub = "bob" },
	{ .name = "nbf and iat within the leeway", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"nbf\":" FUTURE_WITHIN ",\"iat\":" FUTURE_WITHIN "}" },
	{ .name = "nbf and iat in the past", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"nbf\":" PAST_BEYOND ",\"iat\":" PAST_BEYOND "}" },
	{ .name = "iss and aud strings", .profile = P_ISSAUD, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"iss\":\"https://idp.example\",\"aud\":\"evstore\"}" },
	{ .name = "aud array containing the audience", .profile = P_ISSAUD, .signer = S_MAIN,
	  .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"iss\":\"https://idp.example\",\"aud\":[\"billing\",\"evstore\"]}" },
	{ .name = "scope and scp combined", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"scope\":\"openid events:read\",\"scp\":[\"events:write\"]}",
	  .scopes = R | W },
	{ .name = "scp as a space separated string", .profile = P_HS256, .signer = S_MAIN,
	  .alg = HS, .claims = "{\"exp\":" EXP_OK ",\"scp\":\"events:write  events:read\"}",
	  .scopes = R | W },
	{ .name = "admin implies read and write", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"scope\":\"admin\"}", .scopes = R | W | A },
	{ .name = "unknown scopes grant nothing", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"scope\":\"events:readx Admin events\"}" },
	{ .name = "tenant in upper case is stored lowercase", .profile = P_HS256, .signer = S_MAIN,
	  .alg = HS, .claims = "{\"exp\":" EXP_OK ",\"tenant_id\":\"" TENANT_UC "\"}",
	  .tenant = TENANT },
	{ .name = "tenant under a configured claim name", .profile = P_ORG, .signer = S_MAIN,
	  .alg = HS, .claims = "{\"exp\":" EXP_OK ",\"org\":\"" TENANT "\",\"tenant_id\":\"x\"}",
	  .tenant = TENANT },
	{ .name = "require_tenant with a tenant", .profile = P_TENANT, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"tenant_id\":\"" TENANT "\",\"sub\":\"svc\"}",
	  .sub = "svc", .tenant = TENANT },
	{ .name = "keys_dir, kid key-a", .profile = P_KEYS, .signer = S_KID_A, .alg = HS,
	  .headers = "{\"kid\":\"key-a\"}", .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "keys_dir, kid key-b", .profile = P_KEYS, .signer = S_KID_B, .alg = HS,
	  .headers = "{\"kid\":\"key-b\"}", .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "keys_dir with one key, no kid", .profile = P_KEYS1, .signer = S_KID_A, .alg = HS,
	  .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "kid ignored with key_file", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .headers = "{\"kid\":\"../whatever\"}", .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "typ jwt in lower case", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .headers = "{\"typ\":\"jwt\"}", .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "scheme in lower case", .profile = P_HS256, .scheme = "bearer ", .signer = S_MAIN,
	  .alg = HS, .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "scheme in upper case, several spaces", .profile = P_HS256, .scheme = "BEARER   ",
	  .signer = S_MAIN, .alg = HS, .claims = GOOD, .scopes = R, .sub = "alice" },
	{ .name = "a large token under 8 KiB", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = GOOD, .pad = 5800, .scopes = R, .sub = "alice" },
};

START_TEST(test_accepted)
{
	struct vcase c = accepted[_i];
	c.result = AUTH_OK;
	run_case(&c);
}
END_TEST

/* ---- key loading ---------------------------------------------------------- */

struct lcase {
	const char *name;
	const char *algorithm;
	const char *key_file;   /* names inside the temp dir */
	const char *keys_dir;
	const char *secret;     /* written to "secret.<row>" and used as key_file */
	bool ok;
	const char *err_has;
};

static const struct lcase loads[] = {
	{ "32-byte secret and a newline", "HS256", NULL, NULL,
	  "0123456789abcdef0123456789abcdef\n", true, NULL },
	{ "32-byte secret without a newline", "HS512", NULL, NULL,
	  "0123456789abcdef0123456789abcdef", true, NULL },
	{ "31-byte secret and a newline", "HS256", NULL, NULL,
	  "0123456789abcdef0123456789abcde\n", false, "at least 32" },
	{ "empty secret", "HS256", NULL, NULL, "", false, "at least 32" },
	{ "algorithm in lower case", "hs384", "hs.key", NULL, NULL, true, NULL },
	{ "missing key file", "HS256", "no-such-file", NULL, NULL, false, "no-such-file" },
	{ "key file is a directory", "HS256", "keys", NULL, NULL, false, "not a regular file" },
	{ "unknown algorithm", "PS256", "hs.key", NULL, NULL, false, "jwt.algorithm PS256" },
	{ "algorithm none", "none", "hs.key", NULL, NULL, false, "jwt.algorithm none" },
	{ "no algorithm", NULL, "hs.key", NULL, NULL, false, "jwt.algorithm" },
	{ "no key at all", "HS256", NULL, NULL, NULL, false, "must be set" },
	{ "key_file and keys_dir", "HS256", "hs.key", "keys", NULL, false, "both set" },
	{ "empty keys_dir", "HS256", NULL, "empty", NULL, false, "no key files" },
	{ "missing keys_dir", "HS256", NULL, "no-such-dir", NULL, false, "no-such-dir" },
	{ "file name that cannot be a kid", "HS256", NULL, "badname", NULL, false, "a..b" },
	{ "keys_dir with RS256 and HMAC secrets", "RS256", NULL, "keys", NULL, false, "key key-a" },
	{ "RS256 with an HMAC secret", "RS256", "hs.key", NULL, NULL, false, "not a PEM public key" },
	{ "RS256 with the private key", "RS256", "rsa.key", NULL, NULL, false, "private key" },
	{ "RS256 with a certificate", "RS256", "rsa.crt", NULL, NULL, false, "certificate" },
	{ "RS256 with a PKCS#1 key", "RS256", "rsa.pkcs1", NULL, NULL, false, "PKCS#1" },
	{ "RS256 with an EC key", "RS256", "ec256.pub", NULL, NULL, false, "not an RSA public key" },
	{ "ES256 with an RSA key", "ES256", "rsa.pub", NULL, NULL, false, "not an EC public key" },
	{ "ES256 with a P-384 key", "ES256", "ec384.pub", NULL, NULL, false, "wrong curve" },
	{ "ES384 with a P-256 key", "ES384", "ec256.pub", NULL, NULL, false, "wrong curve" },
	{ "RS384 with an RSA key", "RS384", "rsa.pub", NULL, NULL, true, NULL },
	{ "damaged PEM body", "RS256", NULL, NULL,
	  "-----BEGIN PUBLIC KEY-----\nMIIB!!!!\n-----END PUBLIC KEY-----\n", false, "damaged" },
};

START_TEST(test_keys_load)
{
	const struct lcase *c = &loads[_i];
	struct es_config cfg;
	struct auth_keys *keys;
	char err[512] = "";

	memset(&cfg, 0, sizeof cfg);
	cfg.jwt.algorithm = (char *)c->algorithm;
	cfg.jwt.leeway = 30;
	if (c->secret) {
		char secret_name[32];
		snprintf(secret_name, sizeof secret_name, "secret.%d", _i);
		write_file(secret_name, c->secret, strlen(c->secret));
		cfg.jwt.key_file = (char *)tmp_path(secret_name);
	} else if (c->key_file) {
		cfg.jwt.key_file = (char *)tmp_path(c->key_file);
	}
	if (c->keys_dir)
		cfg.jwt.keys_dir = (char *)tmp_path(c->keys_dir);
	keys = auth_keys_load(&cfg, err, sizeof err);
	if (c->ok) {
		ck_assert_msg(keys != NULL, "%s: %s", c->name, err);
	} else {
		ck_assert_msg(keys == NULL, "%s: loaded", c->name);
		ck_assert_msg(strstr(err, c->err_has) != NULL, "%s: \"%s\" lacks \"%s\"", c->name,
			      err, c->err_has);
	}
	auth_keys_free(keys);
}
END_TEST

/* A secret shorter than 32 bytes is refused even when it only reaches 32
 * with its newline: exactly one trailing newline is dropped. */
START_TEST(test_secret_newline_counted_once)
{
	struct es_config cfg;
	struct auth_keys *keys;
	char err[512];
	struct auth_principal p;
	const char *why;
	char *tok, hdr[1024];

	profile_config(P_HS256, &cfg);
	write_file("secret.nl2", "0123456789abcdef0123456789abcdef\n\n", 34);
	cfg.jwt.key_file = (char *)tmp_path("secret.nl2");
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s", err);
	/* the secret is the 32 characters and the first newline */
	{
		jwt_t *jwt;
		const char *k = "0123456789abcdef0123456789abcdef\n";
		ck_assert_int_eq(jwt_new(&jwt), 0);
		ck_assert_int_eq(jwt_add_grant_int(jwt, "exp", NOW + 60), 0);
		ck_assert_int_eq(jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)k, 33), 0);
		tok = jwt_encode_str(jwt);
		jwt_free(jwt);
	}
	snprintf(hdr, sizeof hdr, "Bearer %s", tok);
	free(tok);
	ck_assert_int_eq(auth_verify(keys, &cfg, hdr, NOW, &p, &why), AUTH_OK);
	auth_keys_free(keys);
}
END_TEST

/* ---- development tokens ------------------------------------------------- */

START_TEST(test_mint_round_trip)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct auth_principal p;
	const char *why = NULL;
	char err[512] = "", hdr[2048];
	char *tok;

	profile_config(P_ISSAUD, &cfg);
	tok = auth_mint(&cfg, "ops@example.com", "events:read events:write", TENANT_UC, 3600, NOW,
			err, sizeof err);
	ck_assert_msg(tok != NULL, "%s", err);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_ptr_nonnull(keys);
	snprintf(hdr, sizeof hdr, "Bearer %s", tok);
	ck_assert_int_eq(auth_verify(keys, &cfg, hdr, NOW, &p, &why), AUTH_OK);
	ck_assert_str_eq(p.sub, "ops@example.com");
	ck_assert_uint_eq(p.scopes, AUTH_SCOPE_READ | AUTH_SCOPE_WRITE);
	ck_assert(p.has_tenant);
	ck_assert_str_eq(p.tenant, TENANT);
	/* exp is iat + ttl: valid until the leeway after the hour runs out */
	ck_assert_int_eq(auth_verify(keys, &cfg, hdr, NOW + 3600 + 29, &p, &why), AUTH_OK);
	ck_assert_int_eq(auth_verify(keys, &cfg, hdr, NOW + 3600 + 30, &p, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "token expired");
	/* iat is the minting time */
	ck_assert_int_eq(auth_verify(keys, &cfg, hdr, NOW - 31, &p, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "issued in the future");
	free(tok);
	auth_keys_free(keys);
}
END_TEST

START_TEST(test_mint_without_tenant)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct auth_principal p;
	const char *why = NULL;
	char err[512] = "", hdr[2048];
	char *tok;

	profile_config(P_HS256, &cfg);
	tok = auth_mint(&cfg, "cli", "admin", NULL, 60, NOW, err, sizeof err);
	ck_assert_msg(tok != NULL, "%s", err);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_ptr_nonnull(keys);
	snprintf(hdr, sizeof hdr, "Bearer %s", tok);
	ck_assert_int_eq(auth_verify(keys, &cfg, hdr, NOW, &p, &why), AUTH_OK);
	ck_assert(!p.has_tenant);
	ck_assert_uint_eq(p.scopes, AUTH_SCOPE_READ | AUTH_SCOPE_WRITE | AUTH_SCOPE_ADMIN);
	free(tok);
	auth_keys_free(keys);

	/* the same token under require_tenant is a 403, not a 401 */
	profile_config(P_TENANT, &cfg);
	tok = auth_mint(&cfg, "cli", "admin", NULL, 60, NOW, err, sizeof err);
	ck_assert_ptr_nonnull(tok);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_ptr_nonnull(keys);
	snprintf(hdr, sizeof hdr, "Bearer %s", tok);
	ck_assert_int_eq(auth_verify(keys, &cfg, hdr, NOW, &p, &why), AUTH_FORBIDDEN);
	free(tok);
	auth_keys_free(keys);
}
END_TEST

START_TEST(test_mint_keys_dir_uses_last_kid)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct auth_principal p;
	const char *why = NULL;
	char err[512] = "", hdr[2048];
	char *tok;
	jwt_t *jwt = NULL;

	profile_config(P_KEYS, &cfg);
	tok = auth_mint(&cfg, "rotator", "events:write", NULL, 60, NOW, err, sizeof err);
	ck_assert_msg(tok != NULL, "%s", err);
	/* signed with key-b's secret, and says so */
	ck_assert_int_eq(jwt_decode(&jwt, tok, (const unsigned char *)secret_kid_b,
				    (int)strlen(secret_kid_b)), 0);
	ck_assert_str_eq(jwt_get_header(jwt, "kid"), "key-b");
	jwt_free(jwt);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_ptr_nonnull(keys);
	snprintf(hdr, sizeof hdr, "Bearer %s", tok);
	ck_assert_int_eq(auth_verify(keys, &cfg, hdr, NOW, &p, &why), AUTH_OK);
	ck_assert_str_eq(p.sub, "rotator");
	ck_assert_uint_eq(p.scopes, AUTH_SCOPE_WRITE);
	free(tok);
	auth_keys_free(keys);
}
END_TEST

struct mcase {
	const char *name;
	enum profile profile;
	const char *sub;
	const char *tenant;
	long ttl;
	const char *err_has;
};

static const struct mcase mint_refused[] = {
	{ "RS256 has no secret to sign with", P_RS256, "a", NULL, 60, "HS*" },
	{ "ES256 has no secret to sign with", P_ES256, "a", NULL, 60, "HS*" },
	{ "tenant that is not a UUID", P_HS256, "a", "acme", 60, "not a UUID" },
	{ "zero ttl", P_HS256, "a", NULL, 0, "ttl" },
	{ "negative ttl", P_HS256, "a", NULL, -5, "ttl" },
	{ "sub over 255 bytes", P_HS256,
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", NULL, 60, "sub" },
};

START_TEST(test_mint_refused)
{
	const struct mcase *c = &mint_refused[_i];
	struct es_config cfg;
	char err[512] = "";
	char *tok;

	profile_config(c->profile, &cfg);
	tok = auth_mint(&cfg, c->sub, "events:read", c->tenant, c->ttl, NOW, err, sizeof err);
	ck_assert_msg(tok == NULL, "%s: minted", c->name);
	ck_assert_msg(strstr(err, c->err_has) != NULL, "%s: \"%s\" lacks \"%s\"", c->name, err,
		      c->err_has);
}
END_TEST

/* ---- scopes ----------------------------------------------------------- */

static const struct {
	const char *in;
	unsigned bits;
} scopes[] = {
	{ NULL, 0 },
	{ "", 0 },
	{ "events:read", AUTH_SCOPE_READ },
	{ "events:write", AUTH_SCOPE_WRITE },
	{ "events:read events:write", AUTH_SCOPE_READ | AUTH_SCOPE_WRITE },
	{ "  events:write   events:read  ", AUTH_SCOPE_READ | AUTH_SCOPE_WRITE },
	{ "admin", AUTH_SCOPE_ADMIN | AUTH_SCOPE_READ | AUTH_SCOPE_WRITE },
	{ "openid profile", 0 },
	{ "events:readevents:write", 0 },
	{ "EVENTS:READ", 0 },
	{ "events:rea", 0 },
	{ "administrator", 0 },
};

START_TEST(test_parse_scopes)
{
	ck_assert_uint_eq(auth_parse_scopes(scopes[_i].in), scopes[_i].bits);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc;

	tc = tcase_create("refused");
	tcase_add_loop_test(tc, test_refused, 0, (int)(sizeof refused / sizeof refused[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("accepted");
	tcase_add_loop_test(tc, test_accepted, 0, (int)(sizeof accepted / sizeof accepted[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_loop_test(tc, test_keys_load, 0, (int)(sizeof loads / sizeof loads[0]));
	tcase_add_test(tc, test_secret_newline_counted_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("mint");
	tcase_add_test(tc, test_mint_round_trip);
	tcase_add_test(tc, test_mint_without_tenant);
	tcase_add_test(tc, test_mint_keys_dir_uses_last_kid);
	tcase_add_loop_test(tc, test_mint_refused, 0,
			    (int)(sizeof mint_refused / sizeof mint_refused[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("scopes");
	tcase_add_loop_test(tc, test_parse_scopes, 0, (int)(sizeof scopes / sizeof scopes[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	fixture_create();
	sr = srunner_create(auth_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	fixture_remove();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
