#!/usr/bin/env python3
"""The content process through a real palisaded: the engine container corpus gives the same
results in the sandbox as in-process; the content process killed (SIGSEGV, SIGKILL) in the
middle of a 1,000-file scan leaves the scan complete with every file scanned, the end
recorded and a new instance running; the running instance is sandboxed as the kernel sees it
(/proc: seccomp, no_new_privs, no capabilities, not root, no open file but sockets and
pipes); SandboxMode switches live and MP_FORCE_USE_SANDBOX=0 locks it off; a crash loop
(palisade-cp-selftest's crash trigger) makes each object unscannable and status degraded;
the diagnostics bundle is a private tar.gz with every promised member, and cp.events lists
the events.

Besides harness.py's environment: PAL_CP_SELFTEST (palisade-cp-selftest, for the crash
loop) and PAL_SANITIZE=1 in a sanitizer build (where the content process's runtime turns
a SIGSEGV into an exit of its own), both set by tests/sandbox.cmake."""
import ctypes
import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import unittest

import harness
from harness import Daemon, DaemonTest, Gate, wait_for

EICAR = harness.eicar()
SANITIZER_BUILD = os.environ.get("PAL_SANITIZE") == "1"
TRIGGER_MAGIC = b"PALISADE-SELFTEST:"          # agent/cp/selftest.h
ENDED = ("Crash", "Signal", "Exit")           # kinds of an instance's unplanned end


def status(d):
    with d.client() as c:
        return c.result("status")


def set_setting(d, name, value):
    with d.client() as c:
        return c.result("config.set", {"name": name, "value": value})


def cp_events(d, limit=1000):
    with d.client() as c:
        return c.result("cp.events", {"limit": limit})["items"]


def running(d):
    """The status once a content process is up (its pid), else None."""
    st = status(d)
    if st["content_process_state"] == "Running" and st["content_process_pid"]:
        return st
    return None


def summary(res):
    """What must not depend on where the engine runs."""
    def key(item, *fields):
        return tuple(item.get(f) for f in fields)
    return {
        "status": res["status"],
        "files_scanned": res["files_scanned"],
        "threats": sorted(key(t, "path", "path_b64", "threat") for t in res["threats"]),
        "unscannable": sorted(key(u, "path", "path_b64", "reason")
                              for u in res["unscannable"]),
    }


class _UserRegs(ctypes.Structure):
    """struct user_regs_struct of x86_64 (sys/user.h)."""
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
        "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
        "gs_base", "ds", "es", "fs", "gs")]


PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_DETACH = 12, 13, 17
PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
WALL = 0x40000000


def make_it_fault(pid):
    """Make process pid take a real segmentation fault: stop its main thread with ptrace,
    point its instruction pointer at address 0 and let it go.

    kill(pid, SIGSEGV) cannot do this: the content process is the init of its own PID
    namespace, and the kernel drops every signal but SIGKILL and SIGSTOP that an ancestor
    namespace sends to such an init unless it handles it. A fault of its own is delivered
    whatever it is (the same way palisade-cp-selftest's crash trigger dies)."""
    if platform.machine() != "x86_64":
        raise unittest.SkipTest("fault injection is written for x86_64")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

    def ptrace(req, addr=None, data=None):
        if libc.ptrace(req, pid, addr, data) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "ptrace(%d, %d): %s" % (req, pid, os.strerror(e)))

    ptrace(PTRACE_SEIZE)
    try:
        ptrace(PTRACE_INTERRUPT)
        os.waitpid(pid, WALL)
        regs = _UserRegs()
        ptrace(PTRACE_GETREGS, None, ctypes.addressof(regs))
        regs.rip = 0
        regs.orig_rax = (1 << 64) - 1      # no system call restart moves it off 0
        ptrace(PTRACE_SETREGS, None, ctypes.addressof(regs))
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


# ---- the corpus: the same results in the sandbox and in-process ---------------------------

