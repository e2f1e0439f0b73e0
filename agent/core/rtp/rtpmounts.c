/* rtpmounts.c — the file systems real-time protection marks (see rtpmounts.h). */
#define _GNU_SOURCE
#include "rtpmounts.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* Never marked whatever the setting says: the broker reads these itself (the reader thread
   reads /proc for every event). */
static const char *const always_unmonitored[] = {"proc", "sysfs", NULL};

void pal_rtp_marked_free(pal_rtp_marked *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->mount_points[i]);
    free(m->mount_points);
    free(m->devs);
    memset(m, 0, sizeof(*m));
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. In place. */
static void unescape(char *s)
{
    char *o = s;
    for (char *i = s; *i; i++) {
        if (i[0] == '\\' && i[1] >= '0' && i[1] <= '7' && i[2] >= '0' && i[2] <= '7' &&
            i[3] >= '0' && i[3] <= '7') {
            *o++ = (char)((i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0'));
            i += 3;
        } else {
            *o++ = *i;
        }
    }
    *o = '\0';
}

static int unmonitored(const char *type, char *const *list, size_t n)
{
    for (const char *const *a = always_unmonitored; *a; a++)
        if (strcmp(type, *a) == 0)
            return 1;
    for (size_t i = 0; i < n; i++)
        if (fnmatch(list[i], type, 0) == 0)
            return 1;
    return 0;
}

static int listed(const char *mp, char *const *paths, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(paths[i], mp) == 0)
            return 1;
    return 0;
}

static int add(pal_rtp_marked *m, const char *mp, uint64_t dev)
{
    char *copy = strdup(mp);
    char **mps = realloc(m->mount_points, (m->n + 1) * sizeof(*mps));
    if (mps)
        m->mount_points = mps;
    uint64_t *devs = realloc(m->devs, (m->n + 1) * sizeof(*devs));
    if (devs)
        m->devs = devs;
    if (!copy || !mps || !devs) {
        free(copy);
        return -1;
    }
    m->mount_points[m->n] = copy;
    m->devs[m->n++] = dev;
    return 0;
}

void pal_rtp_marked_prune(pal_rtp_marked *m)
{
    struct stat st;
    for (size_t i = 0; i < m->n;) {
        if (stat(m->mount_points[i], &st) == 0 && (uint64_t)st.st_dev == m->devs[i]) {
            i++;
            continue;
        }
        free(m->mount_points[i]);
        m->mount_points[i] = m->mount_points[m->n - 1];
        m->devs[i] = m->devs[m->n - 1];
        m->n--;
    }
}

size_t pal_rtp_mark_mounts(int fan_fd, uint64_t mask, const char *mountinfo, char *const *paths,
                           size_t n_paths, char *const *unmon, size_t n_unmon, pal_rtp_marked *m,
                           char *why, size_t why_size)
{
    size_t failed = 0;
    FILE *f = fopen(mountinfo ? mountinfo : "/proc/self/mountinfo", "re");
    if (!f) {
        snprintf(why, why_size, "cannot read /proc/self/mountinfo: %s", strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* id parent major:minor root mount-point options [optional...] - type source super */
        unsigned maj = 0, min = 0;
        char *save = NULL, *tok = strtok_r(line, " \n", &save);
        int field = 0;
        char *mp = NULL, *type = NULL;
        int after_dash = 0;
        for (; tok; tok = strtok_r(NULL, " \n", &save), field++) {
            if (field == 2 && sscanf(tok, "%u:%u", &maj, &min) != 2)
                break;
            if (field == 4)
                mp = tok;
            if (field > 5 && !after_dash && strcmp(tok, "-") == 0) {
                after_dash = 1;
                continue;
            }
            if (after_dash) {
                type = tok;
                break;
            }
        }
        if (!mp || !type)
            continue;
        unescape(mp);
        uint64_t dev = makedev(maj, min);
        int have = 0;
        for (size_t i = 0; i < m->n && !have; i++)
            have = m->devs[i] == dev;
        if (have || unmonitored(type, unmon, n_unmon) || !listed(mp, paths, n_paths))
            continue;
        /* the mount point may be hidden under a later mount: mark only what it shows */
        struct stat st;
        if (stat(mp, &st) != 0 || st.st_dev != dev)
            continue;
        if (fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, mp) != 0) {
            if (failed++ == 0)
                snprintf(why, why_size, "cannot mark %s (%s): %s", mp, type, strerror(errno));
            continue;
        }
        if (add(m, mp, dev) != 0 && failed++ == 0)
            snprintf(why, why_size, "out of memory");
    }
    free(line);
    fclose(f);
    return failed;
}
