/* replica.c - which database serves a read (see replica.h). */
#include "buildconf.h"
#include "fcgi/replica.h"

#include <poll.h>
#include <stdint.h>

#include "base/timefmt.h"
#include "fcgi/app.h"
#include "fcgi/http.h"
#include "fcgi/routes.h"
#include "pg/db.h"
#include "pg/walpos.h"

/* How often a read that waits for the standby asks again. */
#define REPLAY_POLL_MS 5

void replica_token_header(struct route_ctx *ctx)
{
	char text[WALPOS_TEXT_MAX];
	uint64_t pos;

	if (!ctx->app->read_db || walpos_current(ctx->app->db, &pos) != ES_OK)
		return;
	walpos_format(pos, text);
	http_resp_header(ctx->resp, "Evstore-Consistency", "%s", text);
}

/* True when the standby has replayed past pos within the wait. */
static bool standby_caught_up(struct app *app, uint64_t pos)
{
	int64_t deadline = time_mono_ms() + app->cfg.database.read_wait_ms;

	for (;;) {
		bool reached = false;

		if (walpos_replayed(app->read_db, pos, &reached) != ES_OK)
			return false;
		if (reached)
			return true;
		if (time_mono_ms() >= deadline)
			return false;
		poll(NULL, 0, REPLAY_POLL_MS);
	}
}

bool replica_failed_over(struct route_ctx *ctx, struct db **db, enum es_status st)
{
	struct app *app = ctx->app;

	if (st != ES_EUNAVAILABLE || !app->read_db || *db != app->read_db)
		return false;
	http_resp_reset(ctx->resp);
	http_resp_header(ctx->resp, "Evstore-Read-From", "primary");
	*db = app->db;
	return db_ensure(app->db) == ES_OK;
}

struct db *replica_for_read(struct route_ctx *ctx)
{
	struct app *app = ctx->app;
	const char *token = ctx->req->consistency;
	uint64_t pos = 0;
	bool standby;

	if (token && !walpos_parse(token, &pos)) {
		http_reject(ctx->resp, HTTP_PROBLEM_INVALID_REQUEST, NULL,
			    "Evstore-Consistency must be a token a write answered with (such as 16/B374D848)");
		return NULL;
	}
	if (!app->read_db)
		return app->db;
	standby = db_ensure(app->read_db) == ES_OK && (!token || standby_caught_up(app, pos));
	http_resp_header(ctx->resp, "Evstore-Read-From", "%s", standby ? "replica" : "primary");
	return standby ? app->read_db : app->db;
}
