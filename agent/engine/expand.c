/*
 * expand.c — container expansion with libarchive, in memory, within the limits.
 *
 * An object is a container when libarchive, opened on the object's buffer with the formats
 * and filters below, recognises a format; or, failing that, when it recognised a
 * compression filter (a bare file.gz, file.xz...), in which case the object is reopened
 * with the raw format and its one member is the decompressed stream. Members are read into
 * the walk's per-depth buffer and handed back to pal_walk_object, which matches them and
 * comes back here for nested containers.
 *
 * What is enabled, and why:
 *   formats: 7zip ar cab cpio iso9660 lha rar rar5 tar warc xar zip (seekable + streamable)
 *     The seekable zip reader bids higher whenever it finds the central directory (memory
 *     is seekable), so it reads normal zips; the streamable one is the fallback that still
 *     recognises a zip whose central directory is missing (truncated), so that such a file
 *     is reported corrupt instead of passing as plain data.
 *     Not mtree, raw or empty for the probe: they bid on ordinary files.
 *   filters: bzip2 compress gzip lz4 lzip lzma rpm uu xz zstd, each only if this libarchive
 *     implements it in-process (pal_expand_probe). Never lzop, lrzip, grzip, "program" or
 *     archive_read_support_filter_all: those fork and exec an external program. A file that
 *     starts with the magic of one of those three is reported unscannable instead.
 *
 * Strong evidence and weak guesses. Most readers identify their input by a magic number
 * and a header that must be consistent (zip, 7z, tar's checksum, ar's "!<arch>", gzip, xz,
 * zstd...). A few accept arbitrary-looking bytes: lzma-alone has no magic at all (any
 * object that starts with a zero byte and a plausible dictionary size is "lzma"), uu
 * bids on a "begin" line in text, binary cpio on two bytes. When one of those weak guesses
 * fails to decode, the object simply is not a container: its bytes have been matched as
 * plain data already, so nothing is unexamined and no reason is recorded. A strongly
 * identified container that fails stays unscannable (corrupt, truncated). An ar archive's
 * own tables (the GNU "/" symbol table, "//" long names, BSD "__.SYMDEF") are matched as
 * data and never offered to the readers: the container says what they are.
 *
 * Every limit hit, encrypted member, data error or truncation becomes a reason in the
 * report (the first one wins; the walk goes on where it safely can so that later threats
 * are still found). When a member is cut short, the rest of it would have to be skipped by
 * libarchive, outside our clock: that is only done for containers whose skip is a pointer
 * move in memory (uncompressed tar, cpio, ar, iso9660, warc; zip, xar and lha, whose
 * members are compressed one by one with known sizes). For anything else (a compressed
 * stream, a solid 7z/cab/rar) the expansion of that container stops there.
 */
#include "expand.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sniff.h"
#include "utf8.h"

/* Bytes asked of libarchive per read: the clock and cancel flag are checked between reads. */
#define READ_CHUNK (256U * 1024U)
/* First allocation for a member whose header declares a size (never trusted beyond this). */
#define FIRST_RESERVE_MAX (8U * 1024U * 1024U)
#define FIRST_RESERVE_MIN (64U * 1024U)
/* Longest member name kept in a chain (bytes), before "...". */
#define NAME_MAX_BYTES 1024U

typedef int (*support_fn)(struct archive *);

typedef struct support_entry {
    const char *name;
    support_fn fn;
} support_entry;

enum {
    F_7ZIP,
    F_AR,
    F_CAB,
    F_CPIO,
    F_ISO9660,
    F_LHA,
    F_RAR,
    F_RAR5,
    F_TAR,
    F_WARC,
    F_XAR,
    F_ZIP,
    F_ZIP_STREAMABLE,
    F_COUNT
};

static const support_entry k_formats[F_COUNT] = {
    [F_7ZIP] = {"7zip", archive_read_support_format_7zip},
    [F_AR] = {"ar", archive_read_support_format_ar},
    [F_CAB] = {"cab", archive_read_support_format_cab},
    [F_CPIO] = {"cpio", archive_read_support_format_cpio},
    [F_ISO9660] = {"iso9660", archive_read_support_format_iso9660},
    [F_LHA] = {"lha", archive_read_support_format_lha},
    [F_RAR] = {"rar", archive_read_support_format_rar},
    [F_RAR5] = {"rar5", archive_read_support_format_rar5},
    [F_TAR] = {"tar", archive_read_support_format_tar},
    [F_WARC] = {"warc", archive_read_support_format_warc},
    [F_XAR] = {"xar", archive_read_support_format_xar},
    [F_ZIP] = {"zip", archive_read_support_format_zip_seekable},
    [F_ZIP_STREAMABLE] = {"zip-streamable", archive_read_support_format_zip_streamable},
};

