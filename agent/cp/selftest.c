/* selftest.c — attacks and misbehaviour on demand, test build only (see selftest.h). */
#define _GNU_SOURCE
#include "selftest.h"

#include "byteorder.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PAL_CP_SELFTEST
#error "selftest.c belongs to the palisade-cp-selftest build only"
#endif

/* Read through a volatile so that the compiler cannot see the null pointer. */
static volatile uintptr_t g_null;

static int attempt_result(long rc)
{
    return rc < 0 ? (errno != 0 ? errno : EINVAL) : 0;
}

int cp_selftest_attack(const pal_cpmsg_selftest *t)
{
    char path[PAL_CPMSG_PATH_MAX + 1];
    memcpy(path, t->path.p, t->path.len);
    path[t->path.len] = '\0';
    errno = 0;

    switch (t->action) {
    case PAL_CPMSG_ATTACK_OPEN_PASSWD:
        return attempt_result(open("/etc/passwd", O_RDONLY | O_CLOEXEC));
    case PAL_CPMSG_ATTACK_CREATE_FILE:
        return attempt_result(
            open("/palisade-cp-selftest", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    case PAL_CPMSG_ATTACK_CONNECT_CONTROL: {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return attempt_result(fd);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t n = strnlen(path, sizeof(sa.sun_path) - 1);
        memcpy(sa.sun_path, path, n);
        return attempt_result(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    }
    case PAL_CPMSG_ATTACK_SOCKET_INET:
        return attempt_result(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    case PAL_CPMSG_ATTACK_EXECVE: {
        char *const argv[] = {(char *)"sh", (char *)"-c", (char *)"id", NULL};
        char *const envp[] = {NULL};
        return attempt_result(execve("/bin/sh", argv, envp));
    }
    case PAL_CPMSG_ATTACK_FORK: {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        return attempt_result(pid);
    }
    case PAL_CPMSG_ATTACK_PTRACE_BROKER:
        return attempt_result(ptrace(PTRACE_ATTACH, (pid_t)t->arg, NULL, NULL));
    case PAL_CPMSG_ATTACK_KILL_BROKER:
        return attempt_result(kill((pid_t)t->arg, SIGKILL));
    case PAL_CPMSG_ATTACK_MMAP_EXEC: {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? attempt_result(-1) : 0;
    }
    case PAL_CPMSG_ATTACK_MPROTECT_EXEC: {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return attempt_result(-1);
        return attempt_result(mprotect(p, 4096, PROT_READ | PROT_EXEC));
    }
    case PAL_CPMSG_ATTACK_SETUID0:
        /* the raw call: glibc's setuid would signal the other threads first */
        return attempt_result(syscall(SYS_setuid, 0));
    case PAL_CPMSG_ATTACK_READ_PROC1_ENVIRON:
        return attempt_result(open("/proc/1/environ", O_RDONLY | O_CLOEXEC));
    default:
        return EINVAL;
    }
}

/* ---- content triggers --------------------------------------------------------------------- */

/* "clean" for request id, as if the object in progress had been read whole */
static pal_cpmsg clean_result(const cp_worker *w, uint64_t id)
{
    pal_cpmsg m = {.type = PAL_CPMSG_RESULT, .id = id};
    m.u.result.verdict = PAL_VERDICT_CLEAN;
    m.u.result.size = w->size;
    m.u.result.bytes_read = w->size;
    m.u.result.objects_scanned = 1;
    return m;
}

static void send_clean_result(cp_worker *w, uint64_t id)
{
    pal_cpmsg m = clean_result(w, id);
    cp_worker_send(w, &m);
}

static void send_raw(cp_worker *w, const void *buf, size_t len)
{
    cp_worker_flush(w); /* the answers held for earlier requests go first */
    ssize_t n = send(w->fd, buf, len, MSG_NOSIGNAL);
    (void)n;
}

/* Wait for the broker to kill us: a receive that nothing will answer. */
static __attribute__((noreturn)) void wait_forever(cp_worker *w)
{
    for (;;) {
        pal_cpmsg m;
        cp_worker_recv(w, &m);
    }
}

static int word_is(const char *word, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(word, want, len) == 0;
}

int cp_selftest_trigger(cp_worker *w)
{
    size_t mlen = strlen(CP_SELFTEST_MAGIC);
    if (w->first_len < mlen || memcmp(w->first, CP_SELFTEST_MAGIC, mlen) != 0)
        return 0;
    const char *word = (const char *)w->first + mlen;
    size_t len = 0;
    while (mlen + len < w->first_len && word[len] != '\n' && word[len] != '\0')
        len++;
    cp_log("channel %u: self-test trigger '%.*s' in %s", w->index, (int)len, word, w->name);

    if (word_is(word, len, "crash")) {
        *(volatile int *)g_null = 1; /* a real fault: SIGSEGV is forced even on pid 1 */
        return 1;
    }
    if (word_is(word, len, "exit"))
        _exit(42);
    if (word_is(word, len, "hang"))
        wait_forever(w);
    if (word_is(word, len, "slow")) {
        /* 1.5 s, then an ordinary scan: a scan still in flight when something changes. A
           futex wait that nothing wakes: the sandbox allows futex, not nanosleep. */
        static uint32_t never;
        struct timespec end, now;
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += 1;
        end.tv_nsec += 500000000;
        if (end.tv_nsec >= 1000000000) {
            end.tv_sec++;
            end.tv_nsec -= 1000000000;
        }
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            int64_t left =
                (int64_t)(end.tv_sec - now.tv_sec) * 1000000000 + (end.tv_nsec - now.tv_nsec);
            if (left <= 0)
                break;
            struct timespec rel = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
            syscall(SYS_futex, &never, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
        }
        return 0;
    }
    if (word_is(word, len, "bad-id")) {
        send_clean_result(w, w->id + 1);
        wait_forever(w);
    }
    if (word_is(word, len, "bad-offset")) {
        pal_cpmsg m = {.type = PAL_CPMSG_DATA_REQ, .id = w->id};
        m.u.data_req.off = w->size + 4096;
        m.u.data_req.len = 16;
        cp_worker_send(w, &m);
        wait_forever(w);
    }
    if (word_is(word, len, "bad-length")) {
        /* over the per-request cap: the encoder would refuse it, so write it by hand */
        pal_cpmsg m = {.type = PAL_CPMSG_DATA_REQ, .id = w->id};
        m.u.data_req.off = 0;
        m.u.data_req.len = 1;
        size_t n = pal_cpmsg_encode(&m, w->tx, PAL_CPMSG_MAX);
        uint32_t big = PAL_CPMSG_REQ_MAX + 1;
        memcpy(w->tx + 24, &big, 4); /* little-endian hosts only, as is this whole build */
        send_raw(w, w->tx, n);
        wait_forever(w);
    }
    if (word_is(word, len, "beyond-end")) {
        /* in range at its start, past the end of the object at its end */
        pal_cpmsg m = {.type = PAL_CPMSG_DATA_REQ, .id = w->id};
        m.u.data_req.off = w->first_len;
        m.u.data_req.len = (uint32_t)(w->size - w->first_len) + 1;
        cp_worker_send(w, &m);
        wait_forever(w);
    }
    if (word_is(word, len, "bundle-bad-item") || word_is(word, len, "bundle-unsolicited")) {
        /* an ANSWERS whose framing is sound: its first item a RESULT with an impossible
           verdict, or a second answer nobody asked for behind a sound one */
        int bad = word[7] == 'b';
        pal_cpmsg r = clean_result(w, w->id);
        pal_cpmsg_bundler b;
        pal_cpmsg_bundle_start(&b, w->tx, PAL_CPMSG_MAX);
        (void)pal_cpmsg_bundle_add(&b, &r);
        (void)pal_cpmsg_bundle_add(&b, &r);
        if (bad)
            pal_put_le32(w->tx + PAL_CPMSG_BUNDLE_FIXED + 4 + 16, 7); /* the first's verdict */
        send_raw(w, w->tx, pal_cpmsg_bundle_finish(&b, PAL_CPMSG_ANSWERS));
        if (bad)
            wait_forever(w);
        return 1;
    }
    if (word_is(word, len, "bundle-nested")) {
        /* an ANSWERS holding an ANSWERS: the encoder will not build it, so by hand */
        static uint8_t inner[512];
        pal_cpmsg r = clean_result(w, w->id);
        pal_cpmsg_bundler in, out;
        pal_cpmsg_bundle_start(&in, inner, sizeof(inner));
        (void)pal_cpmsg_bundle_add(&in, &r);
        size_t in_len = pal_cpmsg_bundle_finish(&in, PAL_CPMSG_ANSWERS);
        /* the outer one's item, framed by hand */
        pal_cpmsg_bundle_start(&out, w->tx, PAL_CPMSG_MAX);
        pal_put_le32(w->tx + out.len, (uint32_t)in_len);
        memcpy(w->tx + out.len + 4, inner, in_len);
        out.len += 4 + in_len;
        out.count = 1;
        send_raw(w, w->tx, pal_cpmsg_bundle_finish(&out, PAL_CPMSG_ANSWERS));
        wait_forever(w);
    }
    if (word_is(word, len, "oversize")) {
        static uint8_t big[PAL_CPMSG_MAX + 4096];
        send_raw(w, big, sizeof(big));
        wait_forever(w);
    }
    if (word_is(word, len, "garbage")) {
        static const uint8_t junk[] = "\x83\x00\x07\x00 this is not a message at all....";
        send_raw(w, junk, sizeof(junk) - 1);
        wait_forever(w);
    }
    if (word_is(word, len, "unknown-threat") || word_is(word, len, "bad-chain")) {
        int bad_chain = word[0] == 'b';
        pal_cpmsg m = {.type = PAL_CPMSG_RESULT, .id = w->id};
        m.u.result.verdict = PAL_VERDICT_THREAT;
        m.u.result.n_findings = 1;
        m.u.result.size = w->size;
        m.u.result.objects_scanned = 1;
        cp_worker_send(w, &m);
        pal_cpmsg f = {.type = PAL_CPMSG_FINDING, .id = w->id};
        static const char fake[] = "Virus:DOS/Not_In_The_Catalog";
        static const char other[] = "/etc/shadow";
        static const char eicar[] = "Virus:DOS/EICAR_Test_File";
        f.u.finding.threat.p = (const uint8_t *)(bad_chain ? eicar : fake);
        f.u.finding.threat.len = (uint32_t)strlen(bad_chain ? eicar : fake);
        f.u.finding.chain.p = (const uint8_t *)(bad_chain ? other : w->name);
        f.u.finding.chain.len = (uint32_t)strlen(bad_chain ? other : w->name);
        f.u.finding.by.p = (const uint8_t *)"sha256";
        f.u.finding.by.len = 6;
        cp_worker_send(w, &f);
        wait_forever(w);
    }
    if (word_is(word, len, "wrong-type")) {
        pal_cpmsg m = {.type = PAL_CPMSG_SELFTEST_RESULT, .id = w->id};
        m.u.selftest_result.action = PAL_CPMSG_ATTACK_FORK;
        cp_worker_send(w, &m);
        wait_forever(w);
    }
    if (word_is(word, len, "lie-clean")) {
        /* "clean" without having asked for the bytes after the first chunk */
        send_clean_result(w, w->id);
        wait_forever(w);
    }
    if (word_is(word, len, "out-of-order")) {
        /* a pipeline: answer the request behind this one first, then this one */
        pal_cpmsg next;
        cp_worker_recv(w, &next);
        if (next.type == PAL_CPMSG_SCAN) {
            uint64_t size = w->size;
            w->size = next.u.scan.size;
            send_clean_result(w, next.id);
            w->size = size;
        }
        send_clean_result(w, w->id);
        wait_forever(w);
    }
    if (word_is(word, len, "unsolicited")) {
        /* a correct answer, then one more message nobody asked for */
        send_clean_result(w, w->id);
        send_clean_result(w, w->id);
        return 1;
    }
    return 0; /* an unknown word: scan it like any content */
}
