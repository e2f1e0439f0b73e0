/*
 * daemon.c — palisaded's state and its life (daemon.h): start-up in the order the pieces
 * depend on each other, the package in force, the slot pool, settings put in force live,
 * the quarantine and updater, shut-down.
 */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "msg.h"
/* The one recursion in agent/core, on purpose: the daemon registers its control operations
   (ops_*.h) and owns the updater (updates.h), and each of those acts on the daemon through
   daemon.h. The handlers and the updater reach the daemon's state only through daemon.h's
   accessors and pal_daemon_put_in_force; the daemon calls them only to register or run them. */
#include "ops_buffer.h"
#include "ops_catalog.h"
#include "ops_diag.h"
#include "ops_jobs.h"
#include "ops_metrics.h"
#include "jobs.h"
#include "scheduler.h"
#include "ops_remediation.h"
#include "ops_rtp.h"
#include "rtp.h"
#include "trustkeys.h"
#include "updates.h"

#define INSTALLED_DEFS "defs/current.sig"
#define QUARANTINE_DIR "quarantine"
#define JOURNAL_KEEP_MS (30LL * 86400000LL) /* finished journal steps are kept 30 days */

/* A slot pool shared by the scans that started on it; swapped when ScanThreads changes. */
struct pal_slots_ref {
    atomic_uint refs;
    pal_slots *slots;
};

struct pal_daemon {
    pal_daemon_paths paths; /* copies of the config's, owned through owned[] */
    char *owned[6];
    size_t n_owned;
    char *cp_account;
    char *force_sandbox;
    char *force_real_time;
    int check_owners;
    pal_store *store;
    pal_settings *settings;
    pal_keyring *keys;
    char **keys_problems; /* immutable after start: what --trusted-keys refused */
    size_t n_keys_problems;
    pal_ctl_server *ctl;        /* the control socket, 0660, admin group */
    pal_ctl_server *ctl_status; /* the read-only status socket beside it, 0666 */
    int64_t started_at;         /* ms */
    int lock_fd;                /* flock on <state>/palisaded.lock */

    pthread_mutex_t defs_lock;
    pal_defs *defs;       /* in force, or NULL (degraded) */
    pal_slots_ref *slots; /* in force */
    pal_scanhost *host;   /* where slots' scans run; owns the content process */
    char defs_error[640]; /* why no package is in force ("" if one is) */

    pthread_mutex_t status_lock;
    int64_t last_scan_id; /* 0: none since start (status then asks the store) */
    atomic_int active_scans;
    atomic_int stopping;

    pal_quarantine *quarantine;
    pal_remediate *remediate; /* what scans are given (remediate.h) */
    pal_updater *updater;
    pal_jobs *jobs;   /* detached scans */
    pal_rtp *rtp;     /* real-time protection */
    pal_sched *sched; /* scheduled scans */
};

/* ---- the state ------------------------------------------------------------------------- */

pal_store *pal_daemon_store(pal_daemon *d)
{
    return d->store;
}

pal_settings *pal_daemon_settings(pal_daemon *d)
{
    return d->settings;
}

const pal_daemon_paths *pal_daemon_paths_of(pal_daemon *d)
{
    return &d->paths;
}

const pal_keyring *pal_daemon_keys(pal_daemon *d)
{
    return d->keys;
}

pal_scanhost *pal_daemon_host(pal_daemon *d)
{
    return d->host;
}

int64_t pal_daemon_started_at(pal_daemon *d)
{
    return d->started_at;
}

size_t pal_daemon_keys_problems(pal_daemon *d, const char *const **out)
{
    *out = (const char *const *)d->keys_problems;
    return d->n_keys_problems;
}

pal_quarantine *pal_daemon_quarantine(pal_daemon *d)
{
    return d->quarantine;
}

pal_updater *pal_daemon_updater(pal_daemon *d)
{
    return d->updater;
}

pal_jobs *pal_daemon_jobs(pal_daemon *d)
{
    return d->jobs;
}

pal_rtp *pal_daemon_rtp(pal_daemon *d)
{
    return d->rtp;
}

pal_sched *pal_daemon_scheduler(pal_daemon *d)
{
    return d->sched;
}

pal_remediator pal_daemon_remediator(pal_daemon *d)
{
    return pal_remediate_iface(d->remediate);
}

void pal_daemon_set_last_scan(pal_daemon *d, int64_t scan_id)
{
    pthread_mutex_lock(&d->status_lock);
    d->last_scan_id = scan_id;
    pthread_mutex_unlock(&d->status_lock);
}

int pal_daemon_active_scans(pal_daemon *d)
{
    return atomic_load(&d->active_scans);
}

/* ---- the package in force -------------------------------------------------------------- */

