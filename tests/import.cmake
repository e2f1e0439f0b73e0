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
