/*
 * sigtool_import_yara.h — public YARA rule files made ready for `palisade-sigtool build`
 * (sigtool_import_yara.c), for `palisade-sigtool import --yara DIR`.
 */
#ifndef PAL_SIGTOOL_IMPORT_YARA_H
#define PAL_SIGTOOL_IMPORT_YARA_H

#include <stddef.h>

/*
 * Called per public rule of a file: first with commit = 0 for every rule (return 1 when the
 * identifier is already used by an earlier file, else 0), then, if the whole file is
 * carried, with commit = 1 (record the identifier, add threat to the catalog; return
 * non-zero only when out of memory).
 */
typedef int (*yara_rule_fn)(void *user, const char *rule_id, const char *threat, int commit);

/*
 * Prepare one rule file: compile it alone (as the builder will: no include, no external
 * variable, warnings are failures); give every public rule without a `threat` meta the
 * threat "YARA.<rule>" (inserted at the top of its meta section, or as a new one).
 * Returns 0 and *out (malloc'd rewritten source), 1 with why (the file is not carried: it
 * does not compile, naming the line and libyara's message, or reuses a rule identifier),
 * or -1 (out of memory).
 */
int yara_prepare(const char *path, const char *source, yara_rule_fn fn, void *user, char **out,
                 char *why, size_t whylen);

#endif
