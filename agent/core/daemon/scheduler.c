/*
 * scheduler.c — the scheduled Quick and Full scans (scheduler.h): the local-time table, the
 * clock, the next and last occurrence of a schedule, the record of each schedule's last run
 * in the store's meta table, the ticking thread that starts the scans, and the health issue
 * of a scheduled run that could not start or ended Failed. A scan's trigger is a column of
 * its record (scans."trigger").
 */
#define _GNU_SOURCE
#include "scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "jobs.h"
#include "log.h"
#include "msg.h"
#include "names.h"
#include "trustfile.h"

#define DAY_S 86400LL
#define ZONE_HOURS (400 * 24)
#define TICK_MS 1000

/* ---- local time ---------------------------------------------------------------------------- */

/* The UTC offset (seconds east) of each hour from zone_base (UTC seconds, on the hour). */
static int32_t zone_off[ZONE_HOURS];
static int64_t zone_base;
static int zone_known;

void pal_sched_capture_local_zone(void)
{
    time_t now = time(NULL);
    zone_base = (int64_t)now - (int64_t)now % 3600;
    for (int h = 0; h < ZONE_HOURS; h++) {
        time_t t = (time_t)(zone_base + (int64_t)h * 3600);
        struct tm tm;
        zone_off[h] = localtime_r(&t, &tm) ? (int32_t)tm.tm_gmtoff : 0;
    }
    zone_known = 1;
}

