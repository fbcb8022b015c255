/* check_privacy.c - the privacy layer without a database: AES-GCM sealing
 * (deterministic, bound to its AAD, tamper-evident), base64, the master key
 * file's checks, and sealing and opening the declared fields of an event
 * with a keyring built in memory: clear, redacted and erased views, and
 * ciphertext moved to another event, field or tenant. */
#include "buildconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "aggregate/aggdef.h"
#include "privacy/cipher.h"
#include "privacy/keyring.h"
#include "privacy/masterkey.h"
#include "privacy/personal.h"
#include "test_helpers.h"

static const unsigned char key_a[CIPHER_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char key_b[CIPHER_KEY_LEN] = "fedcba9876543210fedcba9876543210";

START_TEST(cipher_round_trip)
{
	unsigned char sealed[CIPHER_SEALED_LEN(5)], again[CIPHER_SEALED_LEN(5)], plain[5];

	ck_assert(cipher_seal(key_a, "aad", 3, "hello", 5, sealed) == ES_OK);
	ck_assert(cipher_open(key_a, "aad", 3, sealed, sizeof sealed, plain));
	ck_assert(memcmp(plain, "hello", 5) == 0);
	/* the same inputs seal the same (idempotent replays stay equal) ... */
	ck_assert(cipher_seal(key_a, "aad", 3, "hello", 5, again) == ES_OK);
	ck_assert(memcmp(sealed, again, sizeof sealed) == 0);
	/* ... and another plaintext gets another nonce */
	ck_assert(cipher_seal(key_a, "aad", 3, "hellp", 5, again) == ES_OK);
	ck_assert(memcmp(sealed, again, CIPHER_NONCE_LEN) != 0);
	ck_assert(cipher_seal(key_a, "aae", 3, "hello", 5, again) == ES_OK);
	ck_assert(memcmp(sealed, again, CIPHER_NONCE_LEN) != 0);
}
END_TEST

/* The bytes of a sealed field are part of the stored format: the same
 * key, AAD and plaintext seal to these whatever the process sealed before
 * (the contexts kept between calls hold no state that leaks into the next
 * seal). The key is 00 01 02 ... 1f. */
START_TEST(cipher_known_answer)
{
	static const char want[] = "8a68f5203a9e527bacc96180d6b2a7ad5e43cee2b511db8c13e33705551e1c42dec9e0c4d23ac1";
	unsigned char key[CIPHER_KEY_LEN], sealed[CIPHER_SEALED_LEN(11)], other[CIPHER_SEALED_LEN(5)];
	unsigned char plain[5];
	char hex[2 * sizeof sealed + 1];

	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (unsigned char)i;
	for (int round = 0; round < 3; round++) {
		ck_assert(cipher_seal(key, "aad", 3, "hello world", 11, sealed) == ES_OK);
		for (size_t i = 0; i < sizeof sealed; i++)
			snprintf(hex + 2 * i, 3, "%02x", sealed[i]);
		ck_assert_str_eq(hex, want);
		/* between rounds, another key seals and opens */
		ck_assert(cipher_seal(key_b, "x", 1, "other", 5, other) == ES_OK);
		ck_assert(cipher_open(key_b, "x", 1, other, sizeof other, plain));
		if (round == 1)
			cipher_forget_subkeys();
	}
}
END_TEST

START_TEST(cipher_refuses_what_it_did_not_seal)
{
	unsigned char sealed[CIPHER_SEALED_LEN(5)], plain[5];

	ck_assert(cipher_seal(key_a, "aad", 3, "hello", 5, sealed) == ES_OK);
	ck_assert(!cipher_open(key_b, "aad", 3, sealed, sizeof sealed, plain));
	ck_assert(!cipher_open(key_a, "aae", 3, sealed, sizeof sealed, plain));
	ck_assert(!cipher_open(key_a, "aad", 2, sealed, sizeof sealed, plain));
	ck_assert(!cipher_open(key_a, "aad", 3, sealed, sizeof sealed - 1, plain));
	ck_assert(!cipher_open(key_a, "aad", 3, sealed, CIPHER_SEALED_LEN(0) - 1, plain));
	for (size_t i = 0; i < sizeof sealed; i++) {
		sealed[i] ^= 0x01;
		ck_assert_msg(!cipher_open(key_a, "aad", 3, sealed, sizeof sealed, plain), "byte %zu", i);
		sealed[i] ^= 0x01;
	}
	ck_assert(cipher_open(key_a, "aad", 3, sealed, sizeof sealed, plain));
}
END_TEST

START_TEST(cipher_base64)
{
	static const char *const bad[] = { "", "abc", "ab=c", "a===", "ab c", "ab\ncd==", "Zm9v!A==" };
	unsigned char out[16];
	char enc[CIPHER_B64_LEN(5) + 1];

	cipher_b64_encode((const unsigned char *)"hello", 5, enc);
	ck_assert_str_eq(enc, "aGVsbG8=");
	ck_assert_int_eq(cipher_b64_decode(enc, strlen(enc), out), 5);
	ck_assert(memcmp(out, "hello", 5) == 0);
	ck_assert_int_eq(cipher_b64_decode("aGk=", 4, out), 2);
	ck_assert_int_eq(cipher_b64_decode("aGVsbG8h", 8, out), 6);
	for (size_t i = 0; i < N_ELEMS(bad); i++)
		ck_assert_msg(cipher_b64_decode(bad[i], strlen(bad[i]), out) == -1, "%s", bad[i]);
	/* every length round-trips, every byte value included */
	for (size_t n = 1; n <= 70; n++) {
		unsigned char in[70], back[3 * (CIPHER_B64_LEN(70) / 4)];
		char text[CIPHER_B64_LEN(70) + 1];

		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)(i * 37 + n * 11);
		cipher_b64_encode(in, n, text);
		ck_assert_int_eq(cipher_b64_decode(text, strlen(text), back), (long)n);
		ck_assert(memcmp(in, back, n) == 0);
		text[strlen(text) - 1] = '*';
		ck_assert_int_eq(cipher_b64_decode(text, strlen(text), back), -1);
	}
}
END_TEST

