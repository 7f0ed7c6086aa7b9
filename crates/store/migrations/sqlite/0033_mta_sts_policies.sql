-- The MTA-STS policies delivery fetched, SQLite flavour (keep in step with
-- ../postgres/0033_mta_sts_policies.sql).

-- One row per recipient domain: the policy last fetched for it, kept so that a restarted node
-- goes on enforcing it until it expires instead of fetching it again first (a fetch an attacker
-- could block). `policy_id` is the id of the `_mta-sts` TXT record it was fetched for; `mode` is
-- enforce, testing or none; `mx` the policy's patterns one per line; `max_age` in seconds;
-- `fetched_at` and `expires_at` in ms since the Unix epoch. Expired rows go when a policy is
-- saved.
CREATE TABLE mta_sts_policies (
    domain      TEXT    NOT NULL PRIMARY KEY,
    policy_id   TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    mx          TEXT    NOT NULL,
    max_age     INTEGER NOT NULL,
    fetched_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX mta_sts_policies_by_expiry ON mta_sts_policies (expires_at);