static int64_t local_offset(int64_t utc_s)
{
    if (!zone_known)
        return 0;
    int64_t h = (utc_s - zone_base) / 3600;
    if (h < 0)
        h = 0;
    if (h >= ZONE_HOURS)
        h = ZONE_HOURS - 1;
    return zone_off[h];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

/* ---- a schedule ---------------------------------------------------------------------------- */

/* day: 0 Never, 1 Everyday, 2..8 Monday..Sunday (the registry's order). */
typedef struct spec {
    int day;
    int minute; /* after local midnight */
    unsigned random_min;
    int catch_up;
} spec;

static const char *const day_names[] = {"Never",    "Everyday", "Monday",   "Tuesday", "Wednesday",
                                        "Thursday", "Friday",   "Saturday", "Sunday"};

/* Does local day number dn (days since 1970-01-01, a Thursday) match the spec's day? */
static int day_matches(int day, int64_t dn)
{
    if (day == 1)
        return 1;
    int64_t wd = ((dn + 3) % 7 + 7) % 7; /* 0 = Monday */
    return day >= 2 && wd == day - 2;
}

/* The UTC time (s) of local day dn at the spec's minute. */
static int64_t occurrence(const spec *sp, int64_t dn)
{
    int64_t local = dn * DAY_S + (int64_t)sp->minute * 60;
    return local - local_offset(local - local_offset(local));
}

/* The latest occurrence at or before now_s, 0 if none in the last 8 days (Never). */
static int64_t last_occurrence(const spec *sp, int64_t now_s)
{
    int64_t today = floor_div(now_s + local_offset(now_s), DAY_S);
    for (int64_t k = -1; sp->day != 0 && k <= 8; k++) {
        int64_t t = occurrence(sp, today - k);
        if (day_matches(sp->day, today - k) && t <= now_s)
            return t;
    }
    return 0;
}

/* The first occurrence after now_s, 0 if none (Never). */
static int64_t next_occurrence(const spec *sp, int64_t now_s)
{
    int64_t today = floor_div(now_s + local_offset(now_s), DAY_S);
    for (int64_t k = -1; sp->day != 0 && k <= 8; k++) {
        int64_t t = occurrence(sp, today + k);
        if (day_matches(sp->day, today + k) && t > now_s)
            return t;
    }
    return 0;
}

/* ---- the scheduler ------------------------------------------------------------------------- */

typedef struct sched_one {
    pal_scan_type type;
    const char *name; /* "Quick", "Full": the meta key's suffix and the settings' infix */
    int known;        /* spec, due and fire_ms are computed */
    spec sp;
    int64_t due_ms;  /* the occurrence the next run is for (0: none) */
    int64_t fire_ms; /* due + the random delay drawn for it */
    const char *trigger;
    char last_error[512]; /* why the last run could not start ("" none) */
} sched_one;

struct pal_sched {
    pal_daemon *d;
    char *offset_file;
    int check_owner;
    int started;
    pthread_t thread;
    /* the thread's own (no lock: only the thread touches them) */
    int first_tick_done;
    int64_t offset_s;     /* the last good offset read */
    char offset_err[256]; /* the last problem logged, so that it is logged once */
    int64_t last_now_ms;
    sched_one one[2];
    /* lock: the stop request and what status shows, published after each tick (a tick
       may wait for a scan to be recorded; status must not wait for it) */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    int poked; /* a setting changed: tick now */
    int64_t pub_fire_ms[2];
    char pub_error[2][512];
};

int pal_sched_new(pal_daemon *d, const char *clock_offset_file, int check_owner, pal_sched **out,
                  pal_errbuf *err)
{
    pal_sched *s = calloc(1, sizeof(*s));
    if (!s || (clock_offset_file && !(s->offset_file = strdup(clock_offset_file)))) {
        free(s);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    s->d = d;
    s->check_owner = check_owner;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
    s->one[0] = (sched_one){.type = PAL_SCAN_QUICK, .name = "Quick"};
    s->one[1] = (sched_one){.type = PAL_SCAN_FULL, .name = "Full"};
    *out = s;
    return 0;
}

/* The offset file: a whole number of seconds, optionally signed, surrounded by white space.
   A problem keeps the last good offset and is logged once. */
static void read_offset(pal_sched *s)
{
    if (!s->offset_file)
        return;
    pal_errbuf err = {.msg = ""};
    int fd = -1;
    struct stat sb;
    char buf[64] = "", problem[256] = "";
    int rc = pal_trustfile_open(AT_FDCWD, s->offset_file, s->offset_file, "clock offset file", 0,
                                s->check_owner, &fd, &sb, &err);
    if (rc != 0) {
        snprintf(problem, sizeof(problem), "%s", err.msg);
    } else {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        char *end = NULL;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        while (end && (*end == ' ' || *end == '\n' || *end == '\t'))
            end++;
        if (n <= 0 || errno || end == buf || *end || v < -100LL * 365 * DAY_S ||
            v > 100LL * 365 * DAY_S)
            snprintf(problem, sizeof(problem),
                     "clock offset file %s: not a whole number of seconds", s->offset_file);
        else
            s->offset_s = v;
    }
    if (problem[0] && strcmp(problem, s->offset_err) != 0)
        pal_log(PAL_LOG_WARNING, "scheduler: %s; the clock offset stays %lld s", problem,
                (long long)s->offset_s);
    memcpy(s->offset_err, problem, sizeof(problem));
}

static void read_spec(pal_sched *s, const sched_one *o, spec *sp)
{
    pal_settings *st = pal_daemon_settings(s->d);
    char name[64];
    memset(sp, 0, sizeof(*sp));
    snprintf(name, sizeof(name), "ScanSchedule%sScanDay", o->name);
    json_t *v = NULL;
    pal_setting_source src;
    if (pal_settings_get(st, name, &v, &src, NULL, NULL) == 0) {
        for (int i = 0; i < (int)(sizeof(day_names) / sizeof(*day_names)); i++)
            if (json_string_value(v) && strcasecmp(json_string_value(v), day_names[i]) == 0)
                sp->day = i;
        json_decref(v);
    }
    snprintf(name, sizeof(name), "ScanSchedule%sScanTime", o->name);
    char *t = NULL;
    if (pal_settings_get_string(st, name, &t) == 0) {
        /* validated as HH:MM by the registry */
        sp->minute = atoi(t) * 60 + atoi(t + 3);
        free(t);
    }
    uint64_t r = 0;
    pal_settings_get_uint(st, "ScheduleRandomizationMinutes", &r);
    sp->random_min = (unsigned)r;
    pal_settings_get_bool(st, "ScheduledScanCatchUp", &sp->catch_up);
}

/* ---- the record of a schedule's last run (meta "schedule.<name>") --------------------------- */

typedef struct record {
    int found;
    int day, minute;
    int64_t last_due_ms;
} record;

static void meta_key(const sched_one *o, char *key, size_t size)
{
    snprintf(key, size, "schedule.%s", o->name);
}

static void load_record(pal_sched *s, const sched_one *o, record *r)
{
    char key[64], *text = NULL;
    memset(r, 0, sizeof(*r));
    meta_key(o, key, sizeof(key));
    if (pal_store_meta_get(pal_daemon_store(s->d), key, &text, NULL) != 0)
        return;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    const char *day = json_string_value(json_object_get(j, "day"));
    const char *tm = json_string_value(json_object_get(j, "time"));
    if (j && day && tm && strlen(tm) == 5) {
        r->found = 1;
        r->day = -1;
        for (int i = 0; i < (int)(sizeof(day_names) / sizeof(*day_names)); i++)
            if (strcmp(day, day_names[i]) == 0)
                r->day = i;
        r->minute = atoi(tm) * 60 + atoi(tm + 3);
        r->last_due_ms = json_integer_value(json_object_get(j, "last_due_ms"));
    }
    json_decref(j);
}

/* Remember that every occurrence up to due_ms is dealt with (run, or not owed a catch-up). */
static void save_record(pal_sched *s, const sched_one *o, int64_t due_ms, int64_t scan_id,
                        const char *trigger, const char *error)
{
    char key[64], tm[16];
    meta_key(o, key, sizeof(key));
    snprintf(tm, sizeof(tm), "%02d:%02d", o->sp.minute / 60, o->sp.minute % 60);
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:s?, s:s?}", "day", day_names[o->sp.day], "time",
                          tm, "last_due_ms", (json_int_t)due_ms, "last_scan_id",
                          (json_int_t)scan_id, "last_trigger", trigger, "last_error", error);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    pal_errbuf err = {.msg = ""};
    if (!text || pal_store_meta_set(pal_daemon_store(s->d), key, text, &err) != 0)
        pal_log(PAL_LOG_ERROR, "scheduler: cannot record the %s scan schedule's last run: %s",
                o->name, text ? err.msg : "out of memory");
    free(text);
}

