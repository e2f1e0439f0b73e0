/* pal_error.c — messages for the error vocabulary in pal_error.h. */
#include "pal_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *pal_strerror(int err)
{
    switch (err) {
    case PAL_OK:
        return "success";
    case PAL_EINVAL:
        return "invalid argument";
    case PAL_ENOMEM:
        return "out of memory";
    case PAL_EIO:
        return "input/output error";
    case PAL_EFORMAT:
        return "malformed data";
    case PAL_EVERSION:
        return "unsupported version";
    case PAL_ESIGNATURE:
        return "signature verification failed";
    case PAL_EUNKNOWNKEY:
        return "signed by an untrusted key";
    case PAL_ENOTFOUND:
        return "not found";
    case PAL_EEXIST:
        return "already exists";
    case PAL_ELIMIT:
        return "limit exceeded";
    case PAL_ECANCELLED:
        return "cancelled";
    case PAL_ETIMEOUT:
        return "timed out";
    case PAL_EPERM:
        return "permission denied";
    case PAL_EENGINE:
        return "internal library failure";
    case PAL_ESTATE:
        return "wrong state";
    case PAL_ERACE:
        return "file system changed during the operation";
    case PAL_EPROTO:
        return "protocol violation";
    case PAL_EPOLICY:
        return "locked by policy";
    }
    return "unknown error";
}

int pal_err_set(pal_errbuf *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}
