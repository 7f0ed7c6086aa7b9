-- The operator area: the operator's console users and sessions, contracts' inquiries,
-- maintenance notices and the nodes serving the store, PostgreSQL flavour (keep in step with
-- ../sqlite/0021_operator.sql).

-- The operator's console users: no contract, so no tenant's data. `email_key` is the address
-- in lower case (the login's look-up); the password only as an argon2id hash; the TOTP secret
-- sealed like every secret, `totp_last_step` the last 30-second step a code was taken for.
CREATE TABLE operator_users (
    user_id         TEXT    NOT NULL PRIMARY KEY,
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    totp_sealed     BYTEA,
    totp_last_step  BIGINT,
    created_at      BIGINT  NOT NULL
);

-- An operator's logged-in browser: a table of its own, so a contract's session can never be
-- read as the operator's or the other way round. Only the token's SHA-256 is kept.
CREATE TABLE operator_sessions (
    token_hash             BYTEA   NOT NULL PRIMARY KEY,
    user_id                TEXT    NOT NULL REFERENCES operator_users (user_id) ON DELETE CASCADE,
    second_factor_pending  BOOLEAN NOT NULL,
    created_at             BIGINT  NOT NULL,
    expires_at             BIGINT  NOT NULL
);
CREATE INDEX operator_sessions_by_expiry ON operator_sessions (expires_at);

-- A contract's inquiry to the operator. Subject, body and the sender's address are the
-- contract's words: sealed (`content_sealed`, JSON). `handled_at` is set when the operator
-- marks it handled. Its mail to the operator is a notice (kind `inquiry`, key the inquiry's ID).
CREATE TABLE inquiries (
    inquiry_id      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    sent_by         TEXT    NOT NULL,
    content_sealed  BYTEA   NOT NULL,
    created_at      BIGINT  NOT NULL,
    handled_at      BIGINT
);
CREATE INDEX inquiries_by_customer ON inquiries (customer_id, inquiry_id);

-- A planned (or emergency) maintenance, announced to every contract. Its mail to each
-- contract's admins is a notice per contract (kind `maintenance`, key the maintenance's ID),
-- recorded in the same transaction as this row.
CREATE TABLE maintenance_notices (
    maintenance_id  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title           TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    starts_at       BIGINT  NOT NULL,
    ends_at         BIGINT  NOT NULL,
    emergency       BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX maintenance_by_end ON maintenance_notices (ends_at);

-- Each node serving this store, as its last heartbeat told: version, listeners (JSON) and
-- the number of its messages still to deliver.
CREATE TABLE nodes (
    node        TEXT    NOT NULL PRIMARY KEY,
    version     TEXT    NOT NULL,
    listeners   TEXT    NOT NULL,
    queue_size  BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL
);
