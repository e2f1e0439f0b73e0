# The content process seen from the daemon (tests/integration/test_sandbox.py, Python 3
# standard library, on tests/integration/harness.py): corpus results identical with
# SandboxMode Enabled and Disabled, the content process killed (SIGSEGV, SIGKILL) in the
# middle of a scan, its sandbox read from /proc, the live switch and MP_FORCE_USE_SANDBOX,
# a crash loop driven by palisade-cp-selftest, the diagnostics bundle and cp.events.
# Runs as root (fanotify gate, /proc of another user's process, chown-free bundle checks).
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND OR NOT TARGET palisade-cp-selftest)
  message(WARNING "python3 or palisade-cp-selftest missing: integration.sandbox is not registered")
  return()
endif()

set(_pal_sbx_pkg ${PAL_DEFS_PACKAGE})
set(_pal_sbx_keys ${PAL_TRUSTED_KEYS_DIR})
if(NOT _pal_sbx_pkg)
  set(_pal_sbx_pkg ${CMAKE_BINARY_DIR}/signatures/palisade-defs.sig)
endif()
if(NOT _pal_sbx_keys)
  set(_pal_sbx_keys ${CMAKE_BINARY_DIR}/trusted-keys)
endif()
if(PAL_SANITIZE)
  set(_pal_sbx_sanitize 1)
else()
  set(_pal_sbx_sanitize 0)
endif()

add_test(NAME integration.sandbox
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sandbox.py)
set_tests_properties(integration.sandbox PROPERTIES
  ENVIRONMENT "PAL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PAL_BINARY_DIR=${CMAKE_BINARY_DIR};PAL_PALISADED=$<TARGET_FILE:palisaded>;PAL_CLI=$<TARGET_FILE:palisade_cli>;PAL_DEFS_PACKAGE=${_pal_sbx_pkg};PAL_TRUSTED_KEYS_DIR=${_pal_sbx_keys};PAL_CP_SELFTEST=$<TARGET_FILE:palisade-cp-selftest>;PAL_SANITIZE=${_pal_sbx_sanitize};PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1"
  LABELS "integration;sandbox"
  TIMEOUT 900)

# The content process's own uid and its limits, attacked as another daemon would
# (tests/integration/test_cp_identity.py): nobody can neither signal nor prlimit it, a
# changed limit or priority is noticed before the next object, a dedicated account is used
# only when nothing else runs under it, one with nobody's uid is refused. Root only.
add_test(NAME integration.cp_identity
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cp_identity.py)
set_tests_properties(integration.cp_identity PROPERTIES
  ENVIRONMENT "PAL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PAL_BINARY_DIR=${CMAKE_BINARY_DIR};PAL_PALISADED=$<TARGET_FILE:palisaded>;PAL_CLI=$<TARGET_FILE:palisade_cli>;PAL_DEFS_PACKAGE=${_pal_sbx_pkg};PAL_TRUSTED_KEYS_DIR=${_pal_sbx_keys};PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1"
  LABELS "integration;sandbox"
  TIMEOUT 600)
