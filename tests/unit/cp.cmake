# The broker <-> content process wire format (agent/ipc/cpmsg.c): every type, every refusal,
# mutation. The content process and its supervisor are tested end to end in tests/cp.cmake.
if(TARGET pal_cpmsg)
  pal_unit_test(cpmsg LIBS pal_cpmsg)
  set_tests_properties(unit.cpmsg PROPERTIES LABELS cp)
endif()
