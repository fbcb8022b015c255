/* check_envscan.c - the page scanner against view_event, without a
 * database: pages built from templates and from a seeded generator
 * (nested objects, arrays of envelopes, escaped strings, strings that
 * look like envelopes, whitespace anywhere, several subjects, erased
 * keys, declared fields inside declared fields, no tenant and a tenant)
 * read by envscan_page must parse to what view_event makes of each
 * event, in both views; damaged, moved, unknown and foreign envelopes
 * must fail with view_event's error; what the scanner does not read it
 * must say so. */
#include "buildconf.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "base/sbuf.h"
#include "json/jsondoc.h"
#include "privacy/cipher.h"
#include "privacy/envscan.h"
#include "privacy/keyring.h"
#include "privacy/personal.h"
#include "privacy/view.h"
#include "test_helpers.h"

#define TENANT "6f7c2a1e-1111-4c1d-9a53-0123456789ab"
#define OTHER_TENANT "6f7c2a1e-1111-4c1d-9a53-0123456789ac"
#define EV1 "01900000-0000-7000-8000-000000000001"
#define EV2 "01900000-0000-7000-8000-000000000002"

/* The key table: 7 and 9 live and 13 erased in TENANT, 11 live and 15
 * erased without a tenant, 21 of another tenant; 99 is sealed with but
 * not stored. */
static const struct {
	int64_t id;
	const char *tenant;     /* NULL: none */
	bool erased, stored;
	unsigned char dek[CIPHER_KEY_LEN];
} keys[] = {
	{ 7, TENANT, false, true, "0123456789abcdef0123456789abcdef" },
	{ 9, TENANT, false, true, "fedcba9876543210fedcba9876543210" },
	{ 13, TENANT, true, true, "13131313131313131313131313131313" },
	{ 11, NULL, false, true, "11111111111111111111111111111111" },
	{ 15, NULL, true, true, "15151515151515151515151515151515" },
	{ 21, OTHER_TENANT, false, true, "21212121212121212121212121212121" },
	{ 99, TENANT, false, false, "99999999999999999999999999999999" },
};

static void ring_add(struct keyring *kr, size_t i)
{
	struct keyring_key *k;

	if (kr->n == kr->cap) {
		kr->cap = kr->cap ? 2 * kr->cap : 8;
		kr->keys = realloc(kr->keys, kr->cap * sizeof *kr->keys);
		ck_assert_ptr_nonnull(kr->keys);
	}
	k = &kr->keys[kr->n++];
	memset(k, 0, sizeof *k);
	k->key_id = keys[i].id;
	snprintf(k->tenant, sizeof k->tenant, "%s", keys[i].tenant ? keys[i].tenant : UUIDTEXT_NIL);
	k->subject = strdup("someone");
	k->erased = keys[i].erased;
	if (!k->erased)
		memcpy(k->dek, keys[i].dek, CIPHER_KEY_LEN);
}

/* Every stored key: what view_event is given (keyring_fetch then finds
 * nothing to ask the database for). */
static void ring_all(struct keyring *kr)
{
	for (size_t i = 0; i < N_ELEMS(keys); i++)
		if (keys[i].stored)
			ring_add(kr, i);
}

/* The scanner's fetch: the stored keys among ids, counted. */
static int fetches;

static enum es_status fetch_stored(void *arg, const int64_t *ids, size_t n, struct keyring *kr)
{
	(void)arg;
	fetches++;
	for (size_t j = 0; j < n; j++)
		for (size_t i = 0; i < N_ELEMS(keys); i++)
			if (keys[i].id == ids[j] && keys[i].stored && !keyring_by_id(kr, ids[j]))
				ring_add(kr, i);
	return ES_OK;
}

static size_t key_index(int64_t id)
{
	for (size_t i = 0; i < N_ELEMS(keys); i++)
		if (keys[i].id == id)
			return i;
	ck_abort_msg("no key %" PRId64, id);
	return 0;
}

/* An envelope of plaintext text under key id, sealed for (tenant,
 * event_id, pointer), appended to out; spaced: with whitespace inside;
 * tampered: one base64 character changed. */
