/* timefmt.h - RFC 3339 timestamps. */
#ifndef EVSTORE_TIMEFMT_H
#define EVSTORE_TIMEFMT_H

#include <stdbool.h>
#include <stdint.h>

#define TIMEFMT_LEN 32

/* Parses an RFC 3339 date-time ("2026-11-27T10:00:00Z",
 * "2026-11-27t10:00:00.123456+02:00"): a full date (years 0001-9999), a
 * time with seconds, optional fraction (at most 9 digits, kept to
 * microseconds) and a Z (or z) or +hh:mm/-hh:mm offset. Out-of-range fields
 * (month 13, Feb 30, hour 24) are refused; a leap second (:60) is the first
 * instant of the next minute, as in PostgreSQL. Independent of TZ.
 * Writes microseconds since the Unix epoch (UTC); *usec_out is untouched
 * on false. */
bool timefmt_parse(const char *s, int64_t *usec_out);

/* Formats microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". */
void timefmt_format(int64_t usec, char out[TIMEFMT_LEN]);

/* Now, in microseconds since the epoch (CLOCK_REALTIME). */
int64_t time_now_usec(void);
/* A monotonic clock in milliseconds, for durations and deadlines. */
int64_t time_mono_ms(void);

#endif
