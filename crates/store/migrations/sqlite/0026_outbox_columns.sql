-- The webhook sender claims a whole endpoint (webhook_claims) and fixes each request's events by
-- batch_id; an outbox row's own due time and attempt count stopped being read when it did. The
-- index on the due time cost every event insert a second B-tree write for nothing.
DROP INDEX webhook_outbox_due;
ALTER TABLE webhook_outbox DROP COLUMN available_at;
ALTER TABLE webhook_outbox DROP COLUMN attempts;
