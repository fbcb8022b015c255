-- order_summary: a read model of orders, kept by evstore-runner's sql
-- handler. Each section runs with the event (as JSON) in $1, in the same
-- transaction as the subscription's checkpoint: every event is applied
-- exactly once, even if the runner is killed at any instant.
--
-- The table itself is the application's; create it before the runner
-- starts (the quick start does):
--   CREATE TABLE order_summary (order_id uuid PRIMARY KEY, customer_id text,
--     total numeric, status text, tracking_number text, notes int NOT NULL DEFAULT 0,
--     updated_at timestamptz);

-- on OrderCreated
INSERT INTO order_summary (order_id, customer_id, total, status, updated_at)
VALUES (($1::jsonb->>'aggregate_id')::uuid, $1::jsonb->'payload'->>'customer_id',
        ($1::jsonb->'payload'->>'total')::numeric, 'created', ($1::jsonb->>'occurred_at')::timestamptz)
ON CONFLICT (order_id) DO NOTHING;

-- on OrderShipped
UPDATE order_summary
   SET status = 'shipped', tracking_number = $1::jsonb->'payload'->>'tracking_number',
       updated_at = ($1::jsonb->>'occurred_at')::timestamptz
 WHERE order_id = ($1::jsonb->>'aggregate_id')::uuid;

-- on NoteAdded
UPDATE order_summary SET notes = notes + 1, updated_at = ($1::jsonb->>'occurred_at')::timestamptz
 WHERE order_id = ($1::jsonb->>'aggregate_id')::uuid;

-- truncate
TRUNCATE order_summary;
