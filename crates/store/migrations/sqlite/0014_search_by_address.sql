-- Address searches within one contract (SQLite flavour; keep in step with
-- ../postgres/0014_search_by_address.sql).
--
-- A search for a recipient or a sender filters on the contract and the address's keyed hash and
-- wants the newest events first: with the contract in the address's index, one backward scan
-- answers both conditions already in order and stops after the page, whatever the planner's
-- statistics say. (The rowid, which orders events recorded at the same millisecond, is in every
-- SQLite index already.)
DROP INDEX events_by_recipient;
DROP INDEX events_by_sender;
CREATE INDEX events_by_recipient ON events (recipient_hash, customer_id, at);
CREATE INDEX events_by_sender ON events (mail_from_hash, customer_id, at);
