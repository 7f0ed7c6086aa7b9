-- A search by reason through an index of its own, PostgreSQL flavour (keep in step with
-- ../sqlite/0027_events_by_reason.sql).

-- "This contract, this reason, newest first": without it a search by reason walked the
-- contract's events in time order and tested each, a page costing as many rows as lie between
-- the reason's events (hundreds of thousands for a rare one). The key order is that of
-- events_by_customer_kind, with event_id spelt out as the tie-breaker, so one backward range
-- gives the search's order and its cursor and stops after the page.
--
-- Partial: only events with a reason (bounces, deferrals, suppressions, expiries, complaints,
-- a few per cent of the log) are in it, so the index stays small and an event without a
-- reason (acceptances, deliveries: nearly all of them) costs the intake nothing. Each event
-- with a reason is one more B-tree write on insert. Events written before migration 0007 keep
-- a NULL reason and were never found by reason anyway.
CREATE INDEX events_by_customer_reason ON events (customer_id, reason, at, event_id)
    WHERE reason IS NOT NULL;
