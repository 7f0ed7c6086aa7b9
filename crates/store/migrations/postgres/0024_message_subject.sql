-- The subject of each message in the send log, PostgreSQL flavour (keep in step with
-- ../sqlite/0024_message_subject.sql).

-- The hosted API's delivery and bounce records carry the message's `subject` (and the client's
-- `sourceIp`, which `messages.source_ip` already keeps). The decoded Subject, at most 255
-- characters, sealed like the metadata: it is the customer's free text, often about a person.
-- NULL: the message had none, or was accepted before this column existed.
ALTER TABLE messages ADD COLUMN subject_sealed BYTEA;
