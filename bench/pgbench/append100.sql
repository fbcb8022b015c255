-- 100 events in one evstore.append call on a new stream.
SELECT * FROM evstore.append('00000000-0000-0000-0000-000000000000', 'BenchPg', gen_random_uuid(),
  'exact', 0, 'bench',
  (SELECT jsonb_agg(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Tick',
     'payload', jsonb_build_object('n', i), 'metadata', '{"request_id":"0192f3c4-0000-7000-8000-000000000000"}'::jsonb,
     'occurred_at', '2026-11-27T10:00:00.000000Z'))
   FROM generate_series(1, 100) AS i));
