-- The append of append.sql, then its announcement as a pool makes it: a
-- NOTIFY on evstore_events in a transaction of its own, after the append
-- committed (the pool's waiter sends at most one every 5 ms; one per
-- append here is the worst case). The runner's live latency rides on it.
WITH s AS (
  INSERT INTO evstore.streams AS s (tenant_id, aggregate_type, aggregate_id, version)
  VALUES ('00000000-0000-0000-0000-000000000000', 'BenchPg', gen_random_uuid(), 1)
  ON CONFLICT (tenant_id, aggregate_type, aggregate_id) DO NOTHING
  RETURNING s.version AS new_version, 0::bigint AS old_version, s.aggregate_id),
ev AS (
  SELECT jsonb_build_array(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Tick',
    'occurred_at', '2026-11-27T10:00:00.000000Z', 'payload', '{"n":1}'::jsonb,
    'metadata', '{"request_id":"0192f3c4-0000-7000-8000-000000000000"}'::jsonb)) AS a),
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
SELECT pg_notify('evstore_events', '');
