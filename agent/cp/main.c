/*
 * main.c — palisade-cp, the content process: the scan engine behind a sandbox, started by
 * the broker (agent/core/supervisor/cpspawn.c) with a fixed descriptor layout (sandbox.h) and
 * `--channels K`.
 *
 * It demotes itself in a fixed order before it reads a single untrusted byte: namespaces
 * (made by the broker's clone3), parent-death signal, descriptors, CONFIG from the broker,
 * pre-warm (package mapped, engine built, every engine thread runs a warm-up scan), rlimits,
 * empty root, bounding set, ids, capabilities, no_new_privs, not dumpable, Landlock, seccomp.
 * A step that fails ends the process with PAL_CPMSG_EXIT_STEP_BASE + step and one line on
 * stderr; the process never runs half-sandboxed. Then it answers READY and serves its K
 * channels, one engine thread each, until the broker closes them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "cpmsg.h"
#include "engine.h"
#include "sandbox.h"
#include "sigpkg.h"

/* A zip with one deflated member under a UTF-8 name and a DOS date: it makes libarchive
   set up its zip reader, name conversion and time handling on each thread. */
static const uint8_t k_warm_zip[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x08, 0x08, 0x00, 0x83, 0x18, 0x22, 0x50, 0x61, 0xfb,
    0x67, 0xb2, 0x0d, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x77, 0x61,
    0x72, 0x6d, 0x2f, 0x6e, 0x61, 0xc3, 0xaf, 0x76, 0x65, 0x2e, 0x74, 0x78, 0x74, 0x2b, 0x4f, 0x2c,
    0xca, 0x55, 0x28, 0x2d, 0xe0, 0x2a, 0x27, 0x93, 0x06, 0x00, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x03,
    0x14, 0x00, 0x00, 0x08, 0x08, 0x00, 0x83, 0x18, 0x22, 0x50, 0x61, 0xfb, 0x67, 0xb2, 0x0d, 0x00,
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x77, 0x61, 0x72, 0x6d, 0x2f, 0x6e, 0x61, 0xc3,
    0xaf, 0x76, 0x65, 0x2e, 0x74, 0x78, 0x74, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x3d, 0x00, 0x00, 0x00, 0x3a, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* ---- running a step on every engine thread ------------------------------------------------ */

typedef int (*phase_fn)(cp_msg *msg);

static pthread_barrier_t g_go, g_done;
static phase_fn g_phase; /* set by the main thread between barriers */
static int g_phase_rc[PAL_CPMSG_MAX_CHANNELS];
static cp_msg g_phase_msg[PAL_CPMSG_MAX_CHANNELS];
static cp_worker g_workers[PAL_CPMSG_MAX_CHANNELS];
static unsigned g_channels;
static pal_cpmsg_config g_cfg;
static int g_landlock_fd = -1;

static __attribute__((noreturn)) void die_step(unsigned step, const cp_msg *msg)
{
    cp_log("sandbox step %s failed: %s", pal_cpmsg_step_name(step), msg->text);
    _exit(PAL_CPMSG_EXIT_STEP_BASE + (int)step);
}

/* Self-test builds fail a step on request, so that tests see the broker report it. */
static void maybe_fail(unsigned step)
{
#ifdef PAL_CP_SELFTEST
    if (g_cfg.fail_step == step) {
        cp_msg msg;
        snprintf(msg.text, sizeof(msg.text), "failed on request (self-test)");
        die_step(step, &msg);
    }
#else
    (void)step;
#endif
}

static void *worker_main(void *arg)
{
    cp_worker *w = arg;
    g_phase_rc[w->index] = cp_worker_warmup(w, k_warm_zip, sizeof(k_warm_zip));
    pthread_barrier_wait(&g_done);
    for (;;) {
        pthread_barrier_wait(&g_go);
        if (g_phase == NULL)
            break;
        g_phase_rc[w->index] = g_phase(&g_phase_msg[w->index]);
        pthread_barrier_wait(&g_done);
    }
    cp_worker_run(w);
}

static void check_all(unsigned step)
{
    for (unsigned i = 0; i < g_channels; i++)
        if (g_phase_rc[i] != 0)
            die_step(step, &g_phase_msg[i]);
}

static void on_all_threads(unsigned step, phase_fn fn)
{
    maybe_fail(step);
    g_phase = fn;
    pthread_barrier_wait(&g_go);
    g_phase_rc[0] = fn(&g_phase_msg[0]);
    pthread_barrier_wait(&g_done);
    check_all(step);
}

static int phase_capbset(cp_msg *msg)
{
    return cp_sb_capbset(msg);
}
static int phase_ids_check(cp_msg *msg)
{
    return cp_sb_ids_check(&g_cfg, msg);
}
static int phase_caps(cp_msg *msg)
{
    return cp_sb_caps(msg);
}
static int phase_nnp(cp_msg *msg)
{
    return cp_sb_nnp(msg);
}
static int phase_landlock(cp_msg *msg)
{
    return cp_sb_landlock(g_landlock_fd, msg);
}

static void step(unsigned id, int rc, const cp_msg *msg)
{
    if (rc != 0)
        die_step(id, msg);
}

/* ---- pre-warm ------------------------------------------------------------------------------ */

typedef struct warm {
    pal_sigpkg *pkg;
    pal_engine *eng;
    const uint8_t *shm;
} warm;

static int prewarm(warm *wm, cp_msg *msg)
{
    pal_errbuf err;
    /* zip and 7z dates go through localtime: no /etc/localtime to read later */
    if (setenv("TZ", "UTC", 1) != 0)
        return snprintf(msg->text, sizeof(msg->text), "setenv TZ: %s", strerror(errno)), -1;
    tzset();
    time_t t0 = 0;
    struct tm tm;
    localtime_r(&t0, &tm);
    /* libarchive converts names between these; glibc loads its converter cache once */
    static const char *const k_iconv[][2] = {
        {"UTF-8", "UTF-16LE"},
        {"UTF-8", "UTF-16BE"},
        {"ANSI_X3.4-1968", "UTF-8"},
        {"UTF-8", "ANSI_X3.4-1968"},
    };
    for (size_t i = 0; i < sizeof(k_iconv) / sizeof(k_iconv[0]); i++) {
        iconv_t cd = iconv_open(k_iconv[i][0], k_iconv[i][1]);
        if (cd != (iconv_t)-1)
            iconv_close(cd);
    }

    int rc = pal_sigpkg_open_fd(CP_FD_PACKAGE, NULL, 0, &wm->pkg, &err);
    if (rc != 0)
        return snprintf(msg->text, sizeof(msg->text), "signature package: %s", err.msg), -1;
    close(CP_FD_PACKAGE); /* the mapping stays */

    struct stat st;
    if (fstat(CP_FD_SHM, &st) != 0 || (uint64_t)st.st_size != g_cfg.shm_size)
        return snprintf(msg->text, sizeof(msg->text), "shared memory is not %llu bytes",
                        (unsigned long long)g_cfg.shm_size),
               -1;
    void *shm = mmap(NULL, (size_t)g_cfg.shm_size, PROT_READ, MAP_SHARED, CP_FD_SHM, 0);
    if (shm == MAP_FAILED)
        return snprintf(msg->text, sizeof(msg->text), "mapping shared memory: %s", strerror(errno)),
               -1;
    close(CP_FD_SHM);
    wm->shm = shm;

    pal_limits lim = {
        .max_depth = g_cfg.max_depth,
        .max_members = g_cfg.max_members,
        .max_expanded_bytes = g_cfg.max_expanded_bytes,
        .max_ratio = g_cfg.max_ratio,
        .max_object_size = g_cfg.max_object_size,
        .max_scan_ms = g_cfg.max_scan_ms,
    };
    rc = pal_engine_new(wm->pkg, &lim, &wm->eng, &err);
    if (rc != 0)
        return snprintf(msg->text, sizeof(msg->text), "engine: %s", err.msg), -1;
    int bulk = (g_cfg.flags & PAL_CPMSG_CFG_BULK_SHM) != 0;
    for (unsigned i = 0; i < g_channels; i++) {
        rc = cp_worker_init(&g_workers[i], i, wm->eng, wm->shm, g_cfg.shm_stride, bulk);
        if (rc != 0)
            return snprintf(msg->text, sizeof(msg->text), "scanner %u: %s", i, pal_strerror(rc)),
                   -1;
    }
    int abi;
    if (cp_sb_landlock_prepare(&abi, &g_landlock_fd, msg) != 0)
        return -1;

    /* The engine threads exist from now on, each warmed up on its own scanner. */
    if (pthread_barrier_init(&g_go, NULL, g_channels) != 0 ||
        pthread_barrier_init(&g_done, NULL, g_channels) != 0)
        return snprintf(msg->text, sizeof(msg->text), "barriers"), -1;
    for (unsigned i = 1; i < g_channels; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, worker_main, &g_workers[i]) != 0)
            return snprintf(msg->text, sizeof(msg->text), "creating thread %u", i), -1;
        pthread_detach(th);
    }
    g_phase_rc[0] = cp_worker_warmup(&g_workers[0], k_warm_zip, sizeof(k_warm_zip));
    pthread_barrier_wait(&g_done);
    for (unsigned i = 0; i < g_channels; i++)
        if (g_phase_rc[i] != 0)
            return snprintf(msg->text, sizeof(msg->text), "warm-up scan on thread %u: %s", i,
                            pal_strerror(g_phase_rc[i])),
                   -1;
    /* the warm-up's lookups mapped some of the package: start from nothing resident */
    pal_sigpkg_release_resident(wm->pkg);
    return abi;
}

