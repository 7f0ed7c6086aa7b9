-- What the webhook sender needs beyond the outbox of 0007, PostgreSQL flavour (keep in step with
-- ../sqlite/0016_webhook_sender.sql).

-- Per endpoint: one event per request or batches; a rotated secret's predecessor, still used to
-- sign beside the new one until `previous_secret_until`; the sender's schedule (one sender per
-- endpoint at a time holds `claimed_until`, a failing endpoint waits until `retry_at`); how long
-- it has been failing (`failing_since`, `failures` in a row) and whether it was disabled for it.
ALTER TABLE webhook_endpoints ADD COLUMN one_per_request BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_sealed BYTEA;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until BIGINT;
ALTER TABLE webhook_endpoints ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN retry_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN failing_since BIGINT;
ALTER TABLE webhook_endpoints ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_at BIGINT;
ALTER TABLE webhook_endpoints ADD COLUMN disabled_reason TEXT;

-- The request an outbox row went out in (its `webhook-id`), fixed before the first attempt so
-- that every retry sends the same events under the same ID. A test event has no send-log row:
-- `event_id` 0 and `test` 1.
ALTER TABLE webhook_outbox ADD COLUMN batch_id TEXT;
ALTER TABLE webhook_outbox ADD COLUMN test BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX webhook_outbox_by_endpoint ON webhook_outbox (endpoint_id, outbox_id);
CREATE INDEX webhook_outbox_by_endpoint_age ON webhook_outbox (endpoint_id, created_at);
CREATE INDEX webhook_outbox_by_batch ON webhook_outbox (batch_id);

-- Every attempt to deliver a request: the answer's status (NULL when there was none) or why
-- not, how long it took, and the answer's first bytes (sealed: a receiver may echo addresses).
-- Report data: purged with the send log.
CREATE TABLE webhook_attempts (
    attempt_id     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id    BIGINT  NOT NULL,
    customer_id    TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    webhook_id     TEXT    NOT NULL,
    events         BIGINT  NOT NULL,
    at             BIGINT  NOT NULL,
    http_status    INTEGER,
    error          TEXT,
    latency_ms     BIGINT  NOT NULL,
    answer_sealed  BYTEA,
    outcome        TEXT    NOT NULL
);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, attempt_id);
CREATE INDEX webhook_attempts_by_time ON webhook_attempts (at);
