/* fuzz_token.c - the bearer token verifier (auth_verify) with a fixed
 * HS256 key and a fixed clock. The input is either an Authorization header
 * as sent, or (when it holds a NUL byte) a JOSE header and a claims set,
 * which the harness encodes and signs with the key so that the claim
 * checks behind the signature are reached. */
#include "buildconf.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "fuzz.h"

#define FUZZ_NOW 1700000000L
#define FUZZ_MAX_SEGMENT 6000

static const char secret[] = "fuzz-secret-0123456789abcdefghijklmnop";
static struct es_config cfg;
static struct auth_keys *keys;

/* The key file only lives until the keys are loaded. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/evstore-fuzz-key.XXXXXX";
	char err[512];
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, secret, sizeof secret - 1) != (ssize_t)(sizeof secret - 1)) {
		perror("fuzz: key file");
		exit(1);
	}
	close(fd);
	fuzz_default_config(&cfg);
	free(cfg.jwt.algorithm);
	free(cfg.jwt.key_file);
	cfg.jwt.algorithm = strdup("HS256");
	cfg.jwt.key_file = strdup(path);
	keys = auth_keys_load(&cfg, err, sizeof err);
	unlink(path);
	if (!keys) {
		fprintf(stderr, "fuzz: %s\n", err);
		exit(1);
	}
	return 0;
}

/* base64url without padding (RFC 7515) of in[0..len) at out; returns the
 * end. out must hold 4 * (len + 2) / 3 bytes. */
static char *base64url(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

		*out++ = digits[v >> 18];
		*out++ = digits[(v >> 12) & 63];
		*out++ = digits[(v >> 6) & 63];
		*out++ = digits[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0);

		*out++ = digits[v >> 18];
		*out++ = digits[(v >> 12) & 63];
		if (i + 1 < len)
			*out++ = digits[(v >> 6) & 63];
	}
	return out;
}

/* "Bearer " + header.claims.signature, signed with the key: malloc'd. */
static char *signed_bearer(const uint8_t *header, size_t hlen, const uint8_t *claims, size_t clen)
{
	char *out = malloc(7 + 4 * (hlen + 2) / 3 + 1 + 4 * (clen + 2) / 3 + 1 + 44 + 1);
	char *p = out, *signing;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	if (!out)
		return NULL;
	p = stpcpy(p, "Bearer ");
	signing = p;
	p = base64url(header, hlen, p);
	*p++ = '.';
	p = base64url(claims, clen, p);
	HMAC(EVP_sha256(), secret, (int)sizeof secret - 1, (const unsigned char *)signing,
	     (size_t)(p - signing), mac, &maclen);
	*p++ = '.';
	p = base64url(mac, maclen, p);
	*p = '\0';
	return out;
}

static void check_principal(enum auth_result r, const struct auth_principal *who)
{
	char tenant[UUIDTEXT_LEN];

	if (r != AUTH_OK && r != AUTH_FORBIDDEN)
		return;
	FUZZ_ASSERT(strlen(who->sub) <= AUTH_MAX_SUB, "sub");
	/* only the scopes auth.h knows, personal:read among them */
	FUZZ_ASSERT((who->scopes & ~(unsigned)(AUTH_SCOPE_READ | AUTH_SCOPE_WRITE | AUTH_SCOPE_ADMIN |
					       AUTH_SCOPE_PERSONAL_READ)) == 0,
		    "scopes %#x", who->scopes);
	FUZZ_ASSERT(!who->has_tenant || (uuidtext_parse(who->tenant, tenant) &&
					 strcmp(tenant, who->tenant) == 0),
		    "tenant %s", who->tenant);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	struct auth_principal who;
	const char *why = NULL;
	char *header;
	enum auth_result r;

	if (nul && size < 2 * FUZZ_MAX_SEGMENT)
		header = signed_bearer(data, (size_t)(nul - data), nul + 1, size - (size_t)(nul - data) - 1);
	else
		header = fuzz_cstr(data, size);
	if (!header)
		return 0;
	r = auth_verify(keys, &cfg, header, FUZZ_NOW, &who, &why);
	FUZZ_ASSERT((r == AUTH_INVALID || r == AUTH_FORBIDDEN) == (why != NULL), "result %d", r);
	check_principal(r, &who);
	free(header);
	return 0;
}
