/* events.c — the kinds, the records, the queue and the sender thread (events.h). */
#define _GNU_SOURCE
#include "events.h"

#include <errno.h>
#include <jansson.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "display.h"
#include "events_internal.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define MAX_ROOTS 32 /* roots listed in a scan-started record (ROOT_COUNT says how many) */

static const struct {
    const char *name, *message_id;
    int priority;
} kinds[PAL_EV__COUNT] = {
    [PAL_EV_DETECTION] = {"detection", "087895bc9ed842b9aac374022c165c57", LOG_WARNING},
    [PAL_EV_REMEDIATION] = {"remediation", "91a6f4a5c3834bf1b0fbade86180e75c", LOG_NOTICE},
    [PAL_EV_RESTORE] = {"restore", "feac1ddd5f6344d99fbf812e11d0ee97", LOG_NOTICE},
    [PAL_EV_ALLOW_ADDED] = {"allowed-threat-added", "7152cda5a45c46269e05b26a8f9332ee", LOG_NOTICE},
    [PAL_EV_ALLOW_REMOVED] = {"allowed-threat-removed", "8d092b8897ae4a8090c5625ccc63c0bc",
                              LOG_NOTICE},
    [PAL_EV_SCAN_STARTED] = {"scan-started", "8821212941264389b06991a1df37a58b", LOG_INFO},
    [PAL_EV_SCAN_FINISHED] = {"scan-finished", "7705966055f4498686fc0f93e352f16a", LOG_INFO},
    [PAL_EV_CP_STARTED] = {"content-process-started", "24d6b293e9ea4d3aae4b71c3499ca107", LOG_INFO},
    [PAL_EV_CP_CRASHED] = {"content-process-crashed", "ab886eccef96405cb4394d6f469ded3c",
                           LOG_WARNING},
    [PAL_EV_CP_KILLED] = {"content-process-killed", "90089553a92147c08aafd9fc13b29fca",
                          LOG_WARNING},
    [PAL_EV_CP_DEGRADED] = {"content-process-degraded", "3fecf511fda74bd0920d5eec6a3eda86",
                            LOG_ERR},
    [PAL_EV_POLICY_APPLIED] = {"policy-applied", "da86f32456fd42a7b418102d15bcc5b1", LOG_NOTICE},
    [PAL_EV_POLICY_ERROR] = {"policy-error", "875bf16f3a9d47d7ab07cfa9c1f3035b", LOG_ERR},
    [PAL_EV_RTP_UNCHECKED] = {"real-time-unchecked", "a447b29bf16e42b6a3a1b916f04e3af4",
                              LOG_WARNING},
    [PAL_EV_SIGNATURE_UPDATE] = {"signature-update", "fc97b2ccd11e4142ace5d98b48b01635",
                                 LOG_NOTICE},
};

const char *pal_event_kind_name(pal_event_kind k)
{
    return (unsigned)k < PAL_EV__COUNT ? kinds[k].name : NULL;
}

const char *pal_event_message_id(pal_event_kind k)
{
    return (unsigned)k < PAL_EV__COUNT ? kinds[k].message_id : NULL;
}

/* ---- the sender's state ---------------------------------------------------------------- */

static struct {
    pthread_mutex_t lock; /* protects everything below */
    pthread_cond_t wake;  /* a record was queued, or stop */
    int configured, running, stopping;
    pthread_t thread;
    ev_record *head, *tail;
    size_t queued;
    int64_t stop_deadline_ms;
    /* in force */
    int journal, facility, clamav;
    pal_syslog_target target;
    unsigned generation; /* bumped by each configure: the thread reconnects */
    uint64_t emitted, sent_journal, sent_syslog, dropped, failed;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static int64_t now_ms(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- records ---------------------------------------------------------------------------- */

static void record_free(ev_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i].val);
    free(r->message);
    free(r);
}

