/* cpmsg.c — encoder and strict decoder of broker <-> content process messages (cpmsg.h). */
#include "cpmsg.h"

#include <string.h>

#include "byteorder.h" /* the messages are little-endian */
#include "utf8.h"

/* ---- names ------------------------------------------------------------------------------ */

static const char *const k_step_names[PAL_CPMSG_STEP_COUNT] = {
    [PAL_CPMSG_STEP_NS_USER] = "user-namespace",
    [PAL_CPMSG_STEP_NS_PID] = "pid-namespace",
    [PAL_CPMSG_STEP_NS_MOUNT] = "mount-namespace",
    [PAL_CPMSG_STEP_NS_NET] = "network-namespace",
    [PAL_CPMSG_STEP_NS_IPC] = "ipc-namespace",
    [PAL_CPMSG_STEP_NS_UTS] = "uts-namespace",
    [PAL_CPMSG_STEP_PDEATHSIG] = "pdeathsig",
    [PAL_CPMSG_STEP_FDS] = "close-fds",
    [PAL_CPMSG_STEP_PREWARM] = "prewarm",
    [PAL_CPMSG_STEP_RLIMITS] = "rlimits",
    [PAL_CPMSG_STEP_ROOT] = "empty-root",
    [PAL_CPMSG_STEP_CAPBSET] = "capability-bounding-set",
    [PAL_CPMSG_STEP_IDS] = "unprivileged-ids",
    [PAL_CPMSG_STEP_CAPS] = "capabilities-cleared",
    [PAL_CPMSG_STEP_NNP] = "no-new-privs",
    [PAL_CPMSG_STEP_DUMPABLE] = "not-dumpable",
    [PAL_CPMSG_STEP_LANDLOCK] = "landlock",
    [PAL_CPMSG_STEP_SECCOMP] = "seccomp",
};

const char *pal_cpmsg_step_name(unsigned step)
{
    return step < PAL_CPMSG_STEP_COUNT ? k_step_names[step] : "unknown";
}

const char *pal_cpmsg_exit_meaning(int status)
{
    static const char *const k_step_fail[PAL_CPMSG_STEP_COUNT] = {
        [PAL_CPMSG_STEP_NS_USER] = "sandbox step user-namespace failed",
        [PAL_CPMSG_STEP_NS_PID] = "sandbox step pid-namespace failed",
        [PAL_CPMSG_STEP_NS_MOUNT] = "sandbox step mount-namespace failed",
        [PAL_CPMSG_STEP_NS_NET] = "sandbox step network-namespace failed",
        [PAL_CPMSG_STEP_NS_IPC] = "sandbox step ipc-namespace failed",
        [PAL_CPMSG_STEP_NS_UTS] = "sandbox step uts-namespace failed",
        [PAL_CPMSG_STEP_PDEATHSIG] = "sandbox step pdeathsig failed",
        [PAL_CPMSG_STEP_FDS] = "sandbox step close-fds failed",
        [PAL_CPMSG_STEP_PREWARM] = "sandbox step prewarm failed",
        [PAL_CPMSG_STEP_RLIMITS] = "sandbox step rlimits failed",
        [PAL_CPMSG_STEP_ROOT] = "sandbox step empty-root failed",
        [PAL_CPMSG_STEP_CAPBSET] = "sandbox step capability-bounding-set failed",
        [PAL_CPMSG_STEP_IDS] = "sandbox step unprivileged-ids failed",
        [PAL_CPMSG_STEP_CAPS] = "sandbox step capabilities-cleared failed",
        [PAL_CPMSG_STEP_NNP] = "sandbox step no-new-privs failed",
        [PAL_CPMSG_STEP_DUMPABLE] = "sandbox step not-dumpable failed",
        [PAL_CPMSG_STEP_LANDLOCK] = "sandbox step landlock failed",
        [PAL_CPMSG_STEP_SECCOMP] = "sandbox step seccomp failed",
    };
    if (status >= PAL_CPMSG_EXIT_STEP_BASE &&
        status < PAL_CPMSG_EXIT_STEP_BASE + PAL_CPMSG_STEP_COUNT)
        return k_step_fail[status - PAL_CPMSG_EXIT_STEP_BASE];
    switch (status) {
    case 0:
        return "exited normally";
    case PAL_CPMSG_EXIT_USAGE:
        return "bad command line or descriptor layout";
    case PAL_CPMSG_EXIT_CONFIG:
        return "configuration missing or malformed";
    case PAL_CPMSG_EXIT_PROTO:
        return "refused a message from the broker";
    case PAL_CPMSG_EXIT_IO:
        return "channel failure";
    case 127:
        return "could not be executed";
    default:
        return "unexpected exit status";
    }
}

