/*
 * fuzz_sniff.c — libFuzzer target: the container pre-check (agent/engine/sniff.h) is a
 * superset of libarchive's probe.
 *
 * Each input is offered to the pre-check and to the reader pal_expand sets up
 * (pal_expand_probe_engages); when libarchive engages and the pre-check said no, the
 * target aborts: the engine would have skipped a container. Both readings are checked (tar
 * offered a leading zero block or not, see sniff.h). Each input is also checked placed
 * inside an executable (MZ for even lengths, ELF for odd ones) at offset 0x27000, where the
 * self-extractor searches of the 7z, rar, rar5, cab and lha readers all look. libarchive is
 * not instrumented, so coverage comes from sniff.c: the fuzzer explores its branches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expand.h"
#include "sniff.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EMBED_AT 0x27000U
#define MAX_INPUT (1U << 20)

static pal_expand_support g_sup;
static uint8_t *g_embed; /* EMBED_AT bytes of executable, then room for the input */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (pal_expand_probe(&g_sup) != 0)
        abort();
    g_embed = malloc(EMBED_AT + MAX_INPUT);
    if (g_embed == NULL)
        abort();
    /* bytes 0x80-0xFF: no signature, no text, no zero block of their own */
    unsigned seed = 1;
    for (size_t i = 0; i < EMBED_AT; i++) {
        seed = seed * 1103515245U + 12345U;
        g_embed[i] = (uint8_t)(0x80 | (seed >> 16));
    }
    return 0;
}

static void check(const char *what, const uint8_t *d, size_t len)
{
    unsigned m = pal_sniff(d, len);
    int plain = pal_expand_probe_engages(&g_sup, d, len, 1);
    int engine = pal_expand_probe_engages(&g_sup, d, len, 0);
    if (plain < 0 || engine < 0)
        abort(); /* out of memory */
    if ((plain && m == 0) || (engine && (m & ~(unsigned)PAL_SNIFF_TAR_ZERO) == 0)) {
        fprintf(stderr,
                "fuzz_sniff: %s (%zu bytes): libarchive engages (%d/%d), the "
                "pre-check says 0x%x\n",
                what, len, plain, engine, m);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    check("input", data, size);
    if (size % 2 == 0)
        memcpy(g_embed, "MZ", 2);
    else
        memcpy(g_embed,
               "\x7f"
               "ELF",
               4);
    memcpy(g_embed + EMBED_AT, data, size);
    check("input inside an executable", g_embed, EMBED_AT + size);
    return 0;
}
