-- 002_snapshots.sql - aggregate snapshots: the folded state of a stream at
-- one version, so that loading it reads only the events after that version.
--
-- One row per stream (the newest snapshot). A snapshot records the
-- definition it was folded with (schema_version and a hash of the evolve
-- rules); readers ignore a row that does not match the loaded definition.

CREATE TABLE evstore.snapshots (
	tenant_id      uuid NOT NULL,            -- the nil UUID for "no tenant"
	aggregate_type text NOT NULL,
	aggregate_id   uuid NOT NULL,
	version        bigint NOT NULL CHECK (version > 0),
	schema_version integer NOT NULL,
	rules_hash     text NOT NULL,
	state          jsonb NOT NULL CHECK (jsonb_typeof(state) = 'object'),
	created_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, aggregate_type, aggregate_id)
);

-- Writes a snapshot unless a newer one is stored: an older version never
-- replaces a newer one, whoever writes last (the request path in sync
-- mode, the runner in background mode, evstorectl snapshot). A snapshot at
-- the same version replaces the stored one only when it was folded by
-- other rules (after a definition change). Returns true when the row was
-- written.
CREATE FUNCTION evstore.snapshot_put(p_tenant_id uuid, p_aggregate_type text, p_aggregate_id uuid,
				     p_version bigint, p_schema_version integer, p_rules_hash text,
				     p_state jsonb)
RETURNS boolean
LANGUAGE sql
AS $$
	WITH w AS (
		INSERT INTO evstore.snapshots AS s (tenant_id, aggregate_type, aggregate_id, version,
						    schema_version, rules_hash, state)
		VALUES (p_tenant_id, p_aggregate_type, p_aggregate_id, p_version, p_schema_version,
			p_rules_hash, p_state)
		ON CONFLICT (tenant_id, aggregate_type, aggregate_id) DO UPDATE
		SET version = EXCLUDED.version, schema_version = EXCLUDED.schema_version,
		    rules_hash = EXCLUDED.rules_hash, state = EXCLUDED.state, created_at = now()
		WHERE s.version < EXCLUDED.version
		   OR (s.version = EXCLUDED.version
		       AND (s.schema_version, s.rules_hash) IS DISTINCT FROM (EXCLUDED.schema_version, EXCLUDED.rules_hash))
		RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM w)
$$;