static const char *const k_attack_names[PAL_CPMSG_ATTACK_COUNT] = {
    [PAL_CPMSG_ATTACK_OPEN_PASSWD] = "open-passwd",
    [PAL_CPMSG_ATTACK_CREATE_FILE] = "create-file",
    [PAL_CPMSG_ATTACK_CONNECT_CONTROL] = "connect-control-socket",
    [PAL_CPMSG_ATTACK_SOCKET_INET] = "socket-inet",
    [PAL_CPMSG_ATTACK_EXECVE] = "execve",
    [PAL_CPMSG_ATTACK_FORK] = "fork",
    [PAL_CPMSG_ATTACK_PTRACE_BROKER] = "ptrace-broker",
    [PAL_CPMSG_ATTACK_KILL_BROKER] = "kill-broker",
    [PAL_CPMSG_ATTACK_MMAP_EXEC] = "mmap-exec",
    [PAL_CPMSG_ATTACK_MPROTECT_EXEC] = "mprotect-exec",
    [PAL_CPMSG_ATTACK_SETUID0] = "setuid0",
    [PAL_CPMSG_ATTACK_READ_PROC1_ENVIRON] = "read-proc1-environ",
};

const char *pal_cpmsg_attack_name(unsigned action)
{
    if (action == 0 || action >= PAL_CPMSG_ATTACK_COUNT)
        return "unknown";
    return k_attack_names[action];
}

/* ---- string checks ----------------------------------------------------------------------- */

static int has_nul(const uint8_t *p, size_t len)
{
    return len > 0 && memchr(p, 0, len) != NULL;
}

static int printable_ascii(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return 0;
    return 1;
}

int pal_cpmsg_utf8_clean(const uint8_t *s, size_t n)
{
    return pal_utf8_clean(s, n);
}

int pal_cpmsg_check_chain(const char *name, size_t name_len, pal_cpmsg_bytes chain)
{
    if (chain.len < name_len || memcmp(chain.p, name, name_len) != 0)
        return PAL_EPROTO;
    if (chain.len == name_len)
        return 0;
    size_t rest = chain.len - name_len;
    const uint8_t *r = chain.p + name_len;
    /* "->" and at least one byte of member name. The names are raw bytes like a file path
       (a legacy code page, a control character): the broker carries them as it carries
       paths, and every view escapes them. NUL is refused by the decoder. */
    if (rest < 3 || r[0] != '-' || r[1] != '>')
        return PAL_EPROTO;
    return 0;
}

int pal_cpmsg_check_matched_by(pal_cpmsg_bytes by)
{
    if (by.len == 6 && memcmp(by.p, "sha256", 6) == 0)
        return 0;
    /* MD5 and SHA-1 hash signatures (package format 2, imported ClamAV databases) */
    if ((by.len == 3 && memcmp(by.p, "md5", 3) == 0) ||
        (by.len == 4 && memcmp(by.p, "sha1", 4) == 0))
        return 0;
    if (by.len < 6 || memcmp(by.p, "yara:", 5) != 0)
        return PAL_EPROTO;
    for (size_t i = 5; i < by.len; i++) {
        uint8_t c = by.p[i];
        int ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok)
            return PAL_EPROTO;
    }
    /* a YARA identifier does not start with a digit */
    return (by.p[5] >= '0' && by.p[5] <= '9') ? PAL_EPROTO : 0;
}

/* ---- decoding ---------------------------------------------------------------------------- */

typedef struct rd {
    const uint8_t *base;
    size_t len;
    size_t off; /* next variable-length byte */
} rd;

/* Take n bytes of variable-length content; 0 or -1 when the message is shorter. */
static int take(rd *r, uint32_t n, pal_cpmsg_bytes *out)
{
    if (n > r->len - r->off)
        return -1;
    out->p = r->base + r->off;
    out->len = n;
    r->off += n;
    return 0;
}

#define FAIL(...) return pal_err_set(err, PAL_EPROTO, __VA_ARGS__)

static int fixed_len(uint16_t type, size_t *fixed)
{
    switch (type) {
    case PAL_CPMSG_CONFIG:
        *fixed = PAL_CPMSG_CONFIG_FIXED;
        return 0;
    case PAL_CPMSG_SCAN:
        *fixed = PAL_CPMSG_SCAN_FIXED;
        return 0;
    case PAL_CPMSG_DATA:
        *fixed = PAL_CPMSG_DATA_FIXED;
        return 0;
    case PAL_CPMSG_SELFTEST:
        *fixed = PAL_CPMSG_SELFTEST_FIXED;
        return 0;
    case PAL_CPMSG_READY:
        *fixed = PAL_CPMSG_READY_FIXED;
        return 0;
    case PAL_CPMSG_DATA_REQ:
        *fixed = PAL_CPMSG_DATA_REQ_FIXED;
        return 0;
    case PAL_CPMSG_RESULT:
        *fixed = PAL_CPMSG_RESULT_FIXED;
        return 0;
    case PAL_CPMSG_FINDING:
        *fixed = PAL_CPMSG_FINDING_FIXED;
        return 0;
    case PAL_CPMSG_SELFTEST_RESULT:
        *fixed = PAL_CPMSG_SELFTEST_RESULT_FIXED;
        return 0;
    case PAL_CPMSG_ERROR:
        *fixed = PAL_CPMSG_ERROR_FIXED;
        return 0;
    case PAL_CPMSG_REQUESTS:
    case PAL_CPMSG_ANSWERS:
        *fixed = PAL_CPMSG_BUNDLE_FIXED;
        return 0;
    default:
        return -1;
    }
}

