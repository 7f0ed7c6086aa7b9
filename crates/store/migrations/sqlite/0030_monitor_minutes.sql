-- The availability monitor's record, SQLite flavour (keep in step with
-- ../postgres/0030_monitor_minutes.sql).

-- One row per minute (since the Unix epoch, UTC) and probed target (a node's name, or an
-- `[[monitor.target]]`'s): whether its HTTP and its SMTP answered, and `up` when both did in
-- one probe. Several monitors probing one target in one minute share the row, `up` if any of
-- them saw it up. Kept about 400 days (the retention job), for monthly reports.
CREATE TABLE monitor_minutes (
    minute     INTEGER NOT NULL,
    target     TEXT    NOT NULL,
    up         INTEGER NOT NULL,
    http_up    INTEGER NOT NULL,
    smtp_up    INTEGER NOT NULL,
    probed_by  TEXT    NOT NULL,
    PRIMARY KEY (minute, target)
);
