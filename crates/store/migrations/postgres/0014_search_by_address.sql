-- Address searches within one contract (PostgreSQL flavour; keep in step with
-- ../sqlite/0014_search_by_address.sql).
--
-- A search for a recipient or a sender filters on the contract and the address's keyed hash and
-- wants the newest events first. With the hash alone in the index, PostgreSQL could (and, when
-- its statistics lag behind a fast-growing send log, did) combine it with the contract's index in
-- a bitmap AND, reading every event of the contract: over a second for a contract of 10 million
-- events. With the contract in the same index, one backward scan of it answers both conditions
-- already in order, and stops after the page.
DROP INDEX events_by_recipient;
DROP INDEX events_by_sender;
CREATE INDEX events_by_recipient ON events (recipient_hash, customer_id, at, event_id);
CREATE INDEX events_by_sender ON events (mail_from_hash, customer_id, at, event_id);
