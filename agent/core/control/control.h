/*
 * control.h — palisaded's control server: the Unix socket that clients (libpalisade, the
 * CLI, the PowerShell module) manage the agent through, speaking PROTOCOL.md version 1.
 *
 * This module owns the socket, the connections, the handshake, peer credentials and the
 * admin check, envelope validation, request ids, cancellation and the dispatch table. It
 * knows no operation but the built-in `hello` and `cancel`: the daemon registers the rest
 * as a table of {name, flags, handler}, in the manner of OpenSSH's monitor dispatch table.
 *
 * Abuse by a local user (PROTOCOL.md "Limits"): connections per uid are capped below the
 * table's size (peerlimit.h); a connection idle after hello is closed; the lines a peer can
 * make the daemon log (protocol errors, refused and idle connections) are rate-limited per
 * uid, 10 per 5 s, then one summary line with the count held back; and the admin check is
 * made for every request against the group database (access.h), never cached, so that
 * taking a user out of the admin group takes effect on its open connections.
 *
 * Threads: one accept thread; one reader thread per connection, which also runs the
 * ordinary (short) handlers inline, one request at a time; one worker thread per request of
 * a PAL_CTL_STREAMING op, so that the connection can still receive `cancel` and other
 * requests while it runs. Frames to one connection are serialised by a per-connection
 * mutex. A client that breaks the protocol, stalls or stops reading loses its own
 * connection only.
 *
 * Lifecycle:
 *     pal_ctl_server_new(&cfg, &srv, &err);
 *     pal_ctl_server_register(srv, ops, n_ops, daemon, &err);   (any number of tables)
 *     pal_ctl_server_start(srv, &err);      socket + accept thread
 *     ... pal_ctl_server_set_admin_group(srv, "ops", &err) at any time ...
 *     pal_ctl_server_stop(srv);             stop accepting, cancel all, wait, close
 *     pal_ctl_server_free(srv);
 */
#ifndef PAL_CONTROL_H
#define PAL_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "msg.h"
#include "pal_error.h"

typedef struct pal_ctl_server pal_ctl_server;
typedef struct pal_ctl_request pal_ctl_request;

/* ---- operations ------------------------------------------------------------------------- */

#define PAL_CTL_ADMIN_ONLY 0x1u /* root or the admin group only; others get AccessDenied */
#define PAL_CTL_STREAMING 0x2u  /* runs on its own thread, may send events, is cancellable */

/*
 * A handler parses the whole of its args first, then checks state, then does the work.
 * It returns a new reference to the result object, or NULL after pal_ctl_fail() (NULL
 * without pal_ctl_fail, or a non-object, is reported to the client as Internal). The
 * framework sends the one response; the handler never writes to the socket except through
 * pal_ctl_event.
 *
 * An ordinary handler runs on its connection's reader thread: keep it short (a database
 * query, a settings change). A PAL_CTL_STREAMING handler runs on a worker thread, and must
 * poll pal_ctl_cancelled() (or hand pal_ctl_cancel_flag() to the engine) and return
 * promptly once it is set — cancel, client disconnect and server stop all set it — with its
 * normal result (a scan's has "status": "Cancelled").
 *
 * arg is the pointer given to pal_ctl_server_register with the handler's table.
 */
typedef json_t *(*pal_ctl_handler_fn)(pal_ctl_request *req, void *arg);

typedef struct pal_ctl_op {
    const char *name; /* "scan.start"; copied at registration */
    unsigned flags;   /* PAL_CTL_ADMIN_ONLY | PAL_CTL_STREAMING */
    pal_ctl_handler_fn fn;
} pal_ctl_op;

/* ---- server ----------------------------------------------------------------------------- */

/* Diagnostics for the daemon's log (the server itself never prints). level: syslog LOG_*. */
typedef void (*pal_ctl_log_fn)(void *arg, int level, const char *msg);

typedef struct pal_ctl_config {
    const char *socket_path;   /* required; copied */
    const char *admin_group;   /* NULL: "palisade-admin"; copied */
    const char *agent_version; /* hello's agent_version; NULL: PROJECT version "0.1.0" */
    mode_t socket_mode;        /* 0: 0660 (PROTOCOL.md); tests may widen it */
    bool read_only;            /* the status socket: nobody is admin here, not even root,
                                  so every PAL_CTL_ADMIN_ONLY op gets AccessDenied */
    unsigned max_connections;  /* 0: 128; beyond it a client gets Busy and a close */
    unsigned max_per_uid;      /* 0: 16; connections one uid may hold on this socket at
                                  once; beyond it Busy ("per-user limit") and a close */
    unsigned max_per_root;     /* 0: max_connections / 2; the same for uid 0. Both are
                                  capped at max_connections - 1: no uid takes every slot */
    unsigned max_streaming;    /* per connection, 0: 16; beyond it the request gets Busy */
    int hello_timeout_ms;      /* 0: 10000; no hello by then: ProtocolError, close */
    int stall_timeout_ms;      /* 0: 10000; a frame not complete this long after its first
                                  byte: ProtocolError, close */
    int write_timeout_ms;      /* 0: 30000; a client that does not read its responses for
                                  this long is disconnected (its requests cancelled) */
    int idle_timeout_ms;       /* 0: 60000; after hello, a connection with nothing in flight
                                  that sends no frame for this long (counted from its last
                                  frame or response) gets Busy and a close (setting
                                  ClientIdleTimeoutSeconds) */
    pal_ctl_log_fn log;        /* optional */
    void *log_arg;
} pal_ctl_config;

