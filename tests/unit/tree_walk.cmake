# The no-follow tree walker of palisade-sigtool scan and the engine benchmark.
pal_unit_test(tree_walk LIBS pal_util)
target_sources(test_tree_walk PRIVATE ${CMAKE_SOURCE_DIR}/agent/sigtool/tree_walk.c)
target_include_directories(test_tree_walk PRIVATE ${CMAKE_SOURCE_DIR}/agent/sigtool)
