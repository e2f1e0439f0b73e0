/*
 * fuzz_sigpkg.c — libFuzzer target: the signature package reader on arbitrary bytes.
 *
 * Each input is written to a memfd and opened the way the content process opens the
 * package the broker hands it (structure check only, no signature). A package that opens
 * is exercised through every accessor: info, every catalog entry by id and by name, hash
 * lookups, the YARA blob and the mapping, checking that what they return stays inside the
 * mapping. A refusal must come with a message.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sigpkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

static int inside(const void *base, size_t len, const void *p, size_t plen)
{
    uintptr_t b = (uintptr_t)base, q = (uintptr_t)p;
    return q >= b && plen <= len && q - b <= len - plen;
}

static void check_string(const void *base, size_t len, const char *s)
{
    if (!s)
        abort();
    /* Strings point into the mapping and end inside it. */
    size_t n = strnlen(s, PAL_THREAT_NAME_MAX + 1);
    if (n > PAL_THREAT_NAME_MAX || !inside(base, len, s, n + 1))
        abort();
}

static void exercise(const pal_sigpkg *pkg, const uint8_t *data, size_t size)
{
    pal_sigpkg_info info;
    const void *base, *blob;
    size_t maplen, bloblen;
    pal_threat t, t2;
    uint32_t id;
    uint8_t digest[32] = {0};

    pal_sigpkg_get_info(pkg, &info);
    pal_sigpkg_mapping(pkg, &base, &maplen);
    if (info.file_size != size || maplen < size)
        abort();
    pal_sigpkg_yara_blob(pkg, &blob, &bloblen);
    if (bloblen > 0 && !inside(base, maplen, blob, bloblen))
        abort();

    for (uint32_t i = 0; i < info.threat_count && i < 4096; i++) {
        if (pal_sigpkg_threat(pkg, i, &t) != 0)
            abort();
        check_string(base, maplen, t.name);
        check_string(base, maplen, t.category);
        if (!pal_severity_name(t.severity) || !pal_action_name(t.default_action))
            abort();
        /* The catalog is sorted by name, so every name is found. */
        if (pal_sigpkg_find_threat(pkg, t.name, &t2) != 0 || strcmp(t2.name, t.name) != 0)
            abort();
    }
    if (pal_sigpkg_threat(pkg, info.threat_count, &t) != PAL_ENOTFOUND)
        abort();
    pal_sigpkg_find_threat(pkg, "Virus:DOS/EICAR_Test_File", &t);

    if (pal_sigpkg_lookup_sha256(pkg, digest, &id) == 0 && id >= info.threat_count)
        abort();
    memcpy(digest, data, size < sizeof(digest) ? size : sizeof(digest));
    if (pal_sigpkg_lookup_sha256(pkg, digest, &id) == 0 && id >= info.threat_count)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pal_sigpkg *pkg = NULL;
    pal_errbuf err;

    int fd = memfd_create("fuzz-sigpkg", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (write_all(fd, data, size) != 0)
        abort();
    err.msg[0] = '\0';
    if (pal_sigpkg_open_fd(fd, NULL, 0, &pkg, &err) == 0) {
        exercise(pkg, data, size);
        pal_sigpkg_free(pkg);
    } else if (err.msg[0] == '\0' || pkg != NULL) {
        abort();
    }
    close(fd);
    return 0;
}
