/* exportfile.h - the records of an export file (evstorectl export writes
 * them, import reads them), one JSON object per line:
 *
 *	{"evstore_export": {"format": 1, "keys": true, "decrypted": false}}   the header, first
 *	{"subject_key": {…}}                                                  key records (privacy/keytransfer.h)
 *	{"event_id": …, "payload": …}                                         events (store/event_line.h)
 *
 * The header says what the file holds: the subject keys of its tenants,
 * or not (--without-keys), and whether the declared personal fields are
 * in clear (--decrypt), which import refuses (each event opened also
 * carries "decrypted": true). A file without a header (an
 * export of an older evstore, lines written by another system) holds
 * events only. Files may be concatenated: a header starts a new part. */
#ifndef EVSTORE_CTL_EXPORTFILE_H
#define EVSTORE_CTL_EXPORTFILE_H

#include <stdbool.h>
#include <stddef.h>

#define EXPORTFILE_FORMAT 1
#define EXPORTFILE_HEADER_MEMBER "evstore_export"
/* In a decrypted export, each event whose fields were opened says so
 * itself too: a line import refuses even with the header cut off. */
#define EXPORTFILE_DECRYPTED_MEMBER "decrypted"

enum exportfile_kind {
	EXPORTFILE_EVENT,
	EXPORTFILE_HEADER,
	EXPORTFILE_KEY
};

struct exportfile_header {
	int format;
	bool keys;                 /* the key records of its tenants follow */
	bool decrypted;            /* personal fields in clear */
};

/* The kind of a line, from its first member's name (the record is checked
 * by its own parser). */
enum exportfile_kind exportfile_kind(const char *line, size_t len);

/* The header line for h (no newline), in out (at least 128 bytes). */
void exportfile_header_format(const struct exportfile_header *h, char *out, size_t outlen);

/* Parses a header line. False with err fit for "FILE:LINE: <err>". */
bool exportfile_header_parse(const char *line, size_t len, struct exportfile_header *h, char *err,
			     size_t errlen);

#endif
