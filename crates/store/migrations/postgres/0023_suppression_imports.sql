-- Suppression-list imports run as jobs, PostgreSQL flavour (keep in step with
-- ../sqlite/0023_suppression_imports.sql).

-- One uploaded CSV file and how far the worker got through it. The file is a list of
-- addresses: sealed, and dropped (NULL) once the last row is gone through. `done_rows` is the
-- position in the file's data rows; the counts cover the rows before it.
CREATE TABLE suppression_imports (
    import_id       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    upload_sealed   BYTEA,
    upload_bytes    BIGINT  NOT NULL,
    total_rows      BIGINT  NOT NULL,
    done_rows       BIGINT  NOT NULL,
    added           BIGINT  NOT NULL,
    already_listed  BIGINT  NOT NULL,
    failed_rows     BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX suppression_imports_by_customer ON suppression_imports (customer_id, import_id);
CREATE INDEX suppression_imports_unfinished ON suppression_imports (import_id)
    WHERE finished_at IS NULL;

-- The first rows (1000 at most) an import refused: the file's line, the field at fault (sealed:
-- it may be an address), the problem's code and, for a duplicate, the line it repeats.
CREATE TABLE suppression_import_errors (
    import_id     BIGINT  NOT NULL REFERENCES suppression_imports (import_id) ON DELETE CASCADE,
    line          BIGINT  NOT NULL,
    customer_id   TEXT    NOT NULL REFERENCES contracts (customer_id) ON DELETE CASCADE,
    value_sealed  BYTEA   NOT NULL,
    problem       TEXT    NOT NULL,
    first_line    BIGINT,
    PRIMARY KEY (import_id, line)
);
