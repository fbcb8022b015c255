# json: strict parsing of untrusted JSON, the schema subset. Uses base.
noinst_LIBRARIES += src/json/libjson.a
src_json_libjson_a_SOURCES = \
	src/json/jsondoc.c src/json/jsondoc.h \
	src/json/jsoncanon.c src/json/jsoncanon.h \
	src/json/jschema.c src/json/jschema.h
