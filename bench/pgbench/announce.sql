-- The announcement a pool's waiter sends after commits on its host, at
-- most one every 5 ms (bench/runner.sh runs it at 200/s beside the appends).
SELECT pg_notify('evstore_events', '');
