/* cmd_export.c - evstorectl export: the store's events as JSON Lines, one
 * event object per line (evstore.event_json, what every reader gets), in
 * feed order, to stdout or --output FILE.
 *
 * The export ends at the horizon it found when it started, and says on
 * stderr where it stopped: the cursor of the last event written, which
 * --after takes to go on from there (after an interruption, or later for
 * the events written since). An interrupted export (^C, SIGTERM, a write
 * that fails) still writes out every whole line it has and names the cursor
 * after the last of them.
 *
 * The file starts with a header (ctl/exportfile.h), then, unless
 * --without-keys, the subject keys of the tenants exported, wrapped as
 * they are stored, then the events: personal fields as their envelopes,
 * the ciphertext. --decrypt opens them with the master key instead, for
 * an administrator who needs the data in clear: a warning, an audit
 * record, and a header import refuses. */
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
#include "base/sbuf.h"
#include "base/timefmt.h"
#include "base/uuidtext.h"
#include "pg/db.h"
#include "json/jsondoc.h"
#include "store/export.h"
#include "privacy/keytransfer.h"
#include "privacy/masterkey.h"
#include "privacy/view.h"
#include "ctl/commands.h"
#include "ctl/exportfile.h"
#include "ctl/progress.h"

#define EXPORT_BATCH_DEFAULT 10000
#define EXPORT_BUFFER (1 << 20)   /* bytes gathered before a write(2) */
#define EXPORT_KEYRING_MAX 256    /* --decrypt: keys kept unwrapped at a time */
#define EXPORT_PARSE_DEPTH 1100   /* an event object around a stored document */

