-- customer_contacts: a read model that holds personal data on purpose,
-- kept by evstore-runner's sql handler from the Customer events of
-- examples/privacy/customer.json. Its subscription says so:
--
--   [subscription customer_contacts]
--   handler = sql
--   sql_file = /etc/evstore/projections/customer_contacts.sql
--   aggregate_types = Customer
--   personal_data = clear        ; the default, redacted, hands over nulls
--   subject_erased = deliver     ; run "-- on SubjectErased" for each erasure
--
-- The runner hands this file the clear view of each event; an erased
-- subject's fields arrive as null, their pointers listed in "erased", so an
-- event replayed after an erasure (a rebuild) never brings the data back.
-- What the table holds is the application's to erase: with subject_erased =
-- deliver the runner hands over a synthetic SubjectErased event for each
-- erased subject, and the section below deletes the subject's row, in one
-- transaction with the erasure's delivery (doc/privacy.md).
--
--   CREATE TABLE customer_contacts (
--     tenant_id uuid NOT NULL, customer_id uuid NOT NULL, name text, email text,
--     withheld jsonb NOT NULL DEFAULT '[]', PRIMARY KEY (tenant_id, customer_id));

-- on CustomerRegistered
INSERT INTO customer_contacts (tenant_id, customer_id, name, email, withheld)
VALUES (COALESCE(($1::jsonb->>'tenant_id')::uuid, '00000000-0000-0000-0000-000000000000'),
        ($1::jsonb->>'aggregate_id')::uuid, $1::jsonb->'payload'->>'name', $1::jsonb->'payload'->>'email',
        COALESCE($1::jsonb->'redacted', '[]') || COALESCE($1::jsonb->'erased', '[]'))
ON CONFLICT (tenant_id, customer_id) DO NOTHING;

-- on EmailChanged
UPDATE customer_contacts
   SET email = $1::jsonb->'payload'->>'email',
       withheld = COALESCE($1::jsonb->'redacted', '[]') || COALESCE($1::jsonb->'erased', '[]')
 WHERE tenant_id = COALESCE(($1::jsonb->>'tenant_id')::uuid, '00000000-0000-0000-0000-000000000000')
   AND customer_id = ($1::jsonb->>'aggregate_id')::uuid;

-- on SubjectErased
-- $1: {"event_type":"SubjectErased","subject","tenant_id","key_id","erased_at"}.
-- The Customer definition's subject is the aggregate_id; compared as text,
-- so the erasure of a subject that is not a UUID (another type's) matches
-- nothing instead of failing the cast.
DELETE FROM customer_contacts
 WHERE tenant_id = COALESCE(($1::jsonb->>'tenant_id')::uuid, '00000000-0000-0000-0000-000000000000')
   AND customer_id::text = $1::jsonb->>'subject';

-- truncate
TRUNCATE customer_contacts;