static const support_entry k_filters[] = {
    {"bzip2", archive_read_support_filter_bzip2},
    {"compress", archive_read_support_filter_compress},
    {"gzip", archive_read_support_filter_gzip},
    {"lz4", archive_read_support_filter_lz4},
    {"lzip", archive_read_support_filter_lzip},
    {"lzma", archive_read_support_filter_lzma},
    {"rpm", archive_read_support_filter_rpm},
    {"uu", archive_read_support_filter_uu},
    {"xz", archive_read_support_filter_xz},
    {"zstd", archive_read_support_filter_zstd},
};

#define N_FORMATS ((unsigned)F_COUNT)
#define N_FILTERS (sizeof(k_filters) / sizeof(k_filters[0]))
_Static_assert(N_FORMATS <= 32 && N_FILTERS <= 32, "support masks are 32 bits");

const char *pal_expand_format_name(unsigned i)
{
    return i < N_FORMATS ? k_formats[i].name : NULL;
}

const char *pal_expand_filter_name(unsigned i)
{
    return i < N_FILTERS ? k_filters[i].name : NULL;
}

static int probe_table(const support_entry *tab, unsigned n, uint32_t *mask)
{
    uint32_t m = 0;
    for (unsigned i = 0; i < n; i++) {
        struct archive *a = archive_read_new();
        if (a == NULL)
            return PAL_ENOMEM;
        if (tab[i].fn(a) == ARCHIVE_OK)
            m |= 1U << i;
        archive_read_free(a);
    }
    *mask = m;
    return 0;
}

/*
 * libarchive converts member names to the charset of the calling thread's LC_CTYPE. In the C
 * locale (the content process has no other, and the daemon sets none) every non-ASCII name
 * an archive declares as UTF-8 or UTF-16 (zip's flag bit 11, 7z, Joliet, rar) fails to
 * convert and comes back NULL, so "счёт-1.com" and "发票.com" both became "?". Expansion
 * therefore runs with a thread-local C.UTF-8 LC_CTYPE (uselocale: the process locale is left
 * alone). Names with no declared charset (legacy zip code pages, tar) are not converted at
 * all: they stay their raw bytes. The locale is made once, by pal_expand_probe, i.e. when an
 * engine is created — in the content process before its sandbox closes, because newlocale
 * reads /usr/lib/locale (libc-bin, always installed). Process lifetime; never freed.
 */
static locale_t g_names_locale = (locale_t)0;
static pthread_once_t g_names_once = PTHREAD_ONCE_INIT;

