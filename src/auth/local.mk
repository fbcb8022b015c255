# auth: JWT keys, verification and development tokens; the only user of
# libjwt. Uses json and base.
noinst_LIBRARIES += src/auth/libauth.a
src_auth_libauth_a_SOURCES = \
	src/auth/base64.c src/auth/base64.h \
	src/auth/keys.c src/auth/keys.h \
	src/auth/auth.c src/auth/auth.h \
	src/auth/tokencache.c src/auth/tokencache.h \
	src/auth/token.c src/auth/token.h