/* Adds a field holding len bytes copied from v; 0, or -1 when out of memory or room. */
static int add_bytes(ev_record *r, const char *key, const char *v, size_t len, int to)
{
    if (r->n >= EV_MAX_FIELDS)
        return -1;
    char *c = malloc(len + 1);
    if (!c)
        return -1;
    if (len)
        memcpy(c, v, len);
    c[len] = '\0';
    r->f[r->n++] = (ev_field){.key = key, .val = c, .len = len, .to = to};
    return 0;
}

/* A text field in the display form (no control character, no newline, valid UTF-8). */
static int add_text(ev_record *r, const char *key, const char *v, size_t len)
{
    if (!v)
        return 0;
    if (r->n >= EV_MAX_FIELDS)
        return -1;
    char *d = pal_display(v, len);
    if (!d)
        return -1;
    r->f[r->n++] = (ev_field){.key = key, .val = d, .len = strlen(d), .to = EV_TO_BOTH};
    return 0;
}

static int add_str(ev_record *r, const char *key, const char *v)
{
    return v ? add_text(r, key, v, strlen(v)) : 0;
}

static int add_num(ev_record *r, const char *key, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
    return add_bytes(r, key, buf, (size_t)n, EV_TO_BOTH);
}

static int add_unum(ev_record *r, const char *key, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return add_bytes(r, key, buf, (size_t)n, EV_TO_BOTH);
}

/* The path three ways: the display form for people and rules, its exact bytes for the
   journal, and their hex for syslog when the display form is not the bytes themselves. */
static int add_path(ev_record *r, const char *p, size_t len)
{
    if (!p)
        return 0;
    if (add_text(r, "PATH", p, len) != 0 || add_bytes(r, "PATH_BYTES", p, len, EV_TO_JOURNAL))
        return -1;
    const ev_field *shown = &r->f[r->n - 2];
    if (shown->len == len && memcmp(shown->val, p, len) == 0)
        return 0;
    if (r->n >= EV_MAX_FIELDS)
        return -1;
    char *hex = malloc(len * 2 + 1);
    if (!hex)
        return -1;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[(unsigned char)p[i] >> 4];
        hex[2 * i + 1] = digits[(unsigned char)p[i] & 15];
    }
    hex[2 * len] = '\0';
    r->f[r->n++] = (ev_field){.key = "PATH_HEX", .val = hex, .len = 2 * len, .to = EV_TO_SYSLOG};
    return 0;
}

static const char *field(const ev_record *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].key, key) == 0)
            return r->f[i].val;
    return NULL;
}

static const char *or_dash(const char *s)
{
    return s ? s : "-";
}

