-- 007_dlq_unresolved.sql - the dead letters not yet resolved, by
-- subscription and partition. GET /metrics counts them per partition on
-- every scrape (src/subs/substatus.c); this index lets it count from the
-- index alone, however many resolved entries pile up until they are
-- purged, instead of reading the DLQ once per partition.
--
-- Never edit this file once released.

CREATE INDEX dlq_unresolved_idx ON evstore.dlq (subscription, partition) WHERE status <> 'resolved';