static int from_cp(uint16_t type)
{
    return (type & 0x80) != 0;
}

static uint16_t allowed_flags(uint16_t type)
{
    switch (type) {
    case PAL_CPMSG_DATA:
        return PAL_CPMSG_DATA_LAST | PAL_CPMSG_DATA_SHM;
    case PAL_CPMSG_SCAN:
        return PAL_CPMSG_SCAN_SHM;
    default:
        return 0;
    }
}

static int is_bundle(uint16_t type)
{
    return type == PAL_CPMSG_REQUESTS || type == PAL_CPMSG_ANSWERS;
}

/* The items of a bundle: each a u32 length and a whole message of the bundle's side, its
   header's length equal to it, none a bundle, at least one. Contents are decoded later,
   item by item. */
static int check_items(uint16_t type, pal_cpmsg_bytes items, pal_errbuf *err)
{
    size_t off = 0;
    uint32_t count = 0;
    while (off < items.len) {
        if (items.len - off < 4)
            FAIL("bundle item %u: its length is cut short", count);
        uint32_t n = pal_le32(items.p + off);
        off += 4;
        if (n < PAL_CPMSG_HDR || n > items.len - off)
            FAIL("bundle item %u of %u bytes (%zu left)", count, n, items.len - off);
        uint16_t t = pal_le16(items.p + off);
        if (is_bundle(t))
            FAIL("bundle item %u is itself a bundle", count);
        if (from_cp(t) != from_cp(type))
            FAIL("bundle item %u of type 0x%x from the other side", count, t);
        if (pal_le32(items.p + off + 4) != n)
            FAIL("bundle item %u says %u bytes, it has %u", count, pal_le32(items.p + off + 4), n);
        off += n;
        count++;
    }
    if (count == 0)
        FAIL("bundle without an item");
    return 0;
}

static int valid_status(int32_t st)
{
    return st == PAL_CPMSG_ST_OK || st == PAL_CPMSG_ST_EOF || (st < 0 && st >= PAL_EPROTO);
}

static int decode_config(const uint8_t *b, pal_cpmsg_config *c, pal_errbuf *err)
{
    c->version = pal_le32(b + 16);
    c->channels = pal_le32(b + 20);
    c->flags = pal_le32(b + 24);
    c->id_mode = pal_le32(b + 28);
    c->uid = pal_le32(b + 32);
    c->gid = pal_le32(b + 36);
    c->shm_size = pal_le64(b + 40);
    c->shm_stride = pal_le32(b + 48);
    c->fail_step = pal_le32(b + 52);
    c->rlimit_as = pal_le64(b + 56);
    c->rlimit_cpu = pal_le64(b + 64);
    c->max_depth = pal_le32(b + 72);
    c->max_ratio = pal_le32(b + 76);
    c->max_members = pal_le64(b + 80);
    c->max_expanded_bytes = pal_le64(b + 88);
    c->max_object_size = pal_le64(b + 96);
    c->max_scan_ms = pal_le32(b + 104);
    if (c->version != PAL_CPMSG_VERSION)
        FAIL("CONFIG version %u, expected %u", c->version, PAL_CPMSG_VERSION);
    if (c->channels == 0 || c->channels > PAL_CPMSG_MAX_CHANNELS)
        FAIL("CONFIG with %u channels", c->channels);
    if (c->flags & ~PAL_CPMSG_CFG_ALL)
        FAIL("CONFIG flags 0x%x", c->flags);
    if (c->id_mode > PAL_CPMSG_IDS_KEEP)
        FAIL("CONFIG id mode %u", c->id_mode);
    if (c->shm_stride == 0 || c->shm_stride % 4096 != 0 ||
        c->shm_size != (uint64_t)c->shm_stride * c->channels)
        FAIL("CONFIG shared memory %llu bytes, stride %u", (unsigned long long)c->shm_size,
             c->shm_stride);
    if ((c->flags & PAL_CPMSG_CFG_BULK_SHM) && c->shm_stride < 4096 + PAL_CPMSG_REQ_MAX)
        FAIL("CONFIG bulk area of %u bytes per slot is too small", c->shm_stride);
    if (c->fail_step >= PAL_CPMSG_STEP_COUNT)
        FAIL("CONFIG fail step %u", c->fail_step);
    if (c->max_depth > 64 || c->max_ratio == 0 || c->max_object_size == 0 || c->max_scan_ms == 0)
        FAIL("CONFIG limits out of range");
    if (pal_le32(b + 108) != 0)
        FAIL("CONFIG reserved field not zero");
    return 0;
}

