/*
 * settings_registry.c — the settings registry: the one table of every setting (name, type,
 * allowed values or range, default, description, what applying it takes), the checks of one
 * item of a STRING or STRLIST setting (paths, extensions, group names), and the validation
 * of a value against its entry (settings.h). Nothing here holds a value: the layers are
 * settings.c's.
 */
#include "settings.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "trustfile.h"

#include "events.h"
#include "settings_internal.h"

#define MAX_STRING 4096

/* ---- item checks ----------------------------------------------------------------------- */

/* Absolute, no "." or ".." component, no control characters; repeated and trailing slashes
   are removed so that the walker can compare it with the paths it builds. '*' and '?' are
   kept (wildcards, as in Defender). */
static int check_path(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                      pal_errbuf *err)
{
    shown sh;
    size_t len = strlen(in);
    if (in[0] != '/')
        return pal_err_set(err, PAL_EINVAL, "%s: \"%s\" is not an absolute path", def->name,
                           printable(in, &sh));
    if (len >= outsz)
        return pal_err_set(err, PAL_EINVAL, "%s: path is longer than %zu bytes", def->name,
                           outsz - 1);
    if (has_control(in))
        return pal_err_set(err, PAL_EINVAL, "%s: \"%s\" contains a control character", def->name,
                           printable(in, &sh));
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '/' && o > 0 && out[o - 1] == '/')
            continue;
        out[o++] = in[i];
    }
    while (o > 1 && out[o - 1] == '/')
        o--;
    out[o] = '\0';
    for (const char *c = out; *c;) {
        const char *e = strchr(c + 1, '/');
        size_t clen = e ? (size_t)(e - c - 1) : strlen(c + 1);
        if ((clen == 1 && c[1] == '.') || (clen == 2 && c[1] == '.' && c[2] == '.'))
            return pal_err_set(err, PAL_EINVAL,
                               "%s: \"%s\" has a \".\" or \"..\" component; give the path "
                               "without them",
                               def->name, printable(in, &sh));
        if (!e)
            break;
        c = e;
    }
    return 0;
}

/* "txt" or ".txt" (stored without the dot); a double extension like "tar.gz" is fine. */
static int check_extension(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                           pal_errbuf *err)
{
    shown sh;
    const char *p = in[0] == '.' ? in + 1 : in;
    size_t len = strlen(p);
    if (len == 0 || len > 64 || len >= outsz)
        return pal_err_set(err, PAL_EINVAL,
                           "%s: \"%s\" is not a file extension (1 to 64 "
                           "characters, with or without the leading dot)",
                           def->name, printable(in, &sh));
    for (const char *c = p; *c; c++)
        if (*c == '/' || isspace((unsigned char)*c) || (unsigned char)*c < 0x20 || *c == 0x7f)
            return pal_err_set(err, PAL_EINVAL,
                               "%s: \"%s\" is not a file extension (no '/', spaces or "
                               "control characters)",
                               def->name, printable(in, &sh));
    memcpy(out, p, len + 1);
    return 0;
}

/* A POSIX-portable group name: [A-Za-z_][A-Za-z0-9_.-]*, at most 32 characters. */
static int check_group(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                       pal_errbuf *err)
{
    shown sh;
    size_t len = strlen(in);
    int ok = len > 0 && len <= 32 && len < outsz && (isalpha((unsigned char)in[0]) || in[0] == '_');
    for (size_t i = 1; ok && i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        ok = isalnum(c) || c == '_' || c == '.' || c == '-';
    }
    if (!ok)
        return pal_err_set(err, PAL_EINVAL,
                           "%s: \"%s\" is not a valid group name (a letter or _, then "
                           "letters, digits, _ . -; at most 32 characters)",
                           def->name, printable(in, &sh));
    memcpy(out, in, len + 1);
    return 0;
}

/* A mount point to monitor: a path like check_path's (a separate function, so that the list
   is kept with the preferences and not with the exclusions: pal_settings_excl_kind). */
static int check_mount_point(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                             pal_errbuf *err)
{
    return check_path(def, in, out, outsz, err);
}

