# palisade-sigtool scan, driven the way a signature author uses it (tests/sigtool_scan_test.sh):
# threats raw and in nested containers with their chains, JSON, threads, symlinks and FIFOs
# not followed, an encrypted member reported unscannable, a forged package refused.
# Registered only when agent/sigtool built the tool with its scan subcommand.
if(TARGET palisade-sigtool)
  get_target_property(_pal_sigtool_defs palisade-sigtool COMPILE_DEFINITIONS)
endif()
if(TARGET palisade-sigtool AND "PAL_SIGTOOL_HAVE_SCAN=1" IN_LIST _pal_sigtool_defs)
  set(_pal_scan_pkg ${PAL_DEFS_PACKAGE})
  set(_pal_scan_keys ${PAL_TRUSTED_KEYS_DIR})
  if(NOT _pal_scan_pkg)
    set(_pal_scan_pkg ${CMAKE_BINARY_DIR}/signatures/palisade-defs.sig)
  endif()
  if(NOT _pal_scan_keys)
    set(_pal_scan_keys ${CMAKE_BINARY_DIR}/trusted-keys)
  endif()
  add_test(NAME sigtool.scan
           COMMAND ${CMAKE_SOURCE_DIR}/tests/sigtool_scan_test.sh
                   $<TARGET_FILE:palisade-sigtool> ${_pal_scan_pkg} ${_pal_scan_keys})
endif()
