/*
 * test_support.h — small helpers shared by the C test programs (tests/unit, tests/cp).
 * Header-only: each test program is one translation unit.
 */
#ifndef PAL_TEST_SUPPORT_H
#define PAL_TEST_SUPPORT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* The source and build trees, as CMake passes them to the programs that read test data. */
#ifndef PAL_TEST_SOURCE_DIR
#define PAL_TEST_SOURCE_DIR "."
#endif
#ifndef PAL_TEST_BINARY_DIR
#define PAL_TEST_BINARY_DIR "."
#endif

/* Run a shell command built like printf; its exit status, or -1 if it did not exit. */
static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static int run_cmd(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
