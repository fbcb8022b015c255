/* envscan.c - a page's envelopes opened by a tokenizer over its text:
 * scanning records where the envelopes are (and their pointers, events
 * and key ids), then the text is copied out with each one replaced. */
#include "buildconf.h"
#include "privacy/envscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* view_page's json-c parse allows this depth; the array it wraps the
 * page in is one level. */
#define PAGE_DEPTH 1099
/* Room for a tenant or event id (UUIDs: a longer one is unexpected). */
#define ID_MAX 64

enum scan_status {
	SCAN_OK,
	SCAN_BAD,       /* not JSON */
	SCAN_UNREAD     /* JSON the scanner leaves to json-c */
};

/* One envelope of the text: offsets into it. */
struct envelope {
	size_t event;           /* the page's event it is in */
	size_t start, end;      /* the object */
	size_t str, str_len;    /* its string's contents */
	size_t pointer;         /* its pointer, NUL-terminated, in scan.pointers */
	bool named;             /* it names a key (else it is malformed) */
};

struct event {
	size_t close;           /* its closing brace */
	char id[ID_MAX];
	char tenant[ID_MAX];
	bool tenant_set;        /* a string (null: no tenant) */
};

struct scan {
	const char *text, *p, *end;
	int depth, max_depth;
	enum scan_status too_deep;
	struct envelope *envs;
	size_t n_envs, cap_envs;
	struct event *events;
	size_t n_events, cap_events;
	int64_t *ids;           /* the key ids named, each once */
	size_t n_ids, cap_ids;
	struct sbuf pointers;
	char *path;             /* the pointer of the value being scanned */
	size_t path_len, path_cap;
	bool oom;
};

static void scan_init(struct scan *s, const char *text, size_t len, int max_depth,
		      enum scan_status too_deep)
{
	memset(s, 0, sizeof *s);
	s->text = s->p = text;
	s->end = text + len;
	s->max_depth = max_depth;
	s->too_deep = too_deep;
}

static void scan_free(struct scan *s)
{
	free(s->envs);
	free(s->events);
	free(s->ids);
	sbuf_free(&s->pointers);
	free(s->path);
}

/* arr (n items of size, room for *cap) with room for one more, or NULL
 * (arr is then left as it was). */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? 2 * *cap : 16;
	void *grown;

	if (n < *cap)
		return arr;
	grown = realloc(arr, c * size);
	if (grown)
		*cap = c;
	return grown;
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r'))
		s->p++;
}

static bool at(const struct scan *s, char c)
{
	return s->p < s->end && *s->p == c;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The string at s->p: its contents in *str, *len bytes as written,
 * *escaped when they hold a backslash escape. memchr finds the quotes (a
 * page is mostly strings); control characters are let through, as json-c
 * does. */
static enum scan_status scan_string(struct scan *s, const char **str, size_t *len, bool *escaped)
{
	const char *p = s->p + 1, *quote, *bs;

	*str = p;
	*escaped = false;
	for (;;) {
		quote = memchr(p, '"', (size_t)(s->end - p));
		if (!quote)
			return SCAN_BAD;
		bs = memchr(p, '\\', (size_t)(quote - p));
		if (!bs)
			break;
		/* an escape before the quote (which may be the one escaped) */
		*escaped = true;
		p = bs + 1;
		if (p == s->end)
			return SCAN_BAD;
		if (*p == 'u') {
			if (s->end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]))
				return SCAN_BAD;
			p += 5;
		} else if (memchr("\"\\/bfnrt", *p, 8)) {
			p++;
		} else {
			return SCAN_BAD;
		}
	}
	*len = (size_t)(quote - *str);
	s->p = quote + 1;
	return SCAN_OK;
}

static bool digits(struct scan *s)
{
	const char *from = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > from;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static enum scan_status scan_number(struct scan *s)
{
	if (at(s, '-'))
		s->p++;
	if (at(s, '0'))
		s->p++;
	else if (!digits(s))
		return SCAN_BAD;
	if (at(s, '.')) {
		s->p++;
		if (!digits(s))
			return SCAN_BAD;
	}
	if (at(s, 'e') || at(s, 'E')) {
		s->p++;
		if (at(s, '+') || at(s, '-'))
			s->p++;
		if (!digits(s))
			return SCAN_BAD;
	}
	return SCAN_OK;
}

static enum scan_status scan_literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return SCAN_BAD;
	s->p += n;
	return SCAN_OK;
}

