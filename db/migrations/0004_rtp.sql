-- 0004_rtp.sql — real-time protection (agent/core/rtp): a detection names the process that
-- caused it. Real-time detections carry the process that opened, executed or wrote the file;
-- buffer scans the client that submitted the content. NULL when there was none (on-demand
-- scans) or it could not be told (the process had gone: its pid could have been reused, so
-- the executable is not guessed). Such detections have source 'RealTime' (the source column
-- is open: enforced by the C enum). Conventions as in 0001_initial.sql.

ALTER TABLE detections ADD COLUMN process_pid INTEGER;
ALTER TABLE detections ADD COLUMN process_uid INTEGER;
ALTER TABLE detections ADD COLUMN process_exe TEXT;