/* The one-line MESSAGE, made of fields already in the display form. */
static char *make_message(const ev_record *r, const pal_event *ev)
{
    const char *path = or_dash(field(r, "PATH")), *threat = or_dash(field(r, "THREAT"));
    const char *action = or_dash(field(r, "ACTION")), *result = or_dash(field(r, "RESULT"));
    const char *detail = field(r, "DETAIL");
    char *m = NULL;
    int rc = -1;
    switch (ev->kind) {
    case PAL_EV_DETECTION:
        rc = asprintf(&m, "%s (%s) detected in %s (origin %s); action %s: %s", threat,
                      or_dash(field(r, "SEVERITY")), path, or_dash(field(r, "ORIGIN")), action,
                      result);
        break;
    case PAL_EV_REMEDIATION:
        rc = asprintf(&m, "%s of %s (%s): %s%s%s", action, path, threat, result, detail ? ": " : "",
                      detail ? detail : "");
        break;
    case PAL_EV_RESTORE:
        rc = asprintf(&m, "restore of quarantined item %s (%s) to %s: %s%s%s",
                      or_dash(field(r, "QUARANTINE_ID")), threat, path, result, detail ? ": " : "",
                      detail ? detail : "");
        break;
    case PAL_EV_ALLOW_ADDED:
        rc = asprintf(&m, "%s was added to the allowed threats", threat);
        break;
    case PAL_EV_ALLOW_REMOVED:
        rc = asprintf(&m, "%s was removed from the allowed threats", threat);
        break;
    case PAL_EV_SCAN_STARTED:
        rc = asprintf(&m, "%s scan %s started", or_dash(field(r, "SCAN_TYPE")),
                      or_dash(field(r, "SCAN_ID")));
        break;
    case PAL_EV_SCAN_FINISHED:
        rc = asprintf(&m, "%s scan %s ended %s: %s files, %s threats, %s unscannable",
                      or_dash(field(r, "SCAN_TYPE")), or_dash(field(r, "SCAN_ID")),
                      or_dash(field(r, "STATUS")), or_dash(field(r, "FILES")),
                      or_dash(field(r, "THREATS")), or_dash(field(r, "UNSCANNABLE")));
        break;
    case PAL_EV_CP_STARTED:
    case PAL_EV_CP_CRASHED:
    case PAL_EV_CP_KILLED:
    case PAL_EV_CP_DEGRADED:
        /* "content-process-crashed" -> "crashed" */
        rc = asprintf(&m, "content process %s (pid %s): %s", kinds[ev->kind].name + 16,
                      or_dash(field(r, "CP_PID")), or_dash(detail));
        break;
    case PAL_EV_POLICY_APPLIED:
        rc = asprintf(&m, "policy from %s is in force%s%s", or_dash(field(r, "POLICY_DIR")),
                      detail ? ": " : "", detail ? detail : "");
        break;
    case PAL_EV_POLICY_ERROR:
        rc = asprintf(&m, "policy from %s was not applied (the last good policy stays): %s",
                      or_dash(field(r, "POLICY_DIR")), or_dash(detail));
        break;
    case PAL_EV_SIGNATURE_UPDATE:
        if (ev->result && strcmp(ev->result, "Success") == 0)
            rc = asprintf(&m, "signature package version %s is in force (%s; was %s)",
                          or_dash(field(r, "SIGNATURE_VERSION")), action,
                          or_dash(field(r, "OLD_SIGNATURE_VERSION")));
        else
            rc = asprintf(&m, "signature %s refused: %s", action, or_dash(detail));
        break;
    case PAL_EV_RTP_UNCHECKED:
        rc = asprintf(&m, "real-time protection answered %s event(s) without a verdict (%s): %s",
                      or_dash(field(r, "COUNT")), action, or_dash(detail));
        break;
    }
    return rc < 0 ? NULL : m;
}

static ev_record *record_new(pal_event_kind kind, int priority)
{
    ev_record *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->kind = kind;
    r->priority = priority;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->time_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    r->pid = getpid();
    return r;
}

static int priority_of(const pal_event *ev)
{
    int p = kinds[ev->kind].priority;
    int failed =
        ev->result && (strcmp(ev->result, "Failed") == 0 || strcmp(ev->result, "Refused") == 0);
    if (failed && p > LOG_ERR)
        p = ev->kind == PAL_EV_SIGNATURE_UPDATE ? LOG_WARNING : LOG_ERR;
    if (ev->kind == PAL_EV_SCAN_FINISHED && ev->status && strcmp(ev->status, "Failed") == 0)
        p = LOG_WARNING;
    return p;
}

