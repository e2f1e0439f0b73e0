# The installer (issue 7), tested on this machine:
#   installer.deb   tests/installer/test_deb.sh: CPack builds the .deb and .tar.gz from this
#                   build tree; the .deb is linted, installed with dpkg, its daemon started
#                   as the unit's ExecStart, used from a fresh pwsh (Import-Module Palisade,
#                   Start-Scan on EICAR files, Get-ThreatHistory), upgraded, removed and
#                   purged, and nothing it installed may be left. Root only (skipped
#                   otherwise, exit 77).
# It installs into the production paths (/usr, /etc, /var/lib/palisade, /run/palisade), adds
# accounts and serves the default socket, so it runs alone: RUN_SERIAL keeps every other test
# of the same ctest run away, and a lock file keeps a second ctest run (another build
# directory) out. Left out of sanitizer builds: pwsh cannot load an ASan-instrumented
# libpalisade, and such binaries are not what gets packaged.
if(PAL_SANITIZE)
  return()
endif()

add_test(NAME installer.deb
         COMMAND ${CMAKE_SOURCE_DIR}/tests/installer/test_deb.sh ${CMAKE_BINARY_DIR})
set_tests_properties(installer.deb PROPERTIES
  RUN_SERIAL TRUE
  SKIP_RETURN_CODE 77
  TIMEOUT 1200
  LABELS installer)