/* --- the master key file ------------------------------------------------- */

static char dir[256];

static void setup(void)
{
	test_dir_create(dir, sizeof dir, "check_privacy");
}

static void teardown(void)
{
	test_dir_remove(dir);
}

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"

static const struct {
	const char *text;       /* NULL: no file */
	mode_t mode;
	const char *err;        /* NULL: accepted */
} keyfiles[] = {
	{ HEX64, 0600, NULL },
	{ HEX64 "\n", 0400, NULL },
	{ NULL, 0600, "cannot open the master key file: No such file or directory" },
	{ HEX64, 0640, "must not be accessible by group or others (mode 0640; chmod 600)" },
	{ HEX64, 0604, "must not be accessible by group or others (mode 0604; chmod 600)" },
	{ HEX64, 0620, "must not be accessible by group or others" },
	{ HEX64 "\n\n", 0600, "exactly 64 hexadecimal characters" },
	{ HEX64 "0", 0600, "exactly 64 hexadecimal characters" },
	{ "00112233", 0600, "exactly 64 hexadecimal characters" },
	{ "", 0600, "exactly 64 hexadecimal characters" },
	{ "0011223344556677889900aabbccddeeff00112233445566778899aabbccddeg", 0600, "not hexadecimal" },
	{ " 0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 0600, "not hexadecimal" },
};

/* The envelope mark is found where it is, whole, and nowhere else. */
START_TEST(envelope_mark_found)
{
	static const struct { const char *text; long at; } cases[] = {
		{ "", -1 }, { "$", -1 }, { "\"$enc\"", 0 }, { "$enc\"", -1 }, { "\"$en", -1 },
		{ "{\"a\":\"$\",\"$enc\":1}", 9 }, { "\"$enc", -1 }, { "x\"$encx\"$enc\"", 7 },
		{ "{\"$ref\":1}", -1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *t = cases[i].text;
		const char *hit = personal_find_mark(t, strlen(t));

		ck_assert_msg(cases[i].at < 0 ? hit == NULL : hit == t + cases[i].at,
			      "%s: found at %ld, want %ld", t, hit ? (long)(hit - t) : -1L, cases[i].at);
	}
}
END_TEST

START_TEST(masterkey_checks_its_file)
{
	struct masterkey mk;
	char path[400], err[512] = "";
	enum es_status rc;

	snprintf(path, sizeof path, "%s/master.key", dir);
	if (keyfiles[_i].text) {
		test_file_write(dir, "master.key", keyfiles[_i].text);
		ck_assert_int_eq(chmod(path, keyfiles[_i].mode), 0);
	}
	rc = masterkey_read(path, &mk, err, sizeof err);
	if (!keyfiles[_i].err) {
		ck_assert_msg(rc == ES_OK, "%s", err);
		ck_assert_uint_eq(mk.key[0], 0x00);
		ck_assert_uint_eq(mk.key[31], 0xff);
		ck_assert_uint_eq(strlen(mk.id), 16);
		return;
	}
	ck_assert(rc == ES_EINVAL);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, keyfiles[_i].err), "got \"%s\"", err);
	/* a message never quotes the key */
	ck_assert_ptr_null(strstr(err, "00112233"));
}
END_TEST