static void make_names_locale(void)
{
    g_names_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

int pal_expand_probe(pal_expand_support *out)
{
    pthread_once(&g_names_once, make_names_locale);
    pal_expand_support s;
    int rc = probe_table(k_formats, N_FORMATS, &s.formats);
    if (rc == 0)
        rc = probe_table(k_filters, N_FILTERS, &s.filters);
    if (rc == 0)
        *out = s;
    return rc;
}

/* A reader with the probed filters and either the container formats or raw + empty. */
static struct archive *new_reader(const pal_expand_support *sup, int raw)
{
    struct archive *a = archive_read_new();
    if (a == NULL)
        return NULL;
    int ok = 1;
    if (raw) {
        ok = archive_read_support_format_raw(a) == ARCHIVE_OK &&
             archive_read_support_format_empty(a) == ARCHIVE_OK;
    } else {
        for (unsigned i = 0; ok && i < N_FORMATS; i++)
            if (sup->formats & (1U << i))
                ok = k_formats[i].fn(a) == ARCHIVE_OK;
        /* Read a tar to the end of its data, not to its end-of-archive blocks: whatever
           follows them (another archive, hidden bytes) is examined, or reported. */
        if (ok && (sup->formats & (1U << F_TAR)))
            ok = archive_read_set_format_option(a, "tar", "read_concatenated_archives", "1") ==
                 ARCHIVE_OK;
    }
    for (unsigned i = 0; ok && i < N_FILTERS; i++)
        if (sup->filters & (1U << i))
            ok = k_filters[i].fn(a) == ARCHIVE_OK;
    if (!ok) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* ---- names ------------------------------------------------------------------------------ */

/*
 * parent + "->" + name, with the member name's bytes exactly as the archive gives them (a
 * legacy code-page name stays its bytes, control characters stay): the chain is raw bytes
 * like a file path, so that distinct members stay distinct findings; every view escapes it
 * (agent/util/display.h) and JSON carries it as path + path_b64. It is cut at
 * NAME_MAX_BYTES, before a UTF-8 character that would not fit whole, and "..." marks the
 * cut. A missing or empty name is "?".
 */
static char *member_chain(const char *parent, const char *name)
{
    if (name == NULL || name[0] == '\0')
        name = "?";
    size_t plen = strlen(parent);
    size_t nlen = strlen(name);
    size_t keep = pal_utf8_prefix(name, nlen, NAME_MAX_BYTES);
    char *out = malloc(plen + 2 + keep + 3 + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, parent, plen);
    char *p = out + plen;
    *p++ = '-';
    *p++ = '>';
    memcpy(p, name, keep);
    p += keep;
    if (keep < nlen) {
        memcpy(p, "...", 3);
        p += 3;
    }
    *p = '\0';
    return out;
}

/*
 * Name of the one member of a bare compressed stream: the container's own name (last chain
 * element, last path component) minus one known compression suffix per filter, "x.gz" ->
 * "x", "x.tgz" -> "x.tar". A name with no known suffix is kept as it is.
 */
static char *raw_member_name(const char *chain, int nfilters)
{
    static const struct {
        const char *ext, *repl;
    } k_ext[] = {
        {".tgz", ".tar"}, {".taz", ".tar"},  {".tbz2", ".tar"}, {".tbz", ".tar"}, {".tb2", ".tar"},
        {".txz", ".tar"}, {".tzst", ".tar"}, {".tlz", ".tar"},  {".gz", ""},      {".bz2", ""},
        {".bz", ""},      {".xz", ""},       {".lzma", ""},     {".lz4", ""},     {".lz", ""},
        {".zst", ""},     {".zstd", ""},     {".z", ""},        {".uue", ""},     {".uu", ""},
        {".rpm", ""},
    };
    const char *base = chain;
    const char *arrow;
    while ((arrow = strstr(base, "->")) != NULL)
        base = arrow + 2;
    const char *slash = strrchr(base, '/');
    if (slash != NULL && slash[1] != '\0')
        base = slash + 1;

    size_t len = strlen(base);
    char *name = malloc(len + 5); /* room for a ".tar" replacement */
    if (name == NULL)
        return NULL;
    memcpy(name, base, len + 1);
    for (int f = 0; f < nfilters; f++) {
        int stripped = 0;
        for (size_t i = 0; i < sizeof(k_ext) / sizeof(k_ext[0]); i++) {
            size_t elen = strlen(k_ext[i].ext);
            if (len > elen && strcasecmp(name + len - elen, k_ext[i].ext) == 0) {
                size_t rlen = strlen(k_ext[i].repl);
                memcpy(name + len - elen, k_ext[i].repl, rlen + 1);
                len = len - elen + rlen;
                stripped = 1;
                break;
            }
        }
        if (!stripped)
            break;
    }
    return name;
}

/* ---- classification --------------------------------------------------------------------- */

/*
 * Self-extractor probes: the 7zip, cab, rar and lha readers search a PE or ELF file for an
 * embedded archive signature and bid when they find the bytes anywhere. When such a bid
 * then fails at the first header, it was a false positive on an ordinary executable (which
 * has been matched as a whole), not a corrupt archive.
 */
static int looks_executable(const uint8_t *data, size_t len)
{
    return (len >= 2 && data[0] == 'M' && data[1] == 'Z') ||
           (len >= 4 && memcmp(data, "\177ELF", 4) == 0);
}

/*
 * Compressed formats libarchive reads only through an external program, which the engine
 * never runs. Their content cannot be examined: say so rather than call the file clean.
 */
static const char *external_only_format(const uint8_t *data, size_t len)
{
    static const struct {
        const char *name;
        const char *magic;
        size_t len;
    } k_magic[] = {
        {"lzop", "\x89LZO\x00\r\n\x1a\n", 9},
        {"lrzip", "LRZI\x00", 5},
        {"grzip", "GRZipII\x00\x02\x04:)", 12},
    };
    for (size_t i = 0; i < sizeof(k_magic) / sizeof(k_magic[0]); i++)
        if (len >= k_magic[i].len && memcmp(data, k_magic[i].magic, k_magic[i].len) == 0)
            return k_magic[i].name;
    return NULL;
}

/*
 * Data that starts with the magic number of a compression filter this engine may use: when
 * such a stream fails to decode, it is a damaged stream. Without one, the filter that bid
 * was a weak guess (lzma-alone, uu).
 */
static int compressed_magic(const uint8_t *data, size_t len)
{
    static const struct {
        const char *magic;
        size_t len;
    } k_magic[] = {
        {"\x1f\x8b", 2}, /* gzip */
        {"\x1f\x9d", 2}, /* compress */
        {"BZh", 3},      /* bzip2 */
        {"\xfd"
         "7zXZ\x00",
         6},                     /* xz */
        {"\x28\xb5\x2f\xfd", 4}, /* zstd */
        {"\x04\x22\x4d\x18", 4}, /* lz4 */
        {"\x02\x21\x4c\x18", 4}, /* lz4, legacy frame */
        {"LZIP", 4},             /* lzip */
        {"\xed\xab\xee\xdb", 4}, /* rpm */
    };
    for (size_t i = 0; i < sizeof(k_magic) / sizeof(k_magic[0]); i++)
        if (len >= k_magic[i].len && memcmp(data, k_magic[i].magic, k_magic[i].len) == 0)
            return 1;
    return 0;
}

/* The outermost filter of an open reader bid without a magic number (see the top comment). */
static int weak_filter(struct archive *a)
{
    if (archive_filter_count(a) < 2)
        return 0;
    int code = archive_filter_code(a, 0);
    return code == ARCHIVE_FILTER_LZMA || code == ARCHIVE_FILTER_UU;
}

/* A format that bid on two bytes: failing at its first header means it never was one. */
static int weak_format(struct archive *a)
{
    int f = archive_format(a);
    return f == ARCHIVE_FORMAT_CPIO_BIN_LE || f == ARCHIVE_FORMAT_CPIO_BIN_BE;
}

/* An ar archive's own index tables, by the names the GNU, BSD and SysV tools give them. */
static int ar_table_member(struct archive *a, const char *name)
{
    static const char *const k_tables[] = {"/", "//", "/SYM64/", "ARFILENAMES/"};
    if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_AR || name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(k_tables) / sizeof(k_tables[0]); i++)
        if (strcmp(name, k_tables[i]) == 0)
            return 1;
    return strncmp(name, "__.SYMDEF", 9) == 0;
}

/* Skipping the unread rest of a member is a pointer move in memory (see the top comment). */
static int skip_is_cheap(struct archive *a)
{
    if (archive_filter_count(a) > 1)
        return 0;
    switch (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) {
    case ARCHIVE_FORMAT_TAR:
    case ARCHIVE_FORMAT_CPIO:
    case ARCHIVE_FORMAT_AR:
    case ARCHIVE_FORMAT_ISO9660:
    case ARCHIVE_FORMAT_WARC:
    case ARCHIVE_FORMAT_ZIP:
    case ARCHIVE_FORMAT_XAR:
    case ARCHIVE_FORMAT_LHA:
        return 1;
    default:
        return 0;
    }
}

static int archive_reason(pal_walk *w, struct archive *a, pal_unscannable r, const char *chain)
{
    const char *msg = archive_error_string(a);
    char detail[512];
    snprintf(detail, sizeof(detail), "libarchive: %s", msg != NULL ? msg : "unknown error");
    /* one clean line: some messages end in a newline, some quote archive bytes */
    size_t len = strlen(detail);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)detail[i] < 0x20 || detail[i] == 0x7f)
            detail[i] = ' ';
    while (len > 0 && detail[len - 1] == ' ')
        detail[--len] = '\0';
    return pal_walk_reason(w, r, chain, detail);
}

