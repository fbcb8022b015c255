/* check_keys.c - loading [jwt] keys: HMAC secrets, PEM public keys of the
 * right type and curve, a rotation keys_dir; and picking the key a token's
 * kid names. The keys are made by auth_fixture.h. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "base/config.h"
#include "test_helpers.h"
#include "auth_fixture.h"

/* ---- key loading ---------------------------------------------------------- */

struct lcase {
	const char *name;
	const char *algorithm;
	const char *key_file;   /* names inside the temp dir */
	const char *keys_dir;
	const char *secret;     /* written to "secret.<row>" and used as key_file */
	mode_t mode;            /* secret's mode (0: 0600); else key_file is copied to
	                         * "mode.<row>" with this mode and used instead */
	bool ok;
	const char *err_has;
};

static const struct lcase loads[] = {
	{ "32-byte secret and a newline", "HS256", NULL, NULL,
	  "0123456789abcdef0123456789abcdef\n", 0, true, NULL },
	{ "32-byte secret without a newline", "HS512", NULL, NULL,
	  "0123456789abcdef0123456789abcdef", 0, true, NULL },
	{ "31-byte secret and a newline", "HS256", NULL, NULL,
	  "0123456789abcdef0123456789abcde\n", 0, false, "at least 32" },
	{ "empty secret", "HS256", NULL, NULL, "", 0, false, "at least 32" },
	{ "algorithm in lower case", "hs384", "hs.key", NULL, NULL, 0, true, NULL },
	{ "missing key file", "HS256", "no-such-file", NULL, NULL, 0, false, "no-such-file" },
	{ "key file is a directory", "HS256", "keys", NULL, NULL, 0, false, "not a regular file" },
	{ "unknown algorithm", "PS256", "hs.key", NULL, NULL, 0, false, "jwt.algorithm PS256" },
	{ "algorithm none", "none", "hs.key", NULL, NULL, 0, false, "jwt.algorithm none" },
	{ "no algorithm", NULL, "hs.key", NULL, NULL, 0, false, "jwt.algorithm" },
	{ "no key at all", "HS256", NULL, NULL, NULL, 0, false, "must be set" },
	{ "key_file and keys_dir", "HS256", "hs.key", "keys", NULL, 0, false, "both set" },
	{ "empty keys_dir", "HS256", NULL, "empty", NULL, 0, false, "no key files" },
	{ "missing keys_dir", "HS256", NULL, "no-such-dir", NULL, 0, false, "no-such-dir" },
	{ "file name that cannot be a kid", "HS256", NULL, "badname", NULL, 0, false, "a..b" },
	{ "keys_dir with RS256 and HMAC secrets", "RS256", NULL, "keys", NULL, 0, false, "key key-a" },
	{ "RS256 with an HMAC secret", "RS256", "hs.key", NULL, NULL, 0, false, "not a PEM public key" },
	{ "RS256 with the private key", "RS256", "rsa.key", NULL, NULL, 0, false, "private key" },
	{ "RS256 with a certificate", "RS256", "rsa.crt", NULL, NULL, 0, false, "certificate" },
	{ "RS256 with a PKCS#1 key", "RS256", "rsa.pkcs1", NULL, NULL, 0, false, "PKCS#1" },
	{ "RS256 with an EC key", "RS256", "ec256.pub", NULL, NULL, 0, false, "not an RSA public key" },
	{ "ES256 with an RSA key", "ES256", "rsa.pub", NULL, NULL, 0, false, "not an EC public key" },
	{ "ES256 with a P-384 key", "ES256", "ec384.pub", NULL, NULL, 0, false, "wrong curve" },
	{ "ES384 with a P-256 key", "ES384", "ec256.pub", NULL, NULL, 0, false, "wrong curve" },
	{ "RS384 with an RSA key", "RS384", "rsa.pub", NULL, NULL, 0, true, NULL },
	{ "damaged PEM body", "RS256", NULL, NULL,
	  "-----BEGIN PUBLIC KEY-----\nMIIB!!!!\n-----END PUBLIC KEY-----\n", 0, false, "damaged" },

	/* whoever reads a secret mints tokens; whoever writes a key, too */
	{ "secret readable by the group", "HS256", NULL, NULL,
	  "0123456789abcdef0123456789abcdef\n", 0640, false, "mode 0640" },
	{ "secret readable by others", "HS256", NULL, NULL,
	  "0123456789abcdef0123456789abcdef\n", 0604, false, "mode 0604" },
	{ "secret writable by the group", "HS256", NULL, NULL,
	  "0123456789abcdef0123456789abcdef\n", 0620, false, "group or others may access" },
	{ "secret read-only for its owner", "HS256", NULL, NULL,
	  "0123456789abcdef0123456789abcdef\n", 0400, true, NULL },
	{ "public key readable by all", "RS256", "rsa.pub", NULL, NULL, 0644, true, NULL },
	{ "public key writable by the group", "RS256", "rsa.pub", NULL, NULL, 0664, false,
	  "chmod go-w" },
	{ "public key writable by others", "ES256", "ec256.pub", NULL, NULL, 0646, false,
	  "mode 0646" },
};

