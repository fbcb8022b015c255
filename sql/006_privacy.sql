-- 006_privacy.sql - the data subjects' keys (crypto-shredding).
--
-- Declared personal fields of events are sealed with a key per (tenant,
-- data subject) before they are stored (doc/privacy.md). The key is kept
-- here wrapped by the master key of [privacy] master_key_file: the
-- database alone, or a backup of it, never holds a usable key. Erasing a
-- subject sets wrapped_key to NULL: the row stays as a tombstone, so
-- envelopes naming the key read as erased and erasing again answers as
-- already done. A subject's personal data appended after its erasure gets
-- a new key (a new row): at most one live key per (tenant, subject).
-- Owned by src/privacy/keyring.c. Never edit this file once released.

CREATE TABLE evstore.subject_keys (
	key_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id    uuid NOT NULL,
	subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 256),
	wrapped_key  bytea,             -- NULL once erased
	master_id    text NOT NULL,     -- which master key wrapped it (a fingerprint)
	created_at   timestamptz NOT NULL DEFAULT now(),
	erased_at    timestamptz,
	erased_by    text,
	CONSTRAINT subject_keys_erased_check CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

CREATE UNIQUE INDEX subject_keys_live_idx ON evstore.subject_keys (tenant_id, subject)
	WHERE erased_at IS NULL;
CREATE INDEX subject_keys_subject_idx ON evstore.subject_keys (tenant_id, subject);
