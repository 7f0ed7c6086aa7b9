-- Key rotation, SQLite flavour (keep in step with ../postgres/0019_key_rotation.sql).

-- The keyring of the address sealing. Key 0 is derived from the operator's key file and has
-- no key material here; every later key is 32 random bytes sealed under a key derived from the
-- key file (`wrapped_key`). A key seals new values from `active_from` (ms) on, which lies far
-- enough after its creation that every node has read it by then; before that it only opens.
-- Retiring a key deletes its material (key 0: values without a header stop opening).
CREATE TABLE sealing_keys (
    key_id       INTEGER NOT NULL PRIMARY KEY,
    wrapped_key  BLOB,
    created_at   INTEGER NOT NULL,
    active_from  INTEGER NOT NULL,
    retired_at   INTEGER
);
INSERT INTO sealing_keys (key_id, wrapped_key, created_at, active_from) VALUES (0, NULL, 0, 0);

-- The rotation in progress or the last one (one row). The re-sealing job runs on one node at a
-- time: the node holding the lease (`lease_owner` until `lease_until`, ms), renewed with every
-- batch. A pass walks every table once; the old key is retired after a whole pass found
-- nothing left to re-seal (`pass_resealed` = 0), at the earliest in pass 2.
CREATE TABLE key_rotation (
    singleton      INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    target_key     INTEGER,
    pass           INTEGER NOT NULL DEFAULT 0,
    pass_resealed  INTEGER NOT NULL DEFAULT 0,
    resealed       INTEGER NOT NULL DEFAULT 0,
    started_at     INTEGER,
    finished_at    INTEGER,
    lease_owner    TEXT,
    lease_until    INTEGER
);
INSERT INTO key_rotation (singleton) VALUES (1);

-- Where the rotation's walk through each table with sealed columns stands: the primary key of
-- the last row of the last batch (JSON) in pass `pass`, and the last pass that reached the
-- table's end. Rewritten at the start of every rotation; the cursors are cleared when it ends.
CREATE TABLE key_rotation_tables (
    table_name     TEXT    NOT NULL PRIMARY KEY,
    pass           INTEGER NOT NULL DEFAULT 0,
    cursor         TEXT,
    finished_pass  INTEGER NOT NULL DEFAULT 0,
    resealed       INTEGER NOT NULL DEFAULT 0
);
