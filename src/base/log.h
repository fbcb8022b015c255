/* log.h - one JSON object per line, to syslog(3) or stderr.
 * A record starts with "event" (a stable key), then the caller's fields.
 * Never log a token, a JWT payload or SQL parameter values. */
#ifndef EVSTORE_LOG_H
#define EVSTORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>
#include <time.h>
#include <json-c/json.h>

/* The [log] keys of evstore.conf (config.h keeps its [log] section in one
 * of these). A NULL field takes its default: syslog, info, daemon, local5,
 * no socket. */
struct log_settings {
	char *target;              /* syslog | stderr */
	char *level;               /* debug info notice warning error */
	char *facility;            /* daemon, local0..local7, user */
	char *audit_facility;
	char *socket;              /* unix datagram socket; "": syslog(3) */
};

/* Opens the log as s says (NULL: all defaults), under ident
 * ("evstore-fcgi", ...). Returns false and fills err when a value is
 * unknown or the socket cannot be made; the previous log then stays.
 * Before the log is opened, records go to stderr.
 * With a socket (and target syslog) records are sent as RFC 3164
 * datagrams to that unix socket instead of syslog(3)'s /dev/log; a record
 * the socket does not take within a short wait is dropped and counted. */
bool log_open(const char *ident, const struct log_settings *s, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void log_close(void);

/* True when records at this syslog priority (LOG_ERR, LOG_INFO, ...) are kept. */
bool log_enabled(int prio);

/* Emits {"event": event, "level": "...", ...fields}; on stderr a "ts"
 * (RFC 3339, UTC) follows "level". Fields named event, level or ts are
 * dropped. Takes fields (may be NULL): it is released here, whatever
 * happens. */
void log_json(int prio, const char *event, json_object *fields);

/* Emits {"event": event, k1: v1, k2: v2, ...}: pairs of const char * key and
 * const char * value ending with a NULL key. A NULL value is skipped. */
void log_kv(int prio, const char *event, ...) __attribute__((sentinel));

/* What became of an audit record. */
enum log_delivery {
	LOG_DELIVERED,  /* taken (records handed to syslog(3) or stderr always are) */
	LOG_DROPPED,    /* [log] socket absent or full: worth trying again later */
	LOG_TOO_BIG     /* larger than [log] socket takes in one datagram: never will be */
};

/* Emits an audit record (a complete JSON object, taken) on the audit
 * facility with the ident "<ident>-audit", whatever the level. */
enum log_delivery log_audit(json_object *record);

/* Records dropped by [log] socket since the program started (this
 * process's count; forked workers count their own). */
unsigned long log_dropped(void);

/* Writes the RFC 3164 header of a datagram, "<PRI>Mmm dd hh:mm:ss
 * ident[pid]: " (pri is facility | severity, tm the local time), into buf
 * and NUL-terminates it when size allows. Returns the header's length, as
 * snprintf does; borrows everything. */
size_t log_format_rfc3164(char *buf, size_t size, int pri, const struct tm *tm,
			  const char *ident, long pid);

/* Parses a syslog facility name ("daemon", "local5", ...); -1 if unknown. */
int log_facility_from_name(const char *name);

#endif
