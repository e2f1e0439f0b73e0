# Remediation integration tests: a real palisaded quarantining, removing, restoring and
# updating signatures (tests/integration/test_remediation*.py, Python 3 standard library;
# remediation_helpers.py builds on harness.py). One CTest test per file:
#   remediation.actions  quarantine records, inert store, restore (identical bytes, owner,
#                        group, mode, mtime; refuse/force; destination; hash check; allow),
#                        remove, allowed threats, NoAction/Remove, retention purge, CLI
#   remediation.race     an unprivileged attacker swapping the parent directory for a
#                        symlink to a root-owned victim and replacing the scanned file, at a
#                        held point and in a free-running loop: the victim is never touched
#   remediation.xdev     quarantine and restore across file systems (tmpfs <-> the state
#                        directory's file system)
#   remediation.crash    SIGKILL at random moments of >= 200 quarantine/restore operations;
#                        no file lost, no record without its file, no temporary file left
#   remediation.space    sparse files quarantined and restored sparse (two 250 MiB archives
#                        of a few KiB take a few KiB), the item, total and free-space limits
#                        (the threat stays in place, its action Failed naming the limit),
#                        the limits set and locked by policy
#   remediation.update   tampered / truncated / unknown-key packages refused, downgrade only
#                        when forced, rollback, scanners switched with a scan in flight,
#                        SIGKILL during updates
# They run as root (mount, setuid to nobody) and are skipped otherwise.
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: the remediation tests are not registered")
  return()
endif()

set(_pal_rem_pkg ${PAL_DEFS_PACKAGE})
set(_pal_rem_keys ${PAL_TRUSTED_KEYS_DIR})
set(_pal_rem_signing ${PAL_SIGNING_KEY})
if(NOT _pal_rem_pkg)
  set(_pal_rem_pkg ${CMAKE_BINARY_DIR}/signatures/palisade-defs.sig)
endif()
if(NOT _pal_rem_keys)
  set(_pal_rem_keys ${CMAKE_BINARY_DIR}/trusted-keys)
endif()
if(NOT _pal_rem_signing)
  set(_pal_rem_signing ${CMAKE_BINARY_DIR}/keys/palisade-build.key)
endif()

set(_pal_rem_env
    "PAL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "PAL_BINARY_DIR=${CMAKE_BINARY_DIR}"
    "PAL_PALISADED=$<TARGET_FILE:palisaded>"
    "PAL_CLI=$<TARGET_FILE:palisade_cli>"
    "PAL_SIGTOOL=$<TARGET_FILE:palisade-sigtool>"
    "PAL_DEFS_PACKAGE=${_pal_rem_pkg}"
    "PAL_TRUSTED_KEYS_DIR=${_pal_rem_keys}"
    "PAL_SIGNING_KEY=${_pal_rem_signing}"
    "PYTHONDONTWRITEBYTECODE=1"
    "PYTHONUNBUFFERED=1")

foreach(_pal_rem actions race xdev crash update space)
  if(_pal_rem STREQUAL "actions")
    set(_pal_rem_file test_remediation.py)
  else()
    set(_pal_rem_file test_remediation_${_pal_rem}.py)
  endif()
  add_test(NAME remediation.${_pal_rem}
           COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/${_pal_rem_file})
  set_tests_properties(remediation.${_pal_rem} PROPERTIES
                       ENVIRONMENT "${_pal_rem_env}"
                       LABELS "integration;remediation"
                       TIMEOUT 900)
endforeach()