/* The reason for an error libarchive reported while reading: its own memory trouble is an
   engine problem, an encrypted archive is encrypted, anything else is damage. */
static pal_unscannable error_reason(struct archive *a, struct archive_entry *e)
{
    if (archive_errno(a) == ENOMEM)
        return PAL_UNSCANNABLE_ENGINE_ERROR;
    if ((e != NULL && archive_entry_is_encrypted(e)) || archive_read_has_encrypted_entries(a) > 0)
        return PAL_UNSCANNABLE_ENCRYPTED;
    return PAL_UNSCANNABLE_CORRUPT;
}

/* ---- members ---------------------------------------------------------------------------- */

typedef enum member_status {
    MEMBER_DONE,    /* read to its end */
    MEMBER_CUT,     /* a limit stopped it; the reader is fine */
    MEMBER_DAMAGED, /* libarchive reported an error but can go on to the next header */
    MEMBER_FATAL,   /* libarchive reader is dead */
    MEMBER_STOPPED, /* cancelled or timed out */
} member_status;

/*
 * Read the current member into bufs[mdepth]. *used gets the bytes held. Only PAL_ENOMEM
 * is returned as an error; everything else is the status.
 */
static int read_member(pal_walk *w, struct archive *a, struct archive_entry *e, const char *mchain,
                       unsigned mdepth, size_t container_len, size_t *used_out,
                       member_status *status_out)
{
    const pal_limits *lim = w->lim;
    uint64_t budget = lim->max_expanded_bytes - w->expanded; /* expanded <= max always */
    uint64_t hold64 = lim->max_object_size < budget ? lim->max_object_size : budget;
    if (hold64 > SIZE_MAX - 1)
        hold64 = SIZE_MAX - 1;
    size_t hold = (size_t)hold64; /* bytes we may keep; one more means a limit */
    size_t used = 0;
    member_status status = MEMBER_DONE;
    int64_t start = archive_filter_bytes(a, -1);
    int rc = 0;
    uint64_t declared = 0; /* 0: not declared */

    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
        declared = (uint64_t)archive_entry_size(e);
        size_t first = declared < FIRST_RESERVE_MAX ? (size_t)declared : FIRST_RESERVE_MAX;
        if (first > hold)
            first = hold;
        if (first > 0) {
            rc = pal_walk_reserve(w, mdepth, first, hold + 1);
            if (rc < 0)
                return rc;
        }
    }

    for (;;) {
        if (pal_walk_should_stop(w, mchain)) {
            status = MEMBER_STOPPED;
            break;
        }
        size_t want;
        if (used < hold) {
            /*
             * The steps depend on the member alone, never on how big the buffer was left by
             * earlier scans: libarchive hands over a damaged member's last bytes before its
             * error or drops them with it, by how much was asked (a stored zip member with a
             * bad CRC), and an object must get the same report whatever was scanned before.
             * Up to the declared size first, so that a damaged member's bytes are matched;
             * an undeclared one in steps that double from FIRST_RESERVE_MIN.
             */
            want = hold - used < READ_CHUNK ? hold - used : READ_CHUNK;
            size_t step = used < FIRST_RESERVE_MIN ? FIRST_RESERVE_MIN - used : used;
            if (declared > used)
                step = declared - used < SIZE_MAX ? (size_t)(declared - used) : SIZE_MAX;
            if (step < want)
                want = step;
            rc = pal_walk_reserve(w, mdepth, used + want, hold + 1);
            if (rc < 0)
                return rc;
        } else {
            /* At the limit: ask for one byte more to learn whether the member goes on. */
            want = 1;
            rc = pal_walk_reserve(w, mdepth, used + 1, hold + 1);
            if (rc < 0)
                return rc;
        }
        la_ssize_t n = archive_read_data(a, w->bufs[mdepth].data + used, want);
        if (n == 0)
            break;
        if (n < 0) {
            pal_unscannable r = error_reason(a, e);
            rc = archive_reason(w, a, r, mchain);
            if (rc < 0)
                return rc;
            status = n == ARCHIVE_FATAL ? MEMBER_FATAL : MEMBER_DAMAGED;
            break;
        }
        if ((size_t)n > want) { /* cannot happen; never trust a length blindly */
            rc = pal_walk_reason(w, PAL_UNSCANNABLE_ENGINE_ERROR, mchain,
                                 "libarchive returned more bytes than asked");
            if (rc < 0)
                return rc;
            status = MEMBER_FATAL;
            break;
        }
        if (used >= hold) {
            if (hold64 == lim->max_object_size) {
                rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_TOO_LARGE, mchain,
                                      "member larger than the object size limit of %llu bytes",
                                      (unsigned long long)lim->max_object_size);
            } else {
                w->budget_hit = 1;
                rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_EXPANDED_BYTES, mchain,
                                      "expanded-bytes limit of %llu bytes reached",
                                      (unsigned long long)lim->max_expanded_bytes);
            }
            if (rc < 0)
                return rc;
            status = MEMBER_CUT;
            break;
        }
        used += (size_t)n;
        w->expanded += (uint64_t)n;

        /* The ratio misfires on compressible data: judge it only once this top-level
           object has expanded past the floor (engine.h), and never on a tiny member. */
        if (w->expanded > PAL_RATIO_FLOOR && used > PAL_RATIO_MEMBER_MIN) {
            /* Raw bytes libarchive consumed for this member; formats that seek or share
               compressed blocks between members (7z) can leave that unknown (<= 0): then the
               whole container stands in for the member's compressed size. */
            int64_t consumed = archive_filter_bytes(a, -1) - start;
            uint64_t denom = consumed > 0 ? (uint64_t)consumed : (uint64_t)container_len;
            uint64_t allowed;
            if (denom == 0)
                denom = 1;
            if (!__builtin_mul_overflow(denom, (uint64_t)lim->max_ratio, &allowed) &&
                (uint64_t)used > allowed) {
                /* Past the floor a bomb ends the walk as the budget would: the rest of a
                   hostile object is not worth up to a GiB more of decompression. */
                w->budget_hit = 1;
                rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_RATIO, mchain,
                                      "%zu bytes expanded from %llu (ratio limit %u)", used,
                                      (unsigned long long)denom, lim->max_ratio);
                if (rc < 0)
                    return rc;
                status = MEMBER_CUT;
                break;
            }
        }
    }
    *used_out = used;
    *status_out = status;
    return 0;
}