pal_defs *pal_daemon_defs(pal_daemon *d)
{
    pthread_mutex_lock(&d->defs_lock);
    pal_defs *r = d->defs ? pal_defs_ref(d->defs) : NULL;
    pthread_mutex_unlock(&d->defs_lock);
    return r;
}

void pal_daemon_defs_error(pal_daemon *d, char *buf, size_t size)
{
    pthread_mutex_lock(&d->defs_lock);
    snprintf(buf, size, "%s", d->defs_error);
    pthread_mutex_unlock(&d->defs_lock);
}

/* The only writer of d->defs. With over set, next goes in force only while the package in
   force is still over (a rebuild for new limits loses to an update made meanwhile):
   returns 1 when it went in force, 0 when not (next is then dropped). */
static int swap_defs(pal_daemon *d, pal_defs *next, const pal_sigpkg *over)
{
    pthread_mutex_lock(&d->defs_lock);
    pal_defs *old = NULL;
    int done = !over || (d->defs && pal_defs_package(d->defs) == over);
    if (done) {
        old = d->defs;
        d->defs = next;
        d->defs_error[0] = '\0';
        next = NULL;
    }
    pthread_mutex_unlock(&d->defs_lock);
    /* scans holding a reference finish their file on the old engine, then it is freed */
    pal_defs_unref(old);
    pal_defs_unref(next);
    /* a verdict of the old package must not stand for the new one */
    if (done && old)
        pal_rtp_defs_changed(d->rtp);
    return done;
}

int pal_daemon_put_in_force(pal_daemon *d, pal_defs *next)
{
    if (!next)
        return PAL_EINVAL;
    swap_defs(d, next, NULL);
    return 0;
}

static void set_defs_error(pal_daemon *d, const char *msg)
{
    pthread_mutex_lock(&d->defs_lock);
    snprintf(d->defs_error, sizeof(d->defs_error), "%s", msg);
    pthread_mutex_unlock(&d->defs_lock);
}

int pal_daemon_apply_limits(pal_daemon *d, pal_errbuf *err)
{
    pal_limits lim;
    int rc = pal_settings_limits(d->settings, &lim);
    if (rc != 0)
        return pal_err_set(err, rc, "cannot read the engine limits");
    /* An update may put another package in force while the engine is rebuilt: then the
       rebuilt engine (over the old package) is thrown away and the new package is used. */
    for (;;) {
        pal_defs *cur = pal_daemon_defs(d);
        if (!cur)
            return 0; /* applied when a package is loaded */
        pal_defs *next = NULL;
        rc = pal_defs_with_limits(cur, &lim, &next, err);
        if (rc != 0) {
            pal_defs_unref(cur);
            return rc;
        }
        int same = swap_defs(d, next, pal_defs_package(cur));
        pal_defs_unref(cur);
        if (same)
            return 0;
    }
}

/* The installed package or the one offered with --defs, whichever is newer (see below). */
static void load_defs(pal_daemon *d)
{
    char installed[PATH_MAX];
    snprintf(installed, sizeof(installed), "%s/" INSTALLED_DEFS, d->paths.state_dir);
    pal_limits lim;
    pal_settings_limits(d->settings, &lim);

    pal_defs *have = NULL, *offered = NULL;
    pal_errbuf err;
    if (access(installed, F_OK) == 0) {
        if (pal_defs_load(installed, d->keys, &lim, &have, &err) != 0)
            pal_log(PAL_LOG_ERROR, "installed signature package refused: %s", err.msg);
    }
    if (d->paths.defs_path) {
        if (pal_defs_load(d->paths.defs_path, d->keys, &lim, &offered, &err) != 0) {
            pal_log(PAL_LOG_ERROR, "signature package %s refused: %s", d->paths.defs_path, err.msg);
            set_defs_error(d, err.msg);
        }
    }
    /* The offered package (--defs, e.g. the one the .deb ships) replaces the installed one
       only when it is newer than both the installed one and any package offered before:
       after a rollback or a forced downgrade, restarting with the same --defs must not
       undo the administrator's choice. */
    uint64_t offered_before = 0;
    char *seen = NULL;
    if (pal_store_meta_get(d->store, "defs_offered_version", &seen, NULL) == 0 && seen) {
        offered_before = strtoull(seen, NULL, 10);
        free(seen);
    }
    if (offered) {
        uint64_t v = pal_defs_info(offered)->version;
        int take = !have || (v > pal_defs_info(have)->version && v > offered_before);
        if (take) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
            pal_store_meta_set(d->store, "defs_offered_version", buf, NULL);
            pal_defs_unref(have);
            have = offered;
        } else {
            pal_defs_unref(offered);
        }
    }
    if (have) {
        pal_log(PAL_LOG_INFO, "signature package %s version %llu in force", pal_defs_path(have),
                (unsigned long long)pal_defs_info(have)->version);
        uint64_t version = pal_defs_info(have)->version;
        pal_daemon_put_in_force(d, have);
        pal_store_cache_clear_other_versions(d->store, version, NULL);
    } else {
        if (!d->defs_error[0])
            set_defs_error(d, "no signature package (give one with --defs)");
        pal_log(PAL_LOG_WARNING, "running without signatures: %s", d->defs_error);
    }
}

