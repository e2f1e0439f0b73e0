/*
 * sigtool_import_yara.c — owns making a public YARA rule file acceptable to the package
 * builder: compile it alone the way the builder compiles (no include, no external variable,
 * warnings are failures), and give each public rule a `threat` meta when it has none, by
 * inserting one into the source text.
 *
 * The insertion needs to find each rule's opening brace, so a small lexer walks the source
 * skipping comments, text strings and regular expressions (braces inside them are not
 * structure). Which rules need a threat comes from libyara's view of the compiled file, not
 * from the lexer; the rewritten file is compiled again and must yield the same rules, each
 * with exactly one threat, so a lexer mistake fails the file instead of changing a rule.
 */
#define _GNU_SOURCE
#include "sigtool_import_yara.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yara.h>

struct cctx {
    char *why;
    size_t whylen;
    const char *path;
    int problems;
    int have_error; /* why holds an error, which a later message does not replace */
};

static void compile_cb(int level, const char *file, int line, const YR_RULE *rule, const char *msg,
                       void *user)
{
    (void)file;
    struct cctx *c = user;
    int is_error = level != YARA_ERROR_LEVEL_WARNING;
    if (c->problems++ == 0 || (is_error && !c->have_error))
        c->have_error |= is_error,
            snprintf(c->why, c->whylen, "%s:%d: %s%s%s: %s", c->path, line, rule ? "rule " : "",
                     rule ? rule->identifier : "",
                     level == YARA_ERROR_LEVEL_WARNING ? " warning" : " error", msg);
}

/* Compile source alone; *rules on success (caller destroys), 1 with why otherwise. */
static int compile_alone(const char *path, const char *source, YR_RULES **rules, char *why,
                         size_t whylen)
{
    YR_COMPILER *c = NULL;
    if (yr_compiler_create(&c) != ERROR_SUCCESS)
        return -1;
    /* the builder refuses includes: so does the check (a NULL callback disables them) */
    yr_compiler_set_include_callback(c, NULL, NULL, NULL);
    struct cctx ctx = {why, whylen, path, 0, 0};
    yr_compiler_set_callback(c, compile_cb, &ctx);
    int errors = yr_compiler_add_string(c, source, NULL);
    int rc = 0;
    if (errors || ctx.problems)
        rc = 1;
    else if (yr_compiler_get_rules(c, rules) != ERROR_SUCCESS)
        rc = -1;
    yr_compiler_destroy(c);
    return rc;
}

static const char *rule_threat(const YR_RULE *rule, int *count)
{
    const YR_META *meta;
    const char *t = NULL;
    *count = 0;
    yr_rule_metas_foreach(rule, meta)
    {
        if (strcmp(meta->identifier, "threat") == 0) {
            (*count)++;
            t = meta->type == META_TYPE_STRING ? meta->string : NULL;
        }
    }
    return t;
}

