/* cmd_export.c - evstorectl export: the store's events as JSON Lines, one
 * event object per line (evstore.event_json, what every reader gets), in
 * feed order, to stdout or --output FILE.
 *
 * The export ends at the horizon it found when it started, and says on
 * stderr where it stopped: the cursor of the last event written, which
 * --after takes to go on from there (after an interruption, or later for
 * the events written since). An interrupted export (^C, SIGTERM, a write
 * that fails) still writes out every whole line it has and names the cursor
 * after the last of them. */
#include "buildconf.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"
#include "base/fdio.h"
#include "base/timefmt.h"
#include "base/uuidtext.h"
#include "pg/db.h"
#include "store/export.h"
#include "ctl/commands.h"
#include "ctl/progress.h"

#define EXPORT_BATCH_DEFAULT 10000
#define EXPORT_BUFFER (1 << 20)   /* bytes gathered before a write(2) */

struct export_args {
	bool all_tenants;
	char tenant[UUIDTEXT_LEN];
	bool have_tenant;
	char **types;
	size_t n_types;
	struct feed_cursor after;
	const char *output;           /* NULL: stdout */
	int batch;
};

/* Where the export is: the lines gathered but not yet written, and the
 * cursors of the last line gathered and the last line written. */
struct export_out {
	int fd;
	char *buf;
	size_t len;
	int64_t gathered, written;    /* events */
	struct feed_cursor gathered_at, written_at;
	int write_errno;              /* the write that failed, 0: none */
	struct progress bar;
};

static volatile sig_atomic_t export_interrupted;

static void export_on_signal(int sig)
{
	(void)sig;
	export_interrupted = 1;
}

