/*
 * control_internal.h — what the files of pal_control share and nobody else may use: the
 * server, connection and request objects with their locks, and the helpers one file
 * calls in the other. control.c owns the server (its lifecycle, the listening socket, the
 * accept thread, the dispatch table, the log); control_conn.c owns one connection (its
 * frames, hello, the requests in flight, the replies, the idle timeout). Include it after
 * defining _GNU_SOURCE (struct ucred).
 */
#ifndef PAL_CONTROL_INTERNAL_H
#define PAL_CONTROL_INTERNAL_H

#ifndef PAL_CONTROL_BUILD
#error "control_internal.h is private to pal_control; include control.h"
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "control.h"
#include "peerlimit.h"

#define GROUP_NAME_MAX 256
#define ERR_CODE_MAX 32
#define ERR_MSG_MAX 1024

typedef struct op_entry {
    char *name;            /* owned copy */
    unsigned flags;        /* PAL_CTL_* plus OPF_BUILTIN_CANCEL */
    pal_ctl_handler_fn fn; /* NULL for the built-in cancel */
    void *arg;
} op_entry;

#define OPF_BUILTIN_CANCEL 0x100u

typedef struct conn conn;

struct pal_ctl_request {
    conn *c;
    json_int_t id;
    const op_entry *op;
    json_t *args;        /* owned; an empty object when the request had none */
    bool admin;          /* the admin check's answer when this request came in */
    volatile int cancel; /* written with __atomic, read by handlers (pal_ctl_cancel_flag) */
    pthread_cond_t cond; /* signalled when cancel is set; waited on with c->mu */
    bool failed;         /* pal_ctl_fail was called (owner thread only) */
    char code[ERR_CODE_MAX];
    char message[ERR_MSG_MAX];
    bool threaded; /* runs on `thread` (streaming) */
    pthread_t thread;
    bool finished;         /* (c->mu) the response is decided; the id may be reused */
    pal_ctl_request *next; /* (c->mu) */
};

struct conn {
    pal_ctl_server *srv;
    int fd;                  /* closed only after every worker is joined */
    pthread_t thread;        /* the reader */
    struct ucred cred;       /* SO_PEERCRED, read once, by the accept thread */
    bool helloed;            /* (reader thread) */
    _Atomic int64_t last_ms; /* pal_mono_ms of the last frame in or response out (idle) */
    pthread_mutex_t mu;      /* protects reqs, n_active, finished flags */
    pal_ctl_request *reqs;   /* (mu) requests in flight plus finished, unjoined workers */
    unsigned n_active;       /* (mu) streaming requests not finished */
    pthread_mutex_t wmu;     /* serialises frames on fd; protects dead */
    bool dead;               /* (wmu) nothing more may be sent: a write failed, or ProtocolError */
    bool done;               /* (srv->mu) the reader has finished; join and free */
    conn *next;              /* (srv->mu) */
};

struct pal_ctl_server {
    char *socket_path;
    char *agent_version;
    mode_t socket_mode;
    bool read_only; /* status socket: no connection is ever admin */
    unsigned max_connections;
    unsigned max_streaming;
    unsigned max_per_uid, max_per_root;
    int hello_ms, stall_ms, write_ms;
    atomic_int idle_ms;      /* pal_ctl_server_set_idle_timeout may change it at any time */
    pal_peer_log *log_limit; /* lines a peer can cause, per uid */
    pal_ctl_log_fn log;
    void *log_arg;

    op_entry *ops; /* dispatch table; read-only once started */
    size_t n_ops;

    pthread_mutex_t mu;      /* protects everything below that says (mu) */
    char *admin_group;       /* (mu) */
    conn *conns;             /* (mu) */
    unsigned n_conns;        /* (mu) connections whose reader is still running */
    pal_peer_count *per_uid; /* (mu) those connections by peer uid */
    bool started;            /* (mu) */
    bool stopping;           /* (mu) */
    bool stopped;            /* (mu) */
    pthread_mutex_t stop_mu; /* makes concurrent _stop calls wait for the first */

    int listen_fd;
    dev_t sock_dev; /* identity of the socket file we created, to remove only it */
    ino_t sock_ino;
    int wake[2]; /* becomes readable, for good, when stop begins */
    int reap[2]; /* a reader that finished writes a byte: accept thread joins it */
    pthread_t accept_thread;
};

/*
 * The helpers below keep in the sources the short names they had when both files were one;
 * their link names carry the pal_ctl_ prefix, so that nothing else linked into palisaded can
 * collide with them.
 */
#define spawn pal_ctl_spawn
#define peer_log pal_ctl_peer_log
#define find_op pal_ctl_find_op
#define conn_main pal_ctl_conn_main
#define conn_free pal_ctl_conn_free
#define cancel_all pal_ctl_cancel_all

/* ---- control.c ---------------------------------------------------------------------------- */

/* Start a thread with every signal blocked (signals stay with the daemon's own thread). */
int spawn(pthread_t *t, void *(*fn)(void *), void *arg);
/* A line a peer can cause as often as it likes, rate-limited per uid (peerlimit.h). */
void peer_log(pal_ctl_server *s, uid_t uid, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The dispatch table's entry for name, or NULL. */
const op_entry *find_op(const pal_ctl_server *s, const char *name);

/* ---- control_conn.c ----------------------------------------------------------------------- */

/* The reader thread of connection arg (a conn *): frames in, dispatch, replies, idle close;
   when it ends it marks the connection done and wakes the accept thread to reap it. */
void *conn_main(void *arg);
/* Free a connection whose reader has been joined (or never started); accepts NULL. */
void conn_free(conn *c);
/* Cancel every request of c still in flight. */
void cancel_all(conn *c);

#endif
