/* check_confval.c - the one grammar of configuration values: for every
 * type, tables of text it must take (and how it prints back) and text it
 * must refuse (with the exact message); units, bounds, overflow, the bare
 * number counting the key's declared unit; and the same bad value giving
 * the same message in a global key and in a [subscription NAME] key. */
#include "buildconf.h"

#include <check.h>
#include "test_helpers.h"
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/confval.h"
#include "subs/subscription.h"


struct sample {
	char *text;
	char *path;
	char *colour;
	int shape;
	int64_t shape_number;
	int count;
	bool flag;
	long size;
	int secs;       /* counts seconds; bare numbers too */
	int msecs;      /* counts milliseconds; bare numbers too */
	int delay_ms;   /* counts milliseconds; a bare number is seconds */
	char *names;
};

static const char *const colours[] = { "red", "green", "Blue", NULL };
static const char *const shapes[] = { "circle", "square", NULL };

static char *path_convert(const char *v, const char **why)
{
	*why = NULL;
	if (v[0] != '/') {
		*why = "is not an absolute path";
		return NULL;
	}
	return strdup(v);
}

#define F(field) offsetof(struct sample, field)
static const struct confval_option options[] = {
	{ .section = "t", .key = "text", .type = CONFVAL_TEXT, .offset = F(text), .def = "dflt",
	  .help = "free text" },
	{ .section = "t", .key = "path", .type = CONFVAL_TEXT, .offset = F(path), .min = 1,
	  .convert = path_convert, .help = "an absolute path" },
	{ .section = "t", .key = "colour", .type = CONFVAL_CHOICE, .offset = F(colour),
	  .def = "red", .choices = colours, .help = "a colour" },
	{ .section = "t", .key = "shape", .type = CONFVAL_ENUM, .offset = F(shape),
	  .choices = shapes, .or_number = true, .number_offset = F(shape_number), .min = 3,
	  .max = 12, .help = "a shape, or a number of corners" },
	{ .section = "t", .key = "count", .type = CONFVAL_INT, .offset = F(count), .def = "7",
	  .min = -5, .max = INT_MAX, .help = "a count" },
	{ .section = "t", .key = "flag", .type = CONFVAL_BOOL, .offset = F(flag), .def = "false",
	  .help = "a flag" },
	{ .section = "t", .key = "size", .type = CONFVAL_SIZE, .offset = F(size), .def = "1K",
	  .min = 1, .max = 1L << 30, .help = "a size" },
	{ .section = "t", .key = "secs", .type = CONFVAL_DURATION, .offset = F(secs), .def = "30",
	  .min = 0, .max = 3600, .unit_ms = 1000, .store_ms = 1000, .help = "seconds" },
	{ .section = "t", .key = "msecs", .type = CONFVAL_DURATION, .offset = F(msecs),
	  .def = "500", .min = 10, .max = 3600000, .unit_ms = 1, .store_ms = 1,
	  .help = "milliseconds" },
	{ .section = "t", .key = "delay", .type = CONFVAL_DURATION, .offset = F(delay_ms),
	  .def = "5s", .min = 1, .max = 86400000, .unit_ms = 1000, .store_ms = 1,
	  .help = "a delay, bare numbers in seconds" },
	{ .section = "t", .key = "names", .type = CONFVAL_LIST, .offset = F(names),
	  .help = "names" },
};

static const struct confval_option *option(const char *key)
{
	const struct confval_option *o = confval_find(options, N_ELEMS(options), "t", key);

	ck_assert_msg(o != NULL, "no option %s", key);
	return o;
}

/* The value part of what confval_print writes for key ("" when it is
 * written commented out), as a new string. */
static char *printed(const struct sample *s, const char *key)
{
	const struct confval_option *o = option(key);
	char *text = NULL, *line, *eq;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	confval_print(o, s, f);
	ck_assert_int_eq(fclose(f), 0);
	line = strchr(text, '\n') + 1; /* after the help */
	*strchrnul(line, '\n') = '\0';
	eq = strstr(line, " = ");
	line = strdup(eq ? eq + 3 : "");
	free(text);
	return line;
}

