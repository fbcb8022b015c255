/* fuzz.h - what the libFuzzer harnesses (tests/fuzz/fuzz_*.c) share: the
 * entry point's declaration, a NUL-terminated copy of the input, the
 * default configuration, and an assertion that stops the run with a
 * message (libFuzzer then saves the input as a crash reproducer). */
#ifndef EVSTORE_FUZZ_H
#define EVSTORE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "json/jsondoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property the code under test promised and broke: a finding. */
#define FUZZ_ASSERT(cond, ...)                                                          \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, \
				#cond);                                                 \
			fprintf(stderr, __VA_ARGS__);                                   \
			fputc('\n', stderr);                                            \
			abort();                                                        \
		}                                                                       \
	} while (0)

/* The input as a C string (malloc'd, free() it), cut at its first NUL the
 * way a C caller would see it. NULL only when memory ran out. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

/* The built-in defaults, exactly as an empty configuration file gives them;
 * the environment must hold no EVSTORE_* variable. Exits when it cannot. */
static inline void fuzz_default_config(struct es_config *cfg)
{
	char err[512];

	if (!config_load(cfg, "/dev/null", err, sizeof err)) {
		fprintf(stderr, "fuzz: default configuration: %s\n", err);
		exit(1);
	}
}

/* Aborts unless text is one strict JSON document: what every response
 * body and problem document must be. */
static inline void fuzz_assert_json(const char *text, size_t len)
{
	json_object *doc = NULL;
	char err[256];
	enum es_status st = jsondoc_parse_strict(text, len, 1000, &doc, err, sizeof err);

	FUZZ_ASSERT(st == ES_OK, "%s in %.*s", err, (int)(len > 400 ? 400 : len), text);
	json_object_put(doc);
}

#endif
