# base: errors, buffers, text, UUIDs, time, whole writes, systemd
# notifications, logging, configuration.
# Depends on nothing of ours.
noinst_LIBRARIES += src/base/libbase.a
src_base_libbase_a_SOURCES = \
	src/base/error.c src/base/error.h \
	src/base/sbuf.c src/base/sbuf.h \
	src/base/text.c src/base/text.h \
	src/base/uuidtext.c src/base/uuidtext.h \
	src/base/timefmt.c src/base/timefmt.h \
	src/base/fdio.c src/base/fdio.h \
	src/base/sdnotify.c src/base/sdnotify.h \
	src/base/log.c src/base/log.h \
	src/base/adminaudit.c src/base/adminaudit.h \
	src/base/confval.c src/base/confval.h \
	src/base/conninfo.c src/base/conninfo.h \
	src/base/config.c src/base/config.h \
	src/base/startcheck.c src/base/startcheck.h
