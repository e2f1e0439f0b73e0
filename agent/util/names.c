/*
 * names.c — the name tables of names.h and the lookups over them. Nothing else in the tree
 * spells these names as a table.
 */
#include "names.h"

#include "pal_error.h"

const char *const pal_severity_names[PAL_SEV_SEVERE + 1] = {
    [PAL_SEV_LOW] = "Low",
    [PAL_SEV_MODERATE] = "Moderate",
    [PAL_SEV_HIGH] = "High",
    [PAL_SEV_SEVERE] = "Severe",
};

const char *const pal_action_names[PAL_ACTION_NOACTION + 1] = {
    [PAL_ACTION_QUARANTINE] = "Quarantine",
    [PAL_ACTION_REMOVE] = "Remove",
    [PAL_ACTION_NOACTION] = "NoAction",
};

static const char *const unscannable_names[] = {
    [PAL_UNSCANNABLE_NONE] = "none",
    [PAL_UNSCANNABLE_DEPTH] = "depth-limit",
    [PAL_UNSCANNABLE_MEMBERS] = "member-limit",
    [PAL_UNSCANNABLE_EXPANDED_BYTES] = "expanded-size-limit",
    [PAL_UNSCANNABLE_RATIO] = "expansion-ratio-limit",
    [PAL_UNSCANNABLE_TOO_LARGE] = "size-limit",
    [PAL_UNSCANNABLE_TIMEOUT] = "timeout",
    [PAL_UNSCANNABLE_ENCRYPTED] = "encrypted",
    [PAL_UNSCANNABLE_CORRUPT] = "corrupt",
    [PAL_UNSCANNABLE_READ_ERROR] = "read-error",
    [PAL_UNSCANNABLE_ENGINE_ERROR] = "engine-error",
    [PAL_UNSCANNABLE_CANCELLED] = "cancelled",
    [PAL_UNSCANNABLE_CP_MISBEHAVED] = "content-process-misbehaved",
    [PAL_UNSCANNABLE_CP_CRASHED] = "content-process-crashed",
    [PAL_UNSCANNABLE_CP_UNAVAILABLE] = "content-process-unavailable",
};
/* every reason has a name: a new reason without one fails here */
_Static_assert(sizeof(unscannable_names) / sizeof(unscannable_names[0]) ==
                   PAL_UNSCANNABLE_CP_UNAVAILABLE + 1,
               "unscannable_names must name every pal_unscannable");

const char *const pal_scan_type_names[PAL_SCAN_CUSTOM + 1] = {NULL, "Quick", "Full", "Custom"};
const char *const pal_scan_outcome_names[PAL_SCAN_FAILED + 1] = {"Running", "Completed",
                                                                 "Cancelled", "Failed"};
const char *const pal_det_source_names[PAL_DET_BUFFER + 1] = {NULL, "OnDemand", "RealTime",
                                                              "Buffer"};
const char *const pal_det_action_names[PAL_DET_ACTION_ALLOW + 1] = {"None", "Quarantine", "Remove",
                                                                    "NoAction", "Allow"};
const char *const pal_det_result_names[PAL_DET_FAILED + 1] = {"Pending", "Success", "Failed"};
const char *const pal_excl_kind_names[PAL_EXCL_EXTENSION + 1] = {NULL, "Path", "Extension"};
const char *const pal_allow_kind_names[PAL_ALLOW_SHA256 + 1] = {NULL, "ThreatName", "Sha256"};
const char *const pal_cp_kind_names[PAL_CP_KILL + 1] = {NULL,     "Start", "Exit",
                                                        "Signal", "Crash", "Kill"};
const char *const pal_fileop_kind_names[PAL_FILEOP_PURGE + 1] = {NULL, "Quarantine", "Restore",
                                                                 "Remove", "Purge"};
const char *const pal_fileop_state_names[PAL_FILEOP_FAILED + 1] = {NULL, "Pending", "Done",
                                                                   "Failed"};