/* ---- main --------------------------------------------------------------------------------- */

static unsigned parse_channels(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--channels") != 0)
        return 0;
    const char *s = argv[2];
    unsigned v = 0;
    if (*s == '\0' || strlen(s) > 2)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (unsigned)(*s - '0');
    }
    return v <= PAL_CPMSG_MAX_CHANNELS ? v : 0;
}

int main(int argc, char **argv)
{
    cp_msg msg = {{0}};
    unsigned applied = 0;
    g_channels = parse_channels(argc, argv);
    if (g_channels == 0) {
        cp_log("usage: palisade-cp --channels K (started by palisaded only)");
        return PAL_CPMSG_EXIT_USAGE;
    }

    step(PAL_CPMSG_STEP_PDEATHSIG, cp_sb_pdeathsig(&msg), &msg);
    applied |= 1U << PAL_CPMSG_STEP_PDEATHSIG;
    step(PAL_CPMSG_STEP_FDS, cp_sb_fds(g_channels, &msg), &msg);
    applied |= 1U << PAL_CPMSG_STEP_FDS;

    /* CONFIG comes from the broker, the one peer this side trusts */
    static uint8_t cfgbuf[PAL_CPMSG_MAX + 1];
    ssize_t n;
    do {
        n = recv(CP_FD_CHANNEL0, cfgbuf, sizeof(cfgbuf), 0);
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    pal_cpmsg m;
    pal_errbuf err;
    if (n < 0 || pal_cpmsg_decode(cfgbuf, (size_t)n, PAL_CPMSG_FROM_BROKER, &m, &err) != 0 ||
        m.type != PAL_CPMSG_CONFIG) {
        cp_log("no valid CONFIG from the broker: %s", n < 0 ? strerror(errno) : err.msg);
        return PAL_CPMSG_EXIT_CONFIG;
    }
    g_cfg = m.u.config;
    if (g_cfg.channels != g_channels) {
        cp_log("CONFIG for %u channels, started with %u", g_cfg.channels, g_channels);
        return PAL_CPMSG_EXIT_CONFIG;
    }
#ifndef PAL_CP_SELFTEST
    if (g_cfg.fail_step != 0) {
        cp_log("CONFIG asks for a self-test failure: not in this build");
        return PAL_CPMSG_EXIT_CONFIG;
    }
#endif

    maybe_fail(PAL_CPMSG_STEP_PREWARM);
    warm wm = {0};
    int abi = prewarm(&wm, &msg);
    if (abi < 0)
        die_step(PAL_CPMSG_STEP_PREWARM, &msg);
    applied |= 1U << PAL_CPMSG_STEP_PREWARM;

    maybe_fail(PAL_CPMSG_STEP_RLIMITS);
    step(PAL_CPMSG_STEP_RLIMITS, cp_sb_rlimits(&g_cfg, &msg), &msg);
    applied |= 1U << PAL_CPMSG_STEP_RLIMITS;

    if (g_cfg.flags & PAL_CPMSG_CFG_MOUNT_NS) {
        maybe_fail(PAL_CPMSG_STEP_ROOT);
        step(PAL_CPMSG_STEP_ROOT, cp_sb_root(&msg), &msg);
        applied |= 1U << PAL_CPMSG_STEP_ROOT;
    }
    /* Without privileges (broker not root, no user namespace) there is no bounding set to
       drop: nothing in it can be used. */
    if (g_cfg.id_mode != PAL_CPMSG_IDS_KEEP) {
        on_all_threads(PAL_CPMSG_STEP_CAPBSET, phase_capbset);
        applied |= 1U << PAL_CPMSG_STEP_CAPBSET;
    }
    maybe_fail(PAL_CPMSG_STEP_IDS);
    step(PAL_CPMSG_STEP_IDS, cp_sb_ids(&g_cfg, &msg), &msg);
    on_all_threads(PAL_CPMSG_STEP_IDS, phase_ids_check);
    applied |= 1U << PAL_CPMSG_STEP_IDS;
    uid_t uid = getuid(); /* for READY: no such calls once seccomp is on */
    gid_t gid = getgid();
    on_all_threads(PAL_CPMSG_STEP_CAPS, phase_caps);
    applied |= 1U << PAL_CPMSG_STEP_CAPS;
    on_all_threads(PAL_CPMSG_STEP_NNP, phase_nnp);
    applied |= 1U << PAL_CPMSG_STEP_NNP;
    maybe_fail(PAL_CPMSG_STEP_DUMPABLE);
    step(PAL_CPMSG_STEP_DUMPABLE, cp_sb_dumpable(&msg), &msg);
    applied |= 1U << PAL_CPMSG_STEP_DUMPABLE;
    if (g_landlock_fd >= 0) {
        on_all_threads(PAL_CPMSG_STEP_LANDLOCK, phase_landlock);
        close(g_landlock_fd);
        g_landlock_fd = -1;
        applied |= 1U << PAL_CPMSG_STEP_LANDLOCK;
    }
    /* no processes: set now that the engine threads exist */
    step(PAL_CPMSG_STEP_RLIMITS, cp_sb_nproc(&msg), &msg);
    maybe_fail(PAL_CPMSG_STEP_SECCOMP);
    step(PAL_CPMSG_STEP_SECCOMP, cp_sb_seccomp(g_channels, &msg), &msg);
    applied |= 1U << PAL_CPMSG_STEP_SECCOMP;

    /* Sandbox complete: let the engine threads go, and tell the broker. */
    g_phase = NULL;
    pthread_barrier_wait(&g_go);

    pal_sigpkg_info info;
    pal_sigpkg_get_info(wm.pkg, &info);
    pal_cpmsg ready = {.type = PAL_CPMSG_READY, .id = 0};
    ready.u.ready.version = PAL_CPMSG_VERSION;
    ready.u.ready.steps = applied;
    ready.u.ready.landlock_abi = abi;
    ready.u.ready.uid = (uint32_t)uid;
    ready.u.ready.gid = (uint32_t)gid;
    ready.u.ready.build_flags = 0;
#ifdef PAL_CP_SELFTEST
    ready.u.ready.build_flags |= PAL_CPMSG_BUILD_SELFTEST;
#endif
#ifdef PAL_SANITIZE
    ready.u.ready.build_flags |= PAL_CPMSG_BUILD_SANITIZE;
#endif
    ready.u.ready.package_version = info.version;
    ready.u.ready.rule_count = info.rule_count;
    ready.u.ready.hash_count = info.hash_count;
    cp_worker_send(&g_workers[0], &ready);
    cp_worker_run(&g_workers[0]);
}
