#!/usr/bin/env python3
"""Who may talk to palisaded (PROTOCOL.md "Transport" and "Access"): the control socket is
mode 0660 with the admin group as its group, so an unprivileged user cannot even connect to
it; beside it, the read-only status socket (path + ".status", mode 0666) lets anyone call
hello and status, and nothing else, whoever they are. Behind the file modes, the daemon's
own SO_PEERCRED check gives a non-admin on the control socket hello and status only. A
member of the admin group (setting AdminGroup) may do everything.

The unprivileged user is `nobody`; its primary group `nogroup` serves as the admin group
when a test needs one. The only thing created on the system is a temporary group
`palisade-admin` (the default admin group) when it does not exist, removed afterwards."""
import grp
import json
import os
import pwd
import stat
import subprocess
import sys

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
