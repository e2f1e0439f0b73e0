/* test_utf8.c — the one definition of well-formed UTF-8 (agent/util/utf8.h) that the engine's
   chains, the wire, the display form, the CLI and sigtool share: the boundary cases of every
   sequence length, the control characters "clean" refuses, and cutting without splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "display.h"
#include "utf8.h"

#define S(lit) (const unsigned char *)(lit), sizeof(lit) - 1

static void sequences(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        size_t want;
        uint32_t cp;
    } k[] = {
        {"a", 1, 1, 'a'},
        {"\0", 1, 1, 0},
        {"\x7f", 1, 1, 0x7f},
        {"\xc2\x80", 2, 2, 0x80},
        {"\xdf\xbf", 2, 2, 0x7ff},
        {"\xe0\xa0\x80", 3, 3, 0x800},
        {"\xed\x9f\xbf", 3, 3, 0xd7ff},
        {"\xee\x80\x80", 3, 3, 0xe000},
        {"\xef\xbf\xbf", 3, 3, 0xffff},
        {"\xf0\x90\x80\x80", 4, 4, 0x10000},
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
        /* refused: continuation first, overlongs, surrogates, above U+10FFFF, cut short */
        {"\x80", 1, 0, 0},
        {"\xbf", 1, 0, 0},
        {"\xc0\x80", 2, 0, 0},
        {"\xc1\xbf", 2, 0, 0},
        {"\xe0\x9f\xbf", 3, 0, 0},
        {"\xed\xa0\x80", 3, 0, 0},
        {"\xed\xbf\xbf", 3, 0, 0},
        {"\xf0\x8f\xbf\xbf", 4, 0, 0},
        {"\xf4\x90\x80\x80", 4, 0, 0},
        {"\xf5\x80\x80\x80", 4, 0, 0},
        {"\xff", 1, 0, 0},
        {"\xe2\x82", 2, 0, 0},
        {"\xe2\x28\xa1", 3, 0, 0},
        {"\xf0\x9f\x98", 3, 0, 0},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        uint32_t cp = 0xdeadbeef;
        size_t got = pal_utf8_seq((const unsigned char *)k[i].s, k[i].len, &cp);
        assert_int_equal(got, k[i].want);
        if (got)
            assert_int_equal(cp, k[i].cp);
        assert_int_equal(pal_utf8_seq((const unsigned char *)k[i].s, k[i].len, NULL), k[i].want);
        assert_int_equal(pal_utf8_valid(k[i].s, k[i].len), k[i].want == k[i].len);
        /* the display form keeps exactly the well-formed characters as themselves */
        char *d = pal_display(k[i].s, k[i].len);
        assert_non_null(d);
        if (k[i].want && k[i].cp >= 0xa0)
            assert_memory_equal(d, k[i].s, k[i].len);
        if (!k[i].want)
            assert_non_null(strstr(d, "\\x"));
        free(d);
    }
    /* a sequence is not read past n even when the bytes after it would complete it */
    assert_int_equal(pal_utf8_seq(S("\xe2\x82\xac"), NULL), 3);
    assert_int_equal(pal_utf8_seq((const unsigned char *)"\xe2\x82\xac", 2, NULL), 0);
}

static void clean(void **state)
{
    (void)state;
    assert_true(pal_utf8_clean(S("name.com")));
    assert_true(pal_utf8_clean(S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")));
    assert_true(pal_utf8_clean(S("\xc2\xa0"))); /* U+00A0 is not a control */
    assert_true(pal_utf8_clean(S("")));
    assert_false(pal_utf8_clean(S("a\nb")));
    assert_false(pal_utf8_clean(S("\x1b[2J")));
    assert_false(pal_utf8_clean(S("\x7f")));
    assert_false(pal_utf8_clean(S("\xc2\x9b"))); /* U+009B, CSI */
    assert_false(pal_utf8_clean(S("\xc2\x80")));
    assert_false(pal_utf8_clean(S("a\0b")));
    assert_false(pal_utf8_clean(S("\x9b")));
    assert_false(pal_utf8_clean(S("\xed\xa0\x80")));
}

static void prefix(void **state)
{
    (void)state;
    const char *s = "ab\xe2\x82\xac"
                    "cd"; /* a b EURO c d */
    size_t n = strlen(s);
    assert_int_equal(pal_utf8_prefix(s, n, 100), n);
    assert_int_equal(pal_utf8_prefix(s, n, n), n);
    assert_int_equal(pal_utf8_prefix(s, n, 2), 2);
    assert_int_equal(pal_utf8_prefix(s, n, 3), 2); /* never half a euro sign */
    assert_int_equal(pal_utf8_prefix(s, n, 4), 2);
    assert_int_equal(pal_utf8_prefix(s, n, 5), 5);
    assert_int_equal(pal_utf8_prefix(s, n, 0), 0);
    /* bytes that are not UTF-8 count alone: a legacy name is cut anywhere */
    assert_int_equal(pal_utf8_prefix("\xe9\xe9\xe9\xe9", 4, 3), 3);
    /* a cut-short sequence at the end is bytes, not a character to keep whole */
    assert_int_equal(pal_utf8_prefix("abc\xe2\x82", 5, 4), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sequences),
        cmocka_unit_test(clean),
        cmocka_unit_test(prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
