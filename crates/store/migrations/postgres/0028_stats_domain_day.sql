-- Events per recipient domain and UTC day, PostgreSQL flavour (keep in step with
-- ../sqlite/0028_stats_domain_day.sql).

-- "Failures by recipient domain over the last 30 days" (the console's error graph, the API's
-- /stats/domains) summed every domain's hourly counters of the range: 720 hours times every
-- domain and kind, hundreds of thousands of rows at a busy contract's size. With a counter per
-- day, a range is its whole days from here and only the hours of its partial days at either
-- end from stats_domain_hour, about a tenth of the rows. The event writer adds to both tables
-- in the same transaction; the purge drops a day once the whole day is past the report age.
CREATE TABLE stats_domain_day (
    customer_id  TEXT    NOT NULL,
    day          BIGINT  NOT NULL,
    domain       TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    n            BIGINT  NOT NULL,
    PRIMARY KEY (customer_id, day, domain, kind)
);
CREATE INDEX stats_domain_day_by_time ON stats_domain_day (day);

-- The days of the counters already kept.
INSERT INTO stats_domain_day (customer_id, day, domain, kind, n)
SELECT customer_id, hour - hour % 86400000, domain, kind, SUM(n)
FROM stats_domain_hour
GROUP BY customer_id, hour - hour % 86400000, domain, kind;
