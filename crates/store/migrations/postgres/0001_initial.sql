-- Hikyaku's first schema, PostgreSQL flavour (keep in step with ../sqlite/0001_initial.sql).
--
-- Timestamps are integer milliseconds since the Unix epoch. States are the text names of the
-- Rust enums in hikyaku-model, which are the source of truth (no CHECK lists to migrate when a
-- state is added). Every e-mail address, and every text that may quote one, is sealed
-- (nonce || XChaCha20-Poly1305 ciphertext); addresses also get a keyed look-up hash.

CREATE TABLE contracts (
    customer_id   TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    plan          TEXT    NOT NULL DEFAULT 'standard',
    state         TEXT    NOT NULL DEFAULT 'trial',
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT
);

CREATE TABLE smtp_credentials (
    username      TEXT    NOT NULL PRIMARY KEY,
    customer_id   TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX smtp_credentials_by_customer ON smtp_credentials (customer_id);

-- One range belongs to one contract: the source address must name the sender unambiguously.
-- range_start/range_end are the network's first and last address as big-endian bytes (4 or 16),
-- so "which ranges contain this address" is a byte-wise comparison the database can index.
CREATE TABLE allowed_ip_ranges (
    cidr          TEXT    NOT NULL PRIMARY KEY,
    customer_id   TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    ip_version    BIGINT  NOT NULL,
    prefix_len    BIGINT  NOT NULL,
    range_start   BYTEA   NOT NULL,
    range_end     BYTEA   NOT NULL,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX allowed_ip_ranges_by_customer ON allowed_ip_ranges (customer_id);
CREATE INDEX allowed_ip_ranges_by_start ON allowed_ip_ranges (ip_version, range_start);

CREATE TABLE messages (
    message_id       TEXT    NOT NULL PRIMARY KEY,
    customer_id      TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    mail_from_sealed BYTEA   NOT NULL,
    mail_from_hash   BYTEA   NOT NULL,
    size             BIGINT  NOT NULL,
    received_at      BIGINT  NOT NULL,
    source_ip        TEXT    NOT NULL,
    node             TEXT    NOT NULL
);
CREATE INDEX messages_by_customer ON messages (customer_id, message_id);

CREATE TABLE message_recipients (
    message_id        TEXT    NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
    recipient_index   BIGINT  NOT NULL,
    address_sealed    BYTEA   NOT NULL,
    address_hash      BYTEA   NOT NULL,
    state             TEXT    NOT NULL,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    last_reply_sealed BYTEA,
    PRIMARY KEY (message_id, recipient_index)
);
CREATE INDEX message_recipients_by_address ON message_recipients (address_hash);

-- The send log. Not tied to messages: it outlives the queue rows (kept 40 days).
CREATE TABLE events (
    event_id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               BIGINT  NOT NULL,
    kind             TEXT    NOT NULL,
    customer_id      TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    message_id       TEXT    NOT NULL,
    mail_from_sealed BYTEA   NOT NULL,
    mail_from_hash   BYTEA   NOT NULL,
    recipient_sealed BYTEA   NOT NULL,
    recipient_hash   BYTEA   NOT NULL,
    details_sealed   BYTEA
);
CREATE INDEX events_by_customer_time ON events (customer_id, at);
CREATE INDEX events_by_message ON events (message_id);
CREATE INDEX events_by_recipient ON events (recipient_hash, at);