struct export_args {
	bool all_tenants;             /* the default */
	bool no_tenant;
	char tenant[UUIDTEXT_LEN];
	bool have_tenant;
	char **types;
	size_t n_types;
	struct feed_cursor after;
	const char *output;           /* NULL: stdout */
	int batch;
	bool without_keys;
	bool decrypt;
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
	/* --decrypt: a second session fetches keys while the first streams */
	struct db *keys_db;
	struct keyring kr;
	struct sbuf clear;            /* the line opened */
	char open_error[512];         /* why an event could not be opened */
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
		{ "no-tenant", no_argument, NULL, 'N' },
		{ "without-keys", no_argument, NULL, 'K' },
		{ "decrypt", no_argument, NULL, 'D' },
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
		case 'N':
			a->no_tenant = true;
			break;
		case 'K':
			a->without_keys = true;
			break;
		case 'D':
			a->decrypt = true;
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
	if (a->all_tenants + a->have_tenant + a->no_tenant > 1)
		return ctl_usage_error("export", "--tenant, --all-tenants and --no-tenant exclude each other");
	if (a->decrypt && a->without_keys)
		return ctl_usage_error("export", "--decrypt writes no keys already: drop --without-keys");
	/* A backup takes everything unless told otherwise. */
	if (!a->have_tenant && !a->no_tenant)
		a->all_tenants = true;
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

/* Opens the envelopes of one event into o->clear, marked "decrypted":
 * true (a line import refuses, header or not). False after noting why in
 * o->open_error. */
static bool export_decrypt(struct export_out *o, const char *json, size_t len)
{
	json_object *ev = NULL;
	char err[512] = "";
	enum es_status rc;

	if (o->kr.n > EXPORT_KEYRING_MAX)
		keyring_free(&o->kr);
	rc = jsondoc_parse_strict(json, len, EXPORT_PARSE_DEPTH, &ev, err, sizeof err);
	if (rc == ES_OK)
		rc = view_event(o->keys_db, &o->kr, ev, PERSONAL_CLEAR, err, sizeof err);
	if (rc == ES_OK && json_object_object_add(ev, EXPORTFILE_DECRYPTED_MEMBER, json_object_new_boolean(1)) != 0)
		rc = ES_ENOMEM;
	if (rc == ES_OK) {
		sbuf_reset(&o->clear);
		sbuf_puts(&o->clear, jsondoc_compact(ev));
		if (o->clear.failed) {
			rc = ES_ENOMEM;
			snprintf(err, sizeof err, "out of memory");
		}
	}
	json_object_put(ev);
	if (rc != ES_OK && err[0])
		snprintf(o->open_error, sizeof o->open_error, "%s", err);
	else if (rc == ES_EINTERNAL)
		snprintf(o->open_error, sizeof o->open_error, "a subject key does not unwrap under the master"
			 " key of [privacy] master_key_file (the log names the key)");
	else if (rc == ES_ENOMEM)
		snprintf(o->open_error, sizeof o->open_error, "out of memory");
	else if (rc != ES_OK)
		snprintf(o->open_error, sizeof o->open_error, "reading the subject keys failed: %s",
			 db_last_error(o->keys_db));
	return rc == ES_OK;
}

/* Adds one line (a record of any kind) to what is gathered; a line larger
 * than the buffer goes out on its own, after what is gathered. */
static bool export_put(struct export_out *o, const char *json, size_t len)
{
	if (o->len + len + 1 > EXPORT_BUFFER && !export_flush(o))
		return false;
	if (len + 1 > EXPORT_BUFFER) {
		if (!fdio_write_all(o->fd, json, len) || !fdio_write_all(o->fd, "\n", 1)) {
			o->write_errno = errno ? errno : EIO;
			return false;
		}
		return true;
	}
	memcpy(o->buf + o->len, json, len);
	o->buf[o->len + len] = '\n';
	o->len += len + 1;
	return true;
}

static bool export_key_row(void *arg, const char *json, size_t len)
{
	return export_put(arg, json, len) && !export_interrupted;
}

static bool export_row(void *arg, const char *json, size_t len, const struct feed_cursor *c)
{
	struct export_out *o = arg;

	if (o->keys_db && memmem(json, len, PERSONAL_ENVELOPE_MARK, strlen(PERSONAL_ENVELOPE_MARK))) {
		if (!export_decrypt(o, json, len))
			return false;
		json = o->clear.data;
		len = o->clear.len;
	}
	if (!export_put(o, json, len))
		return false;
	o->gathered++;
	o->gathered_at = *c;
	if (len + 1 > EXPORT_BUFFER) { /* it went out on its own */
		o->written = o->gathered;
		o->written_at = *c;
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

/* The header and the key records, before the first event. */
static enum es_status export_preamble(struct db *db, const struct export_args *a, struct export_out *o,
				      int64_t *keys)
{
	struct exportfile_header h = { EXPORTFILE_FORMAT, !a->without_keys && !a->decrypt, a->decrypt };
	char line[128];

	*keys = 0;
	exportfile_header_format(&h, line, sizeof line);
	if (!export_put(o, line, strlen(line)))
		return ES_OK; /* the write error is told */
	if (!h.keys)
		return ES_OK;
	return keytransfer_export(db, a->all_tenants, a->have_tenant ? a->tenant : NULL, export_key_row, o, keys);
}

/* The loop: batches until one comes back short, or an interruption. */
static int export_run(struct db *db, const struct export_args *a, struct export_out *o, int64_t *keys)
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
	if (rc == ES_OK)
		rc = export_preamble(db, a, o, keys);
	if (rc == ES_OK && (o->write_errno || export_interrupted))
		return CTL_EXIT_FAILURE;
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
		if (o->open_error[0]) {
			progress_finish(&o->bar, o->gathered);
			ctl_error("cannot decrypt: %s", o->open_error);
			return CTL_EXIT_FAILURE;
		}
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

/* --decrypt: the master key, a session for the keys, and the warning.
 * False after saying why. */
static bool export_decrypt_begin(const struct export_args *a, const struct es_config *cfg,
				 struct export_out *o)
{
	struct masterkey mk;
	char err[512];

	if (!cfg->privacy.master_key_file || !*cfg->privacy.master_key_file) {
		ctl_error("--decrypt needs the master key, and [privacy] master_key_file is not set");
		return false;
	}
	if (masterkey_read(cfg->privacy.master_key_file, &mk, err, sizeof err) != ES_OK) {
		ctl_error("--decrypt needs the master key: %s", err);
		return false;
	}
	masterkey_install(&mk);
	masterkey_wipe(&mk);
	o->keys_db = ctl_db_connect(cfg);
	if (!o->keys_db)
		return false;
	ctl_error("warning: %s will hold personal data in clear: every declared personal field"
		  " decrypted. Keep it as you would the data itself, delete it when done; it cannot"
		  " be imported.", a->output ? a->output : "the output");
	return true;
}

/* The audit record of a decrypted export, whatever its outcome. */
static void export_audit_decrypted(const struct export_args *a, const char *scope, int64_t events, bool ok)
{
	ctl_audit(&(struct admin_action){
		.action = "export_decrypted", .outcome = ok ? "ok" : "failed",
		.tenant = a->have_tenant ? a->tenant : NULL,
		.target = { { "output", a->output ? a->output : "-" }, { "scope", scope } },
		.counts = { { "events", events } } });
}

int cmd_export(const struct ctl *ctl, int argc, char **argv)
{
	struct export_args a;
	struct export_out o = { .fd = -1, .kr = KEYRING_INIT, .clear = SBUF_INIT };
	struct es_config cfg;
	struct sigaction sa, old_int, old_term, old_pipe;
	struct db *db = NULL;
	struct stat st;
	char cursor[FEED_CURSOR_LEN], count[32], scope[64], keys_said[64] = "";
	int64_t started = time_mono_ms(), keys = 0;
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
	if (a.decrypt && !export_decrypt_begin(&a, &cfg, &o))
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
	rc = export_run(db, &a, &o, &keys);
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
	if (!a.without_keys && !a.decrypt) {
		char n[32];

		progress_format_count(keys, n, sizeof n);
		snprintf(keys_said, sizeof keys_said, " and %s subject key%s", n, keys == 1 ? "" : "s");
	}
	if (a.decrypt)
		export_audit_decrypted(&a, export_scope(&a, scope, sizeof scope), o.written, rc == CTL_EXIT_OK);
	fprintf(stderr, "%s event%s%s exported (%s%s) in %.1f s; %s with --after %s\n", count,
		o.written == 1 ? "" : "s", keys_said, export_scope(&a, scope, sizeof scope),
		a.decrypt ? ", decrypted" : "",
		(double)(time_mono_ms() - started) / 1000.0,
		rc == CTL_EXIT_OK ? "later events" : "resume", cursor);
out:
	if (o.fd > STDOUT_FILENO && close(o.fd) != 0 && rc == CTL_EXIT_OK) {
		ctl_error("writing %s failed: %s", a.output, strerror(errno));
		rc = CTL_EXIT_FAILURE;
	}
	free(o.buf);
	keyring_free(&o.kr);
	sbuf_free(&o.clear);
	db_free(o.keys_db);
	masterkey_install(NULL);
	db_free(db);
	config_free(&cfg);
out_args:
	export_types_free(a.types, a.n_types);
	return rc;
}