static void sample_init(struct sample *s)
{
	char msg[256] = "";

	memset(s, 0, sizeof(*s));
	ck_assert_msg(confval_set_defaults(options, N_ELEMS(options), s, msg, sizeof(msg)), "%s",
		      msg);
}

/* ---- accepted ------------------------------------------------------------ */

/* (key, text, as printed back) */
static const struct { const char *key, *in, *out; } good[] = {
	{ "text", "anything at all", "anything at all" },
	{ "text", "", "" },
	{ "text", " padded ", "\" padded \"" },
	{ "text", "a ; b", "\"a ; b\"" },
	{ "path", "/etc/x", "/etc/x" },
	{ "colour", "green", "green" },
	{ "colour", "Blue", "Blue" },
	{ "shape", "square", "square" },
	{ "shape", "3", "3" },
	{ "shape", "12", "12" },
	{ "shape", "+5", "5" },
	/* integers: an optional sign, decimal digits, the key's bounds */
	{ "count", "0", "0" },
	{ "count", "-5", "-5" },
	{ "count", "+12", "12" },
	{ "count", "007", "7" },
	{ "count", "2147483647", "2147483647" },
	/* booleans: the spellings of the global and the subscription keys */
	{ "flag", "true", "true" }, { "flag", "TRUE", "true" }, { "flag", "yes", "true" },
	{ "flag", "Yes", "true" }, { "flag", "on", "true" }, { "flag", "ON", "true" },
	{ "flag", "1", "true" },
	{ "flag", "false", "false" }, { "flag", "False", "false" }, { "flag", "no", "false" },
	{ "flag", "NO", "false" }, { "flag", "off", "false" }, { "flag", "Off", "false" },
	{ "flag", "0", "false" },
	/* sizes: 1024-based units, any case, blanks allowed */
	{ "size", "1", "1" },
	{ "size", "4096", "4096" },
	{ "size", "1K", "1024" }, { "size", "1k", "1024" }, { "size", "1KiB", "1024" },
	{ "size", "512 kib", "524288" },
	{ "size", "2M", "2097152" }, { "size", "2 MiB", "2097152" }, { "size", "3m", "3145728" },
	{ "size", "1G", "1073741824" }, { "size", "1GiB", "1073741824" },
	/* durations: ms, s, m, min, h; a bare number counts the declared unit */
	{ "secs", "30", "30" },
	{ "secs", "0", "0" },
	{ "secs", "30s", "30" },
	{ "secs", "30 s", "30" },
	{ "secs", "2m", "120" },
	{ "secs", "2min", "120" },
	{ "secs", "1h", "3600" },
	{ "secs", "2000ms", "2" },
	{ "msecs", "30", "30" },
	{ "msecs", "250ms", "250" },
	{ "msecs", "2s", "2000" },
	{ "msecs", "1m", "60000" },
	{ "msecs", "1min", "60000" },
	{ "msecs", "1h", "3600000" },
	{ "delay", "30", "30s" },
	{ "delay", "250ms", "250ms" },
	{ "delay", "1500ms", "1500ms" },
	{ "delay", "90s", "90s" },
	{ "delay", "120", "2min" },
	{ "delay", "5m", "5min" },
	{ "delay", "3min", "3min" },
	{ "delay", "24h", "24h" },
	{ "delay", "1ms", "1ms" },
	{ "delay", "86400", "24h" },
	/* lists: commas, blanks around names dropped, quotes kept */
	{ "names", "A", "A" },
	{ "names", "A, B,C", "A, B, C" },
	{ "names", " A ,, B ", "A, B" },
	{ "names", "\"q\", b\\s", "\"\"q\", b\\s\"" },
};

START_TEST(accepted)
{
	struct sample s, back;
	char msg[256] = "";
	char *out, *again;

	sample_init(&s);
	ck_assert_msg(confval_set(option(good[_i].key), &s, good[_i].in, msg, sizeof(msg)),
		      "%s = '%s' refused: %s", good[_i].key, good[_i].in, msg);
	out = printed(&s, good[_i].key);
	ck_assert_str_eq(out, good[_i].out);

	/* what is printed reads back to the same value (quotes are the file's) */
	sample_init(&back);
	if (out[0] == '"') {
		out[strlen(out) - 1] = '\0';
		memmove(out, out + 1, strlen(out));
	}
	ck_assert_msg(confval_set(option(good[_i].key), &back, out, msg, sizeof(msg)), "%s", msg);
	again = printed(&back, good[_i].key);
	ck_assert_str_eq(again, good[_i].out);
	free(again);
	free(out);
	confval_free(options, N_ELEMS(options), &s);
	confval_free(options, N_ELEMS(options), &back);
}
END_TEST

