# Shared utilities (pal_util): the display form of raw name bytes.
pal_unit_test(display LIBS pal_util)
# The vocabulary of names (severities, actions, reasons, store enums).
pal_unit_test(names LIBS pal_util)
# Well-formed UTF-8, shared by the engine, the wire, the display form, the CLI and sigtool.
pal_unit_test(utf8 LIBS pal_util)
