# Shared utilities (pal_util): the display form of raw name bytes.
pal_unit_test(display LIBS pal_util)
