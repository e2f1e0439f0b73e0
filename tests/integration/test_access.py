#!/usr/bin/env python3
"""Who may talk to palisaded (PROTOCOL.md "Transport" and "Access"): the control socket is
mode 0660 with the admin group as its group, so an unprivileged user cannot even connect to
it; beside it, the read-only status socket (path + ".status", mode 0666) lets anyone call
hello and status, and nothing else, whoever they are. Behind the file modes, the daemon's
own SO_PEERCRED check gives a non-admin on the control socket hello and status only. A
member of the admin group (setting AdminGroup) may do everything.

The sockets under abuse (PROTOCOL.md "Limits"): one user holding every connection it can
to the status socket is capped per uid while other users are served, and its idle
connections are closed; a user taken out of the admin group is refused on the connection it
opened as a member; a flood of malformed frames is rate-limited in the log and summarised.

The unprivileged user is `nobody`; its primary group `nogroup` serves as the admin group
when a test needs one. Created on the system, and removed afterwards: a group
`palisade-admin` (the default admin group) when it does not exist, and for the abuse tests
throw-away system users and groups named pal10<letter><pid> (useradd/groupadd)."""
import grp
import json
import os
import pwd
import re
import select
import stat
import subprocess
import sys
import tarfile
import time

import harness
from harness import DaemonTest

USER = "nobody"
HERE = os.path.dirname(os.path.abspath(__file__))


