/* log.c - JSON lines to syslog(3), a unix datagram socket, or stderr.
 *
 * syslog(3) has one ident per process; audit records need their own
 * ("<ident>-audit") so syslog-ng can route them, so log_audit switches the
 * ident around the one call under the same lock as every other record. On
 * stderr each record is written with a single write(2), so lines from the
 * processes of a pre-forked pool sharing the descriptor never interleave.
 *
 * glibc's syslog(3) only ever writes to /dev/log. For a syslog daemon
 * listening elsewhere ([log] socket: a container's or a chroot's socket)
 * records are formatted here as RFC 3164 datagrams. The socket is never
 * connected: each datagram names the path, so a daemon that restarts and
 * binds the path again gets the next record without any reconnecting. A
 * send waits at most LOG_SOCKET_WAIT_MS for room; once such a wait has run
 * out, records are tried without waiting until one goes through, so a stuck
 * daemon costs one wait, not one per record. A record the socket does not
 * take is dropped and counted, and the count goes out after the next
 * record that gets through. */
#include "buildconf.h"
#include "base/log.h"
#include "base/fdio.h"
#include "base/timefmt.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define IDENT_MAX 64
/* Longest wait for room in the socket's queue, per record. */
#define LOG_SOCKET_WAIT_MS 500
/* "<191>Mmm dd hh:mm:ss " + ident + "[pid]: " fits with room to spare. */
#define LOG_HEADER_MAX (32 + IDENT_MAX + 8 + 32)

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
	int sock;                  /* [log] socket; -1: syslog(3) when use_syslog */
	struct sockaddr_un sock_addr;
	socklen_t sock_addr_len;
	bool sock_stalled;         /* the last wait ran out: try without waiting */
	unsigned long dropped;     /* records the socket did not take */
	unsigned long dropped_unreported;
} log_state = {
	.use_syslog = false, .threshold = LOG_INFO, .facility = LOG_DAEMON,
	.audit_facility = LOG_LOCAL5, .ident = "evstore", .audit_ident = "evstore-audit",
	.sock = -1,
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t log_fork_once = PTHREAD_ONCE_INIT;

/* A forked worker counts its own drops; the parent reports those before
 * the fork, so each is reported once. */
static void log_child_after_fork(void)
{
	log_state.dropped = 0;
	log_state.dropped_unreported = 0;
}

static void log_fork_register(void)
{
	pthread_atfork(NULL, NULL, log_child_after_fork);
}

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

/* Checks a [log] socket path and fills addr and len; false with err set
 * when it cannot name a unix socket. Borrows path. */
static bool sock_address(const char *path, struct sockaddr_un *addr, socklen_t *len,
			 char *err, size_t errlen)
{
	size_t n = strlen(path);

	if (path[0] != '/') {
		set_err(err, errlen, "[log] socket: '%s' is not an absolute path", path);
		return false;
	}
	if (n >= sizeof(addr->sun_path)) {
		set_err(err, errlen, "[log] socket: '%s' is longer than a unix socket path "
			"may be (%zu bytes)", path, sizeof(addr->sun_path) - 1);
		return false;
	}
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	memcpy(addr->sun_path, path, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return true;
}

/* A datagram socket whose sends wait at most LOG_SOCKET_WAIT_MS; -1 with
 * err set on failure. The caller owns the descriptor. */
static int sock_new(char *err, size_t errlen)
{
	struct timeval wait = { 0, LOG_SOCKET_WAIT_MS * 1000 };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		set_err(err, errlen, "[log] socket: cannot make a socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof(wait)) != 0) {
		set_err(err, errlen, "[log] socket: cannot set a send timeout: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Borrows ident and s (copies what it keeps). On false nothing changed. */
bool log_open(const char *ident, const struct log_settings *s, char *err, size_t errlen)
{
	const char *target = s && s->target ? s->target : "syslog";
	const char *level = s && s->level ? s->level : "info";
	const char *fac = s && s->facility ? s->facility : "daemon";
	const char *afac = s && s->audit_facility ? s->audit_facility : "local5";
	const char *path = s && s->socket ? s->socket : "";
	int threshold, facility, audit_facility, sock = -1, old_sock;
	struct sockaddr_un addr;
	socklen_t addr_len = 0;
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
	/* Checked whatever the target, so a typo shows before it matters. */
	if (*path && !sock_address(path, &addr, &addr_len, err, errlen))
		return false;
	if (*path && use_syslog) {
		sock = sock_new(err, errlen);
		if (sock < 0)
			return false;
		pthread_once(&log_fork_once, log_fork_register);
	}

	pthread_mutex_lock(&log_lock);
	if (log_state.use_syslog && log_state.sock < 0)
		closelog();
	old_sock = log_state.sock;
	snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident ? ident : "evstore");
	snprintf(log_state.audit_ident, sizeof(log_state.audit_ident), "%s-audit",
		 log_state.ident);
	log_state.use_syslog = use_syslog;
	log_state.threshold = threshold;
	log_state.facility = facility;
	log_state.audit_facility = audit_facility;
	log_state.sock = sock;
	log_state.sock_stalled = false;
	if (sock >= 0) {
		log_state.sock_addr = addr;
		log_state.sock_addr_len = addr_len;
	} else if (use_syslog) {
		openlog(log_state.ident, LOG_PID | LOG_NDELAY, facility);
	}
	pthread_mutex_unlock(&log_lock);
	if (old_sock >= 0)
		close(old_sock);
	return true;
}

/* Back to the state before log_open: stderr, level info. */
void log_close(void)
{
	int old_sock;

	pthread_mutex_lock(&log_lock);
	if (log_state.use_syslog && log_state.sock < 0)
		closelog();
	old_sock = log_state.sock;
	log_state.sock = -1;
	log_state.use_syslog = false;
	log_state.threshold = LOG_INFO;
	log_state.facility = LOG_DAEMON;
	log_state.audit_facility = LOG_LOCAL5;
	pthread_mutex_unlock(&log_lock);
	if (old_sock >= 0)
		close(old_sock);
}

/* Borrows everything; see log.h. */
size_t log_format_rfc3164(char *buf, size_t size, int pri, const struct tm *tm,
			  const char *ident, long pid)
{
	/* Not strftime: RFC 3164 wants English month names whatever the locale. */
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	int mon = tm->tm_mon >= 0 && tm->tm_mon < 12 ? tm->tm_mon : 0;
	int n = snprintf(buf, size, "<%d>%s %2d %02d:%02d:%02d %s[%ld]: ", pri, months[mon],
			 tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, ident ? ident : "", pid);

	return n < 0 ? 0 : (size_t)n;
}

/* Sends one datagram to [log] socket; the caller holds log_lock. Borrows
 * ident and line. */
static enum log_delivery sock_send(int pri, const char *ident, const char *line)
{
	char header[LOG_HEADER_MAX];
	struct msghdr msg;
	struct iovec iov[2];
	struct tm tm;
	time_t now = time(NULL);
	size_t hlen;
	ssize_t n = -1;
	int flags = MSG_NOSIGNAL | (log_state.sock_stalled ? MSG_DONTWAIT : 0);

	localtime_r(&now, &tm);
	hlen = log_format_rfc3164(header, sizeof(header), pri, &tm, ident, (long)getpid());
	if (hlen >= sizeof(header))
		hlen = sizeof(header) - 1;
	iov[0].iov_base = header;
	iov[0].iov_len = hlen;
	iov[1].iov_base = (void *)line;
	iov[1].iov_len = strlen(line);
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &log_state.sock_addr;
	msg.msg_namelen = log_state.sock_addr_len;
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	/* A signal may cut a wait short; a few tries keep the bound. */
	for (int tries = 0; tries < 3; tries++) {
		n = sendmsg(log_state.sock, &msg, flags);
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n >= 0) {
		log_state.sock_stalled = false;
		return LOG_DELIVERED;
	}
	if (errno == EMSGSIZE)
		return LOG_TOO_BIG;
	/* A wait that ran out means a stuck reader; absent (ENOENT,
	 * ECONNREFUSED) costs nothing to find out again. */
	if ((errno == EAGAIN || errno == EWOULDBLOCK) && !(flags & MSG_DONTWAIT))
		log_state.sock_stalled = true;
	return LOG_DROPPED;
}

/* Sends a record to [log] socket under its ident and facility, then the
 * count of records lost before it, if any; the caller holds log_lock. */
static enum log_delivery sock_emit(int prio, const char *line, bool audit)
{
	int sev = prio & LOG_PRIMASK;
	char note[128];
	enum log_delivery sent;

	if (audit)
		sent = sock_send(log_state.audit_facility | sev, log_state.audit_ident, line);
	else
		sent = sock_send(log_state.facility | sev, log_state.ident, line);
	if (sent != LOG_DELIVERED) {
		log_state.dropped++;
		log_state.dropped_unreported++;
		return sent;
	}
	if (log_state.dropped_unreported > 0 && log_enabled(LOG_WARNING)) {
		snprintf(note, sizeof(note),
			 "{\"event\":\"log_records_dropped\",\"level\":\"warning\",\"count\":%lu}",
			 log_state.dropped_unreported);
		if (sock_send(log_state.facility | LOG_WARNING, log_state.ident, note) == LOG_DELIVERED)
			log_state.dropped_unreported = 0;
	}
	return LOG_DELIVERED;
}

/* Records lost by [log] socket in this process. */
unsigned long log_dropped(void)
{
	unsigned long n;

	pthread_mutex_lock(&log_lock);
	n = log_state.dropped;
	pthread_mutex_unlock(&log_lock);
	return n;
}

/* Lets a caller skip building fields nobody will see. */
bool log_enabled(int prio)
{
	return (prio & LOG_PRIMASK) <= log_state.threshold;
}

/* One line on stderr, in one write(2) where the kernel allows. Nothing
 * is left to tell when stderr fails. */
static void write_stderr(const char *line)
{
	size_t len = strlen(line);
	char *buf = malloc(len + 1);

	if (buf) {
		memcpy(buf, line, len);
		buf[len++] = '\n';
		fdio_write_all(STDERR_FILENO, buf, len);
	} else {
		/* no memory: the line, then the newline */
		fdio_write_all(STDERR_FILENO, line, len);
		fdio_write_all(STDERR_FILENO, "\n", 1);
	}
	free(buf);
}

/* Emits an already formatted record; the caller holds no lock. */
static enum log_delivery emit(int prio, const char *line, bool audit)
{
	enum log_delivery sent = LOG_DELIVERED;

	pthread_mutex_lock(&log_lock);
	if (!log_state.use_syslog) {
		write_stderr(line);
	} else if (log_state.sock >= 0) {
		sent = sock_emit(prio, line, audit);
	} else if (audit) {
		openlog(log_state.audit_ident, LOG_PID | LOG_NDELAY, log_state.audit_facility);
		syslog(log_state.audit_facility | (prio & LOG_PRIMASK), "%s", line);
		openlog(log_state.ident, LOG_PID | LOG_NDELAY, log_state.facility);
	} else {
		syslog(log_state.facility | (prio & LOG_PRIMASK), "%s", line);
	}
	pthread_mutex_unlock(&log_lock);
	return sent;
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
		timefmt_format(time_now_usec(), ts);
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
enum log_delivery log_audit(json_object *record)
{
	enum log_delivery sent = LOG_DELIVERED;

	if (record)
		sent = emit(LOG_INFO, json_object_to_json_string_ext(record, JSON_C_TO_STRING_PLAIN |
								     JSON_C_TO_STRING_NOSLASHESCAPE),
			    true);
	json_object_put(record);
	return sent;
}