/* Room for n more bytes of the path. */
static bool path_room(struct scan *s, size_t n)
{
	size_t cap = s->path_cap ? s->path_cap : 256;
	char *grown;

	if (s->path_len + n <= s->path_cap)
		return true;
	while (cap < s->path_len + n)
		cap *= 2;
	grown = realloc(s->path, cap);
	if (!grown) {
		s->oom = true;
		return false;
	}
	s->path = grown;
	s->path_cap = cap;
	return true;
}

static void path_add(struct scan *s, const char *text, size_t n)
{
	if (!path_room(s, n))
		return;
	memcpy(s->path + s->path_len, text, n);
	s->path_len += n;
}

/* The text of a key is the key itself when it has no escapes; in a
 * pointer, '~' and '/' are escaped as jsondoc_pointer_join does. */
static void path_push(struct scan *s, const char *key, size_t len)
{
	char *d;

	if (!path_room(s, 1 + 2 * len))
		return;
	d = s->path + s->path_len;
	*d++ = '/';
	for (size_t i = 0; i < len; i++) {
		if (key[i] == '~' || key[i] == '/') {
			*d++ = '~';
			*d++ = key[i] == '~' ? '0' : '1';
		} else {
			*d++ = key[i];
		}
	}
	s->path_len = (size_t)(d - s->path);
}

static void path_push_index(struct scan *s, size_t i)
{
	char digits[24], *d = digits + sizeof digits;

	do
		*--d = (char)('0' + i % 10);
	while (i /= 10);
	*--d = '/';
	path_add(s, d, (size_t)(digits + sizeof digits - d));
}

static void record_envelope(struct scan *s, const char *start, const char *str, size_t len)
{
	struct envelope *envs = grow(s->envs, &s->cap_envs, s->n_envs, sizeof *s->envs), *env;
	int64_t *ids, id;

	if (!envs) {
		s->oom = true;
		return;
	}
	s->envs = envs;
	env = &s->envs[s->n_envs++];
	env->event = s->n_events;
	env->start = (size_t)(start - s->text);
	env->end = (size_t)(s->p - s->text);
	env->str = (size_t)(str - s->text);
	env->str_len = len;
	env->pointer = s->pointers.len;
	sbuf_append(&s->pointers, s->path, s->path_len);
	sbuf_putc(&s->pointers, '\0');
	/* a malformed one is reported when it is opened */
	env->named = personal_envelope_key_id(str, len, &id);
	if (!env->named)
		return;
	for (size_t i = 0; i < s->n_ids; i++)
		if (s->ids[i] == id)
			return;
	ids = grow(s->ids, &s->cap_ids, s->n_ids, sizeof *s->ids);
	if (!ids) {
		s->oom = true;
		return;
	}
	s->ids = ids;
	s->ids[s->n_ids++] = id;
}

/* At an object: when it is an envelope ({"$enc": <string>} and nothing
 * else, what envelope_of in personal.c accepts), records it and moves
 * past it; otherwise leaves s->p where it was. */
static enum scan_status scan_envelope(struct scan *s)
{
	const char *start = s->p, *str;
	size_t mark = strlen(PERSONAL_ENVELOPE_MARK), len;
	bool escaped;
	enum scan_status st;

	s->p++;
	skip_ws(s);
	if ((size_t)(s->end - s->p) < mark || memcmp(s->p, PERSONAL_ENVELOPE_MARK, mark) != 0)
		goto ordinary;
	s->p += mark;
	skip_ws(s);
	if (!at(s, ':'))
		goto ordinary;
	s->p++;
	skip_ws(s);
	if (!at(s, '"'))
		goto ordinary;
	st = scan_string(s, &str, &len, &escaped);
	if (st != SCAN_OK)
		return st;
	skip_ws(s);
	if (!at(s, '}'))
		goto ordinary;
	if (escaped)
		return SCAN_UNREAD; /* json-c reads it unescaped */
	s->p++;
	record_envelope(s, start, str, len);
	return SCAN_OK;
ordinary:
	s->p = start;
	return SCAN_OK;
}

static enum scan_status scan_value(struct scan *s, bool personal);

/* An object or array at s->p, its members scanned by member(); personal:
 * inside a payload, where envelopes are looked for and pointers kept. */
static enum scan_status scan_container(struct scan *s, bool personal, char close,
				       enum scan_status (*member)(struct scan *, bool, size_t))
{
	enum scan_status st;

	if (++s->depth > s->max_depth)
		return s->too_deep;
	s->p++;
	skip_ws(s);
	if (at(s, close)) {
		s->p++;
		s->depth--;
		return SCAN_OK;
	}
	for (size_t i = 0;; i++) {
		st = member(s, personal, i);
		if (st != SCAN_OK)
			return st;
		skip_ws(s);
		if (at(s, close))
			break;
		if (!at(s, ','))
			return SCAN_BAD;
		s->p++;
		skip_ws(s);
	}
	s->p++;
	s->depth--;
	return SCAN_OK;
}

