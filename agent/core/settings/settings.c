/*
 * settings.c — the settings registry (the one table of every setting) and the layered
 * effective values: Environment > Policy > Preference > Default (see settings.h).
 *
 * Layers are held in memory, one slot per registry entry, and recomputed never: the
 * effective value is the first non-NULL slot. Preferences are written through to the store
 * (with its audit row) before the in-memory slot changes, so memory never claims what the
 * database does not hold.
 */
#include "settings.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "display.h"
#include "listmerge.h"
#include "policy.h"

#define META_LAST_GOOD_POLICY "policy.last_good"
#define MAX_STRING 4096

/* ---- item checks ----------------------------------------------------------------------- */

/* Text from a client or a file, made safe to put in a log line: at most 100 bytes of it in
   the display form (display.h). */
typedef struct shown {
    char s[100 * PAL_DISPLAY_MAX_RATIO + 4];
} shown;

static const char *printable(const char *in, shown *b)
{
    if (!in)
        in = "(null)";
    size_t len = strlen(in), keep = len < 100 ? len : 100;
    size_t done = pal_display_buf(in, keep, b->s, sizeof(b->s) - 3);
    if (done < len)
        memcpy(b->s + strlen(b->s), "...", 4);
    return b->s;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* Absolute, no "." or ".." component, no control characters; repeated and trailing slashes
   are removed so that the walker can compare it with the paths it builds. '*' and '?' are
   kept (wildcards, as in Defender). */
static int check_path(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                      pal_errbuf *err)
{
    shown sh;
    size_t len = strlen(in);
    if (in[0] != '/')
        return pal_err_set(err, PAL_EINVAL, "%s: \"%s\" is not an absolute path", def->name,
                           printable(in, &sh));
    if (len >= outsz)
        return pal_err_set(err, PAL_EINVAL, "%s: path is longer than %zu bytes", def->name,
                           outsz - 1);
    if (has_control(in))
        return pal_err_set(err, PAL_EINVAL, "%s: \"%s\" contains a control character", def->name,
                           printable(in, &sh));
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '/' && o > 0 && out[o - 1] == '/')
            continue;
        out[o++] = in[i];
    }
    while (o > 1 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    for (const char *c = out; *c;) {
        const char *e = strchr(c + 1, '/');
        size_t clen = e ? (size_t)(e - c - 1) : strlen(c + 1);
        if ((clen == 1 && c[1] == '.') || (clen == 2 && c[1] == '.' && c[2] == '.'))
            return pal_err_set(err, PAL_EINVAL,
                               "%s: \"%s\" has a \".\" or \"..\" component; give the path "
                               "without them",
                               def->name, printable(in, &sh));
        if (!e)
            break;
        c = e;
    }
    return 0;
}

/* "txt" or ".txt" (stored without the dot); a double extension like "tar.gz" is fine. */
static int check_extension(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                           pal_errbuf *err)
{
    shown sh;
    const char *p = in[0] == '.' ? in + 1 : in;
    size_t len = strlen(p);
    if (len == 0 || len > 64 || len >= outsz)
        return pal_err_set(err, PAL_EINVAL,
                           "%s: \"%s\" is not a file extension (1 to 64 "
                           "characters, with or without the leading dot)",
                           def->name, printable(in, &sh));
    for (const char *c = p; *c; c++)
        if (*c == '/' || isspace((unsigned char)*c) || (unsigned char)*c < 0x20 || *c == 0x7f)
            return pal_err_set(err, PAL_EINVAL,
                               "%s: \"%s\" is not a file extension (no '/', spaces or "
                               "control characters)",
                               def->name, printable(in, &sh));
    memcpy(out, p, len + 1);
    return 0;
}

/* A POSIX-portable group name: [A-Za-z_][A-Za-z0-9_.-]*, at most 32 characters. */
static int check_group(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                       pal_errbuf *err)
{
    shown sh;
    size_t len = strlen(in);
    int ok = len > 0 && len <= 32 && len < outsz && (isalpha((unsigned char)in[0]) || in[0] == '_');
    for (size_t i = 1; ok && i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        ok = isalnum(c) || c == '_' || c == '.' || c == '-';
    }
    if (!ok)
        return pal_err_set(err, PAL_EINVAL,
                           "%s: \"%s\" is not a valid group name (a letter or _, then "
                           "letters, digits, _ . -; at most 32 characters)",
                           def->name, printable(in, &sh));
    memcpy(out, in, len + 1);
    return 0;
}

/* ---- the registry ---------------------------------------------------------------------- */

static const char *const sandbox_values[] = {"Enabled", "Disabled", NULL};
static const char *const action_values[] = {"Quarantine", "Remove", "NoAction", NULL};
static const char *const merge_values[] = {"Merge", "AdminOnly", NULL};

#define ACTION_SETTING(nm, sev)                                                                    \
    {                                                                                              \
        .name = nm, .type = PAL_SETTING_ENUM, .values = action_values, .def_str = "Quarantine",    \
        .description = "What is done to a file with a " sev " severity threat: Quarantine "        \
                       "(move it into the quarantine, restorable), Remove (delete it) or "         \
                       "NoAction (only report it). A per-threat override takes precedence."        \
    }

