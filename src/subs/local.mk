# subs: subscriptions: their configuration and SQL files, checkpoints, the
# dead-letter queue, status rows and the health judgement on them.
# Uses store, pg, json and base.
noinst_LIBRARIES += src/subs/libsubs.a
src_subs_libsubs_a_SOURCES = \
	src/subs/subscription.c src/subs/subscription.h \
	src/subs/sqlfile.c src/subs/sqlfile.h \
	src/subs/checkpoint.c src/subs/checkpoint.h \
	src/subs/rebuild.c src/subs/rebuild.h \
	src/subs/dlq.c src/subs/dlq.h \
	src/subs/erasures.c src/subs/erasures.h \
	src/subs/substatus.c src/subs/substatus.h \
	src/subs/subhealth.c src/subs/subhealth.h \
	src/subs/subcheck.c src/subs/subcheck.h
