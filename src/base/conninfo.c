/* conninfo.c - libpq connection strings: the "+driver" a Python URL may
 * carry, and the passwords --print-config must not show. */
#include "buildconf.h"
#include "base/conninfo.h"
#include "base/sbuf.h"
#include "base/text.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Returns a new string; see conninfo.h. A string that is not a URI with a
 * "scheme+driver://" prefix is copied unchanged. */
char *conninfo_normalize(const char *url)
{
	const char *sep = strstr(url, "://"), *plus = NULL;
	size_t i;
	char *out;

	if (!sep || sep == url || !isalpha((unsigned char)url[0]))
		return strdup(url);
	for (i = 0; url + i < sep; i++) {
		char c = url[i];
		if (!isalnum((unsigned char)c) && c != '+' && c != '-' && c != '.')
			return strdup(url); /* "host=x options='a://b'" is no URI */
		if (c == '+' && !plus)
			plus = url + i;
	}
	if (!plus)
		return strdup(url);
	out = malloc(strlen(url) + 1);
	if (!out)
		return NULL;
	memcpy(out, url, (size_t)(plus - url));
	strcpy(out + (plus - url), sep);
	return out;
}

/* True for the libpq keywords whose values are secrets. */
static bool keyword_is_secret(const char *k, size_t len)
{
	static const char *const secrets[] = { "password", "sslpassword", NULL };

	for (size_t i = 0; secrets[i]; i++)
		if (strlen(secrets[i]) == len && memcmp(k, secrets[i], len) == 0)
			return true;
	return false;
}

/* keyword_is_secret for a URI query key k[0..len), percent-decoded first as
 * libpq decodes it ("pass%77ord" is "password"). */
static bool uri_key_is_secret(const char *k, size_t len)
{
	char key[16];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = k[i];

		if (c == '%' && i + 2 < len && text_hex_value(k[i + 1]) >= 0 &&
		    text_hex_value(k[i + 2]) >= 0) {
			c = (char)(text_hex_value(k[i + 1]) * 16 + text_hex_value(k[i + 2]));
			i += 2;
		}
		if (n == sizeof key)
			return false; /* longer than any secret keyword */
		key[n++] = c;
	}
	return keyword_is_secret(key, n);
}

/* Returns a new string; see conninfo.h. A string with a "://" and no blank
 * is read as a URI, anything else as key=value pairs. */
char *conninfo_mask_password(const char *url)
{
	const char *p = url, *sep = strstr(url, "://");
	struct sbuf b = SBUF_INIT;

	if (sep && !strpbrk(url, " \t")) {
		const char *auth = sep + 3, *auth_end = auth + strcspn(auth, "/?#");
		const char *at = NULL, *colon;

		for (const char *q = auth; q < auth_end; q++) {
			if (*q == '@')
				at = q;
		}
		colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon) {
			sbuf_append(&b, url, (size_t)(colon + 1 - url));
			sbuf_puts(&b, "***");
			p = at;
		}
		while (*p) {
			bool param_start = p > url && (p[-1] == '?' || p[-1] == '&');

			size_t klen = strcspn(p, "=&#");

			if (param_start && p[klen] == '=' && uri_key_is_secret(p, klen)) {
				sbuf_append(&b, p, klen + 1);
				sbuf_puts(&b, "***");
				p += klen + 1 + strcspn(p + klen + 1, "&#");
				continue;
			}
			sbuf_putc(&b, *p++);
		}
		goto out;
	}
	while (*p) {
		const char *kstart = p, *kend, *v;

		if (*p == ' ' || *p == '\t') {
			sbuf_putc(&b, *p++);
			continue;
		}
		kend = kstart;
		while (*kend && *kend != '=' && *kend != ' ' && *kend != '\t')
			kend++;
		v = kend;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=') {
			sbuf_append(&b, kstart, (size_t)(v - kstart));
			p = v;
			continue;
		}
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		sbuf_append(&b, kstart, (size_t)(v - kstart));
		p = v;
		if (*p == '\'') {
			/* libpq's quoting: 'it\'s' */
			for (p++; *p && *p != '\''; p++) {
				if (*p == '\\' && p[1])
					p++;
			}
			if (*p == '\'')
				p++;
		} else {
			while (*p && *p != ' ' && *p != '\t')
				p++;
		}
		if (keyword_is_secret(kstart, (size_t)(kend - kstart)))
			sbuf_puts(&b, "***");
		else
			sbuf_append(&b, v, (size_t)(p - v));
	}
out:
	if (b.failed) {
		sbuf_free(&b);
		return NULL;
	}
	if (!b.data)
		return strdup("");
	return b.data;
}
