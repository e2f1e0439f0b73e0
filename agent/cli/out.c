/* out.c — the palisade CLI's output helpers (see out.h). */
#include "out.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "display.h"
#include "msg.h"

void out_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

char *out_safe(const char *s)
{
    if (!s)
        s = "-";
    return pal_display(s, strlen(s));
}

size_t out_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

/* A JSON value as exact text: strings as they are, null as "-", others compact JSON. */
static char *value_text(const json_t *v)
{
    if (!v || json_is_null(v))
        return strdup("-");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : strdup("?");
}

char *out_text(const json_t *obj, const char *key)
{
    char b64key[80];
    int n = snprintf(b64key, sizeof(b64key), "%s_b64", key);
    const json_t *b = n > 0 && (size_t)n < sizeof(b64key) ? json_object_get(obj, b64key) : NULL;
    if (json_is_string(b)) {
        unsigned char *raw;
        size_t len;
        /* a path that is not UTF-8: its exact bytes, never NUL (msg.h) */
        if (pal_b64_decode(json_string_value(b), json_string_length(b), &raw, &len) == 0) {
            if (!memchr(raw, '\0', len))
                return (char *)raw;
            free(raw);
        }
    }
    return value_text(json_object_get(obj, key));
}

char *out_path(const json_t *obj, const char *key)
{
    char *raw = out_text(obj, key);
    char *safe = out_safe(raw ? raw : "?");
    free(raw);
    return safe;
}

char *out_value(const json_t *v)
{
    char *text = value_text(v);
    char *safe = out_safe(text ? text : "?");
    free(text);
    return safe;
}

void out_bytes(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1000.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
}

bool out_json_errors;

/* {"error": {"code": code, "message": message}} on stdout: a script reading --json output
   always gets one document, also when the command failed (palisade(1), JSON ERRORS). */
static void json_error_doc(const char *code, const char *message)
{
    json_t *doc = json_pack("{s:{s:s, s:s?}}", "error", "code", code, "message", message);
    if (!doc) /* message not UTF-8 (it is the agent's or an argument's text) */
        doc = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message",
                        "(message not valid UTF-8)");
    if (doc)
        out_json(doc);
    json_decref(doc);
}

int out_fail(const char *code, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (out_json_errors) {
        json_error_doc(code, buf);
    } else {
        char *safe = out_safe(buf);
        fprintf(stderr, "palisade: %s\n", safe ? safe : buf);
        free(safe);
    }
    return EXIT_ERROR;
}

int out_error(palisade *h)
{
    const char *code = palisade_error_code(h);
    const char *msg = palisade_error_string(h);
    if (out_json_errors) {
        json_error_doc(code ? code : "Internal", msg ? msg : "unknown error");
        return EXIT_ERROR;
    }
    char *safe = out_safe(msg ? msg : "unknown error");
    fprintf(stderr, "palisade: %s: %s\n", code ? code : "Internal", safe ? safe : "");
    free(safe);
    return EXIT_ERROR;
}

int out_usage_error(const char *fmt, ...)
{
    va_list ap;
    if (out_json_errors) {
        char buf[2048];
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        json_error_doc("Usage", buf);
        return EXIT_ERROR;
    }
    fputs("palisade: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see palisade help)\n", stderr);
    return EXIT_ERROR;
}

struct out_table {
    size_t ncols;
    size_t nrows; /* including the header row */
    size_t cap;
    char **cells; /* nrows * ncols, terminal-safe copies */
};

out_table *out_table_new(size_t ncols, const char *const *headers)
{
    out_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ncols = ncols;
    out_table_add(t, headers);
    return t;
}

void out_table_add(out_table *t, const char *const *cells)
{
    if (!t)
        return;
    if (t->nrows == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        char **n = realloc(t->cells, ncap * t->ncols * sizeof(*n));
        if (!n)
            return;
        t->cells = n;
        t->cap = ncap;
    }
    for (size_t c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = out_safe(cells[c]);
    t->nrows++;
}

void out_table_print(const out_table *t, FILE *f)
{
    if (!t)
        return;
    size_t *w = calloc(t->ncols, sizeof(*w));
    if (!w)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t cw = s ? out_width(s) : 0;
            if (cw > w[c])
                w[c] = cw;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (!s)
                s = "";
            fputs(s, f);
            if (c + 1 < t->ncols)
                for (size_t k = out_width(s); k < w[c] + 2; k++)
                    fputc(' ', f);
        }
        fputc('\n', f);
    }
    free(w);
}

void out_table_free(out_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void out_fields(const json_t *obj, FILE *f)
{
    size_t w = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)obj, key, v)
    {
        if (strlen(key) > w)
            w = strlen(key);
    }
    json_object_foreach((json_t *)(uintptr_t)obj, key, v)
    {
        char *k = out_safe(key);
        char *raw = out_text(obj, key);
        char *s = out_safe(raw ? raw : "?");
        free(raw);
        fprintf(f, "%s:%*s %s\n", k ? k : "?", (int)(w - strlen(key)), "", s ? s : "?");
        free(k);
        free(s);
    }
}

int out_call(palisade **h, const char *socket, const char *op, json_t *args, json_t **res)
{
    char *text = args ? json_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    if (!*h && !(*h = palisade_new())) {
        free(text);
        return out_fail("OutOfMemory", "out of memory");
    }
    if (palisade_connect(*h, socket) != PALISADE_OK) {
        free(text);
        return out_error(*h);
    }
    char *out = NULL;
    int prc = palisade_call(*h, op, text, &out);
    free(text);
    if (prc != PALISADE_OK)
        return out_error(*h);
    json_error_t je;
    *res = json_loads(out, 0, &je);
    palisade_free_string(out);
    if (!*res)
        return out_fail(PAL_CODE_PROTOCOL_ERROR, "unreadable answer to %s", op);
    return EXIT_OK;
}

void out_items(const json_t *res, const char *const *keys, const char *const *headers, size_t n)
{
    const json_t *items = json_object_get(res, "items");
    if (json_array_size(items) == 0) {
        puts("(none)");
        return;
    }
    out_table *t = out_table_new(n, headers);
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it)
    {
        char *cells[16] = {0};
        for (size_t k = 0; k < n && k < 16; k++)
            cells[k] = out_text(it, keys[k]);
        out_table_add(t, (const char *const *)cells);
        for (size_t k = 0; k < n && k < 16; k++)
            free(cells[k]);
    }
    out_table_print(t, stdout);
    out_table_free(t);
}
