/*
 * chan.h — the content process's side of one channel: the loop of one engine thread that
 * answers the broker's requests (SCAN, SELFTEST) on its channel, and the pal_source through
 * which the engine pulls an object's bytes from the broker (the first bytes inline or in the
 * slot's shared bulk area, then DATA_REQ answered by DATA parts or through the bulk area). An
 * object whose bytes are all in the bulk area is scanned where it lies (pal_scan_memory).
 *
 * The content process never speaks first: every message it sends answers a request on that
 * channel, in the order the requests came. When the broker sent several requests at once
 * (a pipeline of small objects, all bytes inline or in the bulk area; with the bulk area one
 * REQUESTS datagram whose items are taken one by one as if each had come alone) and the next
 * is already waiting when a scan ends, that scan's answer is held, encoded, and the next
 * scanned first; everything held leaves, in order and in one ANSWERS datagram, as soon as
 * nothing is waiting, the buffer (CP_HOLD_MAX) would overflow, a scan took longer than
 * CP_HOLD_NS, or the oldest has been held CP_HOLD_NS before the next scan starts, and always
 * before any other message: so an answer waits behind at most one slow scan, which the
 * engine's own time limit bounds, well within the broker's per-object timeout (max_scan_ms +
 * grace). A batch then costs each side one send and one wake-up, not one per object. A
 * message from the broker this side does not expect is a broker bug, and the process exits
 * (PAL_CPMSG_EXIT_PROTO); end of file on a channel means the broker closed it or died, and
 * the process exits quietly.
 */
#ifndef PAL_CP_CHAN_H
#define PAL_CP_CHAN_H

#include <stdint.h>

#include "cpmsg.h"
#include "engine.h"

#define CP_HOLD_MAX (64U * 1024U)
/* An answer held longer goes out before the next scan starts: the broker's deadline for it
   runs while later objects scan (a slow one would otherwise make it late). */
#define CP_HOLD_NS 5000000L

typedef struct cp_worker {
    unsigned index;             /* channel / slot number */
    int fd;                     /* the channel */
    pal_scanner *sc;            /* this thread's scanner */
    const volatile int *cancel; /* the slot's cancel word in the shared control page */
    const uint8_t *bulk;        /* the slot's shared bulk area, NULL when DATA comes inline */
    uint8_t *rx;                /* PAL_CPMSG_MAX + 1 */
    pal_cpmsg_bytes pending;    /* the items of a REQUESTS in rx not taken yet */
    uint8_t *tx;                /* PAL_CPMSG_MAX */
    char *name;                 /* PAL_CPMSG_NAME_MAX + 1: the object in the current scan */
    uint8_t *inl;               /* PAL_CPMSG_INLINE_MAX: its first bytes when they came inline */
    uint8_t *hold_buf;          /* CP_HOLD_MAX: answers held while more requests wait */
    pal_cpmsg_bundler hold;     /* the ANSWERS being built in hold_buf */
    int64_t hold_since;         /* CLOCK_MONOTONIC ns when the oldest held answer was made */
    int holding;                /* cp_worker_send appends to hold instead of sending */
    /* the scan in progress */
    uint64_t id;
    uint64_t size;
    const uint8_t *first; /* its first bytes: inl, or in the bulk area (PAL_CPMSG_SCAN_SHM) */
    uint32_t first_len;
    int32_t first_status; /* status after the first bytes (PAL_CPMSG_ST_* or PAL_E*) */
    int first_gone;       /* they were in the bulk area, and a data answer has replaced them */
    uint64_t pend_off;    /* a DATA status still to be returned at this offset */
    int32_t pend_status;
    int has_pend;
} cp_worker;

/* Buffers and scanner; shm is the whole shared mapping (stride bytes per slot). */
int cp_worker_init(cp_worker *w, unsigned index, pal_engine *eng, const uint8_t *shm,
                   uint32_t stride, int bulk);

/* Run one scan of an in-memory sample so that whatever the engine sets up lazily on this
   thread (libarchive readers, iconv, time zone, YARA thread state) exists before the
   sandbox closes. Returns 0 or a negative PAL_E*. */
int cp_worker_warmup(cp_worker *w, const uint8_t *sample, size_t len);

/* Receive one message from the broker into w->rx and decode it. Exits the process on end
   of file, failure or a malformed message. */
void cp_worker_recv(cp_worker *w, pal_cpmsg *m);

/* Encode and send (or hold, while w->holding; anything held goes first); exits the
   process when the broker is gone. */
void cp_worker_send(cp_worker *w, const pal_cpmsg *m);

/* Send everything held, in order. */
void cp_worker_flush(cp_worker *w);

/* Whether a request is already waiting on the channel (never blocks). */
int cp_worker_request_waiting(cp_worker *w);

/* Serve requests until the broker goes away. Never returns. */
__attribute__((noreturn)) void cp_worker_run(cp_worker *w);

/* Log one line on stderr (the broker keeps the tail for its events). */
void cp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
