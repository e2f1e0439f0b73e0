/*
 * display.h — the one place that turns raw name bytes (file paths, archive member names,
 * anything an attacker may have chosen) into a terminal-safe display form. Every
 * human-facing view uses it: the daemon's log lines, the CLI's text output; the PowerShell
 * module's ConvertTo-PalisadeDisplay implements the same notation for its default views.
 * JSON and other script-facing output keep the exact bytes (path + path_b64) instead.
 *
 * Notation (reversible: every display form decodes to exactly one byte string):
 *   \\                 a backslash
 *   \a \b \t \n \v \f \r \e   the C0 controls BEL BS HT LF VT FF CR ESC
 *   \xNN               any other C0 control, DEL (\x7f), and every byte that is not part of
 *                      well-formed UTF-8 (a legacy code-page name, a lone 0x9b): one raw byte
 *   \uNNNN             a well-formed UTF-8 character that a terminal would act on instead of
 *                      showing: the C1 controls U+0080..U+009F (U+009B is CSI),
 *                      the bidi controls U+061C, U+200E, U+200F, U+202A..U+202E and
 *                      U+2066..U+2069, and the separators U+2028, U+2029
 *   anything else      itself (printable ASCII and well-formed UTF-8)
 * Hex digits are lower case. "Well-formed" is strict UTF-8: no overlongs, no surrogates,
 * nothing above U+10FFFF. \x9b (raw byte) and \u009b (the character U+009B) stay distinct.
 */
#ifndef PAL_DISPLAY_H
#define PAL_DISPLAY_H

#include <stddef.h>

/* The longest display form of one input byte ("\xNN"); a bound for buffer sizes. */
#define PAL_DISPLAY_MAX_RATIO 4

/*
 * The display form of len bytes at s (NUL bytes are shown \x00), as a malloc'd
 * NUL-terminated string; NULL when out of memory. s may be NULL only when len is 0.
 */
char *pal_display(const char *s, size_t len);

/*
 * The display form of len bytes at s written into out (cap bytes, cap >= 1), always
 * NUL-terminated and never cut inside an escape or a character: when it does not fit, as
 * much as fits is written. Returns the number of input bytes shown (len when all of them).
 */
size_t pal_display_buf(const char *s, size_t len, char *out, size_t cap);

#endif
