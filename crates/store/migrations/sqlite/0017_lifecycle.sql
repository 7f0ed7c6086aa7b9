-- The data's lifecycle, SQLite flavour (keep in step with ../postgres/0017_lifecycle.sql).

-- When a contract was terminated: its data is deleted `contracts.termination_grace` later.
-- Contracts terminated before this column existed count from now.
ALTER TABLE contracts ADD COLUMN terminated_at INTEGER;
UPDATE contracts SET terminated_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000
 WHERE state = 'terminated';
-- When an idle trial contract was last told it will be suspended. A warning given before the
-- contract's last use belongs to an earlier idle spell, so nothing needs resetting on use.
ALTER TABLE contracts ADD COLUMN trial_warned_at INTEGER;

-- What is left of a contract whose data was deleted: its ID (never to be given again), its
-- name (so that the operator can tell what it was) and when. Nothing else.
CREATE TABLE deleted_contracts (
    customer_id  TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    deleted_at   INTEGER NOT NULL
);

-- Usage per contract and UTC hour, written with the events it counts. A calendar month in the
-- configured time zone (a whole-hour offset) is a range of hours, summed when read: so the
-- nodes sharing a database never need to agree on the zone when they write, and a change of
-- the zone re-counts history correctly. Kept beyond the send log's retention (billing); deleted
-- with its contract. The monthly counts kept so far (UTC months) become their month's first
-- hour, which lies in the same month in any zone east of UTC.
CREATE TABLE usage_hour (
    customer_id  TEXT    NOT NULL,
    hour         INTEGER NOT NULL,
    sent         INTEGER NOT NULL,
    PRIMARY KEY (customer_id, hour)
);
INSERT INTO usage_hour (customer_id, hour, sent) SELECT customer_id, month, sent FROM usage_month;
DROP TABLE usage_month;
CREATE INDEX usage_hour_by_time ON usage_hour (hour);
