/*
 * sigtool.c — palisade-sigtool: the command-line front of the signature package code.
 *
 *   palisade-sigtool keygen PREFIX
 *   palisade-sigtool build DIR --key KEY.key --version N [--created UNIXTIME] --out PKG
 *   palisade-sigtool verify PKG (--trusted-keys DIR | --key FILE.pub)...
 *   palisade-sigtool info PKG [--json]
 *   palisade-sigtool scan ...            (when sigtool_scan.c is built)
 *   palisade-sigtool cost ...            (sigtool_cost.c: each rule's scan cost)
 *   palisade-sigtool import ...          (sigtool_import.c: ClamAV databases to a DIR)
 *
 * Exit status: 0 ok; 1 the package was refused (malformed, unknown key, bad signature);
 * 2 usage or any other error. Errors go to stderr with the library's message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "sigbuild.h"
#include "sigpkg.h"
#include "sigtool_cost.h"
#include "sigtool_import.h"
#ifdef PAL_SIGTOOL_HAVE_SCAN
#include "sigtool_scan.h"
#endif

#define EXIT_REFUSED 1
#define EXIT_ERROR 2

static const char *prog = "palisade-sigtool";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s keygen PREFIX\n"
            "       %s build DIR --key KEY.key --version N [--created UNIXTIME] --out PKG\n"
            "       %s verify PKG (--trusted-keys DIR | --key FILE.pub)...\n"
            "       %s info PKG [--json]\n"
            "       %s cost (RULES_DIR | FILE.yar)... (--tree DIR | --synthetic MIB) ...\n"
            "       %s import [--clamav DBDIR]... --out DIR [--report FILE]\n",
            prog, prog, prog, prog, prog, prog);
#ifdef PAL_SIGTOOL_HAVE_SCAN
    fprintf(f, "       %s scan ...   (see %s scan --help)\n", prog, prog);
#endif
}

static int fail_usage(const char *cmd, const char *msg)
{
    fprintf(stderr, "%s: %s: %s\n", prog, cmd, msg);
    usage(stderr);
    return EXIT_ERROR;
}

/* A package that is there but not acceptable is "refused"; anything else is an error. */
static int exit_for(int rc)
{
    switch (rc) {
    case PAL_EFORMAT:
    case PAL_EVERSION:
    case PAL_ESIGNATURE:
    case PAL_EUNKNOWNKEY:
    case PAL_ELIMIT:
        return EXIT_REFUSED;
    default:
        return EXIT_ERROR;
    }
}

static int report(const char *cmd, int rc, const pal_errbuf *err)
{
    fprintf(stderr, "%s: %s: %s\n", prog, cmd, err->msg[0] ? err->msg : pal_strerror(rc));
    return exit_for(rc);
}

/* Strict decimal u64: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/*
 * Match "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past a separate value.
 * Returns 1 on a match (value in *val), 0 when argv[*i] is another argument, -1 when the
 * value is missing.
 */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t nl = strlen(name);
    if (strncmp(a, name, nl) != 0)
        return 0;
    if (a[nl] == '=') {
        *val = a + nl + 1;
        return 1;
    }
    if (a[nl] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

static void format_time(uint64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t > (uint64_t)INT64_MAX || !gmtime_r(&tt, &tm) ||
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "invalid");
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 2)
        return fail_usage("keygen", "expected exactly one PREFIX");
    pal_errbuf err = {.msg = ""};
    int rc = pal_sigbuild_keygen(argv[1], &err);
    if (rc) {
        report("keygen", rc, &err);
        return EXIT_ERROR;
    }
    printf("wrote %s.key (private, keep it secret) and %s.pub\n", argv[1], argv[1]);
    return 0;
}