START_TEST(masterkey_install_and_forget)
{
	struct masterkey mk;

	memset(&mk, 0, sizeof mk);
	memcpy(mk.key, key_a, sizeof mk.key);
	cipher_fingerprint(mk.key, mk.id);
	masterkey_install(&mk);
	ck_assert_ptr_nonnull(masterkey_current());
	ck_assert_str_eq(masterkey_current()->id, mk.id);
	masterkey_install(NULL);
	ck_assert_ptr_null(masterkey_current());
}
END_TEST

/* A row names the master that wrapped it: only that one opens it. */
START_TEST(masterkey_by_id_picks_the_row_master)
{
	struct masterkey a, b;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memcpy(a.key, key_a, sizeof a.key);
	memcpy(b.key, key_b, sizeof b.key);
	cipher_fingerprint(a.key, a.id);
	cipher_fingerprint(b.key, b.id);
	masterkey_install(&b);
	masterkey_install_previous(&a);
	ck_assert(memcmp(masterkey_by_id(b.id)->key, key_b, CIPHER_KEY_LEN) == 0);
	ck_assert(memcmp(masterkey_by_id(a.id)->key, key_a, CIPHER_KEY_LEN) == 0);
	ck_assert_ptr_null(masterkey_by_id("0123456789abcdef"));
	ck_assert_ptr_null(masterkey_by_id(""));
	ck_assert_ptr_null(masterkey_by_id(NULL));
	masterkey_install_previous(NULL);
	ck_assert_ptr_null(masterkey_by_id(a.id));
	ck_assert_ptr_nonnull(masterkey_by_id(b.id));
	masterkey_install(NULL);
	ck_assert_ptr_null(masterkey_by_id(b.id));
}
END_TEST

#define HEX64_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* [privacy] master_key_file and previous_master_key_file together: what
 * is refused, and that a refusal leaves the installed keys alone. */
static const struct {
	const char *master, *previous;    /* file names under dir, "" for none */
	const char *err;                  /* NULL: accepted */
} key_pairs[] = {
	{ "a.key", "b.key", NULL },
	{ "a.key", "", NULL },
	{ "", "", NULL },
	{ "", "b.key", "previous_master_key_file is set but master_key_file is not" },
	{ "a.key", "a.key", "holds the same key as master_key_file" },
	{ "a.key", "same-as-a.key", "holds the same key as master_key_file" },
	{ "a.key", "open.key", "must not be accessible by group or others" },
	{ "a.key", "missing.key", "cannot open the master key file" },
	{ "open.key", "b.key", "must not be accessible by group or others" },
};