static int decode_body(const uint8_t *b, size_t len, pal_cpmsg *m, pal_errbuf *err)
{
    rd r = {.base = b, .len = len, .off = 0};
    size_t fixed = 0;
    (void)fixed_len(m->type, &fixed);
    r.off = fixed;

    switch (m->type) {
    case PAL_CPMSG_CONFIG:
        if (decode_config(b, &m->u.config, err) < 0)
            return PAL_EPROTO;
        break;

    case PAL_CPMSG_READY: {
        pal_cpmsg_ready *y = &m->u.ready;
        y->version = pal_le32(b + 16);
        y->steps = pal_le32(b + 20);
        y->landlock_abi = (int32_t)pal_le32(b + 24);
        y->uid = pal_le32(b + 28);
        y->gid = pal_le32(b + 32);
        y->build_flags = pal_le32(b + 36);
        y->package_version = pal_le64(b + 40);
        y->rule_count = pal_le32(b + 48);
        y->hash_count = pal_le32(b + 52);
        if (y->version != PAL_CPMSG_VERSION)
            FAIL("READY version %u, expected %u", y->version, PAL_CPMSG_VERSION);
        if (y->steps & ~((1U << PAL_CPMSG_STEP_COUNT) - 1))
            FAIL("READY names unknown sandbox steps 0x%x", y->steps);
        if (y->landlock_abi < 0 || y->landlock_abi > 1000)
            FAIL("READY Landlock ABI %d", y->landlock_abi);
        if (y->build_flags & ~(PAL_CPMSG_BUILD_SELFTEST | PAL_CPMSG_BUILD_SANITIZE))
            FAIL("READY build flags 0x%x", y->build_flags);
        break;
    }

    case PAL_CPMSG_SCAN: {
        pal_cpmsg_scan *s = &m->u.scan;
        s->size = pal_le64(b + 16);
        s->status = (int32_t)pal_le32(b + 24);
        uint32_t name_len = pal_le32(b + 28);
        uint32_t data_len = pal_le32(b + 32);
        s->bulk_off = pal_le32(b + 36);
        int shm = (m->flags & PAL_CPMSG_SCAN_SHM) != 0;
        if (!shm && s->bulk_off != 0)
            FAIL("SCAN bulk offset without its flag");
        if (name_len == 0 || name_len > PAL_CPMSG_NAME_MAX)
            FAIL("SCAN name of %u bytes", name_len);
        uint32_t first_max = shm ? PAL_CPMSG_REQ_MAX : PAL_CPMSG_INLINE_MAX;
        if (data_len > first_max || data_len > s->size)
            FAIL("SCAN with %u first bytes for an object of %llu", data_len,
                 (unsigned long long)s->size);
        if (!valid_status(s->status))
            FAIL("SCAN status %d", s->status);
        uint64_t full = s->size < first_max ? s->size : first_max;
        if (s->status == PAL_CPMSG_ST_OK && data_len != full)
            FAIL("SCAN status OK with %u of %llu first bytes", data_len, (unsigned long long)full);
        if (shm && (s->bulk_off > PAL_CPMSG_REQ_MAX || data_len > PAL_CPMSG_REQ_MAX - s->bulk_off))
            FAIL("SCAN bytes %u..%llu of the bulk area (%u bytes)", s->bulk_off,
                 (unsigned long long)s->bulk_off + data_len, PAL_CPMSG_REQ_MAX);
        if (take(&r, name_len, &s->name) < 0)
            FAIL("SCAN shorter than its name");
        if (shm) {
            s->data.p = NULL;
            s->data.len = data_len;
        } else if (take(&r, data_len, &s->data) < 0) {
            FAIL("SCAN shorter than its name and data");
        }
        if (has_nul(s->name.p, s->name.len))
            FAIL("SCAN name holds a NUL byte");
        break;
    }

    case PAL_CPMSG_DATA: {
        pal_cpmsg_data *d = &m->u.data;
        d->off = pal_le64(b + 16);
        d->status = (int32_t)pal_le32(b + 24);
        d->len = pal_le32(b + 28);
        if (!valid_status(d->status))
            FAIL("DATA status %d", d->status);
        if (d->off > UINT64_MAX - d->len)
            FAIL("DATA range overflows");
        if (m->flags & PAL_CPMSG_DATA_SHM) {
            if (!(m->flags & PAL_CPMSG_DATA_LAST))
                FAIL("DATA in shared memory must be the last part");
            if (d->len > PAL_CPMSG_REQ_MAX)
                FAIL("DATA of %u bytes in shared memory", d->len);
            d->data.p = b + r.off;
            d->data.len = 0;
        } else {
            if (d->len > PAL_CPMSG_CHUNK_MAX)
                FAIL("DATA part of %u bytes", d->len);
            if (take(&r, d->len, &d->data) < 0)
                FAIL("DATA shorter than its %u bytes", d->len);
        }
        if (d->status != PAL_CPMSG_ST_OK && !(m->flags & PAL_CPMSG_DATA_LAST))
            FAIL("DATA with an end status must be the last part");
        break;
    }

    case PAL_CPMSG_SELFTEST: {
        pal_cpmsg_selftest *t = &m->u.selftest;
        t->action = pal_le32(b + 16);
        uint32_t path_len = pal_le32(b + 20);
        t->arg = pal_le64(b + 24);
        if (t->action == 0 || t->action >= PAL_CPMSG_ATTACK_COUNT)
            FAIL("SELFTEST action %u", t->action);
        if (path_len > PAL_CPMSG_PATH_MAX)
            FAIL("SELFTEST path of %u bytes", path_len);
        if (take(&r, path_len, &t->path) < 0)
            FAIL("SELFTEST shorter than its path");
        if (has_nul(t->path.p, t->path.len))
            FAIL("SELFTEST path holds a NUL byte");
        break;
    }

    case PAL_CPMSG_DATA_REQ: {
        pal_cpmsg_data_req *q = &m->u.data_req;
        q->off = pal_le64(b + 16);
        q->len = pal_le32(b + 24);
        if (pal_le32(b + 28) != 0)
            FAIL("DATA_REQ reserved field not zero");
        if (q->len == 0 || q->len > PAL_CPMSG_REQ_MAX)
            FAIL("DATA_REQ for %u bytes (at most %u)", q->len, PAL_CPMSG_REQ_MAX);
        if (q->off > UINT64_MAX - q->len)
            FAIL("DATA_REQ range overflows");
        break;
    }

    case PAL_CPMSG_RESULT: {
        pal_cpmsg_result *s = &m->u.result;
        s->verdict = pal_le32(b + 16);
        s->reason = pal_le32(b + 20);
        s->flags = pal_le32(b + 24);
        s->n_findings = pal_le32(b + 28);
        s->size = pal_le64(b + 32);
        s->bytes_read = pal_le64(b + 40);
        s->objects_scanned = pal_le64(b + 48);
        memcpy(s->sha256, b + 56, 32);
        uint32_t chain_len = pal_le32(b + 88);
        uint32_t detail_len = pal_le32(b + 92);
        if (s->verdict > PAL_VERDICT_UNSCANNABLE)
            FAIL("RESULT verdict %u", s->verdict);
        if (s->reason > PAL_CPMSG_REASON_MAX)
            FAIL("RESULT reason %u", s->reason);
        if (s->flags & ~PAL_CPMSG_RES_SHA_VALID)
            FAIL("RESULT flags 0x%x", s->flags);
        if (s->n_findings > PAL_CPMSG_MAX_FINDINGS)
            FAIL("RESULT announces %u findings", s->n_findings);
        int want = s->n_findings > 0 ? PAL_VERDICT_THREAT
                   : s->reason != 0  ? PAL_VERDICT_UNSCANNABLE
                                     : PAL_VERDICT_CLEAN;
        if ((int)s->verdict != want)
            FAIL("RESULT verdict %u does not fit %u findings and reason %u", s->verdict,
                 s->n_findings, s->reason);
        if (s->bytes_read > s->size)
            FAIL("RESULT read %llu bytes of a %llu-byte object", (unsigned long long)s->bytes_read,
                 (unsigned long long)s->size);
        if (!(s->flags & PAL_CPMSG_RES_SHA_VALID)) {
            static const uint8_t zero[32];
            if (memcmp(s->sha256, zero, 32) != 0)
                FAIL("RESULT carries a SHA-256 it says is not valid");
        }
        if (chain_len > PAL_CPMSG_CHAIN_MAX || detail_len > PAL_CPMSG_DETAIL_MAX)
            FAIL("RESULT strings of %u and %u bytes", chain_len, detail_len);
        if ((s->reason == 0) != (chain_len == 0))
            FAIL("RESULT reason chain present without a reason, or missing");
        if (s->reason == 0 && detail_len != 0)
            FAIL("RESULT detail without a reason");
        if (take(&r, chain_len, &s->chain) < 0 || take(&r, detail_len, &s->detail) < 0)
            FAIL("RESULT shorter than its strings");
        if (has_nul(s->chain.p, s->chain.len) || has_nul(s->detail.p, s->detail.len))
            FAIL("RESULT string holds a NUL byte");
        break;
    }

    case PAL_CPMSG_FINDING: {
        pal_cpmsg_finding *f = &m->u.finding;
        f->index = pal_le32(b + 16);
        uint32_t threat_len = pal_le32(b + 20);
        f->size = pal_le64(b + 24);
        memcpy(f->sha256, b + 32, 32);
        uint32_t chain_len = pal_le32(b + 64);
        uint32_t by_len = pal_le32(b + 68);
        if (f->index >= PAL_CPMSG_MAX_FINDINGS)
            FAIL("FINDING index %u", f->index);
        if (threat_len == 0 || threat_len > PAL_CPMSG_THREAT_MAX)
            FAIL("FINDING threat name of %u bytes", threat_len);
        if (chain_len == 0 || chain_len > PAL_CPMSG_CHAIN_MAX)
            FAIL("FINDING chain of %u bytes", chain_len);
        if (by_len == 0 || by_len > PAL_CPMSG_BY_MAX)
            FAIL("FINDING matched-by of %u bytes", by_len);
        if (take(&r, threat_len, &f->threat) < 0 || take(&r, chain_len, &f->chain) < 0 ||
            take(&r, by_len, &f->by) < 0)
            FAIL("FINDING shorter than its strings");
        if (!printable_ascii(f->threat.p, f->threat.len))
            FAIL("FINDING threat name is not printable ASCII");
        if (has_nul(f->chain.p, f->chain.len))
            FAIL("FINDING chain holds a NUL byte");
        if (pal_cpmsg_check_matched_by(f->by) < 0)
            FAIL("FINDING matched-by is neither sha256, md5, sha1 nor yara:IDENTIFIER");
        break;
    }

    case PAL_CPMSG_SELFTEST_RESULT: {
        pal_cpmsg_selftest_result *t = &m->u.selftest_result;
        t->action = pal_le32(b + 16);
        t->err = (int32_t)pal_le32(b + 20);
        if (t->action == 0 || t->action >= PAL_CPMSG_ATTACK_COUNT)
            FAIL("SELFTEST_RESULT action %u", t->action);
        if (t->err < 0 || t->err > 4095)
            FAIL("SELFTEST_RESULT errno %d", t->err);
        break;
    }

    case PAL_CPMSG_REQUESTS:
    case PAL_CPMSG_ANSWERS:
        if (m->id != 0)
            FAIL("bundle with a request id");
        (void)take(&r, (uint32_t)(len - r.off), &m->u.items);
        if (check_items(m->type, m->u.items, err) < 0)
            return PAL_EPROTO;
        break;

    case PAL_CPMSG_ERROR:
        m->u.error_code = (int32_t)pal_le32(b + 16);
        if (pal_le32(b + 20) != 0)
            FAIL("ERROR reserved field not zero");
        if (m->u.error_code >= 0 || m->u.error_code < PAL_EPROTO)
            FAIL("ERROR code %d", m->u.error_code);
        break;
    }
    if (r.off != len)
        FAIL("%zu trailing bytes", len - r.off);
    return 0;
}

