/* conninfo.c - libpq connection strings: the "+driver" a Python URL may
 * carry, and the passwords --print-config must not show. */
#include "buildconf.h"
#include "base/conninfo.h"
#include "base/sbuf.h"

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

			if (param_start && strncmp(p, "password=", 9) == 0) {
				sbuf_puts(&b, "password=***");
				p += 9 + strcspn(p + 9, "&#");
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
		if (kend - kstart == 8 && strncmp(kstart, "password", 8) == 0)
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
