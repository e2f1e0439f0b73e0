/*
 * cpmsg.h — the wire format between the broker and the content process (palisade-cp): one
 * message, or one bundle of them (REQUESTS, ANSWERS), per SOCK_SEQPACKET datagram on one of
 * K channels (one channel per scan slot), encoded and strictly decoded by this module for
 * both ends.
 *
 * The broker treats everything the content process sends as hostile: pal_cpmsg_decode
 * checks the structure of a message (length, type, direction, flags, every field's range,
 * every string's length and bytes) before anything looks at it; the broker then checks state
 * (is this the scan in flight, may this type come now) and meaning (offset within the object,
 * threat in the catalog, chain rooted at the object's name) — see agent/core/supervisor/cpchan.c.
 * The content process decodes the broker's messages with the same strict decoder.
 *
 * All integers are little-endian. Strings are length-prefixed (the length sits in the fixed
 * part, the bytes follow it in the order listed), never NUL-terminated on the wire, and a
 * string holding a NUL byte is refused. A message must be exactly as long as its fixed part
 * plus its strings and data: trailing bytes are refused.
 *
 * Header (every message):
 *
 * | off | size | field   | meaning                                                          |
 * |-----|------|---------|------------------------------------------------------------------|
 * | 0   | 2    | type    | PAL_CPMSG_* below                                                |
 * | 2   | 2    | flags   | per type; bits not defined for the type must be 0                |
 * | 4   | 4    | length  | bytes of the whole message; must equal the datagram's size       |
 * | 8   | 8    | id      | request id: the broker's scan/self-test id, echoed by the CP     |
 *
 * Broker -> content process:
 *
 * CONFIG (1), first message on channel 0, once, id 0; answered by READY. 112 bytes.
 * | 16 u32 version (PAL_CPMSG_VERSION)   | 20 u32 channels K (1..PAL_CPMSG_MAX_CHANNELS)     |
 * | 24 u32 flags (PAL_CPMSG_CFG_*)        | 28 u32 id_mode (PAL_CPMSG_IDS_*)                  |
 * | 32 u32 uid to drop to                 | 36 u32 gid to drop to                             |
 * | 40 u64 shm_size (bytes of the memfd)  | 48 u32 shm_stride (bytes per slot, page multiple) |
 * | 52 u32 fail_step (self-test builds: fail this step on purpose; 0 = none)                 |
 * | 56 u64 rlimit_as (bytes, 0 = unlimited) | 64 u64 rlimit_cpu (seconds, 0 = unlimited)      |
 * | 72 u32 max_depth | 76 u32 max_ratio | 80 u64 max_members | 88 u64 max_expanded_bytes     |
 * | 96 u64 max_object_size | 104 u32 max_scan_ms | 108 u32 reserved (0)                       |
 *
 * SCAN (2): start scanning one object. The first bytes travel with it, so that a small file
 * costs one round trip. 40 bytes + name + data.
 * | 16 u64 size of the object | 24 i32 status after the first bytes (PAL_CPMSG_ST_* or a    |
 * |                           |   negative PAL_E* read error at offset data_len)             |
 * | 28 u32 name_len (1..PAL_CPMSG_NAME_MAX) | 32 u32 data_len | 36 u32 bulk_off               |
 * | 40 name bytes | then data_len bytes: the object from offset 0                              |
 * flags: PAL_CPMSG_SCAN_SHM when the first bytes are in the slot's shared bulk area at
 * bulk_off (bulk_off + data_len <= PAL_CPMSG_REQ_MAX) and no bytes follow the name, which
 * spares the kernel two copies of them, and lets an object of at most PAL_CPMSG_REQ_MAX bytes
 * be scanned where it lies; without it bulk_off is 0. With status OK, data_len ==
 * min(size, PAL_CPMSG_INLINE_MAX), or min(size, PAL_CPMSG_REQ_MAX) with PAL_CPMSG_SCAN_SHM;
 * otherwise data_len is less.
 *
 * DATA (3): part of the answer to a DATA_REQ. flags: PAL_CPMSG_DATA_LAST on the last part,
 * PAL_CPMSG_DATA_SHM when the bytes are in the slot's shared bulk area instead of inline
 * (then one part only, LAST set, and no bytes follow). 32 bytes + data.
 * | 16 u64 off | 24 i32 status (as in SCAN: OK, EOF, or PAL_E* after these bytes) |
 * | 28 u32 len (bytes delivered by this part) | 32 data (len bytes unless SHM) |
 *
 * SELFTEST (4): self-test builds only: attempt one forbidden operation. 32 bytes + path.
 * | 16 u32 action (PAL_CPMSG_ATTACK_*) | 20 u32 path_len (0..PAL_CPMSG_PATH_MAX) |
 * | 24 u64 arg (a pid for ptrace/kill) | 32 path bytes (the control socket for CONNECT) |
 *
 * REQUESTS (5): several SCANs in one datagram, so that a batch of small objects costs one
 * send and one receive. 16 bytes + items, each a u32 length and then a whole message of
 * that length (at least PAL_CPMSG_HDR bytes, its own header's length equal to it) from the
 * same side; at least one item, none of them a REQUESTS or ANSWERS; id 0, flags 0. Each item
 * is decoded on its own (pal_cpmsg_bundle_next, then pal_cpmsg_decode) as if it had come
 * alone, in order. Only SCANs whose whole object is in the bulk area go in one (status OK,
 * data_len == size, PAL_CPMSG_SCAN_SHM).
 *
 * Content process -> broker:
 *
 * READY (0x81): answer to CONFIG once the sandbox is complete. 56 bytes.
 * | 16 u32 version | 20 u32 steps applied (bits 1 << PAL_CPMSG_STEP_*) | 24 i32 landlock ABI |
 * | 28 u32 uid now | 32 u32 gid now | 36 u32 build flags (PAL_CPMSG_BUILD_*) |
 * | 40 u64 package version | 48 u32 rule count | 52 u32 hash count |
 *
 * DATA_REQ (0x82): inside a scan, ask for bytes [off, off + len). 32 bytes.
 * | 16 u64 off | 24 u32 len (1..PAL_CPMSG_REQ_MAX) | 28 u32 reserved (0) |
 *
 * RESULT (0x83): the report of a scan; n_findings FINDING messages follow. 96 bytes + strings.
 * | 16 u32 verdict (pal_verdict) | 20 u32 reason (pal_unscannable) | 24 u32 flags (SHA_VALID) |
 * | 28 u32 n_findings (0..PAL_CPMSG_MAX_FINDINGS) | 32 u64 size | 40 u64 bytes_read |
 * | 48 u64 objects_scanned | 56 u8[32] sha256 of the object (zero unless SHA_VALID) |
 * | 88 u32 chain_len (0..PAL_CPMSG_CHAIN_MAX) | 92 u32 detail_len (0..PAL_CPMSG_DETAIL_MAX) |
 * | 96 reason_chain | then reason_detail |
 * verdict THREAT iff n_findings > 0; UNSCANNABLE iff no finding and a reason; CLEAN iff
 * neither. reason_chain is present iff there is a reason; detail only with a reason.
 *
 * FINDING (0x84): one finding of the RESULT before it. 72 bytes + strings.
 * | 16 u32 index (0, 1, ... in order) | 20 u32 threat_len (1..PAL_CPMSG_THREAT_MAX) |
 * | 24 u64 size of the matching object | 32 u8[32] its sha256 |
 * | 64 u32 chain_len (1..PAL_CPMSG_CHAIN_MAX) | 68 u32 by_len (1..PAL_CPMSG_BY_MAX) |
 * | 72 threat name (printable ASCII) | then chain | then matched_by ("sha256", "md5", "sha1" or
 * "yara:ID") |
 *
 * SELFTEST_RESULT (0x85): the attempt returned; 24 bytes.
 * | 16 u32 action | 20 i32 err (errno of the failed attempt; 0: the attempt succeeded) |
 *
 * ERROR (0x86): the request could not be served (the engine failed, e.g. out of memory, or
 * a self-test on a build without them). 24 bytes.
 * | 16 i32 code (negative PAL_E*) | 20 u32 reserved (0) |
 *
 * ANSWERS (0x87): several answers in one datagram, framed as REQUESTS (items from the content
 * process): the messages the content process held while more requests waited (below).
 *
 * Conversation on a channel: CONFIG/READY once (channel 0), then any number of
 *   SCAN (DATA_REQ DATA... DATA[LAST])* RESULT FINDING*    or   SELFTEST SELFTEST_RESULT
 * and ERROR may replace RESULT or SELFTEST_RESULT. The content process never speaks first.
 * Pipelining: the broker may send several SCANs before it reads, each its own request id,
 * but only SCANs that hold their whole object inline or in the bulk area (status OK,
 * data_len == size), which the content process answers without a DATA_REQ; with a bulk area
 * they go as one REQUESTS, each object at its own bulk_off. It answers them in the order
 * they came, each request's RESULT FINDING* (or ERROR) complete before the next one's; it
 * may hold answers while further requests wait and send them together, as one ANSWERS. Any
 * other order, or an answer for a request not yet due, is a violation
 * (agent/core/supervisor/cppipe.c).
 */
