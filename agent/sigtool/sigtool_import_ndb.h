/*
 * sigtool_import_ndb.h — ClamAV body signatures (.ndb) translated into YARA rules, for
 * `palisade-sigtool import` (sigtool_import.c). Only what maps faithfully is translated;
 * everything else comes back with the reason it is not carried.
 */
#ifndef PAL_SIGTOOL_IMPORT_NDB_H
#define PAL_SIGTOOL_IMPORT_NDB_H

#include <stddef.h>
#include <stdio.h>

enum { NDB_CARRIED = 0, NDB_NOT_CARRIED = 1, NDB_MALFORMED = -1 };

/*
 * Translate one .ndb line "Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]]" (modified
 * in place) into a YARA rule named rule_id with meta threat = Name. Returns NDB_CARRIED and
 * *rule (malloc'd text), NDB_NOT_CARRIED with why, or NDB_MALFORMED with why (the line is
 * not a valid signature: e.g. a hex pattern that is not hex). *name points into line.
 */
int ndb_translate(char *line, const char *rule_id, char **rule, const char **name, char *why,
                  size_t whylen);

/* The hex pattern s as a YARA hex string body (no braces) into out; 0, NDB_NOT_CARRIED or
   NDB_MALFORMED with why. Shared with the .ldb translation. */
int ndb_hex_to_yara(const char *s, FILE *out, char *why, size_t whylen);
/* A ClamAV offset (*, n, n,m, EOF-n, EOF-n,m) as a YARA condition on var; 0,
   NDB_NOT_CARRIED (EP/section/version-info relative) or NDB_MALFORMED. */
int ndb_offset_cond(const char *off, const char *var, FILE *out, char *why, size_t whylen);
/* The YARA condition of a carried target type (6 ELF); NULL for 0 or any other. */
const char *ndb_target_cond(unsigned long target);

/*
 * Compile one rule alone with libyara (warnings count as failures, as in the package
 * builder). 0 ok; otherwise why holds libyara's message. yr_initialize must have been called.
 */
int ndb_compile_check(const char *rule, char *why, size_t whylen);

#endif