static const pal_setting_def registry[] = {
    {.name = "SandboxMode",
     .type = PAL_SETTING_ENUM,
     .values = sandbox_values,
     .def_str = "Enabled",
     .description = "Enabled: content is parsed in the unprivileged, sandboxed content "
                    "process. Disabled: the broker runs the engine itself. Takes effect "
                    "without a restart; MP_FORCE_USE_SANDBOX=0|1 in the service's "
                    "environment overrides it.",
     .applies = PAL_APPLY_SANDBOX},
    {.name = "ScanThreads",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 64,
     .def_uint = 0,
     .description = "Objects scanned at the same time (slots); 0 = one per CPU core.",
     .applies = PAL_APPLY_SLOTS},
    {.name = "MaxRecursionDepth",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 32,
     .def_uint = PAL_DEFAULT_MAX_DEPTH,
     .description = "Container nesting levels expanded (an archive inside an archive is "
                    "level 2); deeper content is reported unscannable. 0 = do not open "
                    "containers.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxMembersPerContainer",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 10000000,
     .def_uint = PAL_DEFAULT_MAX_MEMBERS,
     .description = "Members examined in one container before the rest is reported "
                    "unscannable.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxExpandedBytes",
     .type = PAL_SETTING_UINT,
     .min = 1ULL << 20,
     .max = 64ULL << 30,
     .def_uint = PAL_DEFAULT_MAX_EXPANDED_BYTES,
     .description = "Bytes expanded from containers for one scanned file, in total.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxExpansionRatio",
     .type = PAL_SETTING_UINT,
     .min = 10,
     .max = 100000,
     .def_uint = PAL_DEFAULT_MAX_RATIO,
     .description = "Largest expanded-to-compressed size ratio of one member before it is "
                    "treated as a decompression bomb and reported unscannable.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxObjectSize",
     .type = PAL_SETTING_UINT,
     .min = 64ULL << 10,
     .max = 2ULL << 30,
     .def_uint = PAL_DEFAULT_MAX_OBJECT_SIZE,
     .description = "Largest object (file or container member), in bytes, read and "
                    "matched; a larger one is reported unscannable.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxScanSecondsPerObject",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 3600,
     .def_uint = PAL_DEFAULT_MAX_SCAN_MS / 1000,
     .description = "Wall-clock seconds spent on one scanned file, members included, "
                    "before it is reported unscannable.",
     .applies = PAL_APPLY_ENGINE},
    ACTION_SETTING("LowThreatDefaultAction", "Low"),
    ACTION_SETTING("ModerateThreatDefaultAction", "Moderate"),
    ACTION_SETTING("HighThreatDefaultAction", "High"),
    ACTION_SETTING("SevereThreatDefaultAction", "Severe"),
    {.name = "ExclusionPath",
     .type = PAL_SETTING_STRLIST,
     .check_item = check_path,
     .description = "Absolute paths not scanned (a directory excludes everything below "
                    "it); '*' and '?' are wildcards."},
    {.name = "ExclusionExtension",
     .type = PAL_SETTING_STRLIST,
     .check_item = check_extension,
     .description = "File name extensions not scanned, e.g. \"log\" or \".iso\"."},
    {.name = "ExclusionsMergePolicy",
     .type = PAL_SETTING_ENUM,
     .values = merge_values,
     .def_str = "Merge",
     .policy_only = 1,
     .description = "How the policy's entries of a list setting (ExclusionPath, "
                    "ExclusionExtension) combine with the local ones: Merge (both apply; local "
                    "entries stay editable) or AdminOnly (only the policy's entries apply; "
                    "local ones are locked). Can be set only by policy."},
    {.name = "ScanCacheEnabled",
     .type = PAL_SETTING_BOOL,
     .def_bool = 1,
     .description = "Skip a file whose device, inode, size, mtime and ctime are unchanged "
                    "since a clean verdict under the same signature version. Only files "
                    "that nobody but root can write, or whose mtime and ctime are older "
                    "than the kernel's writeback window (vm.dirty_expire_centisecs + "
                    "vm.dirty_writeback_centisecs + 10 s) on a local disk file system, "
                    "are cached."},
    {.name = "QuarantineRetentionDays",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 3650,
     .def_uint = 90,
     .description = "Days a quarantined file is kept before it is deleted; 0 = forever."},
    {.name = "QuarantineMaxItemBytes",
     .type = PAL_SETTING_UINT,
     .min = 64ULL << 10,
     .max = 1ULL << 40,
     .def_uint = 512ULL << 20,
     .description = "Disk space (allocated bytes: a sparse file counts what it really "
                    "takes) one quarantined file may take. A larger threat is not "
                    "quarantined: it stays in place and its action is reported Failed."},
    {.name = "QuarantineMaxTotalBytes",
     .type = PAL_SETTING_UINT,
     .min = 1ULL << 20,
     .max = 1ULL << 50,
     .def_uint = 4ULL << 30,
     .description = "Disk space (allocated bytes) the whole quarantine may take. A threat "
                    "that would pass it is not quarantined: it stays in place and its "
                    "action is reported Failed."},
    {.name = "QuarantineMinFreePercent",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 90,
     .def_uint = 5,
     .description = "Percent of the quarantine's file system kept available: a threat "
                    "whose copy would leave less is not quarantined; it stays in place and "
                    "its action is reported Failed."},
    {.name = "AdminGroup",
     .type = PAL_SETTING_STRING,
     .def_str = "palisade-admin",
     .check_item = check_group,
     .description = "Members of this group may manage the agent over the control socket, "
                    "like root.",
     .applies = PAL_APPLY_ADMIN},
    {.name = "ClientIdleTimeoutSeconds",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 86400,
     .def_uint = 60,
     .description = "Seconds a control-socket connection may stay open after its hello with "
                    "no request in flight and no frame sent, before the agent closes it.",
     .applies = PAL_APPLY_CONTROL},
    {.name = "CoreDumpsEnabled",
     .type = PAL_SETTING_BOOL,
     .def_bool = 0,
     .description = "Allow the content process to write core dumps (they contain scanned "
                    "content; for debugging only)."},
    {.name = "ContentProcessTimeoutSeconds",
     .type = PAL_SETTING_UINT,
     .min = 5,
     .max = 3600,
     .def_uint = 60,
     .description = "Seconds the broker waits for the content process to answer one "
                    "request before it kills and restarts it."},
};

#define N_SETTINGS (sizeof(registry) / sizeof(registry[0]))

const pal_setting_def *pal_settings_registry(size_t *n)
{
    if (n)
        *n = N_SETTINGS;
    return registry;
}

static int find_index(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcasecmp(registry[i].name, name) == 0)
            return (int)i;
    return -1;
}

const pal_setting_def *pal_setting_find(const char *name)
{
    int i = find_index(name);
    return i < 0 ? NULL : &registry[i];
}

const char *pal_setting_type_name(pal_setting_type t)
{
    switch (t) {
    case PAL_SETTING_BOOL:
        return "bool";
    case PAL_SETTING_UINT:
        return "uint";
    case PAL_SETTING_ENUM:
        return "enum";
    case PAL_SETTING_STRING:
        return "string";
    case PAL_SETTING_STRLIST:
        return "list";
    }
    return NULL;
}

const char *pal_setting_source_name(pal_setting_source s)
{
    switch (s) {
    case PAL_SOURCE_DEFAULT:
        return "Default";
    case PAL_SOURCE_PREFERENCE:
        return "Preference";
    case PAL_SOURCE_POLICY:
        return "Policy";
    case PAL_SOURCE_ENVIRONMENT:
        return "Environment";
    }
    return NULL;
}

json_t *pal_setting_default(const pal_setting_def *def)
{
    switch (def->type) {
    case PAL_SETTING_BOOL:
        return json_boolean(def->def_bool);
    case PAL_SETTING_UINT:
        return json_integer((json_int_t)def->def_uint);
    case PAL_SETTING_ENUM:
    case PAL_SETTING_STRING:
        return json_string(def->def_str);
    case PAL_SETTING_STRLIST:
        return json_array();
    }
    return NULL;
}

/* Where a list setting's preference lives: the exclusions table (0 = preferences table). */
static pal_excl_kind excl_kind_of(const pal_setting_def *def)
{
    if (def->check_item == check_path)
        return PAL_EXCL_PATH;
    if (def->check_item == check_extension)
        return PAL_EXCL_EXTENSION;
    return 0;
}

/* A short rendering of a value for messages: "8", "\"Maybe\"", "[...]". */
static void show(const json_t *v, char *buf, size_t sz)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!t) {
        snprintf(buf, sz, "an unprintable value");
        return;
    }
    if (strlen(t) > 60)
        snprintf(buf, sz, "%.57s...", t);
    else
        snprintf(buf, sz, "%s", t);
    free(t);
}

