# The daemon's rooms that need its state or a scan: the scan job with a fake slot host
# (canned reports) over a store on a temp file, the slot pool, and the daemon itself (built
# over a temp state directory with the in-process engine: signature updates and rollback,
# and handlers through the real control socket and libpalisade).
find_package(Threads REQUIRED)
pal_unit_test(scanjob LIBS pal_scan pal_sigbuild Threads::Threads)
pal_unit_test(slots LIBS pal_scan Threads::Threads)
pal_unit_test(throttle LIBS pal_scan Threads::Threads)
pal_unit_test(daemon LIBS pal_daemon pal_sigbuild libpalisade Threads::Threads)
