/*
 * main.c — palisaded, the broker: builds the daemon's state (store, settings, signature
 * package, slots, control server), then waits for signals: SIGHUP reloads policy,
 * SIGTERM/SIGINT stop it cleanly (scans in flight end as Cancelled, the store is closed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "msg.h"
#include "ops_diag.h"
#include "ops_remediation.h"
#include "trustkeys.h"

#define DEFAULT_STATE_DIR "/var/lib/palisade"
#define DEFAULT_SOCKET "/run/palisade/palisaded.sock"
#define DEFAULT_POLICY_DIR "/etc/palisade/policy.d"
#define DEFAULT_TRUSTED_KEYS "/etc/palisade/trusted-keys"
#define INSTALLED_DEFS "defs/current.sig"

/* ---- shared state accessors (daemon.h) ------------------------------------------------- */

pal_defs *pal_daemon_defs(pal_daemon *d)
{
    pthread_mutex_lock(&d->defs_lock);
    pal_defs *r = d->defs ? pal_defs_ref(d->defs) : NULL;
    pthread_mutex_unlock(&d->defs_lock);
    return r;
}

pal_slots_ref *pal_daemon_slots(pal_daemon *d)
{
    pthread_mutex_lock(&d->defs_lock);
    pal_slots_ref *r = d->slots;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&d->defs_lock);
    return r;
}

void pal_daemon_slots_unref(pal_slots_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        pal_slots_free(r->slots);
        free(r);
    }
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
    pal_slots_ref *slots = pal_daemon_slots(d);
    pal_defs *defs = pal_daemon_defs(d);
    int rc = pal_scanhost_apply(d->host, sandbox, pal_slots_count(slots->slots), defs, err);
    pal_defs_unref(defs);
    pal_daemon_slots_unref(slots);
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
    pal_daemon_slots_unref(old); /* freed once the scans using it finish */
    return pal_daemon_apply_sandbox(d, err);
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
        pthread_mutex_lock(&d->defs_lock);
        int same = d->defs && pal_defs_package(d->defs) == pal_defs_package(cur);
        pal_defs *old = NULL;
        if (same) {
            old = d->defs;
            d->defs = next;
            next = NULL;
        }
        pthread_mutex_unlock(&d->defs_lock);
        pal_defs_unref(old);
        pal_defs_unref(next);
        pal_defs_unref(cur);
        if (same)
            return 0;
    }
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
    if (rc != 0)
        pal_log(PAL_LOG_ERROR, "cannot apply the new %s: %s", def->name, err.msg);
    else
        pal_log(PAL_LOG_INFO, "setting %s is now in force", def->name);
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
    free(e.object);
    free(e.stderr_tail);
    pal_log(ev->kind == PAL_CPSUP_EV_START || ev->kind == PAL_CPSUP_EV_STOP ? PAL_LOG_INFO
                                                                            : PAL_LOG_WARNING,
            "content process %s (pid %ld): %s%s%s", pal_cpsup_event_name(ev->kind), (long)ev->pid,
            ev->detail, ev->object ? "; scanning " : "", ev->object ? ev->object : "");
}

/* The installed palisaded runs the installed palisade-cp (sbin/../libexec/palisade/); a
   palisaded run from the build tree runs the palisade-cp built with it. */
static const char *default_cp_binary(void)
{
    static char installed[PATH_MAX];
    char self[PATH_MAX], candidate[PATH_MAX * 2];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(candidate, sizeof(candidate), "%s/%s", self, PAL_INSTALLED_CP_REL);
            if (realpath(candidate, installed) && access(installed, X_OK) == 0)
                return installed;
        }
    }
    return PAL_BUILD_CP;
}

/* ---- start-up ------------------------------------------------------------------------ */

static void usage(FILE *to)
{
    fprintf(to, "usage: palisaded [--foreground] [--state-dir DIR] [--socket PATH]\n"
                "                 [--policy-dir DIR] [--trusted-keys DIR] [--defs PKG]\n"
                "                 [--log-level error|warning|notice|info|debug]\n"
                "                 [--content-process PATH] [--content-process-user NAME|-]\n"
                "defaults: --state-dir " DEFAULT_STATE_DIR ", --socket " DEFAULT_SOCKET "\n"
                "          --policy-dir " DEFAULT_POLICY_DIR
                ", --trusted-keys " DEFAULT_TRUSTED_KEYS "\n");
}

