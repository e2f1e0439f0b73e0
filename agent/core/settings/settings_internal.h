/*
 * settings_internal.h — what the files of pal_settings share and nobody else may use: the
 * registry table (settings_registry.c), the settings object with its lock
 * (settings.c), the reading of one effective value (settings.c, for settings_get.c), and a
 * policy being built from its files (policy.c, for settings.c). Callers outside the library
 * use settings.h.
 *
 * Lock: the fields marked "lock" in struct pal_settings are read under rdlock and changed
 * under wrlock; the rest are immutable once pal_settings_new returns.
 */
#ifndef PAL_SETTINGS_INTERNAL_H
#define PAL_SETTINGS_INTERNAL_H

#ifndef PAL_SETTINGS_BUILD
#error "settings_internal.h is private to pal_settings; include settings.h"
#endif

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "display.h"
#include "policy.h"
#include "settings.h"

/* ---- the registry (settings_registry.c) ---------------------------------------------------- */

/* The number of entries of the registry table: the layers keep one slot per entry. A
   static assertion in settings_registry.c fails the build when a setting is added without
   raising it. */
#define N_SETTINGS 46

/* Every setting, in listing order (pal_settings_registry). */
extern const pal_setting_def pal_settings_table[];
/* The values of the *ThreatDefaultAction settings, in the order settings_get.c maps them
   to pal_action. */
extern const char *const pal_settings_action_values[];

/* Where a list setting's preference lives: the exclusions table (0 = preferences table). */
pal_excl_kind pal_settings_excl_kind(const pal_setting_def *def);
/* One string item of a STRING or STRLIST setting: NUL-free, checked and normalised by
   def->check_item; *out a new json string. */
int pal_settings_check_string(const pal_setting_def *def, const json_t *v, json_t **out,
                              pal_errbuf *err);

/* Index of name in the registry (case-insensitive), -1 if unknown. */
static inline int find_index(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcasecmp(pal_settings_table[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Text from a client or a file, made safe to put in a log line: at most 100 bytes of it in
   the display form (display.h). */
typedef struct shown {
    char s[100 * PAL_DISPLAY_MAX_RATIO + 4];
} shown;

static inline const char *printable(const char *in, shown *b)
{
    if (!in)
        in = "(null)";
    size_t len = strlen(in), keep = len < 100 ? len : 100;
    size_t done = pal_display_buf(in, keep, b->s, sizeof(b->s) - 3);
    if (done < len)
        memcpy(b->s + strlen(b->s), "...", 4);
    return b->s;
}

static inline int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* ---- the layered settings (settings.c) ----------------------------------------------------- */

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
    char *env_detail[N_SETTINGS];  /* immutable: "MP_FORCE_USE_SANDBOX=1" or NULL */
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

static inline void wrlock(pal_settings *s)
{
    pthread_rwlock_wrlock(&s->lock);
}
static inline void rdlock(pal_settings *s)
{
    pthread_rwlock_rdlock(&s->lock);
}
static inline void unlock(pal_settings *s)
{
    pthread_rwlock_unlock(&s->lock);
}

/* The effective layer of setting i: the value (a borrowed reference), *src its layer and
 *detail where it comes from (borrowed, NULL for Default and Preference); lock held (read). */
json_t *pal_settings_effective(const pal_settings *s, size_t i, pal_setting_source *src,
                               const char **detail);

/* ---- a policy being built from its files (policy.c) ---------------------------------------- */

/* Per-setting value and file (owned), and the files in the order applied. */
typedef struct pal_policy_set {
    json_t *value[N_SETTINGS];
    char *file[N_SETTINGS];
    char **files;
    size_t n_files;
} pal_policy_set;

/* Frees the contents and zeroes *p. */
void pal_policy_set_clear(pal_policy_set *p);
/* Merge parsed policy files into *p (later files win); the first problem (unknown setting,
   a setting twice in one file, an invalid value) fails it all with a message naming the
   file: PAL_EINVAL or PAL_ENOMEM. */
int pal_policy_set_from_files(const pal_policy_files *pf, pal_policy_set *p, pal_errbuf *err);
/* {"files": [...], "settings": {"Name": {"value": v, "file": f}}} for the store (the last
   good policy); malloc'd, NULL when out of memory. */
char *pal_policy_set_to_json(const pal_policy_set *p);
/* The inverse of pal_policy_set_to_json; entries that no longer validate are dropped.
   PAL_EFORMAT or PAL_ENOMEM (then *p is empty). */
int pal_policy_set_from_json(const char *text, pal_policy_set *p);

#endif
