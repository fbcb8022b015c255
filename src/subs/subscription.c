/* subscription.c - "[subscription NAME]" sections: a table of keys (the
 * same shape as config.c's, read by the same confval code, so values,
 * units and messages are those of the global keys), the checks that span
 * keys, and printing them back. */
#include "buildconf.h"
#include "subs/subscription.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/confval.h"
#include "base/sbuf.h"
#include "subs/erasures.h"
#include "subs/sqlfile.h"

/* [A-Za-z_][A-Za-z0-9_]*, len bytes of name. */
static bool env_name_valid(const char *name, size_t len)
{
	if (len == 0 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(name[i] == '_' || (name[i] >= '0' && name[i] <= '9') ||
		      ((name[i] | 0x20) >= 'a' && (name[i] | 0x20) <= 'z')))
			return false;
	return true;
}

/* Whether the space-separated pairs in list hold one starting with
 * prefix ("NAME=", plen bytes). */
static bool env_has_name(const char *list, const char *prefix, size_t plen)
{
	const char *p = list;

	while (*p) {
		if (strncmp(p, prefix, plen) == 0)
			return true;
		p += strcspn(p, " ");
		p += *p == ' ';
	}
	return false;
}

/* Each in the order of its enum in subscription.h. */
static const char *const handlers[] = { "sql", "exec", "audit", "snapshots", NULL };
static const char *const starts[] = { "checkpoint", "beginning", "end", NULL };
static const char *const strategies[] = { "every_event", "every_batch", "periodic", NULL };
static const char *const personal_views[] = { "redacted", "clear", NULL };
static const char *const erased_choices[] = { "ignore", "deliver", NULL };

/* env: "NAME=value" pairs separated by blanks, each name once, kept with
 * single spaces between them (handler_exec splits them there). */
