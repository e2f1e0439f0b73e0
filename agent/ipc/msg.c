/* msg.c — control-protocol envelopes, field getters, times and paths (see msg.h). */
#include "msg.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OP_NAME_MAX 64
#define PATH_KEY_MAX 64

/* ---- error codes ------------------------------------------------------------------------ */

static const char *const protocol_codes[] = {
    PAL_CODE_PROTOCOL_ERROR, PAL_CODE_VERSION_MISMATCH,
    PAL_CODE_UNKNOWN_OP,     PAL_CODE_BAD_REQUEST,
    PAL_CODE_ACCESS_DENIED,  PAL_CODE_POLICY_LOCKED,
    PAL_CODE_INVALID_VALUE,  PAL_CODE_NOT_FOUND,
    PAL_CODE_EXISTS,         PAL_CODE_REFUSED,
    PAL_CODE_BUSY,           PAL_CODE_INTERNAL,
};

bool pal_code_is_protocol(const char *code)
{
    if (!code)
        return false;
    for (size_t i = 0; i < sizeof(protocol_codes) / sizeof(protocol_codes[0]); i++)
        if (strcmp(code, protocol_codes[i]) == 0)
            return true;
    return false;
}

const char *pal_code_for_err(int err)
{
    switch (err) {
    case PAL_ENOTFOUND:
        return PAL_CODE_NOT_FOUND;
    case PAL_EEXIST:
        return PAL_CODE_EXISTS;
    case PAL_EPERM:
        return PAL_CODE_ACCESS_DENIED;
    case PAL_EPOLICY:
        return PAL_CODE_POLICY_LOCKED;
    case PAL_EINVAL:
        return PAL_CODE_INVALID_VALUE;
    case PAL_ERACE:
    case PAL_EFORMAT:
    case PAL_EVERSION:
    case PAL_ESIGNATURE:
    case PAL_EUNKNOWNKEY:
    case PAL_ELIMIT:
    case PAL_ESTATE:
        return PAL_CODE_REFUSED;
    default:
        return PAL_CODE_INTERNAL;
    }
}

/* A path travels as a plain string only when it is valid UTF-8 without NUL (jansson peers
   reject \u0000). */
static bool path_is_plain(const char *s, size_t len)
{
    return memchr(s, '\0', len) == NULL && pal_utf8_valid(s, len);
}

char *pal_path_display(const char *path, size_t len)
{
    if (len > (SIZE_MAX - 1) / 4)
        return NULL;
    char *out = malloc(len * 4 + 1);
    if (!out)
        return NULL;
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)path;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t n = p[i] == 0 ? 0 : pal_utf8_seq(p + i, len - i, NULL);
        if (n == 0) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[p[i] >> 4];
            out[o++] = hex[p[i] & 15];
            i++;
        } else {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- base64 ----------------------------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pal_b64_encode(const void *data, size_t len)
{
    if (len > (SIZE_MAX / 4) * 3 - 3)
        return NULL;
    size_t olen = (len + 2) / 3 * 4;
    char *out = malloc(olen + 1);
    if (!out)
        return NULL;
    const unsigned char *p = data;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8);
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int pal_b64_decode(const char *s, size_t slen, unsigned char **out, size_t *len)
{
    if (slen % 4 != 0)
        return PAL_EFORMAT;
    size_t pad = 0;
    if (slen >= 4 && s[slen - 1] == '=')
        pad = s[slen - 2] == '=' ? 2 : 1;
    size_t olen = slen / 4 * 3 - pad;
    unsigned char *buf = malloc(olen + 1);
    if (!buf)
        return PAL_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < slen; i += 4) {
        bool last = i + 4 == slen;
        size_t valid = last ? 4 - pad : 4;
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            int d = 0;
            if (k < valid) {
                d = b64_value((unsigned char)s[i + k]);
                if (d < 0)
                    goto bad;
            } else if (s[i + k] != '=') {
                goto bad;
            }
            v = (v << 6) | (uint32_t)d;
        }
        /* Unused bits must be zero so that every byte string has one encoding. */
        if ((pad == 1 && last && (v & 0xFF)) || (pad == 2 && last && (v & 0xFFFF)))
            goto bad;
        buf[o++] = (unsigned char)(v >> 16);
        if (valid > 2)
            buf[o++] = (unsigned char)(v >> 8);
        if (valid > 3)
            buf[o++] = (unsigned char)v;
    }
    buf[o] = '\0';
    *out = buf;
    *len = o;
    return 0;