/* ---- the tick ------------------------------------------------------------------------------- */

static int64_t random_delay_ms(unsigned minutes)
{
    if (minutes == 0)
        return 0;
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)pal_time_now_ms() * 6364136223846793005ULL;
    return (int64_t)(r % ((uint64_t)minutes * 60000 + 1));
}

/* Plan the next run after now. */
static void plan_next(sched_one *o, int64_t now_ms)
{
    int64_t next = next_occurrence(&o->sp, now_ms / 1000);
    o->due_ms = next * 1000;
    o->fire_ms = next ? o->due_ms + random_delay_ms(o->sp.random_min) : 0;
    o->trigger = "Scheduled";
}

static int spec_equal(const spec *a, const spec *b)
{
    return a->day == b->day && a->minute == b->minute && a->random_min == b->random_min &&
           a->catch_up == b->catch_up;
}

/* Recompute a schedule whose settings changed, at start, or after the clock went back.
   At the first tick a run missed while the agent was down is planned now, as
   CatchUp; otherwise the occurrences up to now are recorded as dealt with, so that a later
   start does not owe them. */
static void replan(pal_sched *s, sched_one *o, const spec *sp, int64_t now_ms, int first_tick)
{
    o->sp = *sp;
    o->known = 1;
    if (sp->day == 0) {
        o->due_ms = o->fire_ms = 0;
        return;
    }
    record r;
    load_record(s, o, &r);
    int64_t prev_ms = last_occurrence(sp, now_ms / 1000) * 1000;
    int same = r.found && r.day == sp->day && r.minute == sp->minute;
    if (first_tick && same && sp->catch_up && prev_ms > r.last_due_ms && r.last_due_ms > 0) {
        o->due_ms = prev_ms;
        o->fire_ms = now_ms;
        o->trigger = "CatchUp";
        pal_log(PAL_LOG_NOTICE,
                "scheduler: the %s scan due at %lld (ms) was missed while "
                "palisaded was not running; running it now",
                o->name, (long long)prev_ms);
        return;
    }
    if (!same || prev_ms > r.last_due_ms)
        save_record(s, o, prev_ms, 0, NULL, NULL);
    /* a clock set back does not run again an occurrence already dealt with */
    plan_next(o, same && r.last_due_ms > now_ms ? r.last_due_ms : now_ms);
}

static void run(pal_sched *s, sched_one *o, int64_t now_ms)
{
    const char *trigger = o->trigger;
    int64_t due = o->due_ms;
    int64_t scan_id = 0;
    const char *code = NULL;
    pal_errbuf err = {.msg = ""};
    int rc = pal_jobs_start_agent(pal_daemon_jobs(s->d), o->type, trigger, &scan_id, &code, &err);
    if (rc == 0) {
        o->last_error[0] = '\0';
        pal_log(PAL_LOG_NOTICE, "scheduler: %s scan started (scan %lld, trigger %s)", o->name,
                (long long)scan_id, trigger);
    } else {
        snprintf(o->last_error, sizeof(o->last_error), "%s", err.msg);
        pal_log(PAL_LOG_ERROR, "scheduler: the %s scan could not start: %s", o->name, err.msg);
    }
    save_record(s, o, due, scan_id, trigger, rc ? o->last_error : NULL);
    plan_next(o, now_ms > due ? now_ms : due);
}