static enum scan_status object_member(struct scan *s, bool personal, size_t i)
{
	size_t base = s->path_len, len;
	const char *key;
	bool escaped;
	enum scan_status st;

	(void)i;
	if (!at(s, '"'))
		return SCAN_BAD;
	st = scan_string(s, &key, &len, &escaped);
	if (st != SCAN_OK)
		return st;
	if (personal && escaped)
		return SCAN_UNREAD; /* its pointer needs the key unescaped */
	skip_ws(s);
	if (!at(s, ':'))
		return SCAN_BAD;
	s->p++;
	skip_ws(s);
	if (personal)
		path_push(s, key, len);
	st = scan_value(s, personal);
	s->path_len = base;
	return st;
}

static enum scan_status array_member(struct scan *s, bool personal, size_t i)
{
	size_t base = s->path_len;
	enum scan_status st;

	if (personal)
		path_push_index(s, i);
	st = scan_value(s, personal);
	s->path_len = base;
	return st;
}

static enum scan_status scan_value(struct scan *s, bool personal)
{
	const char *str;
	size_t len;
	bool escaped;
	enum scan_status st;

	if (s->p == s->end)
		return SCAN_BAD;
	switch (*s->p) {
	case '{':
		if (personal) {
			const char *start = s->p;

			st = scan_envelope(s);
			if (st != SCAN_OK || s->p != start)
				return st;
		}
		return scan_container(s, personal, '}', object_member);
	case '[':
		return scan_container(s, personal, ']', array_member);
	case '"':
		return scan_string(s, &str, &len, &escaped);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	default:
		return scan_number(s);
	}
}

static bool key_is(const char *key, size_t len, const char *name)
{
	return len == strlen(name) && memcmp(key, name, len) == 0;
}

/* An event's tenant_id or event_id: a string without escapes that fits
 * (copied to out), or null when null_ok. */
static enum scan_status scan_id(struct scan *s, char *out, bool null_ok, bool *set)
{
	const char *str;
	size_t len;
	bool escaped;
	enum scan_status st;

	if (null_ok && at(s, 'n')) {
		*set = false;
		return scan_literal(s, "null");
	}
	if (!at(s, '"'))
		return SCAN_UNREAD;
	st = scan_string(s, &str, &len, &escaped);
	if (st != SCAN_OK)
		return st;
	if (escaped || len >= ID_MAX)
		return SCAN_UNREAD;
	memcpy(out, str, len);
	out[len] = '\0';
	*set = true;
	return SCAN_OK;
}

/* One member of an event object: the ids the AAD needs come before the
 * payload, whose envelopes are recorded. */
struct event_seen {
	struct event ev;
	bool id, tenant, payload;
};

static enum scan_status event_member(struct scan *s, struct event_seen *seen)
{
	const char *key;
	size_t len, before = s->n_envs;
	bool escaped;
	enum scan_status st;

	if (!at(s, '"'))
		return SCAN_BAD;
	st = scan_string(s, &key, &len, &escaped);
	if (st != SCAN_OK)
		return st;
	skip_ws(s);
	if (!at(s, ':'))
		return SCAN_BAD;
	s->p++;
	skip_ws(s);
	if (escaped || key_is(key, len, "redacted") || key_is(key, len, "erased"))
		return SCAN_UNREAD;
	if (key_is(key, len, "event_id"))
		return scan_id(s, seen->ev.id, false, &seen->id);
	if (key_is(key, len, "tenant_id")) {
		seen->tenant = true;
		return scan_id(s, seen->ev.tenant, true, &seen->ev.tenant_set);
	}
	if (!key_is(key, len, "payload"))
		return scan_value(s, false);
	if (seen->payload)
		return SCAN_UNREAD;
	seen->payload = true;
	s->path_len = 0;
	path_add(s, "/payload", strlen("/payload"));
	st = scan_value(s, true);
	if (st == SCAN_OK && s->n_envs > before && !(seen->id && seen->tenant))
		return SCAN_UNREAD;
	return st;
}

static enum scan_status scan_event(struct scan *s)
{
	struct event_seen seen;
	struct event *events;
	enum scan_status st;

