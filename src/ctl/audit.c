/* audit.c - evstorectl's admin actions in the audit stream: the record of
 * base/adminaudit.h, with the operating-system user as its actor. */
#include "buildconf.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/adminaudit.h"
#include "ctl/commands.h"

/* The name of the real user running us ("uid N" when it has none):
 * the real uid, not the effective one, so a setuid wrapper does not hide
 * who called it. */
static const char *ctl_os_user(char *out, size_t len)
{
	struct passwd pw, *found = NULL;
	char buf[1024];
	uid_t uid = getuid();

	if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found && found->pw_name[0])
		snprintf(out, len, "%s", found->pw_name);
	else
		snprintf(out, len, "uid %lu", (unsigned long)uid);
	return out;
}

void ctl_audit(const struct admin_action *action)
{
	struct admin_action a = *action;
	const char *sudo_user = getenv("SUDO_USER");
	char user[256];

	a.actor = ctl_os_user(user, sizeof user);
	a.via = "evstorectl";
	/* sudo sets it; only root can have set it otherwise. */
	a.sudo_user = getuid() == 0 && sudo_user && *sudo_user ? sudo_user : NULL;
	if (adminaudit_emit(&a) != LOG_DELIVERED)
		ctl_error("warning: the audit record of %s could not be written to the log socket "
			  "([log] socket); the action itself is done", a.action);
}

void ctl_audit_import(const char *source, int64_t events, int64_t keys, bool ok)
{
	ctl_audit(&(struct admin_action){
		.action = "import", .outcome = ok ? "ok" : "failed",
		.target = { { "source", source } },
		.counts = { { "events", events }, { "subject_keys", keys } } });
}
