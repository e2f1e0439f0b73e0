/*
 * cpchan.h — private to pal_cpsup: the broker's side of one channel per slot. Owns a
 * request's conversation with the content process (SCAN with the first bytes in the slot's
 * bulk area, up to 1 MiB, or a first chunk inline without one; a batch's SCANs as one
 * REQUESTS; answers taken one by one out of an ANSWERS as if each had come alone; the
 * engine's data requests answered from the caller's pal_source through the slot's bulk
 * area or inline DATA parts, RESULT and FINDINGs; SELFTEST), and the strict checks of
 * everything that comes back: message type allowed in the request's state, request id,
 * offsets inside the object and under the per-request cap, "clean" or a hash only for
 * content that was actually read, threat names only from the package's catalog, chains
 * rooted at the object. A violation kills the instance (kill-misbehaved) and makes the
 * object unscannable; no answer in time kills it too (kill-timeout); a death under a scan
 * is retried once, alone, on the next instance. Implements pal_cpsup_scan,
 * pal_cpsup_attack and pal_cpsup_outcome_name of cpsup.h.
 *
 * cppipe.c builds pal_cpsup_scan_pipelined on the pieces below: one conversation split into
 * its sending half (cpchan_send_scan) and its answering half (cpchan_answer), and what
 * becomes of an object once its conversation ended (cpchan_settle, cpchan_scan_on_slot).
 *
 * A slot's receive and send buffers belong to the one caller using the slot.
 */
#ifndef PAL_CPCHAN_H
#define PAL_CPCHAN_H

#include "cpsup_internal.h"

/* Allocate the slot's message buffers: 0 or PAL_ENOMEM (the slot is then freed by
   cpchan_slot_free, which accepts a half-made slot). */
int cpchan_slot_init(cp_slot *s);
void cpchan_slot_free(cp_slot *s);

/* ---- for cppipe.c ---------------------------------------------------------------------- */

typedef enum run_result {
    RUN_OK = 0,
    RUN_DIED,       /* the instance went away under the request */
    RUN_MISBEHAVED, /* killed for a violation (detail in why) */
    RUN_TIMEOUT,
    RUN_CP_ERROR, /* it answered ERROR (code in *cp_code) */
    RUN_NOMEM,    /* the broker ran out of memory */
} run_result;

/* One request's conversation. */
typedef struct scan_ctx {
    pal_cpsup *sup;
    unsigned slot;
    cp_inst *in;
    cp_slot *s;
    int fd;
    uint64_t id;
    const pal_source *src;
    const char *name; /* the object's full name (events, reports) */
    size_t name_len;
    const char *hint; /* what the content process is told: the last component, at most
                         PAL_CPSUP_HINT_MAX bytes; its chains are rooted at it */
    size_t hint_len;
    const volatile int *cancel;
    volatile int *cancel_word;
    int cancel_sent;
    int64_t deadline;
    uint64_t served;  /* bytes handed over */
    uint64_t covered; /* bytes [0, covered) handed over at least once */
    char why[320];
    int cp_code;
    int pipe_behind;        /* later objects of a pipeline are in flight behind this one */
    const char *pipe_names; /* then: this object's name and theirs, newline-separated */
    int pipe_eager;         /* try to receive before polling (the answers come together) */
} scan_ctx;

/* rep freed and made unscannable for reason (name the chain, detail the detail). */
void cpchan_unscannable(pal_report *rep, pal_unscannable reason, const char *name,
                        const char *detail, uint64_t size, uint64_t served);

/* One caller per slot (the slot layer's promise): a second one is refused (PAL_ESTATE). */
int cpchan_slot_enter(pal_cpsup *sup, unsigned slot);
void cpchan_slot_leave(pal_cpsup *sup, unsigned slot);

/* The part of name the content process is shown (its last component, at most 255 bytes). */
const char *cpchan_hint(const char *name, size_t name_len, size_t *hint_len);

/* The slot's cancel word, cleared; and whether the idle channel holds a message nobody
   asked for (RUN_DIED, the instance killed as misbehaving: not the next object's doing). */
run_result cpchan_begin(scan_ctx *c);

/* Send SCAN for c (a fresh request id, the first chunk inline, or at the start of the bulk
   area on an instance with one: then one SCAN at a time); flags for send(2), e.g.
   MSG_DONTWAIT. 0, -1 with errno (EAGAIN: not sent), -2 when it cannot be encoded. */
int cpchan_send_scan(scan_ctx *c, int flags);

/* On an instance with a bulk area: the SCANs of c[0..n) in one REQUESTS, each object's bytes
   whole in the area at an offset of its own. Returns how many went (the first k: an object
   whose source gave fewer bytes than its size, or that would not fit, and all after it are
   not sent, and 0 when that is the first), or -1 with errno when sending failed. */
int cpchan_send_batch(scan_ctx *c, size_t n);

/* The rest of c's conversation: data requests served, RESULT and FINDINGs checked into rep
   (pal_report_init'd), the timeout counted from now. */
run_result cpchan_answer(scan_ctx *c, pal_report *rep);

/* What becomes of an object whose conversation ended with r (after a RUN_DIED the caller
   has waited for the instance's end; end describes it): 1 with *rep and *oc final (or
   *rc = PAL_ENOMEM), 0 when it is to be retried alone on the next instance. */
int cpchan_settle(const scan_ctx *c, run_result r, int alone, const char *end, pal_report *rep,
                  pal_cpsup_outcome *oc, int *rc);

/* One object, the whole single path (acquire, identity guard, conversation, retries) on a
   slot the caller entered; died_gen non-zero: it already killed instance died_gen once, so
   it runs alone, and a second death makes it unscannable. */
int cpchan_scan_on_slot(pal_cpsup *sup, unsigned slot, const pal_source *src, const char *name,
                        size_t name_len, const volatile int *cancel, uint64_t died_gen,
                        pal_report *rep, pal_cpsup_outcome *outcome);

#endif
