/* waiter.c - the pool's long-poll process (see waiter.h).
 *
 * One loop in poll(2) over: a signalfd (SIGTERM, SIGINT, SIGHUP), the
 * socket tickets arrive on, the eventfd of pokes, the database session
 * (LISTEN, for commits on other hosts), and every parked connection (a
 * waiting one for EOF: the client left; an answered one for POLLOUT until
 * its records are out). Writes never block: an answer is framed whole
 * into the connection's buffer and written as the socket takes it.
 *
 * The waiter also tells the rest of the deployment: a poke means an
 * append committed on this host, so it sends one NOTIFY (at most every
 * ANNOUNCE_INTERVAL_MS, outside any append's transaction) for the waiters
 * of other hosts and for the runners. */
#include "buildconf.h"
#include "fcgi/waiter.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/fcgi_record.h"
#include "fcgi/http.h"
#include "fcgi/park.h"
#include "fcgi/poolstats.h"
#include "fcgi/routes.h"
#include "fcgi/server.h"
#include "pg/db.h"
#include "privacy/masterkey.h"
#include "privacy/view.h"
#include "store/feed.h"
#include "store/store.h"

/* Every parked poll is looked at this often even when nothing was heard:
 * a lost notification costs at most this much. */
#define WAITER_POLL_MS 250
/* At most one NOTIFY per this many milliseconds, however many appends. */
#define ANNOUNCE_INTERVAL_MS 5
/* On stop, answered connections get this long to take their answers. */
#define STOP_FLUSH_MS 3000
/* Descriptors kept for the process itself (database, sockets, logs). */
#define FD_RESERVE 32

struct parked {
	struct park_ticket t;
	int fd;
	bool answered;             /* out holds the whole answer */
	bool looked;               /* looked at in the current round */
	struct sbuf out;           /* FastCGI records of the answer */
	size_t sent;
};

struct waiter {
	struct app *app;
	int sock, poke_fd, sigfd;
	struct parked *v;
	size_t n, cap;
	size_t budget;             /* most polls parked at once */
	bool look;                 /* look at the parked polls now */
	bool announce;             /* a commit to tell the others about */
	bool stopping;
	int64_t looked_ms, announced_ms, stop_deadline_ms, over_budget_logged_ms;
	unsigned long over_budget;
};

/* --- answering ------------------------------------------------------------ */

static bool frame_write(void *ctx, const char *buf, size_t len)
{
	struct parked *p = ctx;

	fcgi_record_stdout(&p->out, p->t.fcgi_id, buf, len);
	return !p->out.failed;
}

/* Frames the reply in resp for p and starts writing it; counts and logs
 * the request as its worker would have. */
static void answer(struct waiter *w, struct parked *p, struct http_resp *resp)
{
	struct http_io io = { .write = frame_write, .ctx = p };
	struct http_req req;

	memset(&req, 0, sizeof req);
	memcpy(req.request_id, p->t.request_id, sizeof req.request_id);
	req.io = &io;
	if (p->t.headers)
		sbuf_puts(&resp->headers, p->t.headers);
	(void)http_resp_write(resp, &req);
	fcgi_record_end(&p->out, p->t.fcgi_id, 0);
	p->answered = true;
	poolstats_record_request(w->app->pool, w->app->pool_slot, routes_index("GET", "/v1/events"),
				 "GET", resp->status, app_mono_usec() - p->t.started_us);
	app_log_request(p->t.request_id, "GET", "/v1/events", resp->status, p->t.started_us,
			p->t.traceparent);
}

static void answer_page(struct waiter *w, struct parked *p, const struct sbuf *events,
			const struct feed_cursor *next)
{
	struct http_resp resp;

	http_resp_init(&resp, w->app->cfg.http.retry_after);
	feed_reply_page(&resp, events, next);
	answer(w, p, &resp);
	http_resp_free(&resp);
}

