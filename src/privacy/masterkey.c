/* masterkey.c - reading, checking and holding the master key. */
#include "buildconf.h"
#include "privacy/masterkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/text.h"
#include "privacy/keycache.h"

static struct masterkey installed, previous;
static bool have_installed, have_previous;

void masterkey_wipe(struct masterkey *k)
{
	if (k)
		explicit_bzero(k, sizeof *k); /* not optimised away, as memset may be */
}

enum es_status masterkey_read(const char *path, struct masterkey *out, char *err, size_t errlen)
{
	char buf[2 * CIPHER_KEY_LEN + 2];
	struct stat st;
	ssize_t n = 0, got;
	enum es_status rc = ES_EINVAL;
	int fd;

	memset(out, 0, sizeof *out);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the master key file: %s", path, strerror(errno));
		return ES_EINVAL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: the master key file is not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s: the master key file must not be accessible by group or others "
			 "(mode %04o; chmod 600)", path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while ((size_t)n < sizeof buf && (got = read(fd, buf + n, sizeof buf - (size_t)n)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: cannot read the master key file: %s", path, strerror(errno));
			goto out;
		}
		n += got;
	}
	if (n == 2 * CIPHER_KEY_LEN + 1 && buf[n - 1] == '\n')
		n--;
	if (n != 2 * CIPHER_KEY_LEN) {
		snprintf(err, errlen, "%s: the master key file must hold exactly 64 hexadecimal "
			 "characters (a 256-bit key)", path);
		goto out;
	}
	if (!text_hex_decode(buf, (size_t)n, out->key, CIPHER_KEY_LEN)) {
		snprintf(err, errlen, "%s: the master key file holds a character that is not "
			 "hexadecimal", path);
		masterkey_wipe(out);
		goto out;
	}
	cipher_fingerprint(out->key, out->id);
	rc = ES_OK;
out:
	explicit_bzero(buf, sizeof buf);
	close(fd);
	return rc;
}

void masterkey_install(const struct masterkey *k)
{
	/* keys unwrapped under the master keys of before are not kept */
	keycache_clear();
	masterkey_wipe(&installed);
	have_installed = k != NULL;
	if (k)
		installed = *k;
}

const struct masterkey *masterkey_current(void)
{
	return have_installed ? &installed : NULL;
}

void masterkey_install_previous(const struct masterkey *k)
{
	keycache_clear();
	masterkey_wipe(&previous);
	have_previous = k != NULL;
	if (k)
		previous = *k;
}

const struct masterkey *masterkey_previous(void)
{
	return have_previous ? &previous : NULL;
}

const struct masterkey *masterkey_by_id(const char *master_id)
{
	if (!master_id)
		return NULL;
	if (have_installed && strcmp(installed.id, master_id) == 0)
		return &installed;
	if (have_previous && strcmp(previous.id, master_id) == 0)
		return &previous;
	return NULL;
}
