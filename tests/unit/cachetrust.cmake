# The scan cache's admission rule (agent/core/scan/cachetrust.h): the writeback sysctls, the file
# system list and the decision. The attack itself is tests/integration/test_cache_trust.py.
pal_unit_test(cachetrust LIBS pal_scan)
