/*
 * listmerge.h — how the policy and preference layers of a list setting (ExclusionPath,
 * ExclusionExtension, ...) combine, and the per-entry listing that says where each entry
 * comes from. Pure functions on JSON arrays of strings; settings.c owns the layers and the
 * lock and calls these with it held.
 *
 * The rule (policy setting ExclusionsMergePolicy, as mdatp's exclusionsMergePolicy):
 *   Merge (default)  effective list = the policy's entries, then the local (preference)
 *                    entries not already in it. Local entries can be added and removed;
 *                    a policy entry can be removed only in its policy file.
 *   AdminOnly        effective list = the policy's entries only (none when policy sets
 *                    none); local entries are kept in the store but do not apply, and
 *                    changing them is refused (PolicyLocked).
 */
#ifndef PAL_LISTMERGE_H
#define PAL_LISTMERGE_H

#include <jansson.h>

/* policy then the items of local not in policy; a new array, or NULL when out of memory.
   Either may be NULL (no such layer). */
json_t *pal_listmerge_union(const json_t *policy, const json_t *local);

/*
 * The entries in effect as [{"value": v, "source": "Policy"|"Preference"|..., "file": path
 * or null}], in the order of pal_listmerge_union. policy_source / local_source are the
 * source names of the two layers (the caller passes "Policy" and "Preference", or
 * "Environment" for a forced list); local is ignored when admin_only. A new array, or NULL
 * when out of memory.
 */
json_t *pal_listmerge_entries(const json_t *policy, const char *policy_source,
                              const char *policy_file, const json_t *local,
                              const char *local_source, int admin_only);

/* 1 when arr (may be NULL) holds a string equal to item. */
int pal_listmerge_contains(const json_t *arr, const json_t *item);

#endif
