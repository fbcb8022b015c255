# evstorectl: the operator's tool, one file per command. Everything but
# main.c is a library, as for the other two programs.
noinst_LIBRARIES += src/ctl/libctl.a
src_ctl_libctl_a_SOURCES = \
	src/ctl/commands.h \
	src/ctl/audit.c \
	src/ctl/cmd_migrate.c \
	src/ctl/cmd_status.c \
	src/ctl/cmd_check.c \
	src/ctl/cmd_token.c \
	src/ctl/cmd_snapshot.c \
	src/ctl/cmd_dlq.c \
	src/ctl/cmd_rebuild.c \
	src/ctl/cmd_partitions.c \
	src/ctl/exportfile.c src/ctl/exportfile.h \
	src/ctl/cmd_export.c \
	src/ctl/cmd_import.c \
	src/ctl/cmd_verify.c \
	src/ctl/cmd_forget.c \
	src/ctl/cmd_privacy.c \
	src/ctl/progress.c src/ctl/progress.h

bin_PROGRAMS += src/ctl/evstorectl
src_ctl_evstorectl_SOURCES = src/ctl/main.c
src_ctl_evstorectl_LDADD = src/ctl/libctl.a $(ALL_LIBS)
dist_man1_MANS += doc/evstorectl.1