START_TEST(registry_privacy_loads_both_keys)
{
	char master[400] = "", previous[400] = "", err[512] = "", was[17];
	struct masterkey mk;
	enum es_status rc;

	test_file_write(dir, "a.key", HEX64);
	test_file_write(dir, "same-as-a.key", HEX64 "\n");
	test_file_write(dir, "b.key", HEX64_B);
	test_file_write(dir, "open.key", HEX64_B);
	for (int f = 0; f < 4; f++) {
		static const char *const names[] = { "a.key", "same-as-a.key", "b.key", "open.key" };

		snprintf(master, sizeof master, "%s/%s", dir, names[f]);
		ck_assert_int_eq(chmod(master, f == 3 ? 0644 : 0600), 0);
	}
	if (key_pairs[_i].master[0])
		snprintf(master, sizeof master, "%s/%s", dir, key_pairs[_i].master);
	else
		master[0] = '\0';
	if (key_pairs[_i].previous[0])
		snprintf(previous, sizeof previous, "%s/%s", dir, key_pairs[_i].previous);
	/* something installed before, which a refusal must leave */
	memset(&mk, 0, sizeof mk);
	memcpy(mk.key, key_b, sizeof mk.key);
	cipher_fingerprint(mk.key, mk.id);
	masterkey_install(&mk);
	masterkey_install_previous(NULL);
	snprintf(was, sizeof was, "%s", mk.id);

	rc = aggdef_registry_privacy(NULL, master, previous, err, sizeof err);
	if (key_pairs[_i].err) {
		ck_assert(rc == ES_EINVAL);
		ck_assert_msg(strstr(err, key_pairs[_i].err) != NULL, "got \"%s\"", err);
		ck_assert_ptr_null(strstr(err, "00112233"));
		ck_assert_ptr_null(strstr(err, "ffeeddcc"));
		ck_assert_str_eq(masterkey_current()->id, was);
		ck_assert_ptr_null(masterkey_previous());
	} else {
		ck_assert_msg(rc == ES_OK, "%s", err);
		ck_assert(master[0] ? masterkey_current() && masterkey_current()->key[0] == 0x00
				    : masterkey_current() == NULL);
		ck_assert(previous[0] ? masterkey_previous() && masterkey_previous()->key[0] == 0xff
				      : masterkey_previous() == NULL);
	}
	masterkey_install(NULL);
	masterkey_install_previous(NULL);
}
END_TEST

/* --- sealing and opening declared fields ----------------------------------- */

#define TENANT "6f7c2a1e-1111-4c1d-9a53-0123456789ab"
#define EV1 "01900000-0000-7000-8000-000000000001"
#define EV2 "01900000-0000-7000-8000-000000000002"
#define AGG "5b2f5d1e-2222-4c1d-9a53-0123456789ab"

/* A keyring holding the keys of two subjects: AGG (id 7) and "bob" (id 9). */
static void ring(struct keyring *kr, bool bob_erased)
{
	kr->cap = kr->n = 2;
	kr->keys = calloc(2, sizeof *kr->keys);
	kr->keys[0].key_id = 7;
	strcpy(kr->keys[0].tenant, TENANT);
	kr->keys[0].subject = strdup(AGG);
	memcpy(kr->keys[0].dek, key_a, CIPHER_KEY_LEN);
	kr->keys[1].key_id = 9;
	strcpy(kr->keys[1].tenant, TENANT);
	kr->keys[1].subject = strdup("bob");
	kr->keys[1].erased = bob_erased;
	if (!bob_erased)
		memcpy(kr->keys[1].dek, key_b, CIPHER_KEY_LEN);
}

static char *fields_a[] = { "email", "address" };
static char *fields_b[] = { "iban" };

static const struct personal_decl decls[] = {
	{ NULL, fields_a, 2 },
	{ "to", fields_b, 1 },
};

static json_object *payload(void)
{
	return json_tokener_parse("{\"email\":\"a@example.org\",\"address\":{\"city\":\"Leeds\",\"n\":[1,2]},"
				  "\"to\":\"bob\",\"iban\":\"GB00\",\"amount\":5,\"note\":null}");
}

static json_object *sealed_payload(const struct keyring *kr, const char *event_id)
{
	json_object *in = payload(), *out = NULL;

	ck_assert(personal_seal(kr, TENANT, event_id, AGG, decls, 2, in, &out) == ES_OK);
	json_object_put(in);
	return out;
}

static const char *str_at(json_object *o, const char *a, const char *b)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, a, &v);
	if (b)
		json_object_object_get_ex(v, b, &v);
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
}

