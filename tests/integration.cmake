# Integration tests: a real palisaded on a temporary state directory, driven through its
# control socket (raw frames) and the palisade CLI, the way an administrator and a client
# library would (tests/integration/*.py, Python 3 standard library only; harness.py is the
# shared helper). One CTest test per file:
#   integration.protocol   handshake, malformed/oversized/stalled frames, 20 concurrent
#                          clients, cancel of a scan in flight, client disconnect
#   integration.access     socket modes and group, status socket, non-admin refused,
#                          admin-group member allowed
#   integration.walker     FIFO, socket, symlink loop, dangling link, > PATH_MAX path,
#                          newline and invalid-UTF-8 names, mode-000 file, deleted mid-scan,
#                          too deep, exclusions
#   integration.scan       scan cache (bytes_read, cache_hits), containers, unscannable,
#                          progress, scan/status JSON keys, CLI exit codes, Quick and Full
#   integration.policy     policy lock, bad policy and SIGHUP, environment override
#   integration.lifecycle  restart keeps history, lock file, SIGTERM mid-scan, killed
#                          mid-scan, corrupt/newer/foreign database refused untouched,
#                          schema upgrade, unsafe state dir, tampered signature package
#   integration.false_clean  missing/unopenable scan root is exit 2 while the other roots
#                          are scanned, symlink root resolved, allowed threat not counted,
#                          failed quarantine (immutable file) warned and Degraded until dealt
#                          with, content process unusable is exit 3
#   integration.error_codes  the one map from internal errors to protocol codes: PolicyLocked
#                          (policy file, environment), InvalidValue, NotFound, per handler
#   integration.cli_edges  per-command help, --json errors, status last_scan, advice, every
#                          detection logged, restore in the history, allow add vs catalog
#   integration.detached   detached scans: outlive their client, wait, cancel, limit, SIGTERM
#   integration.health     status health: signature age, last Quick/Full scan, health_issues
#                          (never a Full scan, outdated package, unremediated threat, ...)
#   integration.schedule   scheduled scans on a clock the test moves: run, catch-up, priority,
#                          random delay, policy lock, ScanAvgCPULoadFactor
#   integration.catalog    `palisade catalog`: the package's threats, name and severity
#                          filters, bad arguments, nobody answered on the status socket
#   integration.buffer_scan  `palisade scan -`: EICAR on stdin found sandbox on and off,
#                          never bypassed, nobody served, Buffer detection without
#                          remediation, per-uid request/byte limits, size limit
#   integration.rtp_more   exclusions (path, extension, process with SHA-256 pin), the agent's
#                          own scan of a watched tree, off/on and an update during a storm,
#                          tar -x into fresh directories, status and rtp.stats, and the one
#                          test of the default marks (every file system) under a watchdog
#   integration.rtp        real-time protection on a tmpfs of the test's own: written threat
#                          quarantined, cat/exec of a threat EPERM, 1,000 openers under a
#                          stopped content process answered by the deadline, a full queue
#                          (8,192 held) answering an open at once, SIGKILL during a storm, a
#                          file changed after a clean verdict scanned again
#   integration.ansible    examples/ansible run by ansible-playbook on localhost against a
#                          test agent: policy and package deployed, reloaded, verified
#   integration.metrics    `palisade metrics` and the node_exporter textfile pass promtool,
#                          count an EICAR scan; unsafe or symlinked textfile dirs refused
# They run as root (CI does): the access tests switch to `nobody`, and tests hold the
# daemon's walker at a chosen file with a fanotify permission mark (harness.Gate).
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: the integration tests are not registered")
  return()
endif()

set(_pal_integ_pkg ${PAL_DEFS_PACKAGE})
set(_pal_integ_keys ${PAL_TRUSTED_KEYS_DIR})
if(NOT _pal_integ_pkg)
  set(_pal_integ_pkg ${CMAKE_BINARY_DIR}/signatures/palisade-defs.sig)
endif()
if(NOT _pal_integ_keys)
  set(_pal_integ_keys ${CMAKE_BINARY_DIR}/trusted-keys)