/* Returns an exit status, or -1 to go on. */
static int export_parse(int argc, char **argv, struct export_args *a)
{
	static const struct option options[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "all-tenants", no_argument, NULL, 'A' },
		{ "aggregate-type", required_argument, NULL, 'T' },
		{ "after", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "batch-size", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char err[256], *end;
	long n;
	int opt;

	memset(a, 0, sizeof *a);
	a->batch = EXPORT_BATCH_DEFAULT;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:h", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (!uuidtext_parse(optarg, a->tenant) || uuidtext_is_nil(a->tenant))
				return ctl_usage_error("export", "--tenant needs a tenant's UUID, not '%s'", optarg);
			a->have_tenant = true;
			break;
		case 'A':
			a->all_tenants = true;
			break;
		case 'T':
			export_types_free(a->types, a->n_types);
			a->types = NULL;
			a->n_types = 0;
			if (export_parse_types(optarg, &a->types, &a->n_types, err, sizeof err) != ES_OK)
				return ctl_usage_error("export", "--aggregate-type: %s", err);
			break;
		case 'a':
			if (!feed_cursor_decode(optarg, &a->after) || !*optarg)
				return ctl_usage_error("export", "--after needs a cursor that export printed,"
						       " not '%s'", optarg);
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'b':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > 1000000)
				return ctl_usage_error("export", "--batch-size needs a number from 1 to"
						       " 1000000, not '%s'", optarg);
			a->batch = (int)n;
			break;
		case 'h':
			ctl_print_usage(stdout, "export");
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error("export", "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("export", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("export", "unexpected argument '%s'", argv[optind]);
	if (a->all_tenants && a->have_tenant)
		return ctl_usage_error("export", "--tenant and --all-tenants exclude each other");
	return -1;
}

/* Writes out what is gathered. False when the write failed. */
static bool export_flush(struct export_out *o)
{
	if (o->len > 0 && !fdio_write_all(o->fd, o->buf, o->len)) {
		o->write_errno = errno ? errno : EIO;
		return false;
	}
	o->len = 0;
	o->written = o->gathered;
	o->written_at = o->gathered_at;
	return true;
}

static bool export_row(void *arg, const char *json, size_t len, const struct feed_cursor *c)
{
	struct export_out *o = arg;

	if (o->len + len + 1 > EXPORT_BUFFER && !export_flush(o))
		return false;
	if (len + 1 > EXPORT_BUFFER) {
		/* A line larger than the buffer goes out on its own. */
		if (!fdio_write_all(o->fd, json, len) || !fdio_write_all(o->fd, "\n", 1)) {
			o->write_errno = errno ? errno : EIO;
			return false;
		}
		o->written = ++o->gathered;
		o->written_at = o->gathered_at = *c;
	} else {
		memcpy(o->buf + o->len, json, len);
		o->buf[o->len + len] = '\n';
		o->len += len + 1;
		o->gathered++;
		o->gathered_at = *c;
	}
	progress_update(&o->bar, o->gathered);
	return !export_interrupted;
}

/* Opens --output, as a shell redirection would (the umask decides the
 * mode). */
static int export_open(const char *path)
{
	int fd;

	if (!path)
		return STDOUT_FILENO;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		ctl_error("cannot create %s: %s", path, strerror(errno));
	return fd;
}

static const char *export_scope(const struct export_args *a, char *buf, size_t len)
{
	if (a->all_tenants)
		return "all tenants";
	if (a->have_tenant) {
		snprintf(buf, len, "tenant %s", a->tenant);
		return buf;
	}
	return "no tenant";
}

/* The loop: batches until one comes back short, or an interruption. */
static int export_run(struct db *db, const struct export_args *a, struct export_out *o)
{
	struct export_query q = {
		.all_tenants = a->all_tenants, .tenant = a->have_tenant ? a->tenant : NULL,
		.aggregate_types = (const char *const *)a->types, .n_aggregate_types = a->n_types,
		.after = a->after, .limit = a->batch,
	};
	int64_t total = 0;
	enum es_status rc;
	int n;

	rc = export_horizon(db, &q.end_txid);
	if (rc == ES_OK && o->bar.tty)
		rc = export_count(db, &q, &total);
	if (rc != ES_OK) {
		ctl_error("cannot read the events: %s", db_last_error(db));
		return CTL_EXIT_FAILURE;
	}
	progress_start(&o->bar, "export", total);
	o->gathered_at = o->written_at = a->after;
	do {
		rc = export_batch(db, &q, export_row, o, &n);
		if (rc != ES_OK) {
			progress_finish(&o->bar, o->gathered);
			ctl_error("reading the events failed: %s", db_last_error(db));
			return CTL_EXIT_FAILURE;
		}
		q.after = o->gathered_at;
	} while (n == q.limit && !export_interrupted && !o->write_errno);
	progress_finish(&o->bar, o->gathered);
	if (export_interrupted)
		return CTL_EXIT_FAILURE;
	return o->write_errno ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}

int cmd_export(const struct ctl *ctl, int argc, char **argv)
{
	struct export_args a;
	struct export_out o = { .fd = -1 };
	struct es_config cfg;
	struct sigaction sa, old_int, old_term, old_pipe;
	struct db *db = NULL;
	struct stat st;
	char cursor[FEED_CURSOR_LEN], count[32], scope[64];
	int64_t started = time_mono_ms();
	int rc;

	rc = export_parse(argc, argv, &a);
	if (rc >= 0)
		goto out_args;
	rc = CTL_EXIT_FAILURE;
	if (!ctl_load_config(ctl, &cfg))
		goto out_args;
	o.buf = malloc(EXPORT_BUFFER);
	if (!o.buf) {
		ctl_error("out of memory");
		goto out;
	}
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	o.fd = export_open(a.output);
	if (o.fd < 0)
		goto out;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = export_on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sa.sa_handler = SIG_IGN; /* a closed pipe is a failed write, told as such */
	sigaction(SIGPIPE, &sa, &old_pipe);
	o.bar.tty = isatty(STDERR_FILENO);
	rc = export_run(db, &a, &o);
	if (!o.write_errno && !export_flush(&o))
		rc = CTL_EXIT_FAILURE;
	if (!o.write_errno && a.output && fstat(o.fd, &st) == 0 && S_ISREG(st.st_mode)
	    && fsync(o.fd) != 0) {
		o.write_errno = errno;
		o.written_at = a.after; /* nothing is known to be on disk */
		o.written = 0;
		rc = CTL_EXIT_FAILURE;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);

	if (o.write_errno)
		ctl_error("writing %s failed: %s", a.output ? a.output : "the output",
			  strerror(o.write_errno));
	else if (export_interrupted)
		ctl_error("interrupted");
	progress_format_count(o.written, count, sizeof count);
	feed_cursor_encode(&o.written_at, cursor);
	fprintf(stderr, "%s event%s exported (%s) in %.1f s; %s with --after %s\n", count,
		o.written == 1 ? "" : "s", export_scope(&a, scope, sizeof scope),
		(double)(time_mono_ms() - started) / 1000.0,
		rc == CTL_EXIT_OK ? "later events" : "resume", cursor);
out:
	if (o.fd > STDOUT_FILENO && close(o.fd) != 0 && rc == CTL_EXIT_OK) {
		ctl_error("writing %s failed: %s", a.output, strerror(errno));
		rc = CTL_EXIT_FAILURE;
	}
	free(o.buf);
	db_free(db);
	config_free(&cfg);
out_args:
	export_types_free(a.types, a.n_types);
	return rc;
}
