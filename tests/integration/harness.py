"""harness.py — drives a real palisaded for the integration tests (stdlib only).

What the tests share: a daemon started on a private temporary state directory and stopped
with SIGTERM (Daemon), a raw control-protocol client that speaks agent/ipc/PROTOCOL.md frame
by frame so tests can also send what no real client would (Client), the `palisade` CLI run
as any user (Daemon.cli), a fanotify gate that holds the daemon's walker at a chosen file
so a test can act while a scan is certainly in flight (Gate), and test content built at
run time (eicar(): the EICAR string is never stored in the tree).

DaemonTest gives each test its own daemon and, at the end, stops it with SIGTERM and fails
the test if it did not exit 0 or if any run printed a sanitizer report (so the ASan build
also checks for leaks at every clean stop).

Where the binaries are comes from the environment, set by tests/integration.cmake:
  PAL_PALISADED, PAL_CLI, PAL_DEFS_PACKAGE, PAL_TRUSTED_KEYS_DIR, PAL_SOURCE_DIR,
  PAL_BINARY_DIR. Timeouts are generous (an ASan build is several times slower); no test
  asserts on time.
"""
import json
import os
import pwd
import grp
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

PROTOCOL_CLIENT_MAX = 1 << 20       # a client's frame, PROTOCOL.md
PROTOCOL_SERVER_MAX = 16 << 20      # a server's frame
START_TIMEOUT = 60.0                # daemon start (ASan, first database)
STOP_TIMEOUT = 60.0
IO_TIMEOUT = 120.0                  # one frame from the daemon
# What ASan, LSan and UBSan print (a sanitizer build): any of it fails the test.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def sanitizer_reports(text):
    return [line for line in text.splitlines() if any(m in line for m in SANITIZER_MARKS)]


def env_path(name):
    """A path the CMake registration passed in; the test is skipped without it."""
    v = os.environ.get(name)
    if not v:
        raise unittest.SkipTest("%s is not set (run the tests through ctest)" % name)
    return v


def palisaded():
    return env_path("PAL_PALISADED")


def cli_path():
    return env_path("PAL_CLI")


def defs_package():
    return env_path("PAL_DEFS_PACKAGE")


def trusted_keys():
    return env_path("PAL_TRUSTED_KEYS_DIR")


def source_dir():
    return env_path("PAL_SOURCE_DIR")


def eicar():
    """The EICAR test string, built from two halves so that no file of the tree holds it."""
    head = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
    tail = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    return (head + tail).encode("ascii")


EICAR_THREAT = "Virus:DOS/EICAR_Test_File"


class ProtocolClosed(Exception):
    """The daemon closed the connection."""


# ---- raw protocol client --------------------------------------------------------------------

