-- The send log made searchable and counted, PostgreSQL flavour (keep in step with ../sqlite/0007_events.sql).

-- Plain search columns of the send log. The domain (lower-case) and the reason name say little
-- about a person, unlike the address, which stays sealed and is found through its keyed hash.
-- Rows written before this migration keep NULL here: filling them would mean opening every
-- sealed address and detail, so searches by domain or reason find only newer events (and the
-- 40-day retention makes that gap close by itself). The reasons that follow from the kind alone
-- are filled in.
ALTER TABLE events ADD COLUMN recipient_domain TEXT;
ALTER TABLE events ADD COLUMN reason TEXT;
UPDATE events SET reason = 'expired' WHERE kind = 'expired';
UPDATE events SET reason = 'suppressed' WHERE kind = 'suppressed';
UPDATE events SET reason = 'feedback' WHERE kind = 'complaint';

-- The recipient's domain, kept with the recipient so that the events written after acceptance
-- (outcomes, deletions) get their search column without opening the sealed address.
ALTER TABLE message_recipients ADD COLUMN domain TEXT;

-- Newest first, page after page: every search orders by (at, event_id), so the indexes end
-- with both (SQLite gets event_id for free as the rowid; PostgreSQL needs it spelt out).
DROP INDEX events_by_customer_time;
DROP INDEX events_by_recipient;
CREATE INDEX events_by_customer_time ON events (customer_id, at, event_id);
CREATE INDEX events_by_recipient ON events (recipient_hash, at, event_id);
CREATE INDEX events_by_customer_domain ON events (customer_id, recipient_domain, at, event_id);
CREATE INDEX events_by_customer_kind ON events (customer_id, kind, at, event_id);
CREATE INDEX events_by_sender ON events (mail_from_hash, at, event_id);

-- Tags a sender put on a message (HTTP sends), plain and indexed for search; its metadata is
-- sealed on the message row (values are the customer's free text).
CREATE TABLE message_tags (
    message_id   TEXT    NOT NULL,
    customer_id  TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    tag          TEXT    NOT NULL,
    PRIMARY KEY (message_id, tag)
);
CREATE INDEX message_tags_by_tag ON message_tags (customer_id, tag, message_id);
ALTER TABLE messages ADD COLUMN metadata_sealed BYTEA;

-- Statistics counters, written with the events they count, so that statistics never scan the
-- send log. They follow its retention. Kinds per minute; the breakdowns by reason and by
-- recipient domain per hour, since domains are many and those views span days.
CREATE TABLE stats_minute (
    customer_id  TEXT    NOT NULL,
    minute       BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (customer_id, minute, kind)
);
-- The same per hour, so that a chart over weeks reads hundreds of rows, not tens of thousands.
CREATE TABLE stats_hour (
    customer_id  TEXT    NOT NULL,
    hour         BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (customer_id, hour, kind)
);
CREATE TABLE stats_reason_hour (
    customer_id  TEXT    NOT NULL,
    hour         BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (customer_id, hour, kind, reason)
);
CREATE TABLE stats_domain_hour (
    customer_id  TEXT    NOT NULL,
    hour         BIGINT  NOT NULL,
    domain       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (customer_id, hour, domain, kind)
);
CREATE INDEX stats_minute_by_time ON stats_minute (minute);
CREATE INDEX stats_hour_by_time ON stats_hour (hour);
CREATE INDEX stats_reason_hour_by_time ON stats_reason_hour (hour);
CREATE INDEX stats_domain_hour_by_time ON stats_domain_hour (hour);

-- What a contract sent in a calendar month (recipients accepted minus those suppressed), for
-- billing: kept beyond the send log's retention, and beyond the contract itself.
CREATE TABLE usage_month (
    customer_id  TEXT    NOT NULL,
    month        BIGINT  NOT NULL,
    sent         BIGINT  NOT NULL,
    PRIMARY KEY (customer_id, month)
);

-- Webhook endpoints and the kinds of event each wants; the secret is sealed.
CREATE TABLE webhook_endpoints (
    endpoint_id    BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id    TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    url            TEXT    NOT NULL,
    secret_sealed  BYTEA    NOT NULL,
    created_at     BIGINT  NOT NULL
);
CREATE INDEX webhook_endpoints_by_customer ON webhook_endpoints (customer_id, endpoint_id);
CREATE TABLE webhook_subscriptions (
    endpoint_id  BIGINT  NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    customer_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    PRIMARY KEY (customer_id, kind, endpoint_id)
);
CREATE INDEX webhook_subscriptions_by_endpoint ON webhook_subscriptions (endpoint_id);

-- One row per (event, endpoint) to deliver, written with the event. A sender claims due rows by
-- moving `available_at` forward by a lease and deletes them once delivered; a crashed sender's
-- rows come due again when the lease ends.
CREATE TABLE webhook_outbox (
    outbox_id     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id   BIGINT  NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    event_id      BIGINT  NOT NULL,
    customer_id   TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    available_at  BIGINT  NOT NULL,
    attempts      BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (available_at, outbox_id);
