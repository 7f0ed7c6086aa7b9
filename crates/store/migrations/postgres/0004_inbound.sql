-- Inbound parse, PostgreSQL flavour (keep in step with ../sqlite/0004_inbound.sql).

-- Where a contract's inbound mail goes. The pattern (an address, a domain or `*.domain`) may be
-- an address, so it is sealed like every address and found through its keyed look-up hash; one
-- pattern names one route, whichever contract it belongs to. The signing secret is sealed too.
CREATE TABLE inbound_routes (
    route_id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id           TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    pattern_sealed        BYTEA   NOT NULL,
    pattern_hash          BYTEA   NOT NULL UNIQUE,
    endpoint              TEXT    NOT NULL,
    forward_raw           BOOLEAN NOT NULL,
    signing_secret_sealed BYTEA   NOT NULL,
    created_at            BIGINT  NOT NULL
);
CREATE INDEX inbound_routes_by_customer ON inbound_routes (customer_id, route_id);

-- One received mail on its way to its route's endpoint. `next_attempt_at` is NULL once the post
-- is final (delivered or given up); a poster claims a due post by moving it forward by a lease.
-- `digest` (keyed hash of route, envelope, time and content) makes enqueueing idempotent, so
-- an error server that replays its spool after a crash does not post a mail twice. The message
-- is sealed and emptied once the post is final.
CREATE TABLE inbound_posts (
    post_id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    route_id         BIGINT  NOT NULL REFERENCES inbound_routes (route_id) ON DELETE CASCADE,
    customer_id      TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    message_id       TEXT    NOT NULL,
    digest           BYTEA   NOT NULL UNIQUE,
    mail_from_sealed BYTEA   NOT NULL,
    recipient_sealed BYTEA   NOT NULL,
    message_sealed   BYTEA   NOT NULL,
    size             BIGINT  NOT NULL,
    received_at      BIGINT  NOT NULL,
    state            TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT
);
CREATE INDEX inbound_posts_due ON inbound_posts (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX inbound_posts_by_route ON inbound_posts (route_id, post_id);

-- Every POST attempt: when, how it ended (an HTTP status or a connection error) and how long it took.
CREATE TABLE inbound_attempts (
    attempt_id   BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id      BIGINT  NOT NULL REFERENCES inbound_posts (post_id) ON DELETE CASCADE,
    route_id     BIGINT  NOT NULL,
    customer_id  TEXT    NOT NULL,
    attempt      BIGINT  NOT NULL,
    at           BIGINT  NOT NULL,
    http_status  BIGINT,
    error        TEXT,
    duration_ms  BIGINT  NOT NULL,
    outcome      TEXT    NOT NULL
);
CREATE INDEX inbound_attempts_by_post ON inbound_attempts (post_id, attempt_id);
CREATE INDEX inbound_attempts_by_route ON inbound_attempts (route_id, attempt_id);
CREATE INDEX inbound_attempts_by_time ON inbound_attempts (at);