/* A file-system type as /proc/self/mountinfo names it ("nfs4", "fuse.sshfs", "fuse.*"). */
static int check_fs_type(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                         pal_errbuf *err)
{
    shown sh;
    size_t len = strlen(in);
    if (len == 0 || len > 64 || len >= outsz)
        return pal_err_set(err, PAL_EINVAL, "%s: \"%s\" is not a file-system type", def->name,
                           printable(in, &sh));
    for (const char *c = in; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-*", *c))
            return pal_err_set(err, PAL_EINVAL,
                               "%s: \"%s\" is not a file-system type (letters, digits, "
                               "'.', '_', '-', and '*' as a wildcard)",
                               def->name, printable(in, &sh));
    memcpy(out, in, len + 1);
    return 0;
}

/* "/usr/bin/rsync" or "/usr/bin/rsync:<sha256 hex>": a process exclusion of real-time
   protection, optionally pinned to the binary's content. */
static int check_process(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                         pal_errbuf *err)
{
    shown sh;
    const char *colon = strrchr(in, ':');
    char path[MAX_STRING];
    size_t plen = colon ? (size_t)(colon - in) : strlen(in);
    if (plen >= sizeof(path))
        return pal_err_set(err, PAL_EINVAL, "%s: path is too long", def->name);
    memcpy(path, in, plen);
    path[plen] = '\0';
    int rc = check_path(def, path, out, outsz, err);
    if (rc != 0)
        return rc;
    if (!colon)
        return 0;
    const char *hex = colon + 1;
    if (strlen(hex) != 64)
        return pal_err_set(err, PAL_EINVAL,
                           "%s: \"%s\": after the ':' comes the binary's SHA-256 (64 hex "
                           "digits)",
                           def->name, printable(in, &sh));
    size_t o = strlen(out);
    if (o + 65 >= outsz)
        return pal_err_set(err, PAL_EINVAL, "%s: path is too long", def->name);
    out[o++] = ':';
    for (const char *c = hex; *c; c++) {
        if (!isxdigit((unsigned char)*c))
            return pal_err_set(err, PAL_EINVAL,
                               "%s: \"%s\": after the ':' comes the binary's SHA-256 (64 hex "
                               "digits)",
                               def->name, printable(in, &sh));
        out[o++] = (char)tolower((unsigned char)*c);
    }
    out[o] = '\0';
    return 0;
}

/* A time of day for a scan schedule: "H:MM" or "HH:MM", 00:00 to 23:59, stored as "HH:MM". */
static int check_time_of_day(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                             pal_errbuf *err)
{
    shown sh;
    int h = -1, m = -1;
    size_t len = strlen(in);
    int ok = (len == 4 || len == 5) && outsz >= 6;
    if (ok) {
        const char *colon = strchr(in, ':');
        ok = colon && (colon - in == 1 || colon - in == 2) && strlen(colon) == 3;
        for (const char *c = in; ok && *c; c++)
            ok = c == colon || isdigit((unsigned char)*c);
        if (ok) {
            h = atoi(in);
            m = atoi(colon + 1);
            ok = h >= 0 && h <= 23 && m >= 0 && m <= 59;
        }
    }
    if (!ok)
        return pal_err_set(err, PAL_EINVAL,
                           "%s: \"%s\" is not a time of day; give HH:MM in the 24-hour clock, "
                           "from 00:00 to 23:59 (e.g. 02:30)",
                           def->name, printable(in, &sh));
    snprintf(out, outsz, "%02d:%02d", h, m);
    return 0;
}

/* MetricsTextfilePath: "" (off), or an absolute path ending in ".prom" (node_exporter's
   textfile collector reads only those) in a directory the root daemon may write in
   (trustfile.h: root's, writable by nobody else, reached without symbolic links), so that
   no user can steer where it writes. The directory is checked again at every write. */
static int check_metrics_path(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                              pal_errbuf *err)
{
    shown sh;
    int ret = check_path(def, in, out, outsz, err);
    if (ret)
        return ret;
    const char *base = strrchr(out, '/') + 1;
    size_t blen = strlen(base);
    if (blen <= 5 || strcmp(base + blen - 5, ".prom") != 0 || base[0] == '.')
        return pal_err_set(err, PAL_EINVAL,
                           "%s: \"%s\" must name a file ending in .prom (node_exporter's textfile "
                           "collector reads only those), not starting with a dot",
                           def->name, printable(in, &sh));
    char dir[MAX_STRING];
    size_t dlen = (size_t)(base - out) - 1;
    memcpy(dir, out, dlen ? dlen : 1);
    dir[dlen ? dlen : 1] = '\0';
    int fd = -1;
    pal_errbuf why;
    if (pal_trustfile_open_dir_path(dir, &fd, &why) != 0)
        return pal_err_set(err, PAL_EINVAL, "%s: %s is refused: %s", def->name, printable(in, &sh),
                           why.msg);
    close(fd);
    return 0;
}

/* ---- the registry ---------------------------------------------------------------------- */

static const char *const sandbox_values[] = {"Enabled", "Disabled", NULL};
const char *const pal_settings_action_values[] = {"Quarantine", "Remove", "NoAction", NULL};
static const char *const merge_values[] = {"Merge", "AdminOnly", NULL};
static const char *const facility_values[] = {"daemon", "user",   "auth",   "authpriv", "local0",
                                              "local1", "local2", "local3", "local4",   "local5",
                                              "local6", "local7", NULL};

/* EventSyslogTarget: events.h's syntax ("auto" stands for the automatic choice). */
static int check_syslog_target(const pal_setting_def *def, const char *in, char *out, size_t outsz,
                               pal_errbuf *err)
{
    (void)def;
    pal_syslog_target t;
    int rc = pal_syslog_target_parse(strcmp(in, "auto") == 0 ? "" : in, &t, err);
    if (rc != 0)
        return rc;
    if (strlen(in) >= outsz)
        return pal_err_set(err, PAL_EINVAL, "EventSyslogTarget is too long");
    memcpy(out, in, strlen(in) + 1);
    return 0;
}
static const char *const rtp_action_values[] = {"Allow", "Deny", NULL};
/* Not monitored by default: network file systems (a round trip to a server on every open, and
   a server that stops answering would stall the opener and the scanner), FUSE (a user-space
   server that could itself open files and wait on us) and the pseudo file systems (no file
   content; /proc and /sys are read by the broker itself). ramfs stays monitored: a user can
   write files there. */
static const char *const rtp_unmonitored_default[] = {
    "nfs",     "nfs4",        "cifs",     "smb3",       "smbfs",    "9p",        "afs",
    "ceph",    "glusterfs",   "lustre",   "fuse",       "fuse.*",   "fuseblk",   "fusectl",
    "proc",    "sysfs",       "devtmpfs", "devpts",     "cgroup",   "cgroup2",   "securityfs",
    "debugfs", "tracefs",     "pstore",   "bpf",        "configfs", "mqueue",    "hugetlbfs",
    "autofs",  "binfmt_misc", "efivarfs", "rpc_pipefs", "nsfs",     "selinuxfs", NULL};
/* The scheduler (agent/core/daemon/scheduler.c) reads these names back. */
static const char *const day_values[] = {"Never",    "Everyday", "Monday",   "Tuesday", "Wednesday",
                                         "Thursday", "Friday",   "Saturday", "Sunday",  NULL};

#define ACTION_SETTING(nm, sev)                                                                    \
    {                                                                                              \
        .name = nm, .type = PAL_SETTING_ENUM, .values = pal_settings_action_values,                \
        .def_str = "Quarantine",                                                                   \
        .description = "What is done to a file with a " sev " severity threat: Quarantine "        \
                       "(move it into the quarantine, restorable), Remove (delete it) or "         \
                       "NoAction (only report it). A per-threat override takes precedence."        \
    }

const pal_setting_def pal_settings_table[] = {
    {.name = "SandboxMode",
     .type = PAL_SETTING_ENUM,
     .values = sandbox_values,
     .def_str = "Enabled",
     .description = "Enabled: content is parsed in the unprivileged, sandboxed content "
                    "process. Disabled: the broker runs the engine itself. Takes effect "
                    "without a restart; MP_FORCE_USE_SANDBOX=0|1 in the service's "
                    "environment overrides it.",
     .applies = PAL_APPLY_SANDBOX},
    {.name = "ScanThreads",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 64,
     .def_uint = 0,
     .description = "Objects scanned at the same time (slots); 0 = one per CPU core.",
     .applies = PAL_APPLY_SLOTS},
    {.name = "MaxRecursionDepth",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 32,
     .def_uint = PAL_DEFAULT_MAX_DEPTH,
     .description = "Container nesting levels expanded (an archive inside an archive is "
                    "level 2); deeper content is reported unscannable. 0 = do not open "
                    "containers. The expanded-bytes, ratio and time limits bound the work "
                    "at any depth.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxMembersPerContainer",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 10000000,
     .def_uint = PAL_DEFAULT_MAX_MEMBERS,
     .description = "Members examined in one container before the rest is reported "
                    "unscannable.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxExpandedBytes",
     .type = PAL_SETTING_UINT,
     .min = 1ULL << 20,
     .max = 64ULL << 30,
     .def_uint = PAL_DEFAULT_MAX_EXPANDED_BYTES,
     .description = "Bytes expanded from containers for one scanned file, in total.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxExpansionRatio",
     .type = PAL_SETTING_UINT,
     .min = 10,
     .max = 100000,
     .def_uint = PAL_DEFAULT_MAX_RATIO,
     .description = "Largest expanded-to-compressed size ratio of one member before it is "
                    "treated as a decompression bomb and reported unscannable. Judged only "
                    "once the scanned file has expanded 256 MiB in all (and never on a "
                    "member under 1 MiB): compressible data below that is examined.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxObjectSize",
     .type = PAL_SETTING_UINT,
     .min = 64ULL << 10,
     .max = 2ULL << 30,
     .def_uint = PAL_DEFAULT_MAX_OBJECT_SIZE,
     .description = "Largest object (file or container member), in bytes, read and "
                    "matched; a larger one is reported unscannable.",
     .applies = PAL_APPLY_ENGINE},
    {.name = "MaxScanSecondsPerObject",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 3600,
     .def_uint = PAL_DEFAULT_MAX_SCAN_MS / 1000,
     .description = "Wall-clock seconds spent on one scanned file, members included, "
                    "before it is reported unscannable.",
     .applies = PAL_APPLY_ENGINE},
    ACTION_SETTING("LowThreatDefaultAction", "Low"),
    ACTION_SETTING("ModerateThreatDefaultAction", "Moderate"),
    ACTION_SETTING("HighThreatDefaultAction", "High"),
    ACTION_SETTING("SevereThreatDefaultAction", "Severe"),
    {.name = "ExclusionPath",
     .type = PAL_SETTING_STRLIST,
     .check_item = check_path,
     .description = "Absolute paths not scanned (a directory excludes everything below "
                    "it); '*' and '?' are wildcards within one path component (never "
                    "across '/').",
     .applies = PAL_APPLY_RTP},
    {.name = "ExclusionExtension",
     .type = PAL_SETTING_STRLIST,
     .check_item = check_extension,
     .description = "File name extensions not scanned, e.g. \"log\" or \".iso\".",
     .applies = PAL_APPLY_RTP},
    {.name = "ExclusionsMergePolicy",
     .type = PAL_SETTING_ENUM,
     .values = merge_values,
     .def_str = "Merge",
     .policy_only = 1,
     .description = "How the policy's entries of a list setting (ExclusionPath, "
                    "ExclusionExtension) combine with the local ones: Merge (both apply; local "
                    "entries stay editable) or AdminOnly (only the policy's entries apply; "
                    "local ones are locked). Can be set only by policy."},
    {.name = "ScanCacheEnabled",
     .type = PAL_SETTING_BOOL,
     .def_bool = 1,
     .description = "Skip a file whose device, inode, size, mtime and ctime are unchanged "
                    "since a clean verdict under the same signature version. Only files "
                    "that nobody but root can write, or whose mtime and ctime are older "
                    "than the kernel's writeback window (vm.dirty_expire_centisecs + "
                    "vm.dirty_writeback_centisecs + 10 s) on a local disk file system, "
                    "are cached."},
    {.name = "SignatureOutdatedDays",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 3650,
     .def_uint = 7,
     .description = "Days after its creation a signature package is reported outdated: "
                    "status lists the health issue SignaturesOutdated once the package in "
                    "force is more than this many whole days old."},
    {.name = "QuarantineRetentionDays",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 3650,
     .def_uint = 90,
     .description = "Days a quarantined file is kept before it is deleted; 0 = forever."},
    {.name = "QuarantineMaxItemBytes",
     .type = PAL_SETTING_UINT,
     .min = 64ULL << 10,
     .max = 1ULL << 40,
     .def_uint = 512ULL << 20,
     .description = "Disk space (allocated bytes: a sparse file counts what it really "
                    "takes) one quarantined file may take. A larger threat is not "
                    "quarantined: it stays in place and its action is reported Failed."},
    {.name = "QuarantineMaxTotalBytes",
     .type = PAL_SETTING_UINT,
     .min = 1ULL << 20,
     .max = 1ULL << 50,
     .def_uint = 4ULL << 30,
     .description = "Disk space (allocated bytes) the whole quarantine may take. A threat "
                    "that would pass it is not quarantined: it stays in place and its "
                    "action is reported Failed."},
    {.name = "QuarantineMinFreePercent",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 90,
     .def_uint = 5,
     .description = "Percent of the quarantine's file system kept available: a threat "
                    "whose copy would leave less is not quarantined; it stays in place and "
                    "its action is reported Failed."},
    {.name = "AdminGroup",
     .type = PAL_SETTING_STRING,
     .def_str = "palisade-admin",
     .check_item = check_group,
     .description = "Members of this group may manage the agent over the control socket, "
                    "like root.",
     .applies = PAL_APPLY_ADMIN},
    {.name = "ClientIdleTimeoutSeconds",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 86400,
     .def_uint = 60,
     .description = "Seconds a control-socket connection may stay open after its hello with "
                    "no request in flight and no frame sent, before the agent closes it.",
     .applies = PAL_APPLY_CONTROL},
    {.name = "CoreDumpsEnabled",
     .type = PAL_SETTING_BOOL,
     .def_bool = 0,
     .description = "Allow the content process to write core dumps (they contain scanned "
                    "content; for debugging only)."},
    {.name = "ContentProcessTimeoutSeconds",
     .type = PAL_SETTING_UINT,
     .min = 5,
     .max = 3600,
     .def_uint = 60,
     .description = "Seconds the broker waits for the content process to answer one "
                    "request before it kills and restarts it."},
    {.name = "BufferScanMaxBytesPerMinute",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 1099511627776ULL,
     .def_uint = 64ULL << 20,
     .description = "Bytes of content (not files) one user may submit for buffer scans "
                    "(Invoke-ContentScan, `palisade scan -`) in any minute; beyond it the "
                    "request is refused as Busy."},
    {.name = "BufferScanMaxPerMinute",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 1000000,
     .def_uint = 600,
     .description = "Buffer scans one user may request in any minute; beyond it the request "
                    "is refused as Busy."},
    {.name = "EventSyslogTarget",
     .type = PAL_SETTING_STRING,
     .def_str = "auto",
     .check_item = check_syslog_target,
     .description = "Where security events go as RFC 5424 syslog with structured data: auto "
                    "(nowhere when the systemd journal is there, which gets them natively; "
                    "else unix:/dev/log), off, unix:/path (a datagram socket), "
                    "udp:ADDRESS:PORT or tcp:ADDRESS:PORT (octet-counting framing; numeric "
                    "addresses, IPv6 as [::1]:514).",
     .applies = PAL_APPLY_EVENTS},
    {.name = "EventSyslogFacility",
     .type = PAL_SETTING_ENUM,
     .values = facility_values,
     .def_str = "daemon",
     .description = "The syslog facility of the security events (in the journal too).",
     .applies = PAL_APPLY_EVENTS},
    {.name = "EventClamAvCompatible",
     .type = PAL_SETTING_BOOL,
     .def_bool = 1,
     .description = "After each detection event, also send one line in ClamAV's form "
                    "\"PATH: THREAT FOUND\" with the identifier clamd, so that SIEM rules "
                    "written for ClamAV (Wazuh's clamd decoder, Sigma's ClamAV rule) match.",
     .applies = PAL_APPLY_EVENTS},
    {.name = "RealTimeProtectionEnabled",
     .type = PAL_SETTING_BOOL,
     .def_bool = 1,
     .description = "Check every open and execution of a file on the monitored file systems "
                    "(fanotify), and scan every file written, after it is closed. Needs "
                    "CAP_SYS_ADMIN. Takes effect without a restart.",
     .applies = PAL_APPLY_RTP},
    {.name = "RealTimeMonitoredPaths",
     .type = PAL_SETTING_STRLIST,
     .check_item = check_mount_point,
     .description = "Mount points real-time protection is restricted to (their whole file "
                    "systems are monitored); empty = every mounted file system whose type is "
                    "not in RealTimeUnmonitoredFileSystems.",
     .applies = PAL_APPLY_RTP},
    {.name = "RealTimeUnmonitoredFileSystems",
     .type = PAL_SETTING_STRLIST,
     .check_item = check_fs_type,
     .def_list = rtp_unmonitored_default,
     .description = "File-system types real-time protection never monitors, as "
                    "/proc/self/mountinfo names them; \"fuse.*\" covers every FUSE subtype. "
                    "The default lists network, FUSE and pseudo file systems.",
     .applies = PAL_APPLY_RTP},
    {.name = "RealTimeResponseTimeoutMs",
     .type = PAL_SETTING_UINT,
     .min = 100,
     .max = 30000,
     .def_uint = 4000,
     .description = "Milliseconds within which every open or execution held for a check is "
                    "answered, whatever happens (content process stalled or restarting, a "
                    "huge file, a slow disk); then RealTimeTimeoutAction answers and the "
                    "timeout is counted and logged.",
     .applies = PAL_APPLY_RTP},
    {.name = "RealTimeTimeoutAction",
     .type = PAL_SETTING_ENUM,
     .values = rtp_action_values,
     .def_str = "Allow",
     .description = "The answer to an open or execution that could not be checked in time, "
                    "or at all (overload, no content process): Allow or Deny.",
     .applies = PAL_APPLY_RTP},
    {.name = "RealTimeProcessExclusions",
     .type = PAL_SETTING_STRLIST,
     .check_item = check_process,
     .description = "Processes whose file accesses real-time protection does not check, by "
                    "executable path (\"/usr/bin/rsync\"), optionally pinned to the binary's "
                    "SHA-256 (\"/usr/bin/rsync:<64 hex digits>\") so that a replaced binary is "
                    "not excluded. Identified from the event's pidfd.",
     .applies = PAL_APPLY_RTP},
    {.name = "ScanScheduleQuickScanDay",
     .type = PAL_SETTING_ENUM,
     .values = day_values,
     .def_str = "Never",
     .description = "The day the agent runs a Quick scan on its own: Never, Everyday, or one "
                    "weekday (Monday to Sunday), at ScanScheduleQuickScanTime in the machine's "
                    "local time. Recorded in the history with the trigger Scheduled."},
    {.name = "ScanScheduleQuickScanTime",
     .type = PAL_SETTING_STRING,
     .def_str = "02:00",
     .check_item = check_time_of_day,
     .description = "The time of day (HH:MM, 24-hour clock, local time) of the scheduled "
                    "Quick scan; a random delay of up to ScheduleRandomizationMinutes is "
                    "added."},
    {.name = "ScanScheduleFullScanDay",
     .type = PAL_SETTING_ENUM,
     .values = day_values,
     .def_str = "Never",
     .description = "The day the agent runs a Full scan on its own: Never, Everyday, or one "
                    "weekday (Monday to Sunday), at ScanScheduleFullScanTime in the machine's "
                    "local time."},
    {.name = "ScanScheduleFullScanTime",
     .type = PAL_SETTING_STRING,
     .def_str = "02:00",
     .check_item = check_time_of_day,
     .description = "The time of day (HH:MM, 24-hour clock, local time) of the scheduled "
                    "Full scan; a random delay of up to ScheduleRandomizationMinutes is "
                    "added."},
    {.name = "ScheduleRandomizationMinutes",
     .type = PAL_SETTING_UINT,
     .min = 0,
     .max = 240,
     .def_uint = 30,
     .description = "Each scheduled scan starts at its time plus a random delay of 0 to this "
                    "many minutes, drawn anew for each run, so that a fleet given one policy "
                    "does not scan all at once; 0 = exactly at the time. Status shows the "
                    "planned start."},
    {.name = "ScheduledScanCatchUp",
     .type = PAL_SETTING_BOOL,
     .def_bool = 1,
     .description = "A scheduled scan whose time passed while the agent was not running is "
                    "run once, soon after the agent starts, and recorded with the trigger "
                    "CatchUp (several missed runs give one scan)."},
    {.name = "ScanAvgCPULoadFactor",
     .type = PAL_SETTING_UINT,
     .min = 5,
     .max = 100,
     .def_uint = 50,
     .description = "Percent of one CPU core a background scan (scheduled or detached) may "
                    "use on average: its workers pause between files so that the time spent "
                    "scanning (the broker's CPU time or, when larger, the wall time of the "
                    "content process's work) stays at this share of the scan's elapsed time. "
                    "100 = no pauses. Foreground scans are not held back unless "
                    "ThrottleForBackgroundScansOnly is false."},
    {.name = "ThrottleForBackgroundScansOnly",
     .type = PAL_SETTING_BOOL,
     .def_bool = 1,
     .description = "true: ScanAvgCPULoadFactor applies to scheduled and detached scans only; "
                    "false: to every on-demand scan, a client's foreground scan included."},
    {.name = "MetricsTextfilePath",
     .type = PAL_SETTING_STRING,
     .def_str = "",
     .check_item = check_metrics_path,
     .description = "Where the agent writes its metrics in the Prometheus text format for "
                    "node_exporter's textfile collector, every MetricsIntervalSeconds; \"\" = "
                    "off. An absolute path ending in .prom whose directory root owns and "
                    "nobody else can write, reached without symbolic links (checked when set "
                    "and at every write). The file is replaced atomically."},
    {.name = "MetricsIntervalSeconds",
     .type = PAL_SETTING_UINT,
     .min = 1,
     .max = 3600,
     .def_uint = 60,
     .description = "Seconds between two writes of the metrics textfile (MetricsTextfilePath)."},
};

/* The layers keep one slot per entry (N_SETTINGS, settings_internal.h). */
_Static_assert(sizeof(pal_settings_table) / sizeof(pal_settings_table[0]) == N_SETTINGS,
               "raise N_SETTINGS in settings_internal.h to the number of registry entries");

const pal_setting_def *pal_settings_registry(size_t *n)
{
    if (n)
        *n = N_SETTINGS;
    return pal_settings_table;
}

const pal_setting_def *pal_setting_find(const char *name)
{
    int i = find_index(name);
    return i < 0 ? NULL : &pal_settings_table[i];
}

const char *pal_setting_type_name(pal_setting_type t)
{
    switch (t) {
    case PAL_SETTING_BOOL:
        return "bool";
    case PAL_SETTING_UINT:
        return "uint";
    case PAL_SETTING_ENUM:
        return "enum";
    case PAL_SETTING_STRING:
        return "string";
    case PAL_SETTING_STRLIST:
        return "list";
    }
    return NULL;
}

json_t *pal_setting_default(const pal_setting_def *def)
{
    switch (def->type) {
    case PAL_SETTING_BOOL:
        return json_boolean(def->def_bool);
    case PAL_SETTING_UINT:
        return json_integer((json_int_t)def->def_uint);
    case PAL_SETTING_ENUM:
    case PAL_SETTING_STRING:
        return json_string(def->def_str);
    case PAL_SETTING_STRLIST: {
        json_t *a = json_array();
        for (const char *const *v = def->def_list; a && v && *v; v++)
            json_array_append_new(a, json_string(*v));
        return a;
    }
    }
    return NULL;
}

/* Where a list setting's preference lives: the exclusions table (0 = preferences table). */
pal_excl_kind pal_settings_excl_kind(const pal_setting_def *def)
{
    if (def->check_item == check_path)
        return PAL_EXCL_PATH;
    if (def->check_item == check_extension)
        return PAL_EXCL_EXTENSION;
    return 0;
}

/* A short rendering of a value for messages: "8", "\"Maybe\"", "[...]". */
static void show(const json_t *v, char *buf, size_t sz)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!t) {
        snprintf(buf, sz, "an unprintable value");
        return;
    }
    if (strlen(t) > 60)
        snprintf(buf, sz, "%.57s...", t);
    else
        snprintf(buf, sz, "%s", t);
    free(t);
}