bad:
    free(buf);
    return PAL_EFORMAT;
}

/* ---- envelopes -------------------------------------------------------------------------- */

json_t *pal_msg_request(json_int_t id, const char *op, json_t *args)
{
    json_t *m = json_object();
    if (!m || json_object_set_new(m, "id", json_integer(id)) < 0 ||
        json_object_set_new(m, "op", json_string(op)) < 0)
        goto fail;
    if (args && json_object_set_new(m, "args", args) < 0) {
        args = NULL; /* set_new consumed it */
        goto fail;
    }
    return m;
fail:
    json_decref(args);
    json_decref(m);
    return NULL;
}

json_t *pal_msg_result(json_int_t id, json_t *result)
{
    json_t *m = json_object();
    if (!m || !result) {
        json_decref(m);
        json_decref(result);
        return NULL;
    }
    if (json_object_set_new(m, "id", json_integer(id)) < 0 ||
        json_object_set_new(m, "result", result) < 0) {
        json_decref(m);
        return NULL;
    }
    return m;
}

json_t *pal_msg_error(json_int_t id, const char *code, const char *message)
{
    if (!message)
        message = "";
    json_t *msg;
    size_t mlen = strlen(message);
    if (pal_utf8_valid(message, mlen)) {
        msg = json_stringn(message, mlen);
    } else {
        char *d = pal_path_display(message, mlen);
        msg = d ? json_string(d) : NULL;
        free(d);
    }
    json_t *e = json_object();
    json_t *m = json_object();
    if (!msg || !e || !m)
        goto fail;
    if (json_object_set_new(e, "code", json_string(code)) < 0 ||
        json_object_set_new(e, "message", msg) < 0) {
        msg = NULL;
        goto fail;
    }
    msg = NULL;
    if (json_object_set_new(m, "id", id < 0 ? json_null() : json_integer(id)) < 0 ||
        json_object_set_new(m, "error", e) < 0) {
        e = NULL;
        goto fail;
    }
    return m;
fail:
    json_decref(msg);
    json_decref(e);
    json_decref(m);
    return NULL;
}

json_t *pal_msg_event(json_int_t id, const char *name, json_t *data)
{
    if (!data)
        data = json_object();
    json_t *m = json_object();
    if (!m || !data)
        goto fail;
    if (json_object_set_new(m, "id", json_integer(id)) < 0 ||
        json_object_set_new(m, "event", json_string(name)) < 0)
        goto fail;
    if (json_object_set_new(m, "data", data) < 0) {
        data = NULL;
        goto fail;
    }
    return m;
fail:
    json_decref(data);
    json_decref(m);
    return NULL;
}

int pal_msg_envelope_id(const json_t *msg, json_int_t *id)
{
    const json_t *v = json_object_get(msg, "id");
    if (!json_is_integer(v))
        return PAL_EPROTO;
    json_int_t n = json_integer_value(v);
    if (n < 0 || n > PAL_MSG_ID_MAX)
        return PAL_EPROTO;
    *id = n;
    return 0;
}

int pal_msg_parse_request(const json_t *msg, json_int_t *id, const char **op, const json_t **args,
                          pal_errbuf *err)
{
    json_int_t n;
    if (pal_msg_envelope_id(msg, &n) < 0)
        return pal_err_set(err, PAL_EPROTO, "field 'id' must be an integer from 0 to 2^53");
    const json_t *o = json_object_get(msg, "op");
    if (!json_is_string(o) || json_string_length(o) == 0 || json_string_length(o) > OP_NAME_MAX ||
        strlen(json_string_value(o)) != json_string_length(o))
        return pal_err_set(err, PAL_EPROTO, "field 'op' must be a non-empty string");
    const json_t *a = json_object_get(msg, "args");
    if (json_is_null(a))
        a = NULL;
    if (a && !json_is_object(a))
        return pal_err_set(err, PAL_EPROTO, "field 'args' must be an object");
    *id = n;
    *op = json_string_value(o);
    *args = a;
    return 0;
}