class Corpus(DaemonTest):

    @classmethod
    def setUpClass(cls):
        src = harness.source_dir()
        cls.tmp = tempfile.mkdtemp(prefix="pal-sandbox-corpus.")
        os.chmod(cls.tmp, 0o755)
        cls.corpus = os.path.join(cls.tmp, "corpus")
        subprocess.run(["bash", os.path.join(src, "tests", "engine", "mkcorpus.sh"),
                        cls.corpus], check=True, stdout=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_corpus_gives_identical_results_sandboxed_and_in_process(self):
        self.d.keep_threats()
        set_setting(self.d, "ScanCacheEnabled", False)   # the second scan reads everything
        n_files = len([n for n in os.listdir(self.corpus)
                       if os.path.isfile(os.path.join(self.corpus, n))])

        self.assertEqual(status(self.d)["scan_engine"], "ContentProcess")
        boxed, _ = self.d.scan([self.corpus])
        set_setting(self.d, "SandboxMode", "Disabled")
        st = status(self.d)
        self.assertEqual(st["scan_engine"], "InProcess")
        self.assertIsNone(st["content_process_pid"])
        inproc, _ = self.d.scan([self.corpus])

        a, b = summary(boxed), summary(inproc)
        self.assertEqual(a["status"], "Completed")
        self.assertEqual(a["files_scanned"], n_files)
        # the corpus holds both, so an empty comparison cannot pass
        self.assertGreater(len(a["threats"]), 50)
        self.assertGreater(len(a["unscannable"]), 10)
        for part in ("files_scanned", "threats", "unscannable", "status"):
            self.assertEqual(a[part], b[part], "%s differ between sandbox and in-process"
                             % part)
        self.assertEqual(boxed["bytes_scanned"], inproc["bytes_scanned"])
        # nothing in the corpus may crash or upset the content process
        self.assertEqual([e for e in cp_events(self.d) if e["kind"] in ENDED], [])

    def test_batches_give_each_file_its_own_report(self):
        """A scan of the corpus hands its small files over in batches (several per round
        trip); a scan of one file hands it over alone. Each file must come out the same
        either way: its threats, its unscannable reasons and details."""
        self.d.keep_threats()
        set_setting(self.d, "ScanCacheEnabled", False)
        self.assertEqual(status(self.d)["scan_engine"], "ContentProcess")
        names = sorted(n for n in os.listdir(self.corpus)
                       if os.path.isfile(os.path.join(self.corpus, n)))

        def per_file(res):
            out = {}
            for t in res["threats"]:
                out.setdefault(t["path"].split("->")[0], []).append(
                    ("threat", t["path"], t["threat"], t.get("sha256")))
            for u in res["unscannable"]:
                out.setdefault(u["path"].split("->")[0], []).append(
                    ("unscannable", u["path"], u["reason"], u.get("detail")))
            return {k: sorted(v, key=repr) for k, v in out.items()}

        whole, _ = self.d.scan([self.corpus])
        self.assertEqual(whole["files_scanned"], len(names))
        batched = per_file(whole)
        # the corpus holds both, so an empty comparison cannot pass
        self.assertGreater(len(whole["threats"]), 50)
        self.assertGreater(len(whole["unscannable"]), 10)
        alone = {}
        for n in names:
            res, _ = self.d.scan([os.path.join(self.corpus, n)])
            self.assertEqual(res["files_scanned"], 1, n)
            alone.update(per_file(res))
        self.assertEqual(batched, alone)
        self.assertEqual([e for e in cp_events(self.d) if e["kind"] in ENDED], [])


# ---- the content process killed in the middle of a scan -----------------------------------

N_FILES = 1000
GATE_AT = 500
EICAR_AT = range(37, N_FILES, 100)     # 10 threats spread over the tree


class KilledMidScan(DaemonTest):

    def tree(self):
        files = {}
        for i in range(N_FILES):
            if i in EICAR_AT:
                data = EICAR
            else:
                data = (b"file %04d of the crash test, an ordinary text\n" % i) * (1 + i % 40)
            files["f%04d.txt" % i] = data
        return self.make_tree("tree", files)

    def kill_mid_scan(self, sig):
        self.d.keep_threats()
        root = self.tree()
        before = wait_for(lambda: running(self.d), what="the content process")
        old_pid = before["content_process_pid"]
        gate = Gate(os.path.join(root, "f%04d.txt" % GATE_AT))
        self.addCleanup(gate.close)

        c = self.d.client()
        self.addCleanup(c.close)
        rid = c.start("scan.start", {"type": "Custom", "paths": [root]})
        self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
        # the scan is certainly in flight: half the tree is behind the walker, half ahead
        self.assertEqual(status(self.d)["content_process_pid"], old_pid)
        if sig == signal.SIGSEGV:
            make_it_fault(old_pid)
        else:
            os.kill(old_pid, sig)
        gate.release()
        resp, _ = c.wait(rid)
        res = resp["result"]

        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["files_scanned"], N_FILES)
        self.assertEqual(res["unscannable"], [],
                         "an object in flight must be retried on the next instance")
        self.assertEqual(sorted(t["path"] for t in res["threats"]),
                         [os.path.join(root, "f%04d.txt" % i) for i in EICAR_AT])
        self.assertEqual({t["threat"] for t in res["threats"]}, {harness.EICAR_THREAT})

        # its end is recorded, and a new instance runs
        ends = [e for e in cp_events(self.d) if e["pid"] == old_pid and e["kind"] != "Start"]
        self.assertEqual(len(ends), 1, ends)
        end = ends[0]
        if SANITIZER_BUILD and sig == signal.SIGSEGV:
            # the sanitizer runtime's own SEGV handler may end it with an exit status
            self.assertIn(end["kind"], ENDED)
        else:
            self.assertIn(end["kind"], ("Crash", "Signal"))
            self.assertEqual(end["signal"], sig)
        after = wait_for(lambda: running(self.d), what="a new content process")
        self.assertNotEqual(after["content_process_pid"], old_pid)
        self.assertEqual(after["content_process_restarts"],
                         before["content_process_restarts"] + 1)
        if end["kind"] != "Exit":
            self.assertEqual(after["content_process_crashes"],
                             before["content_process_crashes"] + 1)
        self.assertEqual(after["degraded"], [])
        wait_for(lambda: not os.path.exists("/proc/%d" % old_pid), what="the old pid to go")
        starts = [e for e in cp_events(self.d)
                  if e["kind"] == "Start" and e["pid"] == after["content_process_pid"]]
        self.assertEqual(len(starts), 1)

    def test_sigsegv_mid_scan(self):
        self.kill_mid_scan(signal.SIGSEGV)

    def test_sigkill_mid_scan(self):
        self.kill_mid_scan(signal.SIGKILL)