#ifndef PAL_CPMSG_H
#define PAL_CPMSG_H

#include <stddef.h>
#include <stdint.h>

#include "names.h" /* pal_verdict, pal_unscannable: RESULT carries their numbers */
#include "pal_error.h"

/* CONFIG and READY carry it: a broker and a content process of different builds (an
   upgrade replaced one under the other) refuse each other at the start, with a clear error,
   instead of misreading each other's messages. 2: REQUESTS, ANSWERS, SCAN in the bulk area. */
#define PAL_CPMSG_VERSION 2

#define PAL_CPMSG_HDR 16
#define PAL_CPMSG_MAX (128U * 1024U)       /* largest message (datagram), both directions */
#define PAL_CPMSG_INLINE_MAX (64U * 1024U) /* first bytes of the object inside SCAN */
#define PAL_CPMSG_CHUNK_MAX (64U * 1024U)  /* bytes per inline DATA part */
#define PAL_CPMSG_REQ_MAX (1024U * 1024U)  /* bytes one DATA_REQ may ask for */
#define PAL_CPMSG_NAME_MAX 4095U           /* object name (path) bytes */
#define PAL_CPMSG_CHAIN_MAX (96U * 1024U)  /* a chain: name + depth x (member name <= 1 KiB) */
#define PAL_CPMSG_DETAIL_MAX 1024U
#define PAL_CPMSG_THREAT_MAX 255U /* = PAL_THREAT_NAME_MAX */
#define PAL_CPMSG_BY_MAX 160U     /* "yara:" + a YARA identifier (<= 128) */
#define PAL_CPMSG_PATH_MAX 1024U
#define PAL_CPMSG_MAX_FINDINGS 10000U /* the engine keeps at most this many */
#define PAL_CPMSG_MAX_CHANNELS 64U
#define PAL_CPMSG_REASON_MAX 11U /* PAL_UNSCANNABLE_CANCELLED, the last reason */

