/*
 * msg.h — the control protocol's messages (PROTOCOL.md), shared by both ends: envelope
 * builders and validators, typed field getters that write BadRequest-ready messages
 * ("field 'limit' must be an integer"), RFC 3339 times, the path encoding, and the error
 * code names.
 *
 * Envelopes:
 *   request  {"id": 1..2^53 (0 for hello), "op": "<op>", "args": {...}}   args optional
 *   result   {"id": n, "result": {...}}
 *   error    {"id": n|null, "error": {"code": "<Code>", "message": "<text>"}}
 *   event    {"id": n, "event": "<name>", "data": {...}}
 *
 * Paths (PROTOCOL.md "Encoding rules"): a path that is valid UTF-8 travels as a JSON
 * string under its key; any other path travels as key_b64 (base64 of the raw bytes) next to
 * a display form under key in which every byte that is not part of valid UTF-8 is written
 * \xNN. Clients send paths as a string or {"b64": "..."}.
 *
 * Memory: builders return new references (NULL on ENOMEM) and steal the json_t arguments
 * marked "stolen" even when they fail. Getters return pointers into the object they read,
 * valid while that object lives.
 */
#ifndef PAL_MSG_H
#define PAL_MSG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pal_error.h"
#include "utf8.h" /* pal_utf8_valid: strict UTF-8, as jansson checks */

#define PAL_PROTOCOL_VERSION 1
#define PAL_MSG_ID_MAX 9007199254740992LL /* 2^53: ids stay exact in every JSON reader */
#if JSON_INTEGER_IS_LONG_LONG
#define PAL_MSG_INT_MAX LLONG_MAX /* largest json_int_t: "no upper bound" for the getters */
#else
#define PAL_MSG_INT_MAX LONG_MAX
#endif

/* ---- error codes (PROTOCOL.md "Error codes") -------------------------------------------- */

#define PAL_CODE_PROTOCOL_ERROR "ProtocolError"
#define PAL_CODE_VERSION_MISMATCH "VersionMismatch"
#define PAL_CODE_UNKNOWN_OP "UnknownOp"
#define PAL_CODE_BAD_REQUEST "BadRequest"
#define PAL_CODE_ACCESS_DENIED "AccessDenied"
#define PAL_CODE_POLICY_LOCKED "PolicyLocked"
#define PAL_CODE_INVALID_VALUE "InvalidValue"
#define PAL_CODE_NOT_FOUND "NotFound"
#define PAL_CODE_EXISTS "Exists"
#define PAL_CODE_REFUSED "Refused"
#define PAL_CODE_BUSY "Busy"
#define PAL_CODE_INTERNAL "Internal"
/* Client side only (libpalisade): the agent cannot be reached. */
#define PAL_CODE_UNAVAILABLE "Unavailable"

/* True for the twelve codes a server may send. */
bool pal_code_is_protocol(const char *code);

/*
 * The one map from the error vocabulary (pal_error.h) to protocol codes: every handler of the
 * daemon answers a lower layer's PAL_E* error with this code.
 *   NOTFOUND -> NotFound, EEXIST -> Exists, EINVAL -> InvalidValue (the request was well
 *   formed; a value in it is not acceptable: a request that does not parse is BadRequest, which
 *   handlers say themselves), EPOLICY -> PolicyLocked, EPERM -> AccessDenied,
 *   ERACE/EFORMAT/EVERSION/ESIGNATURE/EUNKNOWNKEY/ELIMIT/ESTATE -> Refused (the agent looked and
 *   said no: a limit, a signature, the file system changed), everything else -> Internal.
 * Static string.
 */
const char *pal_code_for_err(int err);

/* ---- envelopes -------------------------------------------------------------------------- */

/* args: stolen, NULL to omit. */
json_t *pal_msg_request(json_int_t id, const char *op, json_t *args);
/* result: stolen. */
json_t *pal_msg_result(json_int_t id, json_t *result);
/* id < 0 gives "id": null. message is copied; invalid UTF-8 in it is shown as \xNN. */
json_t *pal_msg_error(json_int_t id, const char *code, const char *message);
/* data: stolen, NULL gives {}. */
json_t *pal_msg_event(json_int_t id, const char *name, json_t *data);

/* 0 with *id when msg has "id" as an integer in 0..2^53, else PAL_EPROTO. */
int pal_msg_envelope_id(const json_t *msg, json_int_t *id);

/*
 * Server side: check a request envelope. On success *id, *op (into msg) and *args (into
 * msg; NULL when omitted or null) are set. PAL_EPROTO with a message otherwise.
 */
int pal_msg_parse_request(const json_t *msg, json_int_t *id, const char **op, const json_t **args,
                          pal_errbuf *err);

typedef enum pal_msg_kind {
    PAL_MSG_RESULT = 1,
    PAL_MSG_ERROR = 2,
    PAL_MSG_EVENT = 3,
} pal_msg_kind;

/*
 * Client side: check a server message. On success *kind and *id (-1 for an error with id
 * null) are set; a result has an object "result", an error an object "error" with string
 * "code" and "message", an event a string "event" and an object "data". PAL_EPROTO with a
 * message otherwise.
 */
int pal_msg_parse_response(const json_t *msg, pal_msg_kind *kind, json_int_t *id, pal_errbuf *err);

/* ---- typed getters ---------------------------------------------------------------------- */

