/*
 * main.c — palisaded, the broker: parses its arguments, builds the daemon (daemon.h) and
 * starts it, then waits for signals: SIGHUP reloads policy, SIGTERM/SIGINT stop it cleanly
 * (scans in flight end as Cancelled, the store is closed).
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
#include "scheduler.h"
#include "ops_metrics.h"

#define DEFAULT_STATE_DIR "/var/lib/palisade"
#define DEFAULT_SOCKET "/run/palisade/palisaded.sock"
#define DEFAULT_POLICY_DIR "/etc/palisade/policy.d"
#define DEFAULT_TRUSTED_KEYS "/etc/palisade/trusted-keys"

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
                "                 [--clock-offset-file PATH]\n"
                "defaults: --state-dir " DEFAULT_STATE_DIR ", --socket " DEFAULT_SOCKET "\n"
                "          --policy-dir " DEFAULT_POLICY_DIR
                ", --trusted-keys " DEFAULT_TRUSTED_KEYS "\n");
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
        {"clock-offset-file", required_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pal_daemon_config cfg = {
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
            cfg.paths.state_dir = optarg;
            break;
        case 'S':
            cfg.paths.socket_path = optarg;
            break;
        case 'p':
            cfg.paths.policy_dir = optarg;
            break;
        case 'k':
            cfg.paths.trusted_keys_dir = optarg;
            break;
        case 'd':
            cfg.paths.defs_path = optarg;
            break;
        case 'c':
            cfg.paths.cp_binary = optarg;
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
        case 'O':
            /* for tests: the scheduler's clock is shifted by the seconds in this file */
            cfg.clock_offset_file = optarg;
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
    /* the schedules' times are local: read the zone before it is set to UTC below */
    pal_sched_capture_local_zone();
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

    if (!cfg.paths.cp_binary)
        cfg.paths.cp_binary = default_cp_binary();
    cfg.cp_account = cp_account;
    cfg.force_sandbox = getenv(PAL_ENV_FORCE_SANDBOX);
    cfg.force_real_time = getenv(PAL_ENV_FORCE_REAL_TIME);
    cfg.check_owners = geteuid() == 0;

    int exit_code = 1;
    pal_errbuf err;
    pal_daemon *d = NULL;
    pal_metrics_writer *metrics = NULL; /* the node_exporter textfile (MetricsTextfilePath) */
    if (pal_daemon_new(&cfg, &d, &err) != 0 || pal_daemon_start(d, &err) != 0 ||
        pal_metrics_writer_start(d, &metrics, &err) != 0) {
        pal_log(PAL_LOG_ERROR, "%s", err.msg);
        goto out;
    }
    notify_systemd("READY=1\nSTATUS=ready");

    for (;;) {
        siginfo_t si;
        /* wakes once a minute for the quarantine retention purge */
        static const struct timespec tick = {.tv_sec = 60};
        int sig = sigtimedwait(&sigs, &si, &tick);
        if (sig < 0) {
            if (errno == EAGAIN) {
                pal_daemon_tick(d);
                continue;
            }
            if (errno == EINTR)
                continue;
            pal_log(PAL_LOG_ERROR, "sigtimedwait: %m");
            break;
        }
        if (sig == SIGHUP) {
            pal_log(PAL_LOG_INFO, "SIGHUP: reloading policy from %s", cfg.paths.policy_dir);
            if (pal_daemon_reload_policy(d, &err) != 0)
                pal_log(PAL_LOG_ERROR, "policy not applied, the last good policy stays: %s",
                        err.msg);
            continue;
        }
        pal_log(PAL_LOG_NOTICE, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    notify_systemd("STOPPING=1");
    pal_metrics_writer_stop(metrics);
    metrics = NULL;
    pal_daemon_stop(d);
    exit_code = 0;

out:
    pal_metrics_writer_stop(metrics);
    pal_daemon_free(d);
    if (exit_code == 0)
        pal_log(PAL_LOG_NOTICE, "stopped");
    return exit_code;
}
