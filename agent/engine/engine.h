/*
 * engine.h — the scan engine: SHA-256 and YARA detection with recursive container expansion.
 *
 * The engine never opens a file. It sees an object only through a pal_source (size +
 * read_at), which in the broker is pread on an fd and in the content process a request to
 * the broker. Each object is read once, front to back, into one buffer shared by hashing,
 * YARA (which must see an object as one block: libyara 4.2 misses strings that cross
 * blocks) and libarchive (opened on that buffer, so seeking formats seek in memory).
 * Container members are expanded into memory and scanned recursively in the same way.
 *
 * Threads: one pal_engine (shared, read-only after creation: package + compiled rules +
 * limits) and one pal_scanner per thread.
 *
 * The engine never says clean about content it did not examine: every limit hit, encrypted
 * member, corrupt container or read failure makes the object unscannable with a reason,
 * and threats found before that are still reported.
 *
 * Time zone: the caller sets TZ=UTC and calls tzset() before the first scan (in the content
 * process, before the sandbox closes): libarchive's zip and 7z date handling otherwise
 * reads /etc/localtime. README.md lists the formats, the limits and what each reason means.
 */
#ifndef PAL_ENGINE_H
#define PAL_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "names.h" /* pal_unscannable and its names */
#include "pal_error.h"
#include "sigpkg.h"

/* ---- content source -------------------------------------------------------------------- */

typedef struct pal_source {
    uint64_t size; /* object size as known when the scan starts */
    /*
     * Read up to len bytes at off into buf. Returns the number of bytes read (0 only at or
     * past the end) or a negative PAL_E* code. May return fewer than len; the engine loops.
     */
    ssize_t (*read_at)(void *ctx, uint64_t off, void *buf, size_t len);
    void *ctx;
} pal_source;

/* A source over memory (tests, fuzzing, members). data must stay valid while it is used;
   its read_at trusts its caller to stay within [0, len), as the engine does. */
void pal_source_from_memory(pal_source *src, const void *data, size_t len);

/* ---- limits ---------------------------------------------------------------------------- */

typedef struct pal_limits {
    unsigned max_depth;          /* container nesting levels expanded (MaxRecursionDepth) */
    uint64_t max_members;        /* members per container */
    uint64_t max_expanded_bytes; /* bytes expanded from containers, per top-level object */
    uint32_t max_ratio;          /* expanded size / compressed size of one member, judged
                                    once the object has expanded PAL_RATIO_FLOOR bytes */
    uint64_t max_object_size;    /* largest object (file or member) read and matched */
    uint32_t max_scan_ms;        /* wall time per top-level object */
} pal_limits;

/* 16: a threat ten containers deep is found (ClamAV's default is 17); depth costs one member
   buffer per level, and the expanded-bytes budget and the time limit bound the work. */
#define PAL_DEFAULT_MAX_DEPTH 16
#define PAL_DEFAULT_MAX_MEMBERS 100000
#define PAL_DEFAULT_MAX_EXPANDED_BYTES (1024ULL << 20) /* 1 GiB */
#define PAL_DEFAULT_MAX_RATIO 250
#define PAL_DEFAULT_MAX_OBJECT_SIZE (256ULL << 20) /* 256 MiB */
#define PAL_DEFAULT_MAX_SCAN_MS 120000
/*
 * The ratio limit applies only once the members of one top-level object have expanded past
 * this many bytes in total: compressible data (logs, disk images, 100 MiB of zeros before a
 * threat: about 1000:1) is legitimate and is examined up to here; past it, a member that
 * expands more than max_ratio times is a bomb. Equal to the default object-size limit, so a
 * single member under that limit is never judged by ratio. (expand.c; README.md says why.)
 */
#define PAL_RATIO_FLOOR (256ULL << 20) /* 256 MiB */

void pal_limits_default(pal_limits *lim);
/* pal_engine_new refuses max_depth above 64 and a zero max_object_size, max_ratio or
   max_scan_ms; max_depth 0 expands nothing. */

