/*
 * fuzz_cpmsg.c — libFuzzer target: the broker's parser of content-process messages
 * (agent/ipc/cpmsg.h) on arbitrary bytes, as one datagram arriving on a channel.
 *
 * The first byte picks the side the message is taken to come from (the broker decodes only
 * the content process's types; the content process decodes the broker's with the same
 * code); the rest is the datagram. Whatever the decoder accepts must re-encode to exactly
 * the same bytes (nothing is accepted that the format does not describe), every byte range
 * it returns must lie inside the datagram, and a refusal must say why. The meaning checks
 * the broker applies next (chain rooted at the object's name, matched-by, UTF-8) run on
 * every string the decoder hands out. A bundle (REQUESTS, ANSWERS) is walked item by item,
 * each item decoded and checked as a message of its own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t g_out[PAL_CPMSG_MAX];

static void inside(const uint8_t *buf, size_t len, pal_cpmsg_bytes b)
{
    if (b.len == 0)
        return;
    if (b.p < buf || b.p + b.len > buf + len)
        abort();
}

static void meaning(pal_cpmsg_bytes chain)
{
    /* the names the broker scans under are never empty; try a prefix of the chain itself
       and a fixed one */
    static const char name[] = "/srv/share/a.zip";
    (void)pal_cpmsg_check_chain(name, sizeof(name) - 1, chain);
    size_t cut = chain.len / 2;
    if (cut > 0 && pal_cpmsg_check_chain((const char *)chain.p, cut, chain) == 0 &&
        chain.len > cut && !(chain.p[cut] == '-' && chain.p[cut + 1] == '>'))
        abort(); /* a longer chain is accepted only through "->" */
    (void)pal_cpmsg_utf8_clean(chain.p, chain.len);
}

/* Decode one message at buf (len bytes, inside a datagram of its own or a bundle's item)
   and check what the decoder hands out; 1 when it was accepted. */
static int one_message(const uint8_t *buf, size_t len, pal_cpmsg_dir dir, int in_bundle)
{
    pal_cpmsg m;
    pal_errbuf err;
    err.msg[0] = '\0';
    if (pal_cpmsg_decode(buf, len, dir, &m, &err) != 0) {
        if (err.msg[0] == '\0')
            abort();
        return 0;
    }
    size_t n = pal_cpmsg_encode(&m, g_out, sizeof(g_out));
    if (n != len || memcmp(g_out, buf, len) != 0)
        abort();
    switch (m.type) {
    case PAL_CPMSG_REQUESTS:
    case PAL_CPMSG_ANSWERS: {
        /* the framing was checked: every item lies inside, is no bundle, and is taken whole;
           each is then decoded as if it had come alone */
        if (in_bundle)
            abort();
        inside(buf, len, m.u.items);
        pal_cpmsg_bytes rest = m.u.items, item;
        size_t items = 0, bytes = 0;
        while (pal_cpmsg_bundle_next(&rest, &item)) {
            inside(buf, len, item);
            items++;
            bytes += 4 + item.len;
            (void)one_message(item.p, item.len, dir, 1);
        }
        if (items == 0 || bytes != m.u.items.len || rest.len != 0)
            abort();
        break;
    }
    case PAL_CPMSG_SCAN:
        inside(buf, len, m.u.scan.name);
        if (m.flags & PAL_CPMSG_SCAN_SHM) {
            if (m.u.scan.data.p != NULL ||
                (uint64_t)m.u.scan.bulk_off + m.u.scan.data.len > PAL_CPMSG_REQ_MAX)
                abort();
        } else {
            inside(buf, len, m.u.scan.data);
        }
        break;
    case PAL_CPMSG_DATA:
        inside(buf, len, m.u.data.data);
        break;
    case PAL_CPMSG_SELFTEST:
        inside(buf, len, m.u.selftest.path);
        break;
    case PAL_CPMSG_RESULT:
        inside(buf, len, m.u.result.chain);
        inside(buf, len, m.u.result.detail);
        meaning(m.u.result.chain);
        break;
    case PAL_CPMSG_FINDING:
        inside(buf, len, m.u.finding.threat);
        inside(buf, len, m.u.finding.chain);
        inside(buf, len, m.u.finding.by);
        meaning(m.u.finding.chain);
        if (pal_cpmsg_check_matched_by(m.u.finding.by) != 0)
            abort(); /* the decoder checked it already */
        break;
    default:
        break;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    pal_cpmsg_dir dir = (data[0] & 1) ? PAL_CPMSG_FROM_CP : PAL_CPMSG_FROM_BROKER;
    size_t len = size - 1;
    /* a private copy, so that a read past the datagram is caught by ASan */
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data + 1, len);
    (void)one_message(buf, len, dir, 0);
    free(buf);
    return 0;
}
