/* jsondoc.c - strict JSON for untrusted bytes.
 *
 * json-c, even in strict mode, lets through single quotes, NaN/Infinity,
 * overlong and surrogate UTF-8, lone surrogate escapes (turned into U+FFFD),
 * raw control characters in strings, "1.", saturated huge integers, and
 * duplicate keys (the last one wins). A request that relies on any of these
 * means something other than what we would store, so a bounded single-pass
 * validator checks the RFC 8259 grammar first; json-c then only builds the
 * tree. Duplicate keys are found by counting: the validator counts the
 * members written in the text, and a tree with fewer members lost some to a
 * duplicate. Only then is the text walked again to name the key. */
#include "buildconf.h"
#include "json/jsondoc.h"
#include "base/text.h"
#include "base/sbuf.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUPKEY_SHOWN 40 /* bytes of a duplicate key quoted in the error */

enum scan_state { EXPECT_VALUE, EXPECT_KEY, EXPECT_FIRST_KEY, AFTER_VALUE };

/* failures the caller tells apart (compared by address) */
static const char msg_too_deep[] = "nesting too deep";
static const char msg_nomem[] = "out of memory";
static const char msg_duplicate[] = "duplicate key";

struct scan {
	const unsigned char *s;
	size_t len;
	size_t pos;
	int max_depth;
	int depth;
	int deepest;             /* the most containers open at once */
	unsigned char *stack;    /* '{' or '[' per open container */
	json_object **seen;      /* find_dup mode: the keys of each open object */
	bool find_dup;
	size_t members;          /* object members written in the text */
	size_t err_at;
	const char *err_msg;
	struct sbuf dupkey;      /* find_dup mode: the decoded duplicate */
};

static bool scan_fail(struct scan *sc, size_t at, const char *msg)
{
	sc->err_at = at;
	sc->err_msg = msg;
	return false;
}

static void skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len) {
		unsigned char c = sc->s[sc->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->pos++;
	}
}

