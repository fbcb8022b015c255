/* aggdef_registry.c - the aggregate definitions of a directory: every
 * "*.json" file read, parsed strictly and checked, in name order, each
 * aggregate type defined once. */
#include "buildconf.h"
#include "aggregate/aggdef.h"
#include "privacy/masterkey.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json/jsondoc.h"
#include "base/sbuf.h"
#include "base/startcheck.h"

#define AGGDEF_MAX_FILE_BYTES (4L * 1024 * 1024)
#define AGGDEF_MAX_DEPTH 64

/* Reads and parses one file. */
static enum es_status load_file(const char *path, struct aggdef **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, perr[256];
	json_object *doc = NULL;
	enum es_status rc = ES_EINVAL;
	size_t len = 0;
	struct stat sb;

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &sb) != 0 || sb.st_size > AGGDEF_MAX_FILE_BYTES) {
		snprintf(err, errlen, "%s: unreadable or larger than 4 MiB", path);
		goto out;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		rc = ES_ENOMEM;
		goto out;
	}
	len = fread(buf, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf[len] = '\0';
	rc = jsondoc_parse_strict(buf, len, AGGDEF_MAX_DEPTH, &doc, perr, sizeof perr);
	if (rc != ES_OK) {
		snprintf(err, errlen, "%s: %s", path, rc == ES_ENOMEM ? "out of memory" : perr);
		goto out;
	}
	rc = aggdef_parse(doc, path, out, err, errlen);
out:
	json_object_put(doc);
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum es_status aggdef_registry_load(const char *dir, struct aggdef_registry **out,
				    char *err, size_t errlen)
{
	struct aggdef_registry *reg = calloc(1, sizeof *reg);
	char **names = NULL;
	size_t n_names = 0, cap = 0;
	enum es_status rc = ES_OK;
	struct dirent *de;
	DIR *d = NULL;

	*out = NULL;
	if (!reg) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return ES_ENOMEM;
	}
	if (!dir || !*dir)
		goto out; /* the explicit "no definitions" */
	d = opendir(dir);
	if (!d) {
		/* A missing directory would silently switch every check off. */
		snprintf(err, errlen, "[aggregates] dir %s: %s (leave it empty for no definitions)",
			 dir, strerror(errno));
		rc = ES_EINVAL;
		goto out;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (n_names == cap) {
			char **more = realloc(names, (cap ? cap * 2 : 16) * sizeof *names);

			if (!more) {
				rc = ES_ENOMEM;
				break;
			}
			names = more;
			cap = cap ? cap * 2 : 16;
		}
		if (!(names[n_names] = strdup(de->d_name))) {
			rc = ES_ENOMEM;
			break;
		}
		n_names++;
	}
	if (rc != ES_OK) {
		snprintf(err, errlen, "%s: out of memory", dir);
		goto out;
	}
	if (n_names)
		qsort(names, n_names, sizeof *names, compare_names);
	reg->defs = calloc(n_names + 1, sizeof *reg->defs);
	if (!reg->defs) {
		snprintf(err, errlen, "%s: out of memory", dir);
		rc = ES_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_names; i++) {
		struct sbuf path = SBUF_INIT;
		const struct aggdef *dup;
		struct aggdef *def;

		sbuf_printf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
		rc = path.failed ? ES_ENOMEM : load_file(sbuf_cstr(&path), &def, err, errlen);
		if (rc == ES_OK && (dup = aggdef_find(reg, def->aggregate_type))) {
			snprintf(err, errlen, "%s: /aggregate_type: \"%s\" is already defined by %s",
				 sbuf_cstr(&path), def->aggregate_type, dup->file);
			aggdef_free(def);
			rc = ES_EINVAL;
		}
		sbuf_free(&path);
		if (rc != ES_OK)
			goto out;
		reg->defs[reg->n++] = def;
	}
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	if (rc != ES_OK) {
		aggdef_registry_free(reg);
		return rc;
	}
	*out = reg;
	return ES_OK;
}

