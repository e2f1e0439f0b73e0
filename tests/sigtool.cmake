# palisade-sigtool end to end (keygen, build, verify, info, refusals), and the starter
# signature set against its samples and against the system's own files.
# Both use the package and keys built at build time by signatures/CMakeLists.txt.
add_test(NAME sigtool.cli
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sigtool/test_sigtool.sh cli
          $<TARGET_FILE:palisade-sigtool> ${PROJECT_SOURCE_DIR}/signatures
          ${PAL_DEFS_PACKAGE} ${PAL_TRUSTED_KEYS_DIR})
add_test(NAME signatures.samples
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sigtool/test_sigtool.sh samples
          $<TARGET_FILE:palisade-sigtool> ${PROJECT_SOURCE_DIR}/signatures
          ${PAL_DEFS_PACKAGE} ${PAL_SAMPLE_ELF_IMPLANT})
# palisade-sigtool cost: per-rule scan cost and the build's gate on the starter set.
add_test(NAME sigtool.cost
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/sigtool/test_cost.sh
          $<TARGET_FILE:palisade-sigtool> ${PROJECT_SOURCE_DIR}/signatures)
