/*
 * evjournal.c — one record to the systemd journal through its native protocol
 * (sd_journal_sendv): MESSAGE, MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER, SYSLOG_FACILITY and
 * one PALISADE_<KEY> per field. A value holding a newline (a path's exact bytes) goes in the
 * protocol's binary form, which libsystemd chooses by itself; any other byte is carried as
 * it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
/* no CODE_FILE/CODE_LINE/CODE_FUNC: the fields are the documented ones */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "events_internal.h"

/* Appends "PREFIXKEY=" and len bytes of val (malloc'd) to iov[*n]. */
static int put(struct iovec *iov, size_t *n, const char *prefix, const char *key, const char *val,
               size_t len)
{
    size_t plen = strlen(prefix), klen = strlen(key);
    char *b = malloc(plen + klen + 1 + len);
    if (!b)
        return -ENOMEM;
    memcpy(b, prefix, plen);
    memcpy(b + plen, key, klen);
    b[plen + klen] = '=';
    if (len)
        memcpy(b + plen + klen + 1, val, len);
    iov[*n].iov_base = b;
    iov[*n].iov_len = plen + klen + 1 + len;
    (*n)++;
    return 0;
}

int ev_journal_send(const ev_record *r, int facility)
{
    struct iovec iov[EV_MAX_FIELDS + 5];
    size_t n = 0;
    char prio[16], fac[16];
    snprintf(prio, sizeof(prio), "%d", r->priority);
    snprintf(fac, sizeof(fac), "%d", facility);
    const char *ident = r->clamav ? "clamd" : "palisaded";
    const char *mid = r->clamav ? PAL_EVENT_CLAMAV_MESSAGE_ID : pal_event_message_id(r->kind);
    int rc = put(iov, &n, "", "MESSAGE", r->message, strlen(r->message));
    if (rc == 0)
        rc = put(iov, &n, "", "MESSAGE_ID", mid, strlen(mid));
    if (rc == 0)
        rc = put(iov, &n, "", "PRIORITY", prio, strlen(prio));
    if (rc == 0)
        rc = put(iov, &n, "", "SYSLOG_IDENTIFIER", ident, strlen(ident));
    if (rc == 0)
        rc = put(iov, &n, "", "SYSLOG_FACILITY", fac, strlen(fac));
    for (size_t i = 0; rc == 0 && i < r->n; i++)
        if (r->f[i].to != EV_TO_SYSLOG)
            rc = put(iov, &n, "PALISADE_", r->f[i].key, r->f[i].val, r->f[i].len);
    if (rc == 0)
        rc = sd_journal_sendv(iov, (int)n);
    for (size_t i = 0; i < n; i++)
        free(iov[i].iov_base);
    return rc;
}
