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

/* Replaces, in place, every byte of the NUL-terminated s that does not
 * belong to a well-formed UTF-8 sequence by '?': text cut at a byte limit
 * ("%.100s") or quoted from a client stays valid inside a JSON document.
 * Returns s. */
char *text_utf8_repair(char *s);

#endif
