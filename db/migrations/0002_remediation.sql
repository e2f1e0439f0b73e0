-- 0002_remediation.sql — remediation and content-process supervision: quarantined items,
-- the journal of file operations (a step is recorded Pending before the file system is
-- touched and marked Done or Failed after, so a crash in between is found and finished at
-- the next start), per-threat action overrides, and the content process's life events.
-- Conventions as in 0001_initial.sql.

CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY AUTOINCREMENT, -- ids are never reused: a restored item's id keeps naming it in logs and history
    detection_id   INTEGER REFERENCES detections (id) ON DELETE SET NULL,
    threat_name    TEXT NOT NULL,
    original_path  TEXT NOT NULL,
    owner_uid      INTEGER NOT NULL,
    group_gid      INTEGER NOT NULL,
    mode           INTEGER NOT NULL,
    atime_ns       INTEGER NOT NULL,
    mtime_ns       INTEGER NOT NULL,
    ctime_ns       INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    sha256         TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    quarantined_at INTEGER NOT NULL,
    storage_name   TEXT NOT NULL UNIQUE
);
CREATE INDEX quarantine_at ON quarantine (quarantined_at);

CREATE TABLE file_ops (
    id            INTEGER PRIMARY KEY,
    op            TEXT NOT NULL CHECK (op IN ('Quarantine', 'Restore', 'Remove', 'Purge')),
    state         TEXT NOT NULL DEFAULT 'Pending' CHECK (state IN ('Pending', 'Done', 'Failed')),
    detection_id  INTEGER REFERENCES detections (id) ON DELETE SET NULL,
    quarantine_id INTEGER REFERENCES quarantine (id) ON DELETE SET NULL,
    path          TEXT NOT NULL,
    storage_name  TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    detail        TEXT
);
CREATE INDEX file_ops_pending ON file_ops (state) WHERE state = 'Pending';

CREATE TABLE threat_actions (
    threat_name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
    action      TEXT NOT NULL CHECK (action IN ('Quarantine', 'Remove', 'NoAction')),
    set_at      INTEGER NOT NULL,
    set_by      INTEGER
) WITHOUT ROWID;

CREATE TABLE cp_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    pid         INTEGER,
    event       TEXT NOT NULL CHECK (event IN ('Start', 'Exit', 'Signal', 'Crash', 'Kill')),
    exit_code   INTEGER,
    signal      INTEGER,
    reason      TEXT,
    object      TEXT,
    stderr_tail TEXT
);
