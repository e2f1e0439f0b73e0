-- 0005_status_index.sql — what the status op reads must be found through indexes, not by
-- passes over the whole history: status is open to every local user and runs under the
-- store's lock, so its cost must not grow with the number of scans and detections
-- (bench/RESULTS.md, "Status on a large history"). Conventions as in 0001_initial.sql.
--
-- The unremediated-threat count (pal_store_unremediated_count, store_scans.c) needs:
--  - the Failed rows: a partial index holding only them (failed remediations are rare);
--  - the later detections of the same file: an index on detections(path);
--  - the roots of the Completed scans started after a detection: completed_roots, one row
--    per root of each Completed scan, kept by the triggers below from scans.paths (which
--    nothing rewrites; the triggers still follow any change of paths, started_at or
--    outcome, and deletions), indexed by (root, started_at).
-- The last scan of a type (pal_store_scan_last: last_quick_scan, last_full_scan,
-- NoRecentFullScan) needs scans(type, started_at): through scans_started alone, a type that
-- has not run for a long time costs a walk over every newer scan of the other types.

CREATE INDEX detections_failed ON detections (detected_at) WHERE action_result = 'Failed';
CREATE INDEX detections_path ON detections (path);
CREATE INDEX scans_type_started ON scans (type, started_at);

CREATE TABLE completed_roots (
    scan_id    INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    root       TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    PRIMARY KEY (scan_id, root)
) WITHOUT ROWID;
CREATE INDEX completed_roots_root ON completed_roots (root, started_at);

-- A scan's paths are a JSON array of strings (pal_store_scan_begin). Here, a value that is
-- not valid JSON (written by hand) covers nothing rather than stopping the upgrade; the
-- triggers cannot test it (json_valid is not allowed in schema code while trusted_schema is
-- off, storedb.c; json_each is), so such a value written later fails its write, as it
-- failed the count before. The same root given twice is one row.
INSERT OR IGNORE INTO completed_roots (scan_id, root, started_at)
    SELECT s.id, r.value, s.started_at
    FROM scans s, json_each(CASE WHEN json_valid(s.paths) THEN s.paths ELSE '[]' END) r
    WHERE s.outcome = 'Completed' AND r.value IS NOT NULL;

CREATE TRIGGER scans_roots_insert AFTER INSERT ON scans
    WHEN new.outcome = 'Completed'
BEGIN
    INSERT OR IGNORE INTO completed_roots (scan_id, root, started_at)
        SELECT new.id, r.value, new.started_at
        FROM json_each(new.paths) r
        WHERE r.value IS NOT NULL;
END;

CREATE TRIGGER scans_roots_update AFTER UPDATE OF paths, started_at, outcome, id ON scans
BEGIN
    DELETE FROM completed_roots WHERE scan_id = old.id;
    INSERT OR IGNORE INTO completed_roots (scan_id, root, started_at)
        SELECT new.id, r.value, new.started_at
        FROM json_each(new.paths) r
        WHERE new.outcome = 'Completed' AND r.value IS NOT NULL;
END;

CREATE TRIGGER scans_roots_delete AFTER DELETE ON scans
BEGIN
    DELETE FROM completed_roots WHERE scan_id = old.id;
END;

-- The metrics op (store_metrics.c, open to every local user as well) reports counters over
-- the whole history: scans by type and outcome with their files and bytes, detections by
-- severity, source, action and result. Kept as running totals by triggers (insert, update of
-- the grouped columns, delete), filled here from the rows already there, so that reading them
-- costs a few dozen rows instead of a GROUP BY pass over each table. A group whose count went
-- back to 0 stays with count 0 (the reader skips it). The newest end of each scan group is an
-- index search (scans_type_outcome_ended). A NULL action is stored as 'None'.

CREATE TABLE detection_counts (
    severity      TEXT NOT NULL,
    source        TEXT NOT NULL,
    action        TEXT NOT NULL,
    action_result TEXT NOT NULL,
    count         INTEGER NOT NULL,
    PRIMARY KEY (severity, source, action, action_result)
) WITHOUT ROWID;
INSERT INTO detection_counts (severity, source, action, action_result, count)
    SELECT severity, source, coalesce(action, 'None'), action_result, count(*) FROM detections
    GROUP BY 1, 2, 3, 4;
CREATE TRIGGER detections_count_insert AFTER INSERT ON detections
BEGIN
    INSERT INTO detection_counts (severity, source, action, action_result, count)
        VALUES (new.severity, new.source, coalesce(new.action, 'None'), new.action_result, 1)
        ON CONFLICT (severity, source, action, action_result) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER detections_count_update
    AFTER UPDATE OF severity, source, action, action_result ON detections
BEGIN
    UPDATE detection_counts SET count = count - 1
        WHERE severity = old.severity AND source = old.source
        AND action = coalesce(old.action, 'None') AND action_result = old.action_result;
    INSERT INTO detection_counts (severity, source, action, action_result, count)
        VALUES (new.severity, new.source, coalesce(new.action, 'None'), new.action_result, 1)
        ON CONFLICT (severity, source, action, action_result) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER detections_count_delete AFTER DELETE ON detections
BEGIN
    UPDATE detection_counts SET count = count - 1
        WHERE severity = old.severity AND source = old.source
        AND action = coalesce(old.action, 'None') AND action_result = old.action_result;
END;

CREATE TABLE scan_counts (
    type    TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count   INTEGER NOT NULL,
    files   INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    PRIMARY KEY (type, outcome)
) WITHOUT ROWID;
CREATE INDEX scans_type_outcome_ended ON scans (type, outcome, ended_at);
INSERT INTO scan_counts (type, outcome, count, files, bytes)
    SELECT type, outcome, count(*), coalesce(sum(files), 0), coalesce(sum(bytes), 0) FROM scans
    GROUP BY 1, 2;
CREATE TRIGGER scans_count_insert AFTER INSERT ON scans
BEGIN
    INSERT INTO scan_counts (type, outcome, count, files, bytes)
        VALUES (new.type, new.outcome, 1, new.files, new.bytes)
        ON CONFLICT (type, outcome) DO UPDATE SET count = count + 1,
        files = files + excluded.files, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER scans_count_update AFTER UPDATE OF type, outcome, files, bytes ON scans
BEGIN
    UPDATE scan_counts SET count = count - 1, files = files - old.files, bytes = bytes - old.bytes
        WHERE type = old.type AND outcome = old.outcome;
    INSERT INTO scan_counts (type, outcome, count, files, bytes)
        VALUES (new.type, new.outcome, 1, new.files, new.bytes)
        ON CONFLICT (type, outcome) DO UPDATE SET count = count + 1,
        files = files + excluded.files, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER scans_count_delete AFTER DELETE ON scans
BEGIN
    UPDATE scan_counts SET count = count - 1, files = files - old.files, bytes = bytes - old.bytes
        WHERE type = old.type AND outcome = old.outcome;
END;
