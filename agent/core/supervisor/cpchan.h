/*
 * cpchan.h — private to pal_cpsup: the broker's side of one channel per slot. Owns a
 * request's conversation with the content process (SCAN with the first chunk inline, the
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
 * A slot's receive and send buffers belong to the one caller using the slot.
 */
#ifndef PAL_CPCHAN_H
#define PAL_CPCHAN_H

#include "cpsup_internal.h"

/* Allocate the slot's message buffers: 0 or PAL_ENOMEM (the slot is then freed by
   cpchan_slot_free, which accepts a half-made slot). */
int cpchan_slot_init(cp_slot *s);
void cpchan_slot_free(cp_slot *s);

#endif
