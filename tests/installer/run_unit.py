#!/usr/bin/env python3
"""run_unit.py — start a service the way systemd would, on a machine without systemd as PID 1.

    run_unit.py UNIT_FILE --log FILE --pidfile FILE [--notify-dir DIR]

Reads the [Service] section of UNIT_FILE, sets the process up as systemd 252 does for the
settings palisaded.service uses, runs ExecStart= and returns once the service is ready. The
process runs on after this program exits; its PID is written to --pidfile.

Reproduced with the kernel mechanisms systemd itself uses:
  Environment=, EnvironmentFile=[-]   a clean environment (PATH, LANG, INVOCATION_ID,
                                      STATE_DIRECTORY, RUNTIME_DIRECTORY) plus these
  ExecStart=                          split into words; $VAR becomes the words of VAR's value,
                                      ${VAR} one word (systemd.service(5))
  StateDirectory=, RuntimeDirectory=  created under /var/lib and /run with their *Mode=
  UMask=, standard I/O                umask; stdin /dev/null, stdout+stderr to --log (the
                                      journal's stand-in); working directory /
  CapabilityBoundingSet=              every other capability dropped from the bounding set
  NoNewPrivileges=                    PR_SET_NO_NEW_PRIVS
  PrivateNetwork=, PrivateIPC=,       new network, IPC, UTS and mount namespaces
  ProtectHostname=, PrivateMounts=
  ProtectSystem=strict, ReadWritePaths=  in the new mount namespace, every mount read-only
                                      except /dev, /proc, /sys, the ReadWritePaths= (a "-"
                                      prefix: ignored when missing) and the state and
                                      runtime directories
  ProtectKernelTunables=, ProtectControlGroups=  /proc/sys and /sys read-only
  ProcSubset=pid                      a procfs instance with only the process directories
  seccomp: SystemCallFilter= (+ SystemCallErrorNumber=, SystemCallArchitectures=native),
           RestrictNamespaces= (clone3 fails with ENOSYS, as under systemd),
           RestrictAddressFamilies=, MemoryDenyWriteExecute=, RestrictSUIDSGID=,
           RestrictRealtime=, LockPersonality=, and the system-call halves of
           ProtectHostname=, ProtectClock=, ProtectKernelModules=, ProtectKernelLogs=,
           ProtectKernelTunables=, PrivateDevices=
  Type=notify, NotifyAccess=main      NOTIFY_SOCKET is a datagram socket of ours; only a
                                      READY=1 sent by the main process (SCM_CREDENTIALS)
                                      counts
  TimeoutStartSec=                    (default 90 s) no READY=1 by then: the process is
                                      killed and the start failed, as under systemd
Not reproduced (they only take away what palisaded never uses): the device-node half of
PrivateDevices= and ProtectClock= (a private /dev), IPAddressDeny= (BPF), KeyringMode=,
RemoveIPC=, and the ExecReload=/Restart=/TimeoutStopSec= behaviour after the start. Any
other setting makes this program refuse (exit 2) rather than run the service differently.

Exit status: 0 ready; 1 the start failed (the reason on stderr); 2 usage or a setting this
program does not reproduce.
"""
import argparse
import ctypes
import ctypes.util
import os
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid

HANDLED = {
    "Type", "NotifyAccess", "Environment", "EnvironmentFile", "ExecStart", "StateDirectory",
    "StateDirectoryMode", "RuntimeDirectory", "RuntimeDirectoryMode", "UMask",
    "CapabilityBoundingSet", "NoNewPrivileges", "TimeoutStartSec", "PrivateNetwork",
    "PrivateIPC", "ProtectHostname", "PrivateMounts", "ProtectSystem", "ReadWritePaths",
    "ProtectKernelTunables", "ProtectControlGroups", "SystemCallFilter",
    "SystemCallErrorNumber", "SystemCallArchitectures", "RestrictNamespaces",
    "RestrictAddressFamilies", "MemoryDenyWriteExecute", "RestrictSUIDSGID",
    "RestrictRealtime", "LockPersonality", "ProtectClock", "ProtectKernelModules",
    "ProtectKernelLogs", "PrivateDevices", "ProcSubset",
}
NOT_REPRODUCED = {
    "ExecReload", "Restart", "RestartSec", "TimeoutStopSec", "SyslogIdentifier",
    "IPAddressDeny", "KeyringMode", "RemoveIPC",
}

CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
NAMESPACES = {"cgroup": 0x02000000, "ipc": 0x08000000, "net": 0x40000000, "mnt": 0x00020000,
              "pid": 0x20000000, "user": 0x10000000, "uts": 0x04000000}
ERRNOS = {"EPERM": 1, "EACCES": 13, "ENOSYS": 38}
AF_UNIX = 1

PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 23, 24, 38
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
MS_REMOUNT, MS_BIND, MS_REC, MS_SLAVE = 0x20, 0x1000, 0x4000, 0x80000
MOUNT_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
               "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}

ACT_ALLOW = 0x7FFF0000
CMP_NE, CMP_LT, CMP_EQ, CMP_GT, CMP_MASKED_EQ = 1, 2, 4, 6, 7
FLTATR_CTL_NNP = 3
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
O_CREAT = 0o100
S_ISUID, S_ISGID = 0o4000, 0o2000


def act_errno(e):
    return 0x00050000 | (e & 0xFFFF)


def die(code, msg):
    print(f"run_unit: {msg}", file=sys.stderr)
    sys.exit(code)


def truthy(v):
    return v in ("yes", "true", "1", "on")


# ---- the unit ------------------------------------------------------------------------------

def parse_unit(path):
    """[Service] settings as name -> list of values (in order; an empty value resets)."""
    section, settings = None, {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().replace("\\\n", " ").splitlines()
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        if section != "Service":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            die(2, f"{path}: cannot parse '{line}'")
        key, value = key.strip(), value.strip()
        if key not in HANDLED and key not in NOT_REPRODUCED:
            die(2, f"{path}: {key}= is not reproduced by this program; teach it first")
        if value == "":
            settings[key] = []
        else:
            settings.setdefault(key, []).append(value)
    return settings


def one(settings, key, default=None):
    values = settings.get(key) or []
    return values[-1] if values else default


def words(settings, key):
    return [w for v in settings.get(key, []) for w in v.split()]


def read_env_file(spec, env):
    optional = spec.startswith("-")
    path = spec[1:] if optional else spec
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        if optional:
            return
        die(1, f"EnvironmentFile {path} is missing")
    for raw in text.replace("\\\n", "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
            continue  # systemd ignores such lines with a warning
        env[key.strip()] = " ".join(shlex.split(value)) if value.strip() else ""


def expand_exec(line, env):
    if line[:1] in "@-:+!":
        die(2, f"ExecStart prefix '{line[0]}' is not reproduced")
    argv = []
    for word in shlex.split(line):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if m:
            argv.extend(env.get(m.group(1), "").split())
            continue
        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                           lambda mm: env.get(mm.group(1), ""), word))
    return argv


def seconds(value, default):
    if value is None:
        return default
    m = re.fullmatch(r"(\d+)\s*(s|sec|min)?", value)
    if not m:
        die(2, f"cannot parse the time span '{value}'")
    n = int(m.group(1))
    return n * 60 if m.group(2) == "min" else n


# ---- system-call sets, as systemd 252 defines them -------------------------------------------

