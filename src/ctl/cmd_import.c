/* cmd_import.c - evstorectl import [FILE]: events from JSON Lines (what
 * export writes) into the store, keeping their ids, versions, times, actor,
 * payload and metadata; positions are this store's.
 *
 * Lines are checked here one by one (event_line) and sent in batches, one
 * transaction each (store/import): a batch is written whole or not at all.
 * Importing again is harmless: an event stored already with the same
 * content is skipped. The first line at fault stops the import with its
 * number; the batches before it stay, nothing of its own batch does. */
#include "buildconf.h"

#include <errno.h>
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
#include "base/sbuf.h"
#include "base/timefmt.h"
#include "pg/db.h"
#include "store/event_line.h"
#include "store/import.h"
#include "ctl/commands.h"
#include "ctl/progress.h"

#define IMPORT_BATCH_DEFAULT 10000
#define IMPORT_SEND_BYTES (1 << 20)   /* COPY data gathered before it is sent */

struct import_args {
	const char *path;             /* NULL or "-": stdin */
	int batch;                    /* lines per transaction */
};

/* The import as it goes, and as it ended. */
struct import_summary {
	const char *source;           /* the file's name, "stdin" */
	int64_t lines;                /* lines read (blank ones included) */
	int64_t imported;             /* events written */
	int64_t skipped;              /* lines stored already */
	int64_t committed_lines;      /* lines 1..committed_lines are in */
	int64_t failed_line;          /* the line at fault, 0: none */
	char parse_error[640];        /* a line that is not an event, said after
				       * the batch before it is in */
	bool interrupted;
	double seconds;
};

static volatile sig_atomic_t import_interrupted;

static void import_on_signal(int sig)
{
	(void)sig;
	import_interrupted = 1;
}

/* Returns an exit status, or -1 to go on. */
static int import_parse(int argc, char **argv, struct import_args *a)
{
	static const struct option options[] = {
		{ "batch-size", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	long n;
	int opt;

	memset(a, 0, sizeof *a);
	a->batch = IMPORT_BATCH_DEFAULT;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > 1000000)
				return ctl_usage_error("import", "--batch-size needs a number from 1 to"
						       " 1000000, not '%s'", optarg);
			a->batch = (int)n;
			break;
		case 'h':
			ctl_print_usage(stdout, "import");
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error("import", "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("import", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		a->path = argv[optind++];
	if (optind < argc)
		return ctl_usage_error("import", "unexpected argument '%s'", argv[optind]);
	if (a->path && strcmp(a->path, "-") == 0)
		a->path = NULL;
	return -1;
}

/* A batch of lines. While the one before it runs on the server, a batch
 * is gathered in memory (at most one batch: memory stays flat); otherwise
 * its transaction is open and its rows stream to the COPY as they come. */
struct import_batch {
	bool open;                    /* its transaction and COPY are open */
	bool sent;                    /* its statement is running */
	enum es_status send_status;   /* what import_send said */
	int64_t first_line, last_line;
	int lines;                    /* event lines in it */
	struct sbuf rows;             /* COPY data not sent yet */
};

/* Opens b's transaction and sends what it gathered. False after saying why. */
static bool import_open(struct db *db, struct import_batch *b, struct import_summary *s)
{
	struct import_result res;

	if (import_begin(db, &res) != ES_OK) {
		ctl_error("%s: cannot start a batch at line %" PRId64 ": %s", s->source, b->first_line,
			  res.reason);
		return false;
	}
	b->open = true;
	import_put(db, b->rows.data, b->rows.len);
	sbuf_reset(&b->rows);
	return true;
}

/* Sends b's statement; the session is busy until import_done(b). */
static bool import_start(struct db *db, struct import_batch *b, struct import_summary *s)
{
	if (!b->open && !import_open(db, b, s))
		return false;
	import_put(db, b->rows.data, b->rows.len);
	sbuf_reset(&b->rows);
	b->send_status = import_send(db);
	b->open = false;
	b->sent = true;
	return true;
}

/* Waits for b, sent, to commit. False after saying why (rolled back). */
static bool import_done(struct db *db, struct import_batch *b, struct import_summary *s)
{
	struct import_result res;
	enum es_status rc;

	b->sent = false;
	rc = import_wait(db, b->send_status, &res);
	if (rc == ES_OK && !res.refused) {
		s->imported += res.inserted;
		s->skipped += res.skipped;
		s->committed_lines = b->last_line;
		return true;
	}
	if (rc == ES_OK) {
		s->failed_line = res.line;
		ctl_error("%s:%" PRId64 ": %s", s->source, res.line, res.reason);
	} else if (rc == ES_EDUPLICATE) {
		ctl_error("%s: lines %" PRId64 "-%" PRId64 ": the store changed under the import (%s);"
			  " import again", s->source, b->first_line, b->last_line, res.reason);
	} else {
		ctl_error("%s: lines %" PRId64 "-%" PRId64 " failed: %s", s->source, b->first_line,
			  b->last_line, res.reason);
	}
	return false;
}

/* Adds one line to cur, which streams when no batch is running. False
 * after saying why. */
static bool import_line(struct db *db, struct import_batch *cur, bool busy, struct import_summary *s,
			const char *line, size_t len)
{
	struct event_line ev;
	char err[512];

	if (event_line_parse(line, len, &ev, err, sizeof err) != ES_OK) {
		event_line_free(&ev);
		s->failed_line = s->lines;
		snprintf(s->parse_error, sizeof s->parse_error, "%s:%" PRId64 ": %s", s->source, s->lines, err);
		return false;
	}
	if (cur->lines == 0)
		cur->first_line = s->lines;
	cur->last_line = s->lines;
	event_line_copy_row(&ev, s->lines, &cur->rows);
	event_line_free(&ev);
	cur->lines++;
	if (cur->rows.failed) {
		ctl_error("out of memory");
		return false;
	}
	if (!busy && !cur->open && !import_open(db, cur, s))
		return false;
	if (cur->open && cur->rows.len >= IMPORT_SEND_BYTES) {
		import_put(db, cur->rows.data, cur->rows.len);
		sbuf_reset(&cur->rows);
	}
	return true;
}

/* Reads every line; returns true when all of them are in. Two batches at
 * a time: the server checks and writes one while this reads the next. */
static bool import_run(struct db *db, FILE *in, const struct import_args *a, struct import_summary *s)
{
	struct import_batch batches[2] = { { .rows = SBUF_INIT }, { .rows = SBUF_INIT } };
	struct import_batch *cur = &batches[0], *prev = &batches[1];
	struct progress bar;
	struct stat st;
	int64_t size = 0, bytes = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	bool ok = true;

	/* A file's size tells how far along the import is, for the ETA. */
	if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode))
		size = st.st_size;
	progress_start(&bar, "import", 0);
	while (ok && !import_interrupted && (len = getline(&line, &cap, in)) >= 0) {
		int64_t seen;

		bytes += len;
		s->lines++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0)
			continue; /* a blank line */
		ok = import_line(db, cur, prev->sent, s, line, (size_t)len);
		if (ok && cur->lines >= a->batch) {
			struct import_batch *t;

			if (prev->sent)
				ok = import_done(db, prev, s);
			if (ok)
				ok = import_start(db, cur, s);
			t = prev;
			prev = cur;
			cur = t;
			cur->lines = 0;
		}
		seen = s->imported + s->skipped + prev->lines * prev->sent + cur->lines;
		if (size > 0 && bytes > 0) /* events expected, from the bytes read so far */
			bar.total = (int64_t)((double)size * (double)seen / (double)bytes);
		progress_update(&bar, seen);
	}
	if (ok && ferror(in)) {
		ctl_error("reading %s failed: %s", s->source, strerror(errno));
		ok = false;
	}
	if (ok && import_interrupted) {
		s->interrupted = true;
		ok = false;
	}
	/* The batch in flight ends first: its lines come before the rest. */
	if (prev->sent && !import_done(db, prev, s))
		ok = false;
	else if (s->parse_error[0])
		ctl_error("%s", s->parse_error);
	if (ok && cur->lines > 0)
		ok = import_start(db, cur, s) && import_done(db, cur, s);
	else if (cur->open)
		import_abort(db, "stopped by evstorectl import");
	bar.total = 0;
	progress_finish(&bar, s->imported + s->skipped);
	free(line);
	sbuf_free(&batches[0].rows);
	sbuf_free(&batches[1].rows);
	return ok;
}

