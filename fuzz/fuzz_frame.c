/*
 * fuzz_frame.c — the control socket's decoders on arbitrary bytes: a client is a
 * less-trusted peer. Feeds the input through the frame reader (length prefix, cap, partial
 * frames) over a pipe, the JSON payload parser, the request and response envelope
 * parsers, and the argument decoders the daemon's handlers use (paths, times, base64).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "frame.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise_message(const json_t *msg)
{
    pal_errbuf err;
    json_int_t id;
    const char *op = NULL;
    const json_t *args = NULL;
    if (pal_msg_parse_request(msg, &id, &op, &args, &err) == 0 && args) {
        const json_t *paths = NULL;
        if (pal_msg_get_array(args, "paths", PAL_MSG_OPTIONAL, &paths, &err) == 0 && paths) {
            for (size_t i = 0; i < json_array_size(paths) && i < 16; i++) {
                char *p = NULL;
                size_t len = 0;
                if (pal_msg_path_arg_decode(json_array_get(paths, i), "paths[]", &p, &len, &err) ==
                    0)
                    free(p);
            }
        }
        int64_t t;
        pal_msg_get_time(args, "since", PAL_MSG_OPTIONAL, &t, &err);
        const char *s = NULL;
        if (pal_msg_get_string(args, "since", PAL_MSG_OPTIONAL, &s, &err) == 0 && s)
            pal_time_parse(s, &t);
        json_int_t limit;
        pal_msg_get_int(args, "limit", PAL_MSG_OPTIONAL, 1, 100000, &limit, &err);
        char *path = NULL;
        size_t plen = 0;
        if (pal_msg_get_path(args, "path", PAL_MSG_OPTIONAL, &path, &plen, &err) == 0)
            free(path);
    }
    pal_msg_kind kind;
    pal_msg_parse_response(msg, &kind, &id, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the whole input as one payload */
    json_t *msg = NULL;
    pal_errbuf err;
    if (pal_frame_parse((const char *)data, size, &msg, &err) == 0) {
        exercise_message(msg);
        json_decref(msg);
    }

    /* the input as a byte stream on a socket: length prefixes, caps, partial frames */
    int fds[2];
    if (size > 60000 || pipe(fds) != 0)
        return 0;
    if (write(fds[1], data, size) != (ssize_t)size) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    close(fds[1]);
    pal_frame_reader *r = pal_frame_reader_new(64 * 1024);
    for (int frames = 0; r && frames < 64; frames++) {
        int rc = pal_frame_reader_read(r, fds[0]);
        char *payload = NULL;
        size_t len = 0;
        if (rc == PAL_FRAME_READY && pal_frame_reader_take(r, &payload, &len) == 0) {
            json_t *m = NULL;
            if (pal_frame_parse(payload, len, &m, &err) == 0) {
                exercise_message(m);
                json_decref(m);
            }
            free(payload);
            continue;
        }
        if (rc != PAL_FRAME_AGAIN)
            break; /* EOF, a refused frame or an error: the reader is spent */
    }
    pal_frame_reader_free(r);
    close(fds[0]);
    return 0;
}
