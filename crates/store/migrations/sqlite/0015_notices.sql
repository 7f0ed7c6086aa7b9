-- Contract notices, SQLite flavour (keep in step with ../postgres/0015_notices.sql).

-- Something that happened to a contract rather than to a message (a certificate running out,
-- an endpoint disabled, a trial ending). One row per (contract, kind, key): the key names what
-- the notice is about (a certificate's ID), so a daily scan that sees the same thing again
-- records nothing new. `details` may quote a certificate's subject or an address: sealed.
--
-- Each notice is mailed to the contract's admins once, at least: `mail_available_at` is when
-- a mailer may claim it next (a claim moves it one lease ahead, so a mailer that dies holding
-- it leaves it to the next one), `mailed_at` when the mail was handed to the relay and
-- `mailed_to` to how many admins.
CREATE TABLE notices (
    notice_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id        TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    kind               TEXT    NOT NULL,
    notice_key         TEXT    NOT NULL,
    details_sealed     BLOB    NOT NULL,
    created_at         INTEGER NOT NULL,
    mail_available_at  INTEGER NOT NULL,
    mail_attempts      INTEGER NOT NULL DEFAULT 0,
    mailed_at          INTEGER,
    mailed_to          INTEGER,
    UNIQUE (customer_id, kind, notice_key)
);
CREATE INDEX notices_by_customer ON notices (customer_id, notice_id);
CREATE INDEX notices_to_mail ON notices (mail_available_at, notice_id) WHERE mailed_at IS NULL;

-- Contracts the service made for its own mail, by what they are for (`notices`: the sender
-- of contract notices), so that every node finds the same one.
CREATE TABLE system_contracts (
    purpose      TEXT    NOT NULL PRIMARY KEY,
    customer_id  TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE
);
