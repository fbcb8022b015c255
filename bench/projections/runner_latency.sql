-- runner_latency.sql - the live-latency benchmark's read model
-- (bench/runner.sh): when each appended Tick was handled. The commit
-- times are PostgreSQL's own (track_commit_timestamp), read afterwards.
--
--   CREATE TABLE bench_latency (position bigint PRIMARY KEY,
--     recorded_at timestamptz NOT NULL, handled_at timestamptz NOT NULL);

-- on Tick
INSERT INTO bench_latency (position, recorded_at, handled_at)
VALUES (($1::jsonb->>'position')::bigint, ($1::jsonb->>'recorded_at')::timestamptz, clock_timestamp());