static int ensure_dir(const char *path, mode_t mode, int must_be_private)
{
    struct stat st;
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        pal_log(PAL_LOG_ERROR, "cannot create directory %s: %m", path);
        return -1;
    }
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        pal_log(PAL_LOG_ERROR, "%s is not a directory", path);
        return -1;
    }
    if (must_be_private && (st.st_uid != geteuid() || (st.st_mode & 022))) {
        pal_log(PAL_LOG_ERROR,
                "state directory %s must be owned by uid %u and not writable by group or "
                "others (it is owned by uid %u, mode %04o)",
                path, (unsigned)geteuid(), (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

/* One daemon per state directory: an flock held for the daemon's life. */
static int take_lock(const char *state_dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/palisaded.lock", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        pal_log(PAL_LOG_ERROR, "cannot open lock file %s: %m", path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        pal_log(PAL_LOG_ERROR,
                "another palisaded (pid %s) is already running on state directory %s; "
                "stop it first or use another --state-dir",
                buf[0] ? buf : "unknown", state_dir);
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        pal_log(PAL_LOG_WARNING, "cannot write pid to %s: %m", path);
    return fd;
}

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
            snprintf(d->defs_error, sizeof(d->defs_error), "%s", err.msg);
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
        d->defs = have;
        d->defs_error[0] = '\0';
        pal_log(PAL_LOG_INFO, "signature package %s version %llu in force", pal_defs_path(have),
                (unsigned long long)pal_defs_info(have)->version);
        pal_store_cache_clear_other_versions(d->store, pal_defs_info(have)->version, NULL);
    } else {
        if (!d->defs_error[0])
            snprintf(d->defs_error, sizeof(d->defs_error),
                     "no signature package (give one with --defs)");
        pal_log(PAL_LOG_WARNING, "running without signatures: %s", d->defs_error);
    }
}

static void ctl_log(void *arg, int level, const char *msg)
{
    (void)arg;
    pal_log((pal_log_level)level, "%s", msg); /* the server names itself */
}

/* Readiness for systemd Type=notify, without linking libsystemd. */
static void notify_systemd(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@'))
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        pal_log(PAL_LOG_WARNING, "cannot notify systemd: %m");
    close(fd);
}

