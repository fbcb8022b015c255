# tests/fuzz: libFuzzer harnesses, one program per parser of untrusted or
# operator-written bytes (doc/fuzzing.md). Built by `make fuzz` in a tree
# configured with `CC=clang --enable-fuzzing`, where every object carries
# the fuzzer's coverage hooks; run by tests/fuzz/run.sh against the seed
# corpora in tests/fuzz/corpus/<target>/.
FUZZ_TARGETS = \
	tests/fuzz/fuzz_json \
	tests/fuzz/fuzz_append \
	tests/fuzz/fuzz_command \
	tests/fuzz/fuzz_jschema \
	tests/fuzz/fuzz_aggdef \
	tests/fuzz/fuzz_config \
	tests/fuzz/fuzz_sqlfile \
	tests/fuzz/fuzz_feed_cursor \
	tests/fuzz/fuzz_query \
	tests/fuzz/fuzz_token \
	tests/fuzz/fuzz_headers

FUZZ_LDADD = src/fcgi/libfcgiapp.a $(ALL_LIBS) $(FCGI_LIBS)
FUZZ_LINK_FLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

EXTRA_PROGRAMS = $(FUZZ_TARGETS)
CLEANFILES += $(FUZZ_TARGETS)
EXTRA_DIST += tests/fuzz/fuzz.h tests/fuzz/run.sh tests/fuzz/corpus tests/fuzz/dict

tests_fuzz_fuzz_json_SOURCES = tests/fuzz/fuzz_json.c
tests_fuzz_fuzz_json_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_json_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_append_SOURCES = tests/fuzz/fuzz_append.c
tests_fuzz_fuzz_append_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_append_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_command_SOURCES = tests/fuzz/fuzz_command.c
tests_fuzz_fuzz_command_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_command_LDFLAGS = $(FUZZ_LINK_FLAGS)
# The command harness checks bodies against the example Order definition.
tests_fuzz_fuzz_command_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_AGGREGATES_DIR='"$(abs_top_srcdir)/examples/aggregates.d"'
tests_fuzz_fuzz_jschema_SOURCES = tests/fuzz/fuzz_jschema.c
tests_fuzz_fuzz_jschema_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_jschema_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_aggdef_SOURCES = tests/fuzz/fuzz_aggdef.c
tests_fuzz_fuzz_aggdef_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_aggdef_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_sqlfile_SOURCES = tests/fuzz/fuzz_sqlfile.c
tests_fuzz_fuzz_sqlfile_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_sqlfile_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_feed_cursor_SOURCES = tests/fuzz/fuzz_feed_cursor.c
tests_fuzz_fuzz_feed_cursor_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_feed_cursor_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_query_SOURCES = tests/fuzz/fuzz_query.c
tests_fuzz_fuzz_query_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_query_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_token_SOURCES = tests/fuzz/fuzz_token.c
tests_fuzz_fuzz_token_LDADD = $(FUZZ_LDADD) $(LIBCRYPTO_LIBS)
tests_fuzz_fuzz_token_LDFLAGS = $(FUZZ_LINK_FLAGS)
tests_fuzz_fuzz_headers_SOURCES = tests/fuzz/fuzz_headers.c
tests_fuzz_fuzz_headers_LDADD = $(FUZZ_LDADD)
tests_fuzz_fuzz_headers_LDFLAGS = $(FUZZ_LINK_FLAGS)

if ENABLE_FUZZING
fuzz: $(FUZZ_TARGETS)
else
fuzz:
	@echo "make fuzz: configure with CC=clang --enable-fuzzing first (doc/fuzzing.md)" >&2; exit 1
endif
.PHONY: fuzz