/* A bare number means the unit the key declares, whatever its field counts. */
START_TEST(bare_number_is_the_declared_unit)
{
	struct sample s;
	char msg[256] = "";

	sample_init(&s);
	ck_assert(confval_set(option("secs"), &s, "30", msg, sizeof(msg)));
	ck_assert(confval_set(option("msecs"), &s, "30", msg, sizeof(msg)));
	ck_assert(confval_set(option("delay"), &s, "30", msg, sizeof(msg)));
	ck_assert_int_eq(s.secs, 30);        /* seconds, counted in seconds */
	ck_assert_int_eq(s.msecs, 30);       /* milliseconds, counted in milliseconds */
	ck_assert_int_eq(s.delay_ms, 30000); /* seconds, counted in milliseconds */
	ck_assert(confval_set(option("delay"), &s, "30ms", msg, sizeof(msg)));
	ck_assert_int_eq(s.delay_ms, 30);
	confval_free(options, N_ELEMS(options), &s);
}
END_TEST

START_TEST(defaults_and_fields)
{
	struct sample s;
	char msg[256] = "", *out;

	sample_init(&s);
	ck_assert_str_eq(s.text, "dflt");
	ck_assert_ptr_null(s.path);   /* no default: not set */
	ck_assert_ptr_null(s.names);
	ck_assert_str_eq(s.colour, "red");
	ck_assert_int_eq(s.count, 7);
	ck_assert_int_eq(s.size, 1024);
	ck_assert_int_eq(s.secs, 30);
	ck_assert_int_eq(s.msecs, 500);
	ck_assert_int_eq(s.delay_ms, 5000);

	ck_assert(confval_set(option("shape"), &s, "square", msg, sizeof(msg)));
	ck_assert_int_eq(s.shape, 1);
	ck_assert(confval_set(option("shape"), &s, "7", msg, sizeof(msg)));
	ck_assert_int_eq(s.shape, 2); /* the value after the last word */
	ck_assert_int_eq(s.shape_number, 7);
	ck_assert(confval_set(option("names"), &s, "A, \"B\"", msg, sizeof(msg)));
	ck_assert_str_eq(s.names, "{\"A\",\"\\\"B\\\"\"}");
	ck_assert(confval_set(option("names"), &s, " , ", msg, sizeof(msg)));
	ck_assert_ptr_null(s.names); /* a list naming nothing */
	out = printed(&s, "names");
	ck_assert_str_eq(out, ""); /* written commented out */
	free(out);
	confval_free(options, N_ELEMS(options), &s);
	ck_assert_ptr_null(s.text);
	ck_assert_ptr_null(s.colour);
}
END_TEST

/* ---- refused ------------------------------------------------------------- */

#define NOT_DURATION_S ": a number of seconds, or a number with ms, s, m, min or h"
#define NOT_DURATION_MS ": a number of milliseconds, or a number with ms, s, m, min or h"
#define NOT_SIZE " is not a size (bytes, or with K, KiB, M, MiB, G, GiB)"
#define NOT_BOOL " is not a boolean (true/false, yes/no, on/off, 1/0)"

