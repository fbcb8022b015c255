/* confval.c - configuration values: parsing text into a table's fields,
 * printing them back, and the messages for values that do not parse. The
 * grammar is described in confval.h. Every message starts with the value
 * as written, quoted and cut at 64 bytes, so the caller only adds where
 * ("file:line: key: ") and the same value reads the same everywhere. */
#include "buildconf.h"
#include "base/confval.h"
#include "base/sbuf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *name; unsigned long long mult; } size_units[] = {
	{ "", 1 },
	{ "K", 1ULL << 10 }, { "KiB", 1ULL << 10 },
	{ "M", 1ULL << 20 }, { "MiB", 1ULL << 20 },
	{ "G", 1ULL << 30 }, { "GiB", 1ULL << 30 },
};

/* Milliseconds per unit, as a value may be written. */
static const struct { const char *name; unsigned long long ms; } duration_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "min", 60000 }, { "h", 3600000 },
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void *field_of(void *obj, const struct confval_option *o)
{
	return (char *)obj + o->offset;
}

static const void *cfield_of(const void *obj, const struct confval_option *o)
{
	return (const char *)obj + o->offset;
}

static bool is_string_type(enum confval_type t)
{
	return t == CONFVAL_TEXT || t == CONFVAL_CHOICE || t == CONFVAL_LIST;
}

/* Shows an operator's value in a message: quoted, cut at 64 bytes. */
static void quote_value(char *buf, size_t len, const char *v)
{
	snprintf(buf, len, "'%.64s%s'", v, strlen(v) > 64 ? "..." : "");
}

/* quote_value of v as o shows it: a message never quotes a secret that
 * --print-config would mask. */
static void quote_shown_value(const struct confval_option *o, char *buf, size_t len,
			      const char *v)
{
	char *masked = o->show ? o->show(v) : NULL;

	quote_value(buf, len, masked ? masked : o->show ? "***" : v);
	free(masked);
}

/* An optional sign and decimal digits, nothing else. *overflow tells a
 * number too large for long long from text that is no number. */
static bool parse_integer(const char *v, long long *out, bool *overflow)
{
	const char *digits = v + (*v == '-' || *v == '+');
	char *end;
	long long n;

	*overflow = false;
	if (!isdigit((unsigned char)*digits))
		return false;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*end)
		return false;
	if (errno == ERANGE) {
		*overflow = true;
		return false;
	}
	*out = n;
	return true;
}

/* Digits, optional blanks, then a unit: splits them. False when v does not
 * start with a digit; *overflow when the number does not fit. */
