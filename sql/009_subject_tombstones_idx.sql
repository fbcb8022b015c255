-- 009_subject_tombstones_idx.sql - one index entry less for a new subject.
--
-- subject_keys had two indexes on (tenant_id, subject): the unique one of
-- live keys (subject_keys_live_idx) and one of every key. A live key was in
-- both, so each new subject's key row cost two random-order index inserts
-- besides the primary key's. The second now holds the tombstones only (the
-- erased subjects' rows), which is what the queries that look past the
-- live key need it for: erasing a subject tells "already erased" by its
-- tombstones, and GET /v1/subjects/{subject} counts both kinds, each
-- through its own index (src/privacy/keyring.c).
-- Owned by src/privacy/keyring.c. Never edit this file once released.

CREATE INDEX subject_keys_erased_idx ON evstore.subject_keys (tenant_id, subject)
	WHERE erased_at IS NOT NULL;
DROP INDEX evstore.subject_keys_subject_idx;
