-- runner_counts.sql - the catch-up benchmark's read model (bench/runner.sh):
-- one upsert per event, a deposit count and sum per account. runner.sh
-- gives pgbench this same statement, with the event JSON as its parameter.
--
--   CREATE TABLE bench_counts (aggregate_id uuid PRIMARY KEY,
--     n bigint NOT NULL, total bigint NOT NULL);

-- on Deposited
INSERT INTO bench_counts AS c (aggregate_id, n, total)
VALUES (($1::jsonb->>'aggregate_id')::uuid, 1, ($1::jsonb->'payload'->>'amount')::bigint)
ON CONFLICT (aggregate_id) DO UPDATE SET n = c.n + 1, total = c.total + EXCLUDED.total;

-- truncate
TRUNCATE bench_counts;
