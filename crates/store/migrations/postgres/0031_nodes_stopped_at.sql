-- When a node stopped cleanly, PostgreSQL flavour (keep in step with
-- ../sqlite/0031_nodes_stopped_at.sql). Its last heartbeat alone would keep it healthy for three
-- more periods; a node that says it stopped is unhealthy at once (the DNS responder stops naming
-- it). Its next heartbeat clears the mark.
ALTER TABLE nodes ADD COLUMN stopped_at BIGINT;