int pal_cpmsg_decode(const void *buf, size_t len, pal_cpmsg_dir dir, pal_cpmsg *out,
                     pal_errbuf *err)
{
    const uint8_t *b = buf;
    if (buf == NULL || len < PAL_CPMSG_HDR)
        FAIL("message of %zu bytes is shorter than a header", buf == NULL ? 0 : len);
    if (len > PAL_CPMSG_MAX)
        FAIL("message of %zu bytes is over the maximum of %u", len, PAL_CPMSG_MAX);
    pal_cpmsg m;
    memset(&m, 0, sizeof(m));
    m.type = pal_le16(b);
    m.flags = pal_le16(b + 2);
    uint32_t mlen = pal_le32(b + 4);
    m.id = pal_le64(b + 8);
    size_t fixed;
    if (fixed_len(m.type, &fixed) < 0)
        FAIL("unknown message type %u", m.type);
    if (from_cp(m.type) != (dir == PAL_CPMSG_FROM_CP))
        FAIL("message type 0x%x may not come from this side", m.type);
    if (mlen != len)
        FAIL("header says %u bytes, the message has %zu", mlen, len);
    if (m.flags & ~allowed_flags(m.type))
        FAIL("flags 0x%x not allowed on type 0x%x", m.flags, m.type);
    if (len < fixed)
        FAIL("type 0x%x needs at least %zu bytes, got %zu", m.type, fixed, len);
    if (m.type == PAL_CPMSG_CONFIG && m.id != 0)
        FAIL("CONFIG with a request id");
    int rc = decode_body(b, len, &m, err);
    if (rc < 0)
        return rc;
    *out = m;
    return 0;
}

