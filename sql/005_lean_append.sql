-- 005_lean_append.sql - appends no longer NOTIFY inside their transaction,
-- and filtered feed pages of one tenant get their own index.
--
-- NOTIFY at commit takes a database-wide lock in PreCommit_Notify and holds
-- it through the commit's WAL flush, so every notifying commit waited for
-- the previous one's fsync and group commit was lost: appends ran at half
-- the rate of the same transaction without it. Waking feed long-polls and
-- runners is the programs' job now, after the commit.
--
-- The indexes on evstore.events and the queries that need them:
--   events_pkey (position)          the runner's reads of parked events by
--                                   position (feed_read_positions), a
--                                   checkpoint's start (feed_cursor_before),
--                                   the newest position (lag in status rows)
--   events_event_id_key             idempotency: a request's event ids are
--     (tenant_id, event_id)         unique per tenant; an append inserts
--                                   optimistically and meets a stored id here
--   events_stream_version_key       stream reads, folding an aggregate, and
--     (tenant_id, aggregate_type,   the backstop behind the streams row: no
--      aggregate_id, version)       two events share a version
--   events_feed_idx                 the feed of every tenant (the runner, an
--     (transaction_id, position)    admin's GET /v1/events)
--   events_tenant_feed_idx          one tenant's feed (GET /v1/events)
--     (tenant_id, transaction_id, position)
--   events_tenant_type_feed_idx     one tenant's feed filtered by aggregate
--     (tenant_id, aggregate_type,   type (GET /v1/events?aggregate_type=X):
--      transaction_id, position)    without it a page of a type that is 1% of
--                                   the events reads 100 times its length
-- evstore.streams has its primary key only: every append's compare-and-set
-- and every stream read find the row by it.
--
-- Building the new index blocks appends while it runs (a migration is one
-- transaction, so not CONCURRENTLY): on a large store, plan the upgrade
-- for a quiet moment. Never edit this file once released.

CREATE INDEX events_tenant_type_feed_idx
	ON evstore.events (tenant_id, aggregate_type, transaction_id, position);

-- As in 001, without the NOTIFY. The FastCGI workers append through their
-- own prepared statement (src/store/store.c) and call this function only
-- when that statement met a stored event id or a failed compare-and-set; it
-- remains the append for SQL callers, checking the ids first so that a
-- caller's own transaction is never aborted by a unique violation.
-- CREATE OR REPLACE keeps the function's owner and grants.
CREATE OR REPLACE FUNCTION evstore.append(p_tenant_id uuid, p_aggregate_type text, p_aggregate_id uuid,
					  p_expect text, p_expected_version bigint, p_actor_id text,
					  p_events jsonb)
RETURNS TABLE (result text, stream_version bigint, appended_event_id uuid,
	       appended_version bigint, appended_position bigint)
LANGUAGE plpgsql
-- Plan each statement for the call at hand: SQL callers keep their
-- connections for days, and a generic plan made while a table was small
-- (a sequential scan) would otherwise stay cached as the table grows.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
	n_events integer;
	old_version bigint;
BEGIN
	IF jsonb_typeof(p_events) IS DISTINCT FROM 'array' OR jsonb_array_length(p_events) = 0 THEN
		RAISE EXCEPTION 'evstore.append: events must be a non-empty array'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p_expect IS NULL OR p_expect NOT IN ('any', 'exact', 'exists')
	   OR (p_expect = 'exact' AND p_expected_version IS NULL) THEN
		RAISE EXCEPTION 'evstore.append: bad expectation'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	n_events := jsonb_array_length(p_events);

	RETURN QUERY SELECT * FROM evstore.append_known(p_tenant_id, p_aggregate_type,
							 p_aggregate_id, p_events);
	IF FOUND THEN
		RETURN;
	END IF;

	-- Compare-and-set on the streams row; old_version stays NULL when the
	-- expectation does not hold.
	IF p_expect = 'any' THEN
		INSERT INTO evstore.streams AS s (tenant_id, aggregate_type, aggregate_id, version)
		VALUES (p_tenant_id, p_aggregate_type, p_aggregate_id, n_events)
		ON CONFLICT (tenant_id, aggregate_type, aggregate_id)
		DO UPDATE SET version = s.version + EXCLUDED.version, updated_at = now()
		RETURNING s.version - n_events INTO old_version;
	ELSIF p_expect = 'exists' THEN
		UPDATE evstore.streams AS s SET version = s.version + n_events, updated_at = now()
		WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
		  AND s.aggregate_id = p_aggregate_id
		RETURNING s.version - n_events INTO old_version;
	ELSIF p_expected_version = 0 THEN
		INSERT INTO evstore.streams AS s (tenant_id, aggregate_type, aggregate_id, version)
		VALUES (p_tenant_id, p_aggregate_type, p_aggregate_id, n_events)
		ON CONFLICT (tenant_id, aggregate_type, aggregate_id) DO NOTHING
		RETURNING 0::bigint INTO old_version;
	ELSE
		UPDATE evstore.streams AS s SET version = s.version + n_events, updated_at = now()
		WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
		  AND s.aggregate_id = p_aggregate_id AND s.version = p_expected_version
		RETURNING s.version - n_events INTO old_version;
	END IF;

	IF old_version IS NULL THEN
		-- The compare-and-set waited for a concurrent writer; if that was
		-- the same request, this one is a replay, not a conflict.
		RETURN QUERY SELECT * FROM evstore.append_known(p_tenant_id, p_aggregate_type,
								 p_aggregate_id, p_events);
		IF FOUND THEN
			RETURN;
		END IF;
		RETURN QUERY
		SELECT 'conflict'::text,
		       COALESCE((SELECT s.version FROM evstore.streams s
				 WHERE s.tenant_id = p_tenant_id AND s.aggregate_type = p_aggregate_type
				   AND s.aggregate_id = p_aggregate_id), 0),
		       NULL::uuid, NULL::bigint, NULL::bigint;
		RETURN;
	END IF;

	RETURN QUERY
	WITH ins AS (
		INSERT INTO evstore.events AS e (tenant_id, event_id, aggregate_type, aggregate_id,
						 version, event_type, actor_id, occurred_at,
						 payload, metadata)
		SELECT p_tenant_id, (x.ev->>'event_id')::uuid, p_aggregate_type, p_aggregate_id,
		       old_version + x.ord, x.ev->>'event_type', p_actor_id,
		       COALESCE((x.ev->>'occurred_at')::timestamptz, now()),
		       x.ev->'payload',
		       COALESCE(NULLIF(x.ev->'metadata', 'null'::jsonb), '{}'::jsonb)
		FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(ev, ord)
		ORDER BY x.ord
		RETURNING e.event_id, e.version, e.position)
	SELECT 'ok'::text, old_version + n_events, ins.event_id, ins.version, ins.position
	FROM ins ORDER BY ins.version;
END
$$;
