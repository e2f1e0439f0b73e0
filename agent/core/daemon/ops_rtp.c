/* ops_rtp.c — rtp.stats (see ops_rtp.h). */
#include "ops_rtp.h"

#include "msg.h"
#include "rtp.h"

static json_t *op_rtp_stats(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    pal_errbuf err;
    static const char *const allowed[] = {"limit", NULL};
    const json_t *args = pal_ctl_request_args(req);
    json_int_t limit = PAL_RTP_STATS_DEFAULT_LIMIT;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_int(args, "limit", PAL_MSG_OPTIONAL | PAL_MSG_NULLABLE, 1,
                        PAL_RTP_STATS_MAX_LIMIT, &limit, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    json_t *o = pal_rtp_process_stats_json(pal_daemon_rtp(d), (size_t)limit);
    return o ? o : pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
}

int pal_daemon_register_rtp_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err)
{
    static const pal_ctl_op ops[] = {
        {"rtp.stats", PAL_CTL_ADMIN_ONLY, op_rtp_stats},
    };
    return pal_ctl_server_register(srv, ops, sizeof(ops) / sizeof(*ops), d, err);
}
