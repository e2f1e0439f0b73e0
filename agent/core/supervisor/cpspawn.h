/*
 * cpspawn.h — private to pal_cpsup: one content-process instance's process. Owns the
 * check of the binary before it runs, the spawn (clone3 with new PID, mount, network, IPC
 * and UTS namespaces, plus a user namespace when the broker is not root; the fixed
 * descriptor layout: stderr, package, shared memory, K channels, the binary for execveat),
 * argv and environment, the CONFIG message with the limits, waiting for READY, the check
 * from /proc/<pid>/status that the demoted child really is sandboxed and runs under the
 * identity chosen for it, and reaping it with the tail of its stderr.
 *
 * The supervisor thread calls these with no lock held; the instance is its own until it
 * is published as running (cpsup_internal.h).
 */
#ifndef PAL_CPSPAWN_H
#define PAL_CPSPAWN_H

#include "cpsup_internal.h"

/* Spawn in (in->ident chosen, in->pkg set, in->chan sized for cfg->channels) from binary
   and send CONFIG. 0 or a code with err; in->pidfd >= 0 once there is a process. */
int cpspawn_start(const pal_cpsup_config *cfg, const char *binary, cp_inst *in, pal_errbuf *err);

/* Wait for READY (or death, or timeout_ms), then verify the sandbox from outside and the
   identity. *shutdown (read atomically) cancels the wait. 0 or a code with err. */
int cpspawn_wait_ready(cp_inst *in, uint32_t timeout_ms, const int *shutdown, pal_errbuf *err);

/* Collect the exit status of a dead instance (its pidfd is readable) and the rest of its
   stderr. */
void cpspawn_reap(cp_inst *in);

/* Read what the content process wrote on stderr into its tail; 1 at end of file. */
int cpspawn_drain_stderr(cp_inst *in);

/* "killed by signal 9 (Killed)", "exited with status 81: sandbox step ... failed" */
void cpspawn_describe_end(char *buf, size_t len, int exit_code, int sig);

#endif
