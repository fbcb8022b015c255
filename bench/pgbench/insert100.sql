-- The physical limit of 100 events: one multi-row INSERT of the same 100
-- rows an append of 100 events stores, into bench_events.
INSERT INTO bench_events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type,
                          actor_id, occurred_at, payload, metadata)
SELECT '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'BenchPg', s.id, i, 'Tick', 'bench',
       '2026-11-27T10:00:00.000000Z', jsonb_build_object('n', i),
       '{"request_id":"0192f3c4-0000-7000-8000-000000000000"}'
  FROM (SELECT gen_random_uuid() AS id) s, generate_series(1, 100) AS i;