/* ---- slots and the scan host ----------------------------------------------------------- */

static void slots_unref(pal_slots_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        pal_slots_free(r->slots);
        free(r);
    }
}

static pal_slots_ref *slots_ref(pal_daemon *d)
{
    pthread_mutex_lock(&d->defs_lock);
    pal_slots_ref *r = d->slots;
    if (r)
        atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&d->defs_lock);
    return r;
}

pal_slots_ref *pal_daemon_scan_begin(pal_daemon *d)
{
    if (atomic_load(&d->stopping))
        return NULL;
    pal_slots_ref *r = slots_ref(d);
    if (r)
        atomic_fetch_add(&d->active_scans, 1);
    return r;
}

pal_slots *pal_slots_ref_pool(const pal_slots_ref *r)
{
    return r->slots;
}

void pal_daemon_scan_end(pal_daemon *d, pal_slots_ref *r)
{
    atomic_fetch_sub(&d->active_scans, 1);
    slots_unref(r);
}

static unsigned scan_threads(pal_daemon *d)
{
    uint64_t n = 0;
    if (pal_settings_get_uint(d->settings, "ScanThreads", &n) != 0 || n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (uint64_t)cores : 1;
    }
    return (unsigned)n;
}

int pal_daemon_apply_sandbox(pal_daemon *d, pal_errbuf *err)
{
    int sandbox = pal_settings_sandbox_enabled(d->settings);
    pal_slots_ref *slots = slots_ref(d);
    pal_defs *defs = pal_daemon_defs(d);
    int rc = pal_scanhost_apply(d->host, sandbox, pal_slots_count(slots->slots), defs, err);
    pal_defs_unref(defs);
    slots_unref(slots);
    if (rc == 0)
        pal_log(PAL_LOG_NOTICE, "sandbox mode %s: scans run %s", sandbox ? "Enabled" : "Disabled",
                sandbox ? "in the content process" : "in-process in the broker");
    return rc;
}

int pal_daemon_apply_scan_threads(pal_daemon *d, pal_errbuf *err)
{
    pal_slots_ref *r = calloc(1, sizeof(*r));
    if (!r)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    int rc = pal_slots_new(scan_threads(d), d->host, &r->slots);
    if (rc != 0) {
        free(r);
        return pal_err_set(err, rc, "cannot create scan slots: %s", pal_strerror(rc));
    }
    atomic_init(&r->refs, 1);
    pthread_mutex_lock(&d->defs_lock);
    pal_slots_ref *old = d->slots;
    d->slots = r;
    pthread_mutex_unlock(&d->defs_lock);
    slots_unref(old); /* freed once the scans using it finish */
    return pal_daemon_apply_sandbox(d, err);
}

/* ClientIdleTimeoutSeconds to both control sockets (cfg: at start, before they exist). */
static int apply_idle_timeout(pal_daemon *d, pal_ctl_config *cfg)
{
    uint64_t secs = 60;
    pal_settings_get_uint(d->settings, "ClientIdleTimeoutSeconds", &secs);
    int ms = secs > 86400 ? 86400000 : (int)secs * 1000;
    if (cfg) {
        cfg->idle_timeout_ms = ms;
        return 0;
    }
    pal_ctl_server_set_idle_timeout(d->ctl, ms);
    if (d->ctl_status)
        pal_ctl_server_set_idle_timeout(d->ctl_status, ms);
    return 0;
}

/* The security events' sinks from the Event* settings (events.h). */
static int apply_events(pal_daemon *d, pal_errbuf *err)
{
    char *target = NULL, *facility = NULL;
    int clamav = 1;
    pal_settings_get_string(d->settings, "EventSyslogTarget", &target);
    pal_settings_get_string(d->settings, "EventSyslogFacility", &facility);
    pal_settings_get_bool(d->settings, "EventClamAvCompatible", &clamav);
    pal_events_config ec = {
        .syslog_target = target && strcmp(target, "auto") != 0 ? target : "",
        .facility = facility ? facility : "daemon",
        .clamav_compatible = clamav,
    };
    int rc = pal_events_configure(&ec, err);
    free(target);
    free(facility);
    return rc;
}

