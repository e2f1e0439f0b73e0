# The signature package: reader (pal_engine) and builder (pal_sigbuild).
pal_unit_test(sigpkg LIBS pal_sigbuild)