static char *env_convert(const char *v, const char **why)
{
	struct sbuf out = SBUF_INIT;
	const char *p = v;
	char *kept = NULL;

	*why = NULL;
	while (*p) {
		const char *name = p, *eq, *end;

		if (*p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		end = p + strcspn(p, " \t");
		eq = memchr(p, '=', (size_t)(end - p));
		if (!eq || !env_name_valid(name, (size_t)(eq - name))) {
			*why = "is not a list of NAME=value pairs (a NAME is letters, digits and _,"
			       " not starting with a digit)";
			goto refused;
		}
		if (env_has_name(sbuf_cstr(&out), name, (size_t)(eq - name) + 1)) {
			*why = "names a variable twice";
			goto refused;
		}
		sbuf_printf(&out, "%s%.*s", out.len ? " " : "", (int)(end - p), p);
		p = end;
	}
	if (!out.failed)
		kept = strdup(sbuf_cstr(&out));
refused:
	sbuf_free(&out);
	return kept;
}

#define F(field) offsetof(struct subscription, field)
/* A duration kept in milliseconds whose bare number counts seconds. */
#define DURATION(k, f, d, h) \
	{ .key = k, .type = CONFVAL_DURATION, .offset = F(f), .def = d, .min = 1, \
	  .max = 86400000, .unit_ms = 1000, .store_ms = 1, .help = h }

static const struct confval_option subscription_options[] = {
	{ .key = "handler", .type = CONFVAL_ENUM, .offset = F(handler), .choices = handlers,
	  .help = "sql (sql_file), exec (command), audit or snapshots; required" },
	{ .key = "sql_file", .type = CONFVAL_TEXT, .offset = F(sql_file), .min = 1,
	  .help = "handler = sql: the projection file of \"-- on EventType\" sections" },
	{ .key = "command", .type = CONFVAL_TEXT, .offset = F(command), .min = 1,
	  .help = "handler = exec: the program, run by /bin/sh -c" },
	{ .key = "env", .type = CONFVAL_TEXT, .offset = F(env), .def = "", .convert = env_convert,
	  .help = "handler = exec: NAME=value pairs added to the program's environment" },
	{ .key = "aggregate_types", .type = CONFVAL_LIST, .offset = F(aggregate_types),
	  .help = "only events of these aggregate types (comma-separated); empty: all" },
	{ .key = "event_types", .type = CONFVAL_LIST, .offset = F(event_types),
	  .help = "only events of these types (comma-separated); empty: all" },
	{ .key = "start_from", .type = CONFVAL_ENUM, .offset = F(start_from), .def = "checkpoint",
	  .choices = starts, .or_number = true, .number_offset = F(start_position), .min = 1,
	  .max = INT64_MAX,
	  .help = "where a new subscription starts: checkpoint or beginning (the first "
		  "event), end, or a position" },
	{ .key = "batch_size", .type = CONFVAL_INT, .offset = F(batch_size), .def = "100",
	  .min = 1, .max = 10000, .help = "events read and handled at a time" },
	{ .key = "checkpoint_strategy", .type = CONFVAL_ENUM, .offset = F(checkpoint_strategy),
	  .def = "every_batch", .choices = strategies,
	  .help = "when the checkpoint moves: every_event, every_batch or periodic" },
	DURATION("checkpoint_interval", checkpoint_interval_ms, "5s",
		 "checkpoint_strategy = periodic: how often (a bare number is seconds)"),
	{ .key = "continue_on_error", .type = CONFVAL_BOOL, .offset = F(continue_on_error),
	  .def = "true", .help = "after parking an event, go on; false: stop in state error" },
	{ .key = "max_retries", .type = CONFVAL_INT, .offset = F(max_retries), .def = "5",
	  .min = 0, .max = 1000, .help = "retries of a failing event before it is parked" },
	DURATION("retry_initial_delay", retry_initial_delay_ms, "1s",
		 "first back-off delay, doubled per retry (a bare number is seconds)"),
	DURATION("retry_max_delay", retry_max_delay_ms, "60s",
		 "longest back-off delay (a bare number is seconds)"),
	DURATION("processing_timeout", processing_timeout_ms, "30s",
		 "handler = exec: longest wait for the answer to one event (a bare number is seconds)"),
	{ .key = "statement_timeout", .type = CONFVAL_DURATION, .offset = F(statement_timeout_ms),
	  .min = 0, .max = 86400000, .unit_ms = 1000, .store_ms = 1,
	  .help = "handler = sql: longest run of one projection statement; 0: the "
		  "server's setting; unset: processing_timeout (a bare number is seconds)" },
	{ .key = "partitions", .type = CONFVAL_INT, .offset = F(partitions), .def = "1",
	  .min = 1, .max = 1024, .help = "partitions shared by the runners, by aggregate_id" },
	{ .key = "personal_data", .type = CONFVAL_ENUM, .offset = F(personal_data), .def = "redacted",
	  .choices = personal_views,
	  .help = "declared personal fields handed to the handler: redacted (null) or clear" },
	{ .key = "subject_erased", .type = CONFVAL_ENUM, .offset = F(subject_erased), .def = "ignore",
	  .choices = erased_choices,
	  .help = "deliver: a SubjectErased event for each data subject erased (handler sql or "
		  "exec); ignore: none" },
};

#define N_OPTIONS (sizeof(subscription_options) / sizeof(subscription_options[0]))

void subscription_free(struct subscription *c)
{
	if (!c)
		return;
	free(c->name);
	confval_free(subscription_options, N_OPTIONS, c);
	free(c->fingerprint);
	memset(c, 0, sizeof *c);
}

static enum es_status sub_err(char *err, size_t errlen, const char *file, int line,
			      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum es_status sub_err(char *err, size_t errlen, const char *file, int line,
			      const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s:%d: %s", file ? file : "(config)", line, msg);
	return ES_EINVAL;
}

/* The checks that span keys; line[i] is where option i was set (0: not). */
static enum es_status sub_check(const struct subscription *c, const int *line, const char *file,
				int first_line, char *err, size_t errlen)
{
	const struct confval_option *handler = confval_find(subscription_options, N_OPTIONS,
							    NULL, "handler");

	if (!line[handler - subscription_options])
		return sub_err(err, errlen, file, first_line, "[subscription %s] needs a handler "
			       "(sql, exec, snapshots or audit)", c->name);
	if (c->handler == SUB_HANDLER_SQL && !c->sql_file)
		return sub_err(err, errlen, file, first_line, "[subscription %s] handler = sql "
			       "needs sql_file", c->name);
	if (c->handler == SUB_HANDLER_EXEC && !c->command)
		return sub_err(err, errlen, file, first_line, "[subscription %s] handler = exec "
			       "needs command", c->name);
	if (c->subject_erased == SUB_ERASED_DELIVER && c->handler != SUB_HANDLER_SQL &&
	    c->handler != SUB_HANDLER_EXEC)
		return sub_err(err, errlen, file, first_line, "[subscription %s] subject_erased = "
			       "deliver needs handler sql or exec", c->name);
	if (c->retry_max_delay_ms < c->retry_initial_delay_ms)
		return sub_err(err, errlen, file, first_line, "[subscription %s] retry_max_delay "
			       "is below retry_initial_delay", c->name);
	return ES_OK;
}

enum es_status subscription_parse(const struct config_subscription *raw, const char *file,
				  struct subscription *out, char *err, size_t errlen)
{
	struct sbuf fp = SBUF_INIT;
	int line[N_OPTIONS] = { 0 };
	int first_line = raw->n_items ? raw->items[0].line : 0;
	char msg[320];
	enum es_status rc = ES_OK;

	memset(out, 0, sizeof *out);
	out->name = strdup(raw->name);
	if (!out->name) {
		snprintf(err, errlen, "out of memory");
		rc = ES_ENOMEM;
		goto out;
	}
	if (!confval_set_defaults(subscription_options, N_OPTIONS, out, msg, sizeof msg)) {
		snprintf(err, errlen, "%s", msg);
		rc = ES_EINTERNAL;
		goto out;
	}
	for (size_t i = 0; i < raw->n_items; i++) {
		const struct config_kv *kv = &raw->items[i];
		const struct confval_option *o = confval_find(subscription_options, N_OPTIONS, NULL,
							      kv->key);

		if (!o) {
			rc = sub_err(err, errlen, file, kv->line, "unknown key '%s' in "
				     "[subscription %s]", kv->key, raw->name);
			goto out;
		}
		if (!confval_set(o, out, kv->value, msg, sizeof msg)) {
			rc = sub_err(err, errlen, file, kv->line, "%s: %s", kv->key, msg);
			goto out;
		}
		line[o - subscription_options] = kv->line;
		sbuf_printf(&fp, "%s=%s\n", kv->key, kv->value);
	}
	rc = sub_check(out, line, file, first_line, err, errlen);
	if (rc != ES_OK)
		goto out;
	/* Not a default of the table: it follows processing_timeout. */
	if (!line[confval_find(subscription_options, N_OPTIONS, NULL, "statement_timeout") -
		  subscription_options])
		out->statement_timeout_ms = out->processing_timeout_ms;
	out->fingerprint = fp.failed ? NULL : strdup(sbuf_cstr(&fp));
	if (!out->fingerprint) {
		snprintf(err, errlen, "out of memory");
		rc = ES_ENOMEM;
	}
out:
	sbuf_free(&fp);
	if (rc != ES_OK)
		subscription_free(out);
	return rc;
}

/* Writes s as its section, every key of the table; borrows s. */
static void subscription_print(const struct subscription *s, FILE *out)
{
	fprintf(out, "\n[subscription %s]\n", s->name);
	for (size_t i = 0; i < N_OPTIONS; i++)
		confval_print(&subscription_options[i], s, out);
}

void subscription_free_all(struct subscription *subs, size_t n)
{
	for (size_t i = 0; subs && i < n; i++)
		subscription_free(&subs[i]);
	free(subs);
}

enum es_status subscription_parse_all(const struct es_config *cfg, struct subscription **subs,
				      size_t *n, char *err, size_t errlen)
{
	struct subscription *arr = calloc(cfg->n_subscriptions ? cfg->n_subscriptions : 1, sizeof *arr);
	enum es_status rc = ES_OK;
	size_t i;

	*subs = NULL;
	*n = 0;
	if (!arr)
		return ES_ENOMEM;
	for (i = 0; i < cfg->n_subscriptions && rc == ES_OK; i++) {
		rc = subscription_parse(&cfg->subscriptions[i], cfg->source_path, &arr[i], err, errlen);
		if (rc == ES_OK && arr[i].handler == SUB_HANDLER_SQL) {
			struct sqlfile f;

			rc = sqlfile_load(arr[i].sql_file, &f, err, errlen);
			if (rc == ES_OK) {
				bool has_erased = sqlfile_find(&f, ERASURES_EVENT_TYPE) != NULL;

				sqlfile_free(&f);
				if (arr[i].subject_erased == SUB_ERASED_DELIVER && !has_erased)
					rc = sub_err(err, errlen, cfg->source_path,
						     cfg->subscriptions[i].n_items ?
						     cfg->subscriptions[i].items[0].line : 0,
						     "[subscription %s] subject_erased = deliver: %s has "
						     "no \"-- on " ERASURES_EVENT_TYPE "\" section",
						     arr[i].name, arr[i].sql_file);
			}
		}
		if (rc != ES_OK)
			subscription_free(&arr[i]);
	}
	if (rc != ES_OK) {
		subscription_free_all(arr, i - 1);
		return rc;
	}
	*subs = arr;
	*n = cfg->n_subscriptions;
	return ES_OK;
}

enum es_status subscription_print_config(const struct es_config *cfg, FILE *out, char *err,
					 size_t errlen)
{
	struct subscription *subs = calloc(cfg->n_subscriptions + 1, sizeof *subs);
	enum es_status rc = ES_OK;
	size_t n = 0;

	if (!subs) {
		snprintf(err, errlen, "out of memory");
		return ES_ENOMEM;
	}
	for (; n < cfg->n_subscriptions; n++) {
		rc = subscription_parse(&cfg->subscriptions[n], cfg->source_path, &subs[n], err,
					errlen);
		if (rc != ES_OK)
			goto out;
	}
	config_print(cfg, out);
	for (size_t i = 0; i < n; i++)
		subscription_print(&subs[i], out);
out:
	for (size_t i = 0; i < n; i++)
		subscription_free(&subs[i]);
	free(subs);
	return rc;
}