static void on_setting_change(void *ctx, const pal_setting_def *def)
{
    pal_daemon *d = ctx;
    pal_errbuf err = {{0}};
    int rc = 0;
    if ((def->applies & PAL_APPLY_ADMIN) && d->ctl) {
        char *group = NULL;
        if (pal_settings_get_string(d->settings, def->name, &group) == 0) {
            rc = pal_ctl_server_set_admin_group(d->ctl, group, &err);
            free(group);
        }
    }
    if (rc == 0 && (def->applies & PAL_APPLY_CONTROL) && d->ctl)
        rc = apply_idle_timeout(d, NULL);
    if (rc == 0 && (def->applies & PAL_APPLY_SLOTS) && d->slots)
        rc = pal_daemon_apply_scan_threads(d, &err);
    if (rc == 0 && (def->applies & PAL_APPLY_SANDBOX) && d->slots)
        rc = pal_daemon_apply_sandbox(d, &err);
    if (rc == 0 && (def->applies & PAL_APPLY_ENGINE))
        rc = pal_daemon_apply_limits(d, &err);
    if (rc == 0 && (def->applies & PAL_APPLY_EVENTS))
        rc = apply_events(d, &err);
    if (rc == 0 && (def->applies & PAL_APPLY_RTP) && d->rtp && d->ctl)
        pal_rtp_apply(d->rtp); /* a failure to start is its status, not the setting's */
    if (rc != 0)
        pal_log(PAL_LOG_ERROR, "cannot apply the new %s: %s", def->name, err.msg);
    else
        pal_log(PAL_LOG_INFO, "setting %s is now in force", def->name);
    pal_sched_poke(d->sched); /* a schedule may have changed: plan it now */
}

/* A content-process event for the SIEM (a stop on purpose is none). */
static void emit_cp_event(const pal_cpsup_event *ev)
{
    pal_event_kind k;
    switch (ev->kind) {
    case PAL_CPSUP_EV_START:
        k = PAL_EV_CP_STARTED;
        break;
    case PAL_CPSUP_EV_START_FAILED:
    case PAL_CPSUP_EV_EXIT:
    case PAL_CPSUP_EV_CRASH:
        k = PAL_EV_CP_CRASHED;
        break;
    case PAL_CPSUP_EV_KILL_MISBEHAVED:
    case PAL_CPSUP_EV_KILL_TIMEOUT:
    case PAL_CPSUP_EV_KILL_TAMPERED:
        k = PAL_EV_CP_KILLED;
        break;
    case PAL_CPSUP_EV_DEGRADED:
        k = PAL_EV_CP_DEGRADED;
        break;
    default:
        return;
    }
    pal_event_emit(&(pal_event){.kind = k,
                                .status = pal_cpsup_event_name(ev->kind),
                                .detail = ev->detail,
                                .object = ev->object,
                                .pid = ev->pid,
                                .has_exit = ev->exit_code >= 0,
                                .exit_code = ev->exit_code,
                                .signal = ev->signal});
}

/* Content-process events go to the store (Get-AgentStatus, diagnostics) and the log. */
static void record_cp_event(void *ctx, const pal_cpsup_event *ev)
{
    pal_daemon *d = ctx;
    char reason[1024];
    snprintf(reason, sizeof(reason), "%s: %s", pal_cpsup_event_name(ev->kind), ev->detail);
    pal_cp_event e = {
        .at = ev->time * 1000,
        .pid = ev->pid,
        .exit_code = ev->exit_code,
        .signal = ev->signal,
        .reason = reason,
        /* the record's fields are not const: it is also what a listing returns */
        .object = ev->object ? strdup(ev->object) : NULL,
        .stderr_tail = ev->stderr_tail[0] ? strdup(ev->stderr_tail) : NULL,
    };
    switch (ev->kind) {
    case PAL_CPSUP_EV_START:
        e.kind = PAL_CP_START;
        break;
    case PAL_CPSUP_EV_CRASH:
        e.kind = PAL_CP_CRASH;
        break;
    case PAL_CPSUP_EV_EXIT:
    case PAL_CPSUP_EV_START_FAILED:
        e.kind = ev->signal ? PAL_CP_SIGNAL : PAL_CP_EXIT;
        break;
    default:
        e.kind = PAL_CP_KILL;
        break;
    }
    pal_errbuf err;
    if (pal_store_cp_event_insert(d->store, &e, NULL, &err) != 0)
        pal_log(PAL_LOG_ERROR, "cannot record a content-process event: %s", err.msg);
    emit_cp_event(ev);
    free(e.object);
    free(e.stderr_tail);
    pal_log(ev->kind == PAL_CPSUP_EV_START || ev->kind == PAL_CPSUP_EV_STOP ? PAL_LOG_INFO
                                                                            : PAL_LOG_WARNING,
            "content process %s (pid %ld): %s%s%s", pal_cpsup_event_name(ev->kind), (long)ev->pid,
            ev->detail, ev->object ? "; scanning " : "", ev->object ? ev->object : "");
}

