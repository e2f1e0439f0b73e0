# The broker <-> content process wire format (agent/ipc/cpmsg.c): every type, every refusal,
# mutation. The content process and its supervisor are tested end to end in tests/cp.cmake.
if(TARGET pal_cpmsg)
  pal_unit_test(cpmsg LIBS pal_cpmsg)
  set_tests_properties(unit.cpmsg PROPERTIES LABELS cp)
endif()

# The content process's identity and its limits/priority guard (agent/core/supervisor/cpident.c), on
# real child processes; the identity cases need root and skip otherwise.
if(TARGET pal_cpsup)
  pal_unit_test(cpident LIBS pal_cpsup)
  set_tests_properties(unit.cpident PROPERTIES LABELS cp)
endif()
