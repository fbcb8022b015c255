-- The physical limit of an append with expected_version to an existing
-- stream: the minimal pair, an UPDATE of the stream's row (bench_streams,
-- evstore's streams columns and key) and the INSERT of the event at the
-- version it returns, in one transaction. run.sh seeds the streams: the
-- id of stream k is md5(k)::uuid.
\set k random(1, :nstreams)
BEGIN;
UPDATE bench_streams SET version = version + 1, updated_at = now()
 WHERE tenant_id = '00000000-0000-0000-0000-000000000000' AND aggregate_type = 'BenchPg'
   AND aggregate_id = md5(:k::text)::uuid
RETURNING version AS v \gset
INSERT INTO bench_events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type,
                          actor_id, occurred_at, payload, metadata)
VALUES ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'BenchPg', md5(:k::text)::uuid, :v,
        'Tick', 'bench', '2026-11-27T10:00:00.000000Z', '{"n":1}',
        '{"request_id":"0192f3c4-0000-7000-8000-000000000000"}');
END;
