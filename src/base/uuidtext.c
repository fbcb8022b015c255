/* uuidtext.c - canonical UUID text and UUIDv7 (RFC 9562, method 1: a counter
 * in rand_a keeps ids made in the same millisecond in order). */
#include "buildconf.h"
#include "base/text.h"
#include "base/uuidtext.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

static const char hexdigits[] = "0123456789abcdef";

/* Copies in, lowercased, to out when it is exactly 36 characters in the
 * 8-4-4-4-12 form; out is untouched on false. */
bool uuidtext_parse(const char *in, char out[UUIDTEXT_LEN])
{
	char tmp[UUIDTEXT_LEN];
	int i;

	if (!in)
		return false;
	for (i = 0; i < 36; i++) {
		unsigned char c = (unsigned char)in[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
			tmp[i] = '-';
			continue;
		}
		if (text_hex_value(c) < 0)
			return false; /* also stops at the NUL of a short string */
		tmp[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
	}
	if (in[36] != '\0')
		return false;
	tmp[36] = '\0';
	memcpy(out, tmp, UUIDTEXT_LEN);
	return true;
}

/* Fills buf with random bytes. getrandom(2) cannot fail on Linux >= 3.17
 * once the pool is ready; /dev/urandom covers an exotic kernel. Without any
 * source of randomness a unique id cannot be promised, so that aborts. */
static void random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;
	ssize_t n;
	int fd;

	while (got < len) {
		n = getrandom(p + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	if (got == len)
		return;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	if (got < len) {
		fputs("evstore: no source of random bytes for UUIDs\n", stderr);
		abort();
	}
}

static pthread_mutex_t v7_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t v7_last_ms;
static uint16_t v7_counter; /* the 12 bits of rand_a */

/* Writes a new UUIDv7. Within a process ids are strictly increasing: in the
 * same millisecond rand_a counts up from a random start below 0x800; when it
 * would overflow, or when the clock steps back, the timestamp is carried
 * forward instead. */
bool uuidtext_is_nil(const char *canonical)
{
	return strcmp(canonical, UUIDTEXT_NIL) == 0;
}

void uuidtext_v7(char out[UUIDTEXT_LEN])
{
	unsigned char b[16];
	struct timespec ts;
	uint64_t ms;
	uint16_t seed;
	int i;

	random_bytes(b, sizeof(b));
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	seed = (uint16_t)(((b[6] << 8) | b[7]) & 0x07ff);

	pthread_mutex_lock(&v7_lock);
	if (ms > v7_last_ms) {
		v7_last_ms = ms;
		v7_counter = seed;
	} else if (v7_counter < 0x0fff) {
		v7_counter++;
	} else {
		v7_last_ms++;
		v7_counter = seed;
	}
	ms = v7_last_ms;
	b[6] = (unsigned char)(0x70 | (v7_counter >> 8));
	b[7] = (unsigned char)(v7_counter & 0xff);
	pthread_mutex_unlock(&v7_lock);

	for (i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));

	uuidtext_format(b, out);
}

void uuidtext_format(const unsigned char b[16], char out[UUIDTEXT_LEN])
{
	int o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hexdigits[b[i] >> 4];
		out[o++] = hexdigits[b[i] & 0x0f];
	}
	out[o] = '\0';
}