int pal_msg_parse_response(const json_t *msg, pal_msg_kind *kind, json_int_t *id, pal_errbuf *err)
{
    const json_t *r = json_object_get(msg, "result");
    const json_t *e = json_object_get(msg, "error");
    const json_t *ev = json_object_get(msg, "event");
    int count = (r != NULL) + (e != NULL) + (ev != NULL);
    if (count != 1)
        return pal_err_set(err, PAL_EPROTO,
                           "message must have exactly one of result, error, event");
    json_int_t n = -1;
    const json_t *idv = json_object_get(msg, "id");
    if (json_is_null(idv) && e) {
        n = -1;
    } else if (pal_msg_envelope_id(msg, &n) < 0) {
        return pal_err_set(err, PAL_EPROTO, "message id must be an integer from 0 to 2^53");
    }
    pal_msg_kind k;
    if (r) {
        if (!json_is_object(r))
            return pal_err_set(err, PAL_EPROTO, "result must be an object");
        k = PAL_MSG_RESULT;
    } else if (e) {
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "code")) ||
            !json_is_string(json_object_get(e, "message")))
            return pal_err_set(err, PAL_EPROTO,
                               "error must be an object with string code and message");
        k = PAL_MSG_ERROR;
    } else {
        if (!json_is_string(ev) || !json_is_object(json_object_get(msg, "data")))
            return pal_err_set(err, PAL_EPROTO, "event must be a string with an object data");
        k = PAL_MSG_EVENT;
    }
    *kind = k;
    *id = n;
    return 0;
}

/* ---- typed getters ---------------------------------------------------------------------- */

/* Shared start of every getter: 0 with *v, 1 when absent and allowed to be, or PAL_EINVAL. */
static int field(const json_t *obj, const char *name, unsigned flags, const json_t **v,
                 pal_errbuf *err)
{
    const json_t *x = json_is_object(obj) ? json_object_get(obj, name) : NULL;
    if (x && json_is_null(x) && (flags & PAL_MSG_NULLABLE))
        x = NULL;
    if (!x) {
        if (flags & PAL_MSG_REQUIRED)
            return pal_err_set(err, PAL_EINVAL, "missing field '%s'", name);
        return 1;
    }
    *v = x;
    return 0;
}

int pal_msg_get_int(const json_t *obj, const char *name, unsigned flags, json_int_t min,
                    json_int_t max, json_int_t *out, pal_errbuf *err)
{
    const json_t *v = NULL;
    int rc = field(obj, name, flags, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_integer(v))
        return pal_err_set(err, PAL_EINVAL, "field '%s' must be an integer", name);
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        if (max == PAL_MSG_INT_MAX)
            return pal_err_set(err, PAL_EINVAL, "field '%s' must be at least %lld", name,
                               (long long)min);
        return pal_err_set(err, PAL_EINVAL, "field '%s' must be between %lld and %lld", name,
                           (long long)min, (long long)max);
    }
    *out = n;
    return 0;
}

int pal_msg_get_bool(const json_t *obj, const char *name, unsigned flags, bool *out,
                     pal_errbuf *err)
{
    const json_t *v = NULL;
    int rc = field(obj, name, flags, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_boolean(v))
        return pal_err_set(err, PAL_EINVAL, "field '%s' must be true or false", name);
    *out = json_is_true(v);
    return 0;
}

