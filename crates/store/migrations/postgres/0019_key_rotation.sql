-- Key rotation, PostgreSQL flavour (keep in step with ../sqlite/0019_key_rotation.sql).

-- The keyring of the address sealing. Key 0 is derived from the operator's key file and has
-- no key material here; every later key is 32 random bytes sealed under a key derived from the
-- key file (`wrapped_key`). A key seals new values from `active_from` (ms) on, which lies far
-- enough after its creation that every node has read it by then; before that it only opens.
-- Retiring a key deletes its material (key 0: values without a header stop opening).
CREATE TABLE sealing_keys (
    key_id       BIGINT  NOT NULL PRIMARY KEY,
    wrapped_key  BYTEA,
    created_at   BIGINT  NOT NULL,
    active_from  BIGINT  NOT NULL,
    retired_at   BIGINT
);
INSERT INTO sealing_keys (key_id, wrapped_key, created_at, active_from) VALUES (0, NULL, 0, 0);

-- The rotation in progress or the last one (one row). The re-sealing job runs on one node at a
-- time: the node holding the lease (`lease_owner` until `lease_until`, ms), renewed with every
-- batch. A pass walks every table once; the old key is retired after a whole pass found
-- nothing left to re-seal (`pass_resealed` = 0), at the earliest in pass 2.
CREATE TABLE key_rotation (
    singleton      BIGINT  NOT NULL PRIMARY KEY CHECK (singleton = 1),
    target_key     BIGINT,
    pass           BIGINT  NOT NULL DEFAULT 0,
    pass_resealed  BIGINT  NOT NULL DEFAULT 0,
    resealed       BIGINT  NOT NULL DEFAULT 0,
    started_at     BIGINT,
    finished_at    BIGINT,
    lease_owner    TEXT,
    lease_until    BIGINT
);
INSERT INTO key_rotation (singleton) VALUES (1);

-- Where the rotation's walk through each table with sealed columns stands: the primary key of
-- the last row of the last batch (JSON) in pass `pass`, and the last pass that reached the
-- table's end. Rewritten at the start of every rotation; the cursors are cleared when it ends.
CREATE TABLE key_rotation_tables (
    table_name     TEXT    NOT NULL PRIMARY KEY,
    pass           BIGINT  NOT NULL DEFAULT 0,
    cursor         TEXT,
    finished_pass  BIGINT  NOT NULL DEFAULT 0,
    resealed       BIGINT  NOT NULL DEFAULT 0
);
