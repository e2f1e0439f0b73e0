# The scan engine (agent/engine/engine.h). test_engine builds its own signed packages with
# pal_sigbuild, scans the corpus that tests/engine/mkcorpus.sh generates at test time into
# ${CMAKE_BINARY_DIR}/tests/engine/corpus (regenerated when the script changes), and the
# starter package's samples (so it needs the `signatures` target built).
find_package(Threads REQUIRED)
pal_unit_test(engine LIBS pal_engine pal_sigbuild Threads::Threads)
target_compile_definitions(test_engine PRIVATE
  PAL_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}" PAL_TEST_BINARY_DIR="${CMAKE_BINARY_DIR}")
add_dependencies(test_engine signatures)
set_tests_properties(unit.engine PROPERTIES TIMEOUT 600 LABELS engine)

# The container pre-check (agent/engine/sniff.h) against libarchive's real probe, on the
# engine corpus (generated as test_engine generates it: one at a time), crafted edge cases
# and a realistic tree from bench/gen_tree.py.
pal_unit_test(sniff LIBS pal_engine)
target_compile_definitions(test_sniff PRIVATE
  PAL_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}" PAL_TEST_BINARY_DIR="${CMAKE_BINARY_DIR}")
set_tests_properties(unit.sniff PROPERTIES TIMEOUT 600 LABELS engine
                     RESOURCE_LOCK engine_corpus)
set_property(TEST unit.engine APPEND PROPERTY RESOURCE_LOCK engine_corpus)