/* ---- results --------------------------------------------------------------------------- */

typedef struct pal_finding {
    char *chain;    /* "name" or "name->member->member" (owned) */
    char *threat;   /* catalog name (owned copy) */
    char *category; /* (owned copy) */
    pal_severity severity;
    pal_action default_action;
    uint32_t threat_id;
    char *matched_by;   /* "sha256" or "yara:<rule identifier>" (owned) */
    uint8_t sha256[32]; /* of the object that matched (member for containers) */
    uint64_t size;      /* of that object */
} pal_finding;

typedef struct pal_report {
    pal_verdict verdict;
    pal_finding *findings; /* one per distinct (chain, threat); at most 10000 kept */
    size_t n_findings;
    pal_unscannable reason;   /* first reason met, NONE when everything was examined */
    char *reason_chain;       /* where it happened (owned, NULL when NONE) */
    char *reason_detail;      /* human detail, e.g. libarchive's message (owned or NULL) */
    int sha256_valid;         /* the whole top-level object was read */
    uint8_t sha256[32];       /* of the top-level object */
    uint64_t size;            /* bytes of the top-level object */
    uint64_t bytes_read;      /* bytes pulled from the source */
    uint64_t objects_scanned; /* top-level + members matched */
} pal_report;

void pal_report_init(pal_report *rep);
void pal_report_free(pal_report *rep); /* frees the contents, keeps rep itself */

/* ---- engine and scanners --------------------------------------------------------------- */

typedef struct pal_engine pal_engine;
typedef struct pal_scanner pal_scanner;

/*
 * Load the package's compiled rules and build the engine. pkg must outlive the engine.
 * Calls yr_initialize() (reference counted by libyara).
 */
int pal_engine_new(const pal_sigpkg *pkg, const pal_limits *limits, pal_engine **out,
                   pal_errbuf *err);
void pal_engine_free(pal_engine *eng);
/*
 * Free the compiled YARA rules until a scanner needs them: the next pal_scanner_new loads
 * them again from the package (checked when the engine was made, so only memory can make
 * that fail). For a broker whose scans run in the content process: it keeps the package
 * mapped but not a second compiled copy of every rule (memory is measured as broker plus
 * content process). Call it before any scanner of the engine exists.
 */
void pal_engine_park_rules(pal_engine *eng);
/* 1 while the compiled rules are in memory (not parked, or reloaded). */
int pal_engine_rules_resident(pal_engine *eng);
const pal_sigpkg *pal_engine_package(const pal_engine *eng);
const pal_limits *pal_engine_limits(const pal_engine *eng);

/* One per thread. */
int pal_scanner_new(pal_engine *eng, pal_scanner **out);
void pal_scanner_free(pal_scanner *sc);
/* Give back what a scanner keeps between scans (buffers up to 4 MiB per nesting level,
   libyara's match storage): for a thread that has gone idle. The next scan allocates what
   it needs again. */
void pal_scanner_release_buffers(pal_scanner *sc);

/*
 * Scan one object. name is the chain root (usually the path). cancel, if not NULL, is
 * polled: when it becomes non-zero the scan stops with PAL_UNSCANNABLE_CANCELLED.
 * Returns 0 with *rep filled (rep is initialised by the call; free it with pal_report_free)
 * or a negative code when the engine itself is broken (out of memory); then *rep is empty.
 */
int pal_scan(pal_scanner *sc, const pal_source *src, const char *name, const volatile int *cancel,
             pal_report *rep);

/*
 * The same for an object that is already whole in memory (len bytes at data, unchanged and
 * readable until the call returns): scanned where it lies, not copied into the scanner's
 * buffer first. The report is the one pal_scan gives for a source over the same bytes.
 */
int pal_scan_memory(pal_scanner *sc, const void *data, size_t len, const char *name,
                    const volatile int *cancel, pal_report *rep);

#endif
