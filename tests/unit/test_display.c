/* test_display.c — the terminal-safe display form of raw name bytes (agent/util/display.h):
   the notation on the names of issue 10, that it is reversible, and that nothing a terminal
   acts on survives it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "display.h"

static void shows(const char *in, size_t len, const char *want)
{
    char *d = pal_display(in, len);
    assert_non_null(d);
    assert_string_equal(d, want);
    free(d);
}
#define SHOWS(lit, want) shows(lit, sizeof(lit) - 1, want)

static void notation(void **state)
{
    (void)state;
    SHOWS("plain/name.com", "plain/name.com");
    SHOWS("esc-\x1b]0;PWNED\a\x1b[2J.com", "esc-\\e]0;PWNED\\a\\e[2J.com");
    SHOWS("a\tb\nc\rd\be\vf\fg", "a\\tb\\nc\\rd\\be\\vf\\fg");
    SHOWS("\x01\x1f\x7f", "\\x01\\x1f\\x7f");
    SHOWS("back\\slash", "back\\\\slash");
    /* C1: CSI as the character U+009B (UTF-8 c2 9b) and as a lone raw byte differ */
    SHOWS("csi-\xc2\x9b"
          "2J",
          "csi-\\u009b2J");
    SHOWS("raw-\x9b"
          "2J",
          "raw-\\x9b2J");
    SHOWS("\xc2\x80\xc2\x9f\xc2\xa0", "\\u0080\\u009f\xc2\xa0"); /* U+00A0 is printable */
    /* bidi: RLO would show "moc.exe" as "exe.com" */
    SHOWS("x\xe2\x80\xaemoc.exe", "x\\u202emoc.exe");
    SHOWS("\xe2\x80\xaa\xe2\x81\xa6\xe2\x81\xa9\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c",
          "\\u202a\\u2066\\u2069\\u200e\\u200f\\u061c");
    SHOWS("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029");
    /* valid non-ASCII names pass as they are */
    SHOWS("\xd1\x81\xd1\x87\xd1\x91\xd1\x82-1.com", "\xd1\x81\xd1\x87\xd1\x91\xd1\x82-1.com");
    SHOWS("\xe5\x8f\x91\xe7\xa5\xa8.com", "\xe5\x8f\x91\xe7\xa5\xa8.com");
    SHOWS("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
    /* legacy code pages and malformed UTF-8: one \xNN per byte */
    SHOWS("\xe1\xe7\xf1\xe2-1.com", "\\xe1\\xe7\\xf1\\xe2-1.com"); /* CP866 */
    SHOWS("\xc0\xaf", "\\xc0\\xaf");                               /* overlong '/' */
    SHOWS("\xed\xa0\x80", "\\xed\\xa0\\x80");                      /* surrogate */
    SHOWS("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");             /* above U+10FFFF */
    SHOWS("\xe2\x80", "\\xe2\\x80");                               /* cut short */
    shows("a\0b", 3, "a\\x00b");
    shows(NULL, 0, "");
}

/* Decodes the notation (display.h), failing the test on anything it does not define. */
static size_t undisplay(const char *d, unsigned char *out)
{
    size_t o = 0;
    while (*d) {
        if (*d != '\\') {
            out[o++] = (unsigned char)*d++;
            continue;
        }
        d++;
        const char *letters = "abtnvfre", *codes = "\a\b\t\n\v\f\r\x1b";
        const char *l = *d ? strchr(letters, *d) : NULL;
        if (*d == '\\') {
            out[o++] = '\\';
            d++;
        } else if (l) {
            out[o++] = (unsigned char)codes[l - letters];
            d++;
        } else if (*d == 'x' || *d == 'u') {
            int n = *d == 'x' ? 2 : 4;
            char hexs[5] = {0};
            memcpy(hexs, d + 1, (size_t)n);
            assert_int_equal(strspn(hexs, "0123456789abcdef"), (size_t)n);
            unsigned long v = strtoul(hexs, NULL, 16);
            if (n == 2) {
                out[o++] = (unsigned char)v;
            } else if (v < 0x800) {
                out[o++] = (unsigned char)(0xC0 | (v >> 6));
                out[o++] = (unsigned char)(0x80 | (v & 0x3F));
            } else {
                out[o++] = (unsigned char)(0xE0 | (v >> 12));
                out[o++] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
                out[o++] = (unsigned char)(0x80 | (v & 0x3F));
            }
            d += 1 + n;
        } else {
            fail_msg("undefined escape \\%c", *d);
        }
    }
    return o;
}

/* Nothing a terminal acts on: no C0, DEL, C1, lone high bytes, or bidi controls. */
static void assert_inert(const char *d)
{
    const unsigned char *p = (const unsigned char *)d;
    for (size_t i = 0; p[i]; i++) {
        assert_true(p[i] >= 0x20 && p[i] != 0x7f);
        if (p[i] == 0xC2)
            assert_true(p[i + 1] >= 0xA0);
        if (p[i] == 0xE2 && p[i + 1] == 0x80)
            assert_false(p[i + 2] == 0x8e || p[i + 2] == 0x8f ||
                         (p[i + 2] >= 0xa8 && p[i + 2] <= 0xae));
        if (p[i] == 0xE2 && p[i + 1] == 0x81)
            assert_false(p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9);
    }
}

/* Random byte strings, biased towards the interesting bytes: reversible and inert. */
static void round_trip(void **state)
{
    (void)state;
    static const unsigned char pool[] = {'a',  '\\', 'x',  'u',  0x1b, 0x07, 0x00, 0x7f,
                                         0x9b, 0xc2, 0xe2, 0x80, 0x81, 0xae, 0xa6, 0xd8,
                                         0x9c, 0xf0, 0x9f, 0xff, 0xd1, 0x82, 0x0a, '0'};
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        unsigned char in[40];
        size_t len = (size_t)(round % 40);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            in[i] = (r & 1) ? pool[(r >> 1) % sizeof(pool)] : (unsigned char)(r >> 8);
        }
        char *d = pal_display((const char *)in, len);
        assert_non_null(d);
        assert_inert(d);
        unsigned char back[40];
        assert_int_equal(undisplay(d, back), len);
        assert_memory_equal(back, in, len);
        free(d);
    }
}

/* The bounded form never cuts an escape and says how much of the input it showed. */
static void bounded(void **state)
{
    (void)state;
    const char in[] = "ab\x1b\xe2\x80\xaez";
    char out[16];
    assert_int_equal(pal_display_buf(in, 7, out, 4), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(pal_display_buf(in, 7, out, 5), 3);
    assert_string_equal(out, "ab\\e");
    assert_int_equal(pal_display_buf(in, 7, out, 10), 3);
    assert_string_equal(out, "ab\\e");
    assert_int_equal(pal_display_buf(in, 7, out, 11), 6);
    assert_string_equal(out, "ab\\e\\u202e");
    assert_int_equal(pal_display_buf(in, 7, out, 12), 7);
    assert_string_equal(out, "ab\\e\\u202ez");
    assert_int_equal(pal_display_buf(in, 7, out, 1), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notation),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
