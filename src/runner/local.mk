# evstore-runner: the subscription daemon. Its modules are a library so that
# the unit tests link them. It does not link authentication.
noinst_LIBRARIES += src/runner/librunner.a
src_runner_librunner_a_SOURCES = \
	src/runner/handler.h \
	src/runner/handler_error.c \
	src/runner/handler_sql.c \
	src/runner/handler_exec.c \
	src/runner/handler_audit.c \
	src/runner/handler_snapshots.c \
	src/runner/retry.c src/runner/retry.h \
	src/runner/trace.c src/runner/trace.h \
	src/runner/partition.c src/runner/partition.h \
	src/runner/sub.c src/runner/sub.h \
	src/runner/unit.c src/runner/unit.h \
	src/runner/claims.c src/runner/claims.h \
	src/runner/runner.c src/runner/runner.h

sbin_PROGRAMS += src/runner/evstore-runner
src_runner_evstore_runner_SOURCES = src/runner/main.c
src_runner_evstore_runner_LDADD = src/runner/librunner.a $(CORE_LIBS)
dist_man8_MANS += doc/evstore-runner.8
