/* pgconninfo.h - [database] url checked by libpq's own parser at load, so
 * a typo ("postgresq://", an unknown option) is a configuration error
 * naming the key, not a database name or a socket nobody asked for. */
#ifndef EVSTORE_PGCONNINFO_H
#define EVSTORE_PGCONNINFO_H

/* What is wrong with conninfo (a libpq URI or key=value string; "" is
 * fine: libpq's defaults), or NULL when libpq accepts it. The text never
 * quotes a value (a password may be in it): only option names. Borrows
 * conninfo; the text is static, valid until the next call. Matches
 * config_conninfo_check_fn (base/config.h). */
const char *pgconninfo_problem(const char *conninfo);

#endif