/* Expand every member of the open reader a. *no_entries says whether it ended, cleanly
   or not, before yielding any entry. */
static int expand_members(pal_walk *w, struct archive *a, const uint8_t *data, size_t len,
                          const char *chain, unsigned depth, int raw, int *no_entries)
{
    uint64_t members = 0;
    int seen_entry = 0;
    int rc = 0;

    *no_entries = 0;
    for (;;) {
        struct archive_entry *e = NULL;
        char *mchain = NULL;

        if (w->budget_hit || pal_walk_should_stop(w, chain))
            break;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_FATAL) {
            pal_unscannable why = error_reason(a, NULL);
            if (why == PAL_UNSCANNABLE_CORRUPT && !seen_entry &&
                (looks_executable(data, len) || weak_format(a)))
                break; /* a self-extractor probe that found a stray signature, or a guess */
            rc = archive_reason(w, a, why, chain);
            break;
        }
        if (++members > w->lim->max_members) {
            rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_MEMBERS, chain,
                                  "more than %llu members in one container",
                                  (unsigned long long)w->lim->max_members);
            break;
        }
        if (r == ARCHIVE_RETRY) {
            /* A damaged header; libarchive has stepped past it and can look further. */
            rc = archive_reason(w, a, PAL_UNSCANNABLE_CORRUPT, chain);
            if (rc < 0)
                break;
            continue;
        }
        if (!seen_entry) {
            seen_entry = 1;
            /* Known to hold something only now: an empty container at the depth limit
               hides nothing. */
            if (depth >= w->lim->max_depth) {
                rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_DEPTH, chain,
                                      "container nesting deeper than %u levels", w->lim->max_depth);
                break;
            }
        }

        if (raw) {
            char *name = raw_member_name(chain, archive_filter_count(a) - 1);
            if (name == NULL) {
                rc = PAL_ENOMEM;
                break;
            }
            mchain = member_chain(chain, name);
            free(name);
        } else {
            const char *name = archive_entry_pathname(e);
            if (name == NULL)
                name = archive_entry_pathname_utf8(e);
            mchain = member_chain(chain, name);
        }
        if (mchain == NULL) {
            rc = PAL_ENOMEM;
            break;
        }

        /* ARCHIVE_WARN on a header concerns metadata (names, ACLs, xattrs): the content
           is still there and is read below. ARCHIVE_FAILED: this entry is lost. */
        member_status status;
        size_t used = 0;
        if (r == ARCHIVE_FAILED) {
            rc = archive_reason(w, a, error_reason(a, e), mchain);
            status = MEMBER_DAMAGED;
        } else if (archive_entry_is_encrypted(e)) {
            rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_ENCRYPTED, mchain, "encrypted member");
            status = MEMBER_CUT;
        } else {
            rc = read_member(w, a, e, mchain, depth + 1, len, &used, &status);
        }
        if (rc < 0) {
            free(mchain);
            break;
        }

        /* Whatever was extracted is matched, even a fragment: a threat in it is real. */
        int is_file = archive_entry_filetype(e) == AE_IFREG;
        unsigned flags = status == MEMBER_DONE ? PAL_OBJ_COMPLETE : 0;
        if (!raw && ar_table_member(a, archive_entry_pathname(e)))
            flags |= PAL_OBJ_DATA_ONLY;
        if (status != MEMBER_STOPPED && (used > 0 || (is_file && status == MEMBER_DONE)))
            rc = pal_walk_object(w, w->bufs[depth + 1].data, used, mchain, depth + 1, flags);
        free(mchain);
        if (rc < 0)
            break;
        if (status == MEMBER_FATAL || status == MEMBER_STOPPED)
            break;
        if (status != MEMBER_DONE && !skip_is_cheap(a))
            break;
    }
    *no_entries = rc == 0 && !seen_entry && !w->stopped;
    return rc;
}

