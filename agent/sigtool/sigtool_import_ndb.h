/*
 * sigtool_import_ndb.h — ClamAV body signatures (.ndb) translated into YARA rules, for
 * `palisade-sigtool import` (sigtool_import.c). Only what maps faithfully is translated;
 * everything else comes back with the reason it is not carried.
 */
#ifndef PAL_SIGTOOL_IMPORT_NDB_H
#define PAL_SIGTOOL_IMPORT_NDB_H

#include <stddef.h>

enum { NDB_CARRIED = 0, NDB_NOT_CARRIED = 1, NDB_MALFORMED = -1 };

/*
 * Translate one .ndb line "Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]" (modified
 * in place) into a YARA rule named rule_id with meta threat = Name. Returns NDB_CARRIED and
 * *rule (malloc'd text), NDB_NOT_CARRIED with why, or NDB_MALFORMED with why (the line is
 * not a valid signature: e.g. a hex pattern that is not hex). *name points into line.
 */
int ndb_translate(char *line, const char *rule_id, char **rule, const char **name, char *why,
                  size_t whylen);

/*
 * Compile one rule alone with libyara (warnings count as failures, as in the package
 * builder). 0 ok; otherwise why holds libyara's message. yr_initialize must have been called.
 */
int ndb_compile_check(const char *rule, char *why, size_t whylen);

#endif