/*
 * Every getter reads obj[name] (obj may be NULL: no fields) and returns
 *   0           the field is present and valid; *out set
 *   1           the field is absent (or null with PAL_MSG_NULLABLE) and not required;
 *               *out untouched
 *   PAL_EINVAL  missing though required, wrong type or out of range; err holds the message
 *               for a BadRequest, e.g. "field 'limit' must be an integer"
 */
#define PAL_MSG_OPTIONAL 0u
#define PAL_MSG_REQUIRED 1u /* absence is an error */
#define PAL_MSG_NULLABLE 2u /* JSON null counts as absent */
#define PAL_MSG_NONEMPTY 4u /* strings: "" is an error */

int pal_msg_get_int(const json_t *obj, const char *name, unsigned flags, json_int_t min,
                    json_int_t max, json_int_t *out, pal_errbuf *err);
int pal_msg_get_bool(const json_t *obj, const char *name, unsigned flags, bool *out,
                     pal_errbuf *err);
int pal_msg_get_string(const json_t *obj, const char *name, unsigned flags, const char **out,
                       pal_errbuf *err);
/* names: NULL-terminated list of allowed values (exact case); *out is the index. */
int pal_msg_get_enum(const json_t *obj, const char *name, unsigned flags, const char *const *names,
                     int *out, pal_errbuf *err);
/* The same over a vocabulary table of n entries with holes (agent/util/names.h, PAL_NAMES):
 *out is the value whose name the field holds. */
int pal_msg_get_name(const json_t *obj, const char *name, unsigned flags, const char *const *names,
                     size_t n, int *out, pal_errbuf *err);
/* An RFC 3339 time string; *out in milliseconds since the epoch (UTC). */
int pal_msg_get_time(const json_t *obj, const char *name, unsigned flags, int64_t *out,
                     pal_errbuf *err);
int pal_msg_get_object(const json_t *obj, const char *name, unsigned flags, const json_t **out,
                       pal_errbuf *err);
int pal_msg_get_array(const json_t *obj, const char *name, unsigned flags, const json_t **out,
                      pal_errbuf *err);

/*
 * Refuse fields not in the NULL-terminated list ("unknown field 'limt'"), so that a typo
 * is an error rather than a silently ignored filter. 0 or PAL_EINVAL.
 */
int pal_msg_check_fields(const json_t *obj, const char *const *allowed, pal_errbuf *err);

/* ---- times ------------------------------------------------------------------------------ */

#define PAL_TIME_BUFSZ 32 /* "2026-11-25T23:40:00.123Z" and its NUL, with room */

/* Milliseconds since the epoch, CLOCK_REALTIME. */
int64_t pal_time_now_ms(void);

/*
 * Format ms (since the epoch, UTC) as "YYYY-MM-DDTHH:MM:SS.mmmZ". Returns 0, or PAL_EINVAL
 * when the year is outside 0000..9999 or size < PAL_TIME_BUFSZ.
 */
int pal_time_format(int64_t ms, char *buf, size_t size);

/*
 * Parse an RFC 3339 date-time: "YYYY-MM-DD" "T"|"t"|" " "HH:MM:SS" [fraction] "Z"|"z"|
 * ("+"|"-")"HH:MM". Fraction digits beyond milliseconds are truncated; second 60 (a leap
 * second) is accepted. Returns 0 with *ms, or PAL_EFORMAT.
 */
int pal_time_parse(const char *s, int64_t *ms);

/* A JSON string holding pal_time_format(ms), or NULL (range, ENOMEM). */
json_t *pal_time_json(int64_t ms);

/* ---- paths and base64 ------------------------------------------------------------------- */

/* The display form: valid UTF-8 sequences kept, every other byte written \xNN. malloc'd. */
char *pal_path_display(const char *path, size_t len);

/*
 * Set obj[key] to the path, plus obj[key "_b64"] when the path is not valid UTF-8.
 * Returns 0, PAL_EINVAL (empty key or key longer than 64 bytes), PAL_ENOMEM.
 */
int pal_msg_set_path(json_t *obj, const char *key, const char *path, size_t len);

/*
 * Read a path written by pal_msg_set_path: obj[key "_b64"] when present, else obj[key].
 * *out is malloc'd raw bytes with a NUL after *len bytes. Same returns as the getters; a
 * path is never empty and never contains NUL.
 */
int pal_msg_get_path(const json_t *obj, const char *key, unsigned flags, char **out, size_t *len,
                     pal_errbuf *err);

/* A client's path argument: a JSON string when valid UTF-8, else {"b64": "..."}. */
json_t *pal_msg_path_arg(const char *path, size_t len);

/*
 * Decode one path argument (a string or {"b64": "..."}). what names it in messages
 * ("paths[2]"). Returns 0 with *out (malloc'd, NUL-terminated) and *len, or PAL_EINVAL
 * with a message (wrong shape, bad base64, empty, contains NUL), or PAL_ENOMEM.
 */
int pal_msg_path_arg_decode(const json_t *v, const char *what, char **out, size_t *len,
                            pal_errbuf *err);

/* Standard base64 with padding. Returns a malloc'd string or NULL (ENOMEM, size). */
char *pal_b64_encode(const void *data, size_t len);
/*
 * Strict decode: length a multiple of 4, padding only at the end, unused bits zero.
 * *out is malloc'd with a NUL after *len bytes. 0, PAL_EFORMAT or PAL_ENOMEM.
 */
int pal_b64_decode(const char *s, size_t slen, unsigned char **out, size_t *len);

#endif
