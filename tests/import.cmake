# palisade-sigtool import with ClamAV as the oracle (tests/import/test_import.sh): generated
# databases in every carried format, loose and in .cvd/.cld containers, imported, built with a
# throwaway key and scanned; the detections must agree with clamscan's file by file except
# for what the import report lists as not carried. Malformed databases are refused with the
# file and line named; a tampered package is refused. Needs clamscan (Debian's clamav).
find_program(PAL_CLAMSCAN clamscan)
if(TARGET palisade-sigtool AND PAL_CLAMSCAN)
  add_test(NAME sigtool.import
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/import/test_import.sh
                   $<TARGET_FILE:palisade-sigtool>)
  set_tests_properties(sigtool.import PROPERTIES LABELS sigtool)
endif()

# Package format 2 (tests/import/test_sigpkg_ext.c): sized MD5/SHA-1/SHA-256 tables and allow
# entries, looked up and scanned by the engine; damage refused by the signature, and
# re-signed damage by the structure checks.
add_executable(test_sigpkg_ext ${CMAKE_CURRENT_SOURCE_DIR}/import/test_sigpkg_ext.c)
target_link_libraries(test_sigpkg_ext PRIVATE PkgConfig::CMOCKA pal_engine pal_sigbuild)
add_test(NAME unit.sigpkg_ext COMMAND test_sigpkg_ext)

# The imported package in force in a real palisaded (tests/import/test_import_daemon.py):
# the broker + content process agree with clamscan file by file, allow entries honoured, a
# new version installed live.
find_package(Python3 COMPONENTS Interpreter)
if(TARGET palisade-sigtool AND PAL_CLAMSCAN AND Python3_Interpreter_FOUND)
  add_test(NAME integration.import
           COMMAND ${Python3_EXECUTABLE} -B ${CMAKE_CURRENT_SOURCE_DIR}/import/test_import_daemon.py)
  set_tests_properties(integration.import PROPERTIES
    ENVIRONMENT "PAL_SOURCE_DIR=${CMAKE_SOURCE_DIR};PAL_BINARY_DIR=${CMAKE_BINARY_DIR};PAL_PALISADED=$<TARGET_FILE:palisaded>;PAL_CLI=$<TARGET_FILE:palisade_cli>;PAL_SIGTOOL=$<TARGET_FILE:palisade-sigtool>;PYTHONDONTWRITEBYTECODE=1"
    LABELS integration TIMEOUT 600)
endif()
