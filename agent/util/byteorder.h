/*
 * byteorder.h — the one set of fixed-width integer loads and stores for every byte format
 * Palisade reads or writes: the signature package, the content-process messages and the
 * quarantine files are little-endian; the control-socket frame length is big-endian. None
 * assumes alignment or the host's byte order, so a pointer into any buffer will do.
 */
#ifndef PAL_BYTEORDER_H
#define PAL_BYTEORDER_H

#include <stdint.h>

static inline uint16_t pal_le16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (uint16_t)b[1] << 8);
}

static inline uint32_t pal_le32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t pal_le64(const void *p)
{
    const uint8_t *b = p;
    return (uint64_t)pal_le32(b) | (uint64_t)pal_le32(b + 4) << 32;
}

static inline void pal_put_le16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static inline void pal_put_le32(void *p, uint32_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static inline void pal_put_le64(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t pal_be32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static inline void pal_put_be32(void *p, uint32_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * (3 - i)));
}

#endif