/* One string item: NUL-free, checked and normalised; *out a new json string. */
static int check_string(const pal_setting_def *def, const json_t *v, json_t **out, pal_errbuf *err)
{
    shown sh;
    const char *in = json_string_value(v);
    size_t len = json_string_length(v);
    char buf[MAX_STRING];
    if (!in || len != strlen(in))
        return pal_err_set(err, PAL_EINVAL, "%s: a value contains a NUL character", def->name);
    if (len == 0)
        return pal_err_set(err, PAL_EINVAL, "%s: a value is empty", def->name);
    if (len >= sizeof(buf))
        return pal_err_set(err, PAL_EINVAL, "%s: a value is longer than %zu bytes", def->name,
                           sizeof(buf) - 1);
    if (def->check_item) {
        int ret = def->check_item(def, in, buf, sizeof(buf), err);
        if (ret)
            return ret;
    } else {
        if (has_control(in))
            return pal_err_set(err, PAL_EINVAL, "%s: \"%s\" contains a control character",
                               def->name, printable(in, &sh));
        memcpy(buf, in, len + 1);
    }
    *out = json_string(buf);
    return *out ? 0 : pal_err_set(err, PAL_EINVAL, "%s: a value is not valid UTF-8", def->name);
}

int pal_setting_validate(const pal_setting_def *def, const json_t *value, json_t **out,
                         pal_errbuf *err)
{
    char got[64];
    if (!def || !value || !out)
        return pal_err_set(err, PAL_EINVAL, "pal_setting_validate: bad arguments");
    show(value, got, sizeof(got));

    switch (def->type) {
    case PAL_SETTING_BOOL:
        if (!json_is_boolean(value))
            return pal_err_set(err, PAL_EINVAL, "%s must be true or false (got %s)", def->name,
                               got);
        *out = json_boolean(json_is_true(value));
        return 0;

    case PAL_SETTING_UINT: {
        json_int_t i = json_is_integer(value) ? json_integer_value(value) : -1;
        if (!json_is_integer(value) || i < 0 || (uint64_t)i < def->min || (uint64_t)i > def->max)
            return pal_err_set(err, PAL_EINVAL, "%s must be an integer from %llu to %llu (got %s)",
                               def->name, (unsigned long long)def->min,
                               (unsigned long long)def->max, got);
        *out = json_integer(i);
        return 0;
    }

    case PAL_SETTING_ENUM: {
        const char *sv = json_string_value(value);
        for (size_t k = 0; sv && def->values[k]; k++) {
            if (strcasecmp(def->values[k], sv) == 0 && strlen(sv) == json_string_length(value)) {
                *out = json_string(def->values[k]);
                return 0;
            }
        }
        char allowed[256] = "";
        size_t o = 0;
        for (size_t k = 0; def->values[k]; k++) {
            int w =
                snprintf(allowed + o, sizeof(allowed) - o, "%s%s", k ? ", " : "", def->values[k]);
            if (w < 0 || (size_t)w >= sizeof(allowed) - o)
                break;
            o += (size_t)w;
        }
        return pal_err_set(err, PAL_EINVAL, "%s must be one of %s (got %s)", def->name, allowed,
                           got);
    }

    case PAL_SETTING_STRING:
        if (!json_is_string(value))
            return pal_err_set(err, PAL_EINVAL, "%s must be a string (got %s)", def->name, got);
        return check_string(def, value, out, err);

    case PAL_SETTING_STRLIST: {
        if (!json_is_array(value))
            return pal_err_set(err, PAL_EINVAL, "%s must be a list of strings (got %s)", def->name,
                               got);
        if (json_array_size(value) > PAL_SETTINGS_MAX_LIST)
            return pal_err_set(err, PAL_EINVAL, "%s has %zu items; at most %d are allowed",
                               def->name, json_array_size(value), PAL_SETTINGS_MAX_LIST);
        json_t *arr = json_array();
        if (!arr)
            return pal_err_set(err, PAL_ENOMEM, "out of memory");
        size_t k;
        json_t *item;
        json_array_foreach(value, k, item)
        {
            json_t *norm = NULL;
            int ret;
            if (!json_is_string(item)) {
                show(item, got, sizeof(got));
                ret = pal_err_set(err, PAL_EINVAL, "%s must be a list of strings (item %zu is %s)",
                                  def->name, k, got);
            } else {
                ret = check_string(def, item, &norm, err);
            }
            if (ret) {
                json_decref(arr);
                return ret;
            }
            /* duplicates (after normalisation) collapse into the first */
            int dup = 0;
            for (size_t j = 0; j < json_array_size(arr) && !dup; j++)
                dup = json_equal(json_array_get(arr, j), norm);
            if (dup)
                json_decref(norm);
            else if (json_array_append_new(arr, norm) != 0) {
                json_decref(arr);
                return pal_err_set(err, PAL_ENOMEM, "out of memory");
            }
        }
        *out = arr;
        return 0;
    }
    }
    return pal_err_set(err, PAL_EINVAL, "%s has an unknown type", def->name);
}

/* ---- the layered settings -------------------------------------------------------------- */

struct pal_settings {
    pthread_rwlock_t lock;
    pthread_mutex_t reload_lock; /* one reload at a time: read, save, install in order */
    pal_store *store;            /* immutable; has its own lock */
    char *policy_dir;            /* immutable, NULL = no policy layer */
    int check_owner;             /* immutable */
    void (*on_change)(void *, const pal_setting_def *); /* immutable */
    void *on_change_ctx;                                /* immutable */
    json_t *defaults[N_SETTINGS];                       /* immutable */
    json_t *env[N_SETTINGS];                            /* immutable; only SandboxMode can be set */
    char *env_detail;              /* immutable: "MP_FORCE_USE_SANDBOX=1" or NULL */
    char *env_error;               /* immutable */
    json_t *pref[N_SETTINGS];      /* lock; NULL = no preference */
    json_t *policy[N_SETTINGS];    /* lock; NULL = not managed */
    char *policy_file[N_SETTINGS]; /* lock; the file that manages it */
    json_t *merged[N_SETTINGS];    /* lock; a list with policy and local entries: their union */
    char **policy_files;           /* lock; the files in force */
    size_t n_policy_files;         /* lock */
    char *policy_error;            /* lock; last load failure or NULL */
    char **pref_problems;          /* immutable after new: ignored stored preferences */
    size_t n_pref_problems;
};

void pal_strlist_free(char **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static char *dup_msg(const char *m)
{
    return m ? strdup(m) : NULL;
}

/* The policy file that sets ExclusionsMergePolicy to AdminOnly, or NULL (Merge: list
   settings merge their policy and local entries); lock held. */
static const char *admin_only_file(const pal_settings *s)
{
    int m = find_index("ExclusionsMergePolicy");
    const char *v = m < 0 ? NULL : json_string_value(s->policy[m]);
    return v && strcmp(v, "AdminOnly") == 0 ? s->policy_file[m] : NULL;
}

/* The effective layer of setting i; lock held (read). */
static json_t *effective(const pal_settings *s, size_t i, pal_setting_source *src,
                         const char **detail)
{
    if (s->env[i]) {
        *src = PAL_SOURCE_ENVIRONMENT;
        *detail = s->env_detail;
        return s->env[i];
    }
    if (registry[i].type == PAL_SETTING_STRLIST) {
        /* listmerge.h: Merge takes the union, AdminOnly the policy's entries alone */
        const char *admin = admin_only_file(s);
        if (admin && !s->policy[i]) {
            *src = PAL_SOURCE_POLICY;
            *detail = admin;
            return s->defaults[i];
        }
        if (!admin && s->policy[i] && s->merged[i]) {
            *src = PAL_SOURCE_POLICY;
            *detail = s->policy_file[i];
            return s->merged[i];
        }
    }
    if (s->policy[i]) {
        *src = PAL_SOURCE_POLICY;
        *detail = s->policy_file[i];
        return s->policy[i];
    }
    *detail = NULL;
    if (s->pref[i]) {
        *src = PAL_SOURCE_PREFERENCE;
        return s->pref[i];
    }
    *src = PAL_SOURCE_DEFAULT;
    return s->defaults[i];
}

/* Effective values, each with a reference, for change detection; lock held. */
static void snapshot(const pal_settings *s, json_t *snap[N_SETTINGS])
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        pal_setting_source src;
        const char *d;
        snap[i] = json_incref(effective(s, i, &src, &d));
    }
}