static void answer_status(struct waiter *w, struct parked *p, enum es_status st)
{
	struct http_resp resp;

	http_resp_init(&resp, w->app->cfg.http.retry_after);
	http_reply_status(&resp, st, st == ES_EINVAL ? "the feed query was refused" : NULL);
	answer(w, p, &resp);
	http_resp_free(&resp);
}

/* --- the parked polls ------------------------------------------------------ */

static void drop(struct waiter *w, size_t i)
{
	struct parked *p = &w->v[i];

	close(p->fd);
	park_ticket_free(&p->t);
	sbuf_free(&p->out);
	w->v[i] = w->v[--w->n];
}

static bool add(struct waiter *w, const struct park_ticket *t, int fd)
{
	struct parked *p;
	int fl = fcntl(fd, F_GETFL);

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct parked *v = realloc(w->v, cap * sizeof *v);

		if (!v)
			return false;
		w->v = v;
		w->cap = cap;
	}
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return false;
	p = &w->v[w->n++];
	memset(p, 0, sizeof *p);
	p->t = *t;
	p->fd = fd;
	return true;
}

/* Writes what the socket takes; true when p is finished with (all sent, or
 * the peer is gone). */
static bool flush(struct parked *p)
{
	while (p->sent < p->out.len) {
		ssize_t n = write(p->fd, p->out.data + p->sent, p->out.len - p->sent);

		if (n > 0) {
			p->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
	}
	return true;
}

/* Reads and drops what the web server sent after the request (the empty
 * FCGI_STDIN record; nothing else comes before the answer). Leaving it
 * unread would make close() reset a TCP connection. false at EOF or on an
 * error: the client went away, and the web server with it. */
static bool discard_input(int fd)
{
	char buf[512];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
}

/* The personal data of a page as the poll's token may see it (every poll of
 * a group has the same view). */
static enum es_status personal_view(struct db *db, const struct park_ticket *t, struct sbuf *events,
				    const char *key_epoch)
{
	char err[400] = "";
	enum es_status rc = view_page(db, events, t->personal_clear ? PERSONAL_CLEAR : PERSONAL_REDACTED,
				      key_epoch, err, sizeof err);

	if (rc == ES_EINTERNAL)
		log_kv(LOG_ERR, "personal_data_unreadable", "req_id", t->request_id, "detail", err,
		       (const char *)NULL);
	return rc;
}

/* One round: every waiting poll whose page has events, or whose time is
 * up, is answered. Polls asking for the same page share its query. */
static void look(struct waiter *w)
{
	struct db *db = w->app->db;
	int64_t now = time_mono_ms();
	struct sbuf events = SBUF_INIT;
	enum es_status ready = db_ensure(db);

	w->look = false;
	w->looked_ms = now;
	for (size_t i = 0; i < w->n; i++)
		w->v[i].looked = w->v[i].answered;
	for (size_t i = 0; i < w->n; i++) {
		struct feed_cursor next;
		char epoch[UUIDTEXT_LEN] = "";
		size_t count = 0;
		enum es_status st = ready;

		if (w->v[i].looked)
			continue;
		sbuf_reset(&events);
		if (st == ES_OK) {
			struct feed_request q = w->v[i].t.q;

			q.key_epoch = masterkey_current() != NULL; /* as route_feed_read asks */
			st = feed_read_json(db, &q, &events, &count, &next, epoch);
		}
		if (st == ES_OK && count > 0)
			st = personal_view(db, &w->v[i].t, &events, epoch);
		for (size_t j = i; j < w->n; j++) {
			struct parked *p = &w->v[j];

			if (p->looked || !park_same_query(&w->v[i].t, &p->t))
				continue;
			p->looked = true;
			if (st != ES_OK)
				answer_status(w, p, st);
			else if (count > 0 || w->stopping || now >= p->t.deadline_ms)
				answer_page(w, p, &events, &next);
		}
	}
	sbuf_free(&events);
	/* Start the answers now; POLLOUT finishes what the sockets did not take. */
	for (size_t i = 0; i < w->n;)
		if (w->v[i].answered && w->v[i].sent == 0 && flush(&w->v[i]))
			drop(w, i);
		else
			i++;
}

static void take_tickets(struct waiter *w)
{
	struct park_ticket t;
	int fd;
	enum park_msg m;

	/* Bounded, so that a flood of tickets cannot keep the loop from
	 * answering. */
	for (int k = 0; k < 256 && (m = park_recv(w->sock, &t, &fd)) != PARK_NONE; k++) {
		if (m != PARK_TICKET) {
			log_kv(LOG_WARNING, "waiter_bad_ticket", (const char *)NULL);
			continue;
		}
		if (w->n >= w->budget) {
			/* Over budget: answered at once with the page as it is (empty),
			 * so the client polls again; never a worker held. */
			t.deadline_ms = 0;
			w->over_budget++;
		}
		if (!add(w, &t, fd)) {
			log_kv(LOG_ERR, "waiter_out_of_memory", (const char *)NULL);
			park_ticket_free(&t);
			close(fd);
			continue;
		}
		/* Something may have committed between the worker's read and now. */
		w->look = true;
	}
}

static void log_over_budget(struct waiter *w, int64_t now)
{
	char n[24], budget[24];

	if (w->over_budget == 0 || now - w->over_budget_logged_ms < 60000)
		return;
	snprintf(n, sizeof n, "%lu", w->over_budget);
	snprintf(budget, sizeof budget, "%zu", w->budget);
	log_kv(LOG_WARNING, "waiter_over_budget", "answered_at_once", n, "max_waiters", budget,
	       (const char *)NULL);
	w->over_budget = 0;
	w->over_budget_logged_ms = now;
}

/* --- the loop -------------------------------------------------------------- */

static size_t budget(const struct app *app);

static void take_signals(struct waiter *w)
{
	struct signalfd_siginfo si;

	while (read(w->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			server_reload(w->app);
			w->budget = budget(w->app);
			continue;
		}
		if (!w->stopping) {
			w->stopping = true;
			w->look = true;
			w->stop_deadline_ms = time_mono_ms() + STOP_FLUSH_MS;
		}
	}
}

/* How long poll() may sleep: until the next round, deadline or NOTIFY. */
static int sleep_ms(const struct waiter *w, int64_t now)
{
	int64_t until = w->looked_ms + WAITER_POLL_MS;

	if (w->look)
		return 0;
	for (size_t i = 0; i < w->n; i++)
		if (!w->v[i].answered && w->v[i].t.deadline_ms < until)
			until = w->v[i].t.deadline_ms;
	if (w->announce && w->announced_ms + ANNOUNCE_INTERVAL_MS < until)
		until = w->announced_ms + ANNOUNCE_INTERVAL_MS;
	if (w->stopping && w->stop_deadline_ms < until)
		until = w->stop_deadline_ms;
	return until <= now ? 0 : (int)(until - now);
}

enum { FD_SIG, FD_SOCK, FD_POKE, FD_DB, FD_FIXED };

static int loop(struct waiter *w)
{
	struct pollfd *fds = NULL;
	size_t fds_cap = 0;

	for (;;) {
		int64_t now = time_mono_ms();
		size_t nfds = FD_FIXED;
		int dbfd;

		if (w->stopping && (w->n == 0 || now >= w->stop_deadline_ms))
			break;
		if (fds_cap < w->n + FD_FIXED) {
			struct pollfd *f = realloc(fds, (w->n + FD_FIXED) * sizeof *f);

			if (!f) {
				log_kv(LOG_ERR, "waiter_out_of_memory", (const char *)NULL);
				break;
			}
			fds = f;
			fds_cap = w->n + FD_FIXED;
		}
		dbfd = db_socket(w->app->db);
		fds[FD_SIG] = (struct pollfd){ .fd = w->sigfd, .events = POLLIN };
		fds[FD_SOCK] = (struct pollfd){ .fd = w->stopping ? -1 : w->sock, .events = POLLIN };
		fds[FD_POKE] = (struct pollfd){ .fd = w->poke_fd, .events = POLLIN };
		fds[FD_DB] = (struct pollfd){ .fd = dbfd, .events = POLLIN };
		for (size_t i = 0; i < w->n; i++)
			fds[nfds++] = (struct pollfd){
				.fd = w->v[i].fd, .events = (short)(POLLIN | (w->v[i].answered ? POLLOUT : 0))
			};
		if (poll(fds, nfds, sleep_ms(w, now)) < 0 && errno != EINTR) {
			log_kv(LOG_ERR, "waiter_poll_failed", "error", strerror(errno), (const char *)NULL);
			break;
		}

		if (fds[FD_SIG].revents & POLLIN)
			take_signals(w);
		if (fds[FD_POKE].revents & POLLIN && park_take_pokes(w->poke_fd)) {
			w->look = true;
			w->announce = true;
		}
		if (dbfd >= 0 && (fds[FD_DB].revents & (POLLIN | POLLERR | POLLHUP)) &&
		    db_wait_notify(w->app->db, 0))
			w->look = true;
		/* Connections, from the last: drop() moves the last one into i. */
		for (size_t k = nfds; k-- > FD_FIXED;) {
			size_t i = k - FD_FIXED;
			struct parked *p = &w->v[i];

			if (i >= w->n || p->fd != fds[k].fd || !fds[k].revents)
				continue;
			if ((fds[k].revents & (POLLIN | POLLHUP | POLLERR)) && !discard_input(p->fd))
				drop(w, i);
			else if ((fds[k].revents & POLLOUT) && p->answered && flush(p))
				drop(w, i);
		}
		if (fds[FD_SOCK].revents & POLLIN)
			take_tickets(w);

		now = time_mono_ms();
		if (w->announce && now - w->announced_ms >= ANNOUNCE_INTERVAL_MS) {
			store_announce_commit(w->app->db);
			w->announce = false;
			w->announced_ms = now;
		}
		if (w->look || now - w->looked_ms >= WAITER_POLL_MS)
			look(w);
		else
			for (size_t i = 0; i < w->n; i++)
				if (!w->v[i].answered && now >= w->v[i].t.deadline_ms) {
					look(w);
					break;
				}
		log_over_budget(w, now);
		poolstats_set_waiters(w->app->pool, (int)w->n);
	}
	free(fds);
	return 0;
}

/* The budget: [http] max_waiters, and no more than the descriptors allow
 * (the soft limit is raised to the hard one first). */
static size_t budget(const struct app *app)
{
	struct rlimit rl;
	size_t max = (size_t)app->cfg.http.max_waiters;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max + FD_RESERVE)
			max = rl.rlim_cur > 2 * FD_RESERVE ? (size_t)rl.rlim_cur - FD_RESERVE : FD_RESERVE;
	}
	return max;
}

