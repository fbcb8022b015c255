# privacy: personal data in events. Declared fields sealed per data subject
# (personal), the subject keys (keyring, evstore.subject_keys), the master
# key (masterkey), and libcrypto behind one file (cipher). Uses store, pg,
# json and base.
noinst_LIBRARIES += src/privacy/libprivacy.a
src_privacy_libprivacy_a_SOURCES = \
	src/privacy/cipher.c src/privacy/cipher.h \
	src/privacy/masterkey.c src/privacy/masterkey.h \
	src/privacy/keyring.c src/privacy/keyring.h src/privacy/keyring_sql.h \
	src/privacy/keyring_rotate.c \
	src/privacy/keycache.c src/privacy/keycache.h \
	src/privacy/personal.c src/privacy/personal.h \
	src/privacy/envscan.c src/privacy/envscan.h \
	src/privacy/view.c src/privacy/view.h \
	src/privacy/erasure.c src/privacy/erasure.h \
	src/privacy/keytransfer.c src/privacy/keytransfer.h
