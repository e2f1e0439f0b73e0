# The PowerShell module and its native library, tested against a real palisaded.
#   psmodule.pester     the Pester 5 suite of tests/ps/ (every cmdlet, the pipelines, -WhatIf,
#                       -AsJob, the error cases, access denied as user nobody, Start-Scan in a
#                       tmux terminal with its progress bar and Ctrl+C), run with the real
#                       pwsh on the staged module (build/<dir>/psmodule/Palisade)
#   psmodule.fleet      many hosts from one console: three real sshd on 127.0.0.1-3 with the
#                       pwsh subsystem and key authentication, each in front of its own
#                       palisaded, and a fourth address with nothing listening;
#                       Get-PalisadeFleetStatus, remote objects in their views, remote errors
#                       with the module's ids, remote Start-Scan progress
#                       (tests/integration/test_fleet.py, on harness.py)
#   psmodule.valgrind   every libpalisade call in a scripted session against a real daemon
#                       (root and nobody), under valgrind --leak-check=full: no error, no
#                       definite or indirect leak
# Both are left out of sanitizer builds: pwsh cannot load an ASan-instrumented library
# without preloading the runtime into .NET, and valgrind does not run ASan binaries; the
# ASan build covers libpalisade through the CLI's and the protocol's tests instead.
include(${CMAKE_SOURCE_DIR}/psmodule/module.cmake)

if(PAL_SANITIZE)
  return()
endif()

set(_pal_ps_env
    "PAL_PALISADED=$<TARGET_FILE:palisaded>"
    "PAL_CLI=$<TARGET_FILE:palisade_cli>"
    "PAL_DEFS_PACKAGE=${PAL_DEFS_PACKAGE}"
    "PAL_TRUSTED_KEYS_DIR=${PAL_TRUSTED_KEYS_DIR}"
    "PAL_PSMODULE_DIR=${PAL_PSMODULE_DIR}"
    "PAL_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "PAL_BINARY_DIR=${CMAKE_BINARY_DIR}")

# pwsh is a .NET global tool of the user who ran scripts/bootstrap.
find_program(PAL_PWSH pwsh HINTS $ENV{HOME}/.dotnet/tools)
if(PAL_PWSH)
  add_test(NAME psmodule.pester
           COMMAND ${PAL_PWSH} -NoLogo -NoProfile -NonInteractive
                   -File ${CMAKE_SOURCE_DIR}/tests/ps/Invoke-PalisadeTests.ps1)
  set_tests_properties(psmodule.pester PROPERTIES
    ENVIRONMENT "${_pal_ps_env};PAL_PWSH=${PAL_PWSH}"
    LABELS psmodule
    TIMEOUT 900)
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_Interpreter_FOUND)
    add_test(NAME psmodule.fleet
             COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_SOURCE_DIR}/tests/integration/test_fleet.py)
    set_tests_properties(psmodule.fleet PROPERTIES
      ENVIRONMENT "${_pal_ps_env};PAL_PWSH=${PAL_PWSH};PYTHONDONTWRITEBYTECODE=1"
      LABELS psmodule
      TIMEOUT 900)
  endif()
else()
  message(WARNING "pwsh not found (run scripts/bootstrap): psmodule.pester is not registered")
endif()

add_executable(libpalisade_session ${CMAKE_SOURCE_DIR}/tests/valgrind/libpalisade_session.c)
target_link_libraries(libpalisade_session PRIVATE libpalisade)
find_program(PAL_VALGRIND valgrind)
if(PAL_VALGRIND)
  add_test(NAME psmodule.valgrind
           COMMAND ${CMAKE_SOURCE_DIR}/tests/valgrind/run-session.sh
                   ${PAL_VALGRIND} $<TARGET_FILE:libpalisade_session>)
  set_tests_properties(psmodule.valgrind PROPERTIES
    ENVIRONMENT "${_pal_ps_env}"
    LABELS psmodule
    TIMEOUT 600)
else()
  message(WARNING "valgrind not found: psmodule.valgrind is not registered")
endif()
