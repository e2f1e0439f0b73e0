/* scanpaths.c — Quick and Full scan roots (see scanpaths.h). */
#define _GNU_SOURCE
#include "scanpaths.h"

#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pal_error.h"

static const char *const quick_system[] = {
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/run/user",
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/etc/crontab",
    "/var/spool/cron",
    "/etc/systemd/system",
    "/etc/systemd/user",
    "/run/systemd/system",
    "/etc/init.d",
    "/etc/rc.local",
    "/etc/profile.d",
    "/etc/xdg/autostart",
    "/etc/ld.so.preload",
    "/usr/local/bin",
    "/usr/local/sbin",
};

static const char *const quick_home[] = {
    "Downloads",
    ".config/autostart",
    ".config/systemd/user",
    ".local/bin",
    ".local/share/applications",
    ".bashrc",
    ".profile",
    ".bash_profile",
    ".ssh/rc",
};

int pal_pathlist_add(pal_pathlist *pl, const char *path)
{
    for (size_t i = 0; i < pl->n; i++)
        if (strcmp(pl->paths[i], path) == 0)
            return 0;
    char **np = realloc(pl->paths, (pl->n + 1) * sizeof(*np));
    if (!np)
        return PAL_ENOMEM;
    pl->paths = np;
    pl->paths[pl->n] = strdup(path);
    if (!pl->paths[pl->n])
        return PAL_ENOMEM;
    pl->n++;
    return 0;
}

void pal_pathlist_free(pal_pathlist *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->paths[i]);
    free(pl->paths);
    pl->paths = NULL;
    pl->n = 0;
}

static int add_if_exists(pal_pathlist *pl, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode))
        return 0;
    return pal_pathlist_add(pl, path);
}

int pal_quick_scan_paths(pal_pathlist *out)
{
    pal_pathlist pl = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(quick_system) / sizeof(*quick_system); i++)
        rc = add_if_exists(&pl, quick_system[i]);

    /* every account with a real home directory, root included */
    setpwent();
    struct passwd *pw;
    while (rc == 0 && (pw = getpwent()) != NULL) {
        if (!pw->pw_dir || pw->pw_dir[0] != '/' || strcmp(pw->pw_dir, "/") == 0 ||
            strcmp(pw->pw_dir, "/nonexistent") == 0)
            continue;
        for (size_t i = 0; rc == 0 && i < sizeof(quick_home) / sizeof(*quick_home); i++) {
            char *p = NULL;
            if (asprintf(&p, "%s/%s", pw->pw_dir, quick_home[i]) < 0) {
                rc = PAL_ENOMEM;
                break;
            }
            rc = add_if_exists(&pl, p);
            free(p);
        }
    }
    endpwent();
    if (rc != 0) {
        pal_pathlist_free(&pl);
        return rc;
    }
    *out = pl;
    return 0;
}

int pal_full_scan_paths(pal_pathlist *roots)
{
    /* "/" is listed rather than walked whole so that /dev can be left out while /dev/shm,
       where malware is dropped, is kept */
    pal_pathlist r = {0};
    int rc = 0;
    DIR *d = opendir("/");
    if (!d)
        return PAL_EIO;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "proc") == 0 ||
            strcmp(n, "sys") == 0 || strcmp(n, "dev") == 0)
            continue;
        char *p = NULL;
        if (asprintf(&p, "/%s", n) < 0) {
            rc = PAL_ENOMEM;
            break;
        }
        rc = pal_pathlist_add(&r, p);
        free(p);
    }
    closedir(d);
    if (rc == 0)
        rc = add_if_exists(&r, "/dev/shm");
    if (rc != 0) {
        pal_pathlist_free(&r);
        return rc;
    }
    *roots = r;
    return 0;
}