# ---- the sandbox as the kernel sees it ------------------------------------------------------

class SeenFromOutside(DaemonTest):

    def test_proc_shows_the_sandbox(self):
        st = wait_for(lambda: running(self.d), what="the content process")
        pid = st["content_process_pid"]
        ps = proc_status(pid)
        self.assertEqual(ps["Seccomp"], "2")
        self.assertEqual(ps["NoNewPrivs"], "1")
        for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
            self.assertEqual(int(ps[cap], 16), 0, cap)
        uids = [int(x) for x in ps["Uid"].split()]
        gids = [int(x) for x in ps["Gid"].split()]
        self.assertNotIn(0, uids)
        self.assertNotIn(0, gids)
        self.assertEqual(uids[0], st["content_process_uid"])
        # a uid of its own, never nobody's (test_cp_identity.py attacks it)
        self.assertNotIn(65534, uids)
        self.assertTrue(st["content_process_identity"].startswith(("account ", "dynamic uid ")),
                        st["content_process_identity"])
        self.assertEqual(ps["Seccomp"], "2")
        # it holds no file: its stderr pipe and one channel per slot, nothing else
        fd_dir = "/proc/%d/fd" % pid
        targets = {fd: os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)}
        self.assertTrue(targets)
        for fd, target in targets.items():
            self.assertTrue(target.startswith(("socket:", "pipe:")),
                            "fd %s is %s" % (fd, target))
        self.assertTrue(any(t.startswith("socket:") for t in targets.values()))
        for step in ("seccomp", "no-new-privs", "capabilities-cleared", "unprivileged-ids"):
            self.assertIn(step, st["content_process_sandbox"].split())


