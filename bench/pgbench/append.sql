-- The transaction an evstore append runs: one call of evstore.append for one
-- event on a new stream (the same SQL the FastCGI worker sends, with the
-- event built the way the worker builds it).
SELECT * FROM evstore.append('00000000-0000-0000-0000-000000000000', 'BenchPg', gen_random_uuid(),
  'exact', 0, 'bench',
  jsonb_build_array(jsonb_build_object('event_id', gen_random_uuid(), 'event_type', 'Tick',
    'payload', '{"n":1}'::jsonb, 'metadata', '{"request_id":"0192f3c4-0000-7000-8000-000000000000"}'::jsonb,
    'occurred_at', '2026-11-27T10:00:00.000000Z')));
