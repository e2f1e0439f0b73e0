/*
 * sigtool_import_ldb.h — ClamAV logical signatures (.ldb) translated into YARA rules, for
 * `palisade-sigtool import` (sigtool_import.c): the faithful subset only; everything else
 * comes back with the reason it is not carried.
 */
#ifndef PAL_SIGTOOL_IMPORT_LDB_H
#define PAL_SIGTOOL_IMPORT_LDB_H

#include <stddef.h>

/*
 * Translate one .ldb line (modified in place) into a YARA rule named rule_id with meta
 * threat = Name. Same contract as ndb_translate (sigtool_import_ndb.h): NDB_CARRIED and
 * *rule, NDB_NOT_CARRIED with why, or NDB_MALFORMED with why; *name points into line.
 */
int ldb_translate(char *line, const char *rule_id, char **rule, const char **name, char *why,
                  size_t whylen);

#endif
