/* auth_fixture.h - what the auth suites (check_keys, check_auth,
 * check_token) share: a fresh temporary directory holding an HMAC secret,
 * RSA and EC keys made with the openssl command line, a rotation keys_dir,
 * and the [jwt] configurations the cases name. Every check runs at a
 * fixed clock, NOW. Each suite is one file, so the statics here are its own. */
#ifndef EVSTORE_AUTH_FIXTURE_H
#define EVSTORE_AUTH_FIXTURE_H

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"
#include "test_helpers.h"

#define NOW 1700000000L
/* times relative to NOW, as JSON text */
#define EXP_OK "1700003600"        /* NOW + 1h */
#define PAST_BEYOND "1699999969"   /* NOW - 31: outside the 30 s leeway */
#define PAST_WITHIN "1699999990"   /* NOW - 10 */
#define FUTURE_BEYOND "1700000120" /* NOW + 120 */
#define FUTURE_WITHIN "1700000020" /* NOW + 20 */
#define EXP_1H_LEEWAY "1700003630"  /* NOW + 1h + the leeway */
#define EXP_1H_BEYOND "1700003631"  /* one second more */

#define TENANT "0b7e3c1e-5a43-4f7e-9d8f-2a6b1c9e4d01"
#define TENANT_UC "0B7E3C1E-5A43-4F7E-9D8F-2A6B1C9E4D01"

static const char secret_main[] = "main-secret-0123456789abcdefghijklmnop"; /* 38 bytes */
static const char secret_kid_a[] = "kid-a-secret-0123456789abcdefghijklmno";
static const char secret_kid_b[] = "kid-b-secret-0123456789abcdefghijklmno";
static const char secret_hidden[] = "hidden-secret-0123456789abcdefghijklmn";

static char tmpdir[512];

/* ---- fixture ------------------------------------------------------------ */

static inline const char *tmp_path(const char *name)
{
	static char bufs[8][1024];
	static unsigned next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
	return b;
}

static inline void write_file(const char *name, const char *data, size_t len)
{
	FILE *f = fopen(tmp_path(name), "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s: %s\n", tmp_path(name), strerror(errno));
		exit(1);
	}
}

/* A secret is the owner's alone: keys.c refuses one group or others may read. */
static inline void write_secret(const char *name, const char *secret)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "%s\n", secret);
	write_file(name, buf, (size_t)n);
	if (chmod(tmp_path(name), 0600) != 0) {
		fprintf(stderr, "chmod %s: %s\n", tmp_path(name), strerror(errno));
		exit(1);
	}
}

static inline void run_openssl(const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "cd '%s' && openssl %s 2>/dev/null", tmpdir, args);
	if (system(cmd) != 0) {
		fprintf(stderr, "openssl %s: failed\n", args);
		exit(1);
	}
}

