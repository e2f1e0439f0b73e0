# integration.names (tests/integration/test_names.py): hostile and non-ASCII names through a
# real palisaded, sandbox Enabled and Disabled — file names with terminal escapes, C1 CSI,
# bidi overrides and legacy bytes, and zip members named in UTF-8 and in a legacy code page:
# the CLI's text escapes them (agent/util/display.h), its JSON keeps the exact bytes
# (path + path_b64), the daemon's log escapes them, distinct members stay distinct findings.
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: integration.names is not registered")
  return()
endif()
set(_pal_names_pkg ${PAL_DEFS_PACKAGE})
set(_pal_names_keys ${PAL_TRUSTED_KEYS_DIR})
if(NOT _pal_names_pkg)
  set(_pal_names_pkg ${CMAKE_BINARY_DIR}/signatures/palisade-defs.sig)
endif()
if(NOT _pal_names_keys)
  set(_pal_names_keys ${CMAKE_BINARY_DIR}/trusted-keys)
endif()
add_test(NAME integration.names
         COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_names.py)
set_tests_properties(integration.names PROPERTIES
  ENVIRONMENT "PAL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PAL_BINARY_DIR=${CMAKE_BINARY_DIR};PAL_PALISADED=$<TARGET_FILE:palisaded>;PAL_CLI=$<TARGET_FILE:palisade_cli>;PAL_DEFS_PACKAGE=${_pal_names_pkg};PAL_TRUSTED_KEYS_DIR=${_pal_names_keys};PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1"
  LABELS integration
  TIMEOUT 600)
