/* log.c - JSON lines to syslog(3) or stderr.
 *
 * syslog(3) has one ident per process; audit records need their own
 * ("<ident>-audit") so syslog-ng can route them, so log_audit switches the
 * ident around the one call under the same lock as every other record. On
 * stderr each record is written with a single write(2), so lines from the
 * processes of a pre-forked pool sharing the descriptor never interleave. */
#include "buildconf.h"
#include "common/log.h"
#include "common/config.h"
#include "common/timefmt.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define IDENT_MAX 64

static const struct { const char *name; int value; } facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV }, { "cron", LOG_CRON },
	{ "daemon", LOG_DAEMON }, { "ftp", LOG_FTP }, { "kern", LOG_KERN },
	{ "lpr", LOG_LPR }, { "mail", LOG_MAIL }, { "news", LOG_NEWS },
	{ "syslog", LOG_SYSLOG }, { "user", LOG_USER }, { "uucp", LOG_UUCP },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

/* Level names as written in records and accepted by [log] level. */
static const char *const level_names[] = {
	[LOG_EMERG] = "emergency", [LOG_ALERT] = "alert", [LOG_CRIT] = "critical",
	[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static struct {
	bool use_syslog;
	int threshold;             /* keep records with prio <= threshold */
	int facility;
	int audit_facility;
	char ident[IDENT_MAX];
	char audit_ident[IDENT_MAX + 8];
} log_state = { false, LOG_INFO, LOG_DAEMON, LOG_LOCAL5, "evstore", "evstore-audit" };

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Borrows name; the match ignores case. */
int log_facility_from_name(const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].value;
	}
	return -1;
}

static int level_from_name(const char *name)
{
	if (!name)
		return -1;
	if (strcasecmp(name, "warn") == 0)
		return LOG_WARNING;
	for (int i = LOG_EMERG; i <= LOG_DEBUG; i++) {
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	}
	return -1;
}

static const char *level_name(int prio)
{
	prio &= LOG_PRIMASK;
	return level_names[prio];
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Borrows ident and cfg (copies what it keeps). On false nothing changed. */
bool log_open(const char *ident, const struct es_config *cfg, char *err, size_t errlen)
{
	const char *target = cfg && cfg->log.target ? cfg->log.target : "syslog";
	const char *level = cfg && cfg->log.level ? cfg->log.level : "info";
	const char *fac = cfg && cfg->log.facility ? cfg->log.facility : "daemon";
	const char *afac = cfg && cfg->log.audit_facility ? cfg->log.audit_facility : "local5";
	int threshold, facility, audit_facility;
	bool use_syslog;

	if (strcmp(target, "syslog") == 0) {
		use_syslog = true;
	} else if (strcmp(target, "stderr") == 0) {
		use_syslog = false;
	} else {
		set_err(err, errlen, "[log] target: '%s' is neither syslog nor stderr", target);
		return false;
	}
	threshold = level_from_name(level);
	if (threshold < 0) {
		set_err(err, errlen, "[log] level: unknown level '%s'", level);
		return false;
	}
	facility = log_facility_from_name(fac);
	if (facility < 0) {
		set_err(err, errlen, "[log] facility: unknown syslog facility '%s'", fac);
		return false;
	}
	audit_facility = log_facility_from_name(afac);
	if (audit_facility < 0) {
		set_err(err, errlen, "[log] audit_facility: unknown syslog facility '%s'", afac);
		return false;
	}

	pthread_mutex_lock(&log_lock);
	if (log_state.use_syslog)
		closelog();
	snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident ? ident : "evstore");
	snprintf(log_state.audit_ident, sizeof(log_state.audit_ident), "%s-audit",
		 log_state.ident);
	log_state.use_syslog = use_syslog;
	log_state.threshold = threshold;
	log_state.facility = facility;
	log_state.audit_facility = audit_facility;
	if (use_syslog)
		openlog(log_state.ident, LOG_PID | LOG_NDELAY, facility);
	pthread_mutex_unlock(&log_lock);
	return true;
}

/* Back to the state before log_open: stderr, level info. */
void log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_state.use_syslog)
		closelog();
	log_state.use_syslog = false;
	log_state.threshold = LOG_INFO;
	log_state.facility = LOG_DAEMON;
	log_state.audit_facility = LOG_LOCAL5;
	pthread_mutex_unlock(&log_lock);
}

/* Lets a caller skip building fields nobody will see. */
bool log_enabled(int prio)
{
	return (prio & LOG_PRIMASK) <= log_state.threshold;
}

/* One line on stderr, in one write(2) where the kernel allows. */
static void write_stderr(const char *line)
{
	size_t len = strlen(line), off = 0;
	char *buf = malloc(len + 1);
	const char *p = buf;
	ssize_t n;

	if (buf) {
		memcpy(buf, line, len);
		buf[len++] = '\n';
	} else {
		p = line; /* no memory: the line, then the newline */
	}
	while (off < len) {
		n = write(STDERR_FILENO, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (!buf) {
		while (write(STDERR_FILENO, "\n", 1) < 0 && errno == EINTR)
			;
	}
	free(buf);
}

/* Emits an already formatted record; the caller holds no lock. */
static void emit(int prio, const char *line, bool audit)
{
	pthread_mutex_lock(&log_lock);
	if (!log_state.use_syslog) {
		write_stderr(line);
	} else if (audit) {
		openlog(log_state.audit_ident, LOG_PID | LOG_NDELAY, log_state.audit_facility);
		syslog(log_state.audit_facility | (prio & LOG_PRIMASK), "%s", line);
		openlog(log_state.ident, LOG_PID | LOG_NDELAY, log_state.facility);
	} else {
		syslog(log_state.facility | (prio & LOG_PRIMASK), "%s", line);
	}
	pthread_mutex_unlock(&log_lock);
}

static bool on_stderr(void)
{
	return !log_state.use_syslog;
}

/* Takes fields. The record is {"event", "level", ["ts",] ...fields}; a
 * field named like one of the first keys is dropped so the record stays
 * unambiguous. */
void log_json(int prio, const char *event, json_object *fields)
{
	json_object *rec = NULL;
	char ts[TIMEFMT_LEN];

	if (!log_enabled(prio))
		goto out;
	rec = json_object_new_object();
	if (!rec)
		goto out;
	json_object_object_add(rec, "event", json_object_new_string(event ? event : "log"));
	json_object_object_add(rec, "level", json_object_new_string(level_name(prio)));
	if (on_stderr()) {
		rfc3339_format(time_now_usec(), ts);
		json_object_object_add(rec, "ts", json_object_new_string(ts));
	}
	if (json_object_is_type(fields, json_type_object)) {
		json_object_object_foreach(fields, key, val) {
			if (strcmp(key, "event") == 0 || strcmp(key, "level") == 0 ||
			    strcmp(key, "ts") == 0)
				continue;
			json_object_object_add(rec, key, json_object_get(val));
		}
	}
	emit(prio, json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE), false);
out:
	json_object_put(rec);
	json_object_put(fields);
}

/* Borrows the strings; see log.h. */
void log_kv(int prio, const char *event, ...)
{
	json_object *fields;
	const char *k, *v;
	va_list ap;

	if (!log_enabled(prio))
		return;
	fields = json_object_new_object();
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (v && fields)
			json_object_object_add(fields, k, json_object_new_string(v));
	}
	va_end(ap);
	log_json(prio, event, fields);
}

/* Takes record. Audit records are kept whatever the level. */
void log_audit(json_object *record)
{
	if (record)
		emit(LOG_INFO, json_object_to_json_string_ext(record, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE),
		     true);
	json_object_put(record);
}
