-- The rollup stage compares each rolled bucket's count of pending journeys with the table's
-- on every run (every 15 s by default) to find buckets to roll again; pending journeys are
-- few, so this index keeps that from reading a week of rollups each time.
create index rollup_journeys_pending on rollup_journeys (bucket_start) where status = 'pending';