/* The one place where the import's outcome is known, whichever way it
 * ended: what was read, written and skipped, and where it stopped. */
static void import_report(const struct import_summary *s, bool ok)
{
	char imported[32], skipped[32];

	progress_format_count(s->imported, imported, sizeof imported);
	progress_format_count(s->skipped, skipped, sizeof skipped);
	if (ok) {
		printf("%s event%s imported, %s stored already and skipped, from %s in %.1f s\n",
		       imported, s->imported == 1 ? "" : "s", skipped, s->source, s->seconds);
		return;
	}
	if (s->interrupted)
		ctl_error("interrupted");
	if (s->committed_lines == 0) {
		fprintf(stderr, "Nothing of %s is imported.\n", s->source);
		return;
	}
	fprintf(stderr, "Lines 1-%" PRId64 " of %s are imported (%s event%s written, %s skipped),"
		" nothing after them. Importing the file again skips what is stored.\n",
		s->committed_lines, s->source, imported, s->imported == 1 ? "" : "s", skipped);
}

int cmd_import(const struct ctl *ctl, int argc, char **argv)
{
	struct import_args a;
	struct import_summary s = { 0 };
	struct es_config cfg;
	struct sigaction sa, old_int, old_term;
	struct db *db = NULL;
	FILE *in = stdin;
	int64_t started = time_mono_ms();
	bool ok;
	int rc;

	rc = import_parse(argc, argv, &a);
	if (rc >= 0)
		return rc;
	if (!ctl_load_config(ctl, &cfg))
		return CTL_EXIT_FAILURE;
	rc = CTL_EXIT_FAILURE;
	s.source = a.path ? a.path : "stdin";
	if (a.path && !(in = fopen(a.path, "re"))) {
		ctl_error("cannot open %s: %s", a.path, strerror(errno));
		in = NULL;
		goto out;
	}
	db = ctl_db_connect(&cfg);
	if (!db)
		goto out;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = import_on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	ok = import_run(db, in, &a, &s);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	s.seconds = (double)(time_mono_ms() - started) / 1000.0;
	import_report(&s, ok);
	rc = ok ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
out:
	if (in && in != stdin)
		fclose(in);
	db_free(db);
	config_free(&cfg);
	return rc;
}
