-- A message's events in time order from the index alone, SQLite flavour (keep in step with
-- ../postgres/0029_events_by_message_time.sql).

-- A search by a tag on a few thousand messages reads every event of those messages to sort
-- them (an old message's complaint may be the newest event). With the time in the index (and
-- SQLite's rowid, the event ID, appended to every entry) it sorts the index entries and reads
-- the rows of one page only, instead of every row: at ten million events the dearest console
-- page. A message's own events (the message view) come in time order from it as well.
-- Rebuilding the index reads the whole events table once, at the upgrade.
DROP INDEX events_by_message;
CREATE INDEX events_by_message ON events (message_id, at);