# ---- switching live, and the environment's lock ----------------------------------------------

class LiveSwitch(DaemonTest):

    def scan_eicar(self, name):
        root = self.make_tree(name, {"eicar.com": EICAR, "clean.txt": b"nothing here\n"})
        res, _ = self.d.scan([root])
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["files_scanned"], 2)
        self.assertEqual([t["threat"] for t in res["threats"]], [harness.EICAR_THREAT])
        self.assertEqual(res["unscannable"], [])

    def test_disable_then_enable(self):
        st = wait_for(lambda: running(self.d), what="the content process")
        self.assertEqual(st["sandbox_mode"], "Enabled")
        self.assertEqual(st["scan_engine"], "ContentProcess")
        first = st["content_process_pid"]

        p = self.d.cli("sandbox", "disable")
        self.assertEqual(p.returncode, 0, p.stderr)
        st = status(self.d)
        self.assertEqual(st["sandbox_mode"], "Disabled")
        self.assertEqual(st["content_process_state"], "Disabled")
        self.assertIsNone(st["content_process_pid"])
        self.assertEqual(st["scan_engine"], "InProcess")
        wait_for(lambda: not os.path.exists("/proc/%d" % first), what="the process to go")
        self.scan_eicar("off")
        self.assertIsNone(status(self.d)["content_process_pid"])

        p = self.d.cli("sandbox", "enable")
        self.assertEqual(p.returncode, 0, p.stderr)
        st = wait_for(lambda: running(self.d), what="a content process after enable")
        self.assertNotEqual(st["content_process_pid"], first)
        self.assertEqual(st["scan_engine"], "ContentProcess")
        self.assertEqual(st["degraded"], [])
        self.scan_eicar("on")
        # a planned stop is no failure
        self.assertEqual(st["content_process_restarts"], 0)
        kinds = [e["kind"] for e in cp_events(self.d)]
        self.assertEqual(kinds.count("Start"), 2)
        self.assertFalse(set(kinds) & set(ENDED), kinds)


class ForcedOff(DaemonTest):

    daemon_kwargs = {"env": {"MP_FORCE_USE_SANDBOX": "0"}}

    def test_environment_locks_the_sandbox_off(self):
        st = status(self.d)
        self.assertEqual(st["sandbox_mode"], "Disabled")
        self.assertEqual(st["sandbox_mode_source"], "Environment")
        self.assertEqual(st["content_process_state"], "Disabled")
        self.assertIsNone(st["content_process_pid"])
        self.assertEqual(st["scan_engine"], "InProcess")
        p = self.d.cli("sandbox", "enable")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"PolicyLocked", p.stderr)
        with self.d.client() as c:
            resp = c.call("config.set", {"name": "SandboxMode", "value": "Enabled"})
            self.assertEqual(resp["error"]["code"], "PolicyLocked")
        self.assertEqual(status(self.d)["content_process_state"], "Disabled")
        self.assertEqual(cp_events(self.d), [])


# ---- a crash loop ---------------------------------------------------------------------------

N_KILLERS = 3      # crashed twice each: 6 consecutive failures, the threshold is 5


