# The Palisade PowerShell module (psmodule/Palisade/), staged in the build tree the way it
# is installed, with libpalisade beside it:
#   ${PAL_PSMODULE_DIR} = ${CMAKE_BINARY_DIR}/psmodule/Palisade/
#       Palisade.psd1, Palisade.psm1, Palisade.Format.ps1xml, en-US/..., libpalisade.so.0
# so `Import-Module build/<dir>/psmodule/Palisade` uses the library of the same build.
# Target `psmodule` (in ALL) keeps the staged copy current. No .NET SDK is needed: the
# module declares its P/Invoke entry points at run time (see Palisade.psm1).
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

file(GLOB_RECURSE _pal_psmodule_files CONFIGURE_DEPENDS RELATIVE ${PAL_PSMODULE_SOURCE_DIR}
     ${PAL_PSMODULE_SOURCE_DIR}/*)
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
# Copied under its SONAME, the name the module and the loader look for.
add_custom_command(
  OUTPUT ${PAL_PSMODULE_DIR}/libpalisade.so.0
  COMMAND ${CMAKE_COMMAND} -E copy $<TARGET_FILE:libpalisade> ${PAL_PSMODULE_DIR}/libpalisade.so.0
  DEPENDS libpalisade
  COMMENT "Staging libpalisade.so.0 beside the Palisade module"
  VERBATIM)
add_custom_target(psmodule ALL DEPENDS ${_pal_psmodule_outputs} ${PAL_PSMODULE_DIR}/libpalisade.so.0)

install(DIRECTORY ${PAL_PSMODULE_SOURCE_DIR}/ DESTINATION ${PAL_PSMODULE_DESTINATION})
