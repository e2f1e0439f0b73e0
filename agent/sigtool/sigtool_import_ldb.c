/*
 * sigtool_import_ldb.c — owns the translation of ClamAV logical signatures (.ldb) into YARA:
 * the subset whose meaning YARA has.
 *
 *   Name;TargetDescriptionBlock;LogicalExpression;Subsig0;Subsig1;...
 *
 * Carried: a target description of Engine (an open-ended range: a maximum level means the
 * signature is meant for older engines only), Target 0/6 and FileSize:min-max; subsigs
 * that are hex bodies (the .ndb hex syntax, sigtool_import_ndb.c), optionally with an
 * offset prefix "offset:hex" of the carried offset forms; expressions of subsig indexes,
 * parentheses, & and | (one operator per parenthesis level, as ClamAV writes them), and
 * match counts =N, >N, <N on a subsig without offset or on an |-group of such subsigs
 * (#s0 + #s1 > N). Not carried: other target description keys (EntryPoint,
 * NumberOfSections, Container, Intermediates, IconGroup...), subsig modifiers (::i ::w ::a
 * ::f), PCRE, byte-compare and macro subsigs, counts with a distinct-subsig part (=N,M),
 * and everything the .ndb translation does not carry.
 */
#define _GNU_SOURCE
#include "sigtool_import_ldb.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigtool_import_ndb.h"

#define LDB_MAX_SUBSIGS 64

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

struct parse {
    const char *p;
    unsigned nsub;
    const int *has_off; /* subsig i has an offset: no count on it */
    char *const *cond;  /* YARA condition of subsig i without a count */
    FILE *out;
    char *why;
    size_t whylen;
};

static int num(struct parse *ps, unsigned long *v)
{
    if (!isdigit((unsigned char)*ps->p))
        return set_why(ps->why, ps->whylen, NDB_MALFORMED, "expected a number at \"%.16s\"", ps->p);
    char *end;
    errno = 0;
    *v = strtoul(ps->p, &end, 10);
    if (errno || *v > 0xffffff)
        return set_why(ps->why, ps->whylen, NDB_MALFORMED, "number too large");
    ps->p = end;
    return 0;
}

static int expr(struct parse *ps, FILE *o, unsigned *plain_or, int *n_idx);

/* An optional count after an operand; *count_op 0 when there is none. */
static int count_of(struct parse *ps, char *count_op, unsigned long *n)
{
    *count_op = 0;
    if (*ps->p != '=' && *ps->p != '>' && *ps->p != '<')
        return 0;
    *count_op = *ps->p++;
    int rc = num(ps, n);
    if (rc)
        return rc;
    if (*ps->p == ',')
        return set_why(ps->why, ps->whylen, NDB_NOT_CARRIED,
                       "a count with a distinct-subsignature part (%c%lu,...)", *count_op, *n);
    return 0;
}

static void put_count(FILE *o, char op, unsigned long n)
{
    fprintf(o, " %s %lu", op == '=' ? "==" : op == '>' ? ">" : "<", n);
}

/*
 * operand := INDEX [count] | '(' expr ')' [count]
 * *plain_or is set to 1 when the operand is a lone index without offset or count (it may be
 * summed in a group count); *idx receives it.
 */
static int operand(struct parse *ps, FILE *o, int *lone_idx)
{
    char *sub = NULL;
    size_t sub_len = 0;
    *lone_idx = -1;
    if (*ps->p == '(') {
        ps->p++;
        FILE *so = open_memstream(&sub, &sub_len);
        if (!so)
            return set_why(ps->why, ps->whylen, NDB_MALFORMED, "out of memory");
        unsigned plain_or = 0;
        int n_idx = 0;
        int rc = expr(ps, so, &plain_or, &n_idx);
        fclose(so);
        if (!rc && *ps->p != ')')
            rc = set_why(ps->why, ps->whylen, NDB_MALFORMED, "missing ) in the expression");
        if (rc) {
            free(sub);
            return rc;
        }
        ps->p++;
        char op;
        unsigned long n;
        if ((rc = count_of(ps, &op, &n))) {
            free(sub);
            return rc;
        }
        if (op) {
            if (!plain_or) {
                free(sub);
                return set_why(ps->why, ps->whylen, NDB_NOT_CARRIED,
                               "a count on a group that is not an |-list of subsignatures");
            }
            /* the group's text is "$s0 or $s1 ...": sum the counts instead */
            fputs("(", o);
            const char *q = sub;
            int first = 1;
            while ((q = strchr(q, '$'))) {
                unsigned long i = strtoul(q + 2, NULL, 10);
                fprintf(o, "%s#s%lu", first ? "" : " + ", i);
                first = 0;
                q++;
            }
            fputs(")", o);
            put_count(o, op, n);
        } else {
            fprintf(o, "(%s)", sub);
        }
        free(sub);
        return 0;
    }
    unsigned long i;
    int rc = num(ps, &i);
    if (rc)
        return rc;
    if (i >= ps->nsub)
        return set_why(ps->why, ps->whylen, NDB_MALFORMED,
                       "the expression names subsignature %lu of %u", i, ps->nsub);
    char op;
    unsigned long n;
    if ((rc = count_of(ps, &op, &n)))
        return rc;
    if (op) {
        if (ps->has_off[i])
            return set_why(ps->why, ps->whylen, NDB_NOT_CARRIED,
                           "a count on subsignature %lu, which has an offset", i);
        fprintf(o, "#s%lu", i);
        put_count(o, op, n);
        return 0;
    }
    fputs(ps->cond[i], o);
    if (!ps->has_off[i])
        *lone_idx = (int)i;
    return 0;
}