/* Validates and copies cfg. Nothing is opened yet. */
int pal_ctl_server_new(const pal_ctl_config *cfg, pal_ctl_server **out, pal_errbuf *err);

/*
 * Add n ops to the dispatch table, each called with arg. Only before _start. Returns
 * PAL_EINVAL (empty or over-long name, NULL fn, unknown flag), PAL_EEXIST (the name is
 * taken, including the built-in "hello" and "cancel"), PAL_ESTATE (already started),
 * PAL_ENOMEM. On failure none of the n ops is added.
 */
int pal_ctl_server_register(pal_ctl_server *s, const pal_ctl_op *ops, size_t n, void *arg,
                            pal_errbuf *err);

/*
 * Create the socket and start accepting. A socket file left by a dead daemon is removed;
 * anything else at the path, or a live daemon answering on it, is refused (PAL_EEXIST).
 * The socket gets cfg.socket_mode and the admin group as its group when that group exists.
 * The parent directory must exist. Returns 0, PAL_EEXIST, PAL_EINVAL (path too long),
 * PAL_EIO (system call; err says which), PAL_ESTATE (started twice), PAL_ENOMEM.
 */
int pal_ctl_server_start(pal_ctl_server *s, pal_errbuf *err);

/*
 * Change the admin group (setting AdminGroup) at run time: membership is resolved for every
 * request anyway (access.h), so the change is in force at once; the socket's group follows. Returns
 * 0, or PAL_EIO when the group exists but the socket could not be chgrp'd (the name is changed
 * regardless), PAL_EINVAL, PAL_ENOMEM.
 */
int pal_ctl_server_set_admin_group(pal_ctl_server *s, const char *group, pal_errbuf *err);

/*
 * Graceful stop: stop accepting (the socket file is removed if it is still ours), set the
 * cancel flag of every request in flight, let every handler finish and its response go
 * out, then close every connection. Blocks until all of that is done; idempotent. Must not
 * be called from a handler.
 */
void pal_ctl_server_stop(pal_ctl_server *s);

/* Stops the server if needed, then frees it. Accepts NULL. */
void pal_ctl_server_free(pal_ctl_server *s);

/* Change the idle timeout (ClientIdleTimeoutSeconds) at run time; connections pick it up
   when they next wake, at the latest after the old timeout. PAL_EINVAL unless > 0. */
int pal_ctl_server_set_idle_timeout(pal_ctl_server *s, int idle_timeout_ms);

/* Connections currently open (for status and tests). */
unsigned pal_ctl_server_connections(pal_ctl_server *s);

/* ---- inside a handler ------------------------------------------------------------------- */

json_int_t pal_ctl_request_id(const pal_ctl_request *req);
const char *pal_ctl_request_op(const pal_ctl_request *req);
/* Never NULL: an empty object when the request had no args. Valid during the handler. */
const json_t *pal_ctl_request_args(const pal_ctl_request *req);
uid_t pal_ctl_request_uid(const pal_ctl_request *req); /* SO_PEERCRED of the connection */
gid_t pal_ctl_request_gid(const pal_ctl_request *req);
pid_t pal_ctl_request_pid(const pal_ctl_request *req);
bool pal_ctl_request_admin(const pal_ctl_request *req); /* as checked for this request */

/* True once cancel, client disconnect or server stop asked this request to stop. */
bool pal_ctl_cancelled(const pal_ctl_request *req);
/* The same flag, non-zero when set, for code that polls a `const volatile int *` (the
   engine, the slots). Valid during the handler. */
const volatile int *pal_ctl_cancel_flag(const pal_ctl_request *req);
/* Sleep up to timeout_ms, waking early on cancel. Returns pal_ctl_cancelled(). */
bool pal_ctl_wait_cancel(pal_ctl_request *req, int timeout_ms);

/*
 * Send event {"id", "event": name, "data"} to the client. data is stolen (NULL: {}).
 * Returns 0, PAL_EIO (the connection is gone: the request is being cancelled), PAL_ELIMIT
 * (over 16 MiB), PAL_ENOMEM. Rate limiting (PROTOCOL.md: ~5 progress events a second) is
 * the handler's business.
 */
int pal_ctl_event(pal_ctl_request *req, const char *name, json_t *data);

/*
 * Record the error the request ends with and return NULL, so a handler can write
 * `return pal_ctl_fail(req, PAL_CODE_NOT_FOUND, "no scan %lld", id);`.
 * code is one of the PAL_CODE_* of msg.h.
 */
json_t *pal_ctl_fail(pal_ctl_request *req, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