/* ---- the quarantine and the updater ---------------------------------------------------- */

static void reconcile_note(void *ctx, const char *line)
{
    (void)ctx;
    pal_log(PAL_LOG_NOTICE, "reconcile: %s", line);
}

static void remediate_note(void *ctx, int level, const char *msg)
{
    (void)ctx;
    pal_log((pal_log_level)level, "%s", msg);
}

static void purge(pal_daemon *d)
{
    uint64_t days = 0;
    if (pal_settings_get_uint(d->settings, "QuarantineRetentionDays", &days) != 0)
        return;
    size_t n = 0;
    pal_errbuf err;
    if (pal_quarantine_purge(d->quarantine, days, pal_time_now_ms(), &n, &err) != 0)
        pal_log(PAL_LOG_ERROR, "quarantine retention purge failed: %s", err.msg);
    if (n > 0)
        pal_log(PAL_LOG_NOTICE, "quarantine: %zu item(s) older than %llu days deleted", n,
                (unsigned long long)days);
}

/* Open <state>/quarantine, reconcile what the last run left unfinished, purge items past
   QuarantineRetentionDays, open the updater and, with no package in force, fall back to
   the previous one. */
static int remediation_init(pal_daemon *d, pal_errbuf *err)
{
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/" QUARANTINE_DIR, d->paths.state_dir);
    int rc;
    if (n < 0 || (size_t)n >= sizeof(dir))
        return pal_err_set(err, PAL_EINVAL, "state directory path too long");
    if ((rc = pal_quarantine_open(d->store, dir, &d->quarantine, err)) != 0)
        return rc;
    pal_reconcile_stats st;
    pal_errbuf rerr;
    if (pal_quarantine_reconcile(d->quarantine, &st, reconcile_note, NULL, &rerr) != 0)
        pal_log(PAL_LOG_ERROR, "reconciling the remediation journal: %s", rerr.msg);
    if (st.completed || st.rolled_back || st.unreachable || st.temp_removed)
        pal_log(PAL_LOG_WARNING,
                "remediation interrupted by the last stop reconciled: %zu completed, %zu rolled "
                "back, %zu unreachable, %zu temporary file(s) removed",
                st.completed, st.rolled_back, st.unreachable, st.temp_removed);
    if ((rc = pal_remediate_new(d->quarantine, d->settings, remediate_note, NULL, &d->remediate)) !=
        0)
        return pal_err_set(err, rc, "out of memory");
    if ((rc = pal_updater_new(d, &d->updater, err)) != 0)
        return rc;
    if (pal_updater_fallback(d->updater, &rerr) == 1)
        pal_log(PAL_LOG_WARNING, "no signature package was usable; the previous package is in "
                                 "force");
    purge(d);
    return 0;
}

void pal_daemon_tick(pal_daemon *d)
{
    if (!d->quarantine)
        return;
    purge(d);
    /* finished journal steps are only history: keep a month of it */
    int64_t cutoff = pal_time_now_ms() - JOURNAL_KEEP_MS;
    static const pal_fileop_state done_states[] = {PAL_FILEOP_DONE, PAL_FILEOP_FAILED};
    for (size_t k = 0; k < 2; k++) {
        pal_fileop *ops = NULL;
        size_t n = 0;
        if (pal_store_fileop_list(d->store, done_states[k], 1000, &ops, &n, NULL) != 0)
            continue;
        for (size_t i = 0; i < n && ops[i].updated_at < cutoff; i++)
            pal_store_fileop_delete(d->store, ops[i].id, NULL);
        pal_fileops_free(ops, n);
    }
}

int pal_daemon_reload_policy(pal_daemon *d, pal_errbuf *err)
{
    int rc = pal_settings_reload_policy(d->settings, err);
    pal_event_emit(&(pal_event){.kind = rc == 0 ? PAL_EV_POLICY_APPLIED : PAL_EV_POLICY_ERROR,
                                .policy_dir = d->paths.policy_dir,
                                .result = rc == 0 ? "Success" : "Failed",
                                .detail = rc == 0 ? NULL : err->msg});
    return rc;
}

/* ---- start-up -------------------------------------------------------------------------- */

