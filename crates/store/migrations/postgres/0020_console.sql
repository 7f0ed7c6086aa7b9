-- The console's sessions and each console user's own settings, PostgreSQL flavour (keep in step
-- with ../sqlite/0020_console.sql).

-- A logged-in browser. The cookie holds a random token; only its SHA-256 is kept, so a copy of
-- the database logs nobody in. `second_factor_pending` is true for the short-lived session between
-- a right password and the TOTP code of a user who has one; such a session reaches no page.
CREATE TABLE console_sessions (
    token_hash             BYTEA   NOT NULL PRIMARY KEY,
    customer_id            TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    user_id                TEXT    NOT NULL REFERENCES console_users (user_id) ON DELETE CASCADE,
    second_factor_pending  BOOLEAN NOT NULL,
    created_at             BIGINT  NOT NULL,
    expires_at             BIGINT  NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
CREATE INDEX console_sessions_by_user ON console_sessions (user_id);

-- A console user's language (`ja`, `en`; NULL: from the browser's Accept-Language), time zone
-- (NULL: Asia/Tokyo) and TOTP secret (sealed like every secret; NULL: no second factor).
-- `totp_last_step` is the last 30-second step a code was accepted for: a code is good once.
CREATE TABLE console_user_settings (
    user_id          TEXT    NOT NULL PRIMARY KEY REFERENCES console_users (user_id) ON DELETE CASCADE,
    customer_id      TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    language         TEXT,
    time_zone        TEXT,
    totp_sealed      BYTEA,
    totp_last_step   BIGINT
);