static void seal_into(struct sbuf *out, int64_t id, const char *tenant, const char *event_id,
		      const char *pointer, const char *text, bool spaced, bool tampered)
{
	size_t len = strlen(text), sealed_len = CIPHER_SEALED_LEN(len);
	unsigned char *sealed = malloc(sealed_len);
	char *b64 = malloc(CIPHER_B64_LEN(sealed_len) + 1), aad[PERSONAL_AAD_MAX];
	size_t aadlen = personal_field_aad(tenant, event_id, id, pointer, aad);

	ck_assert(aadlen > 0);
	ck_assert(cipher_seal(keys[key_index(id)].dek, aad, aadlen, text, len, sealed) == ES_OK);
	cipher_b64_encode(sealed, sealed_len, b64);
	if (tampered)
		b64[10] = b64[10] == 'A' ? 'B' : 'A';
	sbuf_printf(out, spaced ? " {\n\t\"$enc\" :  \"v1:%" PRId64 ":%s\"\r\n}" : "{\"$enc\":\"v1:%" PRId64 ":%s\"}",
		    id, b64);
	free(sealed);
	free(b64);
}

/* Expands a template: "<K[s][t] POINTER VALUE>" is an envelope of VALUE
 * (itself a template) under key K for POINTER ('s' spaced, 't'
 * tampered); everything else is copied. */
static const char *expand(struct sbuf *out, const char *t, const char *tenant, const char *event_id)
{
	while (*t && *t != '>') {
		char *end, pointer[256];
		int64_t id;
		bool spaced = false, tampered = false;
		struct sbuf value = SBUF_INIT;
		size_t n;

		if (*t != '<') {
			sbuf_putc(out, *t++);
			continue;
		}
		id = strtoll(t + 1, &end, 10);
		for (; *end == 's' || *end == 't'; end++)
			*(*end == 's' ? &spaced : &tampered) = true;
		ck_assert(*end == ' ');
		n = strcspn(end + 1, " ");
		ck_assert(n < sizeof pointer);
		memcpy(pointer, end + 1, n);
		pointer[n] = '\0';
		t = expand(&value, end + 2 + n, tenant, event_id);
		ck_assert(*t == '>');
		t++;
		seal_into(out, id, tenant, event_id, pointer, sbuf_cstr(&value), spaced, tampered);
		sbuf_free(&value);
	}
	return t;
}

/* One event as evstore.event_json renders it, with payload (a template). */
static void event_into(struct sbuf *out, const char *tenant, const char *event_id, const char *payload)
{
	sbuf_printf(out, "{\"event_id\" : \"%s\", \"event_type\" : \"Registered\", \"aggregate_type\" : "
		    "\"Customer\", \"aggregate_id\" : \"c-1\", \"version\" : 3, \"position\" : 12, "
		    "\"occurred_at\" : \"2026-12-03T07:00:00.000000Z\", \"recorded_at\" : "
		    "\"2026-12-03T07:00:00.000001Z\", \"tenant_id\" : ", event_id);
	if (tenant)
		sbuf_printf(out, "\"%s\"", tenant);
	else
		sbuf_puts(out, "null");
	sbuf_puts(out, ", \"actor_id\" : \"u-1\", \"payload\" : ");
	ck_assert(*expand(out, payload, tenant, event_id) == '\0');
	sbuf_puts(out, ", \"metadata\" : {\"trace\": \"{\\\"$enc\\\": 1}\", \"$enc\": \"v1:7:AAAA\"}}");
}

static json_object *parse(const char *text, size_t len)
{
	json_tokener *tok = json_tokener_new_ex(1100);
	json_object *o = json_tokener_parse_ex(tok, text, (int)len);

	ck_assert_msg(json_tokener_get_error(tok) == json_tokener_success, "does not parse: %.*s", (int)(len < 1500 ? len : 1500),
		      text);
	json_tokener_free(tok);
	return o;
}

