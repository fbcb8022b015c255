/* text.h - byte-level helpers every parser of untrusted text shares. */
#ifndef EVSTORE_TEXT_H
#define EVSTORE_TEXT_H

#include <stddef.h>

/* The value of a hex digit (either case), or -1. */
int text_hex_value(int c);

/* Length of the well-formed UTF-8 sequence at s (at most n bytes, n >= 1),
 * or 0 when it is not one (overlong, UTF-16 surrogate, beyond U+10FFFF,
 * truncated). */
size_t text_utf8_seq_len(const unsigned char *s, size_t n);

/* The Levenshtein distance between a and b: the fewest one-byte
 * insertions, deletions and substitutions that turn one into the other.
 * Meant for short names (a suggestion for a typo); both are borrowed. */
size_t text_edit_distance(const char *a, const char *b);

#endif
