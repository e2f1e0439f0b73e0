/* display.c — raw name bytes to a terminal-safe, reversible display form (see display.h). */
#include "display.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Characters a terminal acts on (or that reorder what it shows) instead of showing. */
static int acts_on_terminal(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
           cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* The display form of the unit at s (n bytes left) into esc[8]; returns its length and
   sets *used to the number of input bytes it stands for. */
static size_t one_unit(const unsigned char *s, size_t n, char esc[8], size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    static const char c0_letter[0x20] = {
        [0x07] = 'a', [0x08] = 'b', [0x09] = 't', [0x0A] = 'n',
        [0x0B] = 'v', [0x0C] = 'f', [0x0D] = 'r', [0x1B] = 'e',
    };
    uint32_t cp = 0;
    size_t len = pal_utf8_seq(s, n, &cp);
    if (len == 0 || cp < 0x20 || cp == 0x7F) {
        *used = 1;
        if (len != 0 && cp < 0x20 && c0_letter[cp]) {
            esc[0] = '\\';
            esc[1] = c0_letter[cp];
            return 2;
        }
        esc[0] = '\\';
        esc[1] = 'x';
        esc[2] = hex[s[0] >> 4];
        esc[3] = hex[s[0] & 15];
        return 4;
    }
    *used = len;
    if (cp == '\\') {
        esc[0] = esc[1] = '\\';
        return 2;
    }
    if (acts_on_terminal(cp)) {
        esc[0] = '\\';
        esc[1] = 'u';
        for (int k = 0; k < 4; k++)
            esc[2 + k] = hex[(cp >> (12 - 4 * k)) & 15];
        return 6;
    }
    memcpy(esc, s, len);
    return len;
}

size_t pal_display_buf(const char *s, size_t len, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        char esc[8];
        size_t used;
        size_t m = one_unit(p + i, len - i, esc, &used);
        if (m >= cap - o)
            break;
        memcpy(out + o, esc, m);
        o += m;
        i += used;
    }
    out[o] = '\0';
    return i;
}

char *pal_display(const char *s, size_t len)
{
    if (len > (SIZE_MAX - 1) / PAL_DISPLAY_MAX_RATIO)
        return NULL;
    size_t cap = len * PAL_DISPLAY_MAX_RATIO + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    pal_display_buf(s, len, out, cap);
    return out;
}