/* expr := operand { op operand } with one operator kind per level. */
static int expr(struct parse *ps, FILE *o, unsigned *plain_or, int *n_idx)
{
    char kind = 0;
    int all_lone = 1, lone;
    int rc = operand(ps, o, &lone);
    if (rc)
        return rc;
    all_lone &= lone >= 0;
    *n_idx = 1;
    while (*ps->p == '&' || *ps->p == '|') {
        char op = *ps->p++;
        if (kind && op != kind)
            return set_why(ps->why, ps->whylen, NDB_NOT_CARRIED,
                           "& and | mixed without parentheses");
        kind = op;
        fputs(op == '&' ? " and " : " or ", o);
        if ((rc = operand(ps, o, &lone)))
            return rc;
        all_lone &= lone >= 0;
        (*n_idx)++;
    }
    *plain_or = all_lone && (kind == '|' || kind == 0);
    return 0;
}

int ldb_translate(char *line, const char *rule_id, char **rule, const char **name, char *why,
                  size_t whylen)
{
    char *f[3 + LDB_MAX_SUBSIGS + 1];
    size_t n = 0;
    f[n++] = line;
    for (char *p = line; *p; p++)
        if (*p == ';') {
            if (n == sizeof(f) / sizeof(f[0]))
                return set_why(why, whylen, NDB_MALFORMED, "more than %d subsignatures",
                               LDB_MAX_SUBSIGS);
            *p = '\0';
            f[n++] = p + 1;
        }
    *name = f[0];
    if (n < 4)
        return set_why(why, whylen, NDB_MALFORMED,
                       "expected Name;TargetDescription;Expression;Subsig..., got %zu fields", n);
    if (!*f[0] || strchr(f[0], '"') || strchr(f[0], '\\'))
        return set_why(why, whylen, NDB_MALFORMED, "bad signature name");
    unsigned nsub = (unsigned)(n - 3);

    /* target description block */
    const char *tcond = NULL;
    unsigned long fs_min = 0, fs_max = 0;
    int have_target = 0, have_fs = 0, have_engine = 0;
    for (char *kv = f[1], *next; kv && *kv; kv = next) {
        next = strchr(kv, ',');
        if (next)
            *next++ = '\0';
        char *colon = strchr(kv, ':');
        if (!colon)
            return set_why(why, whylen, NDB_MALFORMED, "target description \"%.32s\"", kv);
        *colon = '\0';
        const char *v = colon + 1;
        char *end;
        if (strcmp(kv, "Target") == 0) {
            unsigned long t = strtoul(v, &end, 10);
            if (end == v || *end)
                return set_why(why, whylen, NDB_MALFORMED, "Target \"%.16s\"", v);
            if (t != 0 && !ndb_target_cond(t))
                return set_why(why, whylen, NDB_NOT_CARRIED,
                               "target type %lu: ClamAV normalises or parses the content first", t);
            tcond = ndb_target_cond(t);
            have_target = 1;
        } else if (strcmp(kv, "Engine") == 0) {
            have_engine = 1;
            const char *dash = strchr(v, '-');
            if (dash && dash[1] && strtoul(dash + 1, NULL, 10) < 255)
                return set_why(why, whylen, NDB_NOT_CARRIED,
                               "engine range %s: meant for older ClamAV engines only", v);
        } else if (strcmp(kv, "FileSize") == 0) {
            fs_min = strtoul(v, &end, 10);
            if (end == v || *end != '-' || !isdigit((unsigned char)end[1]))
                return set_why(why, whylen, NDB_MALFORMED, "FileSize \"%.32s\"", v);
            fs_max = strtoul(end + 1, &end, 10);
            if (*end || fs_max < fs_min)
                return set_why(why, whylen, NDB_MALFORMED, "FileSize \"%.32s\"", v);
            have_fs = 1;
        } else {
            return set_why(why, whylen, NDB_NOT_CARRIED,
                           "target description %s: no YARA equivalent carried", kv);
        }
    }
    if (!have_target)
        return set_why(why, whylen, NDB_MALFORMED, "no Target in the target description");
    if (have_fs && !have_engine) /* ClamAV refuses the database then: so do we */
        return set_why(why, whylen, NDB_MALFORMED, "FileSize without an Engine attribute");

    /* subsignatures */
    char *strings = NULL, *conds[LDB_MAX_SUBSIGS] = {0};
    int has_off[LDB_MAX_SUBSIGS] = {0};
    size_t strings_len = 0;
    FILE *so = open_memstream(&strings, &strings_len);
    if (!so)
        return set_why(why, whylen, NDB_MALFORMED, "out of memory");
    int rc = 0;
    for (unsigned i = 0; i < nsub && !rc; i++) {
        char *s = f[3 + i];
        if (strstr(s, "::"))
            rc = set_why(why, whylen, NDB_NOT_CARRIED, "subsignature %u has modifiers", i);
        else if (strchr(s, '/'))
            rc = set_why(why, whylen, NDB_NOT_CARRIED, "subsignature %u is a PCRE", i);
        else if (strchr(s, '#') || strchr(s, '$'))
            rc = set_why(why, whylen, NDB_NOT_CARRIED,
                         "subsignature %u is a byte compare or a macro", i);
        if (rc)
            break;
        char *colon = strchr(s, ':');
        const char *hex = s, *off = "*";
        if (colon) {
            *colon = '\0';
            off = s;
            hex = colon + 1;
        }
        fprintf(so, "        $s%u = { ", i);
        if ((rc = ndb_hex_to_yara(hex, so, why, whylen)))
            break;
        fputs("}\n", so);
        char var[16];
        snprintf(var, sizeof(var), "$s%u", i);
        size_t cl = 0;
        FILE *co = open_memstream(&conds[i], &cl);
        if (!co) {
            rc = set_why(why, whylen, NDB_MALFORMED, "out of memory");
            break;
        }
        rc = ndb_offset_cond(off, var, co, why, whylen);
        fclose(co);
        has_off[i] = strcmp(off, "*") != 0;
        if (!rc && has_off[i]) { /* parenthesised, so that it composes */
            char *p = NULL;
            if (asprintf(&p, "(%s)", conds[i]) < 0) {
                rc = set_why(why, whylen, NDB_MALFORMED, "out of memory");
            } else {
                free(conds[i]);
                conds[i] = p;
            }
        }
    }
    fclose(so);

    char *cond = NULL;
    size_t cond_len = 0;
    if (!rc) {
        FILE *co = open_memstream(&cond, &cond_len);
        if (!co) {
            rc = set_why(why, whylen, NDB_MALFORMED, "out of memory");
        } else {
            struct parse ps = {f[2], nsub, has_off, conds, co, why, whylen};
            unsigned plain_or;
            int n_idx;
            fputs("(", co);
            rc = expr(&ps, co, &plain_or, &n_idx);
            if (!rc && *ps.p)
                rc = set_why(why, whylen, NDB_MALFORMED, "unexpected \"%.16s\" in the expression",
                             ps.p);
            fputs(")", co);
            if (tcond)
                fprintf(co, " and %s", tcond);
            if (have_fs)
                fprintf(co, " and filesize >= %lu and filesize <= %lu", fs_min, fs_max);
            fclose(co);
        }
    }
    if (!rc && asprintf(rule,
                        "rule %s\n{\n    meta:\n        threat = \"%s\"\n    strings:\n%s"
                        "    condition:\n        %s\n}\n",
                        rule_id, f[0], strings, cond) < 0)
        rc = set_why(why, whylen, NDB_MALFORMED, "out of memory");
    free(strings);
    free(cond);
    for (unsigned i = 0; i < nsub && i < LDB_MAX_SUBSIGS; i++)
        free(conds[i]);
    return rc;
}