/* A detection's action is a signature action or one of two more: the values must agree. */
_Static_assert(PAL_DET_ACTION_QUARANTINE == (int)PAL_ACTION_QUARANTINE &&
                   PAL_DET_ACTION_REMOVE == (int)PAL_ACTION_REMOVE &&
                   PAL_DET_ACTION_NOACTION == (int)PAL_ACTION_NOACTION,
               "pal_det_action repeats pal_action's values");

/* ASCII-only, so the result does not depend on the locale. */
static int ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

const char *pal_name_of(const char *const *names, size_t n, int v)
{
    if (v < 0 || (size_t)v >= n)
        return NULL;
    return names[v];
}

static int lookup(const char *const *names, size_t n, const char *s, int *out, int fold)
{
    if (!s || !out)
        return PAL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        const char *a = names[i], *b = s;
        int differ = 0;
        if (fold) {
            differ = ascii_casecmp(a, b) != 0;
        } else {
            while (*a && *a == *b)
                a++, b++;
            differ = *a != *b;
        }
        if (!differ) {
            *out = (int)i;
            return 0;
        }
    }
    return PAL_EINVAL;
}

int pal_name_parse(const char *const *names, size_t n, const char *s, int *out)
{
    return lookup(names, n, s, out, 1);
}

int pal_name_find(const char *const *names, size_t n, const char *s, int *out)
{
    return lookup(names, n, s, out, 0);
}

/* ---- typed names ----------------------------------------------------------------------------
 * NAME_FNS(type, table) gives type_name (NULL when invalid); PARSE_FN adds type_parse. */

#define NAME_FN(fn, type, table)                                                                   \
    const char *fn(type v)                                                                         \
    {                                                                                              \
        return pal_name_of(PAL_NAMES(table), (int)v);                                              \
    }
#define PARSE_FN(fn, type, table)                                                                  \
    int fn(const char *name, type *out)                                                            \
    {                                                                                              \
        int v;                                                                                     \
        if (!out)                                                                                  \
            return PAL_EINVAL;                                                                     \
        int rc = pal_name_parse(PAL_NAMES(table), name, &v);                                       \
        if (rc == 0)                                                                               \
            *out = (type)v;                                                                        \
        return rc;                                                                                 \
    }

NAME_FN(pal_severity_name, pal_severity, pal_severity_names)
PARSE_FN(pal_severity_parse, pal_severity, pal_severity_names)
NAME_FN(pal_action_name, pal_action, pal_action_names)
PARSE_FN(pal_action_parse, pal_action, pal_action_names)
NAME_FN(pal_scan_type_name, pal_scan_type, pal_scan_type_names)
PARSE_FN(pal_scan_type_parse, pal_scan_type, pal_scan_type_names)
NAME_FN(pal_scan_outcome_name, pal_scan_outcome, pal_scan_outcome_names)
NAME_FN(pal_det_source_name, pal_det_source, pal_det_source_names)
PARSE_FN(pal_det_source_parse, pal_det_source, pal_det_source_names)
NAME_FN(pal_det_action_name, pal_det_action, pal_det_action_names)
PARSE_FN(pal_det_action_parse, pal_det_action, pal_det_action_names)
NAME_FN(pal_det_result_name, pal_det_result, pal_det_result_names)
NAME_FN(pal_excl_kind_name, pal_excl_kind, pal_excl_kind_names)
NAME_FN(pal_allow_kind_name, pal_allow_kind, pal_allow_kind_names)
PARSE_FN(pal_allow_kind_parse, pal_allow_kind, pal_allow_kind_names)
NAME_FN(pal_cp_event_kind_name, pal_cp_event_kind, pal_cp_kind_names)
NAME_FN(pal_fileop_kind_name, pal_fileop_kind, pal_fileop_kind_names)
NAME_FN(pal_fileop_state_name, pal_fileop_state, pal_fileop_state_names)

/* An unknown reason has a name too: it is shown, never dropped. */
const char *pal_unscannable_name(pal_unscannable r)
{
    const char *n = pal_name_of(PAL_NAMES(unscannable_names), (int)r);
    return n ? n : "unknown";
}
