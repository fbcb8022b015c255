/* startcheck.c - the report of a --check run. */
#include "buildconf.h"
#include "base/startcheck.h"

#include <stdarg.h>
#include <string.h>

void startcheck_init(struct startcheck *c, const char *program, FILE *out)
{
	memset(c, 0, sizeof *c);
	c->program = program;
	c->out = out;
}

bool startcheck_mode(struct startcheck *c, const char *mode)
{
	c->prestart = mode && strcmp(mode, "prestart") == 0;
	return !mode || c->prestart || strcmp(mode, "all") == 0;
}

enum startcheck_status startcheck_database_problem(const struct startcheck *c)
{
	return c->prestart ? STARTCHECK_WARN : STARTCHECK_FAIL;
}

void startcheck_item(struct startcheck *c, enum startcheck_status st, const char *item,
		     const char *fmt, ...)
{
	static const char *const words[] = { "pass", "warn", "FAIL" };
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (c->out)
		fprintf(c->out, "%s: %s %s: %s\n", c->program, words[st], item, what);
	if (c->sink)
		c->sink(c->sink_arg, st, item, what);
	if (st == STARTCHECK_WARN)
		c->warned++;
	/* The verdict repeats the first failure, cut to fit one line. */
	if (st == STARTCHECK_FAIL && c->failed++ == 0)
		snprintf(c->first_failure, sizeof c->first_failure, "%.40s: %.200s", item, what);
}

/* config_unknown_env's callback: one warning per variable. */
static void report_unknown_env(const char *name, const char *closest, void *arg)
{
	startcheck_item(arg, STARTCHECK_WARN, "environment", "%s names no configuration key "
			"(ignored; did you mean %s?)", name, closest);
}

bool startcheck_config(struct startcheck *c, const char *path, struct es_config *cfg)
{
	char err[512];

	(void)config_unknown_env(report_unknown_env, c);
	if (!config_load(cfg, path, err, sizeof err)) {
		startcheck_item(c, STARTCHECK_FAIL, "configuration", "%s", err);
		return false;
	}
	startcheck_item(c, STARTCHECK_PASS, "configuration", "%s",
			cfg->source_path ? cfg->source_path : "no file, defaults and environment");
	return true;
}

int startcheck_finish(struct startcheck *c)
{
	if (!c->out)
		return c->failed ? 1 : 0;
	if (c->failed) {
		fprintf(c->out, "%s: check failed: %s\n", c->program, c->first_failure);
		return 1;
	}
	fprintf(c->out, "%s: check passed%s\n", c->program,
		c->warned ? " with warnings" : "");
	return 0;
}