endif()

set(_pal_integ_env
    "PAL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "PAL_BINARY_DIR=${CMAKE_BINARY_DIR}"
    "PAL_PALISADED=$<TARGET_FILE:palisaded>"
    "PAL_CLI=$<TARGET_FILE:palisade_cli>"
    "PAL_DEFS_PACKAGE=${_pal_integ_pkg}"
    "PAL_TRUSTED_KEYS_DIR=${_pal_integ_keys}"
    "PYTHONDONTWRITEBYTECODE=1"
    "PYTHONUNBUFFERED=1")

foreach(_pal_integ protocol access walker scan policy lifecycle cache_trust false_clean
                   error_codes cli_edges catalog detached buffer_scan rtp schedule metrics)
  add_test(NAME integration.${_pal_integ}
           COMMAND ${Python3_EXECUTABLE} -B
                   ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_${_pal_integ}.py)
  set_tests_properties(integration.${_pal_integ} PROPERTIES
                       ENVIRONMENT "${_pal_integ_env}"
                       LABELS integration
                       TIMEOUT 600)
endforeach()

# The health test builds an old signature package: it needs the signing tool and key too.
add_test(NAME integration.health
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_health.py)
set(_pal_integ_health_key ${PAL_SIGNING_KEY})
if(NOT _pal_integ_health_key)
  set(_pal_integ_health_key ${CMAKE_BINARY_DIR}/keys/palisade-build.key)
endif()
set_tests_properties(integration.health PROPERTIES
                     ENVIRONMENT "${_pal_integ_env};PAL_SIGTOOL=$<TARGET_FILE:palisade-sigtool>;PAL_SIGNING_KEY=${_pal_integ_health_key}"
                     LABELS integration
                     TIMEOUT 600)

# The events test starts rsyslogd and builds a newer signature package (signing tool, key).
add_test(NAME integration.events
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_events.py)
set_tests_properties(integration.events PROPERTIES
                     ENVIRONMENT "${_pal_integ_env};PAL_SIGTOOL=$<TARGET_FILE:palisade-sigtool>;PAL_SIGNING_KEY=${_pal_integ_health_key};$<$<TARGET_EXISTS:palisade-cp-selftest>:PAL_CP_SELFTEST=$<TARGET_FILE:palisade-cp-selftest>>"
                     LABELS integration
                     TIMEOUT 900)
# The second real-time test builds a newer signature package, with the health test's key, and
# slows a scan down with the self-test content process.
# It runs alone (RUN_SERIAL): its watchdog test monitors every file system of the machine
# for a few seconds, and would deny and quarantine the EICAR files other tests write.
add_test(NAME integration.rtp_more
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_rtp_more.py)
set_tests_properties(integration.rtp_more PROPERTIES
                     ENVIRONMENT "${_pal_integ_env};PAL_SIGTOOL=$<TARGET_FILE:palisade-sigtool>;PAL_SIGNING_KEY=${_pal_integ_health_key};$<$<TARGET_EXISTS:palisade-cp-selftest>:PAL_CP_SELFTEST=$<TARGET_FILE:palisade-cp-selftest>>"
                     LABELS integration
                     RUN_SERIAL TRUE
                     TIMEOUT 600)
# The Ansible example's test reads the deployed package's version with the signing tool.
add_test(NAME integration.ansible
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_ansible.py)
set_tests_properties(integration.ansible PROPERTIES
                     ENVIRONMENT "${_pal_integ_env};PAL_SIGTOOL=$<TARGET_FILE:palisade-sigtool>"
                     LABELS integration
                     TIMEOUT 900)

# integration.cli_rtp: `palisade rtp status|stats|enable|disable` and the real-time lines of
# `palisade status`, on a daemon that monitors only a tmpfs the test mounts.
add_test(NAME integration.cli_rtp
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli_rtp.py)
set_tests_properties(integration.cli_rtp PROPERTIES
                     ENVIRONMENT "${_pal_integ_env}"
                     LABELS integration
                     TIMEOUT 600)
