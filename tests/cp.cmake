# The content process (agent/cp/) and its supervisor (agent/core/supervisor/: cpsup.c,
# cpspawn.c, cppkg.c, cpchan.c), driven end to end by tests/cp/cp_harness.c, which plays
# the broker with the real palisade-cp-selftest (and palisade-cp where the installed build
# is meant). One CTest test per scenario; see the
# harness's header comment. The tests run as root (the content process drops to a dynamic
# uid of its own, agent/core/supervisor/cpident.h) and as any other user (user namespace; cp.nonroot
# does that from root).
if(TARGET palisade-cp-selftest)
  find_package(Threads REQUIRED)
  add_executable(cp_harness ${CMAKE_CURRENT_SOURCE_DIR}/cp/cp_harness.c)
  target_link_libraries(cp_harness PRIVATE pal_cpsup pal_sigbuild PkgConfig::CRYPTO Threads::Threads)
  target_compile_definitions(cp_harness PRIVATE
    PAL_TEST_CP="$<TARGET_FILE:palisade-cp>"
    PAL_TEST_CP_SELFTEST="$<TARGET_FILE:palisade-cp-selftest>"
    PAL_TEST_DEFS_PACKAGE="${PAL_DEFS_PACKAGE}"
    PAL_TEST_KEYS_DIR="${PAL_TRUSTED_KEYS_DIR}"
    PAL_TEST_ELF_SAMPLE="${PAL_SAMPLE_ELF_IMPLANT}"
    PAL_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    PAL_TEST_WORK_DIR="${CMAKE_BINARY_DIR}/tests/cp")
  add_dependencies(cp_harness signatures palisade-cp palisade-cp-selftest)
  foreach(scenario basic corpus procstatus attacks misbehave timeout crash degraded startfail
                   switch package pss bench nonroot pdeathsig pipeline)
    add_test(NAME cp.${scenario} COMMAND cp_harness ${scenario})
    set_tests_properties(cp.${scenario} PROPERTIES TIMEOUT 300 LABELS cp SKIP_RETURN_CODE 77)
  endforeach()
endif()