static ev_record *build(const pal_event *ev)
{
    ev_record *r = record_new(ev->kind, priority_of(ev));
    if (!r)
        return NULL;
    size_t plen = ev->path ? (ev->path_len ? ev->path_len : strlen(ev->path)) : 0;
    int rc = add_str(r, "EVENT", kinds[ev->kind].name);
    rc |= add_str(r, "ORIGIN", ev->origin);
    rc |= add_str(r, "THREAT", ev->threat);
    rc |= add_str(r, "SEVERITY", ev->severity);
    rc |= add_str(r, "CATEGORY", ev->category);
    rc |= add_path(r, ev->path, plen);
    if (ev->object && (strlen(ev->object) != plen || memcmp(ev->object, ev->path, plen) != 0))
        rc |= add_str(r, "OBJECT", ev->object);
    rc |= add_str(r, "ACTION", ev->action);
    rc |= add_str(r, "RESULT", ev->result);
    rc |= add_str(r, "DETAIL", ev->detail);
    rc |= add_str(r, "SHA256", ev->sha256);
    if (ev->scan_id)
        rc |= add_num(r, "SCAN_ID", ev->scan_id);
    if (ev->detection_id)
        rc |= add_num(r, "DETECTION_ID", ev->detection_id);
    if (ev->quarantine_id)
        rc |= add_num(r, "QUARANTINE_ID", ev->quarantine_id);
    rc |= add_str(r, "SCAN_TYPE", ev->scan_type);
    rc |= add_str(r, "STATUS", ev->status);
    if (ev->roots) {
        rc |= add_unum(r, "ROOT_COUNT", ev->n_roots);
        for (size_t i = 0; i < ev->n_roots && i < MAX_ROOTS; i++)
            rc |= add_str(r, "ROOT", ev->roots[i]);
    }
    if (ev->has_counts) {
        rc |= add_unum(r, "FILES", ev->files);
        rc |= add_unum(r, "BYTES", ev->bytes);
        rc |= add_unum(r, "THREATS", ev->threats);
        rc |= add_unum(r, "UNSCANNABLE", ev->unscannable);
        rc |= add_num(r, "DURATION_MS", ev->duration_ms);
    }
    int cp = ev->kind >= PAL_EV_CP_STARTED && ev->kind <= PAL_EV_CP_DEGRADED;
    if (ev->pid)
        rc |= add_num(r, cp ? "CP_PID" : "PID", ev->pid);
    if (ev->has_uid)
        rc |= add_num(r, cp ? "CP_UID" : "UID", ev->uid);
    if (ev->exe) {
        rc |= add_str(r, "EXE", ev->exe);
    } else if (ev->pid > 0 && !cp) {
        /* the process is asking now (a client of the socket, a real-time event): its
           executable, as the kernel names it */
        char link[32], exe[4096];
        snprintf(link, sizeof(link), "/proc/%ld/exe", (long)ev->pid);
        ssize_t n = readlink(link, exe, sizeof(exe));
        if (n > 0 && (size_t)n < sizeof(exe))
            rc |= add_text(r, "EXE", exe, (size_t)n);
    }
    if (ev->has_exit)
        rc |= add_num(r, "EXIT_CODE", ev->exit_code);
    if (ev->signal) {
        rc |= add_num(r, "SIGNAL", ev->signal);
        const char *abbrev = sigabbrev_np(ev->signal);
        if (abbrev) {
            char name[32];
            snprintf(name, sizeof(name), "SIG%s", abbrev);
            rc |= add_str(r, "SIGNAL_NAME", name);
        }
    }
    if (ev->signature_version)
        rc |= add_unum(r, "SIGNATURE_VERSION", ev->signature_version);
    if (ev->old_signature_version)
        rc |= add_unum(r, "OLD_SIGNATURE_VERSION", ev->old_signature_version);
    rc |= add_str(r, "POLICY_DIR", ev->policy_dir);
    if (ev->has_count)
        rc |= add_unum(r, "COUNT", ev->count);
    if (rc != 0 || !(r->message = make_message(r, ev))) {
        record_free(r);
        return NULL;
    }
    return r;
}

