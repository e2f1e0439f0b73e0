# The broker's store (SQLite schema, migrations, every table) and settings (registry, layers,
# policy directory, environment override).
pal_unit_test(store LIBS pal_store)
pal_unit_test(settings LIBS pal_settings)

# cmake/EmbedMigrations.cmake refuses a migration set it cannot number unambiguously.
foreach(bad gap name)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/embed-${bad})
  file(REMOVE_RECURSE ${dir})
  file(WRITE ${dir}/0001_first.sql "CREATE TABLE a (x);\n")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/embed-gap/0003_third.sql "CREATE TABLE c (x);\n")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/embed-name/0002-Second.sql "CREATE TABLE b (x);\n")
set(PAL_EMBED_SCRIPT ${CMAKE_SOURCE_DIR}/cmake/EmbedMigrations.cmake)
add_test(NAME unit.embed_migrations_gap
         COMMAND ${CMAKE_COMMAND} -DPAL_MIGRATIONS_DIR=${CMAKE_CURRENT_BINARY_DIR}/embed-gap
                 -DPAL_MIGRATIONS_OUT=${CMAKE_CURRENT_BINARY_DIR}/embed-gap/out.c
                 -P ${PAL_EMBED_SCRIPT})
set_tests_properties(unit.embed_migrations_gap PROPERTIES
                     PASS_REGULAR_EXPRESSION "0003_third.sql has number 3; expected 2")
add_test(NAME unit.embed_migrations_name
         COMMAND ${CMAKE_COMMAND} -DPAL_MIGRATIONS_DIR=${CMAKE_CURRENT_BINARY_DIR}/embed-name
                 -DPAL_MIGRATIONS_OUT=${CMAKE_CURRENT_BINARY_DIR}/embed-name/out.c
                 -P ${PAL_EMBED_SCRIPT})
set_tests_properties(unit.embed_migrations_name PROPERTIES
                     PASS_REGULAR_EXPRESSION "0002-Second.sql is not named NNNN_lowercase_name.sql")
pal_unit_test(walker LIBS pal_walker)
