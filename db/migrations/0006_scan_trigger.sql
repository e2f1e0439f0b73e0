-- 0006_scan_trigger.sql — who started a scan: a client (Client), the scheduler at the
-- planned time (Scheduled) or the scheduler making up a run missed while palisaded was down
-- (CatchUp). Until now the scheduler kept this in meta rows "scan_trigger.<scan id>" (no
-- migration number was free at the time; a scan without such a row was a client's); they
-- move into the column and are deleted. Each schedule's last-run record (meta
-- "schedule.Quick", "schedule.Full") stays in meta: it is the schedule's, not a scan's.
-- Conventions as in 0001_initial.sql. ("trigger" is an SQL keyword: always quoted.)

ALTER TABLE scans ADD COLUMN "trigger" TEXT NOT NULL DEFAULT 'Client'
    CHECK ("trigger" IN ('Client', 'Scheduled', 'CatchUp'));

-- the scheduler wrote 'Scheduled' or 'CatchUp'; it read anything else as 'Scheduled'
UPDATE scans SET "trigger" = CASE m.value WHEN 'CatchUp' THEN 'CatchUp' ELSE 'Scheduled' END
    FROM meta AS m
    WHERE m.key = 'scan_trigger.' || scans.id;

-- rows of scans already pruned go too: nothing reads them any more
DELETE FROM meta WHERE key GLOB 'scan_trigger.*';

-- the health check's question: the newest finished scheduled run of a type
CREATE INDEX scans_scheduled ON scans (type, id) WHERE "trigger" <> 'Client';