/* Skip whitespace and comments from p; returns the next significant position. */
static const char *skip_ws(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            p = e ? e + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

static int is_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/*
 * Rewrite: for each rule in need[] (identifiers), insert the threat meta after its '{'.
 * Returns the new text or NULL (out of memory or a rule not found).
 */
static char *insert_threats(const char *src, const char **need, size_t n_need)
{
    char *out = NULL;
    size_t out_len = 0;
    FILE *o = open_memstream(&out, &out_len);
    if (!o)
        return NULL;
    size_t found = 0;
    const char *p = src, *copied = src;
    int depth = 0;
    char prev_sig = 0; /* the last significant character, to tell a regex from a division */
    while (*p) {
        if ((p[0] == '/' && (p[1] == '/' || p[1] == '*'))) {
            p = skip_ws(p);
            continue;
        }
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p)
                p++;
            prev_sig = '"';
            continue;
        }
        if (*p == '/' && depth > 0 && prev_sig == '=') {
            for (p++; *p && *p != '/' && *p != '\n'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p == '/')
                p++;
            prev_sig = '/';
            continue;
        }
        if (*p == '{') {
            depth++;
            p++;
            prev_sig = '{';
            continue;
        }
        if (*p == '}') {
            depth--;
            p++;
            prev_sig = '}';
            continue;
        }
        if (depth == 0 && strncmp(p, "rule", 4) == 0 && !is_ident(p[4]) &&
            (p == src || !is_ident(p[-1]))) {
            const char *q = skip_ws(p + 4);
            const char *id = q;
            while (is_ident(*q))
                q++;
            size_t idl = (size_t)(q - id);
            const char *brace = q;
            while (*brace && *brace != '{') /* tags: identifiers only */
                brace++;
            if (!*brace)
                break;
            int wanted = 0;
            for (size_t i = 0; i < n_need && idl; i++)
                if (strlen(need[i]) == idl && strncmp(need[i], id, idl) == 0)
                    wanted = 1;
            if (wanted) {
                const char *after = brace + 1;
                const char *m = skip_ws(after);
                fwrite(copied, 1, (size_t)(after - copied), o);
                if (strncmp(m, "meta", 4) == 0 && *skip_ws(m + 4) == ':') {
                    const char *colon = skip_ws(m + 4);
                    fwrite(after, 1, (size_t)(colon + 1 - after), o);
                    fprintf(o, "\n        threat = \"YARA.%.*s\"", (int)idl, id);
                    copied = colon + 1;
                } else {
                    fprintf(o, "\n    meta:\n        threat = \"YARA.%.*s\"", (int)idl, id);
                    copied = after;
                }
                found++;
            }
            p = brace + 1;
            depth = 1;
            prev_sig = '{';
            continue;
        }
        if (!isspace((unsigned char)*p))
            prev_sig = *p;
        p++;
    }
    fputs(copied, o);
    if (fclose(o) != 0 || found != n_need) {
        free(out);
        return NULL;
    }
    return out;
}

int yara_prepare(const char *path, const char *source, yara_rule_fn fn, void *user, char **out,
                 char *why, size_t whylen)
{
    YR_RULES *rules = NULL, *again = NULL;
    const char **need = NULL;
    size_t n_need = 0, n_public = 0;
    char *text = NULL;
    int rc = compile_alone(path, source, &rules, why, whylen);
    if (rc)
        return rc;
    const YR_RULE *rule;
    yr_rules_foreach(rules, rule) n_public += !RULE_IS_PRIVATE(rule);
    need = calloc(n_public ? n_public : 1, sizeof(*need));
    if (!need) {
        rc = -1;
        goto out;
    }
    yr_rules_foreach(rules, rule)
    {
        if (RULE_IS_PRIVATE(rule))
            continue;
        int count;
        const char *t = rule_threat(rule, &count);
        if (count > 1 || (count == 1 && !t)) {
            rc = 1;
            snprintf(why, whylen, "%s: rule %s: its threat meta is not one string", path,
                     rule->identifier);
            goto out;
        }
        if (fn(user, rule->identifier, NULL, 0)) {
            rc = 1;
            snprintf(why, whylen, "%s: rule %s: identifier already used by an earlier file", path,
                     rule->identifier);
            goto out;
        }
        if (count == 0)
            need[n_need++] = rule->identifier;
    }
    text = n_need ? insert_threats(source, need, n_need) : strdup(source);
    if (!text) {
        rc = 1;
        snprintf(why, whylen, "%s: could not insert the threat meta of %zu rules", path, n_need);
        goto out;
    }
    rc = compile_alone(path, text, &again, why, whylen);
    if (rc)
        goto out;
    size_t n_again = 0;
    yr_rules_foreach(again, rule)
    {
        if (RULE_IS_PRIVATE(rule))
            continue;
        int count;
        const char *t = rule_threat(rule, &count);
        n_again++;
        if (count != 1 || !t) {
            rc = 1;
            snprintf(why, whylen, "%s: rule %s: threat meta not inserted", path, rule->identifier);
            goto out;
        }
    }
    if (n_again != n_public) {
        rc = 1;
        snprintf(why, whylen, "%s: rewriting changed the rules", path);
        goto out;
    }
    yr_rules_foreach(again, rule)
    {
        if (RULE_IS_PRIVATE(rule))
            continue;
        int count;
        if (fn(user, rule->identifier, rule_threat(rule, &count), 1)) {
            rc = -1;
            goto out;
        }
    }
    *out = text;
    text = NULL;
out:
    free(text);
    free(need);
    if (rules)
        yr_rules_destroy(rules);
    if (again)
        yr_rules_destroy(again);
    return rc;
}