/* "PATH: THREAT FOUND", as clamd and clamscan write it, for rules written for ClamAV. */
static ev_record *build_clamav(const ev_record *det)
{
    ev_record *r = record_new(PAL_EV_DETECTION, LOG_WARNING);
    if (!r)
        return NULL;
    r->clamav = 1;
    r->time_us = det->time_us;
    int rc = 0;
    const char *keep[] = {"SCAN_ID", "DETECTION_ID"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = field(det, keep[i]);
        if (v)
            rc |= add_bytes(r, keep[i], v, strlen(v), EV_TO_JOURNAL);
    }
    if (rc != 0 || asprintf(&r->message, "%s: %s FOUND", or_dash(field(det, "PATH")),
                            or_dash(field(det, "THREAT"))) < 0) {
        r->message = NULL;
        record_free(r);
        return NULL;
    }
    return r;
}

/* ---- the queue and the thread ----------------------------------------------------------- */

static void enqueue_locked(ev_record *r)
{
    if (!r) {
        S.dropped++;
        return;
    }
    if (S.queued >= PAL_EVENTS_QUEUE_MAX) {
        S.dropped++;
        record_free(r);
        return;
    }
    r->next = NULL;
    if (S.tail)
        S.tail->next = r;
    else
        S.head = r;
    S.tail = r;
    S.queued++;
    S.emitted++;
}

void pal_event_emit(const pal_event *ev)
{
    if (!ev || (unsigned)ev->kind >= PAL_EV__COUNT)
        return;
    pthread_mutex_lock(&S.lock);
    int on = S.configured && !S.stopping && (S.journal || S.target.transport != PAL_SYSLOG_OFF);
    int clamav = S.clamav;
    pthread_mutex_unlock(&S.lock);
    if (!on)
        return;
    /* built outside the lock: the display forms cost more than the queue */
    /* the ClamAV-form line says a threat was found: not for a finding on the allowed list */
    clamav = clamav && ev->kind == PAL_EV_DETECTION && ev->path && ev->threat &&
             !(ev->action && strcmp(ev->action, "Allow") == 0);
    ev_record *r = build(ev);
    ev_record *c = r && clamav ? build_clamav(r) : NULL;
    pthread_mutex_lock(&S.lock);
    if (S.configured && !S.stopping) {
        enqueue_locked(r);
        if (r && clamav)
            enqueue_locked(c);
        pthread_cond_signal(&S.wake);
    } else {
        record_free(r);
        record_free(c);
    }
    pthread_mutex_unlock(&S.lock);
}

static void *sender(void *arg)
{
    (void)arg;
    ev_syslog_conn conn = {.fd = -1};
    unsigned gen = 0;
    pthread_mutex_lock(&S.lock);
    for (;;) {
        while (!S.head && !S.stopping)
            pthread_cond_wait(&S.wake, &S.lock);
        if (!S.head)
            break; /* stopping and drained */
        if (S.stopping && now_ms(CLOCK_MONOTONIC) > S.stop_deadline_ms) {
            while (S.head) { /* out of time: what is left is dropped, and counted */
                ev_record *r = S.head;
                S.head = r->next;
                S.queued--;
                S.dropped++;
                record_free(r);
            }
            S.tail = NULL;
            break;
        }
        ev_record *r = S.head;
        S.head = r->next;
        if (!S.head)
            S.tail = NULL;
        S.queued--;
        if (gen != S.generation) {
            ev_syslog_close(&conn);
            conn.target = S.target;
            gen = S.generation;
        }
        int journal = S.journal, facility = S.facility;
        pthread_mutex_unlock(&S.lock);

        int jrc = journal ? ev_journal_send(r, facility) : 0;
        int src = conn.target.transport != PAL_SYSLOG_OFF ? ev_syslog_send(&conn, r, facility) : 0;
        record_free(r);

        pthread_mutex_lock(&S.lock);
        if (journal)
            jrc == 0 ? S.sent_journal++ : S.failed++;
        if (conn.target.transport != PAL_SYSLOG_OFF)
            src == 0 ? S.sent_syslog++ : S.failed++;
    }
    pthread_mutex_unlock(&S.lock);
    ev_syslog_close(&conn);
    return NULL;
}

static int journal_present(void)
{
    struct stat st;
    return stat(JOURNAL_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode);
}