def world_executable(path):
    """Whether any user can run path: o+x on the file and on every directory above it."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & stat.S_IXOTH:
        return False
    d = os.path.dirname(path)
    while True:
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


def python_for_others():
    """A Python 3 interpreter an unprivileged user can run (the running one may live in
    root's home)."""
    for cand in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if cand and os.path.exists(cand) and world_executable(cand):
            return cand
    raise harness.unittest.SkipTest("no Python interpreter that %s can run" % USER)


def run_as(user, ops, sock):
    """Run ops [(op, args)] on one connection as user, in a child process; returns the list
    of responses, or {"connect_error": errno} when the socket refused the connection."""
    code = (
        "import errno, json, sys, harness\n"
        "ops = json.loads(sys.argv[1])\n"
        "try:\n"
        "    c = harness.Client(sys.argv[2])\n"
        "except OSError as e:\n"
        "    print(json.dumps({'connect_error': e.errno})); sys.exit(0)\n"
        "out = [c.hello()]\n"
        "for op, args in ops:\n"
        "    out.append(c.call(op, args))\n"
        "print(json.dumps(out))\n")
    pw = pwd.getpwnam(user)
    p = subprocess.run([python_for_others(), "-c", code, json.dumps(ops), sock],
                       capture_output=True, timeout=harness.IO_TIMEOUT, user=pw.pw_uid,
                       group=pw.pw_gid, extra_groups=[],
                       env={"PYTHONPATH": HERE, "PATH": os.environ.get("PATH", "/usr/bin")},
                       cwd="/")
    if p.returncode != 0:
        raise AssertionError("client as %s failed: %s" % (user, p.stderr.decode()))
    return json.loads(p.stdout)


class Access(DaemonTest):

    def setUp(self):
        if not harness.user_exists(USER):
            self.skipTest("no user %s" % USER)
        super().setUp()
        self.tree = self.make_tree("tree", {"eicar.com": harness.eicar(),
                                            "readme.txt": b"clean\n"})
        self.nobody = pwd.getpwnam(USER)

    def widen_socket(self):
        # Past the file-mode barrier on purpose, to reach the daemon's own check.
        os.chmod(self.d.socket, 0o666)

    def denied_ops(self):
        return [("scan.start", {"type": "Custom", "paths": [self.tree]}),
                ("scan.start", {"type": "Quick"}),
                ("scans.list", {}), ("threats.list", {}),
                ("config.list", {}), ("config.get", {"name": "SandboxMode"}),
                ("config.set", {"name": "SandboxMode", "value": "Disabled"}),
                ("exclusion.list", {}), ("exclusion.add", {"kind": "Path", "value": "/"}),
                ("cancel", {"target": 1})]

    def assert_nothing_done(self):
        with self.d.client() as c:
            self.assertEqual(c.result("scans.list")["items"], [])
            self.assertEqual(c.result("config.get", {"name": "SandboxMode"})["source"],
                             "Default")
            self.assertEqual(c.result("exclusion.list")["items"], [])

    def test_control_socket_is_0660_and_refuses_other_users(self):
        st = os.stat(self.d.socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_uid, 0)
        out = run_as(USER, [], self.d.socket)
        self.assertEqual(out, {"connect_error": 13})         # EACCES

    def test_status_socket_serves_status_only_to_everyone(self):
        status_sock = self.d.socket + ".status"
        st = os.stat(status_sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o666)
        denied = self.denied_ops()
        out = run_as(USER, [("status", {})] + denied, status_sock)
        self.assertIs(out[0]["result"]["admin"], False)
        self.assertEqual(out[1]["result"]["agent_version"], "0.1.0")
        for (op, _), resp in zip(denied, out[2:]):
            with self.subTest(op):
                self.assertEqual(resp["error"]["code"], "AccessDenied", resp)
        # read-only for root as well: the socket, not the peer, decides there
        with harness.Client(status_sock) as c:
            self.assertIs(c.hello()["result"]["admin"], False)
            resp = c.call("scan.start", {"type": "Custom", "paths": [self.tree]})
            self.assertEqual(resp["error"]["code"], "AccessDenied")
            resp = c.call("config.set", {"name": "SandboxMode", "value": "Disabled"})
            self.assertEqual(resp["error"]["code"], "AccessDenied")
        self.assert_nothing_done()

    def test_non_admin_on_the_control_socket_may_call_status_only(self):
        self.widen_socket()
        denied = self.denied_ops()
        out = run_as(USER, [("status", {})] + denied, self.d.socket)
        hello, status, rest = out[0], out[1], out[2:]
        self.assertEqual(hello["result"]["uid"], self.nobody.pw_uid)
        self.assertIs(hello["result"]["admin"], False)
        self.assertEqual(status["result"]["agent_version"], "0.1.0")
        for (op, _), resp in zip(denied, rest):
            with self.subTest(op):
                self.assertEqual(resp["error"]["code"], "AccessDenied", resp)
                self.assertIn("palisade-admin", resp["error"]["message"])
        self.assert_nothing_done()

    def test_non_admin_cli_status_works_and_scan_is_denied(self):
        # the CLI is refused by the control socket and falls back to the status socket
        st = self.d.cli_json("status", user=USER)
        self.assertEqual(st["agent_version"], "0.1.0")
        p = self.d.cli("scan", self.tree, user=USER)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"AccessDenied", p.stderr)
        p = self.d.cli("sandbox", "disable", user=USER)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"AccessDenied", p.stderr)
        self.assert_nothing_done()

    def test_admin_group_member_may_scan(self):
        group = grp.getgrgid(self.nobody.pw_gid).gr_name
        r = self.d.cli_json("config", "set", "AdminGroup", group)
        self.assertEqual(r["value"], group)
        # the socket follows the setting: group-accessible to the admin group only
        st = os.stat(self.d.socket)
        self.assertEqual(st.st_gid, self.nobody.pw_gid)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        out = run_as(USER, [("config.get", {"name": "AdminGroup"})], self.d.socket)
        self.assertIs(out[0]["result"]["admin"], True)
        self.assertEqual(out[1]["result"]["value"], group)
        doc = self.d.cli_json("scan", self.tree, user=USER, expect_rc=1)
        self.assertEqual([t["threat"] for t in doc["threats"]], [harness.EICAR_THREAT])
        # the rights follow the setting: with the group taken away, nobody is refused
        # again (by the socket's mode or, if it can still connect, by the daemon)
        code = self.d.cli("config", "set", "AdminGroup", "palisade-admin").returncode
        self.assertEqual(code, 0)
        out = run_as(USER, [("scans.list", {})], self.d.socket)
        if out != {"connect_error": 13}:
            self.assertIs(out[0]["result"]["admin"], False)
            self.assertEqual(out[1]["error"]["code"], "AccessDenied")

    def test_admin_group_survives_restart_and_sets_socket_group(self):
        group = grp.getgrgid(self.nobody.pw_gid).gr_name
        self.d.cli_json("config", "set", "AdminGroup", group)
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        self.assertEqual(os.stat(self.d.socket).st_gid, self.nobody.pw_gid)
        out = run_as(USER, [], self.d.socket)
        self.assertIs(out[0]["result"]["admin"], True)


