-- Who may use the console and the API, PostgreSQL flavour (keep in step with ../sqlite/0006_access.sql).

-- A contract's console users. Login names the contract by its customer ID and the user by
-- e-mail address: the address is sealed like every address and found through a keyed look-up
-- hash (of its lower-case form), unique within the contract. The password is an argon2id PHC
-- string.
CREATE TABLE console_users (
    user_id        TEXT    NOT NULL PRIMARY KEY,
    customer_id    TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    email_hash     BYTEA   NOT NULL,
    email_sealed   BYTEA   NOT NULL,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    see_addresses  BOOLEAN NOT NULL,
    created_at     BIGINT  NOT NULL,
    UNIQUE (customer_id, email_hash)
);
CREATE INDEX console_users_by_customer ON console_users (customer_id, user_id);

-- A contract's API keys: only the SHA-256 of the whole key (`hk_…`) is kept; `prefix` is its
-- first characters, for people to tell their keys apart in a listing. Revoking deletes the row.
CREATE TABLE api_keys (
    key_id         TEXT    NOT NULL PRIMARY KEY,
    customer_id    TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    key_hash       BYTEA   NOT NULL UNIQUE,
    prefix         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    see_addresses  BOOLEAN NOT NULL,
    created_at     BIGINT  NOT NULL
);
CREATE INDEX api_keys_by_customer ON api_keys (customer_id, key_id);

-- The operator's keys (`hko_…`): the operator endpoints, tied to no contract.
CREATE TABLE operator_keys (
    key_id         TEXT    NOT NULL PRIMARY KEY,
    key_hash       BYTEA   NOT NULL UNIQUE,
    prefix         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL
);