int pal_events_configure(const pal_events_config *cfg, pal_errbuf *err)
{
    pal_syslog_target t;
    int rc = pal_syslog_target_parse(cfg->syslog_target ? cfg->syslog_target : "", &t, err);
    if (rc != 0)
        return rc;
    int facility = pal_syslog_facility_parse(cfg->facility ? cfg->facility : "daemon");
    if (facility < 0)
        return pal_err_set(err, PAL_EINVAL, "EventSyslogFacility: unknown facility");
    int journal = journal_present();
    /* "" is automatic: the journal when there is one, else the system's syslog socket */
    if (t.transport == PAL_SYSLOG_OFF && t.is_default) {
        if (journal) {
            t.is_default = 0;
        } else {
            t.transport = PAL_SYSLOG_UNIX;
            snprintf(t.path, sizeof(t.path), "/dev/log");
        }
    }
    pthread_mutex_lock(&S.lock);
    S.journal = journal;
    S.facility = facility;
    S.clamav = cfg->clamav_compatible;
    S.target = t;
    S.generation++;
    S.configured = 1;
    S.stopping = 0;
    if (!S.running) {
        if (pthread_create(&S.thread, NULL, sender, NULL) != 0) {
            S.configured = 0;
            pthread_mutex_unlock(&S.lock);
            return pal_err_set(err, PAL_ENOMEM, "cannot start the event sender thread");
        }
        S.running = 1;
    }
    pthread_mutex_unlock(&S.lock);
    return 0;
}

void pal_events_shutdown(int timeout_ms)
{
    pthread_mutex_lock(&S.lock);
    if (!S.running) {
        S.configured = 0;
        pthread_mutex_unlock(&S.lock);
        return;
    }
    S.stopping = 1;
    S.stop_deadline_ms = now_ms(CLOCK_MONOTONIC) + timeout_ms;
    pthread_cond_signal(&S.wake);
    pthread_t th = S.thread;
    pthread_mutex_unlock(&S.lock);
    pthread_join(th, NULL);
    pthread_mutex_lock(&S.lock);
    S.running = 0;
    S.configured = 0;
    pthread_mutex_unlock(&S.lock);
}

static void target_text(const pal_syslog_target *t, char *buf, size_t size)
{
    switch (t->transport) {
    case PAL_SYSLOG_OFF:
        snprintf(buf, size, "off");
        break;
    case PAL_SYSLOG_UNIX:
        snprintf(buf, size, "unix:%s", t->path);
        break;
    case PAL_SYSLOG_UDP:
    case PAL_SYSLOG_TCP:
        snprintf(buf, size, strchr(t->host, ':') ? "%s:[%s]:%u" : "%s:%s:%u",
                 t->transport == PAL_SYSLOG_UDP ? "udp" : "tcp", t->host, t->port);
        break;
    }
}

void pal_events_get_stats(pal_events_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&S.lock);
    out->journal = S.configured && S.journal;
    if (S.configured)
        target_text(&S.target, out->syslog, sizeof(out->syslog));
    else
        snprintf(out->syslog, sizeof(out->syslog), "off");
    out->emitted = S.emitted;
    out->sent_journal = S.sent_journal;
    out->sent_syslog = S.sent_syslog;
    out->dropped = S.dropped;
    out->failed = S.failed;
    out->queued = S.queued;
    pthread_mutex_unlock(&S.lock);
}

json_t *pal_events_status_json(void)
{
    pal_events_stats st;
    pal_events_get_stats(&st);
    return json_pack("{sbsssIsIsIsIsIsI}", "journal", st.journal, "syslog_target", st.syslog,
                     "emitted", (json_int_t)st.emitted, "sent_journal", (json_int_t)st.sent_journal,
                     "sent_syslog", (json_int_t)st.sent_syslog, "dropped", (json_int_t)st.dropped,
                     "failed", (json_int_t)st.failed, "queued", (json_int_t)st.queued);
}
