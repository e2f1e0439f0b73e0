/*
 * frame.h — control-protocol frames: reading and writing length-prefixed JSON objects on a
 * stream fd, with a hard size cap, partial reads and writes, EINTR, and deadlines.
 *
 * Wire format (PROTOCOL.md "Transport and frames"):
 *
 * | offset | size | meaning                                                            |
 * |--------|------|--------------------------------------------------------------------|
 * | 0      | 4    | N, payload length, unsigned big-endian; 1 <= N <= cap              |
 * | 4      | N    | exactly one JSON object, UTF-8, no NUL byte                        |
 *
 * The cap is 1 MiB for client -> server and 16 MiB for server -> client. A reader checks
 * the length against its cap before it allocates anything, and grows its buffer only as
 * bytes actually arrive, so a peer that announces a large frame and stalls holds on to no
 * more memory than it sent (sshbuf's habit).
 *
 * The reader is a state machine that never reads past the frame it is assembling: after
 * PAL_FRAME_READY the next frame's bytes are still in the socket, so poll() on the fd stays
 * truthful. It works on blocking and non-blocking fds alike.
 */
#ifndef PAL_FRAME_H
#define PAL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pal_error.h"

#define PAL_FRAME_HEADER 4
#define PAL_FRAME_MAX_REQUEST (1u << 20)   /* client -> server, 1 MiB */
#define PAL_FRAME_MAX_RESPONSE (16u << 20) /* server -> client, 16 MiB */

/* Monotonic clock in milliseconds, for deadlines. */
int64_t pal_mono_ms(void);

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct pal_frame_reader pal_frame_reader;

/* Non-negative results of the reading calls. Errors are negative PAL_E* codes. */
enum pal_frame_status {
    PAL_FRAME_AGAIN = 0, /* no complete frame yet (EAGAIN, or only part of one arrived) */
    PAL_FRAME_READY = 1, /* a complete frame is waiting: take it with pal_frame_reader_take */
    PAL_FRAME_EOF = 2,   /* the peer closed the stream cleanly between frames */
};

/* max_payload: the cap N may not exceed (1 .. 1 GiB). Returns NULL on bad cap or ENOMEM. */
pal_frame_reader *pal_frame_reader_new(size_t max_payload);
void pal_frame_reader_free(pal_frame_reader *r); /* accepts NULL */

/*
 * One read(2) towards the current frame (retried on EINTR). Returns PAL_FRAME_AGAIN,
 * PAL_FRAME_READY, PAL_FRAME_EOF, or:
 *   PAL_ELIMIT   the header announces more than the cap
 *   PAL_EFORMAT  the header announces a zero-length frame
 *   PAL_EPROTO   the stream ended inside a frame (truncated)
 *   PAL_EIO      read(2) failed (errno kept)
 *   PAL_ENOMEM
 * After an error or EOF the reader is spent: the only useful call is _free.
 * While a frame is READY, further calls return PAL_FRAME_READY without reading.
 */
int pal_frame_reader_read(pal_frame_reader *r, int fd);

/* True when some bytes of a frame have arrived but not all of them. */
bool pal_frame_reader_in_frame(const pal_frame_reader *r);

/* The length announced by the current header (0 when the header is incomplete). */
size_t pal_frame_reader_announced(const pal_frame_reader *r);

/*
 * Hand over the complete frame: *payload (malloc'd, NUL-terminated after len bytes, freed by
 * the caller with free()) and *len. Resets the reader for the next frame. Returns
 * PAL_ESTATE if no frame is READY.
 */
int pal_frame_reader_take(pal_frame_reader *r, char **payload, size_t *len);

/*
 * Wait for one complete frame with poll(2).
 *   deadline   absolute pal_mono_ms() time at which the wait ends, -1 for none; a deadline
 *              already past still reads whatever has arrived (a non-blocking check);
 *   stall_ms   once a frame's first byte has arrived, the rest must arrive within stall_ms
 *              of that moment, -1 for no limit (the start time is kept in the reader, so
 *              it spans calls);
 *   wake_fd    if >= 0, the call returns PAL_ECANCELLED as soon as wake_fd is readable
 *              (a shutdown pipe); -1 for none.
 * Returns PAL_FRAME_READY, PAL_FRAME_EOF, PAL_ETIMEOUT (either limit; tell them apart with
 * pal_frame_reader_in_frame), PAL_ECANCELLED, or an error of pal_frame_reader_read.
 * A timeout or wake leaves the reader usable: a later call continues the same frame.
 */
int pal_frame_recv(pal_frame_reader *r, int fd, int64_t deadline, int64_t stall_ms, int wake_fd);

/* ---- parsing and encoding ---------------------------------------------------------------- */

/*
 * Parse a payload into a JSON object: rejects NUL bytes, invalid UTF-8, duplicate keys,
 * trailing data, anything but one object. Returns 0 with *out (new reference) or
 * PAL_EFORMAT with a one-line reason in err.
 */
int pal_frame_parse(const char *payload, size_t len, json_t **out, pal_errbuf *err);

/*
 * Serialise obj compactly. Returns 0 with *out (malloc'd, free()) and *len, PAL_ELIMIT if
 * the text exceeds max_payload (nothing allocated), PAL_EINVAL if obj is not an object,
 * PAL_ENOMEM.
 */
int pal_frame_encode(const json_t *obj, size_t max_payload, char **out, size_t *len);

/* ---- writing ---------------------------------------------------------------------------- */

/* One outgoing frame, written incrementally (header and payload in one buffer). */
typedef struct pal_frame_out {
    unsigned char *buf; /* header + payload, owned */
    size_t len;         /* PAL_FRAME_HEADER + payload length */
    size_t off;         /* bytes already written */
} pal_frame_out;

/*
 * Prepare a frame of len payload bytes (copied). Returns PAL_ELIMIT if len is 0 or above
 * max_payload, PAL_ENOMEM. On failure *o is left empty (safe to _clear).
 */
int pal_frame_out_init(pal_frame_out *o, const char *payload, size_t len, size_t max_payload);
void pal_frame_out_clear(pal_frame_out *o); /* accepts a cleared or failed frame */

/*
 * Write as much as the fd takes now (send(2) with MSG_NOSIGNAL on sockets, so a peer that
 * went away gives PAL_EIO/EPIPE instead of SIGPIPE; write(2) on other fds). Returns 1 when
 * the whole frame is written, 0 when the fd would block (poll for POLLOUT and call again),
 * PAL_EIO on failure.
 */
int pal_frame_out_write(pal_frame_out *o, int fd);

/*
 * Write one whole frame, waiting with poll(2) when the fd would block, until the absolute
 * pal_mono_ms() deadline (-1: none). Returns 0, PAL_ELIMIT (size), PAL_ETIMEOUT, PAL_EIO,
 * PAL_ENOMEM. After PAL_ETIMEOUT or PAL_EIO part of the frame may have been written: the
 * stream is no longer in sync and must be closed.
 */
int pal_frame_write(int fd, const char *payload, size_t len, size_t max_payload, int64_t deadline);

/* pal_frame_encode + pal_frame_write. */
int pal_frame_send_json(int fd, const json_t *obj, size_t max_payload, int64_t deadline);

#endif