/* (key, text, the whole message) */
static const struct { const char *key, *in, *msg; } bad[] = {
	{ "path", "", "needs a value" },
	{ "path", "rel/x", "'rel/x' is not an absolute path" },
	{ "colour", "blue", "'blue' is not one of: red green Blue" },
	{ "colour", "", "'' is not one of: red green Blue" },
	{ "colour", "red ", "'red ' is not one of: red green Blue" },
	{ "shape", "hexagon", "'hexagon' is not one of: circle square, nor a number from 3 to 12" },
	{ "shape", "2", "'2' is not one of: circle square, nor a number from 3 to 12" },
	{ "shape", "13", "'13' is not one of: circle square, nor a number from 3 to 12" },
	/* integers */
	{ "count", "", "'' is not an integer" },
	{ "count", "abc", "'abc' is not an integer" },
	{ "count", "12x", "'12x' is not an integer" },
	{ "count", "1.5", "'1.5' is not an integer" },
	{ "count", "0x10", "'0x10' is not an integer" },
	{ "count", " 5", "' 5' is not an integer" },
	{ "count", "5 ", "'5 ' is not an integer" },
	{ "count", "-", "'-' is not an integer" },
	{ "count", "--5", "'--5' is not an integer" },
	{ "count", "-6", "'-6' is out of range (-5 to 2147483647)" },
	{ "count", "2147483648", "'2147483648' is out of range (-5 to 2147483647)" },
	{ "count", "99999999999999999999", "'99999999999999999999' is out of range (-5 to 2147483647)" },
	{ "count", "-99999999999999999999", "'-99999999999999999999' is out of range (-5 to 2147483647)" },
	/* booleans */
	{ "flag", "maybe", "'maybe'" NOT_BOOL },
	{ "flag", "", "''" NOT_BOOL },
	{ "flag", "2", "'2'" NOT_BOOL },
	{ "flag", "y", "'y'" NOT_BOOL },
	{ "flag", "truee", "'truee'" NOT_BOOL },
	/* sizes */
	{ "size", "", "''" NOT_SIZE },
	{ "size", "-1", "'-1'" NOT_SIZE },
	{ "size", "5 PB", "'5 PB'" NOT_SIZE },
	{ "size", "1.5M", "'1.5M'" NOT_SIZE },
	{ "size", "K", "'K'" NOT_SIZE },
	{ "size", "0", "'0' is out of range (1 to 1073741824 bytes)" },
	{ "size", "2GiB", "'2GiB' is out of range (1 to 1073741824 bytes)" },
	{ "size", "1073741825", "'1073741825' is out of range (1 to 1073741824 bytes)" },
	{ "size", "99999999999999999999999K",
	  "'99999999999999999999999K' is out of range (1 to 1073741824 bytes)" },
	{ "size", "18014398509481984K", "'18014398509481984K' is out of range (1 to 1073741824 bytes)" },
	/* durations */
	{ "secs", "", "'' is not a duration" NOT_DURATION_S },
	{ "secs", "s", "'s' is not a duration" NOT_DURATION_S },
	{ "secs", "-1", "'-1' is not a duration" NOT_DURATION_S },
	{ "secs", "-1s", "'-1s' is not a duration" NOT_DURATION_S },
	{ "secs", "1.5s", "'1.5s' is not a duration" NOT_DURATION_S },
	{ "secs", "5sec", "'5sec' is not a duration" NOT_DURATION_S },
	{ "secs", "5S", "'5S' is not a duration" NOT_DURATION_S },
	{ "secs", "1d", "'1d' is not a duration" NOT_DURATION_S },
	{ "secs", "1 day", "'1 day' is not a duration" NOT_DURATION_S },
	{ "secs", "1h30m", "'1h30m' is not a duration" NOT_DURATION_S },
	{ "secs", "1500ms", "'1500ms' is not a whole number of seconds" },
	{ "secs", "3601", "'3601' is out of range (0s to 1h)" },
	{ "secs", "61min", "'61min' is out of range (0s to 1h)" },
	{ "secs", "99999999999999999999", "'99999999999999999999' is out of range (0s to 1h)" },
	{ "secs", "18446744073709551615h", "'18446744073709551615h' is out of range (0s to 1h)" },
	{ "msecs", "1x", "'1x' is not a duration" NOT_DURATION_MS },
	{ "msecs", "9", "'9' is out of range (10ms to 1h)" },
	{ "msecs", "9ms", "'9ms' is out of range (10ms to 1h)" },
	{ "msecs", "2h", "'2h' is out of range (10ms to 1h)" },
	{ "delay", "0", "'0' is out of range (1ms to 24h)" },
	{ "delay", "0ms", "'0ms' is out of range (1ms to 24h)" },
	{ "delay", "86401", "'86401' is out of range (1ms to 24h)" },
	{ "delay", "25h", "'25h' is out of range (1ms to 24h)" },
	{ "delay", "5 sec", "'5 sec' is not a duration" NOT_DURATION_S },
	/* a long value is cut in the message */
	{ "count", "1234567890123456789012345678901234567890123456789012345678901234567890",
	  "'1234567890123456789012345678901234567890123456789012345678901234...' is out of range "
	  "(-5 to 2147483647)" },
};

