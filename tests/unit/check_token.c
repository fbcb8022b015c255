/* check_token.c - development tokens (evstorectl token): minted with the
 * configured HS* secret and accepted by verification, or refused with a
 * reason. The keys are made by auth_fixture.h. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/token.h"
#include "base/config.h"
#include "test_helpers.h"
#include "auth_fixture.h"

/* Verifies tok as a bearer token under cfg at now, with cfg's keys
 * loaded afresh: what a worker would answer. *p and *why as auth_verify. */
static enum auth_result verify_minted(const struct es_config *cfg, const char *tok, long now,
				      struct auth_principal *p, const char **why)
{
	char err[512] = "", hdr[2048];
	struct auth_keys *keys = auth_keys_load(cfg, err, sizeof err);
	enum auth_result rc;

	ck_assert_msg(keys != NULL, "%s", err);
	snprintf(hdr, sizeof hdr, "Bearer %s", tok);
	rc = auth_verify(keys, cfg, hdr, now, p, why);
	auth_keys_free(keys);
	return rc;
}

START_TEST(test_mint_round_trip)
{
	struct es_config cfg;
	struct auth_principal p;
	const char *why = NULL;
	char err[512] = "";
	char *tok;

	profile_config(P_ISSAUD, &cfg);
	tok = auth_token_mint(&cfg, "ops@example.com", "events:read events:write", TENANT_UC, 3600,
			      NOW, err, sizeof err);
	ck_assert_msg(tok != NULL, "%s", err);
	ck_assert_int_eq(verify_minted(&cfg, tok, NOW, &p, &why), AUTH_OK);
	ck_assert_str_eq(p.sub, "ops@example.com");
	ck_assert_uint_eq(p.scopes, AUTH_SCOPE_READ | AUTH_SCOPE_WRITE);
	ck_assert(p.has_tenant);
	ck_assert_str_eq(p.tenant, TENANT);
	/* exp is iat + ttl: valid until the leeway after the hour runs out */
	ck_assert_int_eq(verify_minted(&cfg, tok, NOW + 3600 + 29, &p, &why), AUTH_OK);
	ck_assert_int_eq(verify_minted(&cfg, tok, NOW + 3600 + 30, &p, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "token expired");
	/* iat is the minting time */
	ck_assert_int_eq(verify_minted(&cfg, tok, NOW - 31, &p, &why), AUTH_INVALID);
	ck_assert_str_eq(why, "issued in the future");
	free(tok);
}
END_TEST

START_TEST(test_mint_without_tenant)
{
	struct es_config cfg;
	struct auth_principal p;
	const char *why = NULL;
	char err[512] = "";
	char *tok;

	profile_config(P_HS256, &cfg);
	tok = auth_token_mint(&cfg, "cli", "admin", NULL, 60, NOW, err, sizeof err);
	ck_assert_msg(tok != NULL, "%s", err);
	ck_assert_int_eq(verify_minted(&cfg, tok, NOW, &p, &why), AUTH_OK);
	ck_assert(!p.has_tenant);
	ck_assert_uint_eq(p.scopes, AUTH_SCOPE_READ | AUTH_SCOPE_WRITE | AUTH_SCOPE_ADMIN);
	free(tok);

	/* the same token under require_tenant is a 403, not a 401 */
	profile_config(P_TENANT, &cfg);
	tok = auth_token_mint(&cfg, "cli", "admin", NULL, 60, NOW, err, sizeof err);
	ck_assert_ptr_nonnull(tok);
	ck_assert_int_eq(verify_minted(&cfg, tok, NOW, &p, &why), AUTH_FORBIDDEN);
	free(tok);
}
END_TEST

START_TEST(test_mint_keys_dir_uses_last_kid)
{
	struct es_config cfg;
	struct auth_principal p;
	const char *why = NULL;
	char err[512] = "";
	char *tok;
	jwt_t *jwt = NULL;

	profile_config(P_KEYS, &cfg);
	tok = auth_token_mint(&cfg, "rotator", "events:write", NULL, 60, NOW, err, sizeof err);
	ck_assert_msg(tok != NULL, "%s", err);
	/* signed with key-b's secret, and says so */
	ck_assert_int_eq(jwt_decode(&jwt, tok, (const unsigned char *)secret_kid_b,
				    (int)strlen(secret_kid_b)), 0);
	ck_assert_str_eq(jwt_get_header(jwt, "kid"), "key-b");
	jwt_free(jwt);
	ck_assert_int_eq(verify_minted(&cfg, tok, NOW, &p, &why), AUTH_OK);
	ck_assert_str_eq(p.sub, "rotator");
	ck_assert_uint_eq(p.scopes, AUTH_SCOPE_WRITE);
	free(tok);
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
	tok = auth_token_mint(&cfg, c->sub, "events:read", c->tenant, c->ttl, NOW, err, sizeof err);
	ck_assert_msg(tok == NULL, "%s: minted", c->name);
	ck_assert_msg(strstr(err, c->err_has) != NULL, "%s: \"%s\" lacks \"%s\"", c->name, err,
		      c->err_has);
}
END_TEST

static Suite *token_suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc;

	tc = tcase_create("mint");
	tcase_add_test(tc, test_mint_round_trip);
	tcase_add_test(tc, test_mint_without_tenant);
	tcase_add_test(tc, test_mint_keys_dir_uses_last_kid);
	tcase_add_loop_test(tc, test_mint_refused, 0,
			    (int)(sizeof mint_refused / sizeof mint_refused[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	fixture_create("check_token");
	rc = check_run(token_suite());
	fixture_remove();
	return rc;
}
