/*
 * settings.h — the settings registry and its three layers, in the manner of Group Policy.
 *
 * One static table (settings_registry.c) lists every setting: name, type, allowed values or range,
 * default and description. It drives validation, defaults and the listing; nothing else
 * in the daemon knows a setting's type or limits.
 *
 * The effective value of a setting is the first of:
 *   Environment  MP_FORCE_USE_SANDBOX=0|1 in the daemon's environment forces SandboxMode
 *                (as in Defender); any other value is ignored and reported.
 *   Policy       *.json files of the policy directory (policy.h), applied in sorted order,
 *                a later file overriding an earlier one for the same setting. Read-only to
 *                the control socket: setting a managed value fails with PAL_EPOLICY and a
 *                message naming the file. A reload that finds any problem (malformed JSON,
 *                unknown setting, wrong type, invalid value, unsafe ownership) is rejected
 *                as a whole with a message naming the file and the problem; the last good
 *                policy stays in force, even across a restart (it is kept in the store).
 *   Preference   set over the control socket, stored in SQLite with an audit row.
 *   Default      from the registry.
 * A list setting (ExclusionPath, ExclusionExtension, any STRLIST) is the exception: by
 * default its policy entries stand beside the local (preference) ones, which stay editable;
 * a policy that sets ExclusionsMergePolicy to AdminOnly makes the policy's entries the only
 * ones in effect and locks the local ones (listmerge.h has the rule). Every listing of a
 * list says where each entry comes from (pal_settings_get_entries). ExclusionsMergePolicy
 * itself can be set only by policy (as in mdatp, where it is a managed-only setting).
 *
 * Values travel as JSON (jansson): uint as a JSON integer, bool as true/false, enum and
 * string as a string (enum values match case-insensitively and come back in their canonical
 * spelling), list as an array of strings. Names match case-insensitively.
 *
 * Threads: every function may be called from any thread; readers share a rwlock, changes
 * and reloads take it exclusively (a reload reads and parses the files before taking it, and
 * reloads are serialised among themselves). The change callback runs after the lock is
 * released. Lock order: settings before store; the store never calls back.
 */
#ifndef PAL_SETTINGS_H
#define PAL_SETTINGS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h" /* pal_limits */
#include "pal_error.h"
#include "sigpkg.h" /* pal_severity, pal_action */
#include "store.h"

#define PAL_ENV_FORCE_SANDBOX "MP_FORCE_USE_SANDBOX"
/* PALISADE_FORCE_REAL_TIME_PROTECTION=0|1 forces RealTimeProtectionEnabled the same way (a
   service drop-in's Environment=, e.g. on a build host; and every test daemon, so that a
   broken test policy never leaves a test agent watching the whole machine). */
#define PAL_ENV_FORCE_REAL_TIME "PALISADE_FORCE_REAL_TIME_PROTECTION"
#define PAL_SETTINGS_MAX_LIST 1000 /* items in a list setting */

/* ---- the registry ------------------------------------------------------------------------ */

typedef enum pal_setting_type {
    PAL_SETTING_BOOL = 1,
    PAL_SETTING_UINT = 2,
    PAL_SETTING_ENUM = 3,
    PAL_SETTING_STRING = 4,
    PAL_SETTING_STRLIST = 5,
} pal_setting_type;

/* What putting a new value of a setting in force takes, beyond the new value itself (which
   every reader sees at once): the daemon acts on these when a setting changes. */
typedef enum pal_setting_apply {
    PAL_APPLY_NOTHING = 0,       /* read where it is used */
    PAL_APPLY_ENGINE = 1U << 0,  /* rebuild the engine (its limits) */
    PAL_APPLY_SLOTS = 1U << 1,   /* resize the slot pool (and the content process's channels) */
    PAL_APPLY_SANDBOX = 1U << 2, /* start or stop the content process */
    PAL_APPLY_ADMIN = 1U << 3,   /* the control socket's admin group */
    PAL_APPLY_CONTROL = 1U << 4, /* the control sockets' client limits */
    PAL_APPLY_EVENTS = 1U << 5,  /* the security events' sinks (events.h) */
    PAL_APPLY_RTP = 1U << 6,     /* real-time protection: switch, re-mark, re-read (rtp.h) */
} pal_setting_apply;

