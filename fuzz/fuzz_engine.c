/*
 * fuzz_engine.c — libFuzzer target: the scan engine on arbitrary content.
 *
 * One engine is built at start-up from the build-time signature package (opened with the
 * structure check only: this target explores the content parsers, not the signature) with
 * small limits so that every input finishes quickly. Each input is scanned as one object
 * from memory, containers expanded, and the report is checked for internal consistency and
 * freed. PAL_FUZZ_PACKAGE in the environment overrides the compiled-in package path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine.h"
#include "sigpkg.h"

#ifndef PAL_FUZZ_PACKAGE
#error "PAL_FUZZ_PACKAGE must name the build-time signature package"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Live for the whole process; libFuzzer never returns to a point where they could be freed. */
static pal_sigpkg *g_pkg;
static pal_engine *g_engine;
static pal_scanner *g_scanner;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pal_errbuf err = {{0}};
    pal_limits lim;
    const char *path = getenv("PAL_FUZZ_PACKAGE");
    int rc;

    (void)argc;
    (void)argv;
    if (!path || !*path)
        path = PAL_FUZZ_PACKAGE;
    /* Zip and 7z date conversion would otherwise read /etc/localtime per member. */
    setenv("TZ", "UTC", 1);
    tzset();

    rc = pal_sigpkg_open_path(path, NULL, 0, &g_pkg, &err);
    if (rc < 0) {
        fprintf(stderr, "fuzz_engine: cannot open %s: %s (%s)\n", path, err.msg, pal_strerror(rc));
        abort();
    }
    pal_limits_default(&lim);
    lim.max_depth = 4;
    lim.max_members = 64;
    lim.max_expanded_bytes = 16ULL << 20;
    lim.max_ratio = 100;
    lim.max_object_size = 16ULL << 20;
    lim.max_scan_ms = 2000;
    rc = pal_engine_new(g_pkg, &lim, &g_engine, &err);
    if (rc < 0) {
        fprintf(stderr, "fuzz_engine: engine: %s (%s)\n", err.msg, pal_strerror(rc));
        abort();
    }
    rc = pal_scanner_new(g_engine, &g_scanner);
    if (rc < 0) {
        fprintf(stderr, "fuzz_engine: scanner: %s\n", pal_strerror(rc));
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_source src;
    pal_report rep;

    pal_source_from_memory(&src, data, size);
    /* With these limits the engine has no business failing as a whole. */
    if (pal_scan(g_scanner, &src, "fuzz", NULL, &rep) != 0)
        abort();
    /* The contract of engine.h: findings make a threat; clean means everything was seen. */
    if ((rep.n_findings > 0) != (rep.verdict == PAL_VERDICT_THREAT))
        abort();
    if (rep.verdict == PAL_VERDICT_UNSCANNABLE && rep.reason == PAL_UNSCANNABLE_NONE)
        abort();
    if (rep.verdict == PAL_VERDICT_CLEAN && rep.reason != PAL_UNSCANNABLE_NONE)
        abort();
    if (rep.size != size || rep.bytes_read > size)
        abort();
    pal_report_free(&rep);
    return 0;
}