class CrashLoop(DaemonTest):

    start_daemon = False

    def setUp(self):
        super().setUp()
        selftest = harness.env_path("PAL_CP_SELFTEST")
        self.d.extra_args = ["--content-process", selftest]
        # one slot: the count of failures is exact (a killer met in a batch is retried
        # alone, then every object behind it is scanned on its own)
        self.d.write_policy("10-test.json", {"ScanThreads": 1})
        self.d.start()

    def test_crash_trigger_objects_make_a_crash_loop(self):
        st = wait_for(lambda: running(self.d), what="the self-test content process")
        first = st["content_process_pid"]
        killers = {"k%d.bin" % i: TRIGGER_MAGIC + b"crash\n" + b"x" * (100 * i)
                   for i in range(N_KILLERS)}
        root = self.make_tree("killers", killers)
        res, _ = self.d.scan([root])
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["files_scanned"], N_KILLERS)
        self.assertEqual(res["threats"], [])
        self.assertEqual(sorted((u["path"], u["reason"]) for u in res["unscannable"]),
                         [(os.path.join(root, k), "content-process-crashed")
                          for k in sorted(killers)])

        st = status(self.d)
        self.assertEqual(st["content_process_state"], "Degraded")
        self.assertTrue(any("crash loop" in r for r in st["degraded"]), st["degraded"])
        if not SANITIZER_BUILD:     # there the runtime may turn the fault into an exit
            self.assertEqual(st["content_process_crashes"], 2 * N_KILLERS)
        self.assertGreaterEqual(st["content_process_restarts"], 2 * N_KILLERS)

        events = cp_events(self.d)
        ends = [e for e in events if e["kind"] in ENDED]
        self.assertEqual(len(ends), 2 * N_KILLERS)
        self.assertTrue(any(e["pid"] == first for e in ends))
        # an event names every object in flight, one per line: a batch of small files
        # has several (the first crash comes while the first killer's answer is awaited)
        named = set()
        for e in ends:
            named |= set(e["object"].split("\n"))
        self.assertEqual(named, {os.path.join(root, k) for k in killers})
        self.assertTrue(any((e["reason"] or "").startswith("degraded") for e in events),
                        [e["reason"] for e in events])

        # an object that scans properly ends the crash loop
        ok = self.make_tree("ok", {"fine.txt": b"an ordinary file\n"})
        res, _ = self.d.scan([ok])
        self.assertEqual((res["files_scanned"], res["unscannable"]), (1, []))
        st = status(self.d)
        self.assertEqual(st["degraded"], [])
        self.assertEqual(st["content_process_state"], "Running")


# ---- diagnostics ------------------------------------------------------------------------------

MEMBERS = ("status.json", "settings.json", "versions.json", "scans.json", "cp_events.json",
           "daemon.log")