	memset(&seen, 0, sizeof seen);
	if (!at(s, '{'))
		return SCAN_UNREAD;
	s->p++;
	s->depth = 1;
	skip_ws(s);
	while (!at(s, '}')) {
		st = event_member(s, &seen);
		if (st != SCAN_OK)
			return st;
		skip_ws(s);
		if (at(s, ',')) {
			s->p++;
			skip_ws(s);
			if (at(s, '}'))
				return SCAN_BAD;
		} else if (!at(s, '}')) {
			return SCAN_BAD;
		}
	}
	seen.ev.close = (size_t)(s->p - s->text);
	s->p++;
	events = grow(s->events, &s->cap_events, s->n_events, sizeof *s->events);
	if (!events) {
		s->oom = true;
		return SCAN_OK;
	}
	s->events = events;
	s->events[s->n_events++] = seen.ev;
	return SCAN_OK;
}

static enum scan_status scan_page(struct scan *s)
{
	enum scan_status st = SCAN_OK;

	skip_ws(s);
	while (st == SCAN_OK && s->p < s->end) {
		st = scan_event(s);
		skip_ws(s);
		if (st != SCAN_OK || s->p == s->end)
			break;
		if (!at(s, ','))
			return SCAN_BAD;
		s->p++;
		skip_ws(s);
		if (s->p == s->end)
			return SCAN_BAD;
	}
	return st;
}

/* --- writing the page out ------------------------------------------------ */

struct emit {
	struct keyring *kr;
	enum personal_view view;
	envscan_fetch_fn fetch;
	void *arg;
	struct sbuf *out;
	struct sbuf redacted, erased;   /* the event's pointers, each after a comma */
	const char *event_id, *tenant;
	bool unread;                    /* a plaintext the scanner leaves to json-c */
	char *err;
	size_t errlen;
};

static enum es_status open_fail(struct emit *e, const char *pointer, const char *why)
{
	snprintf(e->err, e->errlen, "event %s: %s: %s", e->event_id, pointer, why);
	return ES_EINTERNAL;
}

/* A pointer goes out quoted as it is, unless it holds what JSON text
 * escapes (keys with escapes are left to json-c, but a raw control
 * character passes). */
static void withhold(struct sbuf *list, const char *pointer)
{
	size_t n = strlen(pointer);

	sbuf_putc(list, ',');
	for (size_t i = 0; i < n; i++) {
		if (pointer[i] == '"' || pointer[i] == '\\' || (unsigned char)pointer[i] < 0x20) {
			sbuf_json_string(list, pointer);
			return;
		}
	}
	sbuf_putc(list, '"');
	sbuf_append(list, pointer, n);
	sbuf_putc(list, '"');
}

static enum es_status emit_plaintext(struct emit *e, const char *plain, size_t len,
				     const char *pointer);

/* The envelope's replacement, checked as personal.c's open_envelope does
 * (the same rules: an erased key before the view). */
static enum es_status open_one(struct emit *e, const struct scan *s, const struct envelope *env)
{
	const char *pointer = s->pointers.data + env->pointer, *b64, *why;
	const struct keyring_key *k;
	char aad[PERSONAL_AAD_MAX];
	unsigned char *plain;
	size_t b64len, plain_len;
	enum es_status rc;

	why = personal_envelope_key(e->kr, e->tenant, s->text + env->str, env->str_len, &k, &b64, &b64len);
	if (why)
		return open_fail(e, pointer, why);
	if (k->erased || e->view == PERSONAL_REDACTED) {
		withhold(k->erased ? &e->erased : &e->redacted, pointer);
		sbuf_puts(e->out, "null");
		return ES_OK;
	}
	rc = personal_unseal(k, aad, personal_field_aad(e->tenant, e->event_id, k->key_id, pointer, aad),
			     b64, b64len, &plain, &plain_len, &why);
	if (rc == ES_EINTERNAL)
		return open_fail(e, pointer, why);
	if (rc != ES_OK)
		return rc;
	rc = emit_plaintext(e, (const char *)plain, plain_len, pointer);
	personal_plain_free(plain, plain_len);
	return rc;
}

/* Copies s's text from *pos on, through the envelopes of event (from
 * s->envs[*next] on), each replaced; stops at the first of another. */
static enum es_status emit_envelopes(struct emit *e, const struct scan *s, size_t event, size_t *next,
				     size_t *pos)
{
	enum es_status rc = ES_OK;

	for (; rc == ES_OK && !e->unread && *next < s->n_envs && s->envs[*next].event == event; (*next)++) {
		const struct envelope *env = &s->envs[*next];

		sbuf_append(e->out, s->text + *pos, env->start - *pos);
		rc = open_one(e, s, env);
		*pos = env->end;
	}
	return rc;
}

static bool lacks_keys(const struct keyring *kr, const struct scan *s)
{
	for (size_t i = 0; i < s->n_ids; i++)
		if (!keyring_by_id(kr, s->ids[i]))
			return true;
	return false;
}

