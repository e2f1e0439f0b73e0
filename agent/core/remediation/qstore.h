/*
 * qstore.h — the stored form of one quarantine item: its header, its map of data extents
 * and its transformed content; writing it from a user's file and reading it back, holes
 * kept as holes both ways (SEEK_DATA/SEEK_HOLE). The quarantine (quarantine.h) decides
 * where and when; this module only encodes and decodes bytes between two open fds.
 *
 * An item is one file. Its content is transformed so that it is neither runnable nor
 * recognisable by other scanners where it sits: the original bytes XORed with a ChaCha20
 * keystream under a random per-item key. The key is not a secret (it sits beside the
 * data); the transform only keeps the bytes inert. The header (integers little-endian):
 *
 *   offset size meaning
 *   0      8    magic "PALQUAR\x01"
 *   8      4    format version: 1 or 2
 *   12     4    header size, 128
 *   16     8    content size (bytes of the original, holes included)
 *   24     32   ChaCha20 key
 *   56     16   ChaCha20 IV (version 1: counter and nonce; version 2: bytes 8..15 are
 *               the nonce, bytes 0..7 zero)
 *   72     32   SHA-256 of the original content (holes read as zeros)
 *   104    8    version 2: content offset C (a multiple of 4096); version 1: zero
 *   112    8    version 2: extent count N; version 1: zero
 *   120    8    zero
 *
 * Version 1 (written before sparse files were kept sparse; still read): the content
 * follows the header at offset 128, all of it, transformed by one continuous keystream
 * from the IV.
 *
 * Version 2 (written now): the extent map follows the header, then the content:
 *
 *   128     16*N  the data extents of the original, each {offset u64, length u64},
 *                 sorted, not overlapping, not empty, within the content size
 *   C       size  content: byte o of the original at C + o when o is inside an extent,
 *                 transformed; everything else is a hole of the file (never written, so
 *                 it takes no disk space) and stands for zeros of the original
 *
 * The file's size is C + content size. The keystream is a function of the content offset,
 * so that extents are encoded independently and holes need no keystream: byte o is XORed
 * with byte o % 64 of the ChaCha20 block numbered o / 64 (a 64-bit block counter in IV
 * bytes 0..7, the nonce in bytes 8..15). A hole stays a hole because it is never written;
 * the map, not the holes of the stored file, says what is data, so an item whose holes
 * were filled with zeros (a copy without --sparse) still decodes correctly. C is aligned
 * to the quarantine file system's block size, so that a hole of the original, aligned to
 * its own file system's blocks, is a whole-block hole of the stored file too.
 *
 * The map has at most PAL_QSTORE_MAX_EXTENTS entries: a file with more extents is mapped
 * with its tail as one data extent (correct, only less sparse).
 *
 * Threads: no state; every function may be called from any thread.
 */
#ifndef PAL_QSTORE_H
#define PAL_QSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "pal_error.h"

#define PAL_QSTORE_HEADER_SIZE 128
#define PAL_QSTORE_VERSION 2u
#define PAL_QSTORE_MAX_EXTENTS (1u << 20)

typedef struct pal_qstore_extent {
    uint64_t off, len;
} pal_qstore_extent;

/* Where the data of a file of size bytes is; the rest is holes. */
typedef struct pal_qstore_map {
    uint64_t size;          /* content size */
    pal_qstore_extent *ext; /* malloc'd, n entries */
    size_t n;
    uint64_t data; /* sum of the extents' lengths */
} pal_qstore_map;

void pal_qstore_map_clear(pal_qstore_map *m); /* accepts NULL */

/*
 * Map the data extents of the open regular file fd, of size bytes (its fstat), with
 * SEEK_DATA/SEEK_HOLE. A file system without them reports one extent over everything.
 * PAL_EIO, PAL_ENOMEM.
 */
int pal_qstore_map_fd(int fd, uint64_t size, pal_qstore_map *m, pal_errbuf *err);

/*
 * The disk space an item of map m takes on a file system of block size blk (a power of
 * two, 4096 or more): the header and map blocks plus every block an extent touches. This
 * is what the quarantine's limits count.
 */
uint64_t pal_qstore_stored_bytes(const pal_qstore_map *m, uint64_t blk);

/*
 * Write the version 2 item of the file in (mapped as m) into out, an empty file, for a
 * file system of block size blk (as above). Only the extents are read and written; holes
 * are hashed as zeros. On 0: sha is the SHA-256 of the content and *moved the bytes of
 * content accounted for; *moved < m->size means in ended early (it shrank: the caller
 * treats that as a race). The header is written last, so an interrupted write leaves no
 * valid item. Nothing is fsync'd. PAL_EIO (with the errno's text), PAL_EENGINE, PAL_ENOMEM.
 */
int pal_qstore_write(int in, const pal_qstore_map *m, int out, uint64_t blk, uint8_t sha[32],
                     uint64_t *moved, pal_errbuf *err);

/* An item read back: its header and map. */
typedef struct pal_qstore_item {
    uint32_t version;
    uint8_t key[32];
    uint8_t iv[16];
    uint8_t sha256[32]; /* as recorded in the header */
    uint64_t content_off;
    pal_qstore_map map; /* version 1: one extent over all of the content */
} pal_qstore_item;

void pal_qstore_item_clear(pal_qstore_item *it); /* accepts NULL */

/*
 * Read and check the header and map of the item file fd, whose size is file_size (its
 * fstat). PAL_EFORMAT with a message for anything that is not a valid item of version 1
 * or 2, PAL_EIO, PAL_ENOMEM.
 */
int pal_qstore_open(int fd, uint64_t file_size, pal_qstore_item *it, pal_errbuf *err);

/*
 * Decode the content of the item fd (opened as it): into out (>= 0: an empty file; it is
 * given the content size, the extents are written and the holes left as holes) or nowhere
 * (out < 0: only hashed). sha is the SHA-256 of the decoded content; the caller compares
 * it with the header's and the record's. PAL_EFORMAT (the item file is shorter than its
 * map says), PAL_EIO, PAL_EENGINE, PAL_ENOMEM.
 */
int pal_qstore_decode(int fd, const pal_qstore_item *it, int out, uint8_t sha[32], pal_errbuf *err);

/* SHA-256 of everything fd reads from offset 0, and *size the byte count. PAL_EIO, ... */
int pal_qstore_hash_fd(int fd, uint8_t sha[32], uint64_t *size, pal_errbuf *err);

#endif
