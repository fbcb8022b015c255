-- The statement a stream read runs (store_read_forward): the stream's
-- version and the columns of 100 events, which the worker renders as JSON
-- (src/store/event_render.h); no byte budget. run.sh puts a
-- "\set k random(1, N)" line in front and fills bench_read_ids.
SELECT s.version, ev.*
  FROM evstore.streams s
  LEFT JOIN LATERAL (
    SELECT e.event_id, e.event_type, e.aggregate_type, e.aggregate_id, e.version, e.position,
           e.occurred_at, e.recorded_at, e.tenant_id, e.actor_id, e.payload::text, e.metadata::text
      FROM evstore.events e
     WHERE e.tenant_id = s.tenant_id AND e.aggregate_type = s.aggregate_type
       AND e.aggregate_id = s.aggregate_id AND e.version >= 1
     ORDER BY e.version LIMIT 100) ev ON true
 WHERE s.tenant_id = '00000000-0000-0000-0000-000000000000' AND s.aggregate_type = 'Bench'
   AND s.aggregate_id = (SELECT id FROM bench_read_ids WHERE k = :k)
 ORDER BY ev.version;
