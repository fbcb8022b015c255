# store: events and streams (append, stream reads, counts), the global feed
# (feed) and its cursor, export and import (event_line, export, import),
# the streams' integrity (verify). Uses pg, json and base.
noinst_LIBRARIES += src/store/libstore.a
src_store_libstore_a_SOURCES = \
	src/store/store.c src/store/store.h src/store/append_sql.h \
	src/store/feed.c src/store/feed.h \
	src/store/page_budget.h \
	src/store/event_render.c src/store/event_render.h \
	src/store/feed_cursor.c src/store/feed_cursor.h \
	src/store/event_line.c src/store/event_line.h \
	src/store/export.c src/store/export.h \
	src/store/import.c src/store/import.h \
	src/store/verify.c src/store/verify.h