/* The fixed part of each type (the sizes in the table above): strings and data follow it.
   SCAN's and DATA's are also where their data starts, for in-place encoding. */
#define PAL_CPMSG_CONFIG_FIXED 112U
#define PAL_CPMSG_SCAN_FIXED 40U
#define PAL_CPMSG_DATA_FIXED 32U
#define PAL_CPMSG_SELFTEST_FIXED 32U
#define PAL_CPMSG_READY_FIXED 56U
#define PAL_CPMSG_DATA_REQ_FIXED 32U
#define PAL_CPMSG_RESULT_FIXED 96U
#define PAL_CPMSG_FINDING_FIXED 72U
#define PAL_CPMSG_SELFTEST_RESULT_FIXED 24U
#define PAL_CPMSG_ERROR_FIXED 24U
#define PAL_CPMSG_BUNDLE_FIXED 16U /* REQUESTS and ANSWERS: the header, then the items */

/* The wire carries pal_verdict and pal_unscannable as numbers: renumbering either, or adding
   a reason the engine can send without raising PAL_CPMSG_REASON_MAX, must fail here. */
_Static_assert(PAL_VERDICT_CLEAN == 0 && PAL_VERDICT_THREAT == 1 && PAL_VERDICT_UNSCANNABLE == 2,
               "RESULT verdict numbers");
_Static_assert(PAL_UNSCANNABLE_NONE == 0 && PAL_UNSCANNABLE_DEPTH == 1 &&
                   PAL_UNSCANNABLE_MEMBERS == 2 && PAL_UNSCANNABLE_EXPANDED_BYTES == 3 &&
                   PAL_UNSCANNABLE_RATIO == 4 && PAL_UNSCANNABLE_TOO_LARGE == 5 &&
                   PAL_UNSCANNABLE_TIMEOUT == 6 && PAL_UNSCANNABLE_ENCRYPTED == 7 &&
                   PAL_UNSCANNABLE_CORRUPT == 8 && PAL_UNSCANNABLE_READ_ERROR == 9 &&
                   PAL_UNSCANNABLE_ENGINE_ERROR == 10 && PAL_UNSCANNABLE_CANCELLED == 11,
               "RESULT reason numbers");
