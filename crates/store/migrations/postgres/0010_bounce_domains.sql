-- Contracts' own bounce domains, PostgreSQL flavour (keep in step with ../sqlite/0010_bounce_domains.sql).

-- The domain a contract's VERP return paths are on instead of the platform's, so that the
-- envelope sender aligns with the contract's From domain. A domain belongs to one contract
-- (the error server must know whose bounces it takes), and a contract has one. Domains are not
-- addresses: they are kept in clear, in lower case, without a trailing dot.
CREATE TABLE bounce_domains (
    domain      TEXT    PRIMARY KEY,
    customer_id TEXT    NOT NULL UNIQUE REFERENCES contracts (customer_id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL
);