/* Call on_change for every setting whose value differs; frees both snapshots. */
static void notify(const pal_settings *s, json_t *before[N_SETTINGS], json_t *after[N_SETTINGS])
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (s->on_change && !json_equal(before[i], after[i]))
            s->on_change(s->on_change_ctx, &registry[i]);
        json_decref(before[i]);
        json_decref(after[i]);
    }
}

static void wrlock(pal_settings *s)
{
    pthread_rwlock_wrlock(&s->lock);
}

static void rdlock(pal_settings *s)
{
    pthread_rwlock_rdlock(&s->lock);
}

static void unlock(pal_settings *s)
{
    pthread_rwlock_unlock(&s->lock);
}

/* PAL_EPOLICY with the reason when setting i may not be changed by a preference; lock held. */
static int locked_by(const pal_settings *s, size_t i, pal_errbuf *err)
{
    if (s->env[i])
        return pal_err_set(err, PAL_EPOLICY,
                           "%s is forced by the environment variable %s of palisaded",
                           registry[i].name, s->env_detail);
    if (registry[i].policy_only)
        return pal_err_set(err, PAL_EPOLICY,
                           "%s can be set only in a policy file, not as a local preference",
                           registry[i].name);
    if (registry[i].type == PAL_SETTING_STRLIST) {
        /* policy entries stand beside local ones unless policy says AdminOnly */
        const char *admin = admin_only_file(s);
        if (admin)
            return pal_err_set(err, PAL_EPOLICY,
                               "%s: local entries do not apply because policy file %s sets "
                               "ExclusionsMergePolicy to AdminOnly",
                               registry[i].name, admin);
        return 0;
    }
    if (s->policy[i])
        return pal_err_set(err, PAL_EPOLICY, "%s is managed by policy file %s", registry[i].name,
                           s->policy_file[i]);
    return 0;
}

/* Recompute the union of list setting i's policy and local entries; wrlock held. Out of
   memory leaves none, and the policy's entries apply alone (effective()). */
static void remerge(pal_settings *s, size_t i)
{
    if (registry[i].type != PAL_SETTING_STRLIST)
        return;
    json_decref(s->merged[i]);
    s->merged[i] =
        s->policy[i] && s->pref[i] ? pal_listmerge_union(s->policy[i], s->pref[i]) : NULL;
}

/* Take norm (a reference) as the preference slot of i; an empty list counts as none. */
static void set_slot(pal_settings *s, size_t i, json_t *norm)
{
    json_decref(s->pref[i]);
    if (norm && json_is_array(norm) && json_array_size(norm) == 0) {
        json_decref(norm);
        norm = NULL;
    }
    s->pref[i] = norm;
    remerge(s, i);
}

/* The stored list of an exclusion-backed setting as a JSON array (NULL when empty). */
static int load_list(pal_store *st, pal_excl_kind kind, json_t **out, pal_errbuf *err)
{
    pal_exclusion *ex = NULL;
    size_t n = 0;
    int ret = pal_store_exclusion_list(st, kind, &ex, &n, err);
    if (ret)
        return ret;
    json_t *arr = n ? json_array() : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        json_t *v = json_string(ex[i].value);
        if (!v || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            pal_exclusions_free(ex, n);
            return pal_err_set(err, PAL_EFORMAT, "stored %s exclusion %zu is not valid text",
                               pal_excl_kind_name(kind), i);
        }
    }
    pal_exclusions_free(ex, n);
    if (n && !arr)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    *out = arr;
    return 0;
}

static int add_problem(pal_settings *s, const char *msg)
{
    char **p = realloc(s->pref_problems, (s->n_pref_problems + 1) * sizeof(*p));
    if (!p)
        return PAL_ENOMEM;
    s->pref_problems = p;
    if (!(p[s->n_pref_problems] = strdup(msg)))
        return PAL_ENOMEM;
    s->n_pref_problems++;
    return 0;
}

/* Load the preference layer from the store; unusable rows become problems. */
static int load_preferences(pal_settings *s, pal_errbuf *err)
{
    shown sh;
    pal_pref *prefs = NULL;
    size_t n = 0;
    int ret = pal_store_pref_get_all(s->store, &prefs, &n, err);
    if (ret)
        return ret;
    for (size_t k = 0; k < n && ret == 0; k++) {
        pal_errbuf e = {{0}};
        char msg[sizeof(e.msg) + 160];
        int i = find_index(prefs[k].name);
        if (i < 0 || excl_kind_of(&registry[i])) {
            snprintf(msg, sizeof(msg), "stored preference %s is not a known setting; ignored",
                     printable(prefs[k].name, &sh));
            ret = add_problem(s, msg);
            continue;
        }
        json_error_t jerr;
        json_t *raw = json_loads(prefs[k].value_json, JSON_DECODE_ANY, &jerr);
        json_t *norm = NULL;
        if (!raw)
            pal_err_set(&e, PAL_EFORMAT, "not JSON: %s", jerr.text);
        if (raw && pal_setting_validate(&registry[i], raw, &norm, &e) == 0) {
            set_slot(s, (size_t)i, norm);
        } else {
            snprintf(msg, sizeof(msg),
                     "stored preference %s is invalid (%s); the default "
                     "applies",
                     registry[i].name, e.msg);
            ret = add_problem(s, msg);
        }
        json_decref(raw);
    }
    pal_prefs_free(prefs, n);
    if (ret)
        return ret == PAL_ENOMEM ? pal_err_set(err, PAL_ENOMEM, "out of memory") : ret;

    for (size_t i = 0; i < N_SETTINGS; i++) {
        pal_excl_kind kind = excl_kind_of(&registry[i]);
        json_t *list = NULL, *norm = NULL;
        pal_errbuf e = {{0}};
        if (!kind)
            continue;
        ret = load_list(s->store, kind, &list, err);
        if (ret)
            return ret;
        if (list && pal_setting_validate(&registry[i], list, &norm, &e) == 0) {
            set_slot(s, i, norm);
        } else if (list) {
            char msg[sizeof(e.msg) + 100];
            snprintf(msg, sizeof(msg), "stored %s list is invalid (%s); ignored", registry[i].name,
                     e.msg);
            if (add_problem(s, msg))
                ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        }
        json_decref(list);
        if (ret)
            return ret;
    }
    return 0;
}

