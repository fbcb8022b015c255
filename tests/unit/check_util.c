/* check_util.c - the small modules: uuid, timefmt, cursor, sbuf, log. */
#include "buildconf.h"

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "base/config.h"
#include "store/feed_cursor.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/timefmt.h"
#include "base/uuidtext.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- uuid ---------------------------------------------------------------- */

static const struct { const char *in, *out; } uuid_good[] = {
	{ "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000" },
	{ "123E4567-E89B-12D3-A456-426614174ABC", "123e4567-e89b-12d3-a456-426614174abc" },
	{ "00000000-0000-0000-0000-000000000000", UUIDTEXT_NIL },
	{ "FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF", "ffffffff-ffff-ffff-ffff-ffffffffffff" },
};

START_TEST(uuid_parse_accepts_and_lowercases)
{
	char out[UUIDTEXT_LEN];

	ck_assert(uuidtext_parse(uuid_good[_i].in, out));
	ck_assert_str_eq(out, uuid_good[_i].out);
}
END_TEST

static const char *const uuid_bad[] = {
	"",
	"123e4567-e89b-12d3-a456-42661417400",    /* one short */
	"123e4567-e89b-12d3-a456-4266141740000",  /* one long */
	"123e4567e89b12d3a456426614174000",       /* no hyphens */
	"123e4567-e89b-12d3-a456_426614174000",   /* wrong separator */
	"123e456-7e89b-12d3-a456-426614174000",   /* hyphen misplaced */
	"123e4567-e89b-12d3-a456-42661417400g",   /* not hex */
	"{123e4567-e89b-12d3-a456-426614174000}", /* braces */
	"urn:uuid:123e4567-e89b-12d3-a456-426614174000",
	" 123e4567-e89b-12d3-a456-426614174000",
	"123e4567-e89b-12d3-a456-426614174000 ",
	"123e4567-e89b-12d3-a456-4266141740\xc3\xa9",
};

START_TEST(uuid_parse_rejects)
{
	char out[UUIDTEXT_LEN] = "untouched";

	ck_assert_msg(!uuidtext_parse(uuid_bad[_i], out), "accepted '%s'", uuid_bad[_i]);
	ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(uuid_parse_null)
{
	char out[UUIDTEXT_LEN];

	ck_assert(!uuidtext_parse(NULL, out));
}
END_TEST

START_TEST(uuid_v7_layout)
{
	char id[UUIDTEXT_LEN], copy[UUIDTEXT_LEN], hex[13];
	uint64_t ms, now_ms = (uint64_t)(time_now_usec() / 1000);

	uuidtext_v7(id);
	ck_assert_uint_eq(strlen(id), 36);
	ck_assert(uuidtext_parse(id, copy));
	ck_assert_str_eq(id, copy); /* canonical lowercase */
	ck_assert_int_eq(id[14], '7');
	ck_assert_ptr_nonnull(strchr("89ab", id[19]));
	/* the first 48 bits are the Unix time in milliseconds */
	memcpy(hex, id, 8);
	memcpy(hex + 8, id + 9, 4);
	hex[12] = '\0';
	ms = strtoull(hex, NULL, 16);
	ck_assert_msg(ms + 5000 > now_ms && ms < now_ms + 5000,
		      "timestamp %llu is not near now %llu", (unsigned long long)ms,
		      (unsigned long long)now_ms);
}
END_TEST

START_TEST(uuid_v7_monotonic_and_unique)
{
	enum { N = 20000 };
	char (*ids)[UUIDTEXT_LEN] = malloc(N * UUIDTEXT_LEN);

	ck_assert_ptr_nonnull(ids);
	/* many ids share a millisecond here: the order must still hold */
	for (int i = 0; i < N; i++)
		uuidtext_v7(ids[i]);
	for (int i = 1; i < N; i++)
		ck_assert_msg(strcmp(ids[i - 1], ids[i]) < 0, "%s !< %s", ids[i - 1], ids[i]);
	free(ids);
}
END_TEST

static Suite *uuid_suite(void)
{
	Suite *s = suite_create("uuid");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, uuid_parse_accepts_and_lowercases, 0, N_ELEMS(uuid_good));
	tcase_add_loop_test(tc, uuid_parse_rejects, 0, N_ELEMS(uuid_bad));
	tcase_add_test(tc, uuid_parse_null);
	suite_add_tcase(s, tc);
	tc = tcase_create("v7");
	tcase_add_test(tc, uuid_v7_layout);
	tcase_add_test(tc, uuid_v7_monotonic_and_unique);
	suite_add_tcase(s, tc);
	return s;
}

