-- Suppression-list imports run as jobs, SQLite flavour (keep in step with
-- ../postgres/0023_suppression_imports.sql).

-- One uploaded CSV file and how far the worker got through it. The file is a list of
-- addresses: sealed, and dropped (NULL) once the last row is gone through. `done_rows` is the
-- position in the file's data rows; the counts cover the rows before it.
CREATE TABLE suppression_imports (
    import_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id     TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    upload_sealed   BLOB,
    upload_bytes    INTEGER NOT NULL,
    total_rows      INTEGER NOT NULL,
    done_rows       INTEGER NOT NULL,
    added           INTEGER NOT NULL,
    already_listed  INTEGER NOT NULL,
    failed_rows     INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX suppression_imports_by_customer ON suppression_imports (customer_id, import_id);
CREATE INDEX suppression_imports_unfinished ON suppression_imports (import_id)
    WHERE finished_at IS NULL;

-- The first rows (1000 at most) an import refused: the file's line, the field at fault (sealed:
-- it may be an address), the problem's code and, for a duplicate, the line it repeats.
CREATE TABLE suppression_import_errors (
    import_id     INTEGER NOT NULL REFERENCES suppression_imports (import_id) ON DELETE CASCADE,
    line          INTEGER NOT NULL,
    customer_id   TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    value_sealed  BLOB    NOT NULL,
    problem       TEXT    NOT NULL,
    first_line    INTEGER,
    PRIMARY KEY (import_id, line)
);