void aggdef_registry_free(struct aggdef_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->n; i++)
		aggdef_free(reg->defs[i]);
	free(reg->defs);
	free(reg);
}

const struct aggdef *aggdef_find(const struct aggdef_registry *reg, const char *aggregate_type)
{
	if (!reg || !aggregate_type)
		return NULL;
	for (size_t i = 0; i < reg->n; i++)
		if (strcmp(reg->defs[i]->aggregate_type, aggregate_type) == 0)
			return reg->defs[i];
	return NULL;
}

enum es_status aggdef_registry_privacy(const struct aggdef_registry *reg, const char *master_key_file,
				       const char *previous_master_key_file, char *err, size_t errlen)
{
	struct masterkey mk, prev;
	bool have = master_key_file && *master_key_file;
	bool have_prev = previous_master_key_file && *previous_master_key_file;
	enum es_status rc = ES_EINVAL;

	memset(&mk, 0, sizeof mk);
	memset(&prev, 0, sizeof prev);
	if (have_prev && !have) {
		snprintf(err, errlen, "[privacy] previous_master_key_file is set but master_key_file is not: "
			 "set master_key_file to the new key");
		return ES_EINVAL;
	}
	if (have && masterkey_read(master_key_file, &mk, err, errlen) != ES_OK)
		goto out;
	if (have_prev && masterkey_read(previous_master_key_file, &prev, err, errlen) != ES_OK)
		goto out;
	if (have_prev && strcmp(prev.id, mk.id) == 0) {
		snprintf(err, errlen, "%s: [privacy] previous_master_key_file holds the same key as "
			 "master_key_file (fingerprint %s): put the new key in master_key_file",
			 previous_master_key_file, mk.id);
		goto out;
	}
	for (size_t i = 0; !have && reg && i < reg->n; i++) {
		const struct aggdef *def = reg->defs[i];

		for (size_t e = 0; def->has_personal && e < def->n_events; e++)
			if (def->events[e].n_personal) {
				snprintf(err, errlen, "%s: /events/%s/personal: personal data is declared but "
					 "[privacy] master_key_file is not set", def->file, def->events[e].event_type);
				goto out;
			}
	}
	masterkey_install(have ? &mk : NULL);
	masterkey_install_previous(have_prev ? &prev : NULL);
	rc = ES_OK;
out:
	masterkey_wipe(&mk);
	masterkey_wipe(&prev);
	return rc;
}

void aggdef_registry_report(struct startcheck *c, const char *dir, const char *master_key_file,
			    const char *previous_master_key_file)
{
	struct aggdef_registry *reg = NULL;
	char err[512];

	if (aggdef_registry_load(dir, &reg, err, sizeof err) != ES_OK)
		startcheck_item(c, STARTCHECK_FAIL, "aggregate definitions", "%s", err);
	else if (!dir || !*dir)
		startcheck_item(c, STARTCHECK_PASS, "aggregate definitions",
				"none ([aggregates] dir is empty)");
	else
		startcheck_item(c, STARTCHECK_PASS, "aggregate definitions", "%zu from %s", reg->n, dir);
	if (aggdef_registry_privacy(reg, master_key_file, previous_master_key_file, err, sizeof err) != ES_OK)
		startcheck_item(c, STARTCHECK_FAIL, "master key", "%s", err);
	else if (masterkey_previous())
		startcheck_item(c, STARTCHECK_PASS, "master key", "%s (fingerprint %s); previous %s "
				"(fingerprint %s) still opens the keys it wrapped", master_key_file,
				masterkey_current()->id, previous_master_key_file, masterkey_previous()->id);
	else if (masterkey_current())
		startcheck_item(c, STARTCHECK_PASS, "master key", "%s (fingerprint %s)", master_key_file,
				masterkey_current()->id);
	else
		startcheck_item(c, STARTCHECK_PASS, "master key", "not set (no personal data declared)");
	aggdef_registry_free(reg);
}
