/* timefmt.c - RFC 3339 timestamps as microseconds since the Unix epoch.
 * The calendar arithmetic is done here (proleptic Gregorian) so nothing
 * depends on TZ, timegm() or the C library's range of time_t. */
#include "buildconf.h"
#include "base/timefmt.h"

#include <string.h>
#include <time.h>

#define USEC_PER_SEC INT64_C(1000000)
#define USEC_PER_DAY (INT64_C(86400) * USEC_PER_SEC)

/* Days from 1970-01-01 to y-m-d (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : mdays[m - 1];
}

/* Reads exactly n decimal digits at *p and advances past them. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* Borrows s. Accepts the RFC 3339 date-time production only: years
 * 0001-9999, 'T' or 't', seconds 00-60 (a leap second counts as the first
 * second of the next minute, as PostgreSQL does), 1-9 fraction digits
 * (beyond microseconds truncated), and 'Z', 'z' or +hh:mm/-hh:mm. */
bool timefmt_parse(const char *s, int64_t *usec_out)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, frac = 0, nfrac = 0;
	int64_t t;

	if (!s)
		return false;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return false;
	if (*p != 'T' && *p != 't')
		return false;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
	    !digits(&p, 2, &sec))
		return false;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (nfrac == 9)
				return false;
			if (nfrac < 6)
				frac = frac * 10 + (*p - '0');
			nfrac++;
			p++;
		}
		if (nfrac == 0)
			return false;
		for (int i = nfrac; i < 6; i++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om))
			return false;
		if (oh > 23 || om > 59)
			return false;
	} else {
		return false;
	}
	if (*p != '\0')
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return false;
	if (h > 23 || mi > 59 || sec > 60)
		return false;

	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (oh * 3600 + om * 60);
	*usec_out = t * USEC_PER_SEC + frac;
	return true;
}

/* Writes v as exactly width decimal digits (v >= 0, fits). */
static char *put_digits(char *p, int64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* Writes "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" in UTC (always six fraction digits,
 * so the strings sort like the instants they name). Years beyond 0000-9999,
 * which only arithmetic on stored values can reach, get a sign or more
 * digits, as in ISO 8601's expanded form. */
void timefmt_format(int64_t usec, char out[TIMEFMT_LEN])
{
	int64_t days, rem, y;
	int m, d, sod, yw = 4;
	char *p = out;

	days = usec / USEC_PER_DAY;
	rem = usec % USEC_PER_DAY;
	if (rem < 0) {
		rem += USEC_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	sod = (int)(rem / USEC_PER_SEC);
	if (y < 0 || y > 9999) {
		*p++ = y < 0 ? '-' : '+';
		y = y < 0 ? -y : y;
		for (int64_t t = y / 10000; t > 0; t /= 10)
			yw++;
	}
	p = put_digits(p, y, yw);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	*p++ = '.';
	p = put_digits(p, rem % USEC_PER_SEC, 6);
	*p++ = 'Z';
	*p = '\0';
}

/* The wall clock: for timestamps, never for durations. */
int64_t time_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Unaffected by clock changes: for timeouts and durations. */
int64_t time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
