/*
 * palisade.h — libpalisade, the client library of palisaded's control protocol
 * (agent/ipc/PROTOCOL.md). The `palisade` CLI and the PowerShell module (through P/Invoke)
 * manage the agent with it.
 *
 * Shape (after libarchive): one opaque handle per connection; every entry point checks the
 * handle's magic and state; the error of the last call lives in the handle and is read
 * through palisade_error_code() / palisade_error_string(), so callers never parse stderr.
 * The library never prints and never raises SIGPIPE.
 *
 * Types are P/Invoke-plain: int, int64_t, UTF-8 `char *`. Strings the library returns
 * through `char **` are malloc'd by it and freed with palisade_free_string(); `const char *`
 * returns belong to the handle and stay valid until the next call on it.
 *
 * Threads: thread-compatible — use one handle per thread (a handle is not locked); handles
 * share nothing.
 *
 *     palisade *h = palisade_new();
 *     if (palisade_connect(h, NULL) != PALISADE_OK)            // does the hello
 *         fprintf(stderr, "%s: %s\n", palisade_error_code(h), palisade_error_string(h));
 *     char *res;
 *     if (palisade_call(h, "status", NULL, &res) == PALISADE_OK) { ...; palisade_free_string(res);
 * } int64_t id = palisade_start(h, "scan.start", "{\"type\":\"Quick\"}"); for (;;) { int64_t rid;
 * char *msg; int k = palisade_next_event(h, 200, &rid, &msg);
 *         ...  // PALISADE_EVENT: progress; PALISADE_RESULT / PALISADE_ERROR: done
 *     }
 *     palisade_close(h);
 */
#ifndef PALISADE_H
#define PALISADE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PALISADE_API __attribute__((visibility("default")))
#else
#define PALISADE_API
#endif

#define PALISADE_VERSION_STRING "0.1.0"
#define PALISADE_PROTOCOL 1
#define PALISADE_DEFAULT_SOCKET "/run/palisade/palisaded.sock"
/* Beside the control socket (0660, admin group) the daemon listens on a read-only status
   socket (0666) at the same path plus this suffix; a client refused on the first connects
   to the second, where status works and every admin op is AccessDenied. */
#define PALISADE_STATUS_SOCKET_SUFFIX ".status"

/* Return values of the calls that return int. */
#define PALISADE_OK 0
#define PALISADE_FAILED (-1) /* this call failed (error in the handle); the handle still works */
#define PALISADE_FATAL                                                                             \
    (-2) /* the connection is gone or the handle is unusable: only                                 \
            palisade_close is useful (an invalid handle also gives this) */

/* Kinds returned by palisade_next_event. */
#define PALISADE_EVENT 1   /* an event of a started request: {"id", "event", "data"} */
#define PALISADE_RESULT 2  /* a started request ended with this result object */
#define PALISADE_ERROR 3   /* a started request ended with this error {"code", "message"} */
#define PALISADE_TIMEOUT 4 /* nothing arrived within the timeout */

typedef struct palisade palisade;

/* The library's version, e.g. "0.1.0". Static. */
PALISADE_API const char *palisade_version(void);

/* A new, unconnected handle; NULL only when out of memory. */
PALISADE_API palisade *palisade_new(void);

/*
 * Connect and do the hello. socket_path NULL or "": $PALISADE_SOCKET, else
 * PALISADE_DEFAULT_SOCKET. Returns PALISADE_OK, or PALISADE_FAILED with the error in the
 * handle (the handle stays unconnected and connect may be tried again):
 *   Unavailable      nothing listens there; the message says how to start palisaded
 *   AccessDenied     the socket's permissions keep this user out
 *   VersionMismatch  the agent speaks another protocol
 *   ProtocolError    what answered does not speak the protocol
 *   Busy             the agent refused the connection (too many, shutting down)
 * Calling it on a connected handle fails with BadRequest.
 */
PALISADE_API int palisade_connect(palisade *h, const char *socket_path);

/* The socket path connect used (or will use). Owned by the handle. */
PALISADE_API const char *palisade_socket_path(palisade *h);

/* The hello result as JSON text ({"protocol", "agent_version", "uid", "admin"}), NULL
   before connect. Owned by the handle, valid until palisade_close. */
