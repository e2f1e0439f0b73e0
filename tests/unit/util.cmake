# Shared utilities (pal_util): the display form of raw name bytes.
pal_unit_test(display LIBS pal_util)
# The vocabulary of names (severities, actions, reasons, store enums).
pal_unit_test(names LIBS pal_util)