static inline unsigned char *slurp(const char *name, size_t *len)
{
	FILE *f = fopen(tmp_path(name), "rb");
	unsigned char *buf = malloc(65536);
	if (!f || !buf) {
		fprintf(stderr, "cannot read %s\n", tmp_path(name));
		exit(1);
	}
	*len = fread(buf, 1, 65535, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static unsigned char *rsa_priv, *rsa_pub, *ec256_priv, *ec384_priv;
static size_t rsa_priv_len, rsa_pub_len, ec256_priv_len, ec384_priv_len;

/* Makes the directory and the keys; suite names the directory. Exits on
 * failure: no case can run without them. */
static inline void fixture_create(const char *suite)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/%s.XXXXXX", base && *base ? base : P_tmpdir, suite);
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	write_secret("hs.key", secret_main);
	run_openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key");
	run_openssl("pkey -in rsa.key -pubout -out rsa.pub");
	run_openssl("rsa -in rsa.key -RSAPublicKey_out -out rsa.pkcs1");
	run_openssl("req -x509 -new -key rsa.key -subj /CN=evstore-test -days 1 -out rsa.crt");
	run_openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256.key");
	run_openssl("pkey -in ec256.key -pubout -out ec256.pub");
	run_openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.key");
	run_openssl("pkey -in ec384.key -pubout -out ec384.pub");
	rsa_priv = slurp("rsa.key", &rsa_priv_len);
	rsa_pub = slurp("rsa.pub", &rsa_pub_len);
	ec256_priv = slurp("ec256.key", &ec256_priv_len);
	ec384_priv = slurp("ec384.key", &ec384_priv_len);

	/* a rotation directory: two keys, plus what must be skipped */
	if (mkdir(tmp_path("keys"), 0700) != 0 || mkdir(tmp_path("keys/subdir"), 0700) != 0 ||
	    mkdir(tmp_path("keys1"), 0700) != 0 || mkdir(tmp_path("empty"), 0700) != 0 ||
	    mkdir(tmp_path("badname"), 0700) != 0) {
		fprintf(stderr, "mkdir: %s\n", strerror(errno));
		exit(1);
	}
	write_secret("keys/key-a", secret_kid_a);
	write_secret("keys/key-b", secret_kid_b);
	write_secret("keys/.hidden", secret_hidden);
	write_secret("keys1/only", secret_kid_a);
	write_secret("badname/a..b", secret_kid_a);
}

static inline void fixture_remove(void)
{
	nftw(tmpdir, test_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(rsa_priv);
	free(rsa_pub);
	free(ec256_priv);
	free(ec384_priv);
}

/* ---- configurations --------------------------------------------------- */

enum profile {
	P_HS256, P_HS384, P_HS512, P_RS256, P_RS512, P_ES256, P_ES384,
	P_ISSAUD,       /* HS256 with issuer and audience */
	P_KEYS,         /* HS256, keys_dir with key-a and key-b */
	P_KEYS1,        /* HS256, keys_dir with one key */
	P_TENANT,       /* HS256, require_tenant */
	P_ORG,          /* HS256, tenant_claim = org */
	P_MAXLIFE,      /* HS256, max_lifetime = 1h */
};

static inline void profile_config(enum profile p, struct es_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->jwt.leeway = 30;
	cfg->jwt.tenant_claim = (char *)"tenant_id";
	cfg->jwt.algorithm = (char *)"HS256";
	cfg->jwt.key_file = (char *)tmp_path("hs.key");
	switch (p) {
	case P_HS256: break;
	case P_HS384: cfg->jwt.algorithm = (char *)"HS384"; break;
	case P_HS512: cfg->jwt.algorithm = (char *)"HS512"; break;
	case P_RS256:
		cfg->jwt.algorithm = (char *)"RS256";
		cfg->jwt.key_file = (char *)tmp_path("rsa.pub");
		break;
	case P_RS512:
		cfg->jwt.algorithm = (char *)"RS512";
		cfg->jwt.key_file = (char *)tmp_path("rsa.pub");
		break;
	case P_ES256:
		cfg->jwt.algorithm = (char *)"ES256";
		cfg->jwt.key_file = (char *)tmp_path("ec256.pub");
		break;
	case P_ES384:
		cfg->jwt.algorithm = (char *)"ES384";
		cfg->jwt.key_file = (char *)tmp_path("ec384.pub");
		break;
	case P_ISSAUD:
		cfg->jwt.issuer = (char *)"https://idp.example";
		cfg->jwt.audience = (char *)"evstore";
		break;
	case P_KEYS:
		cfg->jwt.key_file = NULL;
		cfg->jwt.keys_dir = (char *)tmp_path("keys");
		break;
	case P_KEYS1:
		cfg->jwt.key_file = NULL;
		cfg->jwt.keys_dir = (char *)tmp_path("keys1");
		break;
	case P_TENANT: cfg->jwt.require_tenant = true; break;
	case P_ORG: cfg->jwt.tenant_claim = (char *)"org"; break;
	case P_MAXLIFE: cfg->jwt.max_lifetime = 3600; break;
	}
}

#endif
