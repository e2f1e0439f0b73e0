/*
 * defs.h — the security intelligence in force: one verified signature package, the engine
 * built on it, and the open fd of the package file (handed to the content process).
 *
 * Reference counted so that a signature update or a change of engine limits can swap in a
 * new pal_defs while scans in flight finish on the one they started with: holders take a
 * reference with pal_defs_ref and drop it with pal_defs_unref; the last unref frees.
 */
#ifndef PAL_DEFS_H
#define PAL_DEFS_H

#include "engine.h"
#include "sigpkg.h"

typedef struct pal_defs pal_defs;

/* Open, verify against keys and build an engine with limits (its compiled YARA rules checked,
   then parked until an in-process scanner needs them: pal_engine_park_rules). Refcount 1 on
   success. */
int pal_defs_load(const char *path, const pal_keyring *keys, const pal_limits *limits,
                  pal_defs **out, pal_errbuf *err);
/* A new engine with other limits over the same package (and the same file). */
int pal_defs_with_limits(pal_defs *base, const pal_limits *limits, pal_defs **out, pal_errbuf *err);
pal_defs *pal_defs_ref(pal_defs *d);
void pal_defs_unref(pal_defs *d); /* accepts NULL */

pal_engine *pal_defs_engine(const pal_defs *d);
const pal_sigpkg *pal_defs_package(const pal_defs *d);
const pal_sigpkg_info *pal_defs_info(const pal_defs *d);
int pal_defs_fd(const pal_defs *d); /* read-only fd of the package file */
const char *pal_defs_path(const pal_defs *d);

#endif
