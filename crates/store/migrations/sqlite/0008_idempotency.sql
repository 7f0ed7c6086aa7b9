-- Idempotency keys of the HTTP API, SQLite flavour (keep in step with ../postgres/0008_idempotency.sql).

-- One row per (contract, key) seen in the last 24 hours. The key is the customer's own string
-- and may quote an address, so only its keyed hash is kept; the request is known by a keyed
-- hash too, and the answer (which lists recipients) is sealed. `status` is NULL while the first
-- request is still being served. Rows older than the window are ignored, then purged.
CREATE TABLE idempotency_keys (
    customer_id     TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    key_hash        BLOB    NOT NULL,
    request_hash    BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    status          INTEGER,
    response_sealed BLOB,
    PRIMARY KEY (customer_id, key_hash)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
