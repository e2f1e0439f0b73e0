/* access.c — admin-group membership from the user and group databases (see access.h). */
#define _GNU_SOURCE /* getgrouplist */
#include "access.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>

#define NSS_BUF_MAX (1u << 20) /* largest passwd/group record buffer we grow to */
#define MAX_GROUPS 65536       /* supplementary groups looked at per user */

/* A buffer for the NSS _r calls that doubles on ERANGE, up to NSS_BUF_MAX (then NULL). */
static char *nss_buf_grow(char *buf, size_t *size)
{
    size_t n = *size ? *size * 2 : 4096;
    if (n > NSS_BUF_MAX) {
        free(buf);
        return NULL;
    }
    char *nb = realloc(buf, n);
    if (!nb) {
        free(buf);
        return NULL;
    }
    *size = n;
    return nb;
}

bool pal_access_group_gid(const char *name, gid_t *gid)
{
    struct group gr, *res = NULL;
    char *buf = NULL;
    size_t size = 0;
    int rc;
    do {
        buf = nss_buf_grow(buf, &size);
        if (!buf)
            return false;
        rc = getgrnam_r(name, &gr, buf, size, &res);
    } while (rc == ERANGE);
    bool found = rc == 0 && res;
    if (found)
        *gid = gr.gr_gid;
    free(buf);
    return found;
}

bool pal_access_uid_in_group(uid_t uid, const char *group)
{
    gid_t want;
    if (!pal_access_group_gid(group, &want))
        return false;

    struct passwd pw, *res = NULL;
    char *buf = NULL;
    size_t size = 0;
    int rc;
    do {
        buf = nss_buf_grow(buf, &size);
        if (!buf)
            return false;
        rc = getpwuid_r(uid, &pw, buf, size, &res);
    } while (rc == ERANGE);
    bool member = false;
    if (rc != 0 || !res)
        goto out;
    if (pw.pw_gid == want) {
        member = true;
        goto out;
    }
    int n = 64;
    gid_t *groups = NULL;
    for (;;) {
        gid_t *ng = realloc(groups, (size_t)n * sizeof(*groups));
        if (!ng)
            break;
        groups = ng;
        int got = n;
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &got) >= 0) {
            for (int i = 0; i < got && !member; i++)
                member = groups[i] == want;
            break;
        }
        if (got <= n || got > MAX_GROUPS)
            break; /* nothing sensible to retry with */
        n = got;
    }
    free(groups);
out:
    free(buf);
    return member;
}
