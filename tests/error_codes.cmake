# integration.error_codes (tests/integration/test_error_codes.py): the one map from internal
# errors to protocol codes seen by a client of a real palisaded: PolicyLocked for what a policy
# file or the environment locks, InvalidValue for a list over its limit or a bad value,
# NotFound from the settings and the remediation handlers alike.
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: integration.error_codes is not registered")
  return()
endif()
set(_pal_errcodes_pkg ${PAL_DEFS_PACKAGE})
set(_pal_errcodes_keys ${PAL_TRUSTED_KEYS_DIR})
if(NOT _pal_errcodes_pkg)
  set(_pal_errcodes_pkg ${CMAKE_BINARY_DIR}/signatures/palisade-defs.sig)
endif()
if(NOT _pal_errcodes_keys)
  set(_pal_errcodes_keys ${CMAKE_BINARY_DIR}/trusted-keys)
endif()
add_test(NAME integration.error_codes
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_error_codes.py)
set_tests_properties(integration.error_codes PROPERTIES
  ENVIRONMENT "PAL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PAL_BINARY_DIR=${CMAKE_BINARY_DIR};PAL_PALISADED=$<TARGET_FILE:palisaded>;PAL_CLI=$<TARGET_FILE:palisade_cli>;PAL_DEFS_PACKAGE=${_pal_errcodes_pkg};PAL_TRUSTED_KEYS_DIR=${_pal_errcodes_keys};PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1"
  LABELS integration
  TIMEOUT 600)