START_TEST(personal_seals_declared_fields_only)
{
	struct keyring kr = KEYRING_INIT;
	json_object *s;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	char subject[PERSONAL_SUBJECT_MAX + 1];

	ring(&kr, false);
	s = sealed_payload(&kr, EV1);
	ck_assert(strncmp(str_at(s, "email", "$enc"), "\"v1:7:", 6) == 0);
	ck_assert(strncmp(str_at(s, "address", "$enc"), "\"v1:7:", 6) == 0);
	ck_assert(strncmp(str_at(s, "iban", "$enc"), "\"v1:9:", 6) == 0);
	ck_assert_str_eq(str_at(s, "to", NULL), "\"bob\"");
	ck_assert_str_eq(str_at(s, "amount", NULL), "5");
	ck_assert_ptr_null(strstr(json_object_to_json_string(s), "Leeds"));
	ck_assert(personal_key_ids(s, &ids, &n, &cap) == ES_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert(ids[0] + ids[1] == 16);
	ck_assert(personal_subject(&decls[1], AGG, s, subject) && strcmp(subject, "bob") == 0);
	ck_assert(personal_subject(&decls[0], AGG, s, subject) && strcmp(subject, AGG) == 0);
	free(ids);
	json_object_put(s);
	keyring_free(&kr);
}
END_TEST

START_TEST(personal_opens_in_each_view)
{
	struct keyring kr = KEYRING_INIT;
	struct personal_withheld w = { NULL, NULL };
	json_object *s;
	char err[256];

	ring(&kr, false);
	s = sealed_payload(&kr, EV1);
	ck_assert(personal_open(&kr, TENANT, EV1, "/payload", &s, PERSONAL_CLEAR, &w, err, sizeof err) == ES_OK);
	ck_assert_str_eq(str_at(s, "email", NULL), "\"a@example.org\"");
	ck_assert_str_eq(str_at(s, "address", NULL), "{\"city\":\"Leeds\",\"n\":[1,2]}");
	ck_assert_str_eq(str_at(s, "iban", NULL), "\"GB00\"");
	ck_assert_ptr_null(w.redacted);
	ck_assert_ptr_null(w.erased);
	json_object_put(s);

	s = sealed_payload(&kr, EV1);
	ck_assert(personal_open(&kr, TENANT, EV1, "/payload", &s, PERSONAL_REDACTED, &w, err, sizeof err) == ES_OK);
	ck_assert_str_eq(str_at(s, "email", NULL), "null");
	ck_assert_str_eq(str_at(s, "amount", NULL), "5");
	ck_assert_str_eq(json_object_to_json_string_ext(w.redacted, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE),
			 "[\"/payload/email\",\"/payload/address\",\"/payload/iban\"]");
	ck_assert_ptr_null(w.erased);
	personal_withheld_clear(&w);
	json_object_put(s);
	keyring_free(&kr);
}
END_TEST

/* A declared field holding a number or a boolean: its plaintext ends
 * with the number, which json-c reads as unfinished without the NUL. */
START_TEST(personal_opens_scalars)
{
	static char *scalar_fields[] = { "age", "vip", "ratio" };
	static const struct personal_decl scalar_decl = { NULL, scalar_fields, 3 };
	struct keyring kr = KEYRING_INIT;
	struct personal_withheld w = { NULL, NULL };
	json_object *in = json_tokener_parse("{\"age\":42,\"vip\":true,\"ratio\":-1.5e3}"), *s = NULL;
	char err[256] = "";

	ring(&kr, false);
	ck_assert(personal_seal(&kr, TENANT, EV1, AGG, &scalar_decl, 1, in, &s) == ES_OK);
	ck_assert(strncmp(str_at(s, "age", "$enc"), "\"v1:7:", 6) == 0);
	ck_assert_msg(personal_open(&kr, TENANT, EV1, "/payload", &s, PERSONAL_CLEAR, &w, err, sizeof err) == ES_OK,
		      "%s", err);
	ck_assert(json_object_equal(s, in));
	json_object_put(s);
	json_object_put(in);
	keyring_free(&kr);
}
END_TEST

/* The AAD's bytes are what stored envelopes were sealed with. */
START_TEST(personal_field_aad_layout)
{
	static const char want[] = "evstore field v1\0" TENANT "\0" EV1 "\0" "7\0/payload/email";
	static const char want_nil[] = "evstore field v1\0" UUIDTEXT_NIL "\0" EV1 "\0" "1234567890123\0/a";
	char aad[PERSONAL_AAD_MAX], *pointer = malloc(PERSONAL_AAD_MAX);

	ck_assert_uint_eq(personal_field_aad(TENANT, EV1, 7, "/payload/email", aad), sizeof want - 1);
	ck_assert(memcmp(aad, want, sizeof want - 1) == 0);
	ck_assert_uint_eq(personal_field_aad(NULL, EV1, 1234567890123, "/a", aad), sizeof want_nil - 1);
	ck_assert(memcmp(aad, want_nil, sizeof want_nil - 1) == 0);
	/* a pointer that does not fit: no AAD (the envelope is malformed) */
	memset(pointer, 'p', PERSONAL_AAD_MAX - 1);
	pointer[PERSONAL_AAD_MAX - 1] = '\0';
	ck_assert_uint_eq(personal_field_aad(TENANT, EV1, 7, pointer, aad), 0);
	/* the longest that fits, as snprintf counted it */
	pointer[PERSONAL_AAD_MAX - (sizeof want - sizeof "/payload/email")] = '\0';
	ck_assert_uint_eq(personal_field_aad(TENANT, EV1, 7, pointer, aad), 0);
	pointer[PERSONAL_AAD_MAX - 1 - (sizeof want - sizeof "/payload/email")] = '\0';
	ck_assert_uint_eq(personal_field_aad(TENANT, EV1, 7, pointer, aad), PERSONAL_AAD_MAX - 1);
	free(pointer);
}
END_TEST

/* Erasing one subject of an event leaves the other readable. */
START_TEST(personal_erased_subject_reads_null)
{
	struct keyring kr = KEYRING_INIT, erased = KEYRING_INIT;
	struct personal_withheld w = { NULL, NULL };
	json_object *s;
	char err[256];

	ring(&kr, false);
	ring(&erased, true);
	s = sealed_payload(&kr, EV1);
	ck_assert(personal_open(&erased, TENANT, EV1, "/payload", &s, PERSONAL_CLEAR, &w, err, sizeof err) == ES_OK);
	ck_assert_str_eq(str_at(s, "iban", NULL), "null");
	ck_assert_str_eq(str_at(s, "email", NULL), "\"a@example.org\"");
	ck_assert_str_eq(json_object_to_json_string_ext(w.erased, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE), "[\"/payload/iban\"]");
	ck_assert_ptr_null(w.redacted);
	personal_withheld_clear(&w);
	json_object_put(s);
	keyring_free(&kr);
	keyring_free(&erased);
}
END_TEST

/* Opening where it was not sealed: another event, field, tenant; a
 * damaged or unknown envelope. Every one is an error, never a value. */
START_TEST(personal_refuses_moved_or_damaged_envelopes)
{
	struct keyring kr = KEYRING_INIT;
	struct personal_withheld w = { NULL, NULL };
	json_object *s, *t, *env;
	char err[256];

	ring(&kr, false);
	s = sealed_payload(&kr, EV1);
	ck_assert(personal_open(&kr, TENANT, EV2, "/payload", &s, PERSONAL_CLEAR, &w, err, sizeof err) ==
		  ES_EINTERNAL);
	ck_assert_str_eq(err, "event " EV2 ": /payload/email: the ciphertext fails authentication");
	json_object_put(s);

	s = sealed_payload(&kr, EV1);
	ck_assert(personal_open(&kr, "6f7c2a1e-1111-4c1d-9a53-0123456789ac", EV1, "/payload", &s,
				PERSONAL_CLEAR, &w, err, sizeof err) == ES_EINTERNAL);
	ck_assert(strstr(err, "belongs to another tenant"));
	json_object_put(s);

	/* the email's envelope put in the address field */
	s = sealed_payload(&kr, EV1);
	json_object_object_get_ex(s, "email", &env);
	json_object_object_add(s, "address", json_object_get(env));
	ck_assert(personal_open(&kr, TENANT, EV1, "/payload", &s, PERSONAL_CLEAR, &w, err, sizeof err) ==
		  ES_EINTERNAL);
	ck_assert_str_eq(err, "event " EV1 ": /payload/address: the ciphertext fails authentication");
	json_object_put(s);

	t = json_tokener_parse("{\"a\":{\"$enc\":\"v1:8:AAAA\"},\"b\":{\"$enc\":\"v2:7:AAAA\"},"
			       "\"c\":{\"$enc\":\"v1:7:***\"}}");
	ck_assert(personal_open(&kr, TENANT, EV1, "/payload", &t, PERSONAL_CLEAR, &w, err, sizeof err) ==
		  ES_EINTERNAL);
	ck_assert(strstr(err, "/payload/a: the envelope's key is missing"));
	json_object_object_del(t, "a");
	ck_assert(personal_open(&kr, TENANT, EV1, "/payload", &t, PERSONAL_CLEAR, &w, err, sizeof err) ==
		  ES_EINTERNAL);
	ck_assert(strstr(err, "/payload/b: malformed envelope"));
	json_object_object_del(t, "b");
	ck_assert(personal_open(&kr, TENANT, EV1, "/payload", &t, PERSONAL_CLEAR, &w, err, sizeof err) ==
		  ES_EINTERNAL);
	ck_assert(strstr(err, "/payload/c: malformed envelope"));
	json_object_put(t);
	personal_withheld_clear(&w);
	keyring_free(&kr);
}
END_TEST

START_TEST(personal_needs_its_subject)
{
	json_object *p = json_tokener_parse("{\"to\":\"\",\"iban\":\"x\",\"n\":{\"to\":17}}");
	char subject[PERSONAL_SUBJECT_MAX + 1], *ptr;
	char *nested[] = { "iban" };
	struct personal_decl d = { "n.to", nested, 1 };
	struct keyring none = KEYRING_INIT;
	json_object *out = NULL;

	ck_assert(!personal_subject(&decls[1], AGG, p, subject)); /* empty */
	ck_assert(personal_subject(&d, AGG, p, subject) && strcmp(subject, "17") == 0);
	ck_assert(personal_has_fields(&decls[1], p));
	ck_assert(!personal_has_fields(&decls[0], p));
	/* no key for the subject: nothing is sealed, nothing returned */
	ck_assert(personal_seal(&none, TENANT, EV1, AGG, &d, 1, p, &out) == ES_EINVAL);
	ck_assert_ptr_null(out);
	ptr = personal_pointer("/payload", "a.b~c/d");
	ck_assert_str_eq(ptr, "/payload/a/b~0c~1d");
	free(ptr);
	json_object_put(p);
}
END_TEST

/* --- sealing and opening a snapshot's state members --------------------------- */

#define AGG2 "5b2f5d1e-3333-4c1d-9a53-0123456789ab"

static const struct personal_state_ref snap_ref = { TENANT, "Customer", AGG, 4 };

START_TEST(personal_state_round_trip)
{
	struct keyring kr = KEYRING_INIT;
	json_object *value = json_tokener_parse("{\"city\":\"Leeds\",\"n\":[1,2]}"), *env = NULL, *back = NULL;
	int64_t key_id = 0;
	bool erased = true;
	char err[200];

	ring(&kr, false);
	ck_assert(personal_seal_state(&kr.keys[0], &snap_ref, "/state/address", value, &env) == ES_OK);
	ck_assert(personal_value_key(env, &key_id) && key_id == 7);
	ck_assert_ptr_null(strstr(json_object_to_json_string(env), "Leeds"));
	ck_assert(personal_open_state(&kr, &snap_ref, "/state/address", env, &back, &erased, err,
				      sizeof err) == ES_OK);
	ck_assert(!erased);
	ck_assert(json_object_equal(value, back));
	json_object_put(back);
	/* an event's field AAD never opens a state member: the same key, another context */
	ck_assert(!personal_value_key(value, &key_id));
	json_object_put(value);
	json_object_put(env);
	keyring_free(&kr);
}
END_TEST

/* Opening a member sealed as snap_ref's /state/email anywhere else fails. */
static const struct {
	struct personal_state_ref ref;
	const char *pointer;
} moved[] = {
	{ { TENANT, "Customer", AGG, 5 }, "/state/email" },         /* another version */
	{ { TENANT, "Customer", AGG2, 4 }, "/state/email" },        /* another stream */
	{ { TENANT, "Supplier", AGG, 4 }, "/state/email" },         /* another type */
	{ { TENANT, "Customer", AGG, 4 }, "/state/name" },          /* another member */
	{ { TENANT, "Customer", AGG, 4 }, "/payload/email" },       /* an event's pointer */
};

START_TEST(personal_state_refuses_what_moved)
{
	struct keyring kr = KEYRING_INIT;
	json_object *value = json_object_new_string("a@example.org"), *env = NULL, *back = NULL;
	bool erased = false;
	char err[200] = "";

	ring(&kr, false);
	ck_assert(personal_seal_state(&kr.keys[1], &snap_ref, "/state/email", value, &env) == ES_OK);
	ck_assert(personal_open_state(&kr, &moved[_i].ref, moved[_i].pointer, env, &back, &erased, err,
				      sizeof err) == ES_EINTERNAL);
	ck_assert_ptr_null(back);
	ck_assert_str_eq(err, "the ciphertext fails authentication");
	json_object_put(value);
	json_object_put(env);
	keyring_free(&kr);
}
END_TEST

START_TEST(personal_state_erased_unknown_or_foreign_key)
{
	struct keyring kr = KEYRING_INIT, other = KEYRING_INIT;
	json_object *value = json_object_new_string("GB00"), *env = NULL, *back = NULL, *bad;
	struct personal_state_ref untenanted = { NULL, "Customer", AGG, 4 };
	bool erased = false;
	char err[200];

	ring(&kr, false);
	ck_assert(personal_seal_state(&kr.keys[1], &snap_ref, "/state/iban", value, &env) == ES_OK);
	keyring_free(&kr);
	ring(&kr, true); /* bob's key destroyed since */
	ck_assert(personal_open_state(&kr, &snap_ref, "/state/iban", env, &back, &erased, err,
				      sizeof err) == ES_OK);
	ck_assert(erased);
	ck_assert_ptr_null(back);
	ck_assert(personal_open_state(&other, &snap_ref, "/state/iban", env, &back, &erased, err,
				      sizeof err) == ES_EINTERNAL);
	ck_assert_str_eq(err, "the envelope's key is missing from the key table");
	ck_assert(personal_open_state(&kr, &untenanted, "/state/iban", env, &back, &erased, err,
				      sizeof err) == ES_EINTERNAL);
	ck_assert_str_eq(err, "the envelope's key belongs to another tenant");
	bad = json_tokener_parse("{\"$enc\":\"v2:7:AAAA\"}");
	ck_assert(personal_open_state(&kr, &snap_ref, "/state/iban", bad, &back, &erased, err,
				      sizeof err) == ES_EINTERNAL);
	ck_assert_str_eq(err, "malformed envelope");
	json_object_put(bad);
	json_object_put(value);
	json_object_put(env);
	keyring_free(&kr);
}
END_TEST

START_TEST(personal_field_key_finds_envelopes)
{
	struct keyring kr = KEYRING_INIT;
	json_object *s;
	int64_t key_id = 0;

	ring(&kr, false);
	s = sealed_payload(&kr, EV1);
	ck_assert(personal_field_key(s, "email", &key_id) && key_id == 7);
	ck_assert(personal_field_key(s, "iban", &key_id) && key_id == 9);
	ck_assert(!personal_field_key(s, "amount", &key_id));
	ck_assert(!personal_field_key(s, "address.city", &key_id)); /* inside an envelope */
	ck_assert(!personal_field_key(s, "missing", &key_id));
	json_object_put(s);
	keyring_free(&kr);
}
END_TEST

static Suite *privacy_suite(void)
{
	Suite *s = suite_create("privacy");
	TCase *tc = tcase_create("cipher");

	tcase_add_test(tc, cipher_round_trip);
	tcase_add_test(tc, envelope_mark_found);
	tcase_add_test(tc, cipher_known_answer);
	tcase_add_test(tc, cipher_refuses_what_it_did_not_seal);
	tcase_add_test(tc, cipher_base64);
	suite_add_tcase(s, tc);
	tc = tcase_create("masterkey");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, masterkey_checks_its_file, 0, N_ELEMS(keyfiles));
	tcase_add_test(tc, masterkey_install_and_forget);
	tcase_add_test(tc, masterkey_by_id_picks_the_row_master);
	tcase_add_loop_test(tc, registry_privacy_loads_both_keys, 0, N_ELEMS(key_pairs));
	suite_add_tcase(s, tc);
	tc = tcase_create("personal");
	tcase_add_test(tc, personal_seals_declared_fields_only);
	tcase_add_test(tc, personal_opens_in_each_view);
	tcase_add_test(tc, personal_opens_scalars);
	tcase_add_test(tc, personal_field_aad_layout);
	tcase_add_test(tc, personal_erased_subject_reads_null);
	tcase_add_test(tc, personal_refuses_moved_or_damaged_envelopes);
	tcase_add_test(tc, personal_needs_its_subject);
	tcase_add_test(tc, personal_state_round_trip);
	tcase_add_loop_test(tc, personal_state_refuses_what_moved, 0, N_ELEMS(moved));
	tcase_add_test(tc, personal_state_erased_unknown_or_foreign_key);
	tcase_add_test(tc, personal_field_key_finds_envelopes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(privacy_suite());
}