/* What view_event makes of the page's events (the keys all given). */
static enum es_status expected(const struct sbuf *page, enum personal_view view, json_object **events,
			       char *err, size_t errlen)
{
	struct keyring kr = KEYRING_INIT;
	struct sbuf text = SBUF_INIT;
	enum es_status rc = ES_OK;

	sbuf_putc(&text, '[');
	sbuf_append(&text, page->data, page->len);
	sbuf_putc(&text, ']');
	*events = parse(text.data, text.len);
	ring_all(&kr);
	for (size_t i = 0; rc == ES_OK && i < json_object_array_length(*events); i++)
		rc = view_event(NULL, &kr, json_object_array_get_idx(*events, i), view, err, errlen);
	keyring_free(&kr);
	sbuf_free(&text);
	return rc;
}

/* The scanner on page, starting with no keys; *scanned as it says. */
static enum es_status scanned_view(const struct sbuf *page, enum personal_view view, json_object **events,
				   bool *scanned, char *err, size_t errlen)
{
	struct keyring kr = KEYRING_INIT;
	struct sbuf out = SBUF_INIT;
	enum es_status rc;

	*events = NULL;
	rc = envscan_page(page->data, page->len, view, &kr, fetch_stored, NULL, &out, scanned, err, errlen);
	if (rc == ES_OK && *scanned) {
		struct sbuf text = SBUF_INIT;

		sbuf_putc(&text, '[');
		sbuf_append(&text, out.data, out.len);
		sbuf_putc(&text, ']');
		*events = parse(text.data, text.len);
		sbuf_free(&text);
	}
	keyring_free(&kr);
	sbuf_free(&out);
	return rc;
}