/* The reasons after CANCELLED are the broker's own: a content process never sends them. */
_Static_assert(PAL_CPMSG_REASON_MAX == PAL_UNSCANNABLE_CANCELLED &&
                   PAL_UNSCANNABLE_CP_MISBEHAVED == PAL_UNSCANNABLE_CANCELLED + 1,
               "PAL_CPMSG_REASON_MAX is the last reason an engine reports");

enum pal_cpmsg_type {
    PAL_CPMSG_CONFIG = 1,
    PAL_CPMSG_SCAN = 2,
    PAL_CPMSG_DATA = 3,
    PAL_CPMSG_SELFTEST = 4,
    PAL_CPMSG_REQUESTS = 5,
    PAL_CPMSG_READY = 0x81,
    PAL_CPMSG_DATA_REQ = 0x82,
    PAL_CPMSG_RESULT = 0x83,
    PAL_CPMSG_FINDING = 0x84,
    PAL_CPMSG_SELFTEST_RESULT = 0x85,
    PAL_CPMSG_ERROR = 0x86,
    PAL_CPMSG_ANSWERS = 0x87,
};

/* Who sent it: the decoder refuses a type from the wrong side. */
typedef enum pal_cpmsg_dir {
    PAL_CPMSG_FROM_BROKER = 0,
    PAL_CPMSG_FROM_CP = 1,
} pal_cpmsg_dir;

/* CONFIG flags */
#define PAL_CPMSG_CFG_BULK_SHM 0x1U /* DATA answers use the shared bulk area */
#define PAL_CPMSG_CFG_CORE 0x2U     /* core dumps allowed (RLIMIT_CORE not 0) */
#define PAL_CPMSG_CFG_MOUNT_NS 0x4U /* a private mount namespace exists: build the empty root */
#define PAL_CPMSG_CFG_ALL 0x7U

/* CONFIG id_mode: how the content process gives up its identity */
#define PAL_CPMSG_IDS_DROP 0U   /* broker is root: setgroups/setresgid/setresuid to uid/gid */
#define PAL_CPMSG_IDS_USERNS 1U /* in a user namespace mapping only the broker's uid to 0 */
#define PAL_CPMSG_IDS_KEEP 2U   /* broker not root and no user namespace: already unprivileged */

/* SCAN and DATA status */
#define PAL_CPMSG_ST_OK 0  /* more may follow */
#define PAL_CPMSG_ST_EOF 1 /* the source ended after these bytes (short file) */
/* negative: a PAL_E* read error after these bytes */

/* DATA flags */
/* SCAN flags */
#define PAL_CPMSG_SCAN_SHM 0x1U /* the first bytes are in the bulk area at bulk_off */

#define PAL_CPMSG_DATA_LAST 0x1U
#define PAL_CPMSG_DATA_SHM 0x2U

/* RESULT flags */
#define PAL_CPMSG_RES_SHA_VALID 0x1U

/* READY build flags */
#define PAL_CPMSG_BUILD_SELFTEST 0x1U /* this binary accepts SELFTEST (never installed) */
#define PAL_CPMSG_BUILD_SANITIZE 0x2U /* built with ASan/UBSan: relaxed rlimit and filter */

/*
 * Sandbox steps, in the order they are applied. The broker applies the namespaces (clone3
 * flags); the content process applies the rest and reports them in READY. A content
 * process that fails a step writes one line on stderr and exits with
 * PAL_CPMSG_EXIT_STEP_BASE + step, so the broker can say which.
 */
enum pal_cpmsg_step {
    PAL_CPMSG_STEP_NS_USER = 0, /* only when the broker is not root */
    PAL_CPMSG_STEP_NS_PID,
    PAL_CPMSG_STEP_NS_MOUNT,
    PAL_CPMSG_STEP_NS_NET,
    PAL_CPMSG_STEP_NS_IPC,
    PAL_CPMSG_STEP_NS_UTS,
    PAL_CPMSG_STEP_PDEATHSIG,
    PAL_CPMSG_STEP_FDS,     /* everything closed but channels, package, shm, stderr */
    PAL_CPMSG_STEP_PREWARM, /* TZ, package mapped, engine + scanners built and exercised */
    PAL_CPMSG_STEP_RLIMITS,
    PAL_CPMSG_STEP_ROOT, /* empty read-only tmpfs root (needs the mount namespace) */
    PAL_CPMSG_STEP_CAPBSET,
    PAL_CPMSG_STEP_IDS,
    PAL_CPMSG_STEP_CAPS,
    PAL_CPMSG_STEP_NNP,
    PAL_CPMSG_STEP_DUMPABLE,
    PAL_CPMSG_STEP_LANDLOCK, /* only when the kernel has Landlock */
    PAL_CPMSG_STEP_SECCOMP,
    PAL_CPMSG_STEP_COUNT
};

