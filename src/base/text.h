/* text.h - byte-level helpers every parser of untrusted text shares. */
#ifndef EVSTORE_TEXT_H
#define EVSTORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The value of a hex digit (either case), or -1. */
int text_hex_value(int c);

/* The n bytes whose hex digits (either case) are s[0..len) into buf;
 * false when len is not 2n or a character is not a hex digit (buf is then
 * partly written). */
bool text_hex_decode(const char *s, size_t len, unsigned char *buf, size_t n);

/* buf[0..n) as 2n lower-case hex digits and a NUL into out. */
void text_hex_encode(const unsigned char *buf, size_t n, char *out);

/* The JSON string literal of s[0..n), quotes included, written at dst
 * (which has room for TEXT_JSON_STRING_MAX(n) bytes); returns its end.
 * Escapes quotes, backslashes and control characters; a byte that is not
 * part of well-formed UTF-8 becomes U+FFFD, so the output is always valid
 * JSON whatever s holds. No NUL is written. */
char *text_json_string(char *dst, const char *s, size_t n);
#define TEXT_JSON_STRING_MAX(n) (6 * (n) + 2)

/* Whether a[0..n) and b[0..n) are equal, in a time that depends on n
 * only: for comparing a secret with what a caller sent. */
bool text_equal_secret(const void *a, const void *b, size_t n);

/* Length of the well-formed UTF-8 sequence at s (at most n bytes, n >= 1),
 * or 0 when it is not one (overlong, UTF-16 surrogate, beyond U+10FFFF,
 * truncated). */
size_t text_utf8_seq_len(const unsigned char *s, size_t n);

/* The Levenshtein distance between a and b: the fewest one-byte
 * insertions, deletions and substitutions that turn one into the other.
 * Meant for short names (a suggestion for a typo); both are borrowed. */
size_t text_edit_distance(const char *a, const char *b);
/* Writes in[0..len), text quoted back to a client, into out (outlen
 * bytes, at least 8) in double quotes: '"' and '\\' escaped with a
 * backslash, control characters, DEL and bytes that are not well-formed
 * UTF-8 as \xNN, and only as much as fits, a cut marked by "..." after the
 * closing quote (never inside a UTF-8 sequence). The result is valid UTF-8
 * without control characters, whatever in holds. Returns out. */
const char *text_quote(char *out, size_t outlen, const char *in, size_t len);

/* Replaces, in place, every byte of s that is not part of a well-formed
 * UTF-8 sequence by '?': the last guard before text goes out as JSON
 * (json-c copies string bytes as they are). */
char *text_utf8_scrub(char *s);

/* The length of s[0..len) cut to at most max bytes without splitting a
 * well-formed UTF-8 sequence (a stray byte counts as one): how a bounded
 * field is cut. Borrows s. */
size_t text_utf8_prefix_len(const char *s, size_t len, size_t max);

#endif
