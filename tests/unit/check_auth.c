/* check_auth.c - bearer token verification (doc/authentication.md) and
 * scope parsing. Keys come from auth_fixture.h; tokens are minted with
 * libjwt, or built by hand where libjwt refuses to (a duplicated alg, a
 * header that is not JSON). */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/tokencache.h"
#include "base/config.h"
#include "test_helpers.h"
#include "auth_fixture.h"

static const char secret_other[] = "other-secret-0123456789abcdefghijklmno";

/* ---- token building --------------------------------------------------- */

enum signer {
	S_MAIN,          /* the HS secret of hs.key */
	S_OTHER,         /* some other HS secret */
	S_RSA,           /* the RSA private key */
	S_RSA_PUB_HMAC,  /* HMAC keyed with the RSA public key's PEM bytes */
	S_EC256, S_EC384,
	S_KID_A, S_KID_B,
	S_NONE,          /* alg none, no signature */
	S_RAW,           /* hand-built; raw_header is the header JSON, signature bogus */
	S_RAW_SIGNED     /* hand-built as S_RAW, HS256-signed with the main secret */
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
	case S_NONE: case S_RAW: case S_RAW_SIGNED: break;
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

/* The HS256 signature of signing_input under secret_main, base64url: by
 * the openssl command line, as libjwt cannot sign JSON it did not build
 * (a claim given twice). Returns a new string. */
static char *hs256_signature(const char *signing_input)
{
	char cmd[256];
	unsigned char *mac;
	size_t len;
	char *sig;

	write_file("signing-input", signing_input, strlen(signing_input));
	snprintf(cmd, sizeof cmd, "dgst -sha256 -hmac '%s' -binary -out mac.bin signing-input",
		 secret_main);
	run_openssl(cmd);
	mac = slurp("mac.bin", &len);
	sig = b64url((const char *)mac, len);
	free(mac);
	return sig;
}

/* raw_token with a real HS256 signature. Returns a new string. */
static char *raw_signed_token(const char *header, const char *claims)
{
	char *unsigned_tok = raw_token(header, claims, ""), *sig, *tok;
	size_t n;

	unsigned_tok[strlen(unsigned_tok) - 1] = '\0'; /* the trailing '.' */
	sig = hs256_signature(unsigned_tok);
	n = strlen(unsigned_tok) + strlen(sig) + 2;
	tok = malloc(n);
	ck_assert_ptr_nonnull(tok);
	snprintf(tok, n, "%s.%s", unsigned_tok, sig);
	free(unsigned_tok);
	free(sig);
	return tok;
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
	else if (c->signer == S_RAW_SIGNED)
		tok = raw_signed_token(c->headers, c->claims);
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

/* What a verification of case c answered (how: which path). */
static void check_answer(const struct vcase *c, const char *how, enum auth_result r, const char *why,
			 const struct auth_principal *p)
{
	ck_assert_msg(r == c->result, "%s (%s): result %d, expected %d (why: %s)", c->name, how, (int)r,
		      (int)c->result, why ? why : "(null)");
	if (c->why)
		ck_assert_msg(why && strcmp(why, c->why) == 0, "%s (%s): why \"%s\", expected \"%s\"",
			      c->name, how, why ? why : "(null)", c->why);
	else if (r != AUTH_OK)
		ck_assert_msg(why == NULL, "%s (%s): why \"%s\" for a missing token", c->name, how, why);
	if (r == AUTH_OK) {
		ck_assert_msg(p->scopes == c->scopes, "%s (%s): scopes %#x, expected %#x", c->name, how,
			      p->scopes, c->scopes);
		ck_assert_str_eq(p->sub, c->sub ? c->sub : "");
		ck_assert_int_eq(p->has_tenant, c->tenant != NULL);
		if (c->tenant)
			ck_assert_str_eq(p->tenant, c->tenant);
	}
	if (r == AUTH_INVALID || r == AUTH_MISSING) {
		ck_assert_int_eq(p->scopes, 0);
		ck_assert_int_eq(p->has_tenant, 0);
		ck_assert_str_eq(p->sub, "");
	}
}

/* Each case three ways: auth_verify, then through a worker's token cache
 * twice (the first verifies and may remember, the second may answer from
 * memory): all three must give the same answer. */
static void run_case(const struct vcase *c)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct auth_principal p;
	struct token_cache cache;
	char err[512];
	const char *why = "unset";
	enum auth_result r;
	char *hdr;

	profile_config(c->profile, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s: keys: %s", c->name, err);
	hdr = case_header(c);
	r = auth_verify(keys, &cfg, hdr, (time_t)NOW, &p, &why);
	check_answer(c, "verified", r, why, &p);
	memset(&cache, 0, sizeof cache);
	for (int i = 0; i < 2; i++) {
		memset(&p, 0xa5, sizeof p);
		why = "unset";
		r = token_cache_verify(&cache, keys, &cfg, hdr, (time_t)NOW, &p, &why);
		check_answer(c, i ? "cached, again" : "cached, first", r, why, &p);
	}
	token_cache_clear(&cache);
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
	  .result = AUTH_INVALID, .why = "duplicate header parameter" },
	{ .name = "typ given twice, signed", .profile = P_HS256, .signer = S_RAW_SIGNED,
	  .headers = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"typ\":\"JWT\"}", .claims = GOOD,
	  .result = AUTH_INVALID, .why = "duplicate header parameter" },

	/* json-c and libjwt keep the last of two equal keys: the first would
	 * be what a reviewer reads, the last what is granted. */
	{ .name = "scope given twice, signed", .profile = P_HS256, .signer = S_RAW_SIGNED,
	  .headers = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	  .claims = "{\"exp\":" EXP_OK ",\"scope\":\"events:read\",\"scope\":\"admin\"}",
	  .result = AUTH_INVALID, .why = "duplicate claim" },
	{ .name = "tenant given twice, signed", .profile = P_HS256, .signer = S_RAW_SIGNED,
	  .headers = "{\"alg\":\"HS256\"}",
	  .claims = "{\"exp\":" EXP_OK ",\"tenant_id\":\"" TENANT "\",\"tenant_id\":\""
		    "6f1c2a3b-0000-4000-8000-000000000001\"}",
	  .result = AUTH_INVALID, .why = "duplicate claim" },
	{ .name = "exp given twice, signed", .profile = P_HS256, .signer = S_RAW_SIGNED,
	  .headers = "{\"alg\":\"HS256\"}",
	  .claims = "{\"exp\":" PAST_BEYOND ",\"exp\":" EXP_OK "}",
	  .result = AUTH_INVALID, .why = "duplicate claim" },
	{ .name = "a nested key given twice, signed", .profile = P_HS256, .signer = S_RAW_SIGNED,
	  .headers = "{\"alg\":\"HS256\"}",
	  .claims = "{\"exp\":" EXP_OK ",\"ext\":{\"a\":1,\"a\":2}}",
	  .result = AUTH_INVALID, .why = "duplicate claim" },
	{ .name = "a claim given twice, bad signature", .profile = P_HS256, .signer = S_RAW,
	  .headers = "{\"alg\":\"HS256\"}",
	  .claims = "{\"exp\":" EXP_OK ",\"sub\":\"a\",\"sub\":\"b\"}",
	  .result = AUTH_INVALID, .why = "duplicate claim" },

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
	{ .name = "tenant is the nil UUID", .profile = P_HS256, .signer = S_MAIN, .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"tenant_id\":\"00000000-0000-0000-0000-000000000000\"}",
	  .result = AUTH_INVALID, .why = "tenant claim is the nil UUID" },
	{ .name = "nil UUID tenant with require_tenant", .profile = P_TENANT, .signer = S_MAIN,
	  .alg = HS,
	  .claims = "{\"exp\":" EXP_OK ",\"tenant_id\":\"00000000-0000-0000-0000-000000000000\"}",
	  .result = AUTH_INVALID, .why = "tenant claim is the nil UUID" },
	{ .name = "exp beyond max_lifetime and the leeway", .profile = P_MAXLIFE, .signer = S_MAIN,
	  .alg = HS, .claims = "{\"exp\":" EXP_1H_BEYOND "}", .result = AUTH_INVALID,
	  .why = "exp too far in the future" },
	{ .name = "exp years ahead with max_lifetime", .profile = P_MAXLIFE, .signer = S_MAIN,
	  .alg = HS, .claims = "{\"exp\":4102444800,\"iat\":" PAST_WITHIN "}",
	  .result = AUTH_INVALID, .why = "exp too far in the future" },
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
	{ .name = "exp at max_lifetime plus the leeway", .profile = P_MAXLIFE, .signer = S_MAIN,
	  .alg = HS, .claims = "{\"exp\":" EXP_1H_LEEWAY ",\"sub\":\"s\"}", .sub = "s" },
	{ .name = "exp years ahead without max_lifetime", .profile = P_HS256, .signer = S_MAIN,
	  .alg = HS, .claims = "{\"exp\":4102444800}" },
	{ .name = "raw signed token with distinct keys", .profile = P_HS256, .signer = S_RAW_SIGNED,
	  .headers = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
	  .claims = "{\"exp\":" EXP_OK ",\"scope\":\"events:read\",\"ext\":{\"a\":1,\"b\":{\"a\":2}}}",
	  .scopes = R },
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

/* ---- the token cache as the clock moves and tokens change ------------- */

/* "Bearer " and a token signed with the main secret. */
static char *bearer(const char *claims)
{
	char *tok = mint(S_MAIN, HS, NULL, claims, 0), *hdr;
	size_t n = strlen(tok) + 8;

	hdr = malloc(n);
	ck_assert_ptr_nonnull(hdr);
	snprintf(hdr, n, "Bearer %s", tok);
	free(tok);
	return hdr;
}

static enum auth_result cached(struct token_cache *cache, const struct auth_keys *keys,
			       const struct es_config *cfg, const char *hdr, long now, const char **why)
{
	struct auth_principal p;

	return token_cache_verify(cache, keys, cfg, hdr, (time_t)now, &p, why);
}

/* A remembered token still expires: the answer at each moment is
 * auth_verify's at that moment. */
START_TEST(test_cache_expiry)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct token_cache cache;
	char err[256], *hdr = bearer("{\"exp\":" EXP_OK ",\"nbf\":" FUTURE_BEYOND ",\"sub\":\"alice\"}");
	const char *why = NULL;

	profile_config(P_HS256, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_ptr_nonnull(keys);
	memset(&cache, 0, sizeof cache);
	ck_assert_int_eq(cached(&cache, keys, &cfg, hdr, NOW, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "token not yet valid");
	/* refused, so not remembered: once valid, it is verified in full */
	ck_assert_int_eq(cached(&cache, keys, &cfg, hdr, NOW + 120 - 30, &why), AUTH_OK);
	ck_assert_int_eq(cached(&cache, keys, &cfg, hdr, NOW + 3600 + 29, &why), AUTH_OK);
	ck_assert_ptr_null(why);
	ck_assert_int_eq(cached(&cache, keys, &cfg, hdr, NOW + 3600 + 30, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "token expired");
	ck_assert_int_eq(cached(&cache, keys, &cfg, hdr, NOW + 3600 + 30, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "token expired");
	token_cache_clear(&cache);
	free(hdr);
	auth_keys_free(keys);
}
END_TEST

/* A token that differs from a remembered one only in its signature, of
 * the same length, is verified, not recognised. */
START_TEST(test_cache_forged_signature)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct token_cache cache;
	char err[256], *hdr = bearer(GOOD), *forged = strdup(hdr);
	const char *why = NULL;
	size_t n = strlen(forged);

	ck_assert_ptr_nonnull(forged);
	forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A';
	profile_config(P_HS256, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_ptr_nonnull(keys);
	memset(&cache, 0, sizeof cache);
	ck_assert_int_eq(cached(&cache, keys, &cfg, hdr, NOW, &why), AUTH_OK);
	ck_assert_int_eq(cached(&cache, keys, &cfg, forged, NOW, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "bad signature");
	ck_assert_int_eq(cached(&cache, keys, &cfg, hdr, NOW, &why), AUTH_OK);
	token_cache_clear(&cache);
	free(hdr);
	free(forged);
	auth_keys_free(keys);
}
END_TEST

/* More tokens than slots: each still answers with its own principal. */
START_TEST(test_cache_many_tokens)
{
	struct es_config cfg;
	struct auth_keys *keys;
	struct token_cache cache;
	char err[256], *hdr[TOKEN_CACHE_SLOTS + 5];
	const size_t n = sizeof hdr / sizeof hdr[0];

	profile_config(P_HS256, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_ptr_nonnull(keys);
	memset(&cache, 0, sizeof cache);
	for (size_t i = 0; i < n; i++) {
		char claims[128];

		snprintf(claims, sizeof claims, "{\"exp\":" EXP_OK ",\"sub\":\"user-%zu\",\"scope\":\"%s\"}", i,
			 i % 2 ? "events:write" : "events:read");
		hdr[i] = bearer(claims);
	}
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < n; i++) {
			struct auth_principal p;
			char sub[32];

			ck_assert_int_eq(token_cache_verify(&cache, keys, &cfg, hdr[i], (time_t)NOW, &p, NULL),
					 AUTH_OK);
			snprintf(sub, sizeof sub, "user-%zu", i);
			ck_assert_str_eq(p.sub, sub);
			ck_assert_uint_eq(p.scopes, i % 2 ? AUTH_SCOPE_WRITE : AUTH_SCOPE_READ);
		}
	for (size_t i = 0; i < n; i++)
		free(hdr[i]);
	token_cache_clear(&cache);
	auth_keys_free(keys);
}
END_TEST

/* Emptied with the keys it was filled under (as a reload does), the cache
 * no longer answers for a key that is gone. */
START_TEST(test_cache_cleared_with_keys)
{
	struct es_config cfg, cfg2;
	struct auth_keys *keys, *keys2;
	struct token_cache cache;
	char err[256], *hdr = mint(S_KID_A, HS, "{\"kid\":\"key-a\"}", GOOD, 0), *b;
	const char *why = NULL;

	b = malloc(strlen(hdr) + 8);
	ck_assert_ptr_nonnull(b);
	sprintf(b, "Bearer %s", hdr);
	profile_config(P_KEYS, &cfg);
	profile_config(P_KEYS1, &cfg2);
	keys = auth_keys_load(&cfg, err, sizeof err);
	keys2 = auth_keys_load(&cfg2, err, sizeof err);
	ck_assert_ptr_nonnull(keys);
	ck_assert_ptr_nonnull(keys2);
	memset(&cache, 0, sizeof cache);
	ck_assert_int_eq(cached(&cache, keys, &cfg, b, NOW, &why), AUTH_OK);
	token_cache_clear(&cache);
	ck_assert_int_eq(cached(&cache, keys2, &cfg2, b, NOW, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "unknown key id");
	token_cache_clear(&cache);
	free(hdr);
	free(b);
	auth_keys_free(keys);
	auth_keys_free(keys2);
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
	{ "events:read personal:read", AUTH_SCOPE_READ | AUTH_SCOPE_PERSONAL_READ },
	{ "personal:reader", 0 },
};

START_TEST(test_parse_scopes)
{
	ck_assert_uint_eq(auth_parse_scopes(scopes[_i].in), scopes[_i].bits);
}
END_TEST

static const struct {
	const char *configured;
	const char *claim;
} tenant_claims[] = {
	{ NULL, "tenant_id" },
	{ "", "tenant_id" },
	{ "org", "org" },
};

START_TEST(test_tenant_claim)
{
	struct es_config cfg;

	memset(&cfg, 0, sizeof cfg);
	cfg.jwt.tenant_claim = (char *)tenant_claims[_i].configured;
	ck_assert_str_eq(auth_tenant_claim(&cfg), tenant_claims[_i].claim);
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

	tc = tcase_create("token_cache");
	tcase_add_test(tc, test_cache_expiry);
	tcase_add_test(tc, test_cache_forged_signature);
	tcase_add_test(tc, test_cache_many_tokens);
	tcase_add_test(tc, test_cache_cleared_with_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("scopes");
	tcase_add_loop_test(tc, test_parse_scopes, 0, (int)(sizeof scopes / sizeof scopes[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("tenant_claim");
	tcase_add_loop_test(tc, test_tenant_claim, 0,
			    (int)(sizeof tenant_claims / sizeof tenant_claims[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	fixture_create("check_auth");
	rc = check_run(auth_suite());
	fixture_remove();
	return rc;
}
