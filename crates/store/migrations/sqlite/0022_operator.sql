-- The operator area: the operator's console users and sessions, contracts' inquiries,
-- maintenance notices and the nodes serving the store, SQLite flavour (keep in step with
-- ../postgres/0021_operator.sql).

-- The operator's console users: no contract, so no tenant's data. `email_key` is the address
-- in lower case (the login's look-up); the password only as an argon2id hash; the TOTP secret
-- sealed like every secret, `totp_last_step` the last 30-second step a code was taken for.
CREATE TABLE operator_users (
    user_id         TEXT    NOT NULL PRIMARY KEY,
    email           TEXT    NOT NULL,
    email_key       TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    totp_sealed     BLOB,
    totp_last_step  INTEGER,
    created_at      INTEGER NOT NULL
);

-- An operator's logged-in browser: a table of its own, so a contract's session can never be
-- read as the operator's or the other way round. Only the token's SHA-256 is kept.
CREATE TABLE operator_sessions (
    token_hash             BLOB    NOT NULL PRIMARY KEY,
    user_id                TEXT    NOT NULL REFERENCES operator_users (user_id) ON DELETE CASCADE,
    second_factor_pending  INTEGER NOT NULL,
    created_at             INTEGER NOT NULL,
    expires_at             INTEGER NOT NULL
);
CREATE INDEX operator_sessions_by_expiry ON operator_sessions (expires_at);

-- A contract's inquiry to the operator. Subject, body and the sender's address are the
-- contract's words: sealed (`content_sealed`, JSON). `handled_at` is set when the operator
-- marks it handled. Its mail to the operator is a notice (kind `inquiry`, key the inquiry's ID).
CREATE TABLE inquiries (
    inquiry_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id     TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    sent_by         TEXT    NOT NULL,
    content_sealed  BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    handled_at      INTEGER
);
CREATE INDEX inquiries_by_customer ON inquiries (customer_id, inquiry_id);

-- A planned (or emergency) maintenance, announced to every contract. Its mail to each
-- contract's admins is a notice per contract (kind `maintenance`, key the maintenance's ID),
-- recorded in the same transaction as this row.
CREATE TABLE maintenance_notices (
    maintenance_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    title           TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER NOT NULL,
    emergency       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX maintenance_by_end ON maintenance_notices (ends_at);

-- Each node serving this store, as its last heartbeat told: version, listeners (JSON) and
-- the number of its messages still to deliver.
CREATE TABLE nodes (
    node        TEXT    NOT NULL PRIMARY KEY,
    version     TEXT    NOT NULL,
    listeners   TEXT    NOT NULL,
    queue_size  INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
);