static void tick(pal_sched *s, int stopping)
{
    read_offset(s);
    int64_t now_ms = pal_time_now_ms() + s->offset_s * 1000;
    int first = !s->first_tick_done;
    /* set back by more than a tick: an administrator's (or a test's) change, not the
       small steps of time synchronisation, which must not redraw the random delays */
    int went_back = s->last_now_ms && now_ms < s->last_now_ms - 2 * TICK_MS;
    s->last_now_ms = now_ms;
    for (int i = 0; i < 2; i++) {
        sched_one *o = &s->one[i];
        spec sp;
        read_spec(s, o, &sp);
        if (!o->known || !spec_equal(&sp, &o->sp) || went_back)
            replan(s, o, &sp, now_ms, first);
        if (o->fire_ms && now_ms >= o->fire_ms && !stopping)
            run(s, o, now_ms);
    }
    s->first_tick_done = 1;
}

static void *sched_main(void *arg)
{
    pal_sched *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);
        tick(s, stopping);
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < 2; i++) {
            s->pub_fire_ms[i] = s->one[i].fire_ms;
            memcpy(s->pub_error[i], s->one[i].last_error, sizeof(s->pub_error[i]));
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += TICK_MS / 1000;
        while (!s->stopping && !s->poked &&
               pthread_cond_timedwait(&s->wake, &s->lock, &ts) != ETIMEDOUT)
            ;
        s->poked = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int pal_sched_start(pal_sched *s, pal_errbuf *err)
{
    int rc = pthread_create(&s->thread, NULL, sched_main, s);
    if (rc != 0)
        return pal_err_set(err, PAL_EIO, "cannot start the scheduler's thread: %s", strerror(rc));
    s->started = 1;
    return 0;
}

void pal_sched_poke(pal_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->poked = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void pal_sched_stop(pal_sched *s)
{
    if (!s || !s->started)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->started = 0;
}

void pal_sched_free(pal_sched *s)
{
    if (!s)
        return;
    pal_sched_stop(s);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s->offset_file);
    free(s);
}

/* ---- views ---------------------------------------------------------------------------------- */

/* Whether the newest run the scheduler started for this schedule (Scheduled or CatchUp)
   that Completed or Failed ended Failed; reason names it. The next scheduled run that
   Completes clears it; a Cancelled run (an administrator's stop) and a client's scan of the
   same type do not, since they say nothing about whether the schedule works. */
static int failed_run(pal_sched *s, pal_scan_type type, const char *name, char *reason, size_t size)
{
    pal_scan_rec r;
    int found = 0;
    pal_errbuf err = {.msg = ""};
    memset(&r, 0, sizeof(r));
    if (pal_store_scan_last_scheduled(pal_daemon_store(s->d), type, &r, &found, &err) != 0 ||
        !found)
        return 0;
    int failed = r.outcome == PAL_SCAN_FAILED;
    if (failed)
        snprintf(reason, size, "the scheduled %s scan %lld ended %s: %s", name, (long long)r.id,
                 pal_scan_outcome_name(r.outcome), r.error ? r.error : "no error recorded");
    pal_scan_rec_clear(&r);
    return failed;
}

int pal_sched_add_status(pal_sched *s, json_t *o, json_t *issues)
{
    static const char *const keys[] = {"next_quick_scan", "next_full_scan"};
    int64_t fire[2] = {0, 0};
    char errors[2][512] = {"", ""};
    if (s) {
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < 2; i++) {
            fire[i] = s->pub_fire_ms[i];
            memcpy(errors[i], s->pub_error[i], sizeof(errors[i]));
        }
        pthread_mutex_unlock(&s->lock);
    }
    for (int i = 0; i < 2; i++) {
        json_t *v = fire[i] > 0 ? pal_time_json(fire[i]) : json_null();
        if (!v || json_object_set_new(o, keys[i], v) != 0)
            return PAL_ENOMEM;
        char reason[1200];
        if (errors[i][0]) {
            snprintf(reason, sizeof(reason), "the scheduled %s scan could not start: %s",
                     i == 0 ? "Quick" : "Full", errors[i]);
        } else if (!s || !failed_run(s, i == 0 ? PAL_SCAN_QUICK : PAL_SCAN_FULL,
                                     i == 0 ? "Quick" : "Full", reason, sizeof(reason))) {
            continue;
        }
        json_t *it = json_pack("{s:s, s:s}", "id", "ScheduledScanFailed", "reason", reason);
        if (!it || json_array_append_new(issues, it) != 0)
            return PAL_ENOMEM;
    }
    return 0;
}

/* scans."trigger" (0006_scan_trigger.sql); the callers (jobs.c, ops.c) predate the column */
const char *pal_sched_scan_trigger(pal_store *st, int64_t scan_id)
{
    return st ? pal_store_scan_trigger(st, scan_id) : "Client";
}

int pal_sched_record_trigger(pal_store *st, int64_t scan_id, const char *trigger, pal_errbuf *err)
{
    return pal_store_scan_set_trigger(st, scan_id, trigger, err);
}
