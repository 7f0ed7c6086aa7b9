-- The contracts' suppression lists, PostgreSQL flavour (keep in step with ../sqlite/0005_suppression.sql).

-- One row per (contract, address) that must not be sent to. The address is sealed and found
-- through its keyed look-up hash (case-insensitive); the reason may be an operator's note that
-- quotes an address, so it is sealed too. Listing pages through the unique index in hash order:
-- the hash of the last address of a page is where the next page starts.
CREATE TABLE suppressions (
    customer_id    TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    address_hash   BYTEA   NOT NULL,
    address_sealed BYTEA   NOT NULL,
    source         TEXT    NOT NULL,
    reason_sealed  BYTEA,
    message_id     TEXT,
    created_at     BIGINT  NOT NULL,
    UNIQUE (customer_id, address_hash)
);

-- Soft bounces of an address, counted within `suppression.soft_bounce_window`; rows older than
-- the window are pruned when the address is counted again.
CREATE TABLE soft_bounces (
    customer_id   TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    address_hash  BYTEA   NOT NULL,
    at            BIGINT  NOT NULL
);
CREATE INDEX soft_bounces_by_address ON soft_bounces (customer_id, address_hash, at);
