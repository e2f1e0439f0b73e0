/*
 * selftest.h — what only the test build of the content process (palisade-cp-selftest,
 * compiled with PAL_CP_SELFTEST; never installed) does on purpose:
 *
 * - SELFTEST requests: attempt one forbidden operation inside the finished sandbox and
 *   report the errno, so that tests see every attack fail or kill the process;
 * - content triggers: an object whose first bytes are "PALISADE-SELFTEST:<word>" makes this
 *   process crash, exit, hang, take 1.5 s before scanning it ("slow") or answer the broker
 *   with a malformed or lying message, so
 *   that tests can drive the broker's defences through an ordinary scan.
 */
#ifndef PAL_CP_SELFTEST_H
#define PAL_CP_SELFTEST_H

#include "chan.h"
#include "cpmsg.h"

#define CP_SELFTEST_MAGIC "PALISADE-SELFTEST:"

/* Make the attempt; returns its errno, 0 when it succeeded (the sandbox failed). */
int cp_selftest_attack(const pal_cpmsg_selftest *t);

/* Act on a trigger in the scan w holds. Returns 1 when the scan was answered (or never
   will be), 0 when it should be scanned normally. */
int cp_selftest_trigger(cp_worker *w);

#endif
