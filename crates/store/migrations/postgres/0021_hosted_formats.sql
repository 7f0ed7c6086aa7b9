-- The hosted service's two webhook formats, PostgreSQL flavour (keep in step with
-- ../sqlite/0021_hosted_formats.sql).

-- An event webhook endpoint's body format: `standard` (Standard Webhooks, signed), `hosted-json`
-- or `hosted-form` (the hosted service's batched event format, as JSON or form-encoded), and
-- the `api_key` such a body carries for the receiver to check (sealed like every secret; NULL:
-- none is sent).
ALTER TABLE webhook_endpoints ADD COLUMN format TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE webhook_endpoints ADD COLUMN api_key_sealed BYTEA;

-- An inbound route's body format: `json` (the parsed document), `raw` (the message as it
-- came; `forward_raw` says so too, for nodes that predate this column), `hosted-json` or
-- `hosted-multipart` (the hosted service's inbound format), and its optional `api_key`.
ALTER TABLE inbound_routes ADD COLUMN format TEXT NOT NULL DEFAULT 'json';
ALTER TABLE inbound_routes ADD COLUMN api_key_sealed BYTEA;
UPDATE inbound_routes SET format = 'raw' WHERE forward_raw;
