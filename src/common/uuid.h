/* uuid.h - canonical UUID text and UUIDv7 generation. */
#ifndef EVSTORE_UUID_H
#define EVSTORE_UUID_H

#include <stdbool.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Accepts only the hyphenated 8-4-4-4-12 form in any case; writes it in
 * lowercase to out. */
bool uuid_parse(const char *in, char out[UUID_STR_LEN]);

/* A new time-ordered UUIDv7 (RFC 9562) from the clock and getrandom(2). */
void uuid_v7(char out[UUID_STR_LEN]);

/* The nil UUID is how the store spells "no tenant". */
#define UUID_NIL "00000000-0000-0000-0000-000000000000"

#endif