class Diagnostics(DaemonTest):

    def test_bundle_is_private_and_complete(self):
        wait_for(lambda: running(self.d), what="the content process")
        root = self.make_tree("tree", {"eicar.com": EICAR})
        self.d.keep_threats()
        res, _ = self.d.scan([root])
        scan_id = res["scan_id"]

        out = self.d.cli_json("diagnostics")
        path = out["path"]
        self.assertTrue(os.path.isabs(path))
        self.assertEqual(os.path.dirname(path),
                         os.path.join(os.path.realpath(self.d.state_dir), "diagnostics"))
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, 0)
        self.assertEqual(st.st_size, out["size"])
        dst = os.lstat(os.path.dirname(path))
        self.assertTrue(stat.S_ISDIR(dst.st_mode))
        self.assertEqual(stat.S_IMODE(dst.st_mode), 0o700)

        stem = os.path.basename(path)[:-len(".tar.gz")]
        self.assertTrue(stem.startswith("palisade-diagnostics-"))
        want = [stem + "/" + m for m in MEMBERS]
        self.assertEqual(out["files"], want)
        with tarfile.open(path, "r:gz") as t:
            names = t.getnames()
            self.assertEqual(sorted(names), sorted(want + [stem]))
            for m in t.getmembers():
                self.assertEqual(stat.S_IMODE(m.mode), 0o700 if m.isdir() else 0o600, m.name)
            doc = {m: t.extractfile(stem + "/" + m).read() for m in MEMBERS}
        js = {m: json.loads(doc[m]) for m in MEMBERS if m.endswith(".json")}

        self.assertEqual(js["status.json"]["agent_version"], status(self.d)["agent_version"])
        self.assertIn("content_process_state", js["status.json"])
        names = {i["name"] for i in js["settings.json"]["items"]}
        self.assertTrue({"SandboxMode", "HighThreatDefaultAction"} <= names)
        v = js["versions.json"]
        self.assertEqual(v["agent_version"], js["status.json"]["agent_version"])
        self.assertEqual(set(v["libraries"]), {"libarchive", "libyara", "sqlite", "openssl",
                                               "jansson"})
        self.assertTrue(v["libraries"]["libarchive"].startswith("libarchive 3."))
        self.assertEqual(v["kernel"]["release"], os.uname().release)
        self.assertEqual(v["signature_package"]["in_force"]["version"],
                         js["status.json"]["signature_version"])
        self.assertEqual(js["scans.json"]["items"][0]["scan_id"], scan_id)
        self.assertEqual(js["scans.json"]["items"][0]["threats"], 1)
        self.assertIn("Start", [e["kind"] for e in js["cp_events.json"]["items"]])
        log = doc["daemon.log"].decode("utf-8", "replace")
        self.assertIn("ready on", log)
        self.assertIn("scan %d Completed" % scan_id, log)

        # the plain CLI prints the path alone; bundles never share a name
        p = self.d.cli("diagnostics")
        self.assertEqual(p.returncode, 0, p.stderr)
        second = p.stdout.decode().strip()
        self.assertNotEqual(second, path)
        self.assertTrue(os.path.isfile(second))

    def test_old_bundles_are_pruned(self):
        paths = []
        with self.d.client() as c:
            for _ in range(13):
                paths.append(c.result("diagnostics")["path"])
        self.assertEqual(len(set(paths)), 13)
        left = sorted(n for n in os.listdir(os.path.dirname(paths[0])))
        self.assertEqual(left, sorted(os.path.basename(p) for p in paths[-10:]))

    def test_only_admins_get_diagnostics_and_events(self):
        status_socket = self.d.socket + ".status"
        with harness.Client(status_socket) as c:
            self.assertIn("result", c.hello())
            for op in ("diagnostics", "cp.events"):
                self.assertEqual(c.call(op)["error"]["code"], "AccessDenied", op)
        with self.d.client() as c:
            self.assertEqual(c.call("cp.events", {"limit": 0})["error"]["code"], "BadRequest")
            self.assertEqual(c.call("diagnostics", {"path": "/tmp/x"})["error"]["code"],
                             "BadRequest")
        self.assertFalse(os.path.exists(os.path.join(self.d.state_dir, "diagnostics")))

    def test_events_listing(self):
        st = wait_for(lambda: running(self.d), what="the content process")
        pid = st["content_process_pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: (running(self.d) or {}).get("content_process_pid") not in (None, pid),
                 what="a new content process")
        items = self.d.cli_json("events")["items"]
        self.assertEqual([e["kind"] for e in items][:3], ["Start", "Crash", "Start"])
        crash = items[1]
        self.assertEqual((crash["pid"], crash["signal"], crash["exit_code"]),
                         (pid, signal.SIGKILL, None))
        self.assertTrue(crash["reason"].startswith("crash:"), crash["reason"])
        self.assertIsNone(crash["object"])
        self.assertEqual(set(crash), {"id", "at", "pid", "kind", "exit_code", "signal",
                                      "reason", "object", "stderr_tail"})
        self.assertGreater(items[0]["id"], items[1]["id"])
        self.assertEqual(len(self.d.cli_json("events", "--limit", "1")["items"]), 1)
        p = self.d.cli("events")
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"Crash", p.stdout)


if __name__ == "__main__":
    harness.main()
