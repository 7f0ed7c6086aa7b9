-- What was announced about each outage, PostgreSQL flavour (keep in step with
-- ../sqlite/0032_outage_announcements.sql).

-- One row per outage the availability monitor announced, keyed by its first minute (since the
-- Unix epoch, UTC), shared by every monitor: the row is what makes "it began" and "it is over"
-- each told once, whichever monitor sees it first. `began_at` is when "it began, and goes on"
-- was recorded (NULL: the outage was first seen when it was already over, and one notice told
-- both); `resolved_at` when its end was recorded, with the end (ms) and its minutes. Kept as
-- long as the monitor's minutes (the retention job).
CREATE TABLE outage_announcements (
    starts_minute  BIGINT  NOT NULL PRIMARY KEY,
    began_at       BIGINT,
    resolved_at    BIGINT,
    ends_at        BIGINT,
    minutes        BIGINT
);