#define PAL_CPMSG_EXIT_USAGE 2  /* bad command line or fd layout */
#define PAL_CPMSG_EXIT_CONFIG 3 /* CONFIG missing or malformed */
#define PAL_CPMSG_EXIT_PROTO 5  /* the broker sent something this side does not accept */
#define PAL_CPMSG_EXIT_IO 6     /* a channel failed */
#define PAL_CPMSG_EXIT_STEP_BASE 64

/* "pid-namespace", "seccomp", ...; "unknown" out of range. */
const char *pal_cpmsg_step_name(unsigned step);
/* What an exit status of palisade-cp means ("sandbox step seccomp failed", ...). */
const char *pal_cpmsg_exit_meaning(int status);

/* Self-test attacks (SELFTEST action): each must fail or get the content process killed. */
enum pal_cpmsg_attack {
    PAL_CPMSG_ATTACK_OPEN_PASSWD = 1,
    PAL_CPMSG_ATTACK_CREATE_FILE,
    PAL_CPMSG_ATTACK_CONNECT_CONTROL, /* path: the control socket */
    PAL_CPMSG_ATTACK_SOCKET_INET,
    PAL_CPMSG_ATTACK_EXECVE,
    PAL_CPMSG_ATTACK_FORK,
    PAL_CPMSG_ATTACK_PTRACE_BROKER, /* arg: the broker's pid */
    PAL_CPMSG_ATTACK_KILL_BROKER,   /* arg: the broker's pid */
    PAL_CPMSG_ATTACK_MMAP_EXEC,
    PAL_CPMSG_ATTACK_MPROTECT_EXEC,
    PAL_CPMSG_ATTACK_SETUID0,
    PAL_CPMSG_ATTACK_READ_PROC1_ENVIRON,
    PAL_CPMSG_ATTACK_COUNT
};
const char *pal_cpmsg_attack_name(unsigned action); /* "open-passwd", ...; "unknown" */

/* ---- decoded messages ------------------------------------------------------------------- */

/* A string or byte range inside the message buffer: valid while the buffer is. */
typedef struct pal_cpmsg_bytes {
    const uint8_t *p;
    uint32_t len;
} pal_cpmsg_bytes;

typedef struct pal_cpmsg_config {
    uint32_t version, channels, flags, id_mode, uid, gid;
    uint64_t shm_size;
    uint32_t shm_stride, fail_step;
    uint64_t rlimit_as, rlimit_cpu;
    uint32_t max_depth, max_ratio;
    uint64_t max_members, max_expanded_bytes, max_object_size;
    uint32_t max_scan_ms;
} pal_cpmsg_config;

typedef struct pal_cpmsg_ready {
    uint32_t version, steps;
    int32_t landlock_abi;
    uint32_t uid, gid, build_flags;
    uint64_t package_version;
    uint32_t rule_count, hash_count;
} pal_cpmsg_ready;

typedef struct pal_cpmsg_scan {
    uint64_t size;
    int32_t status;
    uint32_t bulk_off; /* with PAL_CPMSG_SCAN_SHM */
    pal_cpmsg_bytes name;
    pal_cpmsg_bytes data; /* with PAL_CPMSG_SCAN_SHM: p NULL, len the bytes in the bulk area */
} pal_cpmsg_scan;

typedef struct pal_cpmsg_data {
    uint64_t off;
    int32_t status;
    uint32_t len;
    pal_cpmsg_bytes data; /* empty with PAL_CPMSG_DATA_SHM */
} pal_cpmsg_data;

typedef struct pal_cpmsg_data_req {
    uint64_t off;
    uint32_t len;
} pal_cpmsg_data_req;

typedef struct pal_cpmsg_result {
    uint32_t verdict, reason, flags, n_findings;
    uint64_t size, bytes_read, objects_scanned;
    uint8_t sha256[32];
    pal_cpmsg_bytes chain, detail;
} pal_cpmsg_result;

