# evstore-fcgi: the FastCGI application. Everything but main.c is a library
# so that the unit tests link the request code that ships.
noinst_LIBRARIES += src/fcgi/libfcgiapp.a
src_fcgi_libfcgiapp_a_SOURCES = \
	src/fcgi/app.c src/fcgi/app.h \
	src/fcgi/http.c src/fcgi/http.h \
	src/fcgi/router.c src/fcgi/router.h \
	src/fcgi/routes.c src/fcgi/routes.h \
	src/fcgi/route_events.c \
	src/fcgi/route_aggregates.c \
	src/fcgi/route_feed.c \
	src/fcgi/route_subjects.c \
	src/fcgi/route_health.c \
	src/fcgi/route_dlq.c \
	src/fcgi/route_audit.c \
	src/fcgi/route_openapi.c \
	src/fcgi/route_metrics.c \
	src/fcgi/server.c src/fcgi/server.h \
	src/fcgi/pool.c src/fcgi/pool.h \
	src/fcgi/poolstats.c src/fcgi/poolstats.h \
	src/fcgi/replica.c src/fcgi/replica.h \
	src/fcgi/park.c src/fcgi/park.h \
	src/fcgi/fcgi_record.c src/fcgi/fcgi_record.h \
	src/fcgi/waiter.c src/fcgi/waiter.h
nodist_src_fcgi_libfcgiapp_a_SOURCES = src/fcgi/openapi_data.c

# GET /openapi.yaml serves the contract this build was made from.
src/fcgi/openapi_data.c: $(srcdir)/doc/openapi.yaml $(srcdir)/build-aux/embed-text.sh
	$(AM_V_GEN)$(MKDIR_P) src/fcgi && \
	sh $(srcdir)/build-aux/embed-text.sh openapi_yaml $(srcdir)/doc/openapi.yaml > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += src/fcgi/openapi_data.c
CLEANFILES += src/fcgi/openapi_data.c

sbin_PROGRAMS += src/fcgi/evstore-fcgi
src_fcgi_evstore_fcgi_SOURCES = src/fcgi/main.c
src_fcgi_evstore_fcgi_LDADD = src/fcgi/libfcgiapp.a $(ALL_LIBS) $(FCGI_LIBS)
dist_man8_MANS += doc/evstore-fcgi.8
