/* walpos.c - WAL positions (see walpos.h). */
#include "buildconf.h"
#include "pg/walpos.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pg/db.h"

static const struct db_statement st_current = {
	"walpos_current", "SELECT pg_current_wal_lsn()::text", 0
};

static const struct db_statement st_replayed = {
	"walpos_replayed",
	"SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= $1::pg_lsn",
	1
};

/* Up to 8 hex digits into *out; returns the character after them, or NULL. */
static const char *hex32(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	int n = 0;

	for (; n < 8; n++, s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			break;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return n > 0 ? s : NULL;
}

bool walpos_parse(const char *s, uint64_t *out)
{
	uint32_t hi, lo;

	if (!s || !(s = hex32(s, &hi)) || *s++ != '/' || !(s = hex32(s, &lo)) || *s)
		return false;
	*out = (uint64_t)hi << 32 | lo;
	return true;
}

void walpos_format(uint64_t pos, char out[WALPOS_TEXT_MAX])
{
	snprintf(out, WALPOS_TEXT_MAX, "%" PRIX32 "/%" PRIX32, (uint32_t)(pos >> 32), (uint32_t)pos);
}

enum es_status walpos_current(struct db *db, uint64_t *out)
{
	PGresult *r = NULL;
	enum es_status st = db_exec(db, &st_current, NULL, &r);

	*out = 0;
	if (st == ES_OK && (PQntuples(r) != 1 || !walpos_parse(db_value_or_null(r, 0, 0), out)))
		st = ES_EDB;
	PQclear(r);
	return st;
}

enum es_status walpos_replayed(struct db *db, uint64_t pos, bool *reached)
{
	char text[WALPOS_TEXT_MAX];
	const char *values[1] = { text };
	PGresult *r = NULL;
	enum es_status st;

	walpos_format(pos, text);
	st = db_exec(db, &st_replayed, values, &r);
	*reached = st == ES_OK && PQntuples(r) == 1 && db_value_bool(r, 0, 0);
	PQclear(r);
	return st;
}
