/* event_render.c - an event's JSON object from its binary columns. */
#include "buildconf.h"
#include "store/event_render.h"

#include <stdint.h>
#include <string.h>

#include "base/sbuf.h"
#include "base/timefmt.h"
#include "pg/db.h"

/* PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC. */
#define PG_EPOCH_UNIX_USEC INT64_C(946684800000000)

/* The binary size of each column, 0 for text (any length). */
static const int column_size[EVENT_RENDER_NCOLS] = {
	[EVENT_RENDER_EVENT_ID] = 16, [EVENT_RENDER_AGGREGATE_ID] = 16,
	[EVENT_RENDER_TENANT_ID] = 16, [EVENT_RENDER_VERSION] = 8, [EVENT_RENDER_POSITION] = 8,
	[EVENT_RENDER_OCCURRED_AT] = 8, [EVENT_RENDER_RECORDED_AT] = 8,
};

/* The columns are there, the NOT NULL ones not NULL, the fixed-size ones
 * of their binary size (a text result fails here too). */
static bool row_is_event(const PGresult *r, int row, int col)
{
	if (PQnfields(r) < col + EVENT_RENDER_NCOLS)
		return false;
	for (int i = 0; i < EVENT_RENDER_NCOLS; i++) {
		if (PQgetisnull(r, row, col + i)) {
			if (i != EVENT_RENDER_ACTOR_ID)
				return false;
		} else if (column_size[i] && PQgetlength(r, row, col + i) != column_size[i]) {
			return false;
		}
	}
	return true;
}

/* A UUID's 16 bytes in its canonical lowercase text, quoted. */
static void put_uuid(struct sbuf *out, const unsigned char *u)
{
	static const char hex[] = "0123456789abcdef";
	char s[38], *p = s;

	*p++ = '"';
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p++ = '"';
	sbuf_append(out, s, sizeof s);
}

static void put_int64(struct sbuf *out, int64_t v)
{
	char s[24], *p = s + sizeof s;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (v < 0)
		*--p = '-';
	sbuf_append(out, p, (size_t)(s + sizeof s - p));
}

static void put_timestamp(struct sbuf *out, int64_t pg_usec)
{
	char ts[TIMEFMT_LEN];

	timefmt_format(pg_usec + PG_EPOCH_UNIX_USEC, ts);
	sbuf_putc(out, '"');
	sbuf_puts(out, ts);
	sbuf_putc(out, '"');
}

enum es_status event_render(const PGresult *r, int row, int col, struct sbuf *out)
{
	static const unsigned char nil[16];
	const unsigned char *tenant;

/* Column c of the event: its bytes, as bytes, its length, as a bigint. */
#define V(c) PQgetvalue(r, row, col + EVENT_RENDER_##c)
#define U(c) ((const unsigned char *)V(c))
#define LEN(c) ((size_t)PQgetlength(r, row, col + EVENT_RENDER_##c))
#define I64(c) db_binary_int64(r, row, col + EVENT_RENDER_##c)
	if (!row_is_event(r, row, col))
		return ES_EINTERNAL;
	sbuf_puts(out, "{\"event_id\":");
	put_uuid(out, U(EVENT_ID));
	sbuf_puts(out, ",\"event_type\":");
	sbuf_json_string(out, V(EVENT_TYPE));
	sbuf_puts(out, ",\"aggregate_type\":");
	sbuf_json_string(out, V(AGGREGATE_TYPE));
	sbuf_puts(out, ",\"aggregate_id\":");
	put_uuid(out, U(AGGREGATE_ID));
	sbuf_puts(out, ",\"version\":");
	put_int64(out, I64(VERSION));
	sbuf_puts(out, ",\"position\":");
	put_int64(out, I64(POSITION));
	sbuf_puts(out, ",\"occurred_at\":");
	put_timestamp(out, I64(OCCURRED_AT));
	sbuf_puts(out, ",\"recorded_at\":");
	put_timestamp(out, I64(RECORDED_AT));
	sbuf_puts(out, ",\"tenant_id\":");
	tenant = U(TENANT_ID);
	if (memcmp(tenant, nil, sizeof nil) == 0)
		sbuf_puts(out, "null");
	else
		put_uuid(out, tenant);
	sbuf_puts(out, ",\"actor_id\":");
	if (PQgetisnull(r, row, col + EVENT_RENDER_ACTOR_ID))
		sbuf_puts(out, "null");
	else
		sbuf_json_string(out, V(ACTOR_ID));
	sbuf_puts(out, ",\"payload\":");
	sbuf_append(out, V(PAYLOAD), LEN(PAYLOAD));
	sbuf_puts(out, ",\"metadata\":");
	sbuf_append(out, V(METADATA), LEN(METADATA));
	sbuf_putc(out, '}');
#undef I64
#undef LEN
#undef U
#undef V
	return out->failed ? ES_ENOMEM : ES_OK;
}
