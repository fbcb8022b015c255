/* uuidtext.h - canonical UUID text and UUIDv7 generation. */
#ifndef EVSTORE_UUIDTEXT_H
#define EVSTORE_UUIDTEXT_H

#include <stdbool.h>

#define UUIDTEXT_LEN 37 /* 36 characters and the NUL */

/* Accepts only the hyphenated 8-4-4-4-12 form in any case; writes it in
 * lowercase to out. */
bool uuidtext_parse(const char *in, char out[UUIDTEXT_LEN]);

/* The 16 bytes of a UUID (as PostgreSQL's binary format sends them) in
 * canonical lowercase text. */
void uuidtext_format(const unsigned char b[16], char out[UUIDTEXT_LEN]);

/* A new time-ordered UUIDv7 (RFC 9562) from the clock and getrandom(2). */
void uuidtext_v7(char out[UUIDTEXT_LEN]);

/* The nil UUID is how the store spells "no tenant". */
#define UUIDTEXT_NIL "00000000-0000-0000-0000-000000000000"

/* True for the nil UUID in canonical text (as uuidtext_parse writes it):
 * it can never name a tenant. */
bool uuidtext_is_nil(const char *canonical);

#endif
