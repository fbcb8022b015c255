-- The physical limit of a stream read: the same 100 rows of one stream,
-- straight from its index, not rendered. run.sh puts a
-- "\set k random(1, N)" line in front and fills bench_read_ids.
SELECT e.*
  FROM evstore.events e
 WHERE e.tenant_id = '00000000-0000-0000-0000-000000000000' AND e.aggregate_type = 'Bench'
   AND e.aggregate_id = (SELECT id FROM bench_read_ids WHERE k = :k) AND e.version >= 1
 ORDER BY e.version LIMIT 100;