int waiter_run(struct app *app, int sock, int poke_fd)
{
	struct waiter w;
	sigset_t set;
	char n[24];
	int rc;

	memset(&w, 0, sizeof w);
	w.app = app;
	w.sock = sock;
	w.poke_fd = poke_fd;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	w.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (w.sigfd < 0 || (!app->db && !app_open_db(app))) {
		log_kv(LOG_ERR, "waiter_start_failed", "error", strerror(errno), (const char *)NULL);
		if (w.sigfd >= 0)
			close(w.sigfd);
		return 1;
	}
	db_set_application_name(app->db, "evstore-fcgi waiter");
	/* LISTEN now and after every reconnect (db.c); if the database is away
	 * the rounds every WAITER_POLL_MS find the events. */
	if (db_listen(app->db, STORE_NOTIFY_CHANNEL) == ES_ENOMEM)
		log_kv(LOG_ERR, "waiter_out_of_memory", (const char *)NULL);
	w.budget = budget(app);
	snprintf(n, sizeof n, "%zu", w.budget);
	log_kv(LOG_INFO, "waiter_started", "max_waiters", n, (const char *)NULL);

	rc = loop(&w);

	while (w.n > 0)
		drop(&w, w.n - 1);
	free(w.v);
	close(w.sigfd);
	return rc;
}
