-- The operator's quality data and the reputation guard, PostgreSQL flavour (keep in step with
-- ../sqlite/0018_quality_reputation.sql).

-- Outcomes per UTC day by recipient domain, and by the remote reply's normalised text (no
-- address, no ID, no IP in it), of all contracts together: no address and no contract is in
-- these rows. They are the operator's long-term record and are kept beyond the report
-- retention and beyond any contract: the purge of report data must not delete them.
CREATE TABLE quality_domain_day (
    day     BIGINT NOT NULL,
    domain  TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (day, domain, kind)
);
CREATE TABLE quality_reply_day (
    day     BIGINT NOT NULL,
    kind    TEXT    NOT NULL,
    reply   TEXT    NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (day, kind, reply)
);

-- Per contract and hour: messages that reached a final delivery outcome, hard bounces (at
-- delivery or reported later) and complaints; the reputation guard's window is summed from
-- these, never from the send log. Older than the guard's window (7 days by default) they
-- serve nothing and may be purged with the report data.
CREATE TABLE reputation_hour (
    customer_id   TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    hour          BIGINT NOT NULL,
    messages      BIGINT NOT NULL,
    hard_bounces  BIGINT NOT NULL,
    complaints    BIGINT NOT NULL,
    PRIMARY KEY (customer_id, hour)
);
CREATE INDEX reputation_hour_by_time ON reputation_hour (hour);

-- The guard's state of a contract: the start of its current warning episode, its pause, and
-- its last resume with the counts of that hour up to the resume (the window starts after it,
-- so a resumed contract is not paused again by the figures that paused it). No row: never
-- warned.
CREATE TABLE reputation_status (
    customer_id            TEXT    NOT NULL PRIMARY KEY REFERENCES contracts (customer_id) ON DELETE CASCADE,
    warned_at              BIGINT,
    paused_at              BIGINT,
    paused_reason          TEXT,
    resumed_at             BIGINT,
    baseline_hour          BIGINT,
    baseline_messages      BIGINT NOT NULL DEFAULT 0,
    baseline_hard_bounces  BIGINT NOT NULL DEFAULT 0,
    baseline_complaints    BIGINT NOT NULL DEFAULT 0
);
