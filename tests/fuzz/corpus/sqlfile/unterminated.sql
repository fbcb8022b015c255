-- on A
SELECT 'abc;