static bool split_number_unit(const char *v, unsigned long long *num, const char **unit,
			      bool *overflow)
{
	char *end;

	*overflow = false;
	if (!isdigit((unsigned char)v[0]))
		return false;
	errno = 0;
	*num = strtoull(v, &end, 10);
	if (errno == ERANGE)
		*overflow = true;
	while (*end == ' ' || *end == '\t')
		end++;
	*unit = end;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < N_ELEMS(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* ms as text in the largest unit that divides it ("250ms", "5s", "2min",
 * "1h"); zero in the unit a field of store_ms counts. */
static void format_duration(unsigned long long ms, int store_ms, char *buf, size_t len)
{
	static const struct { const char *name; unsigned long long ms; } units[] = {
		{ "h", 3600000 }, { "min", 60000 }, { "s", 1000 }, { "ms", 1 },
	};

	if (ms == 0) {
		snprintf(buf, len, "0%s", store_ms == 1 ? "ms" : "s");
		return;
	}
	for (size_t i = 0; i < N_ELEMS(units); i++) {
		if (ms % units[i].ms == 0) {
			snprintf(buf, len, "%llu%s", ms / units[i].ms, units[i].name);
			return;
		}
	}
}

/* Writes "'v' is out of range (min to max[ unit])" for o into msg. */
static void range_message(const struct confval_option *o, const char *shown, char *msg,
			  size_t msglen)
{
	char lo[32], hi[32];

	if (o->type == CONFVAL_DURATION) {
		format_duration((unsigned long long)o->min * (unsigned long long)o->store_ms,
				o->store_ms, lo, sizeof(lo));
		format_duration((unsigned long long)o->max * (unsigned long long)o->store_ms,
				o->store_ms, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%lld", o->min);
		snprintf(hi, sizeof(hi), "%lld", o->max);
	}
	snprintf(msg, msglen, "%s is out of range (%s to %s%s)", shown, lo, hi,
		 o->type == CONFVAL_SIZE ? " bytes" : "");
}

/* Parses a size in bytes; false with msg set when v is none or out of
 * o's range. */
static bool parse_size(const struct confval_option *o, const char *v, const char *shown,
		       long long *out, char *msg, size_t msglen)
{
	unsigned long long n;
	const char *unit;
	bool overflow;

	if (split_number_unit(v, &n, &unit, &overflow)) {
		for (size_t i = 0; i < N_ELEMS(size_units); i++) {
			if (strcasecmp(unit, size_units[i].name) != 0)
				continue;
			if (overflow || n > (unsigned long long)o->max / size_units[i].mult ||
			    (long long)(n * size_units[i].mult) < o->min) {
				range_message(o, shown, msg, msglen);
				return false;
			}
			*out = (long long)(n * size_units[i].mult);
			return true;
		}
	}
	snprintf(msg, msglen, "%s is not a size (bytes, or with K, KiB, M, MiB, G, GiB)", shown);
	return false;
}

/* Parses a duration into units of o->store_ms; false with msg set when v
 * is none, not a whole number of those units, or out of o's range. */
static bool parse_duration(const struct confval_option *o, const char *v, const char *shown,
			   long long *out, char *msg, size_t msglen)
{
	unsigned long long n, mult = 0, ms;
	const char *unit;
	bool overflow;

	if (split_number_unit(v, &n, &unit, &overflow)) {
		if (*unit == '\0')
			mult = (unsigned long long)o->unit_ms;
		for (size_t i = 0; !mult && i < N_ELEMS(duration_units); i++) {
			if (strcmp(unit, duration_units[i].name) == 0)
				mult = duration_units[i].ms;
		}
	}
	if (!mult) {
		snprintf(msg, msglen, "%s is not a duration: a number of %s, or a number "
			 "with ms, s, m, min or h", shown,
			 o->unit_ms == 1 ? "milliseconds" : "seconds");
		return false;
	}
	if (overflow || n > ULLONG_MAX / mult) {
		range_message(o, shown, msg, msglen);
		return false;
	}
	ms = n * mult;
	if (ms % (unsigned long long)o->store_ms != 0) {
		snprintf(msg, msglen, "%s is not a whole number of seconds", shown);
		return false;
	}
	ms /= (unsigned long long)o->store_ms;
	if (ms > (unsigned long long)o->max || (long long)ms < o->min) {
		range_message(o, shown, msg, msglen);
		return false;
	}
	*out = (long long)ms;
	return true;
}

/* Writes "'v' is not one of: a b c" (and the number ENUM may take). */
static void choice_message(const struct confval_option *o, const char *shown, char *msg,
			   size_t msglen)
{
	size_t used = (size_t)snprintf(msg, msglen, "%s is not one of:", shown);

	for (size_t i = 0; o->choices[i] && used < msglen; i++)
		used += (size_t)snprintf(msg + used, msglen - used, " %s", o->choices[i]);
	if (o->or_number && used < msglen) {
		if (o->max == LLONG_MAX)
			snprintf(msg + used, msglen - used, ", nor a number from %lld", o->min);
		else
			snprintf(msg + used, msglen - used, ", nor a number from %lld to %lld",
				 o->min, o->max);
	}
}

/* Returns "A, B,C" as the text[] literal {"A","B","C"} (malloc): NULL with
 * *empty set when it names nothing, NULL alone when memory ran out. */
static char *list_to_literal(const char *csv, bool *empty)
{
	struct sbuf b = SBUF_INIT;
	const char *p = csv;
	size_t n = 0;

	*empty = false;
	sbuf_putc(&b, '{');
	while (*p) {
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

/* Appends the names of a literal made by list_to_literal as "A, B". */
static void literal_to_list(const char *lit, struct sbuf *out)
{
	const char *p = lit + (*lit == '{');
	size_t n = 0;

	while (*p == '"') {
		if (n++)
			sbuf_puts(out, ", ");
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			sbuf_putc(out, *p);
		}
		if (*p == '"')
			p++;
		if (*p == ',')
			p++;
	}
}

/* Parses v for a string field: the new value (malloc), or NULL with msg
 * set. A LIST naming nothing is NULL with *none set. */
static char *string_value(const struct confval_option *o, const char *v, const char *shown,
			  bool *none, char *msg, size_t msglen)
{
	const char *why = NULL;
	char *copy = NULL;

	*none = false;
	switch (o->type) {
	case CONFVAL_TEXT:
		if (o->min > 0 && *v == '\0') {
			snprintf(msg, msglen, "needs a value");
			return NULL;
		}
		copy = o->convert ? o->convert(v, &why) : strdup(v);
		break;
	case CONFVAL_CHOICE: {
		size_t i = 0;

		while (o->choices[i] && strcmp(v, o->choices[i]) != 0)
			i++;
		if (!o->choices[i]) {
			choice_message(o, shown, msg, msglen);
			return NULL;
		}
		copy = strdup(v);
		break;
	}
	case CONFVAL_LIST:
		copy = list_to_literal(v, none);
		if (*none)
			return NULL;
		break;
	default:
		break;
	}
	if (!copy) {
		if (why)
			snprintf(msg, msglen, "%s %s", shown, why);
		else
			snprintf(msg, msglen, "out of memory");
	}
	return copy;
}

/* Sets o's field of obj from v; see confval.h. */
bool confval_set(const struct confval_option *o, void *obj, const char *v, char *msg,
		 size_t msglen)
{
	char shown[80];
	long long n = 0;
	bool b, overflow;

	quote_shown_value(o, shown, sizeof(shown), v);
	switch (o->type) {
	case CONFVAL_TEXT:
	case CONFVAL_CHOICE:
	case CONFVAL_LIST: {
		char **field = field_of(obj, o);
		char *copy = string_value(o, v, shown, &b, msg, msglen);

		if (!copy && !b)
			return false;
		free(*field);
		*field = copy;
		return true;
	}
	case CONFVAL_ENUM:
		for (int i = 0; o->choices[i]; i++) {
			if (strcmp(v, o->choices[i]) == 0) {
				*(int *)field_of(obj, o) = i;
				return true;
			}
		}
		if (o->or_number && parse_integer(v, &n, &overflow) && n >= o->min && n <= o->max) {
			int count = 0;

			while (o->choices[count])
				count++;
			*(int64_t *)((char *)obj + o->number_offset) = n;
			*(int *)field_of(obj, o) = count;
			return true;
		}
		choice_message(o, shown, msg, msglen);
		return false;
	case CONFVAL_BOOL:
		if (!parse_bool(v, &b)) {
			snprintf(msg, msglen, "%s is not a boolean (true/false, yes/no, on/off, 1/0)",
				 shown);
			return false;
		}
		*(bool *)field_of(obj, o) = b;
		return true;
	case CONFVAL_INT:
		if (!parse_integer(v, &n, &overflow)) {
			if (overflow)
				range_message(o, shown, msg, msglen);
			else
				snprintf(msg, msglen, "%s is not an integer", shown);
			return false;
		}
		if (n < o->min || n > o->max) {
			range_message(o, shown, msg, msglen);
			return false;
		}
		*(int *)field_of(obj, o) = (int)n;
		return true;
	case CONFVAL_SIZE:
		if (!parse_size(o, v, shown, &n, msg, msglen))
			return false;
		*(long *)field_of(obj, o) = (long)n;
		return true;
	case CONFVAL_DURATION:
		if (!parse_duration(o, v, shown, &n, msg, msglen))
			return false;
		*(int *)field_of(obj, o) = (int)n;
		return true;
	}
	snprintf(msg, msglen, "no such type of value");
	return false;
}

bool confval_set_defaults(const struct confval_option *table, size_t n, void *obj, char *msg,
			  size_t msglen)
{
	char why[256];

	for (size_t i = 0; i < n; i++) {
		if (!table[i].def)
			continue;
		if (!confval_set(&table[i], obj, table[i].def, why, sizeof(why))) {
			snprintf(msg, msglen, "built-in default of %s%s%s: %s",
				 table[i].section ? table[i].section : "",
				 table[i].section ? "." : "", table[i].key, why);
			return false;
		}
	}
	return true;
}

const struct confval_option *confval_find(const struct confval_option *table, size_t n,
					  const char *section, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(table[i].key, key) != 0)
			continue;
		if (section ? table[i].section && strcmp(table[i].section, section) == 0 :
			      !table[i].section)
			return &table[i];
	}
	return NULL;
}

/* True when v must be quoted to read back as itself. */
static bool needs_quotes(const char *v)
{
	size_t n = strlen(v);

	if (n == 0)
		return false;
	if (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t' || v[0] == '"' ||
	    v[0] == ';' || v[0] == '#')
		return true;
	for (size_t i = 1; i < n; i++) {
		if ((v[i] == ';' || v[i] == '#') && (v[i - 1] == ' ' || v[i - 1] == '\t'))
			return true;
	}
	return false;
}

static void print_kv(FILE *out, const char *key, const char *v)
{
	if (needs_quotes(v))
		fprintf(out, "%s = \"%s\"\n", key, v);
	else if (*v)
		fprintf(out, "%s = %s\n", key, v);
	else
		fprintf(out, "%s =\n", key);
}

/* Appends the text of o's field of obj that reads back to its value. */
static void format_value(const struct confval_option *o, const void *obj, struct sbuf *b)
{
	const void *f = cfield_of(obj, o);
	char num[32];

	switch (o->type) {
	case CONFVAL_TEXT:
	case CONFVAL_CHOICE:
		if (o->show) {
			char *shown = o->show(*(char *const *)f);

			sbuf_puts(b, shown ? shown : "***");
			free(shown);
		} else {
			sbuf_puts(b, *(char *const *)f);
		}
		break;
	case CONFVAL_LIST:
		literal_to_list(*(char *const *)f, b);
		break;
	case CONFVAL_ENUM: {
		int v = *(const int *)f, count = 0;

		while (o->choices[count])
			count++;
		if (v >= 0 && v < count)
			sbuf_puts(b, o->choices[v]);
		else if (o->or_number)
			sbuf_printf(b, "%lld", (long long)*(const int64_t *)((const char *)obj +
									 o->number_offset));
		break;
	}
	case CONFVAL_BOOL:
		sbuf_puts(b, *(const bool *)f ? "true" : "false");
		break;
	case CONFVAL_INT:
		sbuf_printf(b, "%d", *(const int *)f);
		break;
	case CONFVAL_SIZE:
		sbuf_printf(b, "%ld", *(const long *)f);
		break;
	case CONFVAL_DURATION:
		if (o->unit_ms == o->store_ms) {
			sbuf_printf(b, "%d", *(const int *)f);
		} else {
			format_duration((unsigned long long)*(const int *)f *
					(unsigned long long)o->store_ms, o->store_ms, num, sizeof(num));
			sbuf_puts(b, num);
		}
		break;
	}
}

void confval_print(const struct confval_option *o, const void *obj, FILE *out)
{
	struct sbuf b = SBUF_INIT;

	fprintf(out, "# %s\n", o->help);
	if (is_string_type(o->type) && !*(char *const *)cfield_of(obj, o)) {
		fprintf(out, ";%s =\n", o->key);
		return;
	}
	format_value(o, obj, &b);
	print_kv(out, o->key, b.failed ? "" : sbuf_cstr(&b));
	sbuf_free(&b);
}

void confval_free(const struct confval_option *table, size_t n, void *obj)
{
	for (size_t i = 0; i < n; i++) {
		if (is_string_type(table[i].type)) {
			char **field = field_of(obj, &table[i]);

			free(*field);
			*field = NULL;
		}
	}
}