/* ---- timefmt ------------------------------------------------------------- */

static const struct { const char *in; int64_t usec; const char *canonical; } time_good[] = {
	{ "1970-01-01T00:00:00Z", 0, "1970-01-01T00:00:00.000000Z" },
	{ "2026-11-27T10:00:00Z", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27t10:00:00z", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27T12:00:00+02:00", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27T04:30:00-05:30", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27T10:00:00-00:00", INT64_C(1795773600000000), "2026-11-27T10:00:00.000000Z" },
	{ "2026-11-27T10:00:00.5Z", INT64_C(1795773600500000), "2026-11-27T10:00:00.500000Z" },
	{ "2026-11-27T10:00:00.123456789Z", INT64_C(1795773600123456),
	  "2026-11-27T10:00:00.123456Z" },
	{ "1969-12-31T23:59:59.999999Z", -1, "1969-12-31T23:59:59.999999Z" },
	{ "2024-02-29T00:00:00Z", INT64_C(1709164800000000), "2024-02-29T00:00:00.000000Z" },
	{ "2000-02-29T00:00:00Z", INT64_C(951782400000000), "2000-02-29T00:00:00.000000Z" },
	{ "0001-01-01T00:00:00Z", INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z" },
	{ "9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999),
	  "9999-12-31T23:59:59.999999Z" },
	/* a leap second is the first instant of the next minute */
	{ "2016-12-31T23:59:60Z", INT64_C(1483228800000000), "2017-01-01T00:00:00.000000Z" },
};

START_TEST(time_parse_accepts)
{
	int64_t u = 42;
	char out[TIMEFMT_LEN];

	ck_assert_msg(timefmt_parse(time_good[_i].in, &u), "refused %s", time_good[_i].in);
	ck_assert_int_eq(u, time_good[_i].usec);
	timefmt_format(u, out);
	ck_assert_str_eq(out, time_good[_i].canonical);
}
END_TEST

static const char *const time_bad[] = {
	"",
	"2026-11-27",
	"2026-11-27T10:00:00",         /* no offset */
	"2026-11-27 10:00:00Z",        /* space instead of T */
	"2026-11-27T10:00Z",           /* no seconds */
	"2026-13-01T00:00:00Z",
	"2026-00-10T00:00:00Z",
	"2026-11-00T00:00:00Z",
	"2026-02-30T00:00:00Z",
	"2023-02-29T00:00:00Z",        /* not a leap year */
	"1900-02-29T00:00:00Z",        /* centuries are not leap years */
	"2026-04-31T00:00:00Z",
	"0000-01-01T00:00:00Z",        /* year 0 */
	"10000-01-01T00:00:00Z",
	"2026-11-27T24:00:00Z",
	"2026-11-27T10:60:00Z",
	"2026-11-27T10:00:61Z",
	"2026-11-27T10:00:00.Z",       /* dot without digits */
	"2026-11-27T10:00:00.1234567891Z", /* 10 fraction digits */
	"2026-11-27T10:00:00+02",
	"2026-11-27T10:00:00+0200",
	"2026-11-27T10:00:00+24:00",
	"2026-11-27T10:00:00+02:60",
	"2026-11-27T10:00:00Zjunk",
	"2026-11-27T10:00:00Z ",
	" 2026-11-27T10:00:00Z",
	"2026-1-27T10:00:00Z",
	"20261127T100000Z",
	"2026-11-27T10:00:00,5Z",
	"+2026-11-27T10:00:00Z",
	"2026-11-27T10:00:00UTC",
};

START_TEST(time_parse_rejects)
{
	int64_t u = 42;

	ck_assert_msg(!timefmt_parse(time_bad[_i], &u), "accepted '%s'", time_bad[_i]);
	ck_assert_int_eq(u, 42);
}
END_TEST

START_TEST(time_parse_ignores_tz)
{
	int64_t a, b;

	ck_assert(timefmt_parse("2026-07-01T12:00:00Z", &a));
	setenv("TZ", "America/New_York", 1);
	tzset();
	ck_assert(timefmt_parse("2026-07-01T12:00:00Z", &b));
	ck_assert_int_eq(a, b);
}
END_TEST

START_TEST(time_format_round_trip)
{
	/* a spread of instants, both sides of the epoch */
	int64_t u = INT64_C(-62135596800000000) + (int64_t)_i * INT64_C(3155760000123457);
	int64_t back = 0;
	char s[TIMEFMT_LEN];

	timefmt_format(u, s);
	ck_assert_msg(timefmt_parse(s, &back), "refused own output %s", s);
	ck_assert_int_eq(back, u);
}
END_TEST

START_TEST(time_format_extremes)
{
	char s[TIMEFMT_LEN];

	timefmt_format(INT64_MAX, s);
	ck_assert_str_eq(s, "+294247-01-10T04:00:54.775807Z");
	timefmt_format(INT64_MIN, s);
	ck_assert_str_eq(s, "-290308-12-21T19:59:05.224192Z");
}
END_TEST

START_TEST(time_clocks)
{
	int64_t now = time_now_usec(), m1 = time_mono_ms(), m2;

	ck_assert(now / 1000000 - (int64_t)time(NULL) <= 1);
	ck_assert(now / 1000000 - (int64_t)time(NULL) >= -1);
	m2 = time_mono_ms();
	ck_assert(m2 >= m1);
}
END_TEST

static Suite *timefmt_suite(void)
{
	Suite *s = suite_create("timefmt");
	TCase *tc = tcase_create("rfc3339");

	tcase_add_loop_test(tc, time_parse_accepts, 0, N_ELEMS(time_good));
	tcase_add_loop_test(tc, time_parse_rejects, 0, N_ELEMS(time_bad));
	tcase_add_test(tc, time_parse_ignores_tz);
	tcase_add_loop_test(tc, time_format_round_trip, 0, 100);
	tcase_add_test(tc, time_format_extremes);
	tcase_add_test(tc, time_clocks);
	suite_add_tcase(s, tc);
	return s;
}

/* ---- cursor -------------------------------------------------------------- */

static const struct { uint64_t txid; int64_t pos; const char *text; } cursor_good[] = {
	{ 0, 0, "10000000000000000" "0000000000000000" },
	{ 1, 1, "10000000000000001" "0000000000000001" },
	{ 0xdeadbeefULL, 42, "100000000deadbeef" "000000000000002a" },
	{ UINT64_MAX, INT64_MAX, "1ffffffffffffffff" "7fffffffffffffff" },
};

START_TEST(cursor_round_trip)
{
	struct feed_cursor c = { cursor_good[_i].txid, cursor_good[_i].pos }, back;
	char s[FEED_CURSOR_LEN];

	feed_cursor_encode(&c, s);
	ck_assert_str_eq(s, cursor_good[_i].text);
	ck_assert(feed_cursor_decode(s, &back));
	ck_assert_uint_eq(back.txid, c.txid);
	ck_assert_int_eq(back.position, c.position);
}
END_TEST

START_TEST(cursor_empty_is_start)
{
	struct feed_cursor c = { 7, 7 };

	ck_assert(feed_cursor_decode("", &c));
	ck_assert_uint_eq(c.txid, 0);
	ck_assert_int_eq(c.position, 0);
}
END_TEST

static const char *const cursor_bad[] = {
	"0" "00000000deadbeef" "000000000000002a",  /* unknown version */
	"2" "00000000deadbeef" "000000000000002a",
	"1" "00000000DEADBEEF" "000000000000002a",  /* upper case */
	"1" "00000000deadbeef" "000000000000002",   /* short */
	"1" "00000000deadbeef" "000000000000002a0", /* long */
	"1" "00000000deadbeeg" "000000000000002a",  /* not hex */
	"1" "00000000deadbeef" "800000000000002a",  /* negative position */
	"1" "00000000deadbeef" "00000000000002a ",
	"1" " 0000000deadbeef" "000000000000002a",
	"1" "-0000000deadbeef" "000000000000002a",
	"1",
	"abc",
	"1%30000000deadbeef000000000000002a",
};

START_TEST(cursor_rejects)
{
	struct feed_cursor c = { 7, 7 };

	ck_assert_msg(!feed_cursor_decode(cursor_bad[_i], &c), "accepted '%s'", cursor_bad[_i]);
	ck_assert_uint_eq(c.txid, 7);
	ck_assert_int_eq(c.position, 7);
}
END_TEST

START_TEST(cursor_null)
{
	struct feed_cursor c;

	ck_assert(!feed_cursor_decode(NULL, &c));
}
END_TEST

static Suite *cursor_suite(void)
{
	Suite *s = suite_create("cursor");
	TCase *tc = tcase_create("codec");

	tcase_add_loop_test(tc, cursor_round_trip, 0, N_ELEMS(cursor_good));
	tcase_add_test(tc, cursor_empty_is_start);
	tcase_add_loop_test(tc, cursor_rejects, 0, N_ELEMS(cursor_bad));
	tcase_add_test(tc, cursor_null);
	suite_add_tcase(s, tc);
	return s;
}

/* ---- sbuf ---------------------------------------------------------------- */

START_TEST(sbuf_builds_text)
{
	struct sbuf b = SBUF_INIT;

	ck_assert_str_eq(sbuf_cstr(&b), "");
	sbuf_puts(&b, "abc");
	sbuf_putc(&b, '-');
	sbuf_append(&b, "xyz", 2);
	sbuf_printf(&b, "[%d:%s]", 42, "q");
	ck_assert_str_eq(sbuf_cstr(&b), "abc-xy[42:q]");
	ck_assert_uint_eq(b.len, 12);
	ck_assert(!b.failed);
	sbuf_free(&b);
	ck_assert_ptr_null(b.data);
	sbuf_free(&b); /* twice is harmless */
}
END_TEST

START_TEST(sbuf_grows)
{
	struct sbuf b = SBUF_INIT;
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 100; i++)
		sbuf_printf(&b, "%s%d", big, i % 10);
	ck_assert_uint_eq(b.len, 100 * sizeof(big));
	ck_assert_uint_eq(strlen(sbuf_cstr(&b)), b.len);
	ck_assert_int_eq(b.data[sizeof(big) - 1], '0');
	ck_assert_int_eq(b.data[b.len - 1], '9');
	sbuf_free(&b);
}
END_TEST