/* ---- encoding ---------------------------------------------------------------------------- */

typedef struct wr {
    uint8_t *base;
    size_t cap;
    size_t off;
    int bad;
} wr;

static void put_bytes(wr *w, pal_cpmsg_bytes b)
{
    if (w->bad)
        return;
    if (b.len > w->cap - w->off) {
        w->bad = 1;
        return;
    }
    if (b.len > 0 && b.p != w->base + w->off)
        memmove(w->base + w->off, b.p, b.len);
    w->off += b.len;
}

size_t pal_cpmsg_encode(const pal_cpmsg *m, void *buf, size_t cap)
{
    uint8_t *b = buf;
    size_t fixed;
    if (m == NULL || buf == NULL || fixed_len(m->type, &fixed) < 0)
        return 0;
    if (cap > PAL_CPMSG_MAX)
        cap = PAL_CPMSG_MAX;
    if (cap < fixed || (m->flags & ~allowed_flags(m->type)))
        return 0;
    wr w = {.base = b, .cap = cap, .off = fixed, .bad = 0};
    /* The data of SCAN/DATA may sit in place after the fixed part: write the fixed part
       only (never past it) before the variable part is moved. */
    switch (m->type) {
    case PAL_CPMSG_CONFIG: {
        const pal_cpmsg_config *c = &m->u.config;
        pal_put_le32(b + 16, c->version);
        pal_put_le32(b + 20, c->channels);
        pal_put_le32(b + 24, c->flags);
        pal_put_le32(b + 28, c->id_mode);
        pal_put_le32(b + 32, c->uid);
        pal_put_le32(b + 36, c->gid);
        pal_put_le64(b + 40, c->shm_size);
        pal_put_le32(b + 48, c->shm_stride);
        pal_put_le32(b + 52, c->fail_step);
        pal_put_le64(b + 56, c->rlimit_as);
        pal_put_le64(b + 64, c->rlimit_cpu);
        pal_put_le32(b + 72, c->max_depth);
        pal_put_le32(b + 76, c->max_ratio);
        pal_put_le64(b + 80, c->max_members);
        pal_put_le64(b + 88, c->max_expanded_bytes);
        pal_put_le64(b + 96, c->max_object_size);
        pal_put_le32(b + 104, c->max_scan_ms);
        pal_put_le32(b + 108, 0);
        break;
    }
    case PAL_CPMSG_READY: {
        const pal_cpmsg_ready *y = &m->u.ready;
        pal_put_le32(b + 16, y->version);
        pal_put_le32(b + 20, y->steps);
        pal_put_le32(b + 24, (uint32_t)y->landlock_abi);
        pal_put_le32(b + 28, y->uid);
        pal_put_le32(b + 32, y->gid);
        pal_put_le32(b + 36, y->build_flags);
        pal_put_le64(b + 40, y->package_version);
        pal_put_le32(b + 48, y->rule_count);
        pal_put_le32(b + 52, y->hash_count);
        break;
    }
    case PAL_CPMSG_SCAN: {
        const pal_cpmsg_scan *s = &m->u.scan;
        uint32_t first_max =
            (m->flags & PAL_CPMSG_SCAN_SHM) ? PAL_CPMSG_REQ_MAX : PAL_CPMSG_INLINE_MAX;
        if (s->name.len > PAL_CPMSG_NAME_MAX || s->data.len > first_max)
            return 0;
        pal_put_le64(b + 16, s->size);
        pal_put_le32(b + 24, (uint32_t)s->status);
        pal_put_le32(b + 28, s->name.len);
        pal_put_le32(b + 32, s->data.len);
        pal_put_le32(b + 36, (m->flags & PAL_CPMSG_SCAN_SHM) ? s->bulk_off : 0);
        /* the name goes first: if the data sits in place it lies after the name's room */
        put_bytes(&w, s->name);
        if (!(m->flags & PAL_CPMSG_SCAN_SHM))
            put_bytes(&w, s->data);
        break;
    }
    case PAL_CPMSG_DATA: {
        const pal_cpmsg_data *d = &m->u.data;
        pal_put_le64(b + 16, d->off);
        pal_put_le32(b + 24, (uint32_t)d->status);
        pal_put_le32(b + 28, d->len);
        if (m->flags & PAL_CPMSG_DATA_SHM) {
            if (d->len > PAL_CPMSG_REQ_MAX)
                return 0;
        } else {
            if (d->len > PAL_CPMSG_CHUNK_MAX || d->data.len != d->len)
                return 0;
            put_bytes(&w, d->data);
        }
        break;
    }
    case PAL_CPMSG_SELFTEST: {
        const pal_cpmsg_selftest *t = &m->u.selftest;
        if (t->path.len > PAL_CPMSG_PATH_MAX)
            return 0;
        pal_put_le32(b + 16, t->action);
        pal_put_le32(b + 20, t->path.len);
        pal_put_le64(b + 24, t->arg);
        put_bytes(&w, t->path);
        break;
    }
    case PAL_CPMSG_DATA_REQ:
        pal_put_le64(b + 16, m->u.data_req.off);
        pal_put_le32(b + 24, m->u.data_req.len);
        pal_put_le32(b + 28, 0);
        break;
    case PAL_CPMSG_RESULT: {
        const pal_cpmsg_result *s = &m->u.result;
        if (s->chain.len > PAL_CPMSG_CHAIN_MAX || s->detail.len > PAL_CPMSG_DETAIL_MAX)
            return 0;
        pal_put_le32(b + 16, s->verdict);
        pal_put_le32(b + 20, s->reason);
        pal_put_le32(b + 24, s->flags);
        pal_put_le32(b + 28, s->n_findings);
        pal_put_le64(b + 32, s->size);
        pal_put_le64(b + 40, s->bytes_read);
        pal_put_le64(b + 48, s->objects_scanned);
        memcpy(b + 56, s->sha256, 32);
        pal_put_le32(b + 88, s->chain.len);
        pal_put_le32(b + 92, s->detail.len);
        put_bytes(&w, s->chain);
        put_bytes(&w, s->detail);
        break;
    }
    case PAL_CPMSG_FINDING: {
        const pal_cpmsg_finding *f = &m->u.finding;
        if (f->threat.len > PAL_CPMSG_THREAT_MAX || f->chain.len > PAL_CPMSG_CHAIN_MAX ||
            f->by.len > PAL_CPMSG_BY_MAX)
            return 0;
        pal_put_le32(b + 16, f->index);
        pal_put_le32(b + 20, f->threat.len);
        pal_put_le64(b + 24, f->size);
        memcpy(b + 32, f->sha256, 32);
        pal_put_le32(b + 64, f->chain.len);
        pal_put_le32(b + 68, f->by.len);
        put_bytes(&w, f->threat);
        put_bytes(&w, f->chain);
        put_bytes(&w, f->by);
        break;
    }
    case PAL_CPMSG_SELFTEST_RESULT:
        pal_put_le32(b + 16, m->u.selftest_result.action);
        pal_put_le32(b + 20, (uint32_t)m->u.selftest_result.err);
        break;
    case PAL_CPMSG_ERROR:
        pal_put_le32(b + 16, (uint32_t)m->u.error_code);
        pal_put_le32(b + 20, 0);
        break;
    case PAL_CPMSG_REQUESTS:
    case PAL_CPMSG_ANSWERS:
        put_bytes(&w, m->u.items);
        break;
    }
    if (w.bad)
        return 0;
    pal_put_le16(b, m->type);
    pal_put_le16(b + 2, m->flags);
    pal_put_le32(b + 4, (uint32_t)w.off);
    pal_put_le64(b + 8, m->id);
    return w.off;
}