static int setup_env(pal_settings *s, const char *v)
{
    shown sh;
    if (!v)
        return 0;
    int i = find_index("SandboxMode");
    const char *mode = strcmp(v, "1") == 0 ? "Enabled" : strcmp(v, "0") == 0 ? "Disabled" : NULL;
    char msg[200];
    if (!mode) {
        snprintf(msg, sizeof(msg),
                 "%s has the value \"%s\"; only 0 or 1 is accepted, so it is ignored",
                 PAL_ENV_FORCE_SANDBOX, printable(v, &sh));
        s->env_error = strdup(msg);
        return s->env_error ? 0 : PAL_ENOMEM;
    }
    snprintf(msg, sizeof(msg), "%s=%s", PAL_ENV_FORCE_SANDBOX, v);
    s->env[i] = json_string(mode);
    s->env_detail = strdup(msg);
    return s->env[i] && s->env_detail ? 0 : PAL_ENOMEM;
}

/* A policy being built: per-setting value and file (owned). */
typedef struct policy_set {
    json_t *value[N_SETTINGS];
    char *file[N_SETTINGS];
    char **files;
    size_t n_files;
} policy_set;

static void policy_set_clear(policy_set *p)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        json_decref(p->value[i]);
        free(p->file[i]);
    }
    pal_strlist_free(p->files, p->n_files);
    memset(p, 0, sizeof(*p));
}

/* Merge parsed policy files into *p (later files win); the first problem fails it all. */
static int policy_from_files(const pal_policy_files *pf, policy_set *p, pal_errbuf *err)
{
    shown sh;
    memset(p, 0, sizeof(*p));
    if (pf->n && !(p->files = calloc(pf->n, sizeof(*p->files))))
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    for (size_t f = 0; f < pf->n; f++) {
        const char *path = pf->files[f].path;
        const char *key;
        json_t *val;
        unsigned char seen[N_SETTINGS] = {0};
        if (!(p->files[p->n_files] = strdup(path)))
            goto nomem;
        p->n_files++;
        json_object_foreach(pf->files[f].doc, key, val)
        {
            pal_errbuf e = {{0}};
            json_t *norm = NULL;
            int i = find_index(key);
            if (i < 0) {
                policy_set_clear(p);
                return pal_err_set(err, PAL_EINVAL, "policy file %s: unknown setting \"%s\"", path,
                                   printable(key, &sh));
            }
            if (seen[i]) {
                policy_set_clear(p);
                return pal_err_set(err, PAL_EINVAL, "policy file %s: setting %s appears twice",
                                   path, registry[i].name);
            }
            seen[i] = 1;
            int ret = pal_setting_validate(&registry[i], val, &norm, &e);
            if (ret) {
                policy_set_clear(p);
                return pal_err_set(err, ret == PAL_ENOMEM ? ret : PAL_EINVAL, "policy file %s: %s",
                                   path, e.msg);
            }
            json_decref(p->value[i]);
            free(p->file[i]);
            p->value[i] = norm;
            if (!(p->file[i] = strdup(path)))
                goto nomem;
        }
    }
    return 0;
nomem:
    policy_set_clear(p);
    return pal_err_set(err, PAL_ENOMEM, "out of memory");
}

/* {"files": [...], "settings": {"Name": {"value": v, "file": f}}} for the store. */
static char *policy_to_json(const policy_set *p)
{
    json_t *root = json_object(), *files = json_array(), *set = json_object();
    char *text = NULL;
    int bad = !root || !files || !set;
    for (size_t i = 0; !bad && i < p->n_files; i++)
        bad = json_array_append_new(files, json_string(p->files[i])) != 0;
    for (size_t i = 0; !bad && i < N_SETTINGS; i++) {
        if (!p->value[i])
            continue;
        json_t *e = json_pack("{sOss}", "value", p->value[i], "file", p->file[i]);
        bad = !e || json_object_set_new(set, registry[i].name, e) != 0;
    }
    if (!bad && json_object_set(root, "files", files) == 0 &&
        json_object_set(root, "settings", set) == 0)
        text = json_dumps(root, JSON_COMPACT);
    json_decref(files);
    json_decref(set);
    json_decref(root);
    return text;
}

/* The inverse of policy_to_json; entries that no longer validate are dropped. */
static int policy_from_json(const char *text, policy_set *p)
{
    memset(p, 0, sizeof(*p));
    json_t *root = json_loads(text, 0, NULL);
    json_t *files = json_object_get(root, "files"), *set = json_object_get(root, "settings");
    if (!json_is_array(files) || !json_is_object(set)) {
        json_decref(root);
        return PAL_EFORMAT;
    }
    int ret = 0;
    size_t k;
    json_t *v;
    if (json_array_size(files) > PAL_POLICY_MAX_FILES ||
        (json_array_size(files) && !(p->files = calloc(json_array_size(files), sizeof(char *)))))
        ret = PAL_EFORMAT;
    json_array_foreach(files, k, v)
    {
        if (ret || !json_is_string(v) || !(p->files[p->n_files] = strdup(json_string_value(v)))) {
            ret = PAL_EFORMAT;
            break;
        }
        p->n_files++;
    }
    const char *key;
    json_object_foreach(set, key, v)
    {
        int i = find_index(key);
        const char *file = json_string_value(json_object_get(v, "file"));
        json_t *norm = NULL;
        if (ret || i < 0 || !file ||
            pal_setting_validate(&registry[i], json_object_get(v, "value"), &norm, NULL) != 0)
            continue;
        p->value[i] = norm;
        if (!(p->file[i] = strdup(file)))
            ret = PAL_ENOMEM;
    }
    json_decref(root);
    if (ret)
        policy_set_clear(p);
    return ret;
}

/* Install p as the policy in force (taking its contents); wrlock held. */
static void install_policy(pal_settings *s, policy_set *p)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        json_decref(s->policy[i]);
        free(s->policy_file[i]);
        s->policy[i] = p->value[i];
        s->policy_file[i] = p->file[i];
        remerge(s, i);
    }
    pal_strlist_free(s->policy_files, s->n_policy_files);
    s->policy_files = p->files;
    s->n_policy_files = p->n_files;
    memset(p, 0, sizeof(*p));
}

static void set_policy_error(pal_settings *s, const char *msg)
{
    free(s->policy_error);
    s->policy_error = dup_msg(msg);
}

int pal_settings_reload_policy(pal_settings *s, pal_errbuf *err)
{
    if (!s->policy_dir)
        return 0;
    pal_policy_files pf = {0};
    policy_set p;
    pal_errbuf e = {{0}};
    pthread_mutex_lock(&s->reload_lock);
    int ret = pal_policy_read_dir(s->policy_dir, s->check_owner, &pf, &e);
    if (ret == 0)
        ret = policy_from_files(&pf, &p, &e);
    pal_policy_files_clear(&pf);
    if (ret) {
        wrlock(s);
        set_policy_error(s, e.msg);
        unlock(s);
        pthread_mutex_unlock(&s->reload_lock);
        return pal_err_set(err, ret, "%s", e.msg);
    }

    /* Keep it for the next start, so a file broken while the daemon was down does not
       unlock what the site had locked. */
    char *text = policy_to_json(&p);
    int save_err = text ? pal_store_meta_set(s->store, META_LAST_GOOD_POLICY, text, &e)
                        : pal_err_set(&e, PAL_ENOMEM, "out of memory");
    free(text);

    json_t *before[N_SETTINGS], *after[N_SETTINGS];
    wrlock(s);
    snapshot(s, before);
    install_policy(s, &p);
    if (save_err) {
        char msg[sizeof(e.msg) + 100];
        snprintf(msg, sizeof(msg), "policy applied but not saved for the next start: %s", e.msg);
        set_policy_error(s, msg);
    } else {
        set_policy_error(s, NULL);
    }
    snapshot(s, after);
    unlock(s);
    pthread_mutex_unlock(&s->reload_lock);
    notify(s, before, after);
    if (save_err)
        return pal_err_set(err, save_err, "policy applied but not saved for the next start: %s",
                           e.msg);
    return 0;
}

