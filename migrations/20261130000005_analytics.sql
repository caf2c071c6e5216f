-- Analytics (docs/analytics.md): every analysis reads one time range of the table, by when
-- notifications were accepted or by when their result was recorded. These two indexes serve
-- those ranges, so an analysis reads its window's rows and never scans the table.
--
-- Accepted: the gateway's error rates, message flows, the report's totals, types and hours.
create index notifications_accepted_at on notifications (accepted_at);
-- Recorded: slow operations, the agents' error rates, anomalies, tools and tokens. Partial:
-- unanswered rows are not in it.
create index notifications_result_recorded_at on notifications (result_recorded_at)
    where result_recorded_at is not null;
