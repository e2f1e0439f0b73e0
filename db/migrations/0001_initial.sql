-- 0001_initial.sql — the first Palisade store schema: scans and their detections, the
-- preference layer of the settings, exclusions, allowed threats, the audit trail, the scan
-- cache and a key/value table for the daemon's own state.
--
-- The store (agent/core/store/store.c) runs each migration inside one transaction and sets
-- PRAGMA user_version to the migration's number in that same transaction, so a migration
-- never opens or ends a transaction itself. db/README.md describes every column.
--
-- Conventions: *_at columns are Unix time in milliseconds (UTC); *_ns are nanoseconds;
-- uid columns hold the peer's uid from SO_PEERCRED, NULL meaning the daemon itself.
-- Vocabularies that are closed by definition (severity, outcome, kinds) are CHECKed here;
-- open ones (scan type, detection source, actions) are enforced by the C enums. Checks use
-- only core SQL: the store runs with trusted_schema=OFF, under which SQLite refuses the JSON
-- functions in a schema, so JSON columns are validated by the C code.

-- 'PALS': a file with another application_id is not ours and is refused.
PRAGMA application_id = 1346456659;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE scans (
    id          INTEGER PRIMARY KEY,
    type        TEXT NOT NULL,
    paths       TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    files       INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    threats     INTEGER NOT NULL DEFAULT 0,
    unscannable INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT NOT NULL DEFAULT 'Running'
                CHECK (outcome IN ('Running', 'Completed', 'Cancelled', 'Failed')),
    error       TEXT,
    started_by  INTEGER
);
CREATE INDEX scans_started ON scans (started_at);

CREATE TABLE detections (
    id            INTEGER PRIMARY KEY,
    scan_id       INTEGER REFERENCES scans (id) ON DELETE SET NULL,
    detected_at   INTEGER NOT NULL,
    threat_name   TEXT NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('Low', 'Moderate', 'High', 'Severe')),
    category      TEXT NOT NULL,
    path          TEXT NOT NULL,
    chain         TEXT NOT NULL,
    sha256        TEXT CHECK (sha256 IS NULL OR
                              (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*')),
    size          INTEGER NOT NULL,
    source        TEXT NOT NULL,
    matched_by    TEXT,
    sig_version   INTEGER,
    action        TEXT,
    action_result TEXT NOT NULL DEFAULT 'Pending',
    action_detail TEXT,
    action_at     INTEGER
);
CREATE INDEX detections_at ON detections (detected_at);
CREATE INDEX detections_scan ON detections (scan_id);

CREATE TABLE preferences (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by INTEGER
) WITHOUT ROWID;

CREATE TABLE exclusions (
    id       INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('Path', 'Extension')),
    value    TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    added_by INTEGER,
    UNIQUE (kind, value)
);

CREATE TABLE allowed_threats (
    id       INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('ThreatName', 'Sha256')),
    value    TEXT NOT NULL COLLATE NOCASE,
    added_at INTEGER NOT NULL,
    added_by INTEGER,
    UNIQUE (kind, value)
);

CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    uid       INTEGER,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);
CREATE INDEX audit_at ON audit (at);

CREATE TABLE scan_cache (
    dev         INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,
    sig_version INTEGER NOT NULL,
    verdict_at  INTEGER NOT NULL,
    PRIMARY KEY (dev, ino)
) WITHOUT ROWID;
CREATE INDEX scan_cache_version ON scan_cache (sig_version);