/* A declared field inside another declared field was sealed first: the
 * plaintext is scanned as a payload is, from the field's pointer on. */
static enum es_status emit_plaintext(struct emit *e, const char *plain, size_t len,
				     const char *pointer)
{
	struct scan s;
	size_t next = 0, pos = 0;
	enum scan_status st;
	enum es_status rc = ES_OK;
	/* without the mark it holds no envelope: only checked to be JSON */
	bool nested = personal_find_mark(plain, len) != NULL;

	scan_init(&s, plain, len, PERSONAL_PARSE_DEPTH, SCAN_BAD);
	if (nested)
		path_add(&s, pointer, strlen(pointer));
	skip_ws(&s);
	st = scan_value(&s, nested);
	skip_ws(&s);
	if (st == SCAN_OK && s.p != s.end)
		st = SCAN_BAD;
	if (s.oom || s.pointers.failed)
		rc = ES_ENOMEM;
	else if (st == SCAN_BAD)
		rc = open_fail(e, pointer, "the plaintext is not JSON");
	else if (st == SCAN_UNREAD)
		e->unread = true;
	else if (lacks_keys(e->kr, &s))
		rc = e->fetch(e->arg, s.ids, s.n_ids, e->kr);
	if (rc == ES_OK && !e->unread)
		rc = emit_envelopes(e, &s, 0, &next, &pos);
	if (rc == ES_OK && !e->unread)
		sbuf_append(e->out, plain + pos, len - pos);
	scan_free(&s);
	return rc;
}

static void put_list(struct sbuf *out, const char *name, const struct sbuf *list)
{
	if (!list->len)
		return;
	sbuf_puts(out, ",\"");
	sbuf_puts(out, name);
	sbuf_puts(out, "\":[");
	sbuf_append(out, list->data + 1, list->len - 1);
	sbuf_putc(out, ']');
}

/* True when an envelope of event (from s->envs[next] on) names a key. */
static bool names_keys(const struct scan *s, size_t event, size_t next)
{
	for (; next < s->n_envs && s->envs[next].event == event; next++)
		if (s->envs[next].named)
			return true;
	return false;
}

static enum es_status emit_page(struct emit *e, const struct scan *s)
{
	size_t next = 0, pos = 0;
	enum es_status rc = ES_OK;

	for (size_t i = 0; rc == ES_OK && !e->unread && i < s->n_events; i++) {
		const struct event *ev = &s->events[i];

		e->event_id = ev->id;
		e->tenant = ev->tenant_set ? ev->tenant : NULL;
		sbuf_reset(&e->redacted);
		sbuf_reset(&e->erased);
		if (names_keys(s, i, next))
			rc = emit_envelopes(e, s, i, &next, &pos);
		else /* as view_event: nothing to fetch, nothing opened */
			while (next < s->n_envs && s->envs[next].event == i)
				next++;
		if (rc != ES_OK || e->unread)
			break;
		sbuf_append(e->out, s->text + pos, ev->close - pos);
		pos = ev->close;
		put_list(e->out, "redacted", &e->redacted);
		put_list(e->out, "erased", &e->erased);
	}
	if (rc == ES_OK && !e->unread)
		sbuf_append(e->out, s->text + pos, (size_t)(s->end - s->text) - pos);
	if (rc == ES_OK && (e->out->failed || e->redacted.failed || e->erased.failed))
		rc = ES_ENOMEM;
	return rc;
}

enum es_status envscan_page(const char *page, size_t len, enum personal_view view,
			    struct keyring *kr, envscan_fetch_fn fetch, void *arg, struct sbuf *out,
			    bool *scanned, char *err, size_t errlen)
{
	struct emit e = { kr, view, fetch, arg, out, SBUF_INIT, SBUF_INIT, "", NULL, false, err, errlen };
	struct scan s;
	enum scan_status st;
	enum es_status rc = ES_OK;

	*scanned = false;
	scan_init(&s, page, len, PAGE_DEPTH, SCAN_UNREAD);
	st = scan_page(&s);
	if (s.oom || s.pointers.failed)
		rc = ES_ENOMEM;
	else if (st == SCAN_OK && s.n_ids)
		rc = fetch(arg, s.ids, s.n_ids, kr);
	if (rc == ES_OK && st == SCAN_OK) {
		rc = emit_page(&e, &s);
		*scanned = rc == ES_OK && !e.unread;
	}
	scan_free(&s);
	sbuf_free(&e.redacted);
	sbuf_free(&e.erased);
	return rc;
}
