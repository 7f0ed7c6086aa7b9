-- Sender domains and their DKIM keys, PostgreSQL flavour (keep in step with
-- ../sqlite/0012_sender_domains.sql).

-- A domain whose mail the relay signs (d=), and whose contract it is. A domain signs for one
-- contract only; `customer_id` NULL is the platform's own service domain, which signs the mail
-- of contracts whose From domain is not registered. Domains are not addresses: kept in clear,
-- lower case, without a trailing dot. `algorithm`: rsa-2048, rsa-1024, ed25519 or dual.
CREATE TABLE sender_domains (
    domain_id   BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain      TEXT    NOT NULL UNIQUE,
    customer_id TEXT    REFERENCES contracts (customer_id) ON DELETE CASCADE,
    algorithm   TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX sender_domains_by_customer ON sender_domains (customer_id);

-- A domain's keys under their selectors. The private key signs as the domain: sealed like
-- S/MIME keys. The public key (`p=` in base64) is public by design, so in clear: listings and
-- `domain verify` compare it with DNS without unsealing anything. `state`: active (signs),
-- pending (made by a rotation, waits for its record to be seen in DNS), retired (replaced,
-- kept until removed).
CREATE TABLE dkim_keys (
    key_id       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain_id    BIGINT  NOT NULL REFERENCES sender_domains (domain_id) ON DELETE CASCADE,
    selector     TEXT    NOT NULL,
    algorithm    TEXT    NOT NULL,
    public_key   TEXT    NOT NULL,
    key_sealed   BYTEA   NOT NULL,
    state        TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    activated_at BIGINT,
    UNIQUE (domain_id, selector)
);

-- What the relay does with a message whose From domain the contract has not registered.
ALTER TABLE contracts ADD COLUMN unregistered_from TEXT NOT NULL DEFAULT 'sign-as-service';