static int ensure_dir(const char *path, mode_t mode, int must_be_private, pal_errbuf *err)
{
    struct stat st;
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return pal_err_set(err, PAL_EIO, "cannot create directory %s: %s", path, strerror(errno));
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return pal_err_set(err, PAL_EINVAL, "%s is not a directory", path);
    if (must_be_private && (st.st_uid != geteuid() || (st.st_mode & 022)))
        return pal_err_set(err, PAL_EPERM,
                           "state directory %s must be owned by uid %u and not writable by group "
                           "or others (it is owned by uid %u, mode %04o)",
                           path, (unsigned)geteuid(), (unsigned)st.st_uid,
                           (unsigned)(st.st_mode & 07777));
    return 0;
}

/* One daemon per state directory: an flock held for the daemon's life. */
static int take_lock(const char *state_dir, int *out, pal_errbuf *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/palisaded.lock", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "cannot open lock file %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        close(fd);
        return pal_err_set(err, PAL_EEXIST,
                           "another palisaded (pid %s) is already running on state directory %s; "
                           "stop it first or use another --state-dir",
                           buf[0] ? buf : "unknown", state_dir);
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        pal_log(PAL_LOG_WARNING, "cannot write pid to %s: %m", path);
    *out = fd;
    return 0;
}

static int copy_str(pal_daemon *d, const char *in, const char **out)
{
    *out = NULL;
    if (!in)
        return 0;
    char *c = strdup(in);
    if (!c || d->n_owned == sizeof(d->owned) / sizeof(*d->owned)) {
        free(c);
        return PAL_ENOMEM;
    }
    d->owned[d->n_owned++] = c;
    *out = c;
    return 0;
}

/* ---- what real-time protection is given (rtp.h) ----------------------------------------- */

static pal_defs *rtp_defs(void *ctx)
{
    return pal_daemon_defs(ctx);
}

static pal_slots *rtp_slots_begin(void *ctx, void **hold)
{
    pal_slots_ref *r = slots_ref(ctx);
    *hold = r;
    return r ? r->slots : NULL;
}

static void rtp_slots_end(void *ctx, void *hold)
{
    (void)ctx;
    slots_unref(hold);
}

static pal_remediator rtp_remediator(void *ctx)
{
    return pal_daemon_remediator(ctx);
}

static void rtp_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    pal_log((pal_log_level)level, "%s", msg);
}

