-- The statement a worker runs to append one event with expected_version
-- to an existing stream (store_append_exact in src/store/store.c); the
-- expected version is read in the statement (pgbench cannot carry it from
-- one transaction to the next), which adds one key lookup. run.sh seeds
-- the streams: the id of stream k is md5(k)::uuid.
\set k random(1, :nstreams)
WITH s AS (
  UPDATE evstore.streams AS s SET version = s.version + 1, updated_at = now()
  WHERE s.tenant_id = '00000000-0000-0000-0000-000000000000' AND s.aggregate_type = 'BenchPgX'
    AND s.aggregate_id = md5(:k::text)::uuid
    AND s.version = (SELECT version FROM evstore.streams
                      WHERE tenant_id = '00000000-0000-0000-0000-000000000000'
                        AND aggregate_type = 'BenchPgX' AND aggregate_id = md5(:k::text)::uuid)
  RETURNING s.version AS new_version, s.version - 1 AS old_version),
ev AS (
  SELECT jsonb_build_array(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Tick',
    'occurred_at', '2026-11-27T10:00:00.000000Z', 'payload', '{"n":1}'::jsonb,
    'metadata', '{"request_id":"0192f3c4-0000-7000-8000-000000000000"}'::jsonb)) AS a),
ins AS (
  INSERT INTO evstore.events AS e (tenant_id, event_id, aggregate_type, aggregate_id,
   version, event_type, actor_id, occurred_at, payload, metadata)
  SELECT '00000000-0000-0000-0000-000000000000', (x.ev->>'event_id')::uuid, 'BenchPgX',
   md5(:k::text)::uuid, s.old_version + x.ord, x.ev->>'event_type', 'bench',
   (x.ev->>'occurred_at')::timestamptz, x.ev->'payload', COALESCE(x.ev->'metadata', '{}'::jsonb)
  FROM s, ev, jsonb_array_elements(ev.a) WITH ORDINALITY AS x(ev, ord)
  ORDER BY x.ord
  RETURNING e.event_id, e.version, e.position)
SELECT s.new_version, ins.event_id, ins.version, ins.position FROM s, ins ORDER BY ins.version;
