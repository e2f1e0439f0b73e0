-- 0003_cache_trust.sql — forget every scan-cache entry made before the cache's trust rules
-- (agent/core/scan/cachetrust.h): an older broker cached any clean file by its metadata alone,
-- including files a user could change through a shared writable mapping without changing
-- that metadata, so none of its entries can be trusted. Each file is simply read again once.
-- Conventions as in 0001_initial.sql.

DELETE FROM scan_cache;
