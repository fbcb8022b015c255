# tests: one Check suite per module (tests/unit/check_<module>.c). Each suite
# is named once in UNIT_TESTS; all link the same libraries.
UNIT_TESTS = \
	tests/unit/check_config \
	tests/unit/check_json \
	tests/unit/check_util \
	tests/unit/check_auth \
	tests/unit/check_http \
	tests/unit/check_router \
	tests/unit/check_store \
	tests/unit/check_db \
	tests/unit/check_feed \
	tests/unit/check_checkpoint \
	tests/unit/check_dlq \
	tests/unit/check_substatus \
	tests/unit/check_subhealth \
	tests/unit/check_jschema \
	tests/unit/check_fold \
	tests/unit/check_aggdef \
	tests/unit/check_subscription \
	tests/unit/check_sqlfile \
	tests/unit/check_exec_proto \
	tests/unit/check_retry \
	tests/unit/check_partition

if HAVE_CHECK
check_PROGRAMS = $(UNIT_TESTS)
TESTS = $(UNIT_TESTS)
endif
# Programs without their own _LDADD (the suites) take these.
LDADD = src/fcgi/libfcgiapp.a src/runner/librunner.a $(ALL_LIBS) $(CHECK_LIBS) $(FCGI_LIBS)
EXTRA_DIST += tests/unit/check_run.h tests/unit/check_scratch.h
