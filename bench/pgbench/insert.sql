-- The physical limit of one durable event: a one-row INSERT of the event
-- an append stores, autocommit, into a table with evstore's event columns
-- and keys (bench_events: the identity key and the two unique keys).
INSERT INTO bench_events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type,
                          actor_id, occurred_at, payload, metadata)
VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'BenchPg', gen_random_uuid(), 1,
        'Tick', 'bench', '2026-11-27T10:00:00.000000Z', '{"n":1}',
        '{"request_id":"0192f3c4-0000-7000-8000-000000000000"}');