typedef struct pal_setting_def {
    const char *name; /* PascalCase, unique */
    pal_setting_type type;
    uint64_t min, max;         /* UINT: inclusive range */
    const char *const *values; /* ENUM: allowed values, NULL-terminated */
    uint64_t def_uint;         /* default of a UINT */
    int def_bool;              /* default of a BOOL */
    const char *def_str;       /* default of an ENUM or STRING; a STRLIST defaults to [] */
    const char *description;
    /* STRING and STRLIST items: check and normalise one value into out (outsz bytes);
       NULL = any non-empty string without control characters. */
    int (*check_item)(const struct pal_setting_def *def, const char *in, char *out, size_t outsz,
                      pal_errbuf *err);
    int policy_only;  /* only the policy layer may set it: a preference is refused (PAL_EPOLICY) */
    unsigned applies; /* pal_setting_apply bits */
    /* The default of a STRLIST, NULL-terminated; NULL = []. */
    const char *const *def_list;
} pal_setting_def;

/* The whole table, in listing order. */
const pal_setting_def *pal_settings_registry(size_t *n);
/* Case-insensitive lookup; NULL if unknown. */
const pal_setting_def *pal_setting_find(const char *name);
/* "bool", "uint", "enum", "string", "list" */
const char *pal_setting_type_name(pal_setting_type t);
/* The default as JSON (new reference). */
json_t *pal_setting_default(const pal_setting_def *def);
/*
 * Validate value against def and return its canonical form in *out (new reference).
 * PAL_EINVAL with a message naming the setting and what is allowed, e.g.
 * "ScanThreads must be an integer from 0 to 64 (got 65)",
 * "SandboxMode must be one of Enabled, Disabled (got \"Maybe\")"; PAL_EINVAL for a list of
 * more than PAL_SETTINGS_MAX_LIST items. A list comes back with its items normalised (see
 * the item checks in settings_registry.c: paths without repeated or trailing '/', extensions
 * without the dot) and duplicates removed.
 */
int pal_setting_validate(const pal_setting_def *def, const json_t *value, json_t **out,
                         pal_errbuf *err);

/* ---- the layered settings ---------------------------------------------------------------- */

typedef enum pal_setting_source {
    PAL_SOURCE_DEFAULT = 0,
    PAL_SOURCE_PREFERENCE = 1,
    PAL_SOURCE_POLICY = 2,
    PAL_SOURCE_ENVIRONMENT = 3,
} pal_setting_source;

/* "Default", "Preference", "Policy", "Environment" */
const char *pal_setting_source_name(pal_setting_source s);

typedef struct pal_settings pal_settings;

typedef struct pal_settings_opts {
    const char *policy_dir; /* NULL: no policy layer */
    /* The value of MP_FORCE_USE_SANDBOX in the daemon's environment, NULL when unset (the
       daemon passes getenv(PAL_ENV_FORCE_SANDBOX); tests pass what they need). */
    const char *force_sandbox;
    /* The value of PALISADE_FORCE_REAL_TIME_PROTECTION, NULL when unset. */
    const char *force_real_time;
    /* Check policy file ownership and permissions; the daemon passes geteuid() == 0. */
    int check_policy_owner;
    /* Called (outside the lock, on the thread that made the change) once for each setting
       whose effective value changed by a set, reset, list change or policy reload. */
    void (*on_change)(void *ctx, const pal_setting_def *def);
    void *on_change_ctx;
} pal_settings_opts;

/*
 * Build the settings over an open store: defaults, stored preferences, the environment and
 * the policy directory. A policy that fails to load is not fatal: the last good policy
 * stored by an earlier run (or none) is used and the error is kept for
 * pal_settings_policy_error. Stored preferences that are no longer valid are ignored and
 * reported by pal_settings_problems. st must outlive the settings.
 */
int pal_settings_new(pal_store *st, const pal_settings_opts *opts, pal_settings **out,
                     pal_errbuf *err);
void pal_settings_free(pal_settings *s); /* accepts NULL */

/*
 * Re-read the policy directory (on SIGHUP). On any problem returns the error (message names
 * the file), keeps the policy in force and remembers the error; on success clears it.
 */
int pal_settings_reload_policy(pal_settings *s, pal_errbuf *err);

/* 1 and the message of the last failed policy load, or 0 when the last load succeeded. */
int pal_settings_policy_error(pal_settings *s, pal_errbuf *msg);
/* 1 and a message when MP_FORCE_USE_SANDBOX or PALISADE_FORCE_REAL_TIME_PROTECTION has a
   value other than 0 or 1, else 0. */
int pal_settings_env_error(pal_settings *s, pal_errbuf *msg);
/* Every current problem (policy, environment, ignored stored preferences) as messages for
   status and the log; *msgs is malloc'd (free with pal_strlist_free), possibly empty. */
int pal_settings_problems(pal_settings *s, char ***msgs, size_t *n);
/* The policy files in force (paths, in the order applied). */
int pal_settings_policy_files(pal_settings *s, char ***paths, size_t *n);