/* A copy of the fixture's file name with the given mode; returns its path. */
static const char *copy_with_mode(const char *name, int row, mode_t mode)
{
	char copy[32];
	size_t len;
	unsigned char *data = slurp(name, &len);

	snprintf(copy, sizeof copy, "mode.%d", row);
	write_file(copy, (const char *)data, len);
	free(data);
	ck_assert_int_eq(chmod(tmp_path(copy), mode), 0);
	return tmp_path(copy);
}

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
		ck_assert_int_eq(chmod(tmp_path(secret_name), c->mode ? c->mode : 0600), 0);
		cfg.jwt.key_file = (char *)tmp_path(secret_name);
	} else if (c->key_file && c->mode) {
		cfg.jwt.key_file = (char *)copy_with_mode(c->key_file, _i, c->mode);
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

/* A keys_dir others may write could be handed a key of theirs. */
START_TEST(test_keys_dir_writable_by_others)
{
	struct es_config cfg;
	struct auth_keys *keys;
	char err[512] = "";

	ck_assert_int_eq(mkdir(tmp_path("open-dir"), 0700), 0);
	write_secret("open-dir/key-a", secret_kid_a);
	profile_config(P_KEYS, &cfg);
	cfg.jwt.keys_dir = (char *)tmp_path("open-dir");
	ck_assert_int_eq(chmod(tmp_path("open-dir"), 0777), 0);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys == NULL, "loaded from a directory others may write");
	ck_assert_msg(strstr(err, "mode 0777") != NULL, "%s", err);

	ck_assert_int_eq(chmod(tmp_path("open-dir"), 0755), 0);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s", err);
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
	ck_assert_int_eq(chmod(tmp_path("secret.nl2"), 0600), 0);
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

/* ---- what a key set says about itself ----------------------------------- */

static const struct {
	enum profile profile;
	const char *algorithm;
	bool hmac;
} algs[] = {
	{ P_HS256, "HS256", true },
	{ P_HS384, "HS384", true },
	{ P_HS512, "HS512", true },
	{ P_RS256, "RS256", false },
	{ P_RS512, "RS512", false },
	{ P_ES256, "ES256", false },
	{ P_ES384, "ES384", false },
	{ P_KEYS, "HS256", true },
};

START_TEST(test_keys_algorithm)
{
	struct es_config cfg;
	struct auth_keys *keys;
	char err[512];

	profile_config(algs[_i].profile, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s", err);
	ck_assert_str_eq(auth_keys_algorithm(keys), algs[_i].algorithm);
	ck_assert_int_eq(auth_keys_hmac(keys), algs[_i].hmac);
	auth_keys_free(keys);
}
END_TEST

/* "hs384" in the configuration is pinned as libjwt and JOSE spell it. */
START_TEST(test_keys_algorithm_canonical)
{
	struct es_config cfg;
	struct auth_keys *keys;
	char err[512];

	profile_config(P_HS256, &cfg);
	cfg.jwt.algorithm = (char *)"hs384";
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s", err);
	ck_assert_str_eq(auth_keys_algorithm(keys), "HS384");
	auth_keys_free(keys);
}
END_TEST

/* ---- picking a key by kid ------------------------------------------------- */

struct scase {
	const char *name;
	enum profile profile;
	bool has_kid;
	const char *kid;        /* NULL with has_kid: a kid that is not a string */
	long kid_len;           /* -1: strlen(kid) */
	const char *want_kid;   /* the key picked: its kid, "" for key_file */
	const char *why;        /* when no key is picked */
};

static const struct scase selects[] = {
	{ "key_file, no kid", P_HS256, false, NULL, 0, "", NULL },
	{ "key_file ignores a kid", P_HS256, true, "../whatever", -1, "", NULL },
	{ "key_file ignores a kid that is not a string", P_HS256, true, NULL, 0, "", NULL },
	{ "keys_dir, kid key-a", P_KEYS, true, "key-a", -1, "key-a", NULL },
	{ "keys_dir, kid key-b", P_KEYS, true, "key-b", -1, "key-b", NULL },
	{ "keys_dir with one key, no kid", P_KEYS1, false, NULL, 0, "only", NULL },
	{ "keys_dir with two keys, no kid", P_KEYS, false, NULL, 0, NULL, "missing key id" },
	{ "kid that is not a string", P_KEYS, true, NULL, 0, NULL, "invalid key id" },
	{ "empty kid", P_KEYS, true, "", -1, NULL, "invalid key id" },
	{ "kid of a hidden file", P_KEYS, true, ".hidden", -1, NULL, "invalid key id" },
	{ "kid with a slash", P_KEYS, true, "subdir/key-a", -1, NULL, "invalid key id" },
	{ "kid with ..", P_KEYS, true, "a..b", -1, NULL, "invalid key id" },
	{ "kid with a NUL inside", P_KEYS, true, "key-a", 7, NULL, "invalid key id" },
	{ "unknown kid", P_KEYS, true, "key-c", -1, NULL, "unknown key id" },
};

START_TEST(test_keys_select)
{
	const struct scase *c = &selects[_i];
	struct es_config cfg;
	struct auth_keys *keys;
	const struct auth_key *key;
	const char *why = NULL;
	char err[512];
	size_t len = c->kid_len < 0 ? strlen(c->kid) : (size_t)c->kid_len;

	profile_config(c->profile, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s: %s", c->name, err);
	key = auth_keys_select(keys, c->has_kid, c->kid, len, &why);
	if (c->want_kid) {
		ck_assert_msg(key != NULL, "%s: no key (%s)", c->name, why ? why : "(null)");
		ck_assert_str_eq(key->kid ? key->kid : "", c->want_kid);
		ck_assert_uint_gt(key->len, 0);
	} else {
		ck_assert_msg(key == NULL, "%s: picked %s", c->name, key->kid ? key->kid : "key_file");
		ck_assert_str_eq(why, c->why);
	}
	auth_keys_free(keys);
}
END_TEST

/* Development tokens are signed with the key file, or the last kid. */
START_TEST(test_keys_signing)
{
	struct es_config cfg;
	struct auth_keys *keys;
	char err[512];

	profile_config(P_KEYS, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s", err);
	ck_assert_str_eq(auth_keys_signing(keys)->kid, "key-b");
	auth_keys_free(keys);

	profile_config(P_HS256, &cfg);
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s", err);
	ck_assert_ptr_null(auth_keys_signing(keys)->kid);
	ck_assert_uint_eq(auth_keys_signing(keys)->len, strlen(secret_main));
	ck_assert_mem_eq(auth_keys_signing(keys)->material, secret_main, strlen(secret_main));
	auth_keys_free(keys);
}
END_TEST

/* The strength evstorectl check reports: what each key is worth in bits. */
START_TEST(test_key_bits)
{
	static const struct { enum profile p; int bits; } cases[] = {
		{ P_HS256, 8 * (int)(sizeof secret_main - 1) }, { P_RS256, 2048 }, { P_RS512, 2048 },
		{ P_ES256, 256 }, { P_ES384, 384 },
	};
	struct es_config cfg;
	struct auth_keys *keys;
	char err[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		profile_config(cases[i].p, &cfg);
		keys = auth_keys_load(&cfg, err, sizeof err);
		ck_assert_msg(keys != NULL, "%s", err);
		ck_assert_int_eq(auth_key_bits(keys, auth_keys_signing(keys)), cases[i].bits);
		auth_keys_free(keys);
	}
	run_openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key");
	run_openssl("pkey -in rsa1024.key -pubout -out rsa1024.pub");
	profile_config(P_RS256, &cfg);
	cfg.jwt.key_file = (char *)tmp_path("rsa1024.pub");
	keys = auth_keys_load(&cfg, err, sizeof err);
	ck_assert_msg(keys != NULL, "%s", err);
	ck_assert_int_eq(auth_key_bits(keys, auth_keys_signing(keys)), 1024);
	auth_keys_free(keys);
}
END_TEST

static const struct {
	const char *algorithm;
	int bits;
	bool fail, warn;
} strengths[] = {
	{ "HS256", 256, false, false },
	{ "HS256", 304, false, false },
	{ "HS384", 304, false, true },   /* RFC 7518 3.2: at least the hash's size */
	{ "HS384", 384, false, false },
	{ "HS512", 504, false, true },
	{ "HS512", 512, false, false },
	{ "RS256", 1024, true, false },
	{ "RS384", 2047, true, false },
	{ "RS256", 2048, false, false },
	{ "RS512", 4096, false, false },
	{ "RS256", 0, true, false },     /* a modulus that could not be read */
	{ "ES256", 256, false, false },
	{ "ES384", 384, false, false },
};

START_TEST(test_key_strength)
{
	struct auth_strength st;

	auth_keys_judge_strength(strengths[_i].algorithm, strengths[_i].bits, &st);
	ck_assert_msg(st.fail == strengths[_i].fail && st.warn == strengths[_i].warn,
		      "%s %d bits: fail %d warn %d (%s)", strengths[_i].algorithm, strengths[_i].bits,
		      st.fail, st.warn, st.why);
	ck_assert_ptr_nonnull(strstr(st.why, strengths[_i].algorithm));
}
END_TEST

static Suite *keys_suite(void)
{
	Suite *s = suite_create("keys");
	TCase *tc;

	tc = tcase_create("load");
	tcase_add_loop_test(tc, test_keys_load, 0, (int)(sizeof loads / sizeof loads[0]));
	tcase_add_test(tc, test_secret_newline_counted_once);
	tcase_add_test(tc, test_keys_dir_writable_by_others);
	suite_add_tcase(s, tc);

	tc = tcase_create("algorithm");
	tcase_add_loop_test(tc, test_keys_algorithm, 0, (int)(sizeof algs / sizeof algs[0]));
	tcase_add_test(tc, test_keys_algorithm_canonical);
	suite_add_tcase(s, tc);

	tc = tcase_create("select");
	tcase_add_loop_test(tc, test_keys_select, 0, (int)(sizeof selects / sizeof selects[0]));
	tcase_add_test(tc, test_keys_signing);
	suite_add_tcase(s, tc);

	tc = tcase_create("strength");
	tcase_add_test(tc, test_key_bits);
	tcase_add_loop_test(tc, test_key_strength, 0, (int)(sizeof strengths / sizeof strengths[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	fixture_create("check_keys");
	rc = check_run(keys_suite());
	fixture_remove();
	return rc;
}
