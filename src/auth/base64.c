/* base64.c - strict base64 and base64url decoding. */
#include "buildconf.h"
#include "auth/base64.h"

#include <stdint.h>

/* The value of a digit, or -1. */
static int digit_value(unsigned char c, enum base64_alphabet alphabet)
{
	bool url = alphabet == BASE64_URL;

	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

bool base64_digit(unsigned char c, enum base64_alphabet alphabet)
{
	return digit_value(c, alphabet) >= 0;
}

bool base64_decode(const char *in, size_t len, enum base64_alphabet alphabet,
		   unsigned char *out, size_t cap, size_t *outlen)
{
	uint32_t acc = 0;
	size_t n = 0, bits = 0;

	if (alphabet == BASE64_STD) {
		size_t pad = 0;
		while (len > 0 && in[len - 1] == '=' && pad < 2) {
			len--;
			pad++;
		}
		if (pad && (len + pad) % 4 != 0)
			return false;
	}
	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		int v = digit_value((unsigned char)in[i], alphabet);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return false;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return false;
	*outlen = n;
	return true;
}
