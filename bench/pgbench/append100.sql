-- The statement a worker runs to append 100 events to a new stream
-- (store_append_new in src/store/store.c), with the event built the way
-- the worker builds it.
WITH s AS (
  INSERT INTO evstore.streams AS s (tenant_id, aggregate_type, aggregate_id, version)
  VALUES ('00000000-0000-0000-0000-000000000000', 'BenchPg', gen_random_uuid(), 100)
  ON CONFLICT (tenant_id, aggregate_type, aggregate_id) DO NOTHING
  RETURNING s.version AS new_version, 0::bigint AS old_version, s.aggregate_id),
ev AS (
  SELECT jsonb_agg(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Tick',
    'occurred_at', '2026-11-27T10:00:00.000000Z', 'payload', jsonb_build_object('n', i),
    'metadata', '{"request_id":"0192f3c4-0000-7000-8000-000000000000"}'::jsonb)) AS a
  FROM generate_series(1, 100) AS i),
ins AS (
  INSERT INTO evstore.events AS e (tenant_id, event_id, aggregate_type, aggregate_id,
   version, event_type, actor_id, occurred_at, payload, metadata)
  SELECT '00000000-0000-0000-0000-000000000000', (x.ev->>'event_id')::uuid, 'BenchPg', s.aggregate_id,
   s.old_version + x.ord, x.ev->>'event_type', 'bench', (x.ev->>'occurred_at')::timestamptz,
   x.ev->'payload', COALESCE(x.ev->'metadata', '{}'::jsonb)
  FROM s, ev, jsonb_array_elements(ev.a) WITH ORDINALITY AS x(ev, ord)
  ORDER BY x.ord
  RETURNING e.event_id, e.version, e.position)
SELECT s.new_version, ins.event_id, ins.version, ins.position FROM s, ins ORDER BY ins.version;
