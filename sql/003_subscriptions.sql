-- 003_subscriptions.sql - what evstore-runner keeps: one checkpoint per
-- subscription partition, the dead-letter queue of parked events, and the
-- status rows the health routes and `evstorectl subscriptions` read.
--
-- (002 is the snapshots migration.) Never edit this file once released.

-- Where a subscription partition has got to in the global feed: the
-- (transaction_id, position) of the last event it handled, in feed order.
-- An sql subscription advances it in the same transaction as its read
-- model, through evstore.checkpoint_advance below.
CREATE TABLE evstore.checkpoints (
	subscription   text NOT NULL,
	partition      integer NOT NULL DEFAULT 0 CHECK (partition >= 0),
	transaction_id xid8 NOT NULL DEFAULT '0'::xid8,
	position       bigint NOT NULL DEFAULT 0,
	updated_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (subscription, partition)
);

-- Parked events. Columns, for readers (the HTTP routes, evstorectl dlq):
--   id               the DLQ entry, named by `evstorectl dlq retry|resolve ID`
--   subscription, partition   who parked it
--   position, transaction_id, event_id   the event (evstore.events)
--   event_type, aggregate_type, aggregate_id, tenant_id   copied for listing
--   error            the last failure's message (never the event's data)
--   error_class      'permanent' (a data error, `park` from an exec handler,
--                    retries exhausted) or 'transient'
--   attempts         handler attempts so far, the requeued ones included
--   first_failed_at, last_failed_at
--   status           'failed': parked; 'retrying': requeued, the runner
--                    picks it up; 'resolved': handled on a retry, or marked
--                    resolved by an operator (resolved_at set)
CREATE TABLE evstore.dlq (
	id              bigserial PRIMARY KEY,
	subscription    text NOT NULL,
	partition       integer NOT NULL DEFAULT 0,
	position        bigint NOT NULL,
	transaction_id  xid8 NOT NULL,
	event_id        uuid NOT NULL,
	event_type      text NOT NULL,
	aggregate_type  text NOT NULL,
	aggregate_id    uuid NOT NULL,
	tenant_id       uuid,
	error           text NOT NULL DEFAULT '',
	error_class     text NOT NULL DEFAULT 'permanent'
	                CHECK (error_class IN ('permanent', 'transient')),
	attempts        integer NOT NULL DEFAULT 1 CHECK (attempts >= 0),
	first_failed_at timestamptz NOT NULL DEFAULT now(),
	last_failed_at  timestamptz NOT NULL DEFAULT now(),
	status          text NOT NULL DEFAULT 'failed'
	                CHECK (status IN ('failed', 'retrying', 'resolved')),
	resolved_at     timestamptz
);
-- Listing by subscription and status, newest first; the runner's scan for
-- requeued entries; one entry per event and subscription.
CREATE INDEX dlq_subscription_status_idx ON evstore.dlq (subscription, status, id);
CREATE INDEX dlq_retrying_idx ON evstore.dlq (subscription, partition, id) WHERE status = 'retrying';
CREATE UNIQUE INDEX dlq_subscription_event_idx ON evstore.dlq (subscription, event_id);

-- One row per subscription partition, written by the runner that owns it
-- about once a second. Columns, for readers (GET /health, /v1/subscriptions):
--   runner_id          "<hostname>:<pid>" of the owning evstore-runner
--   state              starting | catching_up | live | paused | stopped | error
--                      (catching_up: the last page read was full; live: the
--                      runner is at the horizon; error: stopped on a failure
--                      with continue_on_error = false; stopped: shut down
--                      or removed from the configuration)
--   events_processed   events handled since the runner started the partition
--   events_failed      handler failures (every failed attempt) since then
--   error_rate_per_min failed attempts over the last minute
--   lag_events         events behind: the newest position minus the
--                      checkpoint's (an estimate: rolled-back positions and
--                      filtered event types count too)
--   last_error         the last failure's message, NULL when none
--   last_event_at      when the last event was handled
--   started_at         when this runner started the partition
--   heartbeat_at       the last write; older than [health] runner_stale_after
--                      means the runner is gone
CREATE TABLE evstore.subscription_status (
	subscription       text NOT NULL,
	partition          integer NOT NULL DEFAULT 0,
	runner_id          text NOT NULL,
	state              text NOT NULL
	                   CHECK (state IN ('starting', 'catching_up', 'live', 'paused', 'stopped', 'error')),
	events_processed   bigint NOT NULL DEFAULT 0,
	events_failed      bigint NOT NULL DEFAULT 0,
	error_rate_per_min double precision NOT NULL DEFAULT 0,
	lag_events         bigint NOT NULL DEFAULT 0,
	last_error         text,
	last_event_at      timestamptz,
	started_at         timestamptz NOT NULL DEFAULT now(),
	heartbeat_at       timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (subscription, partition)
);

-- Moves a checkpoint from (p_old_tx, p_old_pos) to (p_new_tx, p_new_pos).
-- Raises SQLSTATE EVCKP when the stored checkpoint is not the one the
-- caller started from (another runner moved it, or an operator rebuilt the
-- subscription): the caller's transaction then rolls back, read-model
-- changes included, so no event is ever applied twice.
CREATE FUNCTION evstore.checkpoint_advance(p_subscription text, p_partition integer,
					   p_old_tx xid8, p_old_pos bigint,
					   p_new_tx xid8, p_new_pos bigint)
RETURNS void
LANGUAGE plpgsql
-- Plan each statement for the call at hand: the workers keep their
-- connections for days, and a generic plan made while a table was small
-- (a sequential scan) would otherwise stay cached as the table grows.
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
	UPDATE evstore.checkpoints
	SET transaction_id = p_new_tx, position = p_new_pos, updated_at = now()
	WHERE subscription = p_subscription AND partition = p_partition
	  AND transaction_id = p_old_tx AND position = p_old_pos;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'checkpoint of %/% moved under this runner', p_subscription, p_partition
			USING ERRCODE = 'EVCKP';
	END IF;
END
$$;