PALISADE_API const char *palisade_agent_info(palisade *h);

/*
 * Run one op and wait for its response. args_json: a JSON object as text, or NULL/"" for
 * no args. On PALISADE_OK, *result_json (if result_json is not NULL) receives the result
 * object as JSON text; free it with palisade_free_string. On PALISADE_FAILED the agent's
 * (or the library's BadRequest for bad args_json) code and message are in the handle.
 * Events of the op, if it sends any, are dropped; use palisade_start to see them.
 */
PALISADE_API int palisade_call(palisade *h, const char *op, const char *args_json,
                               char **result_json);

/*
 * Send one op without waiting (typically a streaming op such as scan.start). Returns the
 * request id (> 0) to match in palisade_next_event and to pass to palisade_cancel, or
 * PALISADE_FAILED / PALISADE_FATAL.
 */
PALISADE_API int64_t palisade_start(palisade *h, const char *op, const char *args_json);

/*
 * Wait up to timeout_ms (negative: without limit; 0: only what already arrived) for the
 * next message of a started request. Returns PALISADE_EVENT, PALISADE_RESULT or
 * PALISADE_ERROR with *request_id and *json set (free *json with palisade_free_string; for
 * PALISADE_ERROR the code and message are also in the handle), PALISADE_TIMEOUT with
 * *request_id = 0 and *json = NULL, or PALISADE_FAILED (NotFound: no started request is in
 * flight) / PALISADE_FATAL. A request is finished once its RESULT or ERROR was returned.
 */
PALISADE_API int palisade_next_event(palisade *h, int timeout_ms, int64_t *request_id, char **json);

/*
 * Ask the agent to stop a started request; its RESULT (a scan's has "status": "Cancelled")
 * still arrives through palisade_next_event. Returns 1 if the request was in flight on the
 * agent, 0 if it had already finished, or PALISADE_FAILED / PALISADE_FATAL.
 */
PALISADE_API int palisade_cancel(palisade *h, int64_t request_id);

/*
 * The error of the last call on h: a protocol code (ProtocolError, VersionMismatch,
 * UnknownOp, BadRequest, AccessDenied, PolicyLocked, InvalidValue, NotFound, Exists,
 * Refused, Busy, Internal) or the client-side Unavailable; NULL when the last call
 * succeeded. After PALISADE_FATAL the error that killed the connection stays.
 */
PALISADE_API const char *palisade_error_code(palisade *h);
/* The message for a human that goes with it; NULL when the last call succeeded. */
PALISADE_API const char *palisade_error_string(palisade *h);

/* Free a string returned through a `char **` parameter. Accepts NULL. */
PALISADE_API void palisade_free_string(char *s);

/* The most bytes palisade_scan_buffer takes in one call (the agent's limit per request). */
#define PALISADE_BUFFER_SCAN_MAX (512 * 1024)

/*
 * Scan len bytes at data that are not a file (op scan.buffer): a script before it runs, a
 * download before it is saved. name (NULL or "": none) is a hint shown in the detection
 * ("buffer:<name>"), UTF-8, at most 255 bytes. The agent scans the bytes as it scans a
 * file's, keeps none of them, records a threat with the caller's uid and pid and does not
 * remediate. On PALISADE_OK *result_json receives {"verdict": "clean"|"threat"|
 * "unscannable", "name", "size", "threats": [{"threat", "category", "severity", "chain",
 * "matched_by", "detection_id", "allowed"}], "reason", "reason_detail"}; an allowed finding
 * does not make the verdict "threat" (free the result with
 * palisade_free_string). PALISADE_FAILED with InvalidValue for more than
 * PALISADE_BUFFER_SCAN_MAX bytes, BadRequest for a name that is not UTF-8 or too long, and
 * Busy when the caller's uid is over its per-minute limits (the message names the limit).
 */
PALISADE_API int palisade_scan_buffer(palisade *h, const void *data, int64_t len, const char *name,
                                      char **result_json);

/* Close the connection (the agent cancels what was in flight) and free h. Accepts NULL. */
PALISADE_API int palisade_close(palisade *h);

#ifdef __cplusplus
}
#endif

#endif
