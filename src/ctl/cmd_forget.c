/* cmd_forget.c - evstorectl forget: erase a data subject's personal data
 * by destroying its key (privacy/erasure.h), with no server or runner
 * needed. The audit record names the login that ran it. --replay FILE
 * erases again every subject the subject_erased audit records of FILE
 * name: the step after restoring a backup older than some erasures. */
#include "buildconf.h"

#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <errno.h>
#include <json-c/json.h>

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

/* The subject_erased records of path (JSON lines; anything else, such as
 * other audit records or a syslog prefix before the "{", is skipped),
 * erased again. Prints the counts; false after printing why when the file
 * cannot be read or a record cannot be applied. */
static bool forget_replay(struct db *db, const char *path, const char *actor)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	long erased = 0, already = 0, unknown = 0, lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	bool ok = true;

	if (!f) {
		ctl_error("%s: %s", path, strerror(errno));
		return false;
	}
	while (ok && getline(&line, &cap, f) != -1) {
		const char *brace = strchr(line, '{');
		json_object *rec, *v, *t;
		const char *subject, *tenant = NULL;
		enum keyring_outcome outcome;
		char tenant_buf[UUIDTEXT_LEN];

		lineno++;
		rec = brace ? json_tokener_parse(brace) : NULL;
		if (!rec || !json_object_object_get_ex(rec, "event", &v) ||
		    strcmp(json_object_get_string(v), "subject_erased") != 0 ||
		    !json_object_object_get_ex(rec, "subject", &v) || !json_object_is_type(v, json_type_string)) {
			json_object_put(rec);
			continue;
		}
		subject = json_object_get_string(v);
		if (json_object_object_get_ex(rec, "tenant_id", &t) && json_object_is_type(t, json_type_string)) {
			if (!uuidtext_parse(json_object_get_string(t), tenant_buf)) {
				ctl_error("%s:%ld: the record's tenant_id is not a UUID", path, lineno);
				json_object_put(rec);
				ok = false;
				break;
			}
			tenant = tenant_buf;
		}
		if (erasure_forget(db, tenant, subject, actor, "evstorectl forget --replay", NULL, &outcome) != ES_OK) {
			ctl_error("%s:%ld: cannot erase the subject: %s", path, lineno, db_last_error(db));
			ok = false;
		} else {
			erased += outcome == KEYRING_ERASED;
			already += outcome == KEYRING_ALREADY_ERASED;
			unknown += outcome == KEYRING_UNKNOWN;
		}
		json_object_put(rec);
	}
	if (ok && ferror(f)) {
		ctl_error("%s: %s", path, strerror(errno));
		ok = false;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	printf("%ld erased again, %ld already erased, %ld without stored data\n", erased, already, unknown);
	return ok;
}

int cmd_forget(const struct ctl *ctl, int argc, char **argv)
{
	enum { OPT_TENANT = 256, OPT_REPLAY };
	static const struct option options[] = {
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "replay", required_argument, NULL, OPT_REPLAY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char tenant[UUIDTEXT_LEN], actor[300];
	bool have_tenant = false;
	enum keyring_outcome outcome;
	struct es_config cfg;
	struct db *db = NULL;
	const char *subject = NULL, *replay = NULL;
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
		case OPT_REPLAY:
			replay = optarg;
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
	if (replay && (have_tenant || optind < argc))
		return ctl_usage_error("forget", "--replay takes no subject and no --tenant: the records name them");
	if (!replay && optind >= argc)
		return ctl_usage_error("forget", "the data subject's id is required");
	if (!replay)
		subject = argv[optind++];
	if (optind < argc)
		return ctl_usage_error("forget", "unexpected argument '%s'", argv[optind]);
	if (subject && (!*subject || strlen(subject) > PERSONAL_SUBJECT_MAX))
		return ctl_usage_error("forget", "a subject's id is 1 to %d bytes", PERSONAL_SUBJECT_MAX);

	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	if (replay) {
		rc = forget_replay(db, replay, ctl_actor(actor, sizeof actor)) ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
		goto out;
	}
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
