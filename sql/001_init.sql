-- 001_init.sql - the event store: migration bookkeeping, the streams rows
-- that carry optimistic concurrency, the events, the one JSON rendering
-- every reader uses, and the single-round-trip append.
--
-- evstorectl migrate runs this file in one transaction and records its
-- checksum in evstore.schema_migrations. Never edit it once released: add a
-- new numbered file instead.

CREATE SCHEMA IF NOT EXISTS evstore;

CREATE TABLE evstore.schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	checksum   text NOT NULL,            -- md5 of the file's text
	applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per stream. An append is a compare-and-set on this row, and the
-- row lock it takes serialises the writers of one stream. "No tenant" is the
-- nil UUID so that the primary key and ON CONFLICT work without NULLs.
CREATE TABLE evstore.streams (
	tenant_id      uuid NOT NULL,
	aggregate_type text NOT NULL,
	aggregate_id   uuid NOT NULL,
	version        bigint NOT NULL CHECK (version > 0),
	created_at     timestamptz NOT NULL DEFAULT now(),
	updated_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, aggregate_type, aggregate_id)
);

-- transaction_id is the writing transaction: feed readers only go up to the
-- oldest transaction still running, so a late commit is never skipped.
CREATE TABLE evstore.events (
	position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
	tenant_id      uuid NOT NULL,
	event_id       uuid NOT NULL,
	aggregate_type text NOT NULL,
	aggregate_id   uuid NOT NULL,
	version        bigint NOT NULL CHECK (version > 0),
	event_type     text NOT NULL,
	actor_id       text,
	occurred_at    timestamptz NOT NULL,
	recorded_at    timestamptz NOT NULL DEFAULT now(),
	payload        jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
	metadata       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
	-- store.c recognises a racing identical append by this name
	CONSTRAINT events_event_id_key UNIQUE (tenant_id, event_id),
	-- the backstop behind the streams row: no two events share a version
	CONSTRAINT events_stream_version_key UNIQUE (tenant_id, aggregate_type, aggregate_id, version)
);

-- The global feed, all tenants and one tenant.
CREATE INDEX events_feed_idx ON evstore.events (transaction_id, position);
CREATE INDEX events_tenant_feed_idx ON evstore.events (tenant_id, transaction_id, position);

-- The event object every reader returns (stream reads, the feed, the
-- subscription runner): keys in a fixed order, timestamps RFC 3339 in UTC
-- with microseconds, the nil tenant as null. A plain SQL function so that
-- the planner inlines it into the calling query.
CREATE FUNCTION evstore.event_json(e evstore.events) RETURNS json
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT json_build_object(
		'event_id', e.event_id,
		'event_type', e.event_type,
		'aggregate_type', e.aggregate_type,
		'aggregate_id', e.aggregate_id,
		'version', e.version,
		'position', e.position,
		'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		'recorded_at', to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
		'tenant_id', NULLIF(e.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid),
		'actor_id', e.actor_id,
		'payload', e.payload,
		'metadata', e.metadata)
$$;

-- Idempotency for an append: what the store already holds of the request's
-- event ids, within the tenant. No rows: none of them is stored. One
-- 'duplicate' row: an id repeats inside the request, or is stored in another
-- stream or with another type or payload, or stored and new ids are mixed.
-- Otherwise 'replay' rows, one per requested event in request order, with
-- the stored version and position; stream_version is the highest of them.
-- Metadata is not compared: it carries per-request ids.
CREATE FUNCTION evstore.append_known(p_tenant_id uuid, p_aggregate_type text,
				     p_aggregate_id uuid, p_events jsonb)
RETURNS TABLE (result text, stream_version bigint, appended_event_id uuid,
	       appended_version bigint, appended_position bigint)
LANGUAGE plpgsql STABLE
-- Plan each statement for the call at hand: the workers keep their
-- connections for days, and a generic plan made while a table was small
-- (a sequential scan) would otherwise stay cached as the table grows.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
	n_events integer := jsonb_array_length(p_events);
	ids uuid[];
	n_distinct integer;
	n_found integer;
	n_same integer;
BEGIN
	-- Both key columns bound every lookup below, so it costs one index
	-- probe per id however many events the tenant has.
	SELECT array_agg((x.ev->>'event_id')::uuid), count(DISTINCT x.ev->>'event_id')
	INTO ids, n_distinct
	FROM jsonb_array_elements(p_events) AS x(ev);

	SELECT count(*),
	       count(*) FILTER (WHERE e.aggregate_type = p_aggregate_type
				  AND e.aggregate_id = p_aggregate_id
				  AND e.event_type = x.ev->>'event_type'
				  AND e.payload = x.ev->'payload')
	INTO n_found, n_same
	FROM evstore.events e
	JOIN jsonb_array_elements(p_events) AS x(ev) ON (x.ev->>'event_id')::uuid = e.event_id
	WHERE e.tenant_id = p_tenant_id AND e.event_id = ANY (ids);

	IF n_distinct < n_events OR (n_found > 0 AND n_same < n_events) THEN
		RETURN QUERY SELECT 'duplicate'::text, NULL::bigint, NULL::uuid, NULL::bigint, NULL::bigint;
		RETURN;
	END IF;
	IF n_found = 0 THEN
		RETURN;
	END IF;

	RETURN QUERY
	SELECT 'replay'::text, max(e.version) OVER (), e.event_id, e.version, e.position
	FROM evstore.events e
	JOIN jsonb_array_elements(p_events) WITH ORDINALITY AS x(ev, ord)
	  ON (x.ev->>'event_id')::uuid = e.event_id
	WHERE e.tenant_id = p_tenant_id AND e.event_id = ANY (ids)
	ORDER BY x.ord;
END
$$;

-- Appends p_events (a JSON array of {event_id, event_type, payload, metadata,
-- occurred_at}) to one stream in one round trip. p_expect is 'any',
-- 'exact' (p_expected_version; 0: the stream must not exist) or 'exists'.
-- Rows returned, by result:
--   'ok'        one per event in order: stream_version is the new version
--   'replay'    every event id was already stored here with the same type and
--               payload: nothing written (see append_known)
--   'duplicate' one row, nothing written
--   'conflict'  one row, stream_version is the stream's version now (0: none)
-- Two identical requests racing may still end in a unique violation on
-- events_event_id_key for the loser; calling again then answers 'replay'.
CREATE FUNCTION evstore.append(p_tenant_id uuid, p_aggregate_type text, p_aggregate_id uuid,
			       p_expect text, p_expected_version bigint, p_actor_id text,
			       p_events jsonb)
RETURNS TABLE (result text, stream_version bigint, appended_event_id uuid,
	       appended_version bigint, appended_position bigint)
LANGUAGE plpgsql
-- Plan each statement for the call at hand: the workers keep their
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

	-- A wake-up hint for feed long-polls and runners (delivered at commit).
	PERFORM pg_notify('evstore_events', '');
END
$$;
