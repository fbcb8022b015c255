/* confval.h - the one grammar of configuration values, shared by every
 * table of options: the global sections (config.c) and the keys of a
 * [subscription NAME] section (subs/subscription.c). An entry of a table
 * says where its value goes (a field, by offset), its type, range, unit,
 * default and help. confval_set parses text into the field, confval_print
 * writes it back as text that parses to the same value, and a bad value
 * gets the same message whichever table its key belongs to.
 *
 * The grammar:
 * - integer: an optional sign and decimal digits, within the key's range;
 * - boolean: true/yes/on/1 or false/no/off/0, in any case;
 * - size: a number of bytes, optionally followed (blanks allowed) by K, KiB,
 *   M, MiB, G or GiB, in any case, all multiples of 1024;
 * - duration: a number followed (blanks allowed) by ms, s, m, min or h; a
 *   bare number counts the key's declared unit (seconds or milliseconds),
 *   so "30" is 30 s in a key declared in seconds and 30 ms in one declared
 *   in milliseconds; a key whose field counts seconds takes only whole
 *   seconds ("2000ms", not "1500ms");
 * - choice: one of the key's words, exactly;
 * - list: names separated by commas, blanks around each ignored. */
#ifndef EVSTORE_CONFVAL_H
#define EVSTORE_CONFVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "base/error.h"

enum confval_type {
	CONFVAL_TEXT,     /* char *, a copy; see convert; min 1 refuses "" */
	CONFVAL_CHOICE,   /* char *: one of choices, copied */
	CONFVAL_ENUM,     /* int: the index of one of choices; see or_number */
	CONFVAL_INT,      /* int, min .. max */
	CONFVAL_BOOL,     /* bool */
	CONFVAL_SIZE,     /* long: bytes, min .. max */
	CONFVAL_DURATION, /* int: counts store_ms milliseconds, min .. max of those */
	CONFVAL_LIST      /* char *: "A, B" kept as the text[] literal {"A","B"};
			   * NULL when the list names nothing */
};

/* One key. A table is an array of these; its order is the printed order. */
struct confval_option {
	const char *section;      /* "http", ...; NULL for the keys of a named section */
	const char *key;
	enum confval_type type;
	size_t offset;            /* of the field in the struct the table fills */
	const char *def;          /* the default, as text; NULL: the field stays zero (NULL) */
	long long min, max;       /* INT, SIZE, DURATION (in store_ms units), ENUM's number */
	int unit_ms;              /* DURATION: what a bare number counts: 1 (ms) or 1000 (s) */
	int store_ms;             /* DURATION: what the field counts: 1 or 1000 */
	const char *const *choices; /* CHOICE, ENUM: NULL-terminated */
	/* ENUM: a whole number from min to max is taken too; it is stored as an
	 * int64_t at number_offset and the enum field is then the number of
	 * choices (the value after the last word). */
	bool or_number;
	size_t number_offset;
	/* TEXT: checks v (borrowed) and returns the value to keep (malloc). On
	 * refusal NULL with *why set to what follows the quoted value in the
	 * message ("is not a syslog facility"); NULL with *why NULL when memory
	 * ran out. NULL: v is kept as written. */
	char *(*convert)(const char *v, const char **why);
	/* TEXT: the value as printed (malloc; NULL, out of memory: "***"), to
	 * hide secrets. NULL: printed as it is. */
	char *(*show)(const char *v);
	const char *help;         /* one line, printed as a comment above the key */
};

/* Parses text (borrowed) into o's field of obj; a string field takes a new
 * copy and frees the one it held. On false msg holds why, without location
 * or key ("'1d' is not a duration: ..."), and the field is unchanged. */
bool confval_set(const struct confval_option *o, void *obj, const char *text, char *msg,
		 size_t msglen) ES_MUST_CHECK;

/* Sets each of the n options of table that has a default. On false msg
 * says which default is bad (a mistake in the table) and why. */
bool confval_set_defaults(const struct confval_option *table, size_t n, void *obj, char *msg,
			  size_t msglen) ES_MUST_CHECK;

/* The option of table keyed key in section (NULL: a named section's
 * table), or NULL. Borrows everything; the result points into table. */
const struct confval_option *confval_find(const struct confval_option *table, size_t n,
					  const char *section, const char *key);

/* Writes o's help as a "# " comment, then "key = value" for o's field of
 * obj, which confval_set reads back to the same value: quoted when blanks
 * or a comment sign would be lost, a duration as a bare number when its
 * field counts the key's unit, else with a unit ("250ms", "5s", "2min"). A
 * string field that is NULL (not set) is written commented out, ";key =".
 * Borrows everything. */
void confval_print(const struct confval_option *o, const void *obj, FILE *out);

/* Frees the string fields (TEXT, CHOICE, LIST) of the n options of table
 * in obj and sets them to NULL; other fields are left alone. */
void confval_free(const struct confval_option *table, size_t n, void *obj);

#endif