static const char *compact(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* True when an envelope of page has an escaped string: json-c reads it
 * unescaped, the scanner leaves the page to it. */
static bool escaped_envelope(const char *page)
{
	for (const char *p = page; (p = strstr(p, "\"$enc\"")); ) {
		p += strlen("\"$enc\"");
		p += strspn(p, " \t\r\n");
		if (*p != ':')
			continue;
		p++;
		p += strspn(p, " \t\r\n");
		if (*p == '"' && strcspn(p + 1, "\"\\") < strlen(p + 1) && p[1 + strcspn(p + 1, "\"\\")] == '\\')
			return true;
	}
	return false;
}

/* The scanner and view_event agree on page in view: both the same events,
 * or both the same error (or the scanner leaves to view_event a page
 * with an escaped envelope). */
static void same_as_view_event(const struct sbuf *page, enum personal_view view)
{
	json_object *want = NULL, *got = NULL;
	char want_err[400] = "", got_err[400] = "";
	enum es_status want_rc, got_rc;
	bool scanned;

	want_rc = expected(page, view, &want, want_err, sizeof want_err);
	got_rc = scanned_view(page, view, &got, &scanned, got_err, sizeof got_err);
	if (got_rc == ES_OK && !scanned && escaped_envelope(page->data)) {
		json_object_put(want);
		return;
	}
	ck_assert_msg(got_rc == want_rc, "view %d: %d, view_event %d (%s / %s) on %.1500s", view, got_rc, want_rc,
		      got_err, want_err, page->data);
	if (want_rc != ES_OK) {
		ck_assert_str_eq(got_err, want_err);
	} else {
		ck_assert_msg(scanned, "not scanned: %.1500s", page->data);
		ck_assert_msg(json_object_equal(got, want), "view %d:\n got  %.1000s\n want %.1000s\n page %.1000s", view,
			      compact(got), compact(want), page->data);
	}
	json_object_put(want);
	json_object_put(got);
}

/* --- pages from templates ------------------------------------------------ */

static const struct {
	const char *tenant;
	const char *payload;
} cases[] = {
	{ TENANT, "{\"email\":<7 /payload/email \"a@example.org\">,\"amount\":5}" },
	{ NULL, "{\"email\":<11 /payload/email \"a@example.org\">,\"amount\":5}" },
	/* nested objects, arrays of envelopes */
	{ TENANT, "{\"a\":{\"b\":[1,<7 /payload/a/b/1 {\"x\":\"y\"}>,{\"c\":<9 /payload/a/b/2/c 12.5e3>}]},"
		  "\"list\":[<7 /payload/list/0 \"p\">,<9 /payload/list/1 null>,<13 /payload/list/2 [1,2]>]}" },
	{ TENANT, "[[<7 /payload/0/0 true>],[],{}]" },
	/* escaped strings, strings holding what looks like an envelope */
	{ TENANT, "{\"note\":\"he said \\\"{\\\\\\\"$enc\\\\\\\":1}\\\" \\\\ ok \\u00e9\\/\","
		  "\"s\":\"{\\\"$enc\\\":\\\"v1:7:AAAA\\\"}\",\"e\":<7 /payload/e \"x\\\"y\\\\z\\u00e9\\n\">}" },
	/* almost envelopes: ordinary JSON */
	{ TENANT, "{\"a\":{\"$enc\":\"v1:7:x\",\"b\":1},\"b\":{\"$enc\":5},\"c\":{\"$enc\":{\"d\":1}},"
		  "\"d\":{\"$encx\":\"s\"},\"e\":{},\"f\":[{\"$enc\":null}],\"g\":<9 /payload/g 0>}" },
	/* whitespace anywhere */
	{ TENANT, " {\n \"email\" :\n <7s /payload/email \"a\" > ,\t\"list\" : [ <9s /payload/list/0 -1.5E-3> ,"
		  "\r\n<7 /payload/list/1 { \"k\" : [ ] }> ] , \"z\" : { }\n}\t" },
	/* several subjects, one of them erased */
	{ TENANT, "{\"email\":<7 /payload/email \"a\">,\"iban\":<9 /payload/iban \"GB00\">,"
		  "\"old\":<13 /payload/old \"gone\">,\"to\":\"bob\"}" },
	{ NULL, "{\"email\":<15 /payload/email \"a\">,\"name\":<11 /payload/name \"n\">}" },
	/* a declared field inside another: one key, two keys, erased inside */
	{ TENANT, "{\"contact\":<7 /payload/contact {\"iban\":<9 /payload/contact/iban \"GB00\">,\"name\":\"n\"}>}" },
	{ TENANT, "{\"c\":<7 /payload/c {\"x\":<13 /payload/c/x 1>,\"y\":[<7 /payload/c/y/0 2>]}>}" },
	{ TENANT, "{\"c\":<7 /payload/c <9 /payload/c {\"deep\":<7 /payload/c/deep \"d\">}>>}" },
	/* keys a pointer escapes, and a key beyond ASCII */
	{ TENANT, "{\"a/b\":{\"c~d\":<7 /payload/a~1b/c~0d \"v\">},\"\xc3\xbc\":<9 /payload/\xc3\xbc 1>}" },
	/* the payload is itself an envelope */
	{ TENANT, "<7 /payload {\"all\":\"of it\"}>" },
	{ TENANT, "<13 /payload {\"all\":\"of it\"}>" },
	/* no envelope in this one */
	{ TENANT, "{\"plain\":[1,{\"x\":null}]}" },
	/* errors: moved, damaged, foreign key, not JSON, malformed */
	{ TENANT, "{\"email\":<7 /payload/other \"a\">}" },
	{ TENANT, "{\"ok\":<9 /payload/ok 1>,\"email\":<7t /payload/email \"a\">}" },
	{ TENANT, "{\"email\":<21 /payload/email \"a\">}" },
	{ NULL, "{\"email\":<7 /payload/email \"a\">}" },
	{ TENANT, "{\"x\":<7 /payload/x nope>}" },
	{ TENANT, "{\"x\":<7 /payload/x {\"a\":1>}" },
	{ TENANT, "{\"x\":{\"$enc\":\"v1:7:***\"}}" },
	{ TENANT, "{\"x\":{\"$enc\":\"v1:7:\"}}" },
	{ TENANT, "{\"x\":{\"$enc\":\"v2:7:AAAA\"}}" },
	{ TENANT, "{\"x\":{\"$enc\":\"v1:07:AAAA\"}}" },
	{ TENANT, "{\"x\":{\"$enc\":\"v1:99999999999999999999:AAAA\"}}" },
	{ TENANT, "{\"x\":{\"$enc\":\"\"}}" },
	{ TENANT, "{\"c\":<7 /payload/c {\"x\":<9t /payload/c/x 1>}>}" },
};

START_TEST(scanner_reads_each_case_as_view_event)
{
	struct sbuf page = SBUF_INIT;

	event_into(&page, cases[_i].tenant, EV1, cases[_i].payload);
	same_as_view_event(&page, PERSONAL_CLEAR);
	same_as_view_event(&page, PERSONAL_REDACTED);
	sbuf_free(&page);
}
END_TEST

/* Every case that reads, on one page: one fetch for it all. */
START_TEST(scanner_reads_a_page_with_one_fetch)
{
	struct sbuf page = SBUF_INIT;
	json_object *got;
	char err[400];
	bool scanned;
	int n = 0;

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct sbuf one = SBUF_INIT;
		json_object *ev;
		char id[48];

		snprintf(id, sizeof id, "01900000-0000-7000-8000-%012zu", i);
		event_into(&one, cases[i].tenant, id, cases[i].payload);
		if (expected(&one, PERSONAL_CLEAR, &ev, err, sizeof err) == ES_OK) {
			if (n++)
				sbuf_puts(&page, ",\n");
			event_into(&page, cases[i].tenant, id, cases[i].payload);
		}
		json_object_put(ev);
		sbuf_free(&one);
	}
	ck_assert_int_gt(n, 10);
	same_as_view_event(&page, PERSONAL_CLEAR);
	same_as_view_event(&page, PERSONAL_REDACTED);
	fetches = 0;
	ck_assert(scanned_view(&page, PERSONAL_REDACTED, &got, &scanned, err, sizeof err) == ES_OK && scanned);
	ck_assert_int_eq(fetches, 1);
	json_object_put(got);
	sbuf_free(&page);
}
END_TEST