int pal_msg_get_string(const json_t *obj, const char *name, unsigned flags, const char **out,
                       pal_errbuf *err)
{
    const json_t *v = NULL;
    int rc = field(obj, name, flags, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return pal_err_set(err, PAL_EINVAL, "field '%s' must be a string", name);
    if ((flags & PAL_MSG_NONEMPTY) && json_string_length(v) == 0)
        return pal_err_set(err, PAL_EINVAL, "field '%s' must not be empty", name);
    *out = json_string_value(v);
    return 0;
}

int pal_msg_get_name(const json_t *obj, const char *name, unsigned flags, const char *const *names,
                     size_t n, int *out, pal_errbuf *err)
{
    const char *s;
    int rc = pal_msg_get_string(obj, name, flags & ~PAL_MSG_NONEMPTY, &s, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (names[i] && strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    if (err) {
        int len = snprintf(err->msg, sizeof(err->msg), "field '%s' must be one of ", name);
        const char *sep = "";
        for (size_t i = 0; i < n && len >= 0 && (size_t)len < sizeof(err->msg); i++) {
            if (!names[i])
                continue;
            len += snprintf(err->msg + len, sizeof(err->msg) - (size_t)len, "%s%s", sep, names[i]);
            sep = ", ";
        }
    }
    return PAL_EINVAL;
}

int pal_msg_get_enum(const json_t *obj, const char *name, unsigned flags, const char *const *names,
                     int *out, pal_errbuf *err)
{
    size_t n = 0;
    while (names[n])
        n++;
    return pal_msg_get_name(obj, name, flags, names, n, out, err);
}

int pal_msg_get_time(const json_t *obj, const char *name, unsigned flags, int64_t *out,
                     pal_errbuf *err)
{
    const json_t *v = NULL;
    int rc = field(obj, name, flags, &v, err);
    if (rc != 0)
        return rc;
    int64_t ms;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
        pal_time_parse(json_string_value(v), &ms) < 0)
        return pal_err_set(err, PAL_EINVAL,
                           "field '%s' must be an RFC 3339 time such as "
                           "2026-11-25T23:40:00.123Z",
                           name);
    *out = ms;
    return 0;
}

int pal_msg_get_object(const json_t *obj, const char *name, unsigned flags, const json_t **out,
                       pal_errbuf *err)
{
    const json_t *v = NULL;
    int rc = field(obj, name, flags, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_object(v))
        return pal_err_set(err, PAL_EINVAL, "field '%s' must be an object", name);
    *out = v;
    return 0;
}

int pal_msg_get_array(const json_t *obj, const char *name, unsigned flags, const json_t **out,
                      pal_errbuf *err)
{
    const json_t *v = NULL;
    int rc = field(obj, name, flags, &v, err);
    if (rc != 0)
        return rc;
    if (!json_is_array(v))
        return pal_err_set(err, PAL_EINVAL, "field '%s' must be an array", name);
    *out = v;
    return 0;
}

int pal_msg_check_fields(const json_t *obj, const char *const *allowed, pal_errbuf *err)
{
    if (!json_is_object(obj))
        return 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return pal_err_set(err, PAL_EINVAL, "unknown field '%.64s'", key);
    }
    return 0;
}

/* ---- times ------------------------------------------------------------------------------ */

int64_t pal_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

#define MS_PER_DAY 86400000LL

int pal_time_format(int64_t ms, char *buf, size_t size)
{
    static const int64_t lo = -62167219200000LL; /* 0000-01-01T00:00:00.000Z */
    static const int64_t hi = 253402300799999LL; /* 9999-12-31T23:59:59.999Z */
    if (size < PAL_TIME_BUFSZ || ms < lo || ms > hi)
        return PAL_EINVAL;
    int64_t days = ms / MS_PER_DAY;
    int64_t rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    unsigned msec = (unsigned)(rem % 1000);
    unsigned sec = (unsigned)(rem / 1000 % 60);
    unsigned min = (unsigned)(rem / 60000 % 60);
    unsigned hour = (unsigned)(rem / 3600000);
    snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, mo, d, hour, min,
             sec, msec);
    return 0;
}

/* Read exactly n digits at *p; advances *p. */
static bool digits(const char **p, unsigned n, unsigned *out)
{
    unsigned v = 0;
    for (unsigned i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool leap_year(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int pal_time_parse(const char *s, int64_t *ms)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    unsigned y, mo, d, h, mi, sec, frac = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return PAL_EFORMAT;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return PAL_EFORMAT;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
        !digits(&p, 2, &sec))
        return PAL_EFORMAT;
    if (*p == '.') {
        p++;
        unsigned n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                frac = frac * 10 + (unsigned)(*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return PAL_EFORMAT;
        for (; n < 3; n++)
            frac *= 10;
    }
    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        unsigned oh, om;
        p++;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return PAL_EFORMAT;
        offset_min = sign * (int64_t)(oh * 60 + om);
    } else {
        return PAL_EFORMAT;
    }
    if (*p != '\0')
        return PAL_EFORMAT;
    if (mo < 1 || mo > 12 || d < 1)
        return PAL_EFORMAT;
    unsigned dim = mdays[mo - 1] + (mo == 2 && leap_year(y));
    if (d > dim || h > 23 || mi > 59 || sec > 60)
        return PAL_EFORMAT;
    int64_t t = days_from_civil(y, mo, d) * MS_PER_DAY +
                ((int64_t)h * 3600 + (int64_t)mi * 60 + sec) * 1000 + frac;
    *ms = t - offset_min * 60000;
    return 0;
}

json_t *pal_time_json(int64_t ms)
{
    char buf[PAL_TIME_BUFSZ];
    if (pal_time_format(ms, buf, sizeof(buf)) < 0)
        return NULL;
    return json_string(buf);
}

/* ---- paths ------------------------------------------------------------------------------ */

int pal_msg_set_path(json_t *obj, const char *key, const char *path, size_t len)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > PATH_KEY_MAX)
        return PAL_EINVAL;
    char b64key[PATH_KEY_MAX + sizeof("_b64")];
    snprintf(b64key, sizeof(b64key), "%s_b64", key);
    if (path_is_plain(path, len)) {
        json_object_del(obj, b64key);
        json_t *s = json_stringn(path, len);
        if (!s || json_object_set_new(obj, key, s) < 0)
            return PAL_ENOMEM;
        return 0;
    }
    char *disp = pal_path_display(path, len);
    char *b64 = pal_b64_encode(path, len);
    int rc = PAL_ENOMEM;
    if (disp && b64 && json_object_set_new(obj, key, json_string(disp)) == 0 &&
        json_object_set_new(obj, b64key, json_string(b64)) == 0)
        rc = 0;
    free(disp);
    free(b64);
    return rc;
}

