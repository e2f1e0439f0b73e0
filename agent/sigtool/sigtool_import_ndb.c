/*
 * sigtool_import_ndb.c — owns the translation of ClamAV body signatures (.ndb) into YARA.
 *
 * Carried (each maps to YARA with the same meaning, so that the rule matches exactly the
 * files ClamAV's signature matches in the raw content):
 *   hex pairs; ?? and the nibble wildcards a? ?a; * (any number of bytes) -> [-];
 *   {n} -> [n]; {n-m} -> [n-m]; {-n} -> [0-n]; {n-} -> [n-]; [n-m] -> [n-m];
 *   alternatives (aa|bbcc|??dd) -> ( aa | bb cc | ?? dd )
 *   target 0 (any file); 6 (ELF: \x7fELF, all ClamAV's ELF typing looks at)
 *   offset * (anywhere); n -> at n; n,m -> in (n..n+m); EOF-n -> at filesize-n;
 *   EOF-n,m -> in (filesize-n..filesize-n+m)
 * Not carried (reported by name): negated alternatives !(..), anchors (B) (L) (W),
 * offsets relative to the PE entry point or sections (EP+n, Sx+n, SEx, SL+n), targets whose
 * content ClamAV normalises before matching (HTML, mail, text...) or that need a parser
 * (OLE2, PDF, graphics, Mach-O...), and any rule libyara refuses or warns about (a pattern
 * with too few fixed bytes: the package builder fails on warnings, as it must).
 */
#define _GNU_SOURCE
#include "sigtool_import_ndb.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yara.h>