# ---- the sockets under abuse (issue 10) -----------------------------------------------------

# A client that runs as another user and takes orders on stdin, one JSON line each, so that a
# test can hold connections open as that user while it acts as root (or as a third user).
AGENT_SCRIPT = r"""
import json, socket, struct, sys
import harness

conns = {}


def out(x):
    sys.stdout.write(json.dumps(x) + "\n")
    sys.stdout.flush()


def first_message(c):
    try:
        return c.recv()
    except (harness.ProtocolClosed, OSError) as e:
        return {"closed": str(e)}


def garbage(path, n):
    # One malformed frame per connection (the daemon closes after a ProtocolError), read
    # what the daemon answers, count the answers by error code.
    counts = {}
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        try:
            s.connect(path)
            try:
                s.sendall(b"\x00\x00\x00\x03[1]")
            except OSError:
                pass
            buf = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            code = "closed"
            if len(buf) >= 4:
                (k,) = struct.unpack(">I", buf[:4])
                code = json.loads(buf[4:4 + k])["error"]["code"]
        except OSError as e:
            code = "oserror %d" % e.errno
        finally:
            s.close()
        counts[code] = counts.get(code, 0) + 1
    return counts


for line in sys.stdin:
    cmd = json.loads(line)
    k = cmd["cmd"]
    if k == "open":
        # n connections to path, each says hello; those answered stay open under tag
        res = []
        for _ in range(cmd["n"]):
            try:
                c = harness.Client(cmd["path"])
            except OSError as e:
                res.append({"connect_error": e.errno})
                continue
            try:
                c.send({"id": 0, "op": "hello",
                        "args": {"protocol": 1, "client": "abuse-test/1"}})
            except OSError:
                pass            # refused: the answer is waiting unread
            m = first_message(c)
            if "result" in m:
                conns.setdefault(cmd["tag"], []).append(c)
            else:
                c.close()
            res.append(m)
        out(res)
    elif k == "call":
        out(conns[cmd["tag"]][0].call(cmd["op"], cmd.get("args")))
    elif k == "drain":
        # what the daemon sends each connection of tag unasked, and whether it then closes
        res = []
        for c in conns.pop(cmd["tag"], []):
            m = first_message(c)
            res.append({"msg": m, "eof": c.at_eof()})
            c.close()
        out(res)
    elif k == "garbage":
        out(garbage(cmd["path"], cmd["n"]))
"""


class Agent:
    """A client process running as user (with extra_groups as its supplementary groups, as
    a login session would have them) that holds connections and runs orders."""

    def __init__(self, test, user, extra_groups=()):
        pw = pwd.getpwnam(user)
        self.p = subprocess.Popen(
            [python_for_others(), "-c", AGENT_SCRIPT], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, user=pw.pw_uid, group=pw.pw_gid,
            extra_groups=list(extra_groups),
            env={"PYTHONPATH": HERE, "PATH": os.environ.get("PATH", "/usr/bin")}, cwd="/")
        test.addCleanup(self.close)

    def send(self, **cmd):
        self.p.stdin.write((json.dumps(cmd) + "\n").encode())
        self.p.stdin.flush()

    def answer(self, timeout=300):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise AssertionError("the client process did not answer in %d s" % timeout)
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError("the client process died: %s" % self.p.stderr.read().decode())
        return json.loads(line)

    def do(self, **cmd):
        self.send(**cmd)
        return self.answer()

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


