-- 004_sqlstate.sql - evstore's own SQLSTATEs move to class V1.
--
-- 003 raised EVCKP when a checkpoint had moved. Class EV belongs to the SQL
-- standard (it keeps the classes starting with 0-4 or A-H); classes
-- starting with 5-9 or I-Z are left to implementations, and PostgreSQL
-- uses none starting with V. evstore's codes are therefore V1xxx:
--
--   V1C01  checkpoint moved: evstore.checkpoint_advance() found the
--          checkpoint somewhere other than where the caller started
--          (another runner moved it, or an operator rebuilt the
--          subscription). An expected race, not an error.
--
-- The runner and evstorectl (src/pg/sqlstate.h) know both V1C01 and EVCKP,
-- so upgrade the binaries first, then run `evstorectl migrate`.
-- Never edit this file once released.

-- As in 003, with the new code. CREATE OR REPLACE keeps the function's
-- owner and grants.
CREATE OR REPLACE FUNCTION evstore.checkpoint_advance(p_subscription text, p_partition integer,
						      p_old_tx xid8, p_old_pos bigint,
						      p_new_tx xid8, p_new_pos bigint)
RETURNS void
LANGUAGE plpgsql
-- Plan each statement for the call at hand: the workers keep their
-- connections for days, and a generic plan made while a table was small
-- (a sequential scan) would otherwise stay cached as the table grows.
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
	UPDATE evstore.checkpoints
	SET transaction_id = p_new_tx, position = p_new_pos, updated_at = now()
	WHERE subscription = p_subscription AND partition = p_partition
	  AND transaction_id = p_old_tx AND position = p_old_pos;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'checkpoint of %/% moved under this runner', p_subscription, p_partition
			USING ERRCODE = 'V1C01';
	END IF;
END
$$;
