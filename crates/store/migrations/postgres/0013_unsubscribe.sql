-- One-click unsubscribe settings, PostgreSQL flavour (keep in step with ../sqlite/0013_unsubscribe.sql).

-- Whether the relay adds List-Unsubscribe to a contract's mail. `tags` (a JSON array of the
-- message tags it is limited to; NULL for every message) is plain: tags are the contract's
-- labels for its mail, not personal data. A contract without a row has it off. What an
-- unsubscription does is recorded where everything else is: the suppression list and the
-- send log.
CREATE TABLE unsubscribe_settings (
    customer_id  TEXT    NOT NULL PRIMARY KEY REFERENCES contracts (customer_id) ON DELETE CASCADE,
    enabled      BOOLEAN NOT NULL,
    tags         TEXT,
    updated_at   BIGINT  NOT NULL
);