/* Keys the store lacks: view_event asks the database (which says nothing),
 * so the error is written out here. */
START_TEST(scanner_reports_a_key_not_stored)
{
	static const char *const payloads[] = {
		"{\"ok\":<7 /payload/ok 1>,\"x\":<99 /payload/x 1>}",
		"{\"c\":<7 /payload/c {\"x\":<99 /payload/c/x 1>}>}",
	};
	static const char *const pointers[] = { "/payload/x", "/payload/c/x" };
	struct sbuf page = SBUF_INIT;
	json_object *got;
	char err[400], want[400];
	bool scanned;

	for (size_t i = 0; i < N_ELEMS(payloads); i++) {
		sbuf_reset(&page);
		event_into(&page, TENANT, EV2, payloads[i]);
		snprintf(want, sizeof want, "event %s: %s: the envelope's key is missing from the key table", EV2,
			 pointers[i]);
		ck_assert(scanned_view(&page, PERSONAL_CLEAR, &got, &scanned, err, sizeof err) == ES_EINTERNAL);
		ck_assert_str_eq(err, want);
		if (i == 0) {
			ck_assert(scanned_view(&page, PERSONAL_REDACTED, &got, &scanned, err, sizeof err) ==
				  ES_EINTERNAL);
			ck_assert_str_eq(err, want);
		}
	}
	sbuf_free(&page);
}
END_TEST

/* An error never quotes the plaintext. */
START_TEST(scanner_errors_hold_no_plaintext)
{
	struct sbuf page = SBUF_INIT;
	json_object *got;
	char err[400];
	bool scanned;

	event_into(&page, TENANT, EV1, "{\"c\":<7 /payload/c {\"secret\":\"s3cr3t\",\"x\":<9t /payload/c/x 1>}>}");
	ck_assert(scanned_view(&page, PERSONAL_CLEAR, &got, &scanned, err, sizeof err) == ES_EINTERNAL);
	ck_assert_str_eq(err, "event " EV1 ": /payload/c/x: the ciphertext fails authentication");
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
	sbuf_free(&page);
}
END_TEST

