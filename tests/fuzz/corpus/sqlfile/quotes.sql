-- leading comment

-- on A
INSERT INTO t VALUES ($1::jsonb->>'x', 'a;b', "q;uoted", $$ ; $$, $tag$ ; $tag$);
/* c; */ UPDATE t SET y = E'\';' WHERE z = $1;
-- on B
SELECT 1
-- truncate
TRUNCATE t;