static int build(pal_daemon *d, const pal_daemon_config *cfg, pal_errbuf *err)
{
    const pal_daemon_paths *p = &cfg->paths;
    if (copy_str(d, p->state_dir, &d->paths.state_dir) ||
        copy_str(d, p->socket_path, &d->paths.socket_path) ||
        copy_str(d, p->policy_dir, &d->paths.policy_dir) ||
        copy_str(d, p->trusted_keys_dir, &d->paths.trusted_keys_dir) ||
        copy_str(d, p->defs_path, &d->paths.defs_path) ||
        copy_str(d, p->cp_binary, &d->paths.cp_binary) ||
        (cfg->cp_account && !(d->cp_account = strdup(cfg->cp_account))) ||
        (cfg->force_sandbox && !(d->force_sandbox = strdup(cfg->force_sandbox))) ||
        (cfg->force_real_time && !(d->force_real_time = strdup(cfg->force_real_time))))
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    if (!d->paths.state_dir || !d->paths.socket_path || !d->paths.cp_binary)
        return pal_err_set(err, PAL_EINVAL,
                           "a state directory, a socket and a content process "
                           "are required");
    int rc;
    if ((rc = ensure_dir(d->paths.state_dir, 0700, cfg->check_owners, err)) != 0 ||
        (rc = take_lock(d->paths.state_dir, &d->lock_fd, err)) != 0)
        return rc;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/defs", d->paths.state_dir);
    if ((rc = ensure_dir(path, 0700, 0, err)) != 0)
        return rc;

    snprintf(path, sizeof(path), "%s/palisade.db", d->paths.state_dir);
    pal_errbuf why;
    if ((rc = pal_store_open(path, &d->store, &why)) != 0)
        return pal_err_set(err, rc, "cannot open the database: %s", why.msg);
    size_t interrupted = 0;
    pal_store_scan_mark_interrupted(d->store, &interrupted, NULL);
    if (interrupted)
        pal_log(PAL_LOG_WARNING, "%zu scan(s) were interrupted by the last stop", interrupted);

    pal_settings_opts sopts = {
        .policy_dir = d->paths.policy_dir,
        .force_sandbox = d->force_sandbox,
        .force_real_time = d->force_real_time,
        .check_policy_owner = cfg->check_owners,
        .on_change = on_setting_change,
        .on_change_ctx = d,
    };
    if ((rc = pal_settings_new(d->store, &sopts, &d->settings, &why)) != 0)
        return pal_err_set(err, rc, "cannot load the settings: %s", why.msg);
    /* the events go out from here on; a bad stored target (an older agent's?) is logged and
       leaves them off, never stops the daemon */
    if (apply_events(d, &why) != 0)
        pal_log(PAL_LOG_ERROR, "security events are off: %s", why.msg);
    else if (pal_settings_policy_error(d->settings, &why))
        pal_event_emit(&(pal_event){.kind = PAL_EV_POLICY_ERROR,
                                    .policy_dir = d->paths.policy_dir,
                                    .result = "Failed",
                                    .detail = why.msg});
    char **problems = NULL;
    size_t n_problems = 0;
    if (pal_settings_problems(d->settings, &problems, &n_problems) == 0) {
        for (size_t i = 0; i < n_problems; i++) {
            pal_log(PAL_LOG_WARNING, "%s", problems[i]);
            free(problems[i]);
        }
        free(problems);
    }

    if ((rc = pal_keyring_new(&d->keys)) != 0)
        return pal_err_set(err, rc, "out of memory");
    /* vetted like the policy directory (trustkeys.h); refused keys are reported, the daemon
       still starts */
    if (d->paths.trusted_keys_dir &&
        pal_trustkeys_load(d->keys, d->paths.trusted_keys_dir, cfg->check_owners, &d->keys_problems,
                           &d->n_keys_problems, &why) != 0) {
        snprintf(d->defs_error, sizeof(d->defs_error), "no trusted key: %s", why.msg);
        pal_log(PAL_LOG_ERROR, "cannot load trusted keys from %s: %s", d->paths.trusted_keys_dir,
                why.msg);
    }
    for (size_t i = 0; i < d->n_keys_problems; i++)
        pal_log(PAL_LOG_WARNING, "%s", d->keys_problems[i]);
    load_defs(d);
    int core_dumps = 0;
    pal_settings_get_bool(d->settings, "CoreDumpsEnabled", &core_dumps);
    uint64_t cp_timeout_s = 0;
    pal_settings_get_uint(d->settings, "ContentProcessTimeoutSeconds", &cp_timeout_s);
    pal_scanhost_config hcfg = {
        .cp_binary = d->paths.cp_binary,
        .cp_account = d->cp_account,
        .core_dumps = core_dumps,
        .timeout_grace_ms = (uint32_t)(cp_timeout_s * 1000),
        .on_event = record_cp_event,
        .event_ctx = d,
    };
    if ((rc = pal_scanhost_new(&hcfg, &d->host, err)) != 0)
        return rc;
    if (pal_daemon_apply_scan_threads(d, &why) != 0) {
        if (!d->slots)
            return pal_err_set(err, PAL_ENOMEM, "%s", why.msg);
        /* not fatal: the supervisor retries; status and scans say why */
        pal_log(PAL_LOG_ERROR, "the content process did not start: %s", why.msg);
    }
    /* finishes what a crash left in the quarantine before any client can act */
    if ((rc = remediation_init(d, &why)) != 0)
        return pal_err_set(err, rc, "cannot set up remediation: %s", why.msg);
    if (pal_jobs_new(d, &d->jobs) != 0)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    pal_rtp_env renv = {
        .store = d->store,
        .settings = d->settings,
        .ctx = d,
        .get_defs = rtp_defs,
        .slots_begin = rtp_slots_begin,
        .slots_end = rtp_slots_end,
        .remediator = rtp_remediator,
        .log = rtp_log,
    };
    if (pal_rtp_new(&renv, &d->rtp) != 0)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    if ((rc = pal_sched_new(d, cfg->clock_offset_file, cfg->check_owners, &d->sched, err)) != 0)
        return rc;
    return 0;
}

