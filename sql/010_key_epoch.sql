-- 010_key_epoch.sql - one value that changes whenever a subject key's
-- stored material does.
--
-- A worker keeps the subject keys it has unwrapped lately
-- (src/privacy/keycache.c), so that a read of known envelopes needs no key
-- statement. A cached key may serve a read only while no key row has
-- changed since it was fetched: each fetch notes the epoch below, and each
-- page of events is read with it, in the page's own snapshot. A new random
-- value, not a counter: a restored backup cannot come back to a value a
-- worker has seen with other keys.
--
-- The triggers catch every way a key stops opening as it did: an erasure
-- (keyring_forget, an import's, an operator's UPDATE), a key wrapped anew
-- (a master key rotation, or a row changed by hand: a read must then
-- unwrap it as stored, and fail if it cannot), a DELETE, a TRUNCATE. They
-- run in the changing transaction, so the new epoch commits with the
-- change. Appends and reads never write subject_keys rows they did not
-- make, so the epoch stays put while nothing but traffic happens.
-- Owned by src/privacy/keyring.c. Never edit this file once released.

CREATE TABLE evstore.key_epoch (
	only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	epoch     uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO evstore.key_epoch DEFAULT VALUES;

CREATE FUNCTION evstore.key_epoch_advance() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE evstore.key_epoch SET epoch = gen_random_uuid();
	RETURN NULL;
END
$$;

-- Statement by statement: a rotation's batch moves the epoch once.
CREATE FUNCTION evstore.key_epoch_advance_if_rewrapped() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM old_keys o JOIN new_keys n USING (key_id)
		   WHERE o.wrapped_key IS DISTINCT FROM n.wrapped_key
		      OR o.erased_at IS DISTINCT FROM n.erased_at) THEN
		UPDATE evstore.key_epoch SET epoch = gen_random_uuid();
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER subject_keys_changed AFTER UPDATE ON evstore.subject_keys
	REFERENCING OLD TABLE AS old_keys NEW TABLE AS new_keys
	FOR EACH STATEMENT EXECUTE FUNCTION evstore.key_epoch_advance_if_rewrapped();
CREATE TRIGGER subject_keys_deleted AFTER DELETE ON evstore.subject_keys
	FOR EACH STATEMENT EXECUTE FUNCTION evstore.key_epoch_advance();
CREATE TRIGGER subject_keys_truncated AFTER TRUNCATE ON evstore.subject_keys
	FOR EACH STATEMENT EXECUTE FUNCTION evstore.key_epoch_advance();
