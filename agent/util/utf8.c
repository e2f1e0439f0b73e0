/* utf8.c — well-formed UTF-8 (see utf8.h). */
#include "utf8.h"

size_t pal_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c < 0x80) {
        if (cp)
            *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlongs */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0; /* a continuation byte, C0/C1 (overlong two-byte), F5..FF */
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    if (cp) {
        uint32_t v = c & (0xFFu >> (len + 1));
        for (size_t i = 1; i < len; i++)
            v = (v << 6) | (s[i] & 0x3Fu);
        *cp = v;
    }
    return len;
}

bool pal_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = pal_utf8_seq(p + i, len - i, NULL);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

bool pal_utf8_clean(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = pal_utf8_seq(s + i, n - i, &cp);
        if (len == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return false;
        i += len;
    }
    return true;
}

size_t pal_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < max) {
        size_t n = pal_utf8_seq(p + i, len - i, NULL);
        if (n == 0)
            n = 1; /* a byte that is not UTF-8 stands for itself */
        if (i + n > max)
            break;
        i += n;
    }
    return i;
}
