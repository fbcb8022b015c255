/* walpos.h - positions in the write-ahead log, for reading one's own writes
 * on a hot standby: the primary's position after a commit is the token a
 * writer gets, and a standby serves a read that carries it once it has
 * replayed that far. */
#ifndef EVSTORE_PG_WALPOS_H
#define EVSTORE_PG_WALPOS_H

#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"

struct db;

/* "16/B374D848" and a NUL fit. */
#define WALPOS_TEXT_MAX 18

/* Parses PostgreSQL's pg_lsn text: two hexadecimal numbers of 1 to 8
 * digits joined by '/'. Anything else is false. */
bool walpos_parse(const char *s, uint64_t *out);
void walpos_format(uint64_t pos, char out[WALPOS_TEXT_MAX]);

/* The server's WAL write position now. Asked after a commit returned, it
 * lies past that commit's record. */
enum es_status walpos_current(struct db *db, uint64_t *out) ES_MUST_CHECK;

/* Whether the server has replayed past pos: a standby compares its replay
 * position, a primary (which has everything it wrote) always has. */
enum es_status walpos_replayed(struct db *db, uint64_t pos, bool *reached) ES_MUST_CHECK;

#endif