class Client:
    """One connection to the control socket. Frames are sent and read exactly as written in
    PROTOCOL.md; nothing is hidden, so tests can break the protocol on purpose."""

    def __init__(self, sock_path, timeout=IO_TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(sock_path)
        except OSError:
            self.sock.close()
            raise
        self.next_id = 1
        self.pending = []           # messages read while waiting for another id

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- frames
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def send(self, obj):
        self.send_frame(json.dumps(obj))

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ProtocolClosed("connection closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv(self):
        """The next message from the server (a dict); ProtocolClosed at end of stream."""
        if self.pending:
            return self.pending.pop(0)
        (n,) = struct.unpack(">I", self._recv_exact(4))
        if n == 0 or n > PROTOCOL_SERVER_MAX:
            raise AssertionError("server sent a frame of length %d" % n)
        return json.loads(self._recv_exact(n).decode("utf-8"))

    def at_eof(self, timeout=IO_TIMEOUT):
        """True when the server closes the connection (reads nothing more) within timeout."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(old)

    # -- envelope
    def hello(self, protocol=1):
        self.send({"id": 0, "op": "hello",
                   "args": {"protocol": protocol, "client": "palisade-integration/1"}})
        return self.recv()

    def start(self, op, args=None):
        """Send a request; returns its id."""
        rid = self.next_id
        self.next_id += 1
        msg = {"id": rid, "op": op}
        if args is not None:
            msg["args"] = args
        self.send(msg)
        return rid

    def wait(self, rid, on_event=None):
        """Read until request rid's response; other ids' messages are kept for later.
        Returns (response, [events of rid])."""
        events = []
        kept = []
        try:
            while True:
                if self.pending:
                    m = self.pending.pop(0)
                else:
                    (n,) = struct.unpack(">I", self._recv_exact(4))
                    m = json.loads(self._recv_exact(n).decode("utf-8"))
                if m.get("id") != rid:
                    kept.append(m)
                    continue
                if "event" in m:
                    events.append(m)
                    if on_event:
                        on_event(m)
                    continue
                return m, events
        finally:
            self.pending = kept + self.pending

    def call(self, op, args=None):
        """One request to its response; returns the response message (result or error)."""
        rid = self.start(op, args)
        resp, _ = self.wait(rid)
        return resp

    def result(self, op, args=None):
        """One request that must succeed; returns its result object."""
        resp = self.call(op, args)
        if "result" not in resp:
            raise AssertionError("%s failed: %r" % (op, resp))
        return resp["result"]


# ---- the daemon -----------------------------------------------------------------------------

class Daemon:
    """A palisaded of its own: state, socket and policy directories under one temporary
    directory that is removed afterwards. The socket directory is world-searchable, so a
    test can let an unprivileged user reach the socket; the socket's own mode and group are
    the daemon's."""

    # Real-time protection is on by default in the product; a test daemon must not mark the
    # machine's file systems unless a test asks (rtp=[mount points] monitors only those). Off
    # is forced through the environment (PALISADE_FORCE_REAL_TIME_PROTECTION=0), not a policy
    # file: a test that breaks the policy would otherwise get the default, every file system.
    RTP_OFF_ENV = {"PALISADE_FORCE_REAL_TIME_PROTECTION": "0"}
    RTP_PATHS_POLICY = "00-harness-rtp-paths.json"

    def __init__(self, base=None, env=None, defs=True, extra_args=None, state_dir=None,
                 policy=None, rtp=None):
        self.own_base = base is None
        self.base = base or tempfile.mkdtemp(prefix="pal-integ.")
        os.chmod(self.base, 0o755)
        self.state_dir = state_dir or os.path.join(self.base, "state")
        self.run_dir = os.path.join(self.base, "run")
        self.policy_dir = os.path.join(self.base, "policy")
        self.socket = os.path.join(self.run_dir, "palisaded.sock")
        self.log_path = os.path.join(self.base, "palisaded-%d.log")
        for d, mode in ((self.run_dir, 0o755), (self.policy_dir, 0o755)):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, mode)
        if not os.path.isdir(self.state_dir):
            os.makedirs(self.state_dir)
            os.chmod(self.state_dir, 0o700)
        for name, value in (policy or {}).items():
            self.write_policy(name, value)
        self.rtp_env = self.RTP_OFF_ENV if rtp is None else {}
        if rtp is not None and rtp != "default":
            # on (by default) and restricted to the test's own file systems; the policy
            # locks the paths, so that no preference can widen them
            self.write_policy(self.RTP_PATHS_POLICY, {"RealTimeMonitoredPaths": list(rtp)})
        self.env = env or {}
        self.defs = defs
        self.extra_args = extra_args or []
        self.proc = None
        self.starts = 0
        self.logs = []              # paths of every run's stderr

    # -- paths inside the sandbox of this test
    def path(self, *parts):
        return os.path.join(self.base, *parts)

    def write_policy(self, name, value, raw=None):
        p = os.path.join(self.policy_dir, name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(raw if raw is not None else json.dumps(value))
        os.chmod(p, 0o644)
        return p

    def command(self):
        cmd = [palisaded(), "--foreground", "--state-dir", self.state_dir,
               "--socket", self.socket, "--policy-dir", self.policy_dir,
               "--trusted-keys", trusted_keys()]
        if self.defs:
            cmd += ["--defs", defs_package()]
        return cmd + self.extra_args

    def spawn(self):
        """Start the process without waiting for it to be ready."""
        env = dict(os.environ)
        env.pop("MP_FORCE_USE_SANDBOX", None)
        env.pop("PALISADE_SOCKET", None)
        env.pop("PALISADE_FORCE_REAL_TIME_PROTECTION", None)
        env.update(self.rtp_env)
        env.update(self.env)
        log = self.log_path % self.starts
        self.starts += 1
        self.logs.append(log)
        with open(log, "wb") as out:
            return subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out, env=env)

    def start(self):
        assert self.proc is None, "already running"
        self.proc = self.spawn()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("palisaded exited with %s during start:\n%s"
                                     % (self.proc.returncode, self.log()))
            if os.path.exists(self.socket):
                try:
                    with Client(self.socket, timeout=10) as c:
                        if "result" in c.hello():
                            return self
                except (OSError, ProtocolClosed):
                    pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError("palisaded did not become ready:\n" + self.log())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        p = self.proc
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("palisaded did not stop on SIGTERM:\n" + self.log())
        self.proc = None
        return rc

    def kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def log(self, run=-1):
        if not self.logs:
            return ""
        with open(self.logs[run], "rb") as f:
            return f.read().decode("utf-8", "replace")

    def sanitizer_reports(self):
        out = []
        for run in range(len(self.logs)):
            out += sanitizer_reports(self.log(run))
        return out

    def cleanup(self):
        """Stop (SIGTERM, so a sanitizer build checks for leaks at exit), remember the
        exit status and any sanitizer report, remove the temporary directory."""
        self.final_rc = None
        if self.proc is not None:
            try:
                self.final_rc = self.stop()
            except AssertionError:
                self.final_rc = "did not stop on SIGTERM"
        self.kill()
        self.final_reports = self.sanitizer_reports()
        self.final_log = self.log()
        if self.own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- clients
    def client(self, hello=True):
        c = Client(self.socket)
        if hello:
            resp = c.hello()
            if "result" not in resp:
                c.close()
                raise AssertionError("hello refused: %r" % resp)
        return c

    def cli(self, *args, user=None, group=None, extra_groups=None, timeout=IO_TIMEOUT,
            input=None, cwd=None):
        """Run `palisade --socket S ARGS...`; returns CompletedProcess (bytes output)."""
        cmd = [cli_path(), "--socket", self.socket] + list(args)
        kw = {}
        if user is not None:
            kw["user"] = user
            kw["group"] = group if group is not None else pwd.getpwnam(user).pw_gid
            kw["extra_groups"] = extra_groups or []
        env = dict(os.environ)
        env.pop("PALISADE_SOCKET", None)
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL if input is None else None,
                           input=input, cwd=cwd, **kw)
        reports = sanitizer_reports(p.stderr.decode("utf-8", "replace"))
        if reports:
            raise AssertionError("sanitizer report from palisade %s:\n%s"
                                 % (" ".join(args), p.stderr.decode("utf-8", "replace")))
        return p

    def cli_json(self, *args, expect_rc=0, **kw):
        """Run the CLI with --json; asserts the exit status; returns the parsed document."""
        p = self.cli(*args, "--json", **kw)
        if p.returncode != expect_rc:
            raise AssertionError("palisade %s: exit %d (want %d)\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), p.returncode, expect_rc,
                                    p.stdout.decode(errors="replace"),
                                    p.stderr.decode(errors="replace")))
        return json.loads(p.stdout)

    def keep_threats(self):
        """Set every severity's default action to NoAction (preferences), for tests that
        scan the same threat more than once: a default Quarantine would take the file away
        after the first scan. Tests that scan a threat once keep the default actions."""
        with self.client() as c:
            for sev in ("Low", "Moderate", "High", "Severe"):
                c.result("config.set", {"name": sev + "ThreatDefaultAction",
                                        "value": "NoAction"})

    def scan(self, paths, client=None, on_event=None):
        """A Custom scan through the protocol; returns (result, progress events)."""
        own = client is None
        c = client or self.client()
        try:
            rid = c.start("scan.start", {"type": "Custom", "paths": list(paths)})
            resp, events = c.wait(rid, on_event)
        finally:
            if own:
                c.close()
        if "result" not in resp:
            raise AssertionError("scan failed: %r" % resp)
        return resp["result"], events