int pal_daemon_new(const pal_daemon_config *cfg, pal_daemon **out, pal_errbuf *err)
{
    pal_daemon *d = calloc(1, sizeof(*d));
    if (!d)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    d->lock_fd = -1;
    pthread_mutex_init(&d->defs_lock, NULL);
    pthread_mutex_init(&d->status_lock, NULL);
    d->started_at = pal_time_now_ms();
    int rc = build(d, cfg, err);
    if (rc != 0) {
        pal_daemon_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

static void ctl_log(void *arg, int level, const char *msg)
{
    (void)arg;
    pal_log((pal_log_level)level, "%s", msg); /* the server names itself */
}

int pal_daemon_start(pal_daemon *d, pal_errbuf *err)
{
    char *group = NULL;
    pal_settings_get_string(d->settings, "AdminGroup", &group);
    char *sock_dir = strdup(d->paths.socket_path);
    if (sock_dir) {
        char *slash = strrchr(sock_dir, '/');
        if (slash && slash != sock_dir) {
            *slash = '\0';
            if (mkdir(sock_dir, 0755) != 0 && errno != EEXIST)
                pal_log(PAL_LOG_WARNING, "cannot create %s: %m", sock_dir);
        }
        free(sock_dir);
    }
    pal_ctl_config ccfg = {
        .socket_path = d->paths.socket_path,
        .admin_group = group,
        .agent_version = PAL_AGENT_VERSION,
        .log = ctl_log,
    };
    apply_idle_timeout(d, &ccfg);
    char status_path[PATH_MAX];
    snprintf(status_path, sizeof(status_path), "%s.status", d->paths.socket_path);
    pal_ctl_config scfg = ccfg;
    scfg.socket_path = status_path;
    scfg.socket_mode = 0666;
    scfg.read_only = true;
    int rc = pal_ctl_server_new(&ccfg, &d->ctl, err);
    if (rc == 0)
        rc = pal_ctl_server_new(&scfg, &d->ctl_status, err);
    free(group);
    pal_ctl_server *both[] = {d->ctl, d->ctl_status};
    for (size_t i = 0; rc == 0 && i < 2; i++)
        if ((rc = pal_daemon_register_ops(d, both[i], err)) != 0 ||
            (rc = pal_daemon_register_remediation_ops(d, both[i], err)) != 0 ||
            (rc = pal_daemon_register_diag_ops(d, both[i], err)) != 0 ||
            (rc = pal_daemon_register_catalog_ops(d, both[i], err)) != 0 ||
            (rc = pal_daemon_register_job_ops(d, both[i], err)) != 0 ||
            (rc = pal_daemon_register_buffer_ops(d, both[i], err)) != 0 ||
            (rc = pal_daemon_register_rtp_ops(d, both[i], err)) != 0 ||
            (rc = pal_daemon_register_metrics_ops(d, both[i], err)) != 0)
            break;
    /* the status socket first: once the control socket accepts (what clients and the tests
       wait for), both are in place with their final mode and group */
    for (size_t i = 2; rc == 0 && i-- > 0;)
        rc = pal_ctl_server_start(both[i], err);
    if (rc != 0) {
        pal_errbuf why = *err;
        return pal_err_set(err, rc, "cannot start the control socket %s: %s", d->paths.socket_path,
                           why.msg);
    }
    pal_log(PAL_LOG_NOTICE, "palisaded %s ready on %s (state %s, %u scan slots)", PAL_AGENT_VERSION,
            d->paths.socket_path, d->paths.state_dir, pal_slots_count(d->slots->slots));
    /* marks made at every start: a previous broker's died with its fanotify fd */
    pal_rtp_apply(d->rtp);
    /* once clients can see what it starts (a catch-up run is judged at its first tick) */
    return pal_sched_start(d->sched, err);
}

void pal_daemon_stop(pal_daemon *d)
{
    atomic_store(&d->stopping, 1);
    /* the scheduler first, so that it starts nothing more */
    pal_sched_stop(d->sched);
    /* then real-time protection: every open it holds is answered before the scans it could wait on
     * end */
    pal_rtp_stop(d->rtp);
    /* detached scans next: each ends Cancelled and recorded, and whoever waits for one
       (scan.wait) gets its result before the server below stops */
    if (d->jobs)
        pal_jobs_stop(d->jobs);
    /* stopping the server cancels every request in flight and waits for the handlers, so
       scans end as Cancelled and are recorded before the store closes */
    pal_ctl_server_free(d->ctl_status);
    d->ctl_status = NULL;
    pal_ctl_server_free(d->ctl);
    d->ctl = NULL;
}

void pal_daemon_free(pal_daemon *d)
{
    if (!d)
        return;
    pal_daemon_stop(d);
    pal_sched_free(d->sched);
    d->sched = NULL; /* a late setting change pokes nothing */
    pal_jobs_free(d->jobs);
    pal_rtp_free(d->rtp);
    pal_updater_free(d->updater);
    pal_remediate_free(d->remediate);
    pal_quarantine_free(d->quarantine);
    slots_unref(d->slots);
    pal_scanhost_free(d->host); /* stops the content process */
    pal_events_shutdown(2000);  /* what is queued goes out first */
    pal_defs_unref(d->defs);
    pal_settings_free(d->settings);
    pal_keyring_free(d->keys);
    pal_strlist_free(d->keys_problems, d->n_keys_problems);
    pal_store_close(d->store);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    pthread_mutex_destroy(&d->defs_lock);
    pthread_mutex_destroy(&d->status_lock);
    for (size_t i = 0; i < d->n_owned; i++)
        free(d->owned[i]);
    free(d->cp_account);
    free(d->force_sandbox);
    free(d->force_real_time);
    free(d);
}