/*
 * Reopen a bare compressed stream with the raw format (one member: the decompressed bytes)
 * and the empty format (which bids when there are none). An error a filter met while the
 * formats bid stays recorded in the reader, since a successful bid does not clear it: that
 * stream could not be decompressed, it is not empty. *out is NULL when there is nothing to
 * expand (the reason, if any, is recorded).
 */
static int open_raw(pal_walk *w, const uint8_t *data, size_t len, const char *chain,
                    struct archive **out)
{
    *out = NULL;
    struct archive *a = new_reader(w->sup, 1);
    if (a == NULL)
        return PAL_ENOMEM;
    int r = archive_read_open_memory(a, data, len);
    if (r < ARCHIVE_WARN || archive_errno(a) != 0) {
        pal_unscannable why =
            archive_errno(a) == ENOMEM ? PAL_UNSCANNABLE_ENGINE_ERROR : PAL_UNSCANNABLE_CORRUPT;
        int rc = archive_reason(w, a, why, chain);
        archive_read_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

/*
 * Whether the bare stream in data, opened with a weak filter, decodes: read it through the
 * raw format, discarding the output, to its end or for WEAK_CHECK_BYTES. A decoding error
 * means the guess was wrong; a stream that decodes that far is taken for what it claims.
 * *decodes is set when the check could be made; a stop (cancel, time) leaves the walk
 * stopped.
 */
#define WEAK_CHECK_BYTES (16U * 1024U * 1024U)

static int weak_stream_decodes(pal_walk *w, const uint8_t *data, size_t len, const char *chain,
                               int *decodes)
{
    enum { SINK_BYTES = 64 * 1024 };
    uint8_t *sink = malloc(SINK_BYTES);
    struct archive *a = sink != NULL ? new_reader(w->sup, 1) : NULL;
    if (a == NULL) {
        free(sink);
        return PAL_ENOMEM;
    }
    struct archive_entry *e;
    int ok = archive_read_open_memory(a, data, len) >= ARCHIVE_WARN && archive_errno(a) == 0;
    int r = ok ? archive_read_next_header(a, &e) : ARCHIVE_FATAL;
    ok = r == ARCHIVE_OK || r == ARCHIVE_WARN || r == ARCHIVE_EOF;
    uint64_t total = 0;
    while (ok && r != ARCHIVE_EOF && total < WEAK_CHECK_BYTES) {
        if (pal_walk_should_stop(w, chain))
            break;
        la_ssize_t n = archive_read_data(a, sink, SINK_BYTES);
        if (n == 0)
            break;
        if (n < 0)
            ok = 0;
        else
            total += (uint64_t)n;
    }
    int nomem = archive_errno(a) == ENOMEM;
    archive_read_free(a);
    free(sink);
    if (nomem)
        return PAL_ENOMEM;
    *decodes = ok;
    return 0;
}

/* Expand the members of the open reader a (which it frees), see pal_expand. */
static int expand_opened(pal_walk *w, struct archive *a, const uint8_t *data, size_t len,
                         const char *chain, unsigned depth, int raw)
{
    int no_entries = 0;
    int rc = expand_members(w, a, data, len, chain, depth, raw, &no_entries);
    /*
     * A compressed stream whose content a format bid on but which yielded no entry: the
     * decompressed bytes have not been examined (tar bids on a leading block of zeros,
     * whatever follows). Read it as a bare compressed stream as well, so that they are;
     * a reason the format met stays recorded.
     */
    if (rc == 0 && no_entries && !raw && archive_filter_count(a) > 1) {
        archive_read_free(a);
        rc = open_raw(w, data, len, chain, &a);
        if (rc < 0 || a == NULL)
            return rc;
        rc = expand_members(w, a, data, len, chain, depth, 1, &no_entries);
    }
    archive_read_free(a);
    return rc;
}

static int expand_object(pal_walk *w, const uint8_t *data, size_t len, const char *chain,
                         unsigned depth);

/* The formats the probe offers data: all, but tar not a leading block of zeros (see
   expand_object). *scratch holds the reduced set when one is needed. */
static const pal_expand_support *probe_support(const pal_expand_support *sup, const uint8_t *data,
                                               size_t len, pal_expand_support *scratch)
{
    if (len >= 512 && data[0] == 0 && memcmp(data, data + 1, 511) == 0) {
        *scratch = *sup;
        scratch->formats &= ~(1U << F_TAR);
        return scratch;
    }
    return sup;
}

int pal_expand_probe_engages(const pal_expand_support *sup, const uint8_t *data, size_t len,
                             int offer_tar_zero)
{
    static const uint8_t nothing[1];
    pal_expand_support no_tar;
    if (len == 0)
        data = nothing;
    if (!offer_tar_zero)
        sup = probe_support(sup, data, len, &no_tar);
    struct archive *a = new_reader(sup, 0);
    if (a == NULL)
        return PAL_ENOMEM;
    int r = archive_read_open_memory(a, data, len);
    int engages = r >= ARCHIVE_WARN || archive_filter_count(a) != 1 || archive_errno(a) == ENOMEM ||
                  external_only_format(data, len) != NULL;
    archive_read_free(a);
    return engages;
}

int pal_expand(pal_walk *w, const uint8_t *data, size_t len, const char *chain, unsigned depth)
{
    /* names in UTF-8, whatever the process locale (see make_names_locale) */
    locale_t prev = g_names_locale ? uselocale(g_names_locale) : (locale_t)0;
    int rc = expand_object(w, data, len, chain, depth);
    if (prev)
        uselocale(prev);
    return rc;
}

static int expand_object(pal_walk *w, const uint8_t *data, size_t len, const char *chain,
                         unsigned depth)
{
    static const uint8_t nothing[1];
    int raw = 0;
    int guess = 0; /* a weak guess that does not decode (see the top comment) */
    int decodes = 0;
    int rc;

    if (len == 0)
        data = nothing; /* libarchive wants a pointer even for no bytes */
    /*
     * Uncompressed data that opens with a 512-byte block of zeros is offered to every format
     * but tar: tar takes such a block for its end-of-archive marker and would call half the
     * binaries on a disk a corrupt archive. The whole object is hashed and matched anyway;
     * what is lost is only a tar whose members follow an end marker, which tar itself does
     * not extract. (Compressed streams start with their magic, never with zeros.)
     */
    pal_expand_support no_tar;
    const pal_expand_support *sup = probe_support(w->sup, data, len, &no_tar);
    /*
     * The pre-check (sniff.c): when no bidder could accept these bytes, libarchive would
     * recognise nothing ("none" filter, no format: the "not a container" case below), so
     * it is not set up at all. A zero block is ignored: tar is not offered one (above).
     */
    if ((pal_sniff(data, len) & ~(unsigned)PAL_SNIFF_TAR_ZERO) == 0)
        return 0;
    struct archive *a = new_reader(sup, 0);
    if (a == NULL)
        return PAL_ENOMEM;
    int r = archive_read_open_memory(a, data, len);
    if (r < ARCHIVE_WARN) {
        /*
         * No format. The filter chain stays readable after the failure (libarchive 3.6
         * closes the filters but frees them only with the reader), and says what happened:
         *   1 filter ("none")  nothing recognised: not a container;
         *   more               a compression filter but no format: a bare compressed stream;
         *   0                  a filter recognised the stream, failed to decode its start and
         *                      libarchive tore the chain down: a damaged compressed stream,
         *                      or, without a compression magic, a weak guess that failed
         *                      before yielding a byte (not a container).
         */
        int nfilters = archive_filter_count(a);
        int nomem = archive_errno(a) == ENOMEM;
        if (nfilters == 0 && !nomem && !compressed_magic(data, len)) {
            archive_read_free(a);
            return 0;
        }
        if (nomem || nfilters == 0) {
            rc = archive_reason(
                w, a, nomem ? PAL_UNSCANNABLE_ENGINE_ERROR : PAL_UNSCANNABLE_CORRUPT, chain);
            archive_read_free(a);
            return rc;
        }
        int weak = weak_filter(a);
        archive_read_free(a);
        if (nfilters == 1) {
            const char *ext = external_only_format(data, len);
            if (ext == NULL)
                return 0; /* not a container */
            return pal_walk_reasonf(
                w, PAL_UNSCANNABLE_ENGINE_ERROR, chain,
                "%s-compressed data: libarchive decodes it only with an external "
                "program, which the engine never runs",
                ext);
        }
        if (weak) {
            rc = weak_stream_decodes(w, data, len, chain, &decodes);
            if (rc < 0 || w->stopped)
                return rc;
            guess = !decodes;
        }
        w->damage_is_guess += (unsigned)guess;
        rc = open_raw(w, data, len, chain, &a);
        if (rc < 0 || a == NULL) {
            w->damage_is_guess -= (unsigned)guess;
            return rc;
        }
        raw = 1;
    } else if (weak_filter(a)) {
        rc = weak_stream_decodes(w, data, len, chain, &decodes);
        if (rc < 0 || w->stopped) {
            archive_read_free(a);
            return rc;
        }
        guess = !decodes;
        w->damage_is_guess += (unsigned)guess;
    }
    /* What a failed guess yields is still matched: a threat in it is real. */
    rc = expand_opened(w, a, data, len, chain, depth, raw);
    w->damage_is_guess -= (unsigned)guess;
    return rc;
}