void pal_settings_free(pal_settings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        json_decref(s->defaults[i]);
        json_decref(s->env[i]);
        json_decref(s->pref[i]);
        json_decref(s->policy[i]);
        json_decref(s->merged[i]);
        free(s->policy_file[i]);
    }
    pal_strlist_free(s->policy_files, s->n_policy_files);
    pal_strlist_free(s->pref_problems, s->n_pref_problems);
    free(s->policy_error);
    free(s->env_detail);
    free(s->env_error);
    free(s->policy_dir);
    pthread_mutex_destroy(&s->reload_lock);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

int pal_settings_new(pal_store *st, const pal_settings_opts *opts, pal_settings **out,
                     pal_errbuf *err)
{
    static const pal_settings_opts none;
    const pal_settings_opts *o = opts ? opts : &none;
    if (!st || !out)
        return pal_err_set(err, PAL_EINVAL, "pal_settings_new: bad arguments");
    pal_settings *s = calloc(1, sizeof(*s));
    if (!s)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    if (pthread_rwlock_init(&s->lock, NULL) != 0) {
        free(s);
        return pal_err_set(err, PAL_ENOMEM, "cannot create a lock");
    }
    if (pthread_mutex_init(&s->reload_lock, NULL) != 0) {
        pthread_rwlock_destroy(&s->lock);
        free(s);
        return pal_err_set(err, PAL_ENOMEM, "cannot create a lock");
    }
    s->store = st;
    s->check_owner = o->check_policy_owner;
    int ret = 0;
    if (o->policy_dir && !(s->policy_dir = strdup(o->policy_dir))) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        json_t *d = pal_setting_default(&registry[i]), *norm = NULL;
        pal_errbuf e = {{0}};
        /* a registry whose default does not validate is a bug caught by the first run */
        if (!d || pal_setting_validate(&registry[i], d, &norm, &e) != 0) {
            json_decref(d);
            ret = pal_err_set(err, PAL_EINVAL, "registry default of %s is invalid: %s",
                              registry[i].name, e.msg);
            goto fail;
        }
        json_decref(norm);
        s->defaults[i] = d;
    }
    if (setup_env(s, o->force_sandbox) != 0) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    ret = load_preferences(s, err);
    if (ret)
        goto fail;

    if (s->policy_dir) {
        pal_errbuf e = {{0}};
        if (pal_settings_reload_policy(s, &e) != 0) {
            /* no usable policy files now: fall back to what was in force last time */
            char *text = NULL;
            policy_set p;
            if (pal_store_meta_get(st, META_LAST_GOOD_POLICY, &text, NULL) == 0 &&
                policy_from_json(text, &p) == 0) {
                install_policy(s, &p);
                char msg[sizeof(e.msg) + 80];
                snprintf(msg, sizeof(msg), "%s (the last good policy stays in force)", e.msg);
                set_policy_error(s, msg);
            }
            free(text);
        }
    }
    /* only now: the building of the layers above is not a change anyone waits for */
    s->on_change = o->on_change;
    s->on_change_ctx = o->on_change_ctx;
    *out = s;
    return 0;
fail:
    pal_settings_free(s);
    return ret;
}

int pal_settings_policy_error(pal_settings *s, pal_errbuf *msg)
{
    rdlock(s);
    int have = s->policy_error != NULL;
    if (have && msg)
        pal_err_set(msg, 0, "%s", s->policy_error);
    unlock(s);
    return have;
}

int pal_settings_env_error(pal_settings *s, pal_errbuf *msg)
{
    if (s->env_error && msg)
        pal_err_set(msg, 0, "%s", s->env_error);
    return s->env_error != NULL;
}

int pal_settings_problems(pal_settings *s, char ***msgs, size_t *n)
{
    rdlock(s);
    size_t cnt = s->n_pref_problems + 2, k = 0;
    char **list = calloc(cnt, sizeof(*list));
    int ret = list ? 0 : PAL_ENOMEM;
    const char *fixed[2] = {s->policy_error, s->env_error};
    for (size_t i = 0; ret == 0 && i < 2; i++)
        if (fixed[i] && !(list[k++] = strdup(fixed[i])))
            ret = PAL_ENOMEM;
    for (size_t i = 0; ret == 0 && i < s->n_pref_problems; i++)
        if (!(list[k++] = strdup(s->pref_problems[i])))
            ret = PAL_ENOMEM;
    unlock(s);
    if (ret) {
        pal_strlist_free(list, k);
        return ret;
    }
    *msgs = list;
    *n = k;
    return 0;
}

int pal_settings_policy_files(pal_settings *s, char ***paths, size_t *n)
{
    rdlock(s);
    size_t cnt = s->n_policy_files, k = 0;
    char **list = calloc(cnt ? cnt : 1, sizeof(*list));
    int ret = list ? 0 : PAL_ENOMEM;
    for (; ret == 0 && k < cnt; k++)
        if (!(list[k] = strdup(s->policy_files[k])))
            ret = PAL_ENOMEM;
    unlock(s);
    if (ret) {
        pal_strlist_free(list, k);
        return ret;
    }
    *paths = list;
    *n = cnt;
    return 0;
}