/*
 * The effective value of name: *value a new reference (the caller json_decref's it),
 * *source its layer, *detail (may be NULL to ignore) a malloc'd string naming where it comes
 * from (the policy file path, "MP_FORCE_USE_SANDBOX=1") or NULL for Default and Preference.
 * PAL_ENOTFOUND for an unknown name.
 */
int pal_settings_get(pal_settings *s, const char *name, json_t **value, pal_setting_source *source,
                     char **detail, pal_errbuf *err);
/*
 * The entries in effect of list setting name, each with its origin: *out a new array of
 * {"value": item, "source": "Policy"|"Preference"|"Environment", "file": the policy file or
 * null}, in the order of the effective value. PAL_ENOTFOUND (unknown), PAL_EINVAL (not a
 * list), PAL_ENOMEM.
 */
int pal_settings_get_entries(pal_settings *s, const char *name, json_t **out, pal_errbuf *err);

/*
 * Set the preference layer of name, as uid. Errors: PAL_ENOTFOUND (unknown setting),
 * PAL_EINVAL (invalid value; the message lists what is allowed), PAL_EPOLICY when the setting
 * is managed by policy ("SandboxMode is managed by policy file /etc/.../10-site.json") or
 * forced by the environment, PAL_ELIMIT (list too long), or a store error. Persisted with
 * an audit row. A list setting is replaced as a whole.
 */
int pal_settings_set_preference(pal_settings *s, const char *name, const json_t *value, uid_t uid,
                                pal_errbuf *err);
/* Remove the preference (back to the default). Locked settings fail as above;
   PAL_ENOTFOUND when there is no preference. */
int pal_settings_reset_preference(pal_settings *s, const char *name, uid_t uid, pal_errbuf *err);
/* Add or remove one item of a list setting's local (preference) entries
   (Add-/Remove-AgentExclusion). The item is validated and normalised like a set.
   PAL_EEXIST when already in effect (locally or from policy: the message names the file);
   PAL_ENOTFOUND when absent; PAL_EPERM when removing an entry that comes from policy (the
   message names the file) or when ExclusionsMergePolicy is AdminOnly; PAL_EINVAL when name
   is not a list setting. */
int pal_settings_add_item(pal_settings *s, const char *name, const char *item, uid_t uid,
                          pal_errbuf *err);
int pal_settings_remove_item(pal_settings *s, const char *name, const char *item, uid_t uid,
                             pal_errbuf *err);

/* ---- listing ----------------------------------------------------------------------------- */

typedef struct pal_setting_value {
    const pal_setting_def *def;
    json_t *value; /* owned reference */
    pal_setting_source source;
    char *source_detail; /* owned or NULL */
    json_t *entries;     /* owned; list settings: pal_settings_get_entries' array, else NULL */
} pal_setting_value;

/* Every setting in registry order with its effective value and source. */
int pal_settings_list(pal_settings *s, pal_setting_value **out, size_t *n);
void pal_setting_values_free(pal_setting_value *v, size_t n);
/*
 * The listing as a JSON array for the control protocol, one object per setting with the
 * snake_case keys name, value, source, source_detail (null unless Policy or Environment),
 * type, default, description, and allowed_values (enum) or min and max (uint) or entries
 * (list: [{value, source, file}] as pal_settings_get_entries).
 */
int pal_settings_list_json(pal_settings *s, json_t **out);

/* ---- typed getters for the daemon -------------------------------------------------------- */

/* PAL_ENOTFOUND for an unknown name, PAL_EINVAL when the setting has another type. */
int pal_settings_get_uint(pal_settings *s, const char *name, uint64_t *out);
int pal_settings_get_bool(pal_settings *s, const char *name, int *out);
/* ENUM or STRING; *out malloc'd. */
int pal_settings_get_string(pal_settings *s, const char *name, char **out);
/* *out malloc'd array of malloc'd strings (free with pal_strlist_free). */
int pal_settings_get_strlist(pal_settings *s, const char *name, char ***out, size_t *n);
void pal_strlist_free(char **list, size_t n);

/* The engine limits from MaxRecursionDepth ... MaxScanSecondsPerObject. */
int pal_settings_limits(pal_settings *s, pal_limits *out);
/* The default action for a severity (LowThreatDefaultAction ... SevereThreatDefaultAction). */
int pal_settings_default_action(pal_settings *s, pal_severity sev, pal_action *out);
/* SandboxMode == Enabled. */
int pal_settings_sandbox_enabled(pal_settings *s);

#endif
