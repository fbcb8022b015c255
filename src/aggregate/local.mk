# aggregate: definitions, folding, state, guarded commands, snapshots.
# Uses store, pg, json and base.
noinst_LIBRARIES += src/aggregate/libaggregate.a
src_aggregate_libaggregate_a_SOURCES = \
	src/aggregate/aggdef.c src/aggregate/aggdef.h \
	src/aggregate/aggdef_registry.c \
	src/aggregate/fold.c src/aggregate/fold.h \
	src/aggregate/aggregate.c src/aggregate/aggregate.h \
	src/aggregate/snapshot.c src/aggregate/snapshot.h
