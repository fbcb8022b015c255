-- 008_erasure_inbox.sql - SubjectErased for the subscriptions that ask for it.
--
-- A subscription with `subject_erased = deliver` gets a synthetic
-- SubjectErased event for every data subject erased after it was first
-- started, so that its read model can delete its copies (doc/privacy.md).
-- The runner registers such a subscription in erasure_subscribers (and
-- removes it, with what it had not yet received, when the key is unset);
-- the trigger below puts each erasure, in the erasure's own transaction,
-- into the inbox of every registered subscription. The runner hands an
-- inbox row to the handler and deletes it with evstore.erasure_delivered():
-- in the sql handler's transaction (exactly once: the read model's
-- deletions and the row's removal commit together), after an exec
-- program's "ok" (at least once).
--
-- An inbox rather than a record of what each subscription has handled: the
-- runner's poll (once a second) is then an index lookup of the few rows
-- still to deliver, not an anti-join over every erasure ever made.
-- Owned by src/subs/erasures.c. Never edit this file once released.

CREATE TABLE evstore.erasure_subscribers (
	subscription  text PRIMARY KEY,
	since         timestamptz NOT NULL DEFAULT now()   -- erasures from then on are delivered
);

CREATE TABLE evstore.erasure_inbox (
	subscription  text NOT NULL REFERENCES evstore.erasure_subscribers ON DELETE CASCADE,
	key_id        bigint NOT NULL REFERENCES evstore.subject_keys ON DELETE CASCADE,
	queued_at     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (subscription, key_id)
);
-- The foreign key's own lookups when a subject_keys row is deleted.
CREATE INDEX erasure_inbox_key_idx ON evstore.erasure_inbox (key_id);

-- A key destroyed (erased_at set on a live key: keyring_forget, or an
-- operator's UPDATE) goes to every registered subscription's inbox.
CREATE FUNCTION evstore.erasure_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO evstore.erasure_inbox (subscription, key_id)
	SELECT subscription, NEW.key_id FROM evstore.erasure_subscribers
	ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;

CREATE TRIGGER subject_keys_erased AFTER UPDATE OF erased_at ON evstore.subject_keys
	FOR EACH ROW WHEN (OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL)
	EXECUTE FUNCTION evstore.erasure_enqueue();

-- Takes an erasure out of a subscription's inbox. Raises V1C01 (the code
-- of a checkpoint that moved under its runner, sql/004) when it is no
-- longer there: someone else delivered it, or the subscription was
-- unregistered meanwhile; the caller's transaction then rolls back, the
-- read model's changes with it, so no erasure is handled twice.
CREATE FUNCTION evstore.erasure_delivered(p_subscription text, p_key_id bigint)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM evstore.erasure_inbox WHERE subscription = p_subscription AND key_id = p_key_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'erasure % of %: not in its inbox any more', p_key_id, p_subscription
			USING ERRCODE = 'V1C01';
	END IF;
END
$$;
