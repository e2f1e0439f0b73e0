# Hardening of everything the project builds (see tests/check_hardening.sh).
#   hardening             every ELF executable and shared library in the build tree has PIE,
#                         full RELRO, a non-executable stack and the stack protector
#   hardening.self_test   the checker rejects binaries compiled without each protection
# CTest runs after the build, so `hardening` sees every target of the configured build.
# Excluded: signatures/samples/, ELF files that are detection test data (built from
# signatures/samples/*.c), not programs Palisade runs; they may lack a canary because
# they have no function that needs one.
add_test(NAME hardening
         COMMAND ${CMAKE_SOURCE_DIR}/tests/check_hardening.sh ${CMAKE_BINARY_DIR}
                 --exclude "signatures/samples/*")
add_test(NAME hardening.self_test
         COMMAND ${CMAKE_SOURCE_DIR}/tests/check_hardening.sh --self-test ${CMAKE_C_COMPILER})
set_tests_properties(hardening hardening.self_test PROPERTIES LABELS hardening)