/* --- what the scanner leaves to json-c ------------------------------------- */

static const char *const unread[] = {
	/* an escaped key in the payload */
	"{\"event_id\":\"" EV1 "\",\"tenant_id\":null,\"payload\":{\"a\\\"b\":{\"$enc\":\"v1:7:AAAA\"}}}",
	/* an escaped envelope string */
	"{\"event_id\":\"" EV1 "\",\"tenant_id\":null,\"payload\":{\"a\":{\"$enc\":\"v1:7:AA\\/A\"}}}",
	/* the ids after the payload, or missing */
	"{\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}},\"event_id\":\"" EV1 "\",\"tenant_id\":null}",
	"{\"event_id\":\"" EV1 "\",\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}}}",
	"{\"event_id\":5,\"tenant_id\":null,\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}}}",
	"{\"event_id\":\"" EV1 "\",\"tenant_id\":7,\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}}}",
	/* members view_event would replace */
	"{\"event_id\":\"" EV1 "\",\"tenant_id\":null,\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}},\"erased\":[]}",
	/* not JSON, or not events */
	"{\"event_id\":\"" EV1 "\",\"tenant_id\":null,\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}},}",
	"{\"event_id\":\"" EV1 "\",\"tenant_id\":null,\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}}},",
	"{\"event_id\":\"" EV1 "\",\"tenant_id\":null,\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}",
	"{\"event_id\":\"" EV1 "\",\"tenant_id\":null,\"payload\":{\"a\":{\"$enc\":\"v1:7:AAAA\"}},\"n\":01}",
	"[{\"$enc\":\"v1:7:AAAA\"}]",
};

START_TEST(scanner_leaves_what_it_does_not_read)
{
	struct keyring kr = KEYRING_INIT;
	struct sbuf out = SBUF_INIT;
	char err[400] = "";
	bool scanned = true;

	ck_assert(envscan_page(unread[_i], strlen(unread[_i]), PERSONAL_REDACTED, &kr, fetch_stored, NULL, &out,
			       &scanned, err, sizeof err) == ES_OK);
	ck_assert_msg(!scanned, "scanned %s", unread[_i]);
	keyring_free(&kr);
	sbuf_free(&out);
}
END_TEST

/* A plaintext whose keys are escaped: the page goes to json-c too. */
START_TEST(scanner_leaves_a_plaintext_with_escaped_keys)
{
	struct sbuf page = SBUF_INIT;
	json_object *got;
	char err[400];
	bool scanned = true;

	event_into(&page, TENANT, EV1, "{\"c\":<7 /payload/c {\"a\\\"b\":<9 /payload/c/a\"b 1>}>}");
	ck_assert(scanned_view(&page, PERSONAL_CLEAR, &got, &scanned, err, sizeof err) == ES_OK);
	ck_assert(!scanned);
	same_as_view_event(&page, PERSONAL_REDACTED);
	sbuf_free(&page);
}
END_TEST

/* --- generated pages ------------------------------------------------------- */

static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng_state >> 33) % n);
}

static void ws(struct sbuf *out)
{
	static const char *const spaces[] = { "", "", "", " ", "\n", "\t ", "\r\n  " };

	sbuf_puts(out, spaces[rnd(N_ELEMS(spaces))]);
}

static const char *const gen_keys[] = {
	"a", "email", "$enc", "$encx", "a/b", "c~d", "\xc3\xa9t\xc3\xa9", "", "list", "n"
};

static void gen_value(struct sbuf *out, const char *tenant, const char *event_id, const char *pointer,
		      int depth);

static void gen_envelope(struct sbuf *out, const char *tenant, const char *event_id, const char *pointer,
			 int depth)
{
	static const int64_t with_tenant[] = { 7, 9, 13 }, without[] = { 11, 15 };
	int64_t id = tenant ? with_tenant[rnd(3)] : without[rnd(2)];
	struct sbuf plain = SBUF_INIT;

	gen_value(&plain, tenant, event_id, pointer, depth + 1);
	seal_into(out, id, tenant, event_id, pointer, sbuf_cstr(&plain), rnd(4) == 0, false);
	sbuf_free(&plain);
}

