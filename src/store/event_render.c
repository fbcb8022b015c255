/* event_render.c - an event's JSON object from its binary columns. */
#include "buildconf.h"
#include "store/event_render.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/sbuf.h"
#include "base/text.h"
#include "base/timefmt.h"
#include "base/uuidtext.h"
#include "pg/db.h"

/* PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC. */
#define PG_EPOCH_UNIX_USEC INT64_C(946684800000000)

/* The binary size of each column, 0 for text (any length). */
static const int column_size[EVENT_RENDER_NCOLS] = {
	[EVENT_RENDER_EVENT_ID] = 16, [EVENT_RENDER_AGGREGATE_ID] = 16,
	[EVENT_RENDER_TENANT_ID] = 16, [EVENT_RENDER_VERSION] = 8, [EVENT_RENDER_POSITION] = 8,
	[EVENT_RENDER_OCCURRED_AT] = 8, [EVENT_RENDER_RECORDED_AT] = 8,
};

/* An event's columns, each read from the result once. */
struct cols {
	const char *v[EVENT_RENDER_NCOLS];
	size_t len[EVENT_RENDER_NCOLS];
	bool actor_null;
};

/* Reads the columns; false unless they are there and the fixed-size ones
 * are of their binary size (so a text result, or a NULL among them,
 * fails). The text ones are NOT NULL in the table but actor_id. */
static bool read_cols(const PGresult *r, int row, int col, struct cols *c)
{
	if (PQnfields(r) < col + EVENT_RENDER_NCOLS)
		return false;
	for (int i = 0; i < EVENT_RENDER_NCOLS; i++) {
		c->v[i] = PQgetvalue(r, row, col + i);
		c->len[i] = (size_t)PQgetlength(r, row, col + i);
		if (column_size[i] && c->len[i] != (size_t)column_size[i])
			return false;
	}
	c->actor_null = PQgetisnull(r, row, col + EVENT_RENDER_ACTOR_ID);
	return true;
}

/* Room for what is not text of the row: the keys and punctuation (302
 * bytes), a tenant's UUID, two numbers of up to 20 digits and a sign, and
 * two timestamps with years of more than four digits, with room to spare. */
#define FIXED_ROOM 512

/* Writes the constant string LIT at p and moves p past it. */
#define PUT(p, LIT) (memcpy((p), LIT, sizeof LIT - 1), (p) += sizeof LIT - 1)

/* A UUID's 16 bytes in its canonical text, quoted. */
static char *put_uuid(char *p, const unsigned char *u)
{
	*p++ = '"';
	uuidtext_format(u, p); /* its NUL is overwritten by the quote */
	p += UUIDTEXT_LEN - 1;
	*p++ = '"';
	return p;
}

static char *put_int64(char *p, int64_t v)
{
	char s[24], *q = s + sizeof s;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	size_t n;

	do
		*--q = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (v < 0)
		*--q = '-';
	n = (size_t)(s + sizeof s - q);
	memcpy(p, q, n);
	return p + n;
}

static char *put_timestamp(char *p, int64_t pg_usec)
{
	*p++ = '"';
	timefmt_format(pg_usec + PG_EPOCH_UNIX_USEC, p); /* TIMEFMT_LEN fits FIXED_ROOM */
	p += strlen(p);
	*p++ = '"';
	return p;
}

/* One reservation for the whole object, written in place: through the
 * buffer's own appends, the bookkeeping of a dozen small writes cost more
 * than the bytes. */
enum es_status event_render(const PGresult *r, int row, int col, struct sbuf *out)
{
	static const unsigned char nil[16];
	struct cols c;
	size_t room;
	char *start, *p;

/* Column n of the event: its bytes, their length. */
#define V(n) c.v[EVENT_RENDER_##n]
#define LEN(n) c.len[EVENT_RENDER_##n]
#define U(n) ((const unsigned char *)V(n))
	if (!read_cols(r, row, col, &c))
		return ES_EINTERNAL;
	room = FIXED_ROOM + TEXT_JSON_STRING_MAX(LEN(EVENT_TYPE)) +
	       TEXT_JSON_STRING_MAX(LEN(AGGREGATE_TYPE)) + TEXT_JSON_STRING_MAX(LEN(ACTOR_ID)) +
	       LEN(PAYLOAD) + LEN(METADATA);
	start = p = sbuf_space(out, room);
	if (!p)
		return ES_ENOMEM;
	PUT(p, "{\"event_id\":");
	p = put_uuid(p, U(EVENT_ID));
	PUT(p, ",\"event_type\":");
	p = text_json_string(p, V(EVENT_TYPE), LEN(EVENT_TYPE));
	PUT(p, ",\"aggregate_type\":");
	p = text_json_string(p, V(AGGREGATE_TYPE), LEN(AGGREGATE_TYPE));
	PUT(p, ",\"aggregate_id\":");
	p = put_uuid(p, U(AGGREGATE_ID));
	PUT(p, ",\"version\":");
	p = put_int64(p, db_binary_int64_of(V(VERSION)));
	PUT(p, ",\"position\":");
	p = put_int64(p, db_binary_int64_of(V(POSITION)));
	PUT(p, ",\"occurred_at\":");
	p = put_timestamp(p, db_binary_int64_of(V(OCCURRED_AT)));
	PUT(p, ",\"recorded_at\":");
	p = put_timestamp(p, db_binary_int64_of(V(RECORDED_AT)));
	PUT(p, ",\"tenant_id\":");
	if (memcmp(V(TENANT_ID), nil, sizeof nil) == 0)
		PUT(p, "null");
	else
		p = put_uuid(p, U(TENANT_ID));
	PUT(p, ",\"actor_id\":");
	if (c.actor_null)
		PUT(p, "null");
	else
		p = text_json_string(p, V(ACTOR_ID), LEN(ACTOR_ID));
	PUT(p, ",\"payload\":");
	memcpy(p, V(PAYLOAD), LEN(PAYLOAD));
	p += LEN(PAYLOAD);
	PUT(p, ",\"metadata\":");
	memcpy(p, V(METADATA), LEN(METADATA));
	p += LEN(METADATA);
	*p++ = '}';
#undef U
#undef LEN
#undef V
	sbuf_advance(out, (size_t)(p - start));
	return ES_OK;
}
