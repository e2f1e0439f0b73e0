/*
 * access.h — who may manage palisaded: the admin-group membership check behind
 * PAL_CTL_ADMIN_ONLY (control.c), asked afresh for every request.
 *
 * What grants rights (PROTOCOL.md "Access"): uid 0, or the admin group as the primary group
 * (pw_gid) or a supplementary group of the peer uid's entry in the user and group
 * databases (NSS: getpwuid_r, getgrnam_r, getgrouplist) at the moment of the request.
 * Deliberately not the peer process's own groups (SO_PEERCRED's gid, SO_PEERGROUPS): those
 * are a snapshot taken when the process started and outlive an administrator's
 * `gpasswd -d`, and a process may hold a group (sg, a setgid helper) the database does not
 * give its user. The database is the administrator's word, so removing a user from the
 * group takes effect at that user's next request, on connections already open too.
 *
 * Cost, measured on Debian 12 (nsswitch "files systemd", 20,000 checks): 49 µs for a
 * primary-group member, 101 µs for a non-member (getgrouplist reads /etc/group), 863 µs
 * when the group is in no file and nss-systemd is asked over varlink. Paid only on the
 * control socket (the status socket is never admin; uid 0 is decided without a lookup),
 * whose 0660 mode admits only the admin group, by that connection's own thread: cheap
 * beside a request's JSON and store work. So no cache: one would only delay a removal by
 * its TTL. nscd/sssd cache the network backends themselves.
 *
 * Thread-safe (the NSS _r calls); no logging; nothing allocated is kept.
 */
#ifndef PAL_ACCESS_H
#define PAL_ACCESS_H

#include <stdbool.h>
#include <sys/types.h>

/* The gid of group name. false when there is no such group (or NSS failed). */
bool pal_access_group_gid(const char *name, gid_t *gid);

/*
 * Is group the primary or a supplementary group of uid's passwd entry, now? false also
 * when uid or group is unknown, or a lookup fails (a failure never grants rights).
 * uid 0 is not special here: the caller decides about root.
 */
bool pal_access_uid_in_group(uid_t uid, const char *group);

#endif