static int cmd_build(int argc, char **argv)
{
    const char *dir = NULL, *key = NULL, *version_s = NULL, *created_s = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = opt_value(argc, argv, &i, "--key", &key)) ||
            (m = opt_value(argc, argv, &i, "--version", &version_s)) ||
            (m = opt_value(argc, argv, &i, "--created", &created_s)) ||
            (m = opt_value(argc, argv, &i, "--out", &out))) {
            if (m < 0)
                return fail_usage("build", "option needs a value");
            continue;
        }
        if (argv[i][0] == '-' || dir)
            return fail_usage("build", "unexpected argument");
        dir = argv[i];
    }
    if (!dir || !key || !version_s || !out)
        return fail_usage("build", "DIR, --key, --version and --out are required");
    uint64_t version, created;
    if (parse_u64(version_s, &version))
        return fail_usage("build", "--version must be a non-negative integer");
    if (created_s) {
        if (parse_u64(created_s, &created))
            return fail_usage("build", "--created must be unix seconds");
    } else {
        /* reproducible builds pin the time this way */
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        if (!sde || parse_u64(sde, &created))
            created = (uint64_t)time(NULL);
    }

    pal_errbuf err = {.msg = ""};
    pal_sigbuild *b = NULL;
    pal_sigpkg *pkg = NULL;
    int rc = pal_sigbuild_new(&b);
    if (!rc)
        rc = pal_sigbuild_add_dir(b, dir, &err);
    if (!rc)
        rc = pal_sigbuild_write(b, version, created, key, out, &err);
    pal_sigbuild_free(b);
    if (rc) {
        report("build", rc, &err);
        return EXIT_ERROR; /* the sources, not a package, were at fault */
    }
    /* Read back what was written: the reader is the judge of the format. */
    rc = pal_sigpkg_open_path(out, NULL, 0, &pkg, &err);
    if (rc)
        return report("build (read back)", rc, &err);
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    pal_sigpkg_free(pkg);
    printf("wrote %s: version %llu, %u threats, %u hashes, %u rules, %llu bytes\n", out,
           (unsigned long long)info.version, info.threat_count, info.hash_count, info.rule_count,
           (unsigned long long)info.file_size);
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    const char *path = NULL;
    pal_keyring *kr = NULL;
    pal_sigpkg *pkg = NULL;
    pal_errbuf err = {.msg = ""};
    int ret = EXIT_ERROR;
    if (pal_keyring_new(&kr)) {
        fprintf(stderr, "%s: verify: out of memory\n", prog);
        return EXIT_ERROR;
    }
    for (int i = 1; i < argc; i++) {
        const char *v;
        int m, rc;
        if ((m = opt_value(argc, argv, &i, "--trusted-keys", &v)) != 0) {
            if (m < 0) {
                ret = fail_usage("verify", "--trusted-keys needs a directory");
                goto out;
            }
            if ((rc = pal_keyring_load_dir(kr, v, &err))) {
                report("verify", rc, &err);
                ret = EXIT_ERROR; /* a bad key directory is our problem, not the package's */
                goto out;
            }
            continue;
        }
        if ((m = opt_value(argc, argv, &i, "--key", &v)) != 0) {
            if (m < 0) {
                ret = fail_usage("verify", "--key needs a .pub file");
                goto out;
            }
            if ((rc = pal_keyring_add_pem_file(kr, v, &err))) {
                report("verify", rc, &err);
                ret = EXIT_ERROR; /* a bad key file is our problem, not the package's */
                goto out;
            }
            continue;
        }
        if (argv[i][0] == '-' || path) {
            ret = fail_usage("verify", "unexpected argument");
            goto out;
        }
        path = argv[i];
    }
    if (!path || pal_keyring_count(kr) == 0) {
        ret = fail_usage("verify", "PKG and at least one --trusted-keys or --key are required");
        goto out;
    }
    int rc = pal_sigpkg_open_path(path, kr, PAL_SIGPKG_VERIFY, &pkg, &err);
    if (rc) {
        ret = report("verify", rc, &err);
        goto out;
    }
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    char hex[2 * PAL_KEY_ID_LEN + 1], when[32];
    pal_key_id_hex(info.key_id, hex);
    format_time(info.created, when, sizeof(when));
    printf("%s: OK: version %llu, created %s, signed by key %s, %u threats, %u hashes, "
           "%u rules\n",
           path, (unsigned long long)info.version, when, hex, info.threat_count, info.hash_count,
           info.rule_count);
    ret = 0;
out:
    pal_sigpkg_free(pkg);
    pal_keyring_free(kr);
    return ret;
}

static json_t *section_json(uint64_t off, uint64_t len)
{
    return json_pack("{s:I, s:I}", "offset", (json_int_t)off, "length", (json_int_t)len);
}

