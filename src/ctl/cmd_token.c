/* cmd_token.c - evstorectl token: mints a development token signed with
 * the configured HMAC key. */
#include "buildconf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/token.h"
#include "base/config.h"
#include "base/uuidtext.h"
#include "ctl/commands.h"

#define TOKEN_DEFAULT_TTL 3600

/* True when every space-separated word is a scope the server knows, so a
 * typo does not mint a token that is refused later with a puzzling 403. */
static bool token_scopes_known(const char *scope, const char **bad, size_t *bad_len)
{
	static const char *const known[] = { "events:read", "events:write", "admin", "personal:read" };
	const char *p = scope;

	while (*p) {
		size_t n;
		bool ok = false;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n == 0)
			break;
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			if (strlen(known[i]) == n && strncmp(known[i], p, n) == 0)
				ok = true;
		if (!ok) {
			*bad = p;
			*bad_len = n;
			return false;
		}
		p += n;
	}
	return true;
}

int cmd_token(const struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "sub", required_argument, NULL, 's' },
		{ "scope", required_argument, NULL, 'p' },
		{ "tenant", required_argument, NULL, 't' },
		{ "ttl", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *sub = NULL, *scope = NULL, *tenant_arg = NULL, *bad;
	char tenant[UUIDTEXT_LEN], err[512], *end, *token;
	struct es_config cfg;
	long ttl = TOKEN_DEFAULT_TTL;
	size_t bad_len;
	int opt;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			sub = optarg;
			break;
		case 'p':
			scope = optarg;
			break;
		case 't':
			tenant_arg = optarg;
			break;
		case 'l':
			errno = 0;
			ttl = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || ttl <= 0)
				return ctl_usage_error("token", "--ttl wants a positive number of seconds,"
						       " not '%s'", optarg);
			break;
		case 'h':
			ctl_print_usage(stdout, "token");
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error("token", "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("token", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("token", "unexpected argument '%s'", argv[optind]);
	if (!sub || !*sub)
		return ctl_usage_error("token", "--sub is required");
	if (!scope)
		return ctl_usage_error("token", "--scope is required");
	if (!token_scopes_known(scope, &bad, &bad_len))
		return ctl_usage_error("token", "unknown scope '%.*s' (known: events:read,"
				       " events:write, admin, personal:read)", (int)bad_len, bad);
	if (tenant_arg && !uuidtext_parse(tenant_arg, tenant))
		return ctl_usage_error("token", "--tenant wants a UUID, not '%s'", tenant_arg);

	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	token = auth_token_mint(&cfg, sub, scope, tenant_arg ? tenant : NULL, ttl, time(NULL),
				err, sizeof err);
	config_free(&cfg);
	if (!token) {
		ctl_error("token: %s", err);
		return CTL_EXIT_FAILURE;
	}
	printf("%s\n", token);
	free(token);
	return CTL_EXIT_OK;
}