int pal_settings_get(pal_settings *s, const char *name, json_t **value, pal_setting_source *source,
                     char **detail, pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    if (!value || !source)
        return pal_err_set(err, PAL_EINVAL, "pal_settings_get: bad arguments");
    pal_setting_source src;
    const char *d;
    rdlock(s);
    json_t *v = json_deep_copy(effective(s, (size_t)i, &src, &d));
    char *dd = d && detail ? strdup(d) : NULL;
    unlock(s);
    if (!v || (d && detail && !dd)) {
        json_decref(v);
        free(dd);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    *value = v;
    *source = src;
    if (detail)
        *detail = dd;
    return 0;
}

/* The entries in effect of list setting i with their origins (listmerge.h); lock held. */
static json_t *entries_locked(const pal_settings *s, size_t i)
{
    if (s->env[i])
        return pal_listmerge_entries(s->env[i], "Environment", NULL, NULL, NULL, 1);
    return pal_listmerge_entries(s->policy[i], "Policy", s->policy_file[i], s->pref[i],
                                 "Preference", admin_only_file(s) != NULL);
}

int pal_settings_get_entries(pal_settings *s, const char *name, json_t **out, pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    if (registry[i].type != PAL_SETTING_STRLIST || !out)
        return pal_err_set(err, PAL_EINVAL, "%s is not a list setting", registry[i].name);
    rdlock(s);
    json_t *e = entries_locked(s, (size_t)i);
    unlock(s);
    if (!e)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    *out = e;
    return 0;
}

/* Persist a validated value of setting i as uid; wrlock held. */
static int persist(pal_settings *s, size_t i, const json_t *norm, uid_t uid, pal_errbuf *err)
{
    const pal_setting_def *def = &registry[i];
    pal_excl_kind kind = excl_kind_of(def);
    int ret;
    if (kind) {
        size_t n = json_array_size(norm);
        const char **vals = calloc(n ? n : 1, sizeof(*vals));
        if (!vals)
            return pal_err_set(err, PAL_ENOMEM, "out of memory");
        for (size_t k = 0; k < n; k++)
            vals[k] = json_string_value(json_array_get(norm, k));
        ret = pal_store_exclusion_replace(s->store, kind, vals, n, uid, err);
        free(vals);
        return ret;
    }
    char *text = json_dumps(norm, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    ret = pal_store_pref_set(s->store, def->name, text, uid, err);
    free(text);
    return ret;
}

int pal_settings_set_preference(pal_settings *s, const char *name, const json_t *value, uid_t uid,
                                pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    json_t *norm = NULL;
    int ret = pal_setting_validate(&registry[i], value, &norm, err);
    if (ret)
        return ret;
    json_t *before[N_SETTINGS], *after[N_SETTINGS];
    wrlock(s);
    ret = locked_by(s, (size_t)i, err);
    if (ret == 0)
        ret = persist(s, (size_t)i, norm, uid, err);
    if (ret) {
        unlock(s);
        json_decref(norm);
        return ret;
    }
    snapshot(s, before);
    set_slot(s, (size_t)i, norm);
    snapshot(s, after);
    unlock(s);
    notify(s, before, after);
    return 0;
}

int pal_settings_reset_preference(pal_settings *s, const char *name, uid_t uid, pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    const pal_setting_def *def = &registry[i];
    json_t *before[N_SETTINGS], *after[N_SETTINGS];
    wrlock(s);
    int ret = locked_by(s, (size_t)i, err);
    if (ret == 0 && !s->pref[i])
        ret = pal_err_set(err, PAL_ENOTFOUND, "%s has no preference to reset", def->name);
    if (ret == 0) {
        pal_excl_kind kind = excl_kind_of(def);
        ret = kind ? pal_store_exclusion_replace(s->store, kind, NULL, 0, uid, err)
                   : pal_store_pref_delete(s->store, def->name, uid, err);
    }
    if (ret) {
        unlock(s);
        return ret;
    }
    snapshot(s, before);
    set_slot(s, (size_t)i, NULL);
    snapshot(s, after);
    unlock(s);
    notify(s, before, after);
    return 0;
}

/* Add (add = 1) or remove one item of list setting name. */
static int change_item(pal_settings *s, const char *name, const char *item, int add, uid_t uid,
                       pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    const pal_setting_def *def = &registry[i];
    if (def->type != PAL_SETTING_STRLIST)
        return pal_err_set(err, PAL_EINVAL, "%s is not a list setting", def->name);
    if (!item)
        return pal_err_set(err, PAL_EINVAL, "%s: no item given", def->name);
    json_t *raw = json_string(item), *norm = NULL;
    if (!raw)
        return pal_err_set(err, PAL_EINVAL, "%s: the item is not valid UTF-8", def->name);
    int ret = check_string(def, raw, &norm, err);
    json_decref(raw);
    if (ret)
        return ret;

    json_t *before[N_SETTINGS], *after[N_SETTINGS];
    json_t *cur = NULL, *next = NULL;
    wrlock(s);
    ret = locked_by(s, (size_t)i, err);
    if (ret)
        goto fail;
    cur = s->pref[i] ? json_deep_copy(s->pref[i]) : json_array();
    if (!cur) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    size_t pos = json_array_size(cur);
    for (size_t k = 0; k < json_array_size(cur); k++)
        if (json_equal(json_array_get(cur, k), norm))
            pos = k;
    const char *v = json_string_value(norm);
    if (add && pos < json_array_size(cur)) {
        ret = pal_err_set(err, PAL_EEXIST, "%s already contains %s", def->name, v);
        goto fail;
    }
    /* an entry from policy is in effect already, and can be removed only where it is set */
    int from_policy = pos == json_array_size(cur) && pal_listmerge_contains(s->policy[i], norm);
    if (add && from_policy) {
        ret = pal_err_set(err, PAL_EEXIST, "%s already contains %s (from policy file %s)",
                          def->name, v, s->policy_file[i]);
        goto fail;
    }
    if (!add && from_policy) {
        ret = pal_err_set(err, PAL_EPOLICY,
                          "%s entry %s comes from policy file %s; it can be removed only there",
                          def->name, v, s->policy_file[i]);
        goto fail;
    }
    if (!add && pos == json_array_size(cur)) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "%s does not contain %s", def->name, v);
        goto fail;
    }
    if (add && json_array_size(cur) >= PAL_SETTINGS_MAX_LIST) {
        ret = pal_err_set(err, PAL_EINVAL, "%s already has %d items, the most allowed", def->name,
                          PAL_SETTINGS_MAX_LIST);
        goto fail;
    }
    if ((add ? json_array_append(cur, norm) : json_array_remove(cur, pos)) != 0) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    next = cur;
    cur = NULL;
    pal_excl_kind kind = excl_kind_of(def);
    if (kind && add)
        ret = pal_store_exclusion_add(s->store, kind, v, uid, err);
    else if (kind)
        ret = pal_store_exclusion_remove(s->store, kind, v, uid, err);
    else
        ret = persist(s, (size_t)i, next, uid, err);
    if (ret)
        goto fail;
    snapshot(s, before);
    set_slot(s, (size_t)i, next);
    snapshot(s, after);
    unlock(s);
    json_decref(norm);
    notify(s, before, after);
    return 0;
fail:
    unlock(s);
    json_decref(cur);
    json_decref(next);
    json_decref(norm);
    return ret;
}

int pal_settings_add_item(pal_settings *s, const char *name, const char *item, uid_t uid,
                          pal_errbuf *err)
{
    return change_item(s, name, item, 1, uid, err);
}

int pal_settings_remove_item(pal_settings *s, const char *name, const char *item, uid_t uid,
                             pal_errbuf *err)
{
    return change_item(s, name, item, 0, uid, err);
}

/* ---- listing --------------------------------------------------------------------------- */

void pal_setting_values_free(pal_setting_value *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        json_decref(v[i].value);
        json_decref(v[i].entries);
        free(v[i].source_detail);
    }
    free(v);
}

int pal_settings_list(pal_settings *s, pal_setting_value **out, size_t *n)
{
    pal_setting_value *vals = calloc(N_SETTINGS, sizeof(*vals));
    if (!vals)
        return PAL_ENOMEM;
    int ret = 0;
    rdlock(s);
    for (size_t i = 0; i < N_SETTINGS && ret == 0; i++) {
        const char *d;
        vals[i].def = &registry[i];
        vals[i].value = json_deep_copy(effective(s, i, &vals[i].source, &d));
        vals[i].source_detail = dup_msg(d);
        if (registry[i].type == PAL_SETTING_STRLIST && !(vals[i].entries = entries_locked(s, i)))
            ret = PAL_ENOMEM;
        if (!vals[i].value || (d && !vals[i].source_detail))
            ret = PAL_ENOMEM;
    }
    unlock(s);
    if (ret) {
        pal_setting_values_free(vals, N_SETTINGS);
        return ret;
    }
    *out = vals;
    *n = N_SETTINGS;
    return 0;
}