def syscall_groups():
    """Every @group of `systemd-analyze syscall-filter` -> its entries (names and @groups)."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"], check=True,
                         capture_output=True, text=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = line.split()[0]
            groups[current] = []
        elif current and line.strip() and not line.strip().startswith("#"):
            groups[current].append(line.strip())
    return groups


def expand(entries, groups, seen=None):
    seen = set() if seen is None else seen
    names = set()
    for e in entries:
        if e.startswith("@"):
            if e in seen:
                continue
            seen.add(e)
            if e not in groups:
                die(2, f"unknown system call group {e}")
            names |= expand(groups[e], groups, seen)
        else:
            names.add(e)
    return names


# ---- seccomp through libseccomp (the library systemd uses) ----------------------------------

class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class Seccomp:
    def __init__(self):
        path = ctypes.util.find_library("seccomp")
        if not path:
            die(2, "libseccomp is not installed")
        lib = ctypes.CDLL(path, use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(ArgCmp)]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.lib = lib
        self.filters = []  # built in the parent, loaded in the child just before exec

    def nr(self, name):
        return self.lib.seccomp_syscall_resolve_name(name.encode())

    def new(self, default):
        ctx = self.lib.seccomp_init(default)
        if not ctx:
            die(1, "seccomp_init failed")
        # as systemd: no_new_privs only when the unit asks for it (set separately)
        self.lib.seccomp_attr_set(ctx, FLTATR_CTL_NNP, 0)
        self.filters.append(ctx)
        return ctx

    def rule(self, ctx, action, name, *cmps):
        nr = self.nr(name)
        if nr == -1:
            return  # not a system call libseccomp knows: systemd skips it too
        arr = (ArgCmp * max(1, len(cmps)))(*[ArgCmp(a, op, x, y) for a, op, x, y in cmps])
        rc = self.lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0 and nr >= 0:
            die(1, f"seccomp rule for {name}: {os.strerror(-rc)}")

    def deny(self, names, err=1):
        ctx = self.new(ACT_ALLOW)
        for n in sorted(names):
            self.rule(ctx, act_errno(err), n)

    def load_all(self):
        for ctx in self.filters:
            rc = self.lib.seccomp_load(ctx)
            if rc < 0:
                raise OSError(-rc, "seccomp_load")


def build_filters(settings, sc):
    groups = syscall_groups()
    if settings.get("SystemCallFilter"):
        err = ERRNOS.get(one(settings, "SystemCallErrorNumber", ""), None)
        allow, first = set(), True
        for value in settings["SystemCallFilter"]:
            inverted = value.startswith("~")
            names = expand(value.lstrip("~").split(), groups)
            if first and inverted:
                die(2, "a deny-list SystemCallFilter= is not reproduced")
            if first:
                allow = expand(["@default"], groups) | names
            elif inverted:
                allow -= names
            else:
                allow |= names
            first = False
        ctx = sc.new(act_errno(err) if err else 0x80000000)
        for n in sorted(allow):
            sc.rule(ctx, ACT_ALLOW, n)
    archs = words(settings, "SystemCallArchitectures")
    if archs and archs != ["native"]:
        die(2, "only SystemCallArchitectures=native is reproduced")
    # (a libseccomp filter lists the native architecture only: any other ABI is killed)

    if settings.get("RestrictNamespaces"):
        value = one(settings, "RestrictNamespaces")
        if value in ("yes", "true"):
            retain = 0
        elif value in ("no", "false"):
            retain = sum(NAMESPACES.values())
        else:
            retain = 0
            for n in value.split():
                if n not in NAMESPACES:
                    die(2, f"RestrictNamespaces: unknown namespace {n}")
                retain |= NAMESPACES[n]
        if retain != sum(NAMESPACES.values()):
            ctx = sc.new(ACT_ALLOW)
            # systemd: clone3's flags are in memory, so it fails with ENOSYS and callers
            # are expected to fall back to clone()
            sc.rule(ctx, act_errno(ERRNOS["ENOSYS"]), "clone3")
            if retain == 0:
                sc.rule(ctx, act_errno(1), "setns")
            else:
                sc.rule(ctx, act_errno(1), "setns", (1, CMP_EQ, 0, 0))
            for flag in NAMESPACES.values():
                if retain & flag:
                    continue
                sc.rule(ctx, act_errno(1), "unshare", (0, CMP_MASKED_EQ, flag, flag))
                sc.rule(ctx, act_errno(1), "clone", (0, CMP_MASKED_EQ, flag, flag))
                if retain:
                    sc.rule(ctx, act_errno(1), "setns", (1, CMP_MASKED_EQ, flag, flag))

    families = words(settings, "RestrictAddressFamilies")
    if families:
        if families != ["AF_UNIX"]:
            die(2, "only RestrictAddressFamilies=AF_UNIX is reproduced")
        ctx = sc.new(ACT_ALLOW)
        sc.rule(ctx, act_errno(97), "socket", (0, CMP_LT, AF_UNIX, 0))  # EAFNOSUPPORT
        sc.rule(ctx, act_errno(97), "socket", (0, CMP_GT, AF_UNIX, 0))

    if truthy(one(settings, "MemoryDenyWriteExecute", "no")):
        ctx = sc.new(ACT_ALLOW)
        both = PROT_WRITE | PROT_EXEC
        sc.rule(ctx, act_errno(1), "mmap", (2, CMP_MASKED_EQ, both, both))
        sc.rule(ctx, act_errno(1), "mprotect", (2, CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        sc.rule(ctx, act_errno(1), "pkey_mprotect", (2, CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        sc.rule(ctx, act_errno(1), "shmat", (2, CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))

    if truthy(one(settings, "RestrictSUIDSGID", "no")):
        ctx = sc.new(ACT_ALLOW)
        for m in (S_ISUID, S_ISGID):
            for name, arg in (("chmod", 1), ("fchmod", 1), ("fchmodat", 2), ("mkdir", 1),
                              ("mkdirat", 2), ("mknod", 1), ("mknodat", 2), ("creat", 1)):
                sc.rule(ctx, act_errno(1), name, (arg, CMP_MASKED_EQ, m, m))
            sc.rule(ctx, act_errno(1), "open", (1, CMP_MASKED_EQ, O_CREAT, O_CREAT),
                    (2, CMP_MASKED_EQ, m, m))
            sc.rule(ctx, act_errno(1), "openat", (2, CMP_MASKED_EQ, O_CREAT, O_CREAT),
                    (3, CMP_MASKED_EQ, m, m))
        sc.rule(ctx, act_errno(1), "openat2")  # its flags are in memory: refused whole

    if truthy(one(settings, "RestrictRealtime", "no")):
        ctx = sc.new(ACT_ALLOW)
        # allowed: SCHED_OTHER (0), SCHED_BATCH (3), SCHED_IDLE (5); refused: the rest
        for policy in (1, 2, 4):
            sc.rule(ctx, act_errno(1), "sched_setscheduler", (1, CMP_EQ, policy, 0))
        sc.rule(ctx, act_errno(1), "sched_setscheduler", (1, CMP_GT, 5, 0))

    if truthy(one(settings, "LockPersonality", "no")):
        libc = ctypes.CDLL(None)
        current = libc.personality(0xFFFFFFFF)
        ctx = sc.new(ACT_ALLOW)
        sc.rule(ctx, act_errno(1), "personality", (0, CMP_NE, current, 0))

    if truthy(one(settings, "ProtectHostname", "no")):
        sc.deny({"sethostname", "setdomainname"})
    if truthy(one(settings, "ProtectClock", "no")):
        sc.deny(expand(["@clock"], groups))
    if truthy(one(settings, "ProtectKernelModules", "no")):
        sc.deny(expand(["@module"], groups))
    if truthy(one(settings, "ProtectKernelLogs", "no")):
        sc.deny({"syslog"})
    if truthy(one(settings, "ProtectKernelTunables", "no")):
        sc.deny({"_sysctl"})
    if truthy(one(settings, "PrivateDevices", "no")):
        sc.deny(expand(["@raw-io"], groups))


# ---- namespaces and mounts (in the child) -------------------------------------------------

def mountinfo():
    """Mount points of this namespace with their per-mount flags, parents first."""
    result = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            flags = 0
            for opt in fields[5].split(","):
                flags |= MOUNT_FLAGS.get(opt, 0)
            result.append((point, flags))
    return result


def under(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def setup_namespaces(settings, rw_extra, libc):
    def check(rc, what):
        if rc != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"{what}: {os.strerror(e)}")

    flags = 0
    if truthy(one(settings, "PrivateNetwork", "no")):
        flags |= NAMESPACES["net"]
    if truthy(one(settings, "PrivateIPC", "no")):
        flags |= NAMESPACES["ipc"]
    if truthy(one(settings, "ProtectHostname", "no")):
        flags |= NAMESPACES["uts"]
    strict = one(settings, "ProtectSystem", "no")
    if strict not in ("no", "strict"):
        raise OSError(0, f"ProtectSystem={strict} is not reproduced")
    subset = one(settings, "ProcSubset", "all")
    if subset not in ("all", "pid"):
        raise OSError(0, f"ProcSubset={subset} is not reproduced")
    mounts = (strict == "strict" or truthy(one(settings, "PrivateMounts", "no")) or
              truthy(one(settings, "ProtectKernelTunables", "no")) or
              truthy(one(settings, "ProtectControlGroups", "no")) or subset == "pid")
    if mounts:
        flags |= NAMESPACES["mnt"]
    if not flags:
        return
    check(libc.unshare(flags), "unshare")
    if not mounts:
        return
    # nothing done below may reach the host's mount table
    check(libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "making / a slave")

    if subset == "pid":
        check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         b"subset=pid"), "mounting /proc with subset=pid")
    readonly_roots = []
    if strict == "strict":
        rw = list(rw_extra)
        for spec in words(settings, "ReadWritePaths"):
            optional = spec.startswith("-")
            path = spec.lstrip("-")
            if not os.path.exists(path):
                if optional:
                    continue
                raise OSError(2, f"ReadWritePaths: {path} does not exist")
            rw.append(path)
        for path in rw:  # each becomes a mount of its own, left writable
            p = path.encode()
            check(libc.mount(p, p, None, MS_BIND | MS_REC, None), f"binding {path}")
        readonly_roots = ["/"]
        keep = ["/dev", "/proc", "/sys"] + rw
    else:
        keep = []
    api_ro = []
    if truthy(one(settings, "ProtectKernelTunables", "no")):
        if os.path.exists("/proc/sys"):  # not with ProcSubset=pid
            check(libc.mount(b"/proc/sys", b"/proc/sys", None, MS_BIND | MS_REC, None),
                  "binding /proc/sys")
            api_ro.append("/proc/sys")
        api_ro.append("/sys")
    if truthy(one(settings, "ProtectControlGroups", "no")):
        api_ro.append("/sys/fs/cgroup")
    for point, mflags in mountinfo():
        ro = (readonly_roots and not under(point, keep)) or under(point, api_ro)
        if not ro or mflags & MS_RDONLY:
            continue
        check(libc.mount(None, point.encode(), None,
                         MS_REMOUNT | MS_BIND | MS_RDONLY | mflags, None),
              f"remounting {point} read-only")


# ---- main ----------------------------------------------------------------------------------

def make_dir(base, name, mode):
    path = os.path.join(base, name)
    os.makedirs(path, exist_ok=True)
    os.chown(path, 0, 0)
    os.chmod(path, mode)
    return path


def describe(status):
    if os.WIFEXITED(status):
        return f"exit status {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {status}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("unit")
    ap.add_argument("--log", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--notify-dir", default="/tmp")
    args = ap.parse_args()

    settings = parse_unit(args.unit)
    if one(settings, "Type") != "notify":
        die(2, "only Type=notify is reproduced")
    if one(settings, "NotifyAccess", "main") != "main":
        die(2, "only NotifyAccess=main is reproduced")

    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8", "INVOCATION_ID": uuid.uuid4().hex}
    for spec in settings.get("EnvironmentFile", []):
        read_env_file(spec, env)
    for assignment in settings.get("Environment", []):
        for word in shlex.split(assignment):
            key, _, value = word.partition("=")
            env[key] = value

    umask = int(one(settings, "UMask", "0022"), 8)
    own_dirs = []
    for key, base, var in (("StateDirectory", "/var/lib", "STATE_DIRECTORY"),
                           ("RuntimeDirectory", "/run", "RUNTIME_DIRECTORY")):
        mode = int(one(settings, key + "Mode", "0755"), 8)
        paths = [make_dir(base, n, mode) for n in words(settings, key)]
        if paths:
            env[var] = ":".join(paths)
            own_dirs += paths

    keep_caps = None
    if settings.get("CapabilityBoundingSet"):
        keep_caps = set()
        for name in words(settings, "CapabilityBoundingSet"):
            if name.startswith("~") or name not in CAPS:
                die(2, f"CapabilityBoundingSet: '{name}' is not reproduced")
            keep_caps.add(CAPS.index(name))
    nnp = truthy(one(settings, "NoNewPrivileges", "no"))
    timeout = seconds(one(settings, "TimeoutStartSec"), 90)
    sc = Seccomp()
    build_filters(settings, sc)

    execs = settings.get("ExecStart", [])
    if len(execs) != 1:
        die(2, "exactly one ExecStart= is reproduced")
    argv = expand_exec(execs[0], env)

    notify_path = os.path.join(args.notify_dir, f"notify.{os.getpid()}")
    if os.path.exists(notify_path):
        os.unlink(notify_path)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    ns.bind(notify_path)
    ns.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    env["NOTIFY_SOCKET"] = notify_path

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong]
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    libc.unshare.argtypes = [ctypes.c_int]
    log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            setup_namespaces(settings, own_dirs, libc)
            os.chdir("/")
            os.umask(umask)
            if keep_caps is not None:
                cap = 0
                while libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0:
                    if cap not in keep_caps and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                        raise OSError(ctypes.get_errno(), f"dropping capability {cap}")
                    cap += 1
            if nnp and libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
            sc.load_all()
            os.execve(argv[0], argv, env)
        except BaseException as e:  # noqa: BLE001 - report anything, then fail as systemd does
            os.write(2, f"run_unit: cannot start {argv[0]}: {e}\n".encode())
        os._exit(203)  # systemd's EXIT_EXEC
    os.close(log_fd)

    deadline = time.monotonic() + timeout
    ready = False
    while not ready:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            die(1, f"no READY=1 within TimeoutStartSec ({timeout} s): killed {argv[0]}")
        r, _, _ = select.select([ns], [], [], min(left, 0.5))
        if not r:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                die(1, f"{argv[0]} ended before READY=1 ({describe(status)}); see {args.log}")
            continue
        data, anc, _, _ = ns.recvmsg(4096, socket.CMSG_SPACE(12))
        sender = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                sender = struct.unpack("iII", payload[:12])[0]
        if sender != pid:
            print(f"run_unit: ignored a notification from pid {sender} (NotifyAccess=main)",
                  file=sys.stderr)
            continue
        fields = dict(line.split("=", 1) for line in data.decode(errors="replace").splitlines()
                      if "=" in line)
        ready = fields.get("READY") == "1"
    ns.close()
    os.unlink(notify_path)
    with open(args.pidfile, "w", encoding="ascii") as f:
        f.write(f"{pid}\n")
    print(f"run_unit: {argv[0]} ready (pid {pid}; argv {' '.join(argv)}; "
          f"{len(sc.filters)} seccomp filters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
