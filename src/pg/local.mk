# pg: the one door to libpq (connection, statements, SQLSTATEs, pipelines,
# LISTEN) and the embedded migrations. Uses base.
MIGRATIONS = \
	sql/001_init.sql \
	sql/002_snapshots.sql \
	sql/003_subscriptions.sql \
	sql/004_sqlstate.sql \
	sql/005_lean_append.sql \
	sql/006_privacy.sql \
	sql/007_dlq_unresolved.sql \
	sql/008_erasure_inbox.sql \
	sql/009_subject_tombstones_idx.sql \
	sql/010_key_epoch.sql

sqldir = $(pkgdatadir)/sql
dist_sql_DATA = $(MIGRATIONS)

src/pg/migrations_data.c: $(MIGRATIONS) $(srcdir)/build-aux/embed-sql.sh
	$(AM_V_GEN)$(MKDIR_P) src/pg && \
	sh $(srcdir)/build-aux/embed-sql.sh $(addprefix $(srcdir)/,$(MIGRATIONS)) > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += src/pg/migrations_data.c
CLEANFILES += src/pg/migrations_data.c

noinst_LIBRARIES += src/pg/libpg.a
src_pg_libpg_a_SOURCES = \
	src/pg/db.c src/pg/db.h \
	src/pg/sqlstate.c src/pg/sqlstate.h \
	src/pg/migrate.c src/pg/migrate.h \
	src/pg/pgconninfo.c src/pg/pgconninfo.h \
	src/pg/dbcheck.c src/pg/dbcheck.h \
	src/pg/dbjudge.c src/pg/dbjudge.h \
	src/pg/walpos.c src/pg/walpos.h
nodist_src_pg_libpg_a_SOURCES = src/pg/migrations_data.c