# ---- a gate that holds the daemon's walker at one file --------------------------------------

class Gate:
    """Blocks every open() of one file until released, using a fanotify permission mark
    (FAN_OPEN_PERM), so a test can hold a scan at a known point instead of racing it: the
    walker opens each regular file before handing it on, so when the daemon's open of the
    gate file is reported, the walker is exactly there (it has already listed the
    directory), and it waits until release(). Opens by other processes (another test's
    scan of /tmp) are allowed at once. Closing the fanotify fd allows anything pending."""

    FAN_CLOEXEC = 0x1
    FAN_CLASS_CONTENT = 0x4
    FAN_MARK_ADD = 0x1
    FAN_OPEN_PERM = 0x10000
    FAN_ALLOW = 0x1
    AT_FDCWD = -100
    META = struct.Struct("IBBHQii")     # struct fanotify_event_metadata

    def __init__(self, path):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64,
                                       ctypes.c_int, ctypes.c_char_p]
        fd = libc.fanotify_init(self.FAN_CLASS_CONTENT | self.FAN_CLOEXEC,
                                os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC)
        if fd < 0:
            raise unittest.SkipTest("fanotify is not available here: %s"
                                    % os.strerror(ctypes.get_errno()))
        if libc.fanotify_mark(fd, self.FAN_MARK_ADD, self.FAN_OPEN_PERM, self.AT_FDCWD,
                              os.fsencode(path)) != 0:
            e = ctypes.get_errno()
            os.close(fd)
            raise unittest.SkipTest("fanotify_mark %s: %s" % (path, os.strerror(e)))
        self.fd = fd
        self.held = []              # event fds of the daemon's opens, answered on release

    def _answer(self, efd):
        os.write(self.fd, struct.pack("iI", efd, self.FAN_ALLOW))
        os.close(efd)

    def wait(self, pid, timeout=IO_TIMEOUT):
        """Wait until process pid opens the gate file; its open then blocks until
        release(). Returns True, or False on timeout."""
        import select
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                return False
            buf = os.read(self.fd, 4096)
            off = 0
            found = False
            while off + self.META.size <= len(buf):
                ev_len, _, _, _, _, efd, epid = self.META.unpack_from(buf, off)
                off += ev_len
                if epid == pid and not found:
                    self.held.append(efd)
                    found = True
                else:
                    self._answer(efd)
            if found:
                return True

    def release(self):
        for efd in self.held:
            self._answer(efd)
        self.held = []

    def close(self):
        if self.fd is not None:
            self.release()
            os.close(self.fd)
            self.fd = None


