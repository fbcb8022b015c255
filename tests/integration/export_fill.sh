# export_fill.sh - a store to export: what test_export.sh and
# bench/export.sh fill their databases with (the events inserted by SQL,
# fast, with the streams rows that match them).

# export_fill N CHUNK: prints the SQL that stores N events in transactions
# of CHUNK, in streams of 8 across four tenants and the no-tenant space,
# two aggregate types, versions interleaved across streams; payloads with
# quotes, backslashes, control characters, non-ASCII text, decimals and
# nulls.
export_fill() {
	local n=$1 chunk=$2 from=0 to
	while [ "$from" -lt "$n" ]; do
		to=$((from + chunk)); [ "$to" -gt "$n" ] && to=$n
		cat <<SQL
INSERT INTO evstore.events (tenant_id, event_id, aggregate_type, aggregate_id, version, event_type,
	actor_id, occurred_at, recorded_at, payload, metadata)
SELECT CASE s % 5 WHEN 0 THEN '00000000-0000-0000-0000-000000000000'::uuid
		  ELSE ('00000000-0000-4000-8000-00000000000' || (s % 5))::uuid END,
	gen_random_uuid(), CASE WHEN s % 3 = 0 THEN 'Invoice' ELSE 'Order' END,
	md5('stream' || s)::uuid, v, CASE WHEN v = 1 THEN 'Created' ELSE 'Changed' END,
	CASE WHEN s % 4 = 0 THEN NULL ELSE 'user-' || (s % 7) END,
	timestamptz '2026-01-01 00:00:00Z' + i * interval '1.001 ms',
	timestamptz '2026-01-01 00:00:01Z' + i * interval '1.000003 ms',
	jsonb_build_object('n', i, 'total', i * 0.25, 'note', E'line "' || i || E'"\\\\ \\t ünï\\n',
		'items', jsonb_build_array(1, 2.5, NULL, true, 'x'), 'ok', i % 2 = 0),
	CASE WHEN i % 2 = 0 THEN '{}'::jsonb ELSE jsonb_build_object('correlation_id', md5(i::text)) END
FROM (SELECT i, i / 8 AS s, i % 8 + 1 AS v FROM generate_series($from, $((to - 1))) AS i) g
ORDER BY v, s;
SQL
		from=$to
	done
	echo "INSERT INTO evstore.streams AS s (tenant_id, aggregate_type, aggregate_id, version)
SELECT tenant_id, aggregate_type, aggregate_id, max(version) FROM evstore.events GROUP BY 1, 2, 3
ON CONFLICT (tenant_id, aggregate_type, aggregate_id) DO UPDATE SET version = EXCLUDED.version;"
}
