/* conninfo.h - PostgreSQL connection strings as evstore reads and shows
 * them: a libpq URI or a key=value string, from the file, DATABASE_URL or
 * EVSTORE_DATABASE_URL. */
#ifndef EVSTORE_CONNINFO_H
#define EVSTORE_CONNINFO_H

/* Drops a "+driver" part of a URI's scheme, as Python libraries write it
 * ("postgresql+asyncpg://" -> "postgresql://"); anything else, key=value
 * strings included, is copied unchanged. Borrows url. Returns a new string
 * (malloc), NULL when memory runs out. */
char *conninfo_normalize(const char *url);

/* Returns url with its passwords replaced by "***": the userinfo password
 * and the password= and sslpassword= query parameters of a URI (their
 * keys percent-decoded first, as libpq reads them: "pass%77ord="), or
 * those keywords of a key=value string. Borrows url. A new string (malloc), NULL when memory
 * runs out. */
char *conninfo_mask_password(const char *url);

#endif
