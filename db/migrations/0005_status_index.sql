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