static int set_why(char *why, size_t whylen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_why(char *why, size_t whylen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return rc;
}

static int is_hexq(char c)
{
    return isxdigit((unsigned char)c) || c == '?';
}

/* Strict decimal; returns the end or NULL. */
static const char *parse_num(const char *s, unsigned long *v)
{
    if (!isdigit((unsigned char)*s))
        return NULL;
    char *end;
    errno = 0;
    *v = strtoul(s, &end, 10);
    if (errno || *v > 0x7fffffffUL)
        return NULL;
    return end;
}

/* One byte pattern "ab", "a?", "?b", "??" at s into out; 0 or NDB_MALFORMED. */
static int byte_pat(const char *s, FILE *out)
{
    if (!is_hexq(s[0]) || !is_hexq(s[1]))
        return NDB_MALFORMED;
    fprintf(out, "%c%c ", s[0], s[1]);
    return 0;
}

int ndb_hex_to_yara(const char *s, FILE *out, char *why, size_t whylen)
{
    size_t fixed = 0;
    while (*s) {
        if (is_hexq(*s)) {
            if (byte_pat(s, out))
                return set_why(why, whylen, NDB_MALFORMED, "\"%.8s\" is not a hex byte", s);
            if (s[0] != '?' && s[1] != '?')
                fixed++;
            s += 2;
        } else if (*s == '*') {
            fputs("[-] ", out);
            s++;
        } else if (*s == '{' || *s == '[') {
            char close = *s == '{' ? '}' : ']';
            const char *p = s + 1;
            unsigned long a = 0, b = 0;
            int has_a = 0, has_b = 0, dash = 0;
            if ((p = parse_num(p, &a)))
                has_a = 1;
            else
                p = s + 1;
            if (*p == '-') {
                dash = 1;
                p++;
                const char *q = parse_num(p, &b);
                if (q) {
                    has_b = 1;
                    p = q;
                }
            }
            if (*p != close || (!has_a && !has_b) || (has_a && has_b && b < a))
                return set_why(why, whylen, NDB_MALFORMED, "bad jump \"%.16s\"", s);
            if (!dash)
                fprintf(out, "[%lu] ", a);
            else if (has_a && has_b)
                fprintf(out, "[%lu-%lu] ", a, b);
            else if (has_b)
                fprintf(out, "[0-%lu] ", b);
            else
                fprintf(out, "[%lu-] ", a);
            s = p + 1;
        } else if (*s == '!' && s[1] == '(') {
            return set_why(why, whylen, NDB_NOT_CARRIED, "negated alternative: no YARA equivalent");
        } else if (*s == '(') {
            const char *end = strchr(s, ')');
            if (!end)
                return set_why(why, whylen, NDB_MALFORMED, "unclosed alternative \"%.16s\"", s);
            if (end - s == 2 && strchr("BLW", s[1]))
                return set_why(why, whylen, NDB_NOT_CARRIED,
                               "anchor (%c): no YARA equivalent in a hex string", s[1]);
            fputs("( ", out);
            for (const char *p = s + 1; p < end;) {
                if (*p == '|') {
                    if (p == s + 1 || p[-1] == '|' || p + 1 == end)
                        return set_why(why, whylen, NDB_MALFORMED, "empty alternative");
                    fputs("| ", out);
                    p++;
                } else if (p + 1 < end && byte_pat(p, out) == 0) {
                    p += 2;
                } else {
                    return set_why(why, whylen, NDB_MALFORMED,
                                   "\"%.8s\" is not a hex byte in an alternative", p);
                }
            }
            fputs(") ", out);
            s = end + 1;
        } else {
            return set_why(why, whylen, NDB_MALFORMED, "\"%.8s\" is not hex", s);
        }
    }
    if (fixed == 0)
        return set_why(why, whylen, NDB_NOT_CARRIED, "no fixed byte outside alternatives");
    return 0;
}

int ndb_offset_cond(const char *off, const char *var, FILE *co, char *why, size_t whylen)
{
    unsigned long a, b;
    const char *e;
    if (strcmp(off, "*") == 0) {
        fputs(var, co);
    } else if ((e = parse_num(off, &a)) && (*e == '\0' || *e == ',')) {
        if (*e == '\0')
            fprintf(co, "%s at %lu", var, a);
        else if ((e = parse_num(e + 1, &b)) && !*e)
            fprintf(co, "%s in (%lu..%lu)", var, a, a + b);
        else
            return set_why(why, whylen, NDB_MALFORMED, "bad offset \"%.32s\"", off);
    } else if (strncmp(off, "EOF-", 4) == 0 && (e = parse_num(off + 4, &a)) &&
               (*e == '\0' || *e == ',')) {
        if (*e == '\0')
            fprintf(co, "%s at filesize - %lu", var, a);
        else if ((e = parse_num(e + 1, &b)) && !*e)
            fprintf(co, "%s in (filesize - %lu..filesize - %lu + %lu)", var, a, a, b);
        else
            return set_why(why, whylen, NDB_MALFORMED, "bad offset \"%.32s\"", off);
    } else if (strncmp(off, "EP", 2) == 0 || off[0] == 'S' || strncmp(off, "VI", 2) == 0) {
        return set_why(why, whylen, NDB_NOT_CARRIED,
                       "offset %.32s: relative to the PE entry point, a section or version info",
                       off);
    } else {
        return set_why(why, whylen, NDB_MALFORMED, "bad offset \"%.32s\"", off);
    }
    return 0;
}

/*
 * Target 1 (PE) is not carried: ClamAV applies it to what its PE parser accepts, and a YARA
 * test of "MZ" and "PE\0\0" would also match files that parser refuses (more matches than
 * ClamAV), while the pe module's notion of a valid PE is not ClamAV's either.
 */
const char *ndb_target_cond(unsigned long target)
{
    switch (target) {
    case 6:
        return "uint32(0) == 0x464C457F";
    }
    return NULL;
}

int ndb_translate(char *line, const char *rule_id, char **rule, const char **name, char *why,
                  size_t whylen)
{
    char *f[7];
    size_t n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < 7; p++)
        if (*p == ':') {
            *p = '\0';
            f[n++] = p + 1;
        }
    *name = f[0];
    if (n < 4 || n > 6)
        return set_why(why, whylen, NDB_MALFORMED,
                       "expected Name:TargetType:Offset:HexSignature[:MinFL[:MaxFL]], got %zu "
                       "fields",
                       n);
    if (!*f[0] || strchr(f[0], '"') || strchr(f[0], '\\'))
        return set_why(why, whylen, NDB_MALFORMED, "bad signature name");
    for (size_t i = 4; i < n; i++) {
        unsigned long v;
        const char *e = parse_num(f[i], &v);
        if (!e || *e)
            return set_why(why, whylen, NDB_MALFORMED,
                           "functionality level \"%.16s\" is not a "
                           "number",
                           f[i]);
    }
    if (n == 6)
        return set_why(why, whylen, NDB_NOT_CARRIED,
                       "a maximum engine level (%s): meant for older ClamAV engines only", f[5]);
    unsigned long target;
    const char *e = parse_num(f[1], &target);
    if (!e || *e)
        return set_why(why, whylen, NDB_MALFORMED, "target type \"%.16s\" is not a number", f[1]);

    char *body = NULL, *cond = NULL;
    size_t body_len = 0, cond_len = 0;
    FILE *bo = open_memstream(&body, &body_len);
    if (!bo)
        return set_why(why, whylen, NDB_MALFORMED, "out of memory");
    int rc = ndb_hex_to_yara(f[3], bo, why, whylen);
    if (fclose(bo) != 0 && rc == 0)
        rc = set_why(why, whylen, NDB_MALFORMED, "out of memory");
    if (rc) {
        free(body);
        return rc;
    }
    /* after the hex check: a malformed pattern is refused whatever the target */
    const char *tcond;
    switch (target) {
    case 0:
        tcond = NULL;
        break;
    case 6:
        tcond = ndb_target_cond(target);
        break;
    default:
        free(body);
        return set_why(why, whylen, NDB_NOT_CARRIED,
                       "target type %lu: ClamAV normalises or parses the content first", target);
    }
    FILE *co = open_memstream(&cond, &cond_len);
    if (!co) {
        free(body);
        return set_why(why, whylen, NDB_MALFORMED, "out of memory");
    }
    rc = ndb_offset_cond(f[2], "$a", co, why, whylen);
    if (tcond)
        fprintf(co, " and %s", tcond);
    if (fclose(co) != 0 && rc == 0)
        rc = set_why(why, whylen, NDB_MALFORMED, "out of memory");
    if (rc == 0 && asprintf(rule,
                            "rule %s\n{\n    meta:\n        threat = \"%s\"\n    strings:\n"
                            "        $a = { %s}\n    condition:\n        %s\n}\n",
                            rule_id, f[0], body, cond) < 0)
        rc = set_why(why, whylen, NDB_MALFORMED, "out of memory");
    free(body);
    free(cond);
    return rc;
}

struct check_ctx {
    char *why;
    size_t whylen;
    int problems;
};

static void check_cb(int level, const char *file, int line, const YR_RULE *rule, const char *msg,
                     void *user)
{
    (void)file;
    (void)line;
    (void)rule;
    struct check_ctx *c = user;
    if (c->problems++ == 0)
        snprintf(c->why, c->whylen, "YARA %s: %s",
                 level == YARA_ERROR_LEVEL_WARNING ? "warning" : "error", msg);
}

int ndb_compile_check(const char *rule, char *why, size_t whylen)
{
    YR_COMPILER *c = NULL;
    if (yr_compiler_create(&c) != ERROR_SUCCESS)
        return set_why(why, whylen, -1, "YARA: out of memory");
    struct check_ctx ctx = {why, whylen, 0};
    yr_compiler_set_callback(c, check_cb, &ctx);
    int errors = yr_compiler_add_string(c, rule, NULL);
    yr_compiler_destroy(c);
    return errors || ctx.problems ? -1 : 0;
}
