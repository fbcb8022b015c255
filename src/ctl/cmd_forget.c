/* cmd_forget.c - evstorectl forget: erase a data subject's personal data
 * by destroying its key (privacy/erasure.h), with no server or runner
 * needed. The audit record names the login that ran it. */
#include "buildconf.h"

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/uuidtext.h"
#include "ctl/commands.h"
#include "pg/db.h"
#include "privacy/erasure.h"
#include "privacy/personal.h"

/* Who runs the command: the login behind sudo when there is one. */
static const char *ctl_actor(char *buf, size_t len)
{
	const char *sudo = getenv("SUDO_USER");
	struct passwd *pw = getpwuid(geteuid());

	if (sudo && *sudo)
		snprintf(buf, len, "%s (sudo as %s)", sudo, pw ? pw->pw_name : "?");
	else
		snprintf(buf, len, "%s", pw ? pw->pw_name : "unknown");
	return buf;
}

int cmd_forget(const struct ctl *ctl, int argc, char **argv)
{
	enum { OPT_TENANT = 256 };
	static const struct option options[] = {
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char tenant[UUIDTEXT_LEN], actor[300];
	bool have_tenant = false;
	enum keyring_outcome outcome;
	struct es_config cfg;
	struct db *db = NULL;
	const char *subject;
	int opt, rc = CTL_EXIT_FAILURE;
	enum es_status st;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_TENANT:
			if (!uuidtext_parse(optarg, tenant) || uuidtext_is_nil(tenant))
				return ctl_usage_error("forget", "--tenant needs a UUID (not the nil UUID)");
			have_tenant = true;
			break;
		case 'h':
			ctl_print_usage(stdout, "forget");
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error("forget", "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("forget", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error("forget", "the data subject's id is required");
	subject = argv[optind++];
	if (optind < argc)
		return ctl_usage_error("forget", "unexpected argument '%s'", argv[optind]);
	if (!*subject || strlen(subject) > PERSONAL_SUBJECT_MAX)
		return ctl_usage_error("forget", "a subject's id is 1 to %d bytes", PERSONAL_SUBJECT_MAX);

	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	st = erasure_forget(db, have_tenant ? tenant : NULL, subject, ctl_actor(actor, sizeof actor),
			    "evstorectl", NULL, &outcome);
	if (st != ES_OK) {
		ctl_error("cannot erase the subject: %s%s%s", es_status_name(st),
			  *db_last_error(db) ? ": " : "", db_last_error(db));
		goto out;
	}
	switch (outcome) {
	case KEYRING_ERASED:
		printf("erased: the personal data of %s%s%s can no longer be read\n", subject,
		       have_tenant ? " in tenant " : "", have_tenant ? tenant : "");
		rc = CTL_EXIT_OK;
		break;
	case KEYRING_ALREADY_ERASED:
		printf("already erased: %s%s%s\n", subject, have_tenant ? " in tenant " : "",
		       have_tenant ? tenant : "");
		rc = CTL_EXIT_OK;
		break;
	case KEYRING_UNKNOWN:
		ctl_error("no personal data of %s is stored%s%s", subject, have_tenant ? " in tenant " : "",
			  have_tenant ? tenant : " (without a tenant; see --tenant)");
		break;
	}
out:
	db_free(db);
	config_free(&cfg);
	return rc;
}
