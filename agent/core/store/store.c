/*
 * store.c — the names of the store's enums (scan types and outcomes, detection sources,
 * actions and results, exclusion and allowed-list kinds, content-process event kinds,
 * file-operation kinds and states): the words stored in the database and shown to clients.
 * The tables live in the store_*.c modules over the row layer in storedb.c; this file holds
 * only the name tables so that they can move to the shared vocabulary layer as one piece.
 */
#include <stddef.h>
#include <strings.h>

#include "store.h"
#include "storedb.h"

/* Name tables: index = enum value; NULL holes are invalid values. */
static const char *name_of(const char *const *names, size_t n, int v)
{
    if (v < 0 || (size_t)v >= n)
        return NULL;
    return names[v];
}

static int parse_name(const char *const *names, size_t n, const char *s, int *out)
{
    if (!s)
        return PAL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (names[i] && strcasecmp(names[i], s) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return PAL_EINVAL;
}

#define NAMES(a) (a), (sizeof(a) / sizeof((a)[0]))

static const char *const scan_type_names[] = {NULL, "Quick", "Full", "Custom"};
static const char *const scan_outcome_names[] = {"Running", "Completed", "Cancelled", "Failed"};
/* The engine's words for pal_severity and pal_action, which the store writes; the store
   links none of the engine, only its headers. */
static const char *const severity_names[] = {NULL, "Low", "Moderate", "High", "Severe"};
static const char *const action_names[] = {NULL, "Quarantine", "Remove", "NoAction"};
static const char *const det_source_names[] = {NULL, "OnDemand", "RealTime", "Buffer"};
static const char *const det_action_names[] = {"None", "Quarantine", "Remove", "NoAction", "Allow"};
static const char *const det_result_names[] = {"Pending", "Success", "Failed"};
static const char *const excl_kind_names[] = {NULL, "Path", "Extension"};
static const char *const allow_kind_names[] = {NULL, "ThreatName", "Sha256"};
static const char *const cp_kind_names[] = {NULL, "Start", "Exit", "Signal", "Crash", "Kill"};
static const char *const fileop_kind_names[] = {NULL, "Quarantine", "Restore", "Remove", "Purge"};
static const char *const fileop_state_names[] = {NULL, "Pending", "Done", "Failed"};

const char *pal_scan_type_name(pal_scan_type t)
{
    return name_of(NAMES(scan_type_names), (int)t);
}

int pal_scan_type_parse(const char *name, pal_scan_type *out)
{
    int v;
    int rc = parse_name(NAMES(scan_type_names), name, &v);
    if (rc == 0)
        *out = (pal_scan_type)v;
    return rc;
}

const char *pal_scan_outcome_name(pal_scan_outcome o)
{
    return name_of(NAMES(scan_outcome_names), (int)o);
}

const char *pal_det_source_name(pal_det_source s)
{
    return name_of(NAMES(det_source_names), (int)s);
}

int pal_det_source_parse(const char *name, pal_det_source *out)
{
    int v;
    int rc = parse_name(NAMES(det_source_names), name, &v);
    if (rc == 0)
        *out = (pal_det_source)v;
    return rc;
}

const char *pal_det_action_name(pal_det_action a)
{
    return name_of(NAMES(det_action_names), (int)a);
}

int pal_det_action_parse(const char *name, pal_det_action *out)
{
    int v;
    int rc = parse_name(NAMES(det_action_names), name, &v);
    if (rc == 0)
        *out = (pal_det_action)v;
    return rc;
}

const char *pal_det_result_name(pal_det_result r)
{
    return name_of(NAMES(det_result_names), (int)r);
}

const char *pal_excl_kind_name(pal_excl_kind k)
{
    return name_of(NAMES(excl_kind_names), (int)k);
}

const char *pal_allow_kind_name(pal_allow_kind k)
{
    return name_of(NAMES(allow_kind_names), (int)k);
}

int pal_allow_kind_parse(const char *name, pal_allow_kind *out)
{
    int v;
    int rc = parse_name(NAMES(allow_kind_names), name, &v);
    if (rc == 0)
        *out = (pal_allow_kind)v;
    return rc;
}

const char *pal_cp_event_kind_name(pal_cp_event_kind k)
{
    return name_of(NAMES(cp_kind_names), (int)k);
}

const char *pal_fileop_kind_name(pal_fileop_kind k)
{
    return name_of(NAMES(fileop_kind_names), (int)k);
}

const char *pal_fileop_state_name(pal_fileop_state s)
{
    return name_of(NAMES(fileop_state_names), (int)s);
}

const char *store_severity_name(int v)
{
    return name_of(NAMES(severity_names), v);
}

const char *store_action_name(int v)
{
    return name_of(NAMES(action_names), v);
}