START_TEST(refused)
{
	struct sample s;
	char msg[256] = "";
	char *before, *after;

	sample_init(&s);
	before = printed(&s, bad[_i].key);
	ck_assert_msg(!confval_set(option(bad[_i].key), &s, bad[_i].in, msg, sizeof(msg)),
		      "%s = '%s' accepted", bad[_i].key, bad[_i].in);
	ck_assert_str_eq(msg, bad[_i].msg);
	after = printed(&s, bad[_i].key);
	ck_assert_str_eq(after, before); /* the field kept its value */
	free(before);
	free(after);
	confval_free(options, N_ELEMS(options), &s);
}
END_TEST

/* ---- one message for one value, wherever it is written --------------------- */

/* (global section, global key, subscription key, value) */
static const struct { const char *section, *key, *sub_key, *value; } same[] = {
	{ "runner", "shutdown_timeout", "processing_timeout", "5 days" },
	{ "runner", "shutdown_timeout", "processing_timeout", "1.5s" },
	{ "http", "max_wait", "checkpoint_interval", "-1s" },
	{ "jwt", "leeway", "retry_max_delay", "1d" },
	{ "http", "health_requires_auth", "continue_on_error", "maybe" },
	{ "http", "max_page", "batch_size", "12x" },
	{ "http", "max_page", "partitions", "" },
};

/* The text after "key: " in err, which must start "path:line: ". */
static const char *message_after(const char *err, const char *path, int line, const char *key)
{
	char want[512];
	const char *p;

	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not start '%s'", err, want);
	snprintf(want, sizeof(want), "%s: ", key);
	p = strstr(err, want);
	ck_assert_msg(p != NULL, "'%s' does not name %s", err, key);
	return p + strlen(want);
}

START_TEST(same_message_in_global_and_subscription_keys)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300], text[512], gerr[512] = "", serr[512] = "", gkey[64];
	struct es_config cfg;
	struct subscription sub;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/evstore-confval.XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/evstore.conf", dir);
	unsetenv("DATABASE_URL");

	/* the global key refuses the value when the file is loaded */
	snprintf(text, sizeof(text), "[%s]\n%s = %s\n", same[_i].section, same[_i].key,
		 same[_i].value);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert(!config_load(&cfg, path, gerr, sizeof(gerr)));

	/* the subscription key refuses it when its section is read */
	snprintf(text, sizeof(text), "[subscription s]\nhandler = audit\n%s = %s\n",
		 same[_i].sub_key, same[_i].value);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_msg(config_load(&cfg, path, serr, sizeof(serr)), "%s", serr);
	ck_assert_int_eq(subscription_parse(&cfg.subscriptions[0], cfg.source_path, &sub, serr,
					    sizeof(serr)), ES_EINVAL);
	config_free(&cfg);
	unlink(path);
	rmdir(dir);

	snprintf(gkey, sizeof(gkey), "%s.%s", same[_i].section, same[_i].key);
	ck_assert_str_eq(message_after(serr, path, 3, same[_i].sub_key),
			 message_after(gerr, path, 2, gkey));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("confval");
	TCase *tc = tcase_create("grammar");

	tcase_add_loop_test(tc, accepted, 0, N_ELEMS(good));
	tcase_add_test(tc, bare_number_is_the_declared_unit);
	tcase_add_test(tc, defaults_and_fields);
	tcase_add_loop_test(tc, refused, 0, N_ELEMS(bad));
	suite_add_tcase(s, tc);

	tc = tcase_create("everywhere");
	tcase_add_loop_test(tc, same_message_in_global_and_subscription_keys, 0, N_ELEMS(same));
	suite_add_tcase(s, tc);
	return check_run(s);
}
