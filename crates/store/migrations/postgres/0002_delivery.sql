-- What the delivery engine needs, PostgreSQL flavour (keep in step with ../sqlite/0002_delivery.sql).

-- Set once no recipient of the message is queued or deferred. Rows that are still pending are
-- few next to the 40 days of finished ones, so the engine finds its work through a partial index
-- whose size follows the live queue, not the history.
ALTER TABLE messages ADD COLUMN completed_at BIGINT;
UPDATE messages SET completed_at = received_at
 WHERE NOT EXISTS (SELECT 1 FROM message_recipients r
                    WHERE r.message_id = messages.message_id
                      AND r.state IN ('queued', 'deferred'));
CREATE INDEX messages_pending_by_node ON messages (node, message_id) WHERE completed_at IS NULL;

-- The operator's retry/delete, for the engine of the message's node to take. The store applies
-- the state change itself in the same transaction; a row only tells the running engine to update
-- its in-memory schedule, and is deleted when the engine takes it.
CREATE TABLE queue_commands (
    command_id  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node        TEXT    NOT NULL,
    message_id  TEXT    NOT NULL REFERENCES messages (message_id) ON DELETE CASCADE,
    action      TEXT    NOT NULL,
    issued_at   BIGINT  NOT NULL
);
CREATE INDEX queue_commands_by_node ON queue_commands (node, command_id);

-- Send-log searches over all contracts (the operator's) and the 40-day retention purge go by time.
CREATE INDEX events_by_time ON events (at);
