# Hardening of everything the project builds (see tests/check_hardening.sh).
#   hardening             every executable and shared library target of the build has PIE,
#                         full RELRO, a non-executable stack and the stack protector
#   hardening.self_test   the checker rejects binaries compiled without each protection
#
# The list of binaries comes from CMake itself: once every directory has been processed
# (a deferred call, so that targets added after tests/, e.g. fuzz/, are included), the
# output file of every EXECUTABLE, SHARED_LIBRARY and MODULE_LIBRARY target goes into
# tests/hardening-targets.txt. Files that merely are ELF (test corpora, copies of system
# binaries) are thereby not checked, and a new program cannot escape the check.
# CTest runs after the build, so every listed file exists when `hardening` runs.
#
# Exempt targets, with the reason:
#   pal_sample_elf_implant   detection test data (signatures/samples/), not a program
#                            Palisade runs; it has no function that needs a canary
set(PAL_HARDENING_LIST ${CMAKE_BINARY_DIR}/tests/hardening-targets.txt)
# The deferred call runs in the top directory's scope: hand it its inputs as properties.
set_property(GLOBAL PROPERTY PAL_HARDENING_EXEMPT pal_sample_elf_implant)
set_property(GLOBAL PROPERTY PAL_HARDENING_LIST ${PAL_HARDENING_LIST})

function(pal_hardening_collect dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    pal_hardening_collect(${sub} sub_targets)
    list(APPEND targets ${sub_targets})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(pal_hardening_write_list)
  get_property(exempt GLOBAL PROPERTY PAL_HARDENING_EXEMPT)
  get_property(list_file GLOBAL PROPERTY PAL_HARDENING_LIST)
  pal_hardening_collect(${CMAKE_SOURCE_DIR} targets)
  set(files "")
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    get_target_property(not_in_all ${t} EXCLUDE_FROM_ALL)
    if(NOT type MATCHES "^(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY)$" OR not_in_all
       OR t IN_LIST exempt)
      continue()
    endif()
    string(APPEND files "$<TARGET_FILE:${t}>\n")
  endforeach()
  file(GENERATE OUTPUT ${list_file} CONTENT "${files}")
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL pal_hardening_write_list)

add_test(NAME hardening
         COMMAND ${CMAKE_SOURCE_DIR}/tests/check_hardening.sh --list ${PAL_HARDENING_LIST})
add_test(NAME hardening.self_test
         COMMAND ${CMAKE_SOURCE_DIR}/tests/check_hardening.sh --self-test ${CMAKE_C_COMPILER})
set_tests_properties(hardening hardening.self_test PROPERTIES LABELS hardening)