static int parse_level(const char *s, pal_log_level *out)
{
    static const struct {
        const char *n;
        pal_log_level l;
    } levels[] = {
        {"error", PAL_LOG_ERROR}, {"warning", PAL_LOG_WARNING}, {"notice", PAL_LOG_NOTICE},
        {"info", PAL_LOG_INFO},   {"debug", PAL_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(*levels); i++)
        if (strcmp(s, levels[i].n) == 0) {
            *out = levels[i].l;
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"foreground", no_argument, NULL, 'f'},
        {"state-dir", required_argument, NULL, 's'},
        {"socket", required_argument, NULL, 'S'},
        {"policy-dir", required_argument, NULL, 'p'},
        {"trusted-keys", required_argument, NULL, 'k'},
        {"defs", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"content-process", required_argument, NULL, 'c'},
        {"content-process-user", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pal_daemon d = {
        .paths = {.state_dir = DEFAULT_STATE_DIR,
                  .socket_path = DEFAULT_SOCKET,
                  .policy_dir = DEFAULT_POLICY_DIR,
                  .trusted_keys_dir = DEFAULT_TRUSTED_KEYS},
    };
    int foreground = 0, opt;
    /* the dedicated account, else a dynamic uid (cpident.h); "-": a dynamic uid always */
    const char *cp_account = "palisade-cp";
    pal_log_level level = PAL_LOG_INFO;
    while ((opt = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            foreground = 1;
            break;
        case 's':
            d.paths.state_dir = optarg;
            break;
        case 'S':
            d.paths.socket_path = optarg;
            break;
        case 'p':
            d.paths.policy_dir = optarg;
            break;
        case 'k':
            d.paths.trusted_keys_dir = optarg;
            break;
        case 'd':
            d.paths.defs_path = optarg;
            break;
        case 'c':
            d.paths.cp_binary = optarg;
            break;
        case 'u':
            cp_account = strcmp(optarg, "-") == 0 ? NULL : optarg;
            break;
        case 'l':
            if (parse_level(optarg, &level) != 0) {
                fprintf(stderr, "palisaded: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    /* systemd's journal reads stderr; elsewhere a background daemon logs to syslog */
    int under_systemd = getenv("INVOCATION_ID") || getenv("JOURNAL_STREAM");
    pal_log_init("palisaded", foreground || under_systemd, !foreground && !under_systemd, level);
    if (!foreground && !under_systemd && daemon(0, 0) != 0) {
        pal_log(PAL_LOG_ERROR, "cannot go to the background: %m");
        return 1;
    }

    umask(077);
    /* zip and 7z date handling would otherwise read /etc/localtime inside scans */
    setenv("TZ", "UTC", 1);
    tzset();
    signal(SIGPIPE, SIG_IGN);
    /* a deep tree holds one fd per level; a full scan needs room */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits the mask */

    int exit_code = 1, lock_fd = -1;
    pal_errbuf err;
    pthread_mutex_init(&d.defs_lock, NULL);
    pthread_mutex_init(&d.status_lock, NULL);
    d.started_at = pal_time_now_ms();

    if (ensure_dir(d.paths.state_dir, 0700, geteuid() == 0) != 0)
        goto out;
    lock_fd = take_lock(d.paths.state_dir);
    if (lock_fd < 0)
        goto out;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/defs", d.paths.state_dir);
    if (ensure_dir(path, 0700, 0) != 0)
        goto out;

    snprintf(path, sizeof(path), "%s/palisade.db", d.paths.state_dir);
    if (pal_store_open(path, &d.store, &err) != 0) {
        pal_log(PAL_LOG_ERROR, "cannot open the database: %s", err.msg);
        goto out;
    }
    size_t interrupted = 0;
    pal_store_scan_mark_interrupted(d.store, &interrupted, NULL);
    if (interrupted)
        pal_log(PAL_LOG_WARNING, "%zu scan(s) were interrupted by the last stop", interrupted);

    pal_settings_opts sopts = {
        .policy_dir = d.paths.policy_dir,
        .force_sandbox = getenv(PAL_ENV_FORCE_SANDBOX),
        .check_policy_owner = geteuid() == 0,
        .on_change = on_setting_change,
        .on_change_ctx = &d,
    };
    if (pal_settings_new(d.store, &sopts, &d.settings, &err) != 0) {
        pal_log(PAL_LOG_ERROR, "cannot load the settings: %s", err.msg);
        goto out;
    }
    char **problems = NULL;
    size_t n_problems = 0;
    if (pal_settings_problems(d.settings, &problems, &n_problems) == 0) {
        for (size_t i = 0; i < n_problems; i++) {
            pal_log(PAL_LOG_WARNING, "%s", problems[i]);
            free(problems[i]);
        }
        free(problems);
    }

    if (pal_keyring_new(&d.keys) != 0)
        goto out;
    /* vetted like the policy directory (trustkeys.h); refused keys are reported, the daemon
       still starts */
    if (pal_trustkeys_load(d.keys, d.paths.trusted_keys_dir, geteuid() == 0, &d.keys_problems,
                           &d.n_keys_problems, &err) != 0) {
        snprintf(d.defs_error, sizeof(d.defs_error), "no trusted key: %s", err.msg);
        pal_log(PAL_LOG_ERROR, "cannot load trusted keys from %s: %s", d.paths.trusted_keys_dir,
                err.msg);
    }
    for (size_t i = 0; i < d.n_keys_problems; i++)
        pal_log(PAL_LOG_WARNING, "%s", d.keys_problems[i]);
    load_defs(&d);
    if (!d.paths.cp_binary)
        d.paths.cp_binary = default_cp_binary();
    int core_dumps = 0;
    pal_settings_get_bool(d.settings, "CoreDumpsEnabled", &core_dumps);
    uint64_t cp_timeout_s = 0;
    pal_settings_get_uint(d.settings, "ContentProcessTimeoutSeconds", &cp_timeout_s);
    pal_scanhost_config hcfg = {
        .cp_binary = d.paths.cp_binary,
        .cp_account = cp_account,
        .core_dumps = core_dumps,
        .timeout_grace_ms = (uint32_t)(cp_timeout_s * 1000),
        .on_event = record_cp_event,
        .event_ctx = &d,
    };
    if (pal_scanhost_new(&hcfg, &d.host, &err) != 0) {
        pal_log(PAL_LOG_ERROR, "%s", err.msg);
        goto out;
    }
    if (pal_daemon_apply_scan_threads(&d, &err) != 0)
        /* not fatal: the supervisor retries; status and scans say why */
        pal_log(PAL_LOG_ERROR, "the content process did not start: %s", err.msg);
    /* finishes what a crash left in the quarantine before any client can act */
    if (pal_daemon_remediation_init(&d, &err) != 0) {
        pal_log(PAL_LOG_ERROR, "cannot set up remediation: %s", err.msg);
        goto out;
    }

    char *group = NULL;
    pal_settings_get_string(d.settings, "AdminGroup", &group);
    char *sock_dir = strdup(d.paths.socket_path);
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
        .socket_path = d.paths.socket_path,
        .admin_group = group,
        .agent_version = PAL_AGENT_VERSION,
        .log = ctl_log,
    };
    apply_idle_timeout(&d, &ccfg);
    char status_path[PATH_MAX];
    snprintf(status_path, sizeof(status_path), "%s.status", d.paths.socket_path);
    pal_ctl_config scfg = ccfg;
    scfg.socket_path = status_path;
    scfg.socket_mode = 0666;
    scfg.read_only = true;
    int rc = pal_ctl_server_new(&ccfg, &d.ctl, &err);
    if (rc == 0)
        rc = pal_ctl_server_new(&scfg, &d.ctl_status, &err);
    free(group);
    if (rc != 0 || pal_daemon_register_ops(&d, d.ctl, &err) != 0 ||
        pal_daemon_register_ops(&d, d.ctl_status, &err) != 0 ||
        pal_daemon_register_remediation_ops(&d, d.ctl, &err) != 0 ||
        pal_daemon_register_remediation_ops(&d, d.ctl_status, &err) != 0 ||
        pal_daemon_register_diag_ops(&d, d.ctl, &err) != 0 ||
        pal_daemon_register_diag_ops(&d, d.ctl_status, &err) != 0 ||
        /* the status socket first: once the control socket accepts (what clients and the
           tests wait for), both are in place with their final mode and group */
        pal_ctl_server_start(d.ctl_status, &err) != 0 || pal_ctl_server_start(d.ctl, &err) != 0) {
        pal_log(PAL_LOG_ERROR, "cannot start the control socket %s: %s", d.paths.socket_path,
                err.msg);
        goto out;
    }
    pal_log(PAL_LOG_NOTICE, "palisaded %s ready on %s (state %s, %u scan slots)", PAL_AGENT_VERSION,
            d.paths.socket_path, d.paths.state_dir, pal_slots_count(d.slots->slots));
    notify_systemd("READY=1\nSTATUS=ready");

    for (;;) {
        siginfo_t si;
        /* wakes once a minute for the quarantine retention purge */
        static const struct timespec tick = {.tv_sec = 60};
        int sig = sigtimedwait(&sigs, &si, &tick);
        if (sig < 0) {
            if (errno == EAGAIN) {
                pal_daemon_remediation_tick(&d);
                continue;
            }
            if (errno == EINTR)
                continue;
            pal_log(PAL_LOG_ERROR, "sigtimedwait: %m");
            break;
        }
        if (sig == SIGHUP) {
            pal_log(PAL_LOG_INFO, "SIGHUP: reloading policy from %s", d.paths.policy_dir);
            if (pal_settings_reload_policy(d.settings, &err) != 0)
                pal_log(PAL_LOG_ERROR, "policy not applied, the last good policy stays: %s",
                        err.msg);
            continue;
        }
        pal_log(PAL_LOG_NOTICE, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    notify_systemd("STOPPING=1");
    atomic_store(&d.stopping, 1);
    exit_code = 0;

out:
    /* stopping the server cancels every request in flight and waits for the handlers, so
       scans end as Cancelled and are recorded before the store closes */
    pal_ctl_server_free(d.ctl_status);
    d.ctl_status = NULL;
    pal_ctl_server_free(d.ctl);
    d.ctl = NULL;
    pal_daemon_remediation_free(&d);
    pal_daemon_slots_unref(d.slots);
    pal_scanhost_free(d.host); /* stops the content process */
    pal_defs_unref(d.defs);
    pal_settings_free(d.settings);
    pal_keyring_free(d.keys);
    pal_strlist_free(d.keys_problems, d.n_keys_problems);
    pal_store_close(d.store);
    if (lock_fd >= 0)
        close(lock_fd);
    pthread_mutex_destroy(&d.defs_lock);
    pthread_mutex_destroy(&d.status_lock);
    if (exit_code == 0)
        pal_log(PAL_LOG_NOTICE, "stopped");
    return exit_code;
}
