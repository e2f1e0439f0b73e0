/*
 * sandbox.h — the content process's demotion, one function per step of the order in
 * DESIGN.md ("Facts measured on this platform"). main.c calls them in that order before the
 * first untrusted byte is read; each step checks that it took effect and fails closed: a
 * step that returns non-zero has written why into msg, and the process exits with
 * PAL_CPMSG_EXIT_STEP_BASE + the step (the broker reports which).
 *
 * Steps marked "per thread" change the calling thread's credentials only: main.c runs them
 * on every engine thread (the threads exist already, so that each could pre-warm what it
 * opens lazily, e.g. YARA's magic database).
 */
#ifndef PAL_CP_SANDBOX_H
#define PAL_CP_SANDBOX_H

#include <stddef.h>

#include "cpmsg.h"

/* Fixed descriptor layout at exec (the broker sets it up: agent/core/supervisor/cpspawn.c). */
#define CP_FD_STDERR 2
#define CP_FD_PACKAGE 3
#define CP_FD_SHM 4
#define CP_FD_CHANNEL0 5

typedef struct cp_msg {
    char text[640];
} cp_msg;

/* Die with the parent (the broker thread that spawned us). */
int cp_sb_pdeathsig(cp_msg *msg);
/* Check the layout (channels are SEQPACKET sockets, shm a memfd, package a regular file)
   and close every other descriptor, including 0 and 1. */
int cp_sb_fds(unsigned channels, cp_msg *msg);
/* Probe the Landlock ABI (0: none) and create the deny-all ruleset now, while new
   descriptors may still be opened; *ruleset_fd is -1 without Landlock. */
int cp_sb_landlock_prepare(int *abi, int *ruleset_fd, cp_msg *msg);
/* Address space, no new descriptors, core (unless cfg allows), CPU time. RLIMIT_NPROC is
   set by cp_sb_nproc once the threads exist. */
int cp_sb_rlimits(const pal_cpmsg_config *cfg, cp_msg *msg);
/* Empty read-only tmpfs as / (pivot_root; the old root detached). */
int cp_sb_root(cp_msg *msg);
/* Per thread: drop the whole capability bounding set and the ambient set, and lock the
   securebits so that uid 0 never regains capabilities. */
int cp_sb_capbset(cp_msg *msg);
/* Process-wide (glibc applies set*id to every thread): groups, gid, uid. */
int cp_sb_ids(const pal_cpmsg_config *cfg, cp_msg *msg);
/* Per thread: the ids cp_sb_ids set are the ones this thread has. */
int cp_sb_ids_check(const pal_cpmsg_config *cfg, cp_msg *msg);
/* Per thread: effective, permitted and inheritable capabilities cleared. */
int cp_sb_caps(cp_msg *msg);
/* Per thread. */
int cp_sb_nnp(cp_msg *msg);
int cp_sb_dumpable(cp_msg *msg);
/* Per thread: enter the ruleset's domain (no-op when fd is -1). */
int cp_sb_landlock(int ruleset_fd, cp_msg *msg);
/* No more processes or threads for this uid. */
int cp_sb_nproc(cp_msg *msg);
/* Last: the system-call allowlist, on every thread (TSYNC). */
int cp_sb_seccomp(unsigned channels, cp_msg *msg);

#endif
