/*
 * utf8.h — the one definition of well-formed UTF-8 in Palisade: strict (no overlongs, no
 * UTF-16 surrogates, nothing above U+10FFFF), the same for the engine's chains, the wire
 * (msg, cpmsg), the display form, the CLI and sigtool, so that they all agree on which bytes
 * of a name are characters. Escaping for display is display.h's; this module only decides.
 */
#ifndef PAL_UTF8_H
#define PAL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the well-formed UTF-8 sequence at s, of which n >= 1 bytes may be read,
 * or 0 when the byte at s starts none (or the sequence is cut by n). *cp (when cp is not
 * NULL) receives its code point. A NUL byte is the one-byte sequence U+0000.
 */
size_t pal_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);

/* True when all len bytes of s are well-formed UTF-8 (NUL bytes included). */
bool pal_utf8_valid(const char *s, size_t len);

/*
 * True when s is well-formed UTF-8 with no control character: no C0 control, DEL, or C1
 * control (U+0080..U+009F). A name that passes can be shown as it is.
 */
bool pal_utf8_clean(const uint8_t *s, size_t n);

/*
 * The length of the longest prefix of s (len bytes) of at most max bytes that does not cut a
 * well-formed character in two; a byte that is not part of one counts alone.
 */
size_t pal_utf8_prefix(const char *s, size_t len, size_t max);

#endif