static int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (argv[i][0] == '-' || path)
            return fail_usage("info", "unexpected argument");
        else
            path = argv[i];
    }
    if (!path)
        return fail_usage("info", "PKG is required");

    pal_errbuf err = {.msg = ""};
    pal_sigpkg *pkg = NULL;
    int rc = pal_sigpkg_open_path(path, NULL, 0, &pkg, &err);
    if (rc)
        return report("info", rc, &err);
    pal_sigpkg_info info;
    pal_sigpkg_layout lay;
    pal_sigpkg_get_info(pkg, &info);
    pal_sigpkg_get_layout(pkg, &lay);
    pal_sigpkg_free(pkg);
    char hex[2 * PAL_KEY_ID_LEN + 1], when[32];
    pal_key_id_hex(info.key_id, hex);
    format_time(info.created, when, sizeof(when));

    if (!as_json) {
        printf("package:        %s\n"
               "format version: %u\n"
               "version:        %llu\n"
               "created:        %s (%llu)\n"
               "key id:         %s\n"
               "threats:        %u\n"
               "hashes:         %u\n"
               "rules:          %u\n"
               "file size:      %llu\n"
               "catalog:        %llu bytes at %llu\n"
               "strings:        %llu bytes at %llu\n"
               "hash table:     %llu bytes at %llu (%u index bits)\n"
               "yara rules:     %llu bytes at %llu\n"
               "signature:      64 bytes at %llu (not checked by info; use verify)\n",
               path, info.format_version, (unsigned long long)info.version, when,
               (unsigned long long)info.created, hex, info.threat_count, info.hash_count,
               info.rule_count, (unsigned long long)info.file_size,
               (unsigned long long)lay.catalog_len, (unsigned long long)lay.catalog_off,
               (unsigned long long)lay.strings_len, (unsigned long long)lay.strings_off,
               (unsigned long long)lay.hash_len, (unsigned long long)lay.hash_off,
               lay.hash_bucket_bits, (unsigned long long)lay.yara_len,
               (unsigned long long)lay.yara_off, (unsigned long long)lay.body_len);
        static const char *const alg_names[4] = {NULL, "md5", "sha1", "sha256"};
        for (int a = 1; a <= 3; a++) /* format 2 sized tables */
            if (lay.sized_len[a])
                printf("%s table:%*s%u entries, %llu bytes at %llu\n", alg_names[a],
                       a == 1   ? 6
                       : a == 2 ? 5
                                : 3,
                       "", info.sized_count[a], (unsigned long long)lay.sized_len[a],
                       (unsigned long long)lay.sized_off[a]);
        if (info.allow_count)
            printf("allow entries:  %u\n", info.allow_count);
        return 0;
    }
    /* u64 values above INT64_MAX cannot be JSON integers in jansson; versions and times
       that large are nonsense, so they are clamped rather than wrapped negative. */
    json_int_t version = info.version > INT64_MAX ? INT64_MAX : (json_int_t)info.version;
    json_int_t created = info.created > INT64_MAX ? INT64_MAX : (json_int_t)info.created;
    json_t *o = json_pack(
        "{s:s, s:i, s:I, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:i, s:b, s:{s:o, s:o, s:o, s:o, "
        "s:o}}",
        "path", path, "format_version", (int)info.format_version, "version", version, "created",
        when, "created_unix", created, "key_id", hex, "threats", (json_int_t)info.threat_count,
        "hashes", (json_int_t)info.hash_count, "rules", (json_int_t)info.rule_count, "file_size",
        (json_int_t)info.file_size, "hash_bucket_bits", (int)lay.hash_bucket_bits, "verified", 0,
        "sections", "catalog", section_json(lay.catalog_off, lay.catalog_len), "strings",
        section_json(lay.strings_off, lay.strings_len), "hash_table",
        section_json(lay.hash_off, lay.hash_len), "yara", section_json(lay.yara_off, lay.yara_len),
        "signature", section_json(lay.body_len, 64));
    /* format 2: the sized hash tables, each {offset, length, entries}; allow entries */
    static const char *const table_names[4] = {NULL, "md5_table", "sha1_table", "sha256_table"};
    json_t *secs = o ? json_object_get(o, "sections") : NULL;
    for (int a = 1; secs && a <= 3; a++) {
        if (!lay.sized_len[a])
            continue;
        json_t *t = section_json(lay.sized_off[a], lay.sized_len[a]);
        if (t)
            json_object_set_new(t, "entries", json_integer(info.sized_count[a]));
        json_object_set_new(secs, table_names[a], t);
    }
    if (o)
        json_object_set_new(o, "allow_entries", json_integer(info.allow_count));
    char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s) {
        fprintf(stderr, "%s: info: cannot encode JSON (is the path valid UTF-8?)\n", prog);
        return EXIT_ERROR;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "build") == 0)
        return cmd_build(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "cost") == 0)
        return sigtool_cmd_cost(argc - 1, argv + 1);
    if (strcmp(cmd, "import") == 0)
        return sigtool_cmd_import(argc - 1, argv + 1);
#ifdef PAL_SIGTOOL_HAVE_SCAN
    if (strcmp(cmd, "scan") == 0)
        return sigtool_cmd_scan(argc - 1, argv + 1);
#endif
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "%s: unknown command \"%s\"\n", prog, cmd);
    usage(stderr);
    return EXIT_ERROR;
}
