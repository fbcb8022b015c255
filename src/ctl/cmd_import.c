/* cmd_import.c - evstorectl import [FILE]: events from JSON Lines (what
 * export writes) into the store, keeping their ids, versions, times, actor,
 * payload and metadata; positions are this store's.
 *
 * Lines are checked here one by one (event_line) and sent in batches, one
 * transaction each (store/import): a batch is written whole or not at all.
 * Importing again is harmless: an event stored already with the same
 * content is skipped. The first line at fault stops the import with its
 * number; the batches before it stay, nothing of its own batch does.
 *
 * An export's header and its subject key records (ctl/exportfile.h) come
 * before its events: the keys are written in a transaction of their own
 * (privacy/keytransfer) before the first event after them, keeping their
 * key ids, so the events' envelopes open here as they did there. A
 * decrypted export is refused at its header: its personal fields are in
 * clear, and stored so they would be plaintext at rest. Events whose
 * envelopes name a key this store does not hold, after all, are told
 * with a warning and their count: they are stored (history is kept whole)
 * but read as a problem until their keys are imported. */
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
#include "privacy/keytransfer.h"
#include "privacy/masterkey.h"
#include "ctl/commands.h"
#include "ctl/exportfile.h"
#include "ctl/progress.h"

#define IMPORT_BATCH_DEFAULT 10000
#define IMPORT_SEND_BYTES (1 << 20)   /* COPY data gathered before it is sent */
#define IMPORT_MISSING_CHUNK 10000    /* key ids asked about at a time */
#define IMPORT_DECRYPTED_REFUSED \
	"a decrypted export (export --decrypt) holds personal data in clear, which the store keeps" \
	" only sealed: it cannot be imported. Import an export made without --decrypt."

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
	int64_t key_records;          /* key records read */
	struct keytransfer_result keys; /* what their groups did, added up */
	int64_t keys_missing;         /* keys named by envelopes, held nowhere */
	int64_t keys_missing_events;  /* the events naming them */
	int64_t key_missing_example;
	char master_id[17];           /* this configuration's master key, "": none */
	int64_t keys_other_master;    /* live keys wrapped by another master key */
	char other_master[72];        /* the first of them */
};

/* The key ids that the file's envelopes name, and in how many events:
 * an open-addressing table (ids are >= 1; 0 is a free slot). */
struct envelope_keys {
	struct envelope_key { int64_t id, events, last_line; } *slots;
	size_t n, cap;
	int64_t line;                 /* the line being scanned */
	bool failed;
};

static size_t envelope_keys_slot(const struct envelope_key *slots, size_t cap, int64_t id)
{
	size_t i;

	for (i = (size_t)id * 0x9E3779B97F4A7C15u % cap; slots[i].id && slots[i].id != id; i = (i + 1) % cap)
		;
	return i;
}

static bool envelope_keys_add(void *arg, int64_t id)
{
	struct envelope_keys *t = arg;
	size_t i;

	if (2 * (t->n + 1) > t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct envelope_key *grown = calloc(cap, sizeof *grown);

		if (!grown) {
			t->failed = true;
			return false;
		}
		for (size_t j = 0; j < t->cap; j++)
			if (t->slots[j].id)
				grown[envelope_keys_slot(grown, cap, t->slots[j].id)] = t->slots[j];
		free(t->slots);
		t->slots = grown;
		t->cap = cap;
	}
	i = envelope_keys_slot(t->slots, t->cap, id);
	if (!t->slots[i].id) {
		t->slots[i].id = id;
		t->n++;
	}
	if (t->slots[i].last_line != t->line) {
		t->slots[i].events++;
		t->slots[i].last_line = t->line;
	}
	return true;
}

/* A group of key records, written in its own transaction. */
struct key_group {
	bool open;                    /* its transaction and COPY are open */
	int64_t first_line, last_line;
	struct sbuf rows;             /* COPY data not sent yet */
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
		if (strcmp(err, "unknown field \"" EXPORTFILE_DECRYPTED_MEMBER "\"") == 0)
			snprintf(err, sizeof err, "%s", IMPORT_DECRYPTED_REFUSED);
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

/* Writes the key group's records. False after saying why. */
static bool import_keys_done(struct db *db, struct key_group *g, struct import_summary *s)
{
	struct keytransfer_result res;
	enum es_status rc;

	keytransfer_put(db, g->rows.data, g->rows.len);
	sbuf_reset(&g->rows);
	g->open = false;
	rc = keytransfer_finish(db, &res);
	if (rc == ES_OK && !res.refused) {
		s->keys.inserted += res.inserted;
		s->keys.same += res.same;
		s->keys.erased += res.erased;
		s->keys.kept_erased += res.kept_erased;
		s->committed_lines = g->last_line;
		return true;
	}
	if (rc == ES_OK) {
		s->failed_line = res.line;
		ctl_error("%s:%" PRId64 ": %s", s->source, res.line, res.reason);
	} else {
		ctl_error("%s: the subject keys of lines %" PRId64 "-%" PRId64 " failed: %s", s->source,
			  g->first_line, g->last_line, res.reason);
	}
	return false;
}

/* Adds one key record to the key group, after the events read before it
 * are in. False after saying why. */
static bool import_key_line(struct db *db, struct import_batch *cur, struct import_batch *prev,
			    struct key_group *g, struct import_summary *s, const char *line, size_t len)
{
	struct keytransfer_line k;
	struct keytransfer_result res;
	char err[512];

