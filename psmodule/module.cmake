# The Palisade PowerShell module (psmodule/Palisade/), staged in the build tree the way it
# is installed, with libpalisade beside it:
#   ${PAL_PSMODULE_DIR} = ${CMAKE_BINARY_DIR}/psmodule/Palisade/
#       Palisade.psd1, Palisade.psm1, Palisade.Format.ps1xml, en-US/..., libpalisade.so.0
# so `Import-Module build/<dir>/psmodule/Palisade` uses the library of the same build.
# Target `psmodule` (in ALL) keeps the staged copy current. No .NET SDK is needed: the
# module declares its P/Invoke entry points at run time (see Module.ps1).
#
# The module's source is split by noun (Module.ps1, Private/*.ps1, Public/*.ps1); the staged
# and installed Palisade.psm1 is one file assembled from them by assemble.cmake, in the order
# Module.ps1, Private/*.ps1, KnownPreferences.ps1, Public/*.ps1 (each group sorted by name):
# one file imports faster than dot-sourcing each (bench/RESULTS.md, "Import-Module").
# KnownPreferences.ps1, the settings that tab-complete, is written by palisade-settings-dump
# from the C settings registry (agent/core/settings/settings_dump.c), so it cannot drift.
#
# Installed, the module goes to ${PAL_PSMODULE_DESTINATION}: by default
# /usr/local/share/powershell/Modules/Palisade, pwsh's all-users module directory on Linux
# and the only one every pwsh searches (installer/README.md, "Where the PowerShell module
# goes"); it finds libpalisade.so.0 through the loader (installed to the libdir).
#
# Included by tests/ps.cmake (and by the top-level CMakeLists.txt once it lists it); the
# guard makes a second include a no-op.
include_guard(GLOBAL)

set(PAL_PSMODULE_SOURCE_DIR ${CMAKE_SOURCE_DIR}/psmodule/Palisade)
set(PAL_PSMODULE_DIR ${CMAKE_BINARY_DIR}/psmodule/Palisade
    CACHE INTERNAL "the Palisade PowerShell module staged with libpalisade beside it")
set(PAL_PSMODULE_DESTINATION /usr/local/share/powershell/Modules/Palisade
    CACHE STRING "where the Palisade PowerShell module is installed")

# Everything but the sources of Palisade.psm1 is staged as it is (manifest, formats, help).
file(GLOB_RECURSE _pal_psmodule_files CONFIGURE_DEPENDS RELATIVE ${PAL_PSMODULE_SOURCE_DIR}
     ${PAL_PSMODULE_SOURCE_DIR}/*)
list(FILTER _pal_psmodule_files EXCLUDE REGEX "^(Private/|Public/|Module\\.ps1$)")
set(_pal_psmodule_outputs)
foreach(_f IN LISTS _pal_psmodule_files)
  add_custom_command(
    OUTPUT ${PAL_PSMODULE_DIR}/${_f}
    COMMAND ${CMAKE_COMMAND} -E copy ${PAL_PSMODULE_SOURCE_DIR}/${_f} ${PAL_PSMODULE_DIR}/${_f}
    DEPENDS ${PAL_PSMODULE_SOURCE_DIR}/${_f}
    COMMENT "Staging psmodule/Palisade/${_f}"
    VERBATIM)
  list(APPEND _pal_psmodule_outputs ${PAL_PSMODULE_DIR}/${_f})
endforeach()

# The settings list, from the registry of this build.
set(_pal_psmodule_settings ${CMAKE_BINARY_DIR}/psmodule/KnownPreferences.ps1)
add_custom_command(
  OUTPUT ${_pal_psmodule_settings}
  COMMAND palisade-settings-dump ${_pal_psmodule_settings}
  DEPENDS palisade-settings-dump
  COMMENT "Generating the Palisade module's settings list from the settings registry"
  VERBATIM)

# Palisade.psm1, assembled in a fixed order: CONFIGURE_DEPENDS re-globs when a file is added.
file(GLOB _pal_psmodule_private CONFIGURE_DEPENDS ${PAL_PSMODULE_SOURCE_DIR}/Private/*.ps1)
file(GLOB _pal_psmodule_public CONFIGURE_DEPENDS ${PAL_PSMODULE_SOURCE_DIR}/Public/*.ps1)
list(SORT _pal_psmodule_private)
list(SORT _pal_psmodule_public)
set(_pal_psmodule_parts ${PAL_PSMODULE_SOURCE_DIR}/Module.ps1 ${_pal_psmodule_private}
    ${_pal_psmodule_settings} ${_pal_psmodule_public})
string(REPLACE ";" "|" _pal_psmodule_parts_arg "${_pal_psmodule_parts}")
add_custom_command(
  OUTPUT ${PAL_PSMODULE_DIR}/Palisade.psm1
  COMMAND ${CMAKE_COMMAND} -DPARTS=${_pal_psmodule_parts_arg} -DROOT=${PAL_PSMODULE_SOURCE_DIR}
          -DOUTPUT=${PAL_PSMODULE_DIR}/Palisade.psm1 -P ${CMAKE_SOURCE_DIR}/psmodule/assemble.cmake
  DEPENDS ${_pal_psmodule_parts} ${CMAKE_SOURCE_DIR}/psmodule/assemble.cmake
  COMMENT "Assembling psmodule/Palisade/Palisade.psm1"
  VERBATIM)
list(APPEND _pal_psmodule_outputs ${PAL_PSMODULE_DIR}/Palisade.psm1)

# Copied under its SONAME, the name the module and the loader look for.
add_custom_command(
  OUTPUT ${PAL_PSMODULE_DIR}/libpalisade.so.0
  COMMAND ${CMAKE_COMMAND} -E copy $<TARGET_FILE:libpalisade> ${PAL_PSMODULE_DIR}/libpalisade.so.0
  DEPENDS libpalisade
  COMMENT "Staging libpalisade.so.0 beside the Palisade module"
  VERBATIM)
add_custom_target(psmodule ALL DEPENDS ${_pal_psmodule_outputs} ${PAL_PSMODULE_DIR}/libpalisade.so.0)

# Installed as staged: the assembled Palisade.psm1, not its sources.
install(DIRECTORY ${PAL_PSMODULE_SOURCE_DIR}/ DESTINATION ${PAL_PSMODULE_DESTINATION}
        PATTERN Private EXCLUDE
        PATTERN Public EXCLUDE
        PATTERN Module.ps1 EXCLUDE)
install(FILES ${PAL_PSMODULE_DIR}/Palisade.psm1 DESTINATION ${PAL_PSMODULE_DESTINATION})