def wait_for(predicate, timeout=IO_TIMEOUT, interval=0.05, what="condition"):
    """Poll predicate until it returns a true value (returned); AssertionError after
    timeout. For effects of asynchronous signals (SIGHUP), not for timing."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


# ---- test base ------------------------------------------------------------------------------

class DaemonTest(unittest.TestCase):
    """A test case that gets a fresh started daemon in self.d (override daemon_kwargs)."""

    daemon_kwargs = {}
    start_daemon = True

    def setUp(self):
        self.d = Daemon(**self.daemon_kwargs)
        self.addCleanup(self.check_daemon_end)
        self.addCleanup(self.d.cleanup)
        if self.start_daemon:
            self.d.start()

    def check_daemon_end(self):
        """After every test: the daemon still running stopped cleanly on SIGTERM (exit 0;
        a sanitizer build also fails here on a leak), and no run printed a sanitizer
        report."""
        if self.d.final_reports:
            self.fail("sanitizer report from palisaded:\n" + "\n".join(self.d.final_reports))
        if self.d.final_rc not in (None, 0):
            self.fail("palisaded exited with %s at the end of the test:\n%s"
                      % (self.d.final_rc, self.d.final_log[-4000:]))

    def make_tree(self, name, files):
        """files: {relative path (str or bytes): content (bytes)}; returns the root."""
        root = self.d.path(name)
        os.makedirs(root, exist_ok=True)
        for rel, data in files.items():
            if isinstance(rel, str):
                rel = rel.encode()
            p = os.path.join(root.encode(), rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        return root


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def main():
    unittest.main(verbosity=2)