static void gen_value(struct sbuf *out, const char *tenant, const char *event_id, const char *pointer,
		      int depth)
{
	static const char *const scalars[] = {
		"0", "-12", "3.25e-2", "true", "false", "null", "\"x\"", "\"\"", "\"\\\"{\\\"$enc\\\":\\\"v1:7:AA\\\"}\"",
		"\"tab\\there \\u00e9 \\\\ \\/\"", "\"{$enc}\"", "\"raw\ttab\"", "\"\xc3\xa9\"", "1E+2"
	};
	unsigned what = depth > 4 ? rnd(2) : rnd(6);
	char *p;

	switch (what) {
	case 0:
		sbuf_puts(out, scalars[rnd(N_ELEMS(scalars))]);
		break;
	case 1:
	case 2:
		gen_envelope(out, tenant, event_id, pointer, depth);
		break;
	case 3:
	case 4: {
		unsigned n = rnd(5), first = rnd(N_ELEMS(gen_keys));

		sbuf_putc(out, '{');
		for (unsigned i = 0; i < n; i++) {
			const char *key = gen_keys[(first + i) % N_ELEMS(gen_keys)];

			ws(out);
			if (i)
				sbuf_putc(out, ',');
			ws(out);
			sbuf_json_string(out, key);
			ws(out);
			sbuf_putc(out, ':');
			ws(out);
			p = jsondoc_pointer_join(pointer, key);
			gen_value(out, tenant, event_id, p, depth + 1);
			free(p);
		}
		ws(out);
		sbuf_putc(out, '}');
		break;
	}
	default: {
		unsigned n = rnd(4);

		sbuf_putc(out, '[');
		for (unsigned i = 0; i < n; i++) {
			char idx[16];

			ws(out);
			if (i)
				sbuf_putc(out, ',');
			ws(out);
			snprintf(idx, sizeof idx, "%u", i);
			p = jsondoc_pointer_join(pointer, idx);
			gen_value(out, tenant, event_id, p, depth + 1);
			free(p);
		}
		ws(out);
		sbuf_putc(out, ']');
	}
	}
}

START_TEST(scanner_reads_generated_pages_as_view_event)
{
	struct sbuf page = SBUF_INIT;

	rng_state = 0x5eed0000u + (uint64_t)_i;
	for (int e = 0; e < 1 + (int)rnd(4); e++) {
		const char *tenant = rnd(2) ? TENANT : NULL;
		char id[48];
		struct sbuf payload = SBUF_INIT;

		snprintf(id, sizeof id, "01900000-0000-7000-8000-%012d", _i * 10 + e);
		gen_value(&payload, tenant, id, "/payload", rnd(2) ? 0 : 1);
		if (e)
			sbuf_puts(&page, ",");
		/* no '<' in a generated payload: expand copies it */
		event_into(&page, tenant, id, sbuf_cstr(&payload));
		sbuf_free(&payload);
	}
	same_as_view_event(&page, PERSONAL_CLEAR);
	same_as_view_event(&page, PERSONAL_REDACTED);
	sbuf_free(&page);
}
END_TEST

static Suite *envscan_suite(void)
{
	Suite *s = suite_create("envscan");
	TCase *tc = tcase_create("templates");

	tcase_add_loop_test(tc, scanner_reads_each_case_as_view_event, 0, N_ELEMS(cases));
	tcase_add_test(tc, scanner_reads_a_page_with_one_fetch);
	tcase_add_test(tc, scanner_reports_a_key_not_stored);
	tcase_add_test(tc, scanner_errors_hold_no_plaintext);
	tcase_add_loop_test(tc, scanner_leaves_what_it_does_not_read, 0, N_ELEMS(unread));
	tcase_add_test(tc, scanner_leaves_a_plaintext_with_escaped_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("generated");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, scanner_reads_generated_pages_as_view_event, 0, 400);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(envscan_suite());
}
