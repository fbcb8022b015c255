-- order_summary: a read model of orders, kept by evstore-runner's sql
-- handler. Each section runs with the event (as JSON) in $1, in the same
-- transaction as the subscription's checkpoint: every event is applied
-- exactly once, even if the runner is killed at any instant.
--
-- Keyed by tenant: the runner reads every tenant's events, and an
-- aggregate id is unique only within its tenant, so a row keyed by
-- order_id alone would let one tenant's events overwrite another's. Every
-- statement matches on (tenant_id, order_id); events without a tenant
-- ("tenant_id": null) use the nil UUID, as the store itself does.
--
-- The table itself is the application's; create it before the runner
-- starts (the quick start does):
--   CREATE TABLE order_summary (
--     tenant_id uuid NOT NULL, order_id uuid NOT NULL, customer_id text,
--     total numeric, status text, tracking_number text, notes int NOT NULL DEFAULT 0,
--     updated_at timestamptz, PRIMARY KEY (tenant_id, order_id));

-- on OrderCreated
INSERT INTO order_summary (tenant_id, order_id, customer_id, total, status, updated_at)
VALUES (COALESCE(($1::jsonb->>'tenant_id')::uuid, '00000000-0000-0000-0000-000000000000'),
        ($1::jsonb->>'aggregate_id')::uuid, $1::jsonb->'payload'->>'customer_id',
        ($1::jsonb->'payload'->>'total')::numeric, 'created', ($1::jsonb->>'occurred_at')::timestamptz)
ON CONFLICT (tenant_id, order_id) DO NOTHING;

-- on OrderShipped
UPDATE order_summary
   SET status = 'shipped', tracking_number = $1::jsonb->'payload'->>'tracking_number',
       updated_at = ($1::jsonb->>'occurred_at')::timestamptz
 WHERE tenant_id = COALESCE(($1::jsonb->>'tenant_id')::uuid, '00000000-0000-0000-0000-000000000000')
   AND order_id = ($1::jsonb->>'aggregate_id')::uuid;

-- on NoteAdded
UPDATE order_summary SET notes = notes + 1, updated_at = ($1::jsonb->>'occurred_at')::timestamptz
 WHERE tenant_id = COALESCE(($1::jsonb->>'tenant_id')::uuid, '00000000-0000-0000-0000-000000000000')
   AND order_id = ($1::jsonb->>'aggregate_id')::uuid;

-- truncate
TRUNCATE order_summary;