static json_t *def_json(const pal_setting_value *v)
{
    const pal_setting_def *def = v->def;
    json_t *o = json_pack("{ss sO ss so ss so ss}", "name", def->name, "value", v->value, "source",
                          pal_setting_source_name(v->source), "source_detail",
                          v->source_detail ? json_string(v->source_detail) : json_null(), "type",
                          pal_setting_type_name(def->type), "default", pal_setting_default(def),
                          "description", def->description);
    if (!o)
        return NULL;
    int bad = 0;
    if (def->type == PAL_SETTING_ENUM) {
        json_t *allowed = json_array();
        for (size_t k = 0; allowed && def->values[k]; k++)
            bad |= json_array_append_new(allowed, json_string(def->values[k]));
        bad |= json_object_set_new(o, "allowed_values", allowed);
    } else if (def->type == PAL_SETTING_UINT) {
        bad |= json_object_set_new(o, "min", json_integer((json_int_t)def->min));
        bad |= json_object_set_new(o, "max", json_integer((json_int_t)def->max));
    } else if (def->type == PAL_SETTING_STRLIST && v->entries) {
        bad |= json_object_set(o, "entries", v->entries);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pal_settings_list_json(pal_settings *s, json_t **out)
{
    pal_setting_value *vals;
    size_t n;
    int ret = pal_settings_list(s, &vals, &n);
    if (ret)
        return ret;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = def_json(&vals[i]);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    pal_setting_values_free(vals, n);
    if (!arr)
        return PAL_ENOMEM;
    *out = arr;
    return 0;
}

/* ---- typed getters --------------------------------------------------------------------- */

/* Index of name if it has type t (STRING also accepts ENUM). */
static int typed_index(const char *name, pal_setting_type t, int *out)
{
    int i = find_index(name);
    if (i < 0)
        return PAL_ENOTFOUND;
    pal_setting_type have = registry[i].type;
    if (have != t && !(t == PAL_SETTING_STRING && have == PAL_SETTING_ENUM))
        return PAL_EINVAL;
    *out = i;
    return 0;
}

int pal_settings_get_uint(pal_settings *s, const char *name, uint64_t *out)
{
    int i;
    int ret = typed_index(name, PAL_SETTING_UINT, &i);
    if (ret)
        return ret;
    pal_setting_source src;
    const char *d;
    rdlock(s);
    *out = (uint64_t)json_integer_value(effective(s, (size_t)i, &src, &d));
    unlock(s);
    return 0;
}

int pal_settings_get_bool(pal_settings *s, const char *name, int *out)
{
    int i;
    int ret = typed_index(name, PAL_SETTING_BOOL, &i);
    if (ret)
        return ret;
    pal_setting_source src;
    const char *d;
    rdlock(s);
    *out = json_is_true(effective(s, (size_t)i, &src, &d));
    unlock(s);
    return 0;
}

int pal_settings_get_string(pal_settings *s, const char *name, char **out)
{
    int i;
    int ret = typed_index(name, PAL_SETTING_STRING, &i);
    if (ret)
        return ret;
    pal_setting_source src;
    const char *d;
    rdlock(s);
    char *v = strdup(json_string_value(effective(s, (size_t)i, &src, &d)));
    unlock(s);
    if (!v)
        return PAL_ENOMEM;
    *out = v;
    return 0;
}

int pal_settings_get_strlist(pal_settings *s, const char *name, char ***out, size_t *n)
{
    int i;
    int ret = typed_index(name, PAL_SETTING_STRLIST, &i);
    if (ret)
        return ret;
    pal_setting_source src;
    const char *d;
    rdlock(s);
    const json_t *arr = effective(s, (size_t)i, &src, &d);
    size_t cnt = json_array_size(arr), k = 0;
    char **list = calloc(cnt ? cnt : 1, sizeof(*list));
    ret = list ? 0 : PAL_ENOMEM;
    for (; ret == 0 && k < cnt; k++)
        if (!(list[k] = strdup(json_string_value(json_array_get(arr, k)))))
            ret = PAL_ENOMEM;
    unlock(s);
    if (ret) {
        pal_strlist_free(list, k);
        return ret;
    }
    *out = list;
    *n = cnt;
    return 0;
}

/* Effective uint of a setting known to exist with that type; lock held. */
static uint64_t uint_locked(const pal_settings *s, const char *name)
{
    pal_setting_source src;
    const char *d;
    int i = find_index(name);
    return i < 0 ? 0 : (uint64_t)json_integer_value(effective(s, (size_t)i, &src, &d));
}

int pal_settings_limits(pal_settings *s, pal_limits *out)
{
    pal_limits lim;
    rdlock(s);
    lim.max_depth = (unsigned)uint_locked(s, "MaxRecursionDepth");
    lim.max_members = uint_locked(s, "MaxMembersPerContainer");
    lim.max_expanded_bytes = uint_locked(s, "MaxExpandedBytes");
    lim.max_ratio = (uint32_t)uint_locked(s, "MaxExpansionRatio");
    lim.max_object_size = uint_locked(s, "MaxObjectSize");
    lim.max_scan_ms = (uint32_t)(uint_locked(s, "MaxScanSecondsPerObject") * 1000);
    unlock(s);
    *out = lim;
    return 0;
}

int pal_settings_default_action(pal_settings *s, pal_severity sev, pal_action *out)
{
    static const char *const by_sev[] = {
        [PAL_SEV_LOW] = "LowThreatDefaultAction",
        [PAL_SEV_MODERATE] = "ModerateThreatDefaultAction",
        [PAL_SEV_HIGH] = "HighThreatDefaultAction",
        [PAL_SEV_SEVERE] = "SevereThreatDefaultAction",
    };
    static const pal_action acts[] = {PAL_ACTION_QUARANTINE, PAL_ACTION_REMOVE,
                                      PAL_ACTION_NOACTION};
    if ((int)sev < PAL_SEV_LOW || (int)sev > PAL_SEV_SEVERE)
        return PAL_EINVAL;
    int i = find_index(by_sev[sev]);
    pal_setting_source src;
    const char *d;
    int ret = PAL_EINVAL;
    if (i < 0)
        return PAL_EINVAL;
    rdlock(s);
    const char *v = json_string_value(effective(s, (size_t)i, &src, &d));
    for (size_t k = 0; v && action_values[k]; k++) {
        if (strcmp(v, action_values[k]) == 0) {
            *out = acts[k];
            ret = 0;
        }
    }
    unlock(s);
    return ret;
}

int pal_settings_sandbox_enabled(pal_settings *s)
{
    pal_setting_source src;
    const char *d;
    int i = find_index("SandboxMode");
    if (i < 0)
        return 1;
    rdlock(s);
    const char *v = json_string_value(effective(s, (size_t)i, &src, &d));
    int on = v && strcmp(v, "Enabled") == 0;
    unlock(s);
    return on;
}