/* One string item: NUL-free, checked and normalised; *out a new json string. */
int pal_settings_check_string(const pal_setting_def *def, const json_t *v, json_t **out,
                              pal_errbuf *err)
{
    shown sh;
    const char *in = json_string_value(v);
    size_t len = json_string_length(v);
    char buf[MAX_STRING];
    if (!in || len != strlen(in))
        return pal_err_set(err, PAL_EINVAL, "%s: a value contains a NUL character", def->name);
    /* "" is a value only of a STRING whose default is "" (off, as MetricsTextfilePath) */
    if (len == 0 && def->type == PAL_SETTING_STRING && def->def_str && !def->def_str[0]) {
        *out = json_string("");
        return *out ? 0 : pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    if (len == 0)
        return pal_err_set(err, PAL_EINVAL, "%s: a value is empty", def->name);
    if (len >= sizeof(buf))
        return pal_err_set(err, PAL_EINVAL, "%s: a value is longer than %zu bytes", def->name,
                           sizeof(buf) - 1);
    if (def->check_item) {
        int ret = def->check_item(def, in, buf, sizeof(buf), err);
        if (ret)
            return ret;
    } else {
        if (has_control(in))
            return pal_err_set(err, PAL_EINVAL, "%s: \"%s\" contains a control character",
                               def->name, printable(in, &sh));
        memcpy(buf, in, len + 1);
    }
    *out = json_string(buf);
    return *out ? 0 : pal_err_set(err, PAL_EINVAL, "%s: a value is not valid UTF-8", def->name);
}

int pal_setting_validate(const pal_setting_def *def, const json_t *value, json_t **out,
                         pal_errbuf *err)
{
    char got[64];
    if (!def || !value || !out)
        return pal_err_set(err, PAL_EINVAL, "pal_setting_validate: bad arguments");
    show(value, got, sizeof(got));

    switch (def->type) {
    case PAL_SETTING_BOOL:
        if (!json_is_boolean(value))
            return pal_err_set(err, PAL_EINVAL, "%s must be true or false (got %s)", def->name,
                               got);
        *out = json_boolean(json_is_true(value));
        return 0;

    case PAL_SETTING_UINT: {
        json_int_t i = json_is_integer(value) ? json_integer_value(value) : -1;
        if (!json_is_integer(value) || i < 0 || (uint64_t)i < def->min || (uint64_t)i > def->max)
            return pal_err_set(err, PAL_EINVAL, "%s must be an integer from %llu to %llu (got %s)",
                               def->name, (unsigned long long)def->min,
                               (unsigned long long)def->max, got);
        *out = json_integer(i);
        return 0;
    }

    case PAL_SETTING_ENUM: {
        const char *sv = json_string_value(value);
        for (size_t k = 0; sv && def->values[k]; k++) {
            if (strcasecmp(def->values[k], sv) == 0 && strlen(sv) == json_string_length(value)) {
                *out = json_string(def->values[k]);
                return 0;
            }
        }
        char allowed[256] = "";
        size_t o = 0;
        for (size_t k = 0; def->values[k]; k++) {
            int w =
                snprintf(allowed + o, sizeof(allowed) - o, "%s%s", k ? ", " : "", def->values[k]);
            if (w < 0 || (size_t)w >= sizeof(allowed) - o)
                break;
            o += (size_t)w;
        }
        return pal_err_set(err, PAL_EINVAL, "%s must be one of %s (got %s)", def->name, allowed,
                           got);
    }

    case PAL_SETTING_STRING:
        if (!json_is_string(value))
            return pal_err_set(err, PAL_EINVAL, "%s must be a string (got %s)", def->name, got);
        return pal_settings_check_string(def, value, out, err);

    case PAL_SETTING_STRLIST: {
        if (!json_is_array(value))
            return pal_err_set(err, PAL_EINVAL, "%s must be a list of strings (got %s)", def->name,
                               got);
        if (json_array_size(value) > PAL_SETTINGS_MAX_LIST)
            return pal_err_set(err, PAL_EINVAL, "%s has %zu items; at most %d are allowed",
                               def->name, json_array_size(value), PAL_SETTINGS_MAX_LIST);
        json_t *arr = json_array();
        if (!arr)
            return pal_err_set(err, PAL_ENOMEM, "out of memory");
        size_t k;
        json_t *item;
        json_array_foreach(value, k, item)
        {
            json_t *norm = NULL;
            int ret;
            if (!json_is_string(item)) {
                show(item, got, sizeof(got));
                ret = pal_err_set(err, PAL_EINVAL, "%s must be a list of strings (item %zu is %s)",
                                  def->name, k, got);
            } else {
                ret = pal_settings_check_string(def, item, &norm, err);
            }
            if (ret) {
                json_decref(arr);
                return ret;
            }
            /* duplicates (after normalisation) collapse into the first */
            int dup = 0;
            for (size_t j = 0; j < json_array_size(arr) && !dup; j++)
                dup = json_equal(json_array_get(arr, j), norm);
            if (dup)
                json_decref(norm);
            else if (json_array_append_new(arr, norm) != 0) {
                json_decref(arr);
                return pal_err_set(err, PAL_ENOMEM, "out of memory");
            }
        }
        *out = arr;
        return 0;
    }
    }
    return pal_err_set(err, PAL_EINVAL, "%s has an unknown type", def->name);
}