/* Reads the 4 hex digits of a \u escape at p; -1 if malformed. */
static long hex4(const struct scan *sc, size_t p)
{
	long v = 0;

	if (sc->len - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int d = text_hex_value(sc->s[p + i]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void put_utf8(struct sbuf *b, unsigned long cp)
{
	char u[4];

	if (cp < 0x80) {
		sbuf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		sbuf_append(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		sbuf_append(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		sbuf_append(b, u, 4);
	}
}

/* Scans the string starting at the opening quote at sc->pos. With out, the
 * decoded text is appended to it. A key may not hold U+0000: json-c keeps
 * keys as C strings and would cut it there. */
static bool scan_string(struct scan *sc, bool is_key, struct sbuf *out)
{
	size_t start = sc->pos, p = sc->pos + 1, k;

	while (p < sc->len) {
		unsigned char c = sc->s[p];

		if (c == '"') {
			sc->pos = p + 1;
			return true;
		}
		if (c < 0x20)
			return scan_fail(sc, p, "control character in string (escape it)");
		if (c >= 0x80) {
			k = text_utf8_seq_len(sc->s + p, sc->len - p);
			if (k == 0)
				return scan_fail(sc, p, "invalid UTF-8");
			if (out)
				sbuf_append(out, sc->s + p, k);
			p += k;
			continue;
		}
		if (c != '\\') {
			if (out)
				sbuf_putc(out, (char)c);
			p++;
			continue;
		}
		if (p + 1 >= sc->len)
			break;
		c = sc->s[p + 1];
		if (c == 'u') {
			long cp = hex4(sc, p + 2), lo;

			if (cp < 0)
				return scan_fail(sc, p, "invalid \\u escape");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return scan_fail(sc, p, "unpaired UTF-16 surrogate in \\u escape");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (sc->len - (p + 6) < 2 || sc->s[p + 6] != '\\' ||
				    sc->s[p + 7] != 'u')
					return scan_fail(sc, p, "unpaired UTF-16 surrogate in \\u escape");
				lo = hex4(sc, p + 8);
				if (lo < 0xdc00 || lo > 0xdfff)
					return scan_fail(sc, p, "unpaired UTF-16 surrogate in \\u escape");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			if (cp == 0 && is_key)
				return scan_fail(sc, p, "\\u0000 in an object key");
			if (out)
				put_utf8(out, (unsigned long)cp);
			p += 6;
			continue;
		}
		switch (c) {
		case '"': case '\\': case '/': break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		default:
			return scan_fail(sc, p, "invalid escape in string");
		}
		if (out)
			sbuf_putc(out, (char)c);
		p += 2;
	}
	return scan_fail(sc, start, "unterminated string");
}

/* Scans a number per RFC 8259; an integer (no fraction, no exponent) must
 * fit in int64, since json-c would saturate it silently. */
static bool scan_number(struct scan *sc)
{
	static const char max_pos[] = "9223372036854775807";
	static const char max_neg[] = "9223372036854775808";
	size_t start = sc->pos, p = sc->pos, dstart, ndig;
	bool neg = false, integer = true;

	if (sc->s[p] == '-') {
		neg = true;
		p++;
		if (p < sc->len && (sc->s[p] == 'I' || sc->s[p] == 'N'))
			return scan_fail(sc, start, "NaN and Infinity are not JSON numbers");
	}
	dstart = p;
	if (p >= sc->len || sc->s[p] < '0' || sc->s[p] > '9')
		return scan_fail(sc, start, "invalid number");
	if (sc->s[p] == '0') {
		p++;
		if (p < sc->len && sc->s[p] >= '0' && sc->s[p] <= '9')
			return scan_fail(sc, start, "leading zero in number");
	} else {
		while (p < sc->len && sc->s[p] >= '0' && sc->s[p] <= '9')
			p++;
	}
	ndig = p - dstart;
	if (p < sc->len && sc->s[p] == '.') {
		integer = false;
		p++;
		if (p >= sc->len || sc->s[p] < '0' || sc->s[p] > '9')
			return scan_fail(sc, start, "invalid number");
		while (p < sc->len && sc->s[p] >= '0' && sc->s[p] <= '9')
			p++;
	}
	if (p < sc->len && (sc->s[p] == 'e' || sc->s[p] == 'E')) {
		integer = false;
		p++;
		if (p < sc->len && (sc->s[p] == '+' || sc->s[p] == '-'))
			p++;
		if (p >= sc->len || sc->s[p] < '0' || sc->s[p] > '9')
			return scan_fail(sc, start, "invalid number");
		while (p < sc->len && sc->s[p] >= '0' && sc->s[p] <= '9')
			p++;
	}
	if (integer && ndig >= 19) {
		const char *lim = neg ? max_neg : max_pos;
		if (ndig > 19 || memcmp(sc->s + dstart, lim, 19) > 0)
			return scan_fail(sc, start, "integer out of the 64-bit range");
	}
	sc->pos = p;
	return true;
}

/* A value that starts with a letter: true, false or null. */
static bool scan_literal(struct scan *sc)
{
	static const char *const words[] = { "true", "false", "null" };
	unsigned char c = sc->s[sc->pos];

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);
		if (sc->len - sc->pos >= n && memcmp(sc->s + sc->pos, words[i], n) == 0) {
			sc->pos += n;
			return true;
		}
	}
	if (c == 'N' || c == 'I')
		return scan_fail(sc, sc->pos, "NaN and Infinity are not JSON numbers");
	return scan_fail(sc, sc->pos, "unexpected character");
}

static bool scan_open(struct scan *sc, unsigned char kind)
{
	if (sc->depth >= sc->max_depth)
		return scan_fail(sc, sc->pos, msg_too_deep);
	sc->stack[sc->depth] = kind;
	if (sc->find_dup) {
		sc->seen[sc->depth] = kind == '{' ? json_object_new_object() : NULL;
		if (kind == '{' && !sc->seen[sc->depth])
			return scan_fail(sc, sc->pos, msg_nomem);
	}
	sc->depth++;
	if (sc->depth > sc->deepest)
		sc->deepest = sc->depth;
	sc->pos++;
	return true;
}

static void scan_close(struct scan *sc)
{
	sc->depth--;
	if (sc->find_dup) {
		json_object_put(sc->seen[sc->depth]);
		sc->seen[sc->depth] = NULL;
	}
	sc->pos++;
}

/* A key inside the innermost object; in find_dup mode it is decoded and
 * looked up among the keys seen before it in the same object. */
static bool scan_key(struct scan *sc)
{
	size_t at = sc->pos;
	json_object *set;

	if (!sc->find_dup) {
		sc->members++;
		return scan_string(sc, true, NULL);
	}
	sbuf_reset(&sc->dupkey);
	if (!scan_string(sc, true, &sc->dupkey))
		return false;
	if (sc->dupkey.failed)
		return scan_fail(sc, at, msg_nomem);
	set = sc->seen[sc->depth - 1];
	if (json_object_object_get_ex(set, sbuf_cstr(&sc->dupkey), NULL))
		return scan_fail(sc, at, msg_duplicate);
	if (json_object_object_add(set, sbuf_cstr(&sc->dupkey), NULL) != 0)
		return scan_fail(sc, at, msg_nomem);
	return true;
}

/* The RFC 8259 grammar as a push-down automaton: bounded by len and by
 * max_depth, no recursion. */
static bool scan_run(struct scan *sc)
{
	enum scan_state st = EXPECT_VALUE;
	unsigned char c;

	for (;;) {
		skip_ws(sc);
		if (st == AFTER_VALUE && sc->depth == 0) {
			if (sc->pos != sc->len)
				return scan_fail(sc, sc->pos, "trailing data after the JSON value");
			return true;
		}
		if (sc->pos >= sc->len)
			return scan_fail(sc, sc->pos, "unexpected end of input");
		c = sc->s[sc->pos];
		switch (st) {
		case EXPECT_VALUE:
			if (c == '{' || c == '[') {
				if (!scan_open(sc, c))
					return false;
				st = c == '{' ? EXPECT_FIRST_KEY : EXPECT_VALUE;
				if (c == '[') {
					skip_ws(sc);
					if (sc->pos < sc->len && sc->s[sc->pos] == ']') {
						scan_close(sc);
						st = AFTER_VALUE;
					}
				}
				continue;
			}
			if (c == '"') {
				if (!scan_string(sc, false, NULL))
					return false;
			} else if (c == '-' || (c >= '0' && c <= '9')) {
				if (!scan_number(sc))
					return false;
			} else if (c == '\'') {
				return scan_fail(sc, sc->pos, "single-quoted strings are not JSON");
			} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
				if (!scan_literal(sc))
					return false;
			} else {
				return scan_fail(sc, sc->pos, "unexpected character");
			}
			st = AFTER_VALUE;
			break;
		case EXPECT_FIRST_KEY:
		case EXPECT_KEY:
			if (c == '}' && st == EXPECT_FIRST_KEY) {
				scan_close(sc);
				st = AFTER_VALUE;
				break;
			}
			if (c == '\'')
				return scan_fail(sc, sc->pos, "single-quoted strings are not JSON");
			if (c != '"')
				return scan_fail(sc, sc->pos, "expected a string key");
			if (!scan_key(sc))
				return false;
			skip_ws(sc);
			if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
				return scan_fail(sc, sc->pos, "expected ':' after an object key");
			sc->pos++;
			st = EXPECT_VALUE;
			break;
		case AFTER_VALUE:
			if (c == ',') {
				sc->pos++;
				st = sc->stack[sc->depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
			} else if (c == '}' && sc->stack[sc->depth - 1] == '{') {
				scan_close(sc);
			} else if (c == ']' && sc->stack[sc->depth - 1] == '[') {
				scan_close(sc);
			} else {
				return scan_fail(sc, sc->pos,
						 sc->stack[sc->depth - 1] == '{' ?
						 "expected ',' or '}'" : "expected ',' or ']'");
			}
			break;
		}
	}
}

/* Runs the validator; on false sc->err_at/err_msg say why. Frees what it
 * allocated except sc->dupkey, which the caller reads and frees. */
static bool scan_json(struct scan *sc, const char *buf, size_t len, int max_depth,
		      bool find_dup)
{
	size_t slots = (size_t)max_depth < len ? (size_t)max_depth : len;
	bool ok = false;
	const void *nul;

	memset(sc, 0, sizeof(*sc));
	sc->s = (const unsigned char *)buf;
	sc->len = len;
	sc->max_depth = max_depth;
	sc->find_dup = find_dup;
	nul = memchr(buf, '\0', len);
	if (nul)
		return scan_fail(sc, (size_t)((const char *)nul - buf), "NUL byte");
	sc->stack = malloc(slots + 1);
	if (find_dup)
		sc->seen = calloc(slots + 1, sizeof(*sc->seen));
	if (!sc->stack || (find_dup && !sc->seen)) {
		scan_fail(sc, 0, msg_nomem);
		goto out;
	}
	ok = scan_run(sc);
out:
	if (sc->seen) {
		while (sc->depth > 0)
			json_object_put(sc->seen[--sc->depth]);
	}
	free(sc->seen);
	free(sc->stack);
	sc->seen = NULL;
	sc->stack = NULL;
	return ok;
}

static size_t count_members(json_object *v)
{
	size_t n = 0, i, len;

	switch (json_object_get_type(v)) {
	case json_type_object: {
		json_object_object_foreach(v, key, child) {
			(void)key;
			n += 1 + count_members(child);
		}
		break;
	}
	case json_type_array:
		len = json_object_array_length(v);
		for (i = 0; i < len; i++)
			n += count_members(json_object_array_get_idx(v, i));
		break;
	default:
		break;
	}
	return n;
}

/* Fills err with "invalid JSON at offset N: what" and, for a duplicate,
 * the key (cut to DUPKEY_SHOWN bytes, escaped). */
static void describe(const struct scan *sc, const char *what, const char *key,
		     char *err, size_t errlen)
{
	struct sbuf q = SBUF_INIT;

	if (!err || errlen == 0)
		return;
	if (key) {
		char cut[DUPKEY_SHOWN + 1];
		size_t n = strlen(key);

		if (n > DUPKEY_SHOWN)
			n = DUPKEY_SHOWN;
		memcpy(cut, key, n);
		cut[n] = '\0';
		sbuf_json_string(&q, cut);
		if (strlen(key) > DUPKEY_SHOWN)
			sbuf_puts(&q, "...");
	}
	snprintf(err, errlen, "invalid JSON at offset %zu: %s%s%s", sc->err_at, what,
		 key ? " " : "", key ? sbuf_cstr(&q) : "");
	sbuf_free(&q);
}

/* Borrows buf. On ES_OK *out is a new reference (NULL for the document
 * "null", as json-c represents it); otherwise *out is untouched. */
enum es_status jsondoc_parse_strict(const char *buf, size_t len, int max_depth,
				 json_object **out, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	json_object *root = NULL;
	enum json_tokener_error jerr;
	enum es_status st = ES_EINVAL;
	struct scan sc;
	size_t end, members;

	if (err && errlen)
		err[0] = '\0';
	if (!buf) {
		buf = "";
		len = 0;
	}
	if (max_depth < 1)
		max_depth = 1;
	if (len > INT_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "invalid JSON: document too large");
		return ES_ETOOLARGE;
	}
	if (!scan_json(&sc, buf, len, max_depth, false)) {
		if (sc.err_msg == msg_too_deep) {
			char what[64];
			snprintf(what, sizeof(what), "nesting deeper than %d levels", max_depth);
			describe(&sc, what, NULL, err, errlen);
		} else {
			describe(&sc, sc.err_msg, NULL, err, errlen);
		}
		st = sc.err_msg == msg_nomem ? ES_ENOMEM : ES_EINVAL;
		goto out;
	}
	members = sc.members;

	/* as deep as this document goes, not max_depth: json-c clears a stack
	 * entry per level up front, which for a limit of 1024 cost more than
	 * parsing a small body */
	tok = json_tokener_new_ex(sc.deepest + 1);
	if (!tok) {
		st = ES_ENOMEM;
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!root && jerr == json_tokener_continue) {
		/* a bare top-level number is only complete at the end of input */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	} else if (root) {
		for (end = json_tokener_get_parse_end(tok); end < len; end++) {
			if (!strchr(" \t\r\n", buf[end])) {
				json_object_put(root);
				root = NULL;
				if (err && errlen)
					snprintf(err, errlen,
						 "invalid JSON at offset %zu: trailing data after the JSON value",
						 end);
				goto out;
			}
		}
	}
	if (!root && jerr == json_tokener_success) {
		*out = NULL; /* the document is JSON null, which json-c spells NULL */
		st = ES_OK;
		goto out;
	}
	if (!root) {
		/* the validator accepted it: json-c disagreeing means a value it
		 * cannot represent (or no memory) */
		if (err && errlen)
			snprintf(err, errlen, "invalid JSON: %s", json_tokener_error_desc(jerr));
		goto out;
	}
	if (count_members(root) != members) {
		struct scan dup;

		if (!scan_json(&dup, buf, len, max_depth, true) && dup.err_msg == msg_duplicate)
			describe(&dup, msg_duplicate, sbuf_cstr(&dup.dupkey), err, errlen);
		else if (err && errlen)
			snprintf(err, errlen, "invalid JSON: duplicate key");
		sbuf_free(&dup.dupkey);
		json_object_put(root);
		root = NULL;
		goto out;
	}
	*out = root;
	st = ES_OK;
out:
	if (tok)
		json_tokener_free(tok); /* not NULL-safe in json-c 0.16 */
	return st;
}

/* Both spellings describe() and jsondoc_parse_strict use end in
 * ": duplicate key", optionally followed by the key. */
bool jsondoc_err_is_duplicate(const char *err)
{
	return err && strstr(err, ": duplicate key") != NULL;
}

/* The string belongs to obj and lives until obj changes or is released. */
const char *jsondoc_compact(json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (p[i] == 0)
			return false;
		k = text_utf8_seq_len(p + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* Prepends "/token" to *rest (which it takes). */
static void pointer_prepend(char **rest, const char *token)
{
	char *head, *joined;
	size_t hl, rl;

	if (!rest)
		return;
	head = jsondoc_pointer_join("", token);
	if (!head)
		return;
	hl = strlen(head);
	rl = *rest ? strlen(*rest) : 0;
	joined = malloc(hl + rl + 1);
	if (joined) {
		memcpy(joined, head, hl);
		if (rl)
			memcpy(joined + hl, *rest, rl);
		joined[hl + rl] = '\0';
	}
	free(head);
	free(*rest);
	*rest = joined;
}

static bool storable(json_object *v, char **pointer)
{
	size_t i, len;

	switch (json_object_get_type(v)) {
	case json_type_string:
		if (utf8_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
			return true;
		break;
	case json_type_double:
		if (isfinite(json_object_get_double(v)))
			return true;
		break;
	case json_type_object: {
		json_object_object_foreach(v, key, child) {
			if (!utf8_valid(key, strlen(key))) {
				pointer_prepend(pointer, key);
				return false;
			}
			if (!storable(child, pointer)) {
				pointer_prepend(pointer, key);
				return false;
			}
		}
		return true;
	}
	case json_type_array:
		len = json_object_array_length(v);
		for (i = 0; i < len; i++) {
			if (!storable(json_object_array_get_idx(v, i), pointer)) {
				char idx[24];
				snprintf(idx, sizeof(idx), "%zu", i);
				pointer_prepend(pointer, idx);
				return false;
			}
		}
		return true;
	default:
		return true;
	}
	if (pointer) {
		free(*pointer);
		*pointer = strdup("");
	}
	return false;
}

/* Borrows v. pointer may be NULL; on false *pointer is a new string (NULL
 * only when memory ran out), and on true it is left alone. */
bool jsondoc_pg_storable(json_object *v, char **pointer)
{
	if (pointer)
		*pointer = NULL;
	return storable(v, pointer);
}

/* Returns a new string: base (NULL counts as "") + "/" + token escaped per
 * RFC 6901; NULL when memory runs out. */
char *jsondoc_pointer_join(const char *base, const char *token)
{
	size_t bl = base ? strlen(base) : 0, n = bl + 2, i;
	char *out, *p;

	for (i = 0; token[i]; i++)
		n += token[i] == '~' || token[i] == '/' ? 2 : 1;
	out = malloc(n);
	if (!out)
		return NULL;
	if (bl)
		memcpy(out, base, bl);
	p = out + bl;
	*p++ = '/';
	for (i = 0; token[i]; i++) {
		if (token[i] == '~') {
			*p++ = '~';
			*p++ = '0';
		} else if (token[i] == '/') {
			*p++ = '~';
			*p++ = '1';
		} else {
			*p++ = token[i];
		}
	}
	*p = '\0';
	return out;
}
