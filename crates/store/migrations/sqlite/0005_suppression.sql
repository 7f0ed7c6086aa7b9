-- The contracts' suppression lists, SQLite flavour (keep in step with ../postgres/0005_suppression.sql).

-- One row per (contract, address) that must not be sent to. The address is sealed and found
-- through its keyed look-up hash (case-insensitive); the reason may be an operator's note that
-- quotes an address, so it is sealed too. Listing pages through the unique index in hash order:
-- the hash of the last address of a page is where the next page starts.
CREATE TABLE suppressions (
    customer_id    TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    address_hash   BLOB    NOT NULL,
    address_sealed BLOB    NOT NULL,
    source         TEXT    NOT NULL,
    reason_sealed  BLOB,
    message_id     TEXT,
    created_at     INTEGER NOT NULL,
    UNIQUE (customer_id, address_hash)
);

-- Soft bounces of an address, counted within `suppression.soft_bounce_window`; rows older than
-- the window are pruned when the address is counted again.
CREATE TABLE soft_bounces (
    customer_id   TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    address_hash  BLOB    NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX soft_bounces_by_address ON soft_bounces (customer_id, address_hash, at);
