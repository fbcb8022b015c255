# tests: one Check suite per module (tests/unit/check_<module>.c), and the
# integration tests (tests/integration/test_*.sh: a real PostgreSQL, the
# FastCGI pool, nginx, ...). Each is named once, one to a line; the suites
# all link the same libraries. `make check` runs both; tests/run-all.sh
# (the README's test command) installs what they need and runs it.
UNIT_TESTS = \
	tests/unit/check_config \
	tests/unit/check_confval \
	tests/unit/check_jsondoc \
	tests/unit/check_uuidtext \
	tests/unit/check_timefmt \
	tests/unit/check_feed_cursor \
	tests/unit/check_event_line \
	tests/unit/check_sbuf \
	tests/unit/check_log \
	tests/unit/check_text \
	tests/unit/check_fdio \
	tests/unit/check_sdnotify \
	tests/unit/check_base64 \
	tests/unit/check_keys \
	tests/unit/check_auth \
	tests/unit/check_token \
	tests/unit/check_http \
	tests/unit/check_router \
	tests/unit/check_poolstats \
	tests/unit/check_park \
	tests/unit/check_fcgi_record \
	tests/unit/check_server \
	tests/unit/check_store \
	tests/unit/check_sqlstate \
	tests/unit/check_db \
	tests/unit/check_feed \
	tests/unit/check_checkpoint \
	tests/unit/check_dlq \
	tests/unit/check_erasures \
	tests/unit/check_substatus \
	tests/unit/check_subhealth \
	tests/unit/check_dbjudge \
	tests/unit/check_jschema \
	tests/unit/check_jsoncanon \
	tests/unit/check_fold \
	tests/unit/check_aggdef \
	tests/unit/check_privacy \
	tests/unit/check_envscan \
	tests/unit/check_keyring \
	tests/unit/check_keytransfer \
	tests/unit/check_aggregate \
	tests/unit/check_snapshot \
	tests/unit/check_subscription \
	tests/unit/check_sqlfile \
	tests/unit/check_exec_proto \
	tests/unit/check_audit \
	tests/unit/check_adminaudit \
	tests/unit/check_retry \
	tests/unit/check_trace \
	tests/unit/check_partition

# Longest first (about a minute down to seconds): under make -j the short
# ones fill in beside them.
INTEGRATION_TESTS = \
	tests/integration/test_package.sh \
	tests/integration/test_front_apache.sh \
	tests/integration/test_rpm.sh \
	tests/integration/test_fuzz.sh \
	tests/integration/test_runner.sh \
	tests/integration/test_failover.sh \
	tests/integration/test_pgbouncer.sh \
	tests/integration/test_rolling_restart.sh \
	tests/integration/test_rebuild.sh \
	tests/integration/test_export.sh \
	tests/integration/test_export_privacy.sh \
	tests/integration/test_verify.sh \
	tests/integration/test_runner_resilience.sh \
	tests/integration/test_health.sh \
	tests/integration/test_apache.sh \
	tests/integration/test_resilience.sh \
	tests/integration/test_append.sh \
	tests/integration/test_aggregates.sh \
	tests/integration/test_dlq.sh \
	tests/integration/test_check.sh \
	tests/integration/test_pitr.sh \
	tests/integration/test_runner_snapshots.sh \
	tests/integration/test_runner_exec.sh \
	tests/integration/test_runner_timeout.sh \
	tests/integration/test_runner_trace.sh \
	tests/integration/test_runner_data.sh \
	tests/integration/test_auth.sh \
	tests/integration/test_syslog.sh \
	tests/integration/test_audit_admin.sh \
	tests/integration/test_feed.sh \
	tests/integration/test_replica.sh \
	tests/integration/test_longpoll.sh \
	tests/integration/test_input.sh \
	tests/integration/test_concurrency.sh \
	tests/integration/test_runner_reload.sh \
	tests/integration/test_modes.sh \
	tests/integration/test_drain.sh \
	tests/integration/test_page_bytes.sh \
	tests/integration/test_db_tls.sh \
	tests/integration/test_privacy.sh \
	tests/integration/test_privacy_rotate.sh \
	tests/integration/test_privacy_snapshots.sh \
	tests/integration/test_privacy_erasure_sub.sh \
	tests/integration/test_metrics.sh

TESTS =
if HAVE_CHECK
check_PROGRAMS = $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
endif
TESTS += $(INTEGRATION_TESTS)
# The suites using PostgreSQL share one server, where a transaction in
# progress in any database holds back the feed's horizon: so that none hides
# another's events from its feed, they run one at a time, in this order
# (named through variables: a plain rule would replace automake's own).
db_suite_db_log = tests/unit/check_db.log
db_suite_feed_log = tests/unit/check_feed.log
db_suite_checkpoint_log = tests/unit/check_checkpoint.log
db_suite_dlq_log = tests/unit/check_dlq.log
db_suite_substatus_log = tests/unit/check_substatus.log
db_suite_aggregate_log = tests/unit/check_aggregate.log
db_suite_snapshot_log = tests/unit/check_snapshot.log
db_suite_erasures_log = tests/unit/check_erasures.log
$(db_suite_db_log): tests/unit/check_store.log
$(db_suite_feed_log): $(db_suite_db_log)
$(db_suite_checkpoint_log): $(db_suite_feed_log)
$(db_suite_dlq_log): $(db_suite_checkpoint_log)
$(db_suite_substatus_log): $(db_suite_dlq_log)
$(db_suite_aggregate_log): $(db_suite_substatus_log)
$(db_suite_snapshot_log): $(db_suite_aggregate_log)
$(db_suite_erasures_log): $(db_suite_snapshot_log)
# Programs without their own _LDADD (the suites) take these.
LDADD = src/fcgi/libfcgiapp.a src/runner/librunner.a $(ALL_LIBS) $(CHECK_LIBS) $(FCGI_LIBS)

# The integration tests speak TAP (tests/integration/lib.sh): automake's
# driver counts each check. A test whose prerequisites are missing says
# "1..0 # SKIP why"; its exit status (77 then, 1 on a failure) adds nothing
# the TAP lines do not say. Under the sanitizers the leaks of libraries we
# do not own are suppressed, as tests/run-all.sh does.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(BASH_SHELL)
SH_LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
AM_SH_LOG_DRIVER_FLAGS = --ignore-exit
AM_TESTS_ENVIRONMENT = EVSTORE_BUILDDIR='$(abs_top_builddir)'; export EVSTORE_BUILDDIR; \
	: "$${LSAN_OPTIONS=suppressions=$(abs_top_srcdir)/tests/lsan.supp:print_suppressions=0}"; \
	export LSAN_OPTIONS;

EXTRA_DIST += tests/unit/test_helpers.h tests/unit/auth_fixture.h tests/unit/check_scratch.h tests/unit/check_plan.h \
	$(INTEGRATION_TESTS) \
	tests/integration/lib.sh tests/integration/runner_lib.sh tests/integration/hosts_lib.sh \
	tests/integration/ha_lib.sh tests/integration/export_fill.sh examples/local-stack.sh \
	examples/privacy/customer.json examples/privacy/customer_contacts.sql \
	tests/lsan.supp tests/run-all.sh packaging/deps.sh packaging/build-deb packaging/README.md \
	packaging/debian/changelog packaging/debian/control packaging/debian/copyright \
	packaging/debian/rules packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm \
	packaging/debian/source/format