/* ---- bundles ----------------------------------------------------------------------------- */

int pal_cpmsg_bundle_next(pal_cpmsg_bytes *rest, pal_cpmsg_bytes *item)
{
    if (rest->len < 4)
        return 0;
    uint32_t n = pal_le32(rest->p);
    if (n > rest->len - 4)
        return 0; /* not what the decoder passed: nothing is taken from it */
    item->p = rest->p + 4;
    item->len = n;
    rest->p += 4 + (size_t)n;
    rest->len -= 4 + n;
    return 1;
}

void pal_cpmsg_bundle_start(pal_cpmsg_bundler *b, void *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap < PAL_CPMSG_MAX ? cap : PAL_CPMSG_MAX;
    b->len = PAL_CPMSG_BUNDLE_FIXED;
    b->count = 0;
}

int pal_cpmsg_bundle_add(pal_cpmsg_bundler *b, const pal_cpmsg *m)
{
    if (m == NULL || is_bundle(m->type) || b->len + 4 > b->cap)
        return -1;
    size_t n = pal_cpmsg_encode(m, b->buf + b->len + 4, b->cap - b->len - 4);
    if (n == 0)
        return -1;
    pal_put_le32(b->buf + b->len, (uint32_t)n);
    b->len += 4 + n;
    b->count++;
    return 0;
}

size_t pal_cpmsg_bundle_finish(pal_cpmsg_bundler *b, uint16_t type)
{
    if (b->count == 0 || !is_bundle(type))
        return 0;
    pal_put_le16(b->buf, type);
    pal_put_le16(b->buf + 2, 0);
    pal_put_le32(b->buf + 4, (uint32_t)b->len);
    pal_put_le64(b->buf + 8, 0);
    return b->len;
}