typedef struct pal_cpmsg_finding {
    uint32_t index;
    uint64_t size;
    uint8_t sha256[32];
    pal_cpmsg_bytes threat, chain, by;
} pal_cpmsg_finding;

typedef struct pal_cpmsg_selftest {
    uint32_t action;
    uint64_t arg;
    pal_cpmsg_bytes path;
} pal_cpmsg_selftest;

typedef struct pal_cpmsg_selftest_result {
    uint32_t action;
    int32_t err;
} pal_cpmsg_selftest_result;

typedef struct pal_cpmsg {
    uint16_t type;
    uint16_t flags;
    uint64_t id;
    union {
        pal_cpmsg_config config;
        pal_cpmsg_ready ready;
        pal_cpmsg_scan scan;
        pal_cpmsg_data data;
        pal_cpmsg_data_req data_req;
        pal_cpmsg_result result;
        pal_cpmsg_finding finding;
        pal_cpmsg_selftest selftest;
        pal_cpmsg_selftest_result selftest_result;
        int32_t error_code;
        pal_cpmsg_bytes items; /* REQUESTS, ANSWERS: the framed items, checked */
    } u;
} pal_cpmsg;

/*
 * Decode one datagram of len bytes that came from the side dir. Checks the whole structure
 * (see the table above) and returns 0 with *out filled (its byte ranges point into buf), or
 * PAL_EPROTO with err saying what is wrong; *out is then untouched.
 */
int pal_cpmsg_decode(const void *buf, size_t len, pal_cpmsg_dir dir, pal_cpmsg *out,
                     pal_errbuf *err);

/*
 * Encode m into buf (cap bytes). Returns the message length, or 0 for an unknown type, a
 * flag the type does not have, a string or data over its maximum, or a message that does not
 * fit. Field ranges and the consistency rules (a RESULT's verdict against its findings...)
 * are the sender's business: the decoder checks them. The data of SCAN and DATA may already
 * sit in place in buf (at PAL_CPMSG_SCAN_FIXED + name length, or PAL_CPMSG_DATA_FIXED).
 */
size_t pal_cpmsg_encode(const pal_cpmsg *m, void *buf, size_t cap);

/*
 * Take the next item of a REQUESTS or ANSWERS: *rest starts as the decoded message's items
 * and shrinks; 1 with *item (a whole message, to decode with pal_cpmsg_decode), 0 when no
 * item is left. The framing was checked by the decoder.
 */
int pal_cpmsg_bundle_next(pal_cpmsg_bytes *rest, pal_cpmsg_bytes *item);

/* Building a REQUESTS or ANSWERS in a buffer of its own (at most PAL_CPMSG_MAX bytes). */
typedef struct pal_cpmsg_bundler {
    uint8_t *buf;
    size_t cap;
    size_t len; /* header and the items added so far */
    uint32_t count;
} pal_cpmsg_bundler;

void pal_cpmsg_bundle_start(pal_cpmsg_bundler *b, void *buf, size_t cap);
/* Encode m as the next item: 0, or -1 when it does not fit (or cannot be encoded: the
   caller tells them apart by encoding it alone). */
int pal_cpmsg_bundle_add(pal_cpmsg_bundler *b, const pal_cpmsg *m);
/* Write the header of type (PAL_CPMSG_REQUESTS or PAL_CPMSG_ANSWERS); the datagram is
   b->buf, the length returned. 0 when there is no item. */
size_t pal_cpmsg_bundle_finish(pal_cpmsg_bundler *b, uint16_t type);

/* ---- meaning checks shared by the broker and the fuzz target ----------------------------- */

/*
 * A chain the content process reports for an object scanned under name: name itself, or
 * name + "->" + member names as the engine writes them (raw bytes except NUL, at least one).
 * Returns 0 or PAL_EPROTO.
 */
int pal_cpmsg_check_chain(const char *name, size_t name_len, pal_cpmsg_bytes chain);

/* "sha256" or "yara:" followed by a YARA identifier. 0 or PAL_EPROTO. */
int pal_cpmsg_check_matched_by(pal_cpmsg_bytes by);

/* 1 when b is well-formed UTF-8 without C0, DEL or C1 control characters. */
int pal_cpmsg_utf8_clean(const uint8_t *p, size_t len);

#endif