START_TEST(sbuf_reset_keeps_memory)
{
	struct sbuf b = SBUF_INIT;
	size_t cap;

	sbuf_puts(&b, "some text that needs room");
	cap = b.cap;
	sbuf_reset(&b);
	ck_assert_str_eq(sbuf_cstr(&b), "");
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, cap);
	sbuf_puts(&b, "new");
	ck_assert_str_eq(sbuf_cstr(&b), "new");
	sbuf_free(&b);
}
END_TEST

START_TEST(sbuf_binary)
{
	struct sbuf b = SBUF_INIT;

	sbuf_append(&b, "a\0b", 3);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(memcmp(b.data, "a\0b", 4), 0); /* NUL-terminated too */
	sbuf_free(&b);
}
END_TEST

static const struct { const char *in, *json; } json_strings[] = {
	{ "", "\"\"" },
	{ "plain", "\"plain\"" },
	{ "say \"hi\"\\", "\"say \\\"hi\\\"\\\\\"" },
	{ "a/b", "\"a/b\"" },
	{ "line\nbreak\ttab\r\b\f", "\"line\\nbreak\\ttab\\r\\b\\f\"" },
	{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
	{ "caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"" },
	{ "bad \xc0\xaf end", "\"bad \\ufffd\\ufffd end\"" },        /* overlong */
	{ "sur \xed\xa0\x80", "\"sur \\ufffd\\ufffd\\ufffd\"" },     /* surrogate */
	{ "cut \xe2\x82", "\"cut \\ufffd\\ufffd\"" },                /* truncated */
};

START_TEST(sbuf_json_string_escapes)
{
	struct sbuf b = SBUF_INIT;
	json_object *o;

	sbuf_json_string(&b, json_strings[_i].in);
	ck_assert_str_eq(sbuf_cstr(&b), json_strings[_i].json);
	/* whatever went in, what comes out is one valid JSON string */
	o = json_tokener_parse(sbuf_cstr(&b));
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_is_type(o, json_type_string));
	json_object_put(o);
	sbuf_free(&b);
}
END_TEST

static Suite *sbuf_suite(void)
{
	Suite *s = suite_create("sbuf");
	TCase *tc = tcase_create("buffer");

	tcase_add_test(tc, sbuf_builds_text);
	tcase_add_test(tc, sbuf_grows);
	tcase_add_test(tc, sbuf_reset_keeps_memory);
	tcase_add_test(tc, sbuf_binary);
	tcase_add_loop_test(tc, sbuf_json_string_escapes, 0, N_ELEMS(json_strings));
	suite_add_tcase(s, tc);
	return s;
}

/* ---- log ----------------------------------------------------------------- */

static char log_dir[256];
static char log_path[300];
static int saved_stderr = -1;

/* Sends stderr to a file in a fresh temporary directory. */
static void capture_stderr(void)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	snprintf(log_dir, sizeof(log_dir), "%s/evstore-log.XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(log_dir));
	snprintf(log_path, sizeof(log_path), "%s/stderr", log_dir);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Restores stderr and returns what was written (malloc), cleaning up. */
static char *captured(void)
{
	FILE *f;
	char *text;
	long n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	f = fopen(log_path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(fread(text, 1, (size_t)n, f), n);
	fclose(f);
	unlink(log_path);
	rmdir(log_dir);
	return text;
}

/* The keys of a one-line JSON object, in order, joined by ','. */
static void key_order(const char *line, char *out, size_t len)
{
	json_object *o = json_tokener_parse(line);
	size_t used = 0;

	ck_assert_msg(json_object_is_type(o, json_type_object), "not a JSON object: %s", line);
	out[0] = '\0';
	json_object_object_foreach(o, k, v) {
		(void)v;
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "", k);
	}
	json_object_put(o);
}

static void open_stderr_log(const char *level)
{
	struct es_config cfg;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.target = (char *)"stderr";
	cfg.log.level = (char *)level;
	cfg.log.facility = (char *)"daemon";
	cfg.log.audit_facility = (char *)"local5";
	ck_assert_msg(log_open("evstore-test", &cfg, err, sizeof(err)), "%s", err);
}

START_TEST(log_before_open_goes_to_stderr)
{
	char *text, keys[256];
	json_object *o, *v;

	capture_stderr();
	log_kv(LOG_INFO, "started", "path", "/v1/events", "skipped", NULL, "req_id", "r1",
	       (char *)NULL);
	log_kv(LOG_DEBUG, "too_chatty", "x", "1", (char *)NULL);
	text = captured();

	ck_assert_ptr_null(strstr(text, "too_chatty")); /* info by default */
	ck_assert_ptr_nonnull(strchr(text, '\n'));
	ck_assert_ptr_null(strchr(strchr(text, '\n') + 1, '\n')); /* exactly one line */
	ck_assert_ptr_nonnull(strstr(text, "\"/v1/events\"")); /* no \/ escaping */
	key_order(text, keys, sizeof(keys));
	ck_assert_str_eq(keys, "event,level,ts,path,req_id");
	o = json_tokener_parse(text);
	ck_assert(json_object_object_get_ex(o, "ts", &v));
	ck_assert(timefmt_parse(json_object_get_string(v), &(int64_t){ 0 }));
	json_object_put(o);
	free(text);
}
END_TEST

START_TEST(log_json_fields_and_level)
{
	json_object *f = json_object_new_object();
	char *text, keys[256], *line2;

	open_stderr_log("warning");
	json_object_object_add(f, "status", json_object_new_int(503));
	json_object_object_add(f, "event", json_object_new_string("spoofed"));
	json_object_object_add(f, "dur_ms", json_object_new_double(1.5));
	capture_stderr();
	log_json(LOG_WARNING, "db_unavailable", f);
	log_json(LOG_INFO, "dropped", json_object_new_object()); /* below the level */
	log_kv(LOG_ERR, "failed", "why", "line1\nline2", (char *)NULL);
	text = captured();
	log_close();

	ck_assert_ptr_null(strstr(text, "dropped"));
	ck_assert_ptr_null(strstr(text, "spoofed"));
	key_order(text, keys, sizeof(keys));
	ck_assert_str_eq(keys, "event,level,ts,status,dur_ms");
	ck_assert_ptr_nonnull(strstr(text, "\"event\":\"db_unavailable\",\"level\":\"warning\""));
	line2 = strchr(text, '\n') + 1;
	ck_assert_ptr_nonnull(strstr(line2, "\"event\":\"failed\",\"level\":\"error\""));
	ck_assert_ptr_nonnull(strstr(line2, "line1\\nline2")); /* a newline stays escaped */
	ck_assert_str_eq(strchr(line2, '\n'), "\n");
	free(text);
}
END_TEST

START_TEST(log_enabled_follows_level)
{
	open_stderr_log("debug");
	ck_assert(log_enabled(LOG_DEBUG));
	open_stderr_log("error");
	ck_assert(!log_enabled(LOG_WARNING));
	ck_assert(log_enabled(LOG_ERR));
	ck_assert(log_enabled(LOG_CRIT));
	log_close();
	ck_assert(log_enabled(LOG_INFO));
	ck_assert(!log_enabled(LOG_DEBUG));
}
END_TEST

START_TEST(log_audit_ignores_level)
{
	json_object *rec = json_object_new_object();
	char *text;

	open_stderr_log("error");
	json_object_object_add(rec, "audit_type", json_object_new_string("event_committed"));
	json_object_object_add(rec, "actor_id", json_object_new_string("user/1"));
	capture_stderr();
	log_audit(rec);
	text = captured();
	log_close();
	ck_assert_str_eq(text, "{\"audit_type\":\"event_committed\",\"actor_id\":\"user/1\"}\n");
	free(text);
}
END_TEST

static const struct { const char *target, *level, *facility, *audit, *what; } log_bad[] = {
	{ "file", "info", "daemon", "local5", "target" },
	{ "stderr", "verbose", "daemon", "local5", "level" },
	{ "stderr", "info", "local8", "local5", "facility" },
	{ "stderr", "info", "daemon", "nope", "audit_facility" },
};

START_TEST(log_open_rejects)
{
	struct es_config cfg;
	char err[256] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.target = (char *)log_bad[_i].target;
	cfg.log.level = (char *)log_bad[_i].level;
	cfg.log.facility = (char *)log_bad[_i].facility;
	cfg.log.audit_facility = (char *)log_bad[_i].audit;
	ck_assert(!log_open("evstore-test", &cfg, err, sizeof(err)));
	ck_assert_msg(strstr(err, log_bad[_i].what) != NULL, "message '%s'", err);
}
END_TEST

static const struct { const char *name; int value; } facility_names[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER }, { "local0", LOG_LOCAL0 },
	{ "local5", LOG_LOCAL5 }, { "LOCAL7", LOG_LOCAL7 }, { "authpriv", LOG_AUTHPRIV },
	{ "local8", -1 }, { "", -1 }, { "daemon ", -1 },
};

START_TEST(log_facility_names)
{
	ck_assert_int_eq(log_facility_from_name(facility_names[_i].name), facility_names[_i].value);
}
END_TEST

static const struct {
	int pri;
	int mon, mday, hour, min, sec;
	const char *ident;
	long pid;
	const char *want;
} rfc3164_headers[] = {
	{ LOG_DAEMON | LOG_INFO, 0, 5, 7, 8, 9, "evstore-fcgi", 42,
	  "<30>Jan  5 07:08:09 evstore-fcgi[42]: " },
	{ LOG_LOCAL5 | LOG_INFO, 11, 31, 23, 59, 60, "evstore-runner-audit", 4194304,
	  "<174>Dec 31 23:59:60 evstore-runner-audit[4194304]: " },
	{ LOG_KERN | LOG_EMERG, 6, 14, 0, 0, 0, "x", 1, "<0>Jul 14 00:00:00 x[1]: " },
	{ LOG_LOCAL7 | LOG_DEBUG, 8, 10, 12, 3, 4, "evstorectl", 7,
	  "<191>Sep 10 12:03:04 evstorectl[7]: " },
};

START_TEST(log_rfc3164_header)
{
	struct tm tm = { 0 };
	char buf[128], small[8];
	size_t n;

	tm.tm_mon = rfc3164_headers[_i].mon;
	tm.tm_mday = rfc3164_headers[_i].mday;
	tm.tm_hour = rfc3164_headers[_i].hour;
	tm.tm_min = rfc3164_headers[_i].min;
	tm.tm_sec = rfc3164_headers[_i].sec;
	n = log_format_rfc3164(buf, sizeof(buf), rfc3164_headers[_i].pri, &tm,
			       rfc3164_headers[_i].ident, rfc3164_headers[_i].pid);
	ck_assert_str_eq(buf, rfc3164_headers[_i].want);
	ck_assert_uint_eq(n, strlen(rfc3164_headers[_i].want));
	/* Too small a buffer: cut and terminated, the full length returned. */
	n = log_format_rfc3164(small, sizeof(small), rfc3164_headers[_i].pri, &tm,
			       rfc3164_headers[_i].ident, rfc3164_headers[_i].pid);
	ck_assert_uint_eq(n, strlen(rfc3164_headers[_i].want));
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

static const struct { const char *target, *socket, *what; } log_bad_socket[] = {
	{ "syslog", "relative/log.sock", "not an absolute path" },
	{ "stderr", "log.sock", "not an absolute path" },
	{ "syslog", "/a/path/much/longer/than/the/one/hundred/and/eight/bytes/that/a/unix/"
		    "socket/address/can/hold/in/its/sun_path/field/on/linux/log.sock", "longer than" },
};

START_TEST(log_open_rejects_socket)
{
	struct es_config cfg;
	char err[256] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.target = (char *)log_bad_socket[_i].target;
	cfg.log.socket = (char *)log_bad_socket[_i].socket;
	ck_assert(!log_open("evstore-test", &cfg, err, sizeof(err)));
	ck_assert_msg(strstr(err, "[log] socket") && strstr(err, log_bad_socket[_i].what),
		      "message '%s'", err);
}
END_TEST

static char sock_dir[256];
static char sock_path[300];

/* A datagram socket bound at sock_path (in a fresh directory the first
 * time), standing in for the syslog daemon. The caller closes it. */
static int daemon_bind(void)
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un addr;
	int fd;

	if (!sock_dir[0]) {
		snprintf(sock_dir, sizeof(sock_dir), "%s/evstore-sock.XXXXXX",
			 tmp && *tmp ? tmp : P_tmpdir);
		ck_assert_ptr_nonnull(mkdtemp(sock_dir));
		snprintf(sock_path, sizeof(sock_path), "%s/log.sock", sock_dir);
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(sock_path), sizeof(addr.sun_path));
	strcpy(addr.sun_path, sock_path);
	unlink(sock_path);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

static void daemon_gone(int fd)
{
	close(fd);
	unlink(sock_path);
}

/* The next datagram waiting on fd, as text; "" when there is none. */
static const char *daemon_next(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* True when a datagram is "<pri>Mmm dd hh:mm:ss " followed by rest. */
static bool datagram_is(const char *got, int pri, const char *rest)
{
	char head[16];
	int n = snprintf(head, sizeof(head), "<%d>", pri);

	return strncmp(got, head, (size_t)n) == 0 && strlen(got) > (size_t)n + 16 &&
	       got[n + 3] == ' ' && got[n + 15] == ' ' && strcmp(got + n + 16, rest) == 0;
}

static void open_socket_log(void)
{
	struct es_config cfg;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.log.target = (char *)"syslog";
	cfg.log.level = (char *)"info";
	cfg.log.facility = (char *)"daemon";
	cfg.log.audit_facility = (char *)"local5";
	cfg.log.socket = sock_path;
	ck_assert_msg(log_open("evstore-test", &cfg, err, sizeof(err)), "%s", err);
}

START_TEST(log_socket_datagrams)
{
	char buf[4096], want[256];
	json_object *rec;
	unsigned long before;
	int fd = daemon_bind();

	open_socket_log();
	log_kv(LOG_WARNING, "db_unavailable", "why", "gone/away", (char *)NULL);
	rec = json_object_new_object();
	json_object_object_add(rec, "audit_type", json_object_new_string("event_committed"));
	ck_assert(log_audit(rec));
	log_kv(LOG_DEBUG, "too_chatty", (char *)NULL);

	snprintf(want, sizeof(want), "evstore-test[%ld]: {\"event\":\"db_unavailable\","
		 "\"level\":\"warning\",\"why\":\"gone/away\"}", (long)getpid());
	daemon_next(fd, buf, sizeof(buf));
	ck_assert_msg(datagram_is(buf, LOG_DAEMON | LOG_WARNING, want), "got '%s'", buf);
	snprintf(want, sizeof(want), "evstore-test-audit[%ld]: {\"audit_type\":\"event_committed\"}",
		 (long)getpid());
	daemon_next(fd, buf, sizeof(buf));
	ck_assert_msg(datagram_is(buf, LOG_LOCAL5 | LOG_INFO, want), "got '%s'", buf);
	ck_assert_str_eq(daemon_next(fd, buf, sizeof(buf)), "");

	/* The daemon goes away: records are dropped and counted, nothing fails. */
	daemon_gone(fd);
	before = log_dropped();
	log_kv(LOG_ERR, "lost", (char *)NULL);
	ck_assert(!log_audit(json_object_new_object()));
	ck_assert_uint_eq(log_dropped(), before + 2);

	/* It comes back at the same path: the next record arrives, then the count. */
	fd = daemon_bind();
	log_kv(LOG_INFO, "back", (char *)NULL);
	ck_assert_ptr_nonnull(strstr(daemon_next(fd, buf, sizeof(buf)), "{\"event\":\"back\""));
	snprintf(want, sizeof(want), "evstore-test[%ld]: {\"event\":\"log_records_dropped\","
		 "\"level\":\"warning\",\"count\":2}", (long)getpid());
	daemon_next(fd, buf, sizeof(buf));
	ck_assert_msg(datagram_is(buf, LOG_DAEMON | LOG_WARNING, want), "got '%s'", buf);
	log_close();
	daemon_gone(fd);
	rmdir(sock_dir);
}
END_TEST

/* A daemon that stops reading costs a bounded wait, then records are
 * dropped at once (the test's own timeout would catch a process stuck
 * once per record); when it reads again the records flow again. */
START_TEST(log_socket_full_drops)
{
	char buf[4096], want[128];
	unsigned long dropped;
	int fd = daemon_bind(), drained = 0;

	open_socket_log();
	for (int i = 0; i < 3000; i++)
		log_kv(LOG_INFO, "burst", (char *)NULL);
	dropped = log_dropped();
	ck_assert_uint_gt(dropped, 0);
	while (*daemon_next(fd, buf, sizeof(buf)))
		drained++;
	ck_assert_uint_eq((unsigned long)drained + dropped, 3000);
	log_kv(LOG_INFO, "flowing", (char *)NULL);
	ck_assert_ptr_nonnull(strstr(daemon_next(fd, buf, sizeof(buf)), "{\"event\":\"flowing\""));
	snprintf(want, sizeof(want), "\"count\":%lu}", dropped);
	ck_assert_ptr_nonnull(strstr(daemon_next(fd, buf, sizeof(buf)), want));
	log_close();
	daemon_gone(fd);
	rmdir(sock_dir);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("records");

	tcase_add_test(tc, log_before_open_goes_to_stderr);
	tcase_add_test(tc, log_json_fields_and_level);
	tcase_add_test(tc, log_enabled_follows_level);
	tcase_add_test(tc, log_audit_ignores_level);
	tcase_add_loop_test(tc, log_open_rejects, 0, N_ELEMS(log_bad));
	tcase_add_loop_test(tc, log_facility_names, 0, N_ELEMS(facility_names));
	tcase_add_loop_test(tc, log_rfc3164_header, 0, N_ELEMS(rfc3164_headers));
	tcase_add_loop_test(tc, log_open_rejects_socket, 0, N_ELEMS(log_bad_socket));
	tcase_add_test(tc, log_socket_datagrams);
	tcase_add_test(tc, log_socket_full_drops);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(uuid_suite());
	int failed;

	srunner_add_suite(sr, timefmt_suite());
	srunner_add_suite(sr, cursor_suite());
	srunner_add_suite(sr, sbuf_suite());
	srunner_add_suite(sr, log_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