	if (keytransfer_line_parse(line, len, &k, err, sizeof err) != ES_OK) {
		keytransfer_line_free(&k);
		s->failed_line = s->lines;
		snprintf(s->parse_error, sizeof s->parse_error, "%s:%" PRId64 ": %s", s->source, s->lines, err);
		return false;
	}
	if (!g->open) {
		/* The events before the keys go in first (a file of files). */
		if (prev->sent && !import_done(db, prev, s))
			goto fail;
		if (cur->lines > 0) {
			if (!import_start(db, cur, s) || !import_done(db, cur, s))
				goto fail;
			cur->lines = 0;
		}
		if (keytransfer_begin(db, &res) != ES_OK) {
			ctl_error("%s: cannot start the subject keys at line %" PRId64 ": %s", s->source, s->lines,
				  res.reason);
			goto fail;
		}
		g->open = true;
		g->first_line = s->lines;
	}
	g->last_line = s->lines;
	s->key_records++;
	if (s->master_id[0] && k.wrapped_hex && strcmp(k.master_id, s->master_id) != 0
	    && s->keys_other_master++ == 0)
		snprintf(s->other_master, sizeof s->other_master, "%s", k.master_id);
	keytransfer_copy_row(&k, s->lines, &g->rows);
	keytransfer_line_free(&k);
	if (g->rows.failed) {
		ctl_error("out of memory");
		return false;
	}
	if (g->rows.len >= IMPORT_SEND_BYTES) {
		keytransfer_put(db, g->rows.data, g->rows.len);
		sbuf_reset(&g->rows);
	}
	return true;
fail:
	keytransfer_line_free(&k);
	return false;
}

/* An export's header: a decrypted one is refused. */
static bool import_header(struct import_summary *s, const char *line, size_t len)
{
	struct exportfile_header h;
	char err[512];

	if (!exportfile_header_parse(line, len, &h, err, sizeof err)) {
		s->failed_line = s->lines;
		snprintf(s->parse_error, sizeof s->parse_error, "%s:%" PRId64 ": %s", s->source, s->lines, err);
		return false;
	}
	if (h.decrypted) {
		s->failed_line = s->lines;
		snprintf(s->parse_error, sizeof s->parse_error, "%s:%" PRId64 ": %s", s->source, s->lines,
			 IMPORT_DECRYPTED_REFUSED);
		return false;
	}
	return true;
}

/* Reads every line; returns true when all of them are in. Two batches at
 * a time: the server checks and writes one while this reads the next. */
static bool import_run(struct db *db, FILE *in, const struct import_args *a, struct import_summary *s,
		       struct envelope_keys *named)
{
	struct import_batch batches[2] = { { .rows = SBUF_INIT }, { .rows = SBUF_INIT } };
	struct key_group keys = { .rows = SBUF_INIT };
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
		switch (exportfile_kind(line, (size_t)len)) {
		case EXPORTFILE_HEADER:
			ok = import_header(s, line, (size_t)len);
			continue;
		case EXPORTFILE_KEY:
			ok = import_key_line(db, cur, prev, &keys, s, line, (size_t)len);
			continue;
		case EXPORTFILE_EVENT:
			break;
		}
		if (keys.open && !import_keys_done(db, &keys, s)) {
			ok = false;
			continue;
		}
		named->line = s->lines;
		if (!keytransfer_envelope_ids(line, (size_t)len, envelope_keys_add, named)) {
			ctl_error("out of memory");
			ok = false;
			continue;
		}
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
	if (ok && keys.open)
		ok = import_keys_done(db, &keys, s);
	else if (keys.open)
		keytransfer_abort(db, "stopped by evstorectl import");
	if (ok && cur->lines > 0)
		ok = import_start(db, cur, s) && import_done(db, cur, s);
	else if (cur->open)
		import_abort(db, "stopped by evstorectl import");
	bar.total = 0;
	progress_finish(&bar, s->imported + s->skipped);
	free(line);
	sbuf_free(&batches[0].rows);
	sbuf_free(&batches[1].rows);
	sbuf_free(&keys.rows);
	return ok;
}

/* Which of the keys named finds no row here: counted into s. */
static bool import_check_keys(struct db *db, const struct envelope_keys *named, struct import_summary *s)
{
	int64_t *ids = NULL, *missing = NULL;
	size_t n = 0, n_missing = 0;
	bool ok = true;

	if (named->n == 0)
		return true;
	ids = malloc(named->n * sizeof *ids);
	missing = malloc(IMPORT_MISSING_CHUNK * sizeof *missing);
	if (!ids || !missing) {
		ctl_error("out of memory");
		ok = false;
		goto out;
	}
	for (size_t i = 0; i < named->cap; i++)
		if (named->slots[i].id)
			ids[n++] = named->slots[i].id;
	for (size_t from = 0; ok && from < n; from += IMPORT_MISSING_CHUNK) {
		size_t take = n - from < IMPORT_MISSING_CHUNK ? n - from : IMPORT_MISSING_CHUNK;

		if (keytransfer_missing(db, ids + from, take, missing, &n_missing) != ES_OK) {
			ctl_error("cannot look up the subject keys the events name: %s", db_last_error(db));
			ok = false;
			break;
		}
		for (size_t m = 0; m < n_missing; m++) {
			const struct envelope_key *k = &named->slots[envelope_keys_slot(named->slots, named->cap,
											 missing[m])];

			s->keys_missing++;
			s->keys_missing_events += k->events;
			if (!s->key_missing_example || missing[m] < s->key_missing_example)
				s->key_missing_example = missing[m];
		}
	}
out:
	free(ids);
	free(missing);
	return ok;
}

/* The one place where the import's outcome is known, whichever way it
 * ended: what was read, written and skipped, and where it stopped. */
static void import_report(const struct import_summary *s, bool ok)
{
	char imported[32], skipped[32];

	ctl_audit_import(s->source, s->imported, s->keys.inserted + s->keys.erased, ok);
	progress_format_count(s->imported, imported, sizeof imported);
	progress_format_count(s->skipped, skipped, sizeof skipped);
	if (ok) {
		printf("%s event%s imported, %s stored already and skipped, from %s in %.1f s\n",
		       imported, s->imported == 1 ? "" : "s", skipped, s->source, s->seconds);
		if (s->key_records > 0)
			printf("%" PRId64 " subject key%s imported, %" PRId64 " stored already and skipped,"
			       " %" PRId64 " erased here as in the file, %" PRId64 " kept erased\n",
			       s->keys.inserted, s->keys.inserted == 1 ? "" : "s", s->keys.same, s->keys.erased,
			       s->keys.kept_erased);
		if (s->keys_other_master > 0)
			ctl_error("warning: %" PRId64 " subject key%s of %s %s wrapped by master key %s, not by"
				  " this configuration's (%s): the personal fields under them are read only where"
				  " evstore runs with that master key", s->keys_other_master,
				  s->keys_other_master == 1 ? "" : "s", s->source,
				  s->keys_other_master == 1 ? "is" : "are", s->other_master, s->master_id);
		if (s->keys_missing > 0)
			ctl_error("warning: %" PRId64 " event%s of %s name %" PRId64 " subject key%s that this"
				  " store does not hold (key %" PRId64 " the first), neither in the file nor"
				  " stored before: their personal fields read as a problem until those keys"
				  " are imported (an export with its keys, the default, carries them)",
				  s->keys_missing_events, s->keys_missing_events == 1 ? "" : "s", s->source,
				  s->keys_missing, s->keys_missing == 1 ? "" : "s", s->key_missing_example);
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

/* The fingerprint of the configured master key, to tell keys wrapped by
 * another one; "" when none is set or it cannot be read here (the import
 * itself never needs it). */
static void import_master_id(const struct es_config *cfg, char out[17])
{
	struct masterkey mk;
	char err[512];

	out[0] = '\0';
	if (!cfg->privacy.master_key_file || !*cfg->privacy.master_key_file
	    || masterkey_read(cfg->privacy.master_key_file, &mk, err, sizeof err) != ES_OK)
		return;
	snprintf(out, 17, "%s", mk.id);
	masterkey_wipe(&mk);
}

int cmd_import(const struct ctl *ctl, int argc, char **argv)
{
	struct import_args a;
	struct import_summary s = { 0 };
	struct envelope_keys named = { 0 };
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
	import_master_id(&cfg, s.master_id);
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
	ok = import_run(db, in, &a, &s, &named);
	if (ok)
		ok = import_check_keys(db, &named, &s);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	s.seconds = (double)(time_mono_ms() - started) / 1000.0;
	import_report(&s, ok);
	rc = ok ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
out:
	if (in && in != stdin)
		fclose(in);
	free(named.slots);
	db_free(db);
	config_free(&cfg);
	return rc;
}
