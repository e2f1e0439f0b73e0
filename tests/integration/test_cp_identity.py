#!/usr/bin/env python3
"""The content process's identity and limits, attacked the way another daemon would
(agent/core/supervisor/cpident.h).

Without a usable dedicated account (the daemon is pointed at an account that does not
exist, so the test means the same whether or not palisade-cp exists on this machine) the
content process runs under a dynamic uid that no account and no other process has; a
process running as `nobody` can neither signal it (kill, even signal 0) nor read or change
its limits (prlimit), and EICAR is still found. Root changing one of its limits (RLIMIT_AS,
as the webshell attack did) or the priority of one of its threads is noticed before the
next hand-off (one object, or one batch of small files sent together): the instance is
killed (a Kill event "kill-tampered: limits changed: ..."), a new one starts, EICAR is
found. The tree scanned after the tampering holds 40 small files, so that the scan hands
them over in batches.

With a dedicated account (a temporary one, created and deleted here): the content process
runs as that account; when another process runs under the account's uid, the next
instance takes a dynamic uid instead and status says why; an account that has nobody's uid
is refused: no content process, status degraded with the reason, and objects unscannable
with it, never scanned in the broker.

Runs as root (accounts, setuid to nobody, prlimit on another user's process)."""
import errno
import os
import pwd
import resource
import signal
import subprocess
import time
import unittest

import harness
from harness import Daemon, DaemonTest, wait_for

EICAR = harness.eicar()
NOBODY = 65534
DYN_FIRST, DYN_LAST = 0x70000000, 0x7FFDFFFF     # cpident.h
MISSING_ACCOUNT = "pcpt-none-%d" % os.getpid()


def status(d):
    with d.client() as c:
        return c.result("status")


def cp_events(d):
    with d.client() as c:
        return c.result("cp.events", {"limit": 1000})["items"]


def running(d):
    st = status(d)
    if st["content_process_state"] == "Running" and st["content_process_pid"]:
        return st
    return None


def ids(pid, key):
    """The four ids (real, effective, saved, file system) of a /proc/<pid>/status line."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return [int(x) for x in line.split()[1:5]]
    raise AssertionError("no %s line for pid %d" % (key, pid))


def limits(pid):
    """{row name: (soft, hard)} of /proc/<pid>/limits: readable by anyone, unlike
    prlimit, which needs CAP_SYS_RESOURCE (not every root has it) or the same ids."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        next(f)
        for line in f:
            soft, hard = line[25:].split()[:2]
            out[line[:25].strip()] = (soft, hard)
    return out


