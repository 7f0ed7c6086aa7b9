-- S/MIME signing certificates, PostgreSQL flavour (keep in step with ../sqlite/0011_smime.sql).

-- A contract's certificate with its private key. The chain, its subject and the addresses it
-- covers name e-mail addresses, and the key signs as the certificate's owner: all are sealed.
-- `only_domains` (destination domains, comma-separated, lower case; NULL for every domain) and
-- the validity are plain so that listings and the expiry report need no unsealing.
CREATE TABLE smime_certificates (
    certificate_id   BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id      TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    subject_sealed   BYTEA   NOT NULL,
    chain_sealed     BYTEA   NOT NULL,
    key_sealed       BYTEA   NOT NULL,
    addresses_sealed BYTEA   NOT NULL,
    only_domains     TEXT,
    not_before       BIGINT  NOT NULL,
    not_after        BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL
);
CREATE INDEX smime_certificates_by_customer ON smime_certificates (customer_id, certificate_id);
CREATE INDEX smime_certificates_by_expiry ON smime_certificates (not_after);
