/* subscription.c - validation of "[subscription NAME]" sections. */
#include "buildconf.h"
#include "subs/subscription.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config.h"
#include "base/sbuf.h"

void subscription_free(struct subscription *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->sql_file);
	free(c->command);
	free(c->aggregate_types);
	free(c->event_types);
	free(c->fingerprint);
	memset(c, 0, sizeof *c);
}

bool subscription_parse_duration_ms(const char *s, long max_ms, long *out)
{
	char *end;
	long v, mult = 1000;

	if (!s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || v < 0)
		return false;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return false;
	if (v > max_ms / mult)
		return false;
	*out = v * mult;
	return true;
}

static bool sub_parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool sub_parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcmp(s, "1"))
		*out = true;
	else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") ||
		 !strcmp(s, "0"))
		*out = false;
	else
		return false;
	return true;
}

char *subscription_list_to_array(const char *csv, bool *empty)
{
	struct sbuf b = SBUF_INIT;
	const char *p = csv;
	size_t n = 0;

	*empty = false;
	sbuf_putc(&b, '{');
	while (p && *p) {
		const char *e = strchr(p, ','), *s = p, *t;

		if (!e)
			e = p + strlen(p);
		t = e;
		while (s < t && isspace((unsigned char)*s))
			s++;
		while (t > s && isspace((unsigned char)t[-1]))
			t--;
		if (t > s) {
			if (n++)
				sbuf_putc(&b, ',');
			sbuf_putc(&b, '"');
			for (; s < t; s++) {
				if (*s == '"' || *s == '\\')
					sbuf_putc(&b, '\\');
				sbuf_putc(&b, *s);
			}
			sbuf_putc(&b, '"');
		}
		p = *e ? e + 1 : e;
	}
	sbuf_putc(&b, '}');
	if (n == 0 || b.failed) {
		*empty = n == 0;
		sbuf_free(&b);
		return NULL;
	}
	return b.data;
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

/* One key of the section; ES_EINVAL after writing err. */
static enum es_status sub_apply(struct subscription *c, const struct config_kv *kv, const char *file,
				char *err, size_t errlen, bool *have_handler)
{
	const char *k = kv->key, *v = kv->value;
	long n;
	bool empty;

#define BAD(...) return sub_err(err, errlen, file, kv->line, __VA_ARGS__)
	if (strcmp(k, "handler") == 0) {
		*have_handler = true;
		if (strcmp(v, "sql") == 0)
			c->handler = SUB_HANDLER_SQL;
		else if (strcmp(v, "exec") == 0)
			c->handler = SUB_HANDLER_EXEC;
		else if (strcmp(v, "audit") == 0)
			c->handler = SUB_HANDLER_AUDIT;
		else if (strcmp(v, "snapshots") == 0)
			c->handler = SUB_HANDLER_SNAPSHOTS;
		else
			BAD("handler: '%s' is not one of sql, exec, snapshots, audit", v);
	} else if (strcmp(k, "sql_file") == 0) {
		if (!*v)
			BAD("sql_file: needs a path");
		free(c->sql_file);
		c->sql_file = strdup(v);
	} else if (strcmp(k, "command") == 0) {
		if (!*v)
			BAD("command: needs a program");
		free(c->command);
		c->command = strdup(v);
	} else if (strcmp(k, "aggregate_types") == 0 || strcmp(k, "event_types") == 0) {
		char **dst = k[0] == 'a' ? &c->aggregate_types : &c->event_types;

		free(*dst);
		*dst = subscription_list_to_array(v, &empty);
		if (!*dst && !empty)
			BAD("out of memory");
	} else if (strcmp(k, "start_from") == 0) {
		if (strcmp(v, "checkpoint") == 0)
			c->start_from = SUB_START_CHECKPOINT;
		else if (strcmp(v, "beginning") == 0)
			c->start_from = SUB_START_BEGINNING;
		else if (strcmp(v, "end") == 0)
			c->start_from = SUB_START_END;
		else if (sub_parse_int(v, 1, LONG_MAX, &n)) {
			c->start_from = SUB_START_POSITION;
			c->start_position = n;
		} else
			BAD("start_from: '%s' is not checkpoint, beginning, end or a position", v);
	} else if (strcmp(k, "batch_size") == 0) {
		if (!sub_parse_int(v, 1, 10000, &n))
			BAD("batch_size: '%s' is not a whole number from 1 to 10000", v);
		c->batch_size = (int)n;
	} else if (strcmp(k, "checkpoint_strategy") == 0) {
		if (strcmp(v, "every_event") == 0)
			c->checkpoint_strategy = SUB_CKPT_EVERY_EVENT;
		else if (strcmp(v, "every_batch") == 0)
			c->checkpoint_strategy = SUB_CKPT_EVERY_BATCH;
		else if (strcmp(v, "periodic") == 0)
			c->checkpoint_strategy = SUB_CKPT_PERIODIC;
		else
			BAD("checkpoint_strategy: '%s' is not every_event, every_batch or periodic", v);
	} else if (strcmp(k, "checkpoint_interval") == 0 || strcmp(k, "retry_initial_delay") == 0 ||
		   strcmp(k, "retry_max_delay") == 0 || strcmp(k, "processing_timeout") == 0) {
		if (!subscription_parse_duration_ms(v, 86400000L, &n) || n < 1)
			BAD("%s: '%s' is not a duration like 500ms, 5s or 2m (up to 24h)", k, v);
		if (k[0] == 'c')
			c->checkpoint_interval_ms = (int)n;
		else if (strcmp(k, "retry_initial_delay") == 0)
			c->retry_initial_delay_ms = (int)n;
		else if (k[0] == 'r')
			c->retry_max_delay_ms = (int)n;
		else
			c->processing_timeout_ms = (int)n;
	} else if (strcmp(k, "continue_on_error") == 0) {
		if (!sub_parse_bool(v, &c->continue_on_error))
			BAD("continue_on_error: '%s' is not true or false", v);
	} else if (strcmp(k, "max_retries") == 0) {
		if (!sub_parse_int(v, 0, 1000, &n))
			BAD("max_retries: '%s' is not a whole number from 0 to 1000", v);
		c->max_retries = (int)n;
	} else if (strcmp(k, "partitions") == 0) {
		if (!sub_parse_int(v, 1, 1024, &n))
			BAD("partitions: '%s' is not a whole number from 1 to 1024", v);
		c->partitions = (int)n;
	} else {
		BAD("unknown key '%s' in [subscription %s]", k, c->name);
	}
#undef BAD
	return ES_OK;
}

enum es_status subscription_parse(const struct config_subscription *raw, const char *file,
			      struct subscription *out, char *err, size_t errlen)
{
	struct sbuf fp = SBUF_INIT;
	bool have_handler = false;
	int first_line = raw->n_items ? raw->items[0].line : 0;
	enum es_status rc = ES_OK;

	memset(out, 0, sizeof *out);
	out->name = strdup(raw->name);
	out->start_from = SUB_START_CHECKPOINT;
	out->batch_size = 100;
	out->checkpoint_strategy = SUB_CKPT_EVERY_BATCH;
	out->checkpoint_interval_ms = 5000;
	out->continue_on_error = true;
	out->max_retries = 5;
	out->retry_initial_delay_ms = 1000;
	out->retry_max_delay_ms = 60000;
	out->processing_timeout_ms = 30000;
	out->partitions = 1;
	for (size_t i = 0; i < raw->n_items && rc == ES_OK; i++) {
		rc = sub_apply(out, &raw->items[i], file, err, errlen, &have_handler);
		sbuf_printf(&fp, "%s=%s\n", raw->items[i].key, raw->items[i].value);
	}
	if (rc != ES_OK)
		goto out;
	if (!have_handler) {
		rc = sub_err(err, errlen, file, first_line, "[subscription %s] needs a handler "
			     "(sql, exec, snapshots or audit)", raw->name);
	} else if (out->handler == SUB_HANDLER_SQL && !out->sql_file) {
		rc = sub_err(err, errlen, file, first_line, "[subscription %s] handler = sql needs "
			     "sql_file", raw->name);
	} else if (out->handler == SUB_HANDLER_EXEC && !out->command) {
		rc = sub_err(err, errlen, file, first_line, "[subscription %s] handler = exec needs "
			     "command", raw->name);
	} else if (out->retry_max_delay_ms < out->retry_initial_delay_ms) {
		rc = sub_err(err, errlen, file, first_line, "[subscription %s] retry_max_delay is "
			     "below retry_initial_delay", raw->name);
	}
	if (rc == ES_OK) {
		out->fingerprint = fp.failed ? NULL : strdup(sbuf_cstr(&fp));
		if (!out->name || !out->fingerprint) {
			snprintf(err, errlen, "out of memory");
			rc = ES_ENOMEM;
		}
	}
out:
	sbuf_free(&fp);
	if (rc != ES_OK)
		subscription_free(out);
	return rc;
}