def make_user(test, prefix):
    """A throw-away system user (no home, no shell), deleted after the test."""
    name = "%s%d" % (prefix, os.getpid() % 100000)
    r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", "--user-group", name], capture_output=True)
    if r.returncode != 0:
        test.skipTest("cannot create user %s: %s" % (name, r.stderr.decode()))
    test.addCleanup(subprocess.run, ["userdel", name], capture_output=True)
    return name


def make_group(test, prefix):
    name = "%s%d" % (prefix, os.getpid() % 100000)
    r = subprocess.run(["groupadd", "--system", name], capture_output=True)
    if r.returncode != 0:
        test.skipTest("cannot create group %s: %s" % (name, r.stderr.decode()))
    test.addCleanup(subprocess.run, ["groupdel", name], capture_output=True)
    return name


def error_code(m):
    return m.get("error", {}).get("code")


class ConnectionFlood(DaemonTest):
    """One user holding connections to the status socket must not lock out the others
    (PROTOCOL.md "Limits"): per-uid cap, idle timeout after hello."""

    IDLE_S = 10         # short, so that the test sees the daemon close idle connections
    PER_USER = 16
    daemon_kwargs = {"policy": {"idle.json": {"ClientIdleTimeoutSeconds": IDLE_S}}}

    def setUp(self):
        if not harness.user_exists(USER):
            self.skipTest("no user %s" % USER)
        super().setUp()
        self.status_sock = self.d.socket + ".status"
        self.other = make_user(self, "pal10s")

    def test_one_user_flooding_the_status_socket_leaves_others_served(self):
        flooder = Agent(self, USER)
        res = flooder.do(cmd="open", path=self.status_sock, n=140, tag="flood")
        held = [m for m in res if "result" in m]
        refused = [m for m in res if "result" not in m]
        self.assertEqual(len(held), self.PER_USER, res[:3])
        self.assertEqual(len(refused), 140 - self.PER_USER)
        for m in refused:
            self.assertEqual(error_code(m), "Busy", m)
            self.assertIn("per-user limit is %d" % self.PER_USER, m["error"]["message"])
            self.assertIn("uid %d" % pwd.getpwnam(USER).pw_uid, m["error"]["message"])

        # While nobody holds its 16: root and another unprivileged user are served.
        with harness.Client(self.status_sock) as c:
            self.assertIn("result", c.hello())
            self.assertEqual(c.result("status")["agent_version"], "0.1.0")
        out = run_as(self.other, [("status", {})], self.status_sock)
        self.assertIs(out[0]["result"]["admin"], False)
        self.assertEqual(out[1]["result"]["agent_version"], "0.1.0")
        # ... and the CLI, which is what the other user would really run
        st = self.d.cli_json("status", user=self.other)
        self.assertEqual(st["agent_version"], "0.1.0")
        # nobody is still held at its limit (so the above was served beside a full flood)
        again = flooder.do(cmd="open", path=self.status_sock, n=1, tag="late")
        self.assertEqual(error_code(again[0]), "Busy", again)

        # The daemon closes the idle connections by itself (Busy naming the idle timeout).
        closed = flooder.do(cmd="drain", tag="flood")
        self.assertEqual(len(closed), self.PER_USER)
        for c in closed:
            self.assertEqual(error_code(c["msg"]), "Busy", c)
            self.assertIn("idle timeout", c["msg"]["error"]["message"])
            self.assertTrue(c["eof"], c)
        # Their slots are free again.
        res = flooder.do(cmd="open", path=self.status_sock, n=1, tag="after")
        self.assertIn("result", res[0], res)
        print("\nflood: %d connections tried, %d held, %d refused (per-user limit), "
              "%d closed after the %d s idle timeout"
              % (140, len(held), len(refused), len(closed), self.IDLE_S), file=sys.stderr)