def as_user(uid, gid, action):
    """Run action() in a child process with all ids set to uid/gid and no groups; returns
    the errno it raised (0 if none)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            try:
                action()
            except OSError as e:
                code = e.errno
            os.write(w, b"%d" % code)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    os.waitpid(pid, 0)
    if not out:
        raise AssertionError("the child as uid %d reported nothing" % uid)
    return int(out)


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Identity:
    """Mixin: what every test here checks about a scan."""

    def scan_finds_eicar(self, name, extra=0):
        files = {"eicar.com": EICAR, "clean.txt": b"nothing here\n"}
        for i in range(extra):
            files["small-%02d.txt" % i] = b"small file %d\n" % i * (i + 1)
        root = self.make_tree(name, files)
        res, _ = self.d.scan([root])
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["unscannable"], [])
        self.assertEqual([t["threat"] for t in res["threats"]], [harness.EICAR_THREAT])
        return res


# ---- no dedicated account: a dynamic uid -------------------------------------------------

class DynamicUid(Identity, DaemonTest):
    daemon_kwargs = {"extra_args": ["--content-process-user", MISSING_ACCOUNT]}

    def setUp(self):
        super().setUp()
        self.d.keep_threats()
        self.st = wait_for(lambda: running(self.d), what="the content process")
        self.pid = self.st["content_process_pid"]

    def test_dynamic_uid_is_nobody_elses(self):
        uid = self.st["content_process_uid"]
        self.assertEqual(ids(self.pid, "Uid"), [uid] * 4)
        self.assertEqual(ids(self.pid, "Gid"), [uid] * 4)
        self.assertTrue(DYN_FIRST <= uid <= DYN_LAST, uid)
        self.assertEqual(self.st["content_process_identity"],
                         "dynamic uid %d (no account %s)" % (uid, MISSING_ACCOUNT))
        with self.assertRaises(KeyError):
            pwd.getpwuid(uid)
        # no other process has its uid or its gid, in any of the four slots
        others = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == self.pid:
                continue
            try:
                if uid in ids(int(name), "Uid") or uid in ids(int(name), "Gid"):
                    others.append(int(name))
            except (FileNotFoundError, ProcessLookupError):
                continue
        self.assertEqual(others, [])
        starts = [e for e in cp_events(self.d) if e["kind"] == "Start" and e["pid"] == self.pid]
        self.assertEqual(len(starts), 1)
        self.assertIn("dynamic uid %d" % uid, starts[0]["reason"])

    def test_nobody_cannot_signal_or_limit_it(self):
        pid = self.pid
        limit = limits(pid)
        # everything another daemon running as nobody could try
        attempts = {
            "kill SIGKILL": lambda: os.kill(pid, signal.SIGKILL),
            "kill SIGSTOP": lambda: os.kill(pid, signal.SIGSTOP),
            "kill 0": lambda: os.kill(pid, 0),
            "prlimit read": lambda: resource.prlimit(pid, resource.RLIMIT_AS),
            "prlimit RLIMIT_AS": lambda: resource.prlimit(pid, resource.RLIMIT_AS,
                                                          (1 << 20, 1 << 20)),
            "prlimit RLIMIT_CPU": lambda: resource.prlimit(pid, resource.RLIMIT_CPU, (0, 0)),
            "setpriority": lambda: os.setpriority(os.PRIO_PROCESS, pid, 19),
        }
        for what, action in attempts.items():
            for _ in range(20):     # a loop, as the attack did
                self.assertEqual(as_user(NOBODY, NOBODY, action), errno.EPERM, what)
        # untouched: the same process, the same limit, and it still finds EICAR
        self.assertEqual(limits(pid), limit)
        self.scan_finds_eicar("after")
        st = status(self.d)
        self.assertEqual(st["content_process_pid"], pid)
        self.assertEqual(st["content_process_restarts"], self.st["content_process_restarts"])
        self.assertEqual(st["degraded"], [])
        self.assertEqual([e for e in cp_events(self.d) if e["kind"] != "Start"], [])

    def tampered(self, tamper, expect):
        """tamper(pid) runs under the content process's own uid: the one identity that may
        (besides CAP_SYS_RESOURCE / CAP_SYS_NICE) — another privileged process."""
        before = self.st
        uid = self.st["content_process_uid"]
        self.assertEqual(as_user(uid, uid, lambda: tamper(self.pid)), 0)
        res = self.scan_finds_eicar("after", extra=38)
        self.assertEqual(res["files_scanned"], 40)
        kills = [e for e in cp_events(self.d) if e["pid"] == self.pid and e["kind"] != "Start"]
        self.assertEqual(len(kills), 1, kills)
        self.assertEqual(kills[0]["kind"], "Kill")
        self.assertTrue(kills[0]["reason"].startswith("kill-tampered: " + expect),
                        kills[0]["reason"])
        after = wait_for(lambda: running(self.d), what="a new content process")
        self.assertNotEqual(after["content_process_pid"], self.pid)
        self.assertEqual(after["content_process_restarts"], before["content_process_restarts"] + 1)
        self.assertEqual(after["degraded"], [])
        return kills[0]

    def test_changed_limit_is_noticed(self):
        old = limits(self.pid)["Max address space"]
        small = 2 << 20

        def lower(pid):
            resource.prlimit(pid, resource.RLIMIT_AS, (small, small))
        self.tampered(lower, "limits changed: RLIMIT_AS is %d/%d, the broker set %s/%s"
                      % (small, small, old[0], old[1]))
        new = status(self.d)["content_process_pid"]
        self.assertEqual(limits(new)["Max address space"], old)

    def test_changed_priority_of_one_thread_is_noticed(self):
        tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % self.pid))
        tid = tids[-1]          # not the main thread: every thread counts
        self.tampered(lambda pid: os.setpriority(os.PRIO_PROCESS, tid, 19),
                      "priority changed: thread %d has nice 19" % tid)


# ---- a dedicated account -------------------------------------------------------------------

class Account:
    """A temporary system account; deleted at the end whatever happens."""

    def __init__(self, test, extra=()):
        self.name = "pcpt%d%s" % (os.getpid(), "x" if extra else "")
        if harness.user_exists(self.name):
            run("userdel", "--force", self.name)
        run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
            "--shell", "/usr/sbin/nologin", *extra, self.name)
        test.addCleanup(self.delete)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def delete(self):
        subprocess.run(["userdel", "--force", self.name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if harness.group_exists(self.name):
            subprocess.run(["groupdel", self.name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


class DedicatedAccount(Identity, DaemonTest):
    start_daemon = False

    def start_with(self, account):
        self.d.extra_args = ["--content-process-user", account.name]
        self.d.start()
        self.d.keep_threats()

    def test_runs_as_the_account_and_never_shares_it(self):
        acct = Account(self, ("--user-group",))
        self.start_with(acct)
        st = wait_for(lambda: running(self.d), what="the content process")
        first = st["content_process_pid"]
        self.assertEqual(ids(first, "Uid"), [acct.uid] * 4)
        self.assertEqual(st["content_process_identity"],
                         "account %s (uid %d)" % (acct.name, acct.uid))
        self.scan_finds_eicar("first")

        # another process under the account's uid; the next instance must not share it
        sleeper = subprocess.Popen(["sleep", "600"], user=acct.uid, group=acct.gid,
                                   extra_groups=[])
        self.addCleanup(lambda: (sleeper.kill(), sleeper.wait()))
        for mode in ("disable", "enable"):
            p = self.d.cli("sandbox", mode)
            self.assertEqual(p.returncode, 0, p.stderr)
        st = wait_for(lambda: running(self.d), what="a new content process")
        second = st["content_process_pid"]
        self.assertNotEqual(second, first)
        uid = st["content_process_uid"]
        self.assertNotEqual(uid, acct.uid)
        self.assertTrue(DYN_FIRST <= uid <= DYN_LAST, uid)
        self.assertEqual(ids(second, "Uid"), [uid] * 4)
        self.assertEqual(st["content_process_identity"],
                         "dynamic uid %d (account %s's uid %d is in use by pid %d (sleep))"
                         % (uid, acct.name, acct.uid, sleeper.pid))
        self.assertEqual(as_user(acct.uid, acct.gid, lambda: os.kill(second, 0)), errno.EPERM)
        self.scan_finds_eicar("second")

        # once the uid is free again, the account is used again
        sleeper.kill()
        sleeper.wait()
        for mode in ("disable", "enable"):
            self.assertEqual(self.d.cli("sandbox", mode).returncode, 0)
        st = wait_for(lambda: running(self.d), what="a third content process")
        self.assertEqual(st["content_process_uid"], acct.uid)

    def test_account_with_nobodys_uid_is_refused(self):
        acct = Account(self, ("--non-unique", "--uid", str(NOBODY), "--gid", "nogroup"))
        self.start_with(acct)
        reason = "account %s has nobody's uid %d" % (acct.name, NOBODY)

        def refused():
            st = status(self.d)
            return st if any(reason in r for r in st["degraded"]) else None
        st = wait_for(refused, what="status to say why")
        self.assertIsNone(st["content_process_pid"])
        self.assertNotEqual(st["content_process_state"], "Running")
        self.assertEqual(st["scan_engine"], "ContentProcess")
        # this daemon started no child under nobody's uid, now or after a while of retries
        time.sleep(1)
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/stat" % name) as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    uids = ids(int(name), "Uid")
                except (OSError, ValueError, IndexError, AssertionError):
                    continue
                if ppid == self.d.proc.pid:
                    self.assertNotIn(NOBODY, uids, "child %s of the daemon" % name)
        # objects are unscannable with the reason: never scanned in the broker instead
        root = self.make_tree("t", {"eicar.com": EICAR})
        res, _ = self.d.scan([root])
        self.assertEqual(res["threats"], [])
        self.assertEqual(len(res["unscannable"]), 1)
        u = res["unscannable"][0]
        self.assertEqual(u["path"], os.path.join(root, "eicar.com"))
        self.assertIn("content process unavailable", u["detail"])
        self.assertIn(reason, u["detail"])
        starts = [e for e in cp_events(self.d) if e["kind"] == "Start"]
        self.assertEqual(starts, [])
        failed = [e for e in cp_events(self.d) if reason in (e["reason"] or "")]
        self.assertTrue(failed, "the refusal is recorded as a content-process event")

        # the administrator removes the account: the supervisor's next attempt takes a
        # dynamic uid, and once a scan went through, status is clean again
        acct.delete()
        # (the crash-loop flag stays until a request is answered: not Running yet)
        st = wait_for(lambda: (lambda st: st if st["content_process_pid"] else None)(
            status(self.d)), what="a content process after the fix")
        self.assertTrue(DYN_FIRST <= st["content_process_uid"] <= DYN_LAST)
        self.assertFalse([r for r in st["degraded"] if "cannot start" in r], st["degraded"])
        self.scan_finds_eicar("fixed")
        st = status(self.d)
        self.assertEqual(st["degraded"], [])
        self.assertEqual(st["content_process_state"], "Running")


if __name__ == "__main__":
    harness.main()
