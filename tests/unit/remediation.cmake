# Remediation: no-follow path resolution to a verified parent (safepath) and the quarantine
# (round trip, refusals, start-up reconciliation of every crash point, purge).
pal_unit_test(safepath LIBS pal_remediation)
pal_unit_test(quarantine LIBS pal_remediation)
