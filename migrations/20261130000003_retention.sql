-- Retention deletes published and failed notifications once they are older than their
-- retention (`[retention]`), oldest first, in small batches: these partial indexes let each
-- batch find its rows without scanning the table (pending rows are never in them).
create index notifications_published_at on notifications (published_at) where status = 'published';
create index notifications_failed_at on notifications (failed_at) where status = 'failed';