/* Copy a decoded path out, refusing empty and NUL-containing ones. */
static int path_out(const char *bytes, size_t n, const char *what, char **out, size_t *len,
                    pal_errbuf *err)
{
    if (n == 0)
        return pal_err_set(err, PAL_EINVAL, "%s must not be empty", what);
    if (memchr(bytes, '\0', n))
        return pal_err_set(err, PAL_EINVAL, "%s must not contain a NUL byte", what);
    char *c = malloc(n + 1);
    if (!c)
        return PAL_ENOMEM;
    memcpy(c, bytes, n);
    c[n] = '\0';
    *out = c;
    *len = n;
    return 0;
}

static int b64_path(const char *s, size_t slen, const char *what, char **out, size_t *len,
                    pal_errbuf *err)
{
    unsigned char *raw;
    size_t n;
    int rc = pal_b64_decode(s, slen, &raw, &n);
    if (rc == PAL_EFORMAT)
        return pal_err_set(err, PAL_EINVAL, "%s is not valid base64", what);
    if (rc < 0)
        return rc;
    rc = path_out((const char *)raw, n, what, out, len, err);
    free(raw);
    return rc;
}

int pal_msg_get_path(const json_t *obj, const char *key, unsigned flags, char **out, size_t *len,
                     pal_errbuf *err)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > PATH_KEY_MAX)
        return pal_err_set(err, PAL_EINVAL, "bad path key");
    char b64key[PATH_KEY_MAX + sizeof("_b64")];
    snprintf(b64key, sizeof(b64key), "%s_b64", key);
    char what[PATH_KEY_MAX + sizeof("field ''_b64")];
    const char *s;
    int rc = pal_msg_get_string(obj, b64key, PAL_MSG_OPTIONAL | PAL_MSG_NULLABLE, &s, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        snprintf(what, sizeof(what), "field '%s'", b64key);
        return b64_path(s, strlen(s), what, out, len, err);
    }
    rc = pal_msg_get_string(obj, key, flags, &s, err);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "field '%s'", key);
    return path_out(s, strlen(s), what, out, len, err);
}

json_t *pal_msg_path_arg(const char *path, size_t len)
{
    if (path_is_plain(path, len))
        return json_stringn(path, len);
    char *b64 = pal_b64_encode(path, len);
    json_t *o = b64 ? json_pack("{s:s}", "b64", b64) : NULL;
    free(b64);
    return o;
}

int pal_msg_path_arg_decode(const json_t *v, const char *what, char **out, size_t *len,
                            pal_errbuf *err)
{
    if (json_is_string(v))
        return path_out(json_string_value(v), json_string_length(v), what, out, len, err);
    if (json_is_object(v) && json_object_size(v) == 1) {
        const json_t *b = json_object_get(v, "b64");
        if (json_is_string(b))
            return b64_path(json_string_value(b), json_string_length(b), what, out, len, err);
    }
    return pal_err_set(err, PAL_EINVAL, "%s must be a string or {\"b64\": \"...\"}", what);
}
