/*
 * names.h — the one vocabulary of names that Palisade writes in JSON, in the store and on the
 * screen: severities and actions (signature packages), unscannable reasons (the engine),
 * scan types and outcomes, detection sources, actions and results, exclusion and allowed-list
 * kinds, content-process events and file operations (the broker's store).
 *
 * This module owns the enums and their names; every other module includes this header (the
 * engine's, the store's headers re-export it) instead of keeping a table of its own. A name
 * table is indexed by the enum value; a NULL hole is an invalid value. Parsing is ASCII
 * case-insensitive, so the result does not depend on the locale (Turkish dotless i); the
 * store reads its columns back case-sensitively (pal_name_find).
 */
#ifndef PAL_NAMES_H
#define PAL_NAMES_H

#include <stddef.h>

/* ---- signature packages ------------------------------------------------------------------ */

typedef enum pal_severity {
    PAL_SEV_LOW = 1,
    PAL_SEV_MODERATE = 2,
    PAL_SEV_HIGH = 3,
    PAL_SEV_SEVERE = 4,
} pal_severity;

typedef enum pal_action {
    PAL_ACTION_QUARANTINE = 1,
    PAL_ACTION_REMOVE = 2,
    PAL_ACTION_NOACTION = 3,
} pal_action;

/* "Low", "Moderate", "High", "Severe"; NULL for an invalid value. */
const char *pal_severity_name(pal_severity sev);
/* Case-insensitive parse; 0 or PAL_EINVAL. */
int pal_severity_parse(const char *name, pal_severity *out);
/* "Quarantine", "Remove", "NoAction"; NULL for an invalid value. */
const char *pal_action_name(pal_action act);
int pal_action_parse(const char *name, pal_action *out);

/* ---- engine results ------------------------------------------------------------------------ */

typedef enum pal_verdict {
    PAL_VERDICT_CLEAN = 0,
    PAL_VERDICT_THREAT = 1,      /* at least one finding (the object may also be unscannable) */
    PAL_VERDICT_UNSCANNABLE = 2, /* no finding, and some content was not examined */
} pal_verdict;

typedef enum pal_unscannable {
    PAL_UNSCANNABLE_NONE = 0,
    PAL_UNSCANNABLE_DEPTH,          /* "depth-limit" */
    PAL_UNSCANNABLE_MEMBERS,        /* "member-limit" */
    PAL_UNSCANNABLE_EXPANDED_BYTES, /* "expanded-size-limit" */
    PAL_UNSCANNABLE_RATIO,          /* "expansion-ratio-limit" (zip bomb) */
    PAL_UNSCANNABLE_TOO_LARGE,      /* "size-limit" */
    PAL_UNSCANNABLE_TIMEOUT,        /* "timeout" */
    PAL_UNSCANNABLE_ENCRYPTED,      /* "encrypted" */
    PAL_UNSCANNABLE_CORRUPT,        /* "corrupt" (includes truncated) */
    PAL_UNSCANNABLE_READ_ERROR,     /* "read-error" (source failed or changed size) */
    PAL_UNSCANNABLE_ENGINE_ERROR,   /* "engine-error" (yara/libarchive internal failure) */
    PAL_UNSCANNABLE_CANCELLED,      /* "cancelled" */
    /* Set by the broker about the content process, never by an engine: */
    PAL_UNSCANNABLE_CP_MISBEHAVED,  /* "content-process-misbehaved" (killed, restarted) */
    PAL_UNSCANNABLE_CP_CRASHED,     /* "content-process-crashed" (killed it twice) */
    PAL_UNSCANNABLE_CP_UNAVAILABLE, /* "content-process-unavailable" (cannot start) */
} pal_unscannable;

/* Stable kebab-case names listed above; used in JSON and the store. */
const char *pal_unscannable_name(pal_unscannable r);

/* ---- scans --------------------------------------------------------------------------------- */

typedef enum pal_scan_type {
    PAL_SCAN_QUICK = 1,
    PAL_SCAN_FULL = 2,
    PAL_SCAN_CUSTOM = 3,
} pal_scan_type;

typedef enum pal_scan_outcome {
    PAL_SCAN_RUNNING = 0,
    PAL_SCAN_COMPLETED = 1,
    PAL_SCAN_CANCELLED = 2,
    PAL_SCAN_FAILED = 3,
} pal_scan_outcome;

/* "Quick", "Full", "Custom" / "Running", "Completed", "Cancelled", "Failed"; NULL if invalid */
const char *pal_scan_type_name(pal_scan_type t);
int pal_scan_type_parse(const char *name, pal_scan_type *out); /* case-insensitive */
const char *pal_scan_outcome_name(pal_scan_outcome o);

/* ---- detections ---------------------------------------------------------------------------- */

typedef enum pal_det_source {
    PAL_DET_ON_DEMAND = 1, /* "OnDemand": a scan started by a client or a schedule */
    PAL_DET_REAL_TIME = 2, /* "RealTime" */
    PAL_DET_BUFFER = 3,    /* "Buffer": content submitted without a file */
} pal_det_source;

