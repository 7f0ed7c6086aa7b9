-- One recipient domain's statistics over a range (the console's delivery graph for a domain,
-- `GET /stats?recipient_domain=`), SQLite flavour (keep in step with
-- ../postgres/0025_stats_by_domain.sql). The primary key orders by hour before domain, so without this
-- index a domain's month would read every domain's rows of that month.
CREATE INDEX stats_domain_hour_by_domain ON stats_domain_hour (customer_id, domain, hour);
