/* base64.h - strict base64 decoding for what auth reads: JWT segments
 * (base64url without padding, RFC 7515) and PEM bodies (the standard
 * alphabet, optional '=' padding). Stray characters and non-zero pad bits
 * are refused, so every input has one meaning. */
#ifndef EVSTORE_AUTH_BASE64_H
#define EVSTORE_AUTH_BASE64_H

#include <stdbool.h>
#include <stddef.h>

enum base64_alphabet {
	BASE64_STD, /* A-Z a-z 0-9 + /, optional '=' padding */
	BASE64_URL  /* A-Z a-z 0-9 - _, no padding */
};

/* True when c is one of the alphabet's 64 digits ('=' never is). */
bool base64_digit(unsigned char c, enum base64_alphabet alphabet);

/* Decodes in[0..len) into out, at most cap bytes, and sets *outlen. False
 * on a character outside the alphabet, a length no encoding produces,
 * non-zero pad bits, or more than cap bytes of output; out may then hold
 * part of the data. Borrows in. */
bool base64_decode(const char *in, size_t len, enum base64_alphabet alphabet,
		   unsigned char *out, size_t cap, size_t *outlen);

#endif