class AdminRemoval(DaemonTest):
    """Rights follow the group database on every request: a user taken out of the admin
    group is refused on the connection it opened while it was a member."""

    def test_removed_member_is_denied_on_the_same_connection(self):
        user = make_user(self, "pal10a")
        group = make_group(self, "pal10g")
        self.d.cli_json("config", "set", "AdminGroup", group)
        r = subprocess.run(["gpasswd", "-a", user, group], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        gid = grp.getgrnam(group).gr_gid
        # The user's session has the group (it passes the socket's 0660 mode with it).
        admin = Agent(self, user, extra_groups=[gid])
        hello = admin.do(cmd="open", path=self.d.socket, n=1, tag="c")
        self.assertIs(hello[0]["result"]["admin"], True, hello)
        ok = admin.do(cmd="call", tag="c", op="config.get", args={"name": "SandboxMode"})
        self.assertEqual(ok["result"]["name"], "SandboxMode", ok)

        # The administrator takes the user out of the group. The process keeps the
        # supplementary gid it was started with; the daemon goes by the database.
        r = subprocess.run(["gpasswd", "-d", user, group], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        denied = admin.do(cmd="call", tag="c", op="config.get", args={"name": "SandboxMode"})
        self.assertEqual(error_code(denied), "AccessDenied", denied)
        self.assertIn(group, denied["error"]["message"])
        denied = admin.do(cmd="call", tag="c", op="config.set",
                          args={"name": "SandboxMode", "value": "Disabled"})
        self.assertEqual(error_code(denied), "AccessDenied", denied)
        st = admin.do(cmd="call", tag="c", op="status")
        self.assertIn("result", st)              # status stays open to everyone
        self.assertEqual(self.d.cli_json("config", "get", "SandboxMode")["source"], "Default")

        # Put back: the rights return on the same connection, again without a reconnect.
        r = subprocess.run(["gpasswd", "-a", user, group], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        ok = admin.do(cmd="call", tag="c", op="config.get", args={"name": "SandboxMode"})
        self.assertIn("result", ok, ok)

    def test_primary_group_counts_and_its_change_takes_effect(self):
        user = make_user(self, "pal10p")
        own = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name   # --user-group: its own
        self.d.cli_json("config", "set", "AdminGroup", own)
        admin = Agent(self, user)
        hello = admin.do(cmd="open", path=self.d.socket, n=1, tag="c")
        self.assertIs(hello[0]["result"]["admin"], True, hello)
        other = make_group(self, "pal10q")
        r = subprocess.run(["usermod", "-g", other, user], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        denied = admin.do(cmd="call", tag="c", op="config.get", args={"name": "SandboxMode"})
        self.assertEqual(error_code(denied), "AccessDenied", denied)
        r = subprocess.run(["usermod", "-g", own, user], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)


class LogFlood(DaemonTest):
    """46,000 malformed frames from one user leave a bounded number of lines in the
    daemon's log plus summaries, and the diagnostics ring keeps everything else."""

    TOTAL = 46000
    WORKERS = 4
    BURST = 10                  # lines per uid per window (control.c)

    def setUp(self):
        if not harness.user_exists(USER):
            self.skipTest("no user %s" % USER)
        super().setUp()

    def peer_lines(self, text, uid):
        lines = [l for l in text.splitlines() if "control:" in l and "uid %d" % uid in l]
        single = [l for l in lines if "suppressed" not in l]
        suppressed = sum(int(re.search(r"suppressed (\d+) ", l).group(1))
                         for l in lines if "suppressed" in l)
        summaries = [l for l in lines if "suppressed" in l]
        return single, summaries, suppressed

    def test_protocol_error_flood_is_rate_limited_and_summarised(self):
        status_sock = self.d.socket + ".status"
        uid = pwd.getpwnam(USER).pw_uid
        agents = [Agent(self, USER) for _ in range(self.WORKERS)]
        t0 = time.monotonic()
        for a in agents:
            a.send(cmd="garbage", path=status_sock, n=self.TOTAL // self.WORKERS)
        counts = {}
        for a in agents:
            for k, v in a.answer(timeout=600).items():
                counts[k] = counts.get(k, 0) + v
        flood_s = time.monotonic() - t0
        self.assertEqual(sum(counts.values()), self.TOTAL)
        # every connection was answered: ProtocolError, or Busy when over the per-user cap
        self.assertEqual(set(counts) - {"ProtocolError", "Busy"}, set(), counts)
        self.assertGreater(counts.get("ProtocolError", 0), self.TOTAL // 2, counts)

        # An administrator's action after the flood, which logs a line.
        with self.d.client() as c:
            c.result("config.set", {"name": "QuarantineRetentionDays", "value": 91})

        # Each connection was one line's worth; every one is either logged or counted in a
        # summary (the last summary comes when its 5 s window ends).
        seen = []

        def accounted():
            single, summaries, suppressed = self.peer_lines(self.d.log(), uid)
            seen[:] = [len(single), len(summaries), suppressed]
            return len(single) + suppressed == self.TOTAL and (single, summaries, suppressed)
        try:
            single, summaries, suppressed = harness.wait_for(
                accounted, timeout=60, what="every flood line logged or summarised")
        except AssertionError:
            self.fail("after the flood of %d (%s, %.1f s): %d lines, %d summaries of %d "
                      "suppressed; log tail:\n%s" % (self.TOTAL, counts, flood_s, seen[0],
                                                     seen[1], seen[2], self.d.log()[-3000:]))
        self.assertGreaterEqual(len(summaries), 1)
        # at most one burst per window, and a window has a summary unless it is the last
        self.assertLessEqual(len(single), self.BURST * (len(summaries) + 1))
        self.assertLess(len(single), self.TOTAL // 100)

        # The diagnostics ring (256 lines) still has the start-up line and the action.
        with self.d.client() as c:
            bundle = c.result("diagnostics")
        with tarfile.open(bundle["path"]) as tf:
            member = [m for m in tf.getmembers() if m.name.endswith("/daemon.log")][0]
            ring = tf.extractfile(member).read().decode()
        self.assertIn("ready on", ring)
        self.assertIn("setting QuarantineRetentionDays is now in force", ring)
        in_ring = [l for l in ring.splitlines() if "control:" in l and "uid %d" % uid in l]
        self.assertLessEqual(len(in_ring), self.BURST * (len(summaries) + 1) + len(summaries))
        print("\nlog flood: %d malformed frames in %.1f s (%s); %d lines logged for uid %d, "
              "%d suppressed in %d summaries; %d ring lines about it"
              % (self.TOTAL, flood_s, counts, len(single), uid, suppressed, len(summaries),
                 len(in_ring)), file=sys.stderr)


class DefaultAdminGroup(DaemonTest):
    """The default admin group, palisade-admin, becomes the socket's group when it exists."""

    start_daemon = False

    def test_default_group_owns_the_socket(self):
        if not harness.group_exists("palisade-admin"):
            r = subprocess.run(["groupadd", "--system", "palisade-admin"],
                               capture_output=True)
            if r.returncode != 0:
                self.skipTest("cannot create group palisade-admin: %s" % r.stderr.decode())
            self.addCleanup(subprocess.run, ["groupdel", "palisade-admin"],
                            capture_output=True)
        gid = grp.getgrnam("palisade-admin").gr_gid
        self.d.start()
        st = os.stat(self.d.socket)
        self.assertEqual(st.st_gid, gid)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)


if __name__ == "__main__":
    harness.main()