typedef enum pal_det_action {
    PAL_DET_ACTION_NONE = 0,       /* not decided yet (stored as NULL) */
    PAL_DET_ACTION_QUARANTINE = 1, /* same values as pal_action */
    PAL_DET_ACTION_REMOVE = 2,
    PAL_DET_ACTION_NOACTION = 3,
    PAL_DET_ACTION_ALLOW = 4, /* the threat or file is on the allowed list */
} pal_det_action;

typedef enum pal_det_result {
    PAL_DET_PENDING = 0,
    PAL_DET_SUCCESS = 1,
    PAL_DET_FAILED = 2,
} pal_det_result;

const char *pal_det_source_name(pal_det_source s); /* "OnDemand", "RealTime", "Buffer" */
int pal_det_source_parse(const char *name, pal_det_source *out);
/* "None", "Quarantine", "Remove", "NoAction", "Allow" */
const char *pal_det_action_name(pal_det_action a);
int pal_det_action_parse(const char *name, pal_det_action *out);
const char *pal_det_result_name(pal_det_result r); /* "Pending", "Success", "Failed" */

/* ---- exclusions and the allowed list ------------------------------------------------------- */

typedef enum pal_excl_kind {
    PAL_EXCL_PATH = 1,      /* "Path" */
    PAL_EXCL_EXTENSION = 2, /* "Extension" */
} pal_excl_kind;

const char *pal_excl_kind_name(pal_excl_kind k);

typedef enum pal_allow_kind {
    PAL_ALLOW_THREAT_NAME = 1, /* "ThreatName": compared case-insensitively */
    PAL_ALLOW_SHA256 = 2,      /* "Sha256": 64 hex digits, stored lowercase */
} pal_allow_kind;

const char *pal_allow_kind_name(pal_allow_kind k);
int pal_allow_kind_parse(const char *name, pal_allow_kind *out);

/* ---- content-process events ---------------------------------------------------------------- */

typedef enum pal_cp_event_kind {
    PAL_CP_START = 1,  /* "Start" */
    PAL_CP_EXIT = 2,   /* "Exit": exited on its own, exit_code set */
    PAL_CP_SIGNAL = 3, /* "Signal": ended by a signal it did not raise itself (signal set) */
    PAL_CP_CRASH = 4,  /* "Crash": a fault signal (SIGSEGV, SIGABRT, SIGSYS...) (signal set) */
    PAL_CP_KILL = 5,   /* "Kill": the broker killed it; reason says why (timeout, protocol) */
} pal_cp_event_kind;

const char *pal_cp_event_kind_name(pal_cp_event_kind k);

/* ---- the file-operation journal ------------------------------------------------------------ */

typedef enum pal_fileop_kind {
    PAL_FILEOP_QUARANTINE = 1, /* "Quarantine" */
    PAL_FILEOP_RESTORE = 2,    /* "Restore" */
    PAL_FILEOP_REMOVE = 3,     /* "Remove" */
    PAL_FILEOP_PURGE = 4,      /* "Purge": a quarantined file past its retention */
} pal_fileop_kind;

typedef enum pal_fileop_state {
    PAL_FILEOP_PENDING = 1,
    PAL_FILEOP_DONE = 2,
    PAL_FILEOP_FAILED = 3,
} pal_fileop_state;

const char *pal_fileop_kind_name(pal_fileop_kind k);
const char *pal_fileop_state_name(pal_fileop_state s);

/* ---- the tables themselves, for code that stores names in columns -------------------------- */

/* A table: names[v] is the name of value v, NULL where v is not a value. */
#define PAL_NAMES(t) (t), (sizeof(t) / sizeof((t)[0]))

extern const char *const pal_severity_names[PAL_SEV_SEVERE + 1];
extern const char *const pal_action_names[PAL_ACTION_NOACTION + 1];
extern const char *const pal_scan_type_names[PAL_SCAN_CUSTOM + 1];
extern const char *const pal_scan_outcome_names[PAL_SCAN_FAILED + 1];
extern const char *const pal_det_source_names[PAL_DET_BUFFER + 1];
extern const char *const pal_det_action_names[PAL_DET_ACTION_ALLOW + 1];
extern const char *const pal_det_result_names[PAL_DET_FAILED + 1];
extern const char *const pal_excl_kind_names[PAL_EXCL_EXTENSION + 1];
extern const char *const pal_allow_kind_names[PAL_ALLOW_SHA256 + 1];
extern const char *const pal_cp_kind_names[PAL_CP_KILL + 1];
extern const char *const pal_fileop_kind_names[PAL_FILEOP_PURGE + 1];
extern const char *const pal_fileop_state_names[PAL_FILEOP_FAILED + 1];

/* names[v], or NULL when v is outside the table or a hole. */
const char *pal_name_of(const char *const *names, size_t n, int v);
/* 0 with *out = the value whose name is s (ASCII case-insensitive); PAL_EINVAL otherwise. */
int pal_name_parse(const char *const *names, size_t n, const char *s, int *out);
/* The same, case-sensitive: for names this program wrote itself. */
int pal_name_find(const char *const *names, size_t n, const char *s, int *out);

#endif
