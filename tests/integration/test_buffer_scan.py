"""test_buffer_scan.py — scanning content that is not a file (issue 14), the way an
application or a user would: `... | palisade scan - [--name HINT]` against a real palisaded.

EICAR on standard input is found with the sandbox Enabled (the content process pulls the
bytes) and Disabled (in-process); with the sandbox Enabled and a content process that cannot
run, the same bytes are unscannable (exit 3), never scanned in the broker behind the
administrator's back. A clean buffer is exit 0. User `nobody` may ask, on the status socket.
A threat is a detection with source Buffer, path "buffer:<hint>", the caller's uid and pid,
action NoAction, and nothing in the quarantine. Per-uid limits: over BufferScanMaxPerMinute
or BufferScanMaxBytesPerMinute the caller is refused (Busy, the limit named) while another
uid is still served; content over 512 KiB is refused, by the CLI and by the daemon.
"""
import base64
import json
import os

import harness
from harness import DaemonTest
from remediation_helpers import db_rows

EICAR = harness.eicar()
EICAR_THREAT = harness.EICAR_THREAT
MAX = 512 * 1024


def need_nobody(test):
    if not harness.user_exists("nobody"):
        test.skipTest("no user nobody")


class BufferScan(DaemonTest):

    def scan_stdin(self, data, *args, **kw):
        return self.d.cli("scan", "-", *args, input=data, **kw)

    def buffer_rows(self):
        return db_rows(self.d, "SELECT source, path, chain, threat_name, action, action_result,"
                               " action_detail, scan_id FROM detections ORDER BY id")

    def test_eicar_found_sandbox_enabled_then_disabled(self):
        self.assertEqual(self.d.cli_json("status")["scan_engine"], "ContentProcess")
        p = self.scan_stdin(EICAR, "--name", "dropper.ps1")
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 1, out + p.stderr.decode())
        self.assertIn(EICAR_THREAT, out)
        self.assertIn("buffer:dropper.ps1 (68 bytes): threat", out)
        with self.d.client() as c:
            c.result("config.set", {"name": "SandboxMode", "value": "Disabled"})
        self.assertEqual(self.d.cli_json("status")["scan_engine"], "InProcess")
        doc = self.d.cli_json("scan", "-", "--name", "again", input=EICAR, expect_rc=1)
        self.assertEqual(doc["verdict"], "threat")
        self.assertEqual(doc["name"], "buffer:again")
        self.assertEqual(doc["size"], 68)
        self.assertEqual([(t["threat"], t["severity"], t["allowed"]) for t in doc["threats"]],
                         [(EICAR_THREAT, "Severe", False)])
        self.assertEqual(len(self.buffer_rows()), 2)

    def test_clean_buffer(self):
        doc = self.d.cli_json("scan", "-", input=b"Write-Host 'hello'\n")
        self.assertEqual(doc["verdict"], "clean")
        self.assertEqual(doc["threats"], [])
        self.assertEqual(doc["name"], "buffer:stdin")
        self.assertEqual(self.d.cli_json("scan", "-", input=b"")["verdict"], "clean")
        self.assertEqual(self.buffer_rows(), [])

    def test_nobody_is_served_and_recorded_without_remediation(self):
        need_nobody(self)
        status_sock = self.d.socket + ".status"
        p = self.d.cli("--socket", status_sock, "scan", "-", "--name", "x\x1b[2Jy.js",
                       input=EICAR, user="nobody")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        # on the control socket libpalisade falls back to the status socket
        p = self.scan_stdin(b"clean text", user="nobody")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rows = self.buffer_rows()
        self.assertEqual(len(rows), 1, rows)
        source, path, chain, threat, action, result, detail, scan_id = rows[0]
        self.assertEqual(source, "Buffer")
        # the hint is stored in its display form: no escape sequence reaches a terminal
        self.assertEqual(path, "buffer:x\\e[2Jy.js")
        self.assertEqual(chain, path)
        self.assertEqual(threat, EICAR_THREAT)
        self.assertEqual(action, "NoAction")
        self.assertEqual(result, "Success")
        self.assertIsNone(scan_id)
        self.assertIn("there is no file", detail)
        # the caller (SO_PEERCRED) is the detection's process (0004_rtp.sql)
        (uid, pid, exe), = db_rows(self.d, "SELECT process_uid, process_pid, process_exe "
                                           "FROM detections")
        self.assertEqual(uid, harness.pwd.getpwnam("nobody").pw_uid)
        self.assertGreater(pid, 0)
        self.assertIsNone(exe)
        with self.d.client() as c:
            self.assertEqual(c.result("quarantine.list")["items"], [])
            threats = c.result("threats.list")["items"]
        self.assertEqual([(t["threat"], t["path"]) for t in threats], [(EICAR_THREAT, path)])
        qdir = os.path.join(self.d.state_dir, "quarantine")
        self.assertEqual([n for n in os.listdir(qdir) if not n.startswith(".")]
                         if os.path.isdir(qdir) else [], [])

    def test_request_limit_per_uid(self):
        need_nobody(self)
        with self.d.client() as c:
            c.result("config.set", {"name": "BufferScanMaxPerMinute", "value": 3})
        for i in range(3):
            p = self.scan_stdin(b"ok %d" % i, user="nobody")
            self.assertEqual(p.returncode, 0, p.stderr)
        p = self.scan_stdin(EICAR, user="nobody")
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 2, err)
        self.assertIn("Busy", err)
        self.assertIn("BufferScanMaxPerMinute", err)
        self.assertEqual(self.buffer_rows(), [], "a refused buffer is not scanned")
        # another uid is still served
        p = self.scan_stdin(EICAR)
        self.assertEqual(p.returncode, 1, p.stderr)
        # the same refusal as a JSON document, as a script sees it
        p = self.d.cli_json("scan", "-", input=b"x", user="nobody", expect_rc=2)
        self.assertEqual(p["error"]["code"], "Busy")

    def test_byte_limit_per_uid(self):
        need_nobody(self)
        with self.d.client() as c:
            c.result("config.set", {"name": "BufferScanMaxBytesPerMinute", "value": 1000})
        self.assertEqual(self.scan_stdin(b"a" * 600, user="nobody").returncode, 0)
        p = self.scan_stdin(b"b" * 600, user="nobody")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"BufferScanMaxBytesPerMinute", p.stderr)
        self.assertEqual(self.scan_stdin(b"c" * 600).returncode, 0, "root has its own budget")
        self.assertEqual(self.scan_stdin(b"d" * 300, user="nobody").returncode, 0)

    def test_oversized_buffer_refused(self):
        # the CLI does not send a partial buffer
        p = self.scan_stdin(b"a" * (MAX + 1))
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"larger than the 524288 bytes", p.stderr)
        # exactly the limit is scanned
        self.assertEqual(self.d.cli_json("scan", "-", input=b"a" * MAX)["size"], MAX)
        # the daemon refuses more from a client that sends it anyway
        with self.d.client() as c:
            r = c.call("scan.buffer",
                       {"content_b64": base64.b64encode(b"a" * (MAX + 1)).decode()})
            self.assertEqual(r["error"]["code"], "InvalidValue")
            self.assertIn("524288", r["error"]["message"])
            r = c.call("scan.buffer", {"content_b64": "not base64!"})
            self.assertEqual(r["error"]["code"], "InvalidValue")
            r = c.call("scan.buffer", {"content_b64": "", "name": "n" * 256})
            self.assertEqual(r["error"]["code"], "InvalidValue")
            r = c.call("scan.buffer", {"content": "x"})
            self.assertEqual(r["error"]["code"], "BadRequest")


class BufferScanAllowed(DaemonTest):
    """An allowed threat is reported and recorded (action Allow) but does not count, as in a
    file scan: the verdict is clean and the exit status 0."""

    def test_allowed_threat_does_not_count(self):
        p = self.d.cli("allow", "add", "--threat", EICAR_THREAT)
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = self.d.cli_json("scan", "-", "--name", "ok", input=EICAR)
        self.assertEqual(doc["verdict"], "clean")
        self.assertEqual([(t["threat"], t["allowed"]) for t in doc["threats"]],
                         [(EICAR_THREAT, True)])
        p = self.d.cli("scan", "-", input=EICAR)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.decode(), EICAR_THREAT.replace("/", ".") + r".*Allow")
        rows = db_rows(self.d, "SELECT source, action FROM detections")
        self.assertEqual(rows, [("Buffer", "Allow")] * 2)


class BufferScanContentProcessUnusable(DaemonTest):
    """The sandbox Enabled and a content process that cannot run: the buffer is unscannable
    (exit 3), so it was not parsed in the root broker instead."""

    start_daemon = False

    def setUp(self):
        super().setUp()
        self.d.extra_args = ["--content-process", "/bin/false"]
        self.d.write_policy("10-test.json", {"SandboxMode": "Enabled"})
        self.d.start()

    def test_unscannable_not_bypassed(self):
        p = self.d.cli("scan", "-", input=EICAR)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn(b"unscannable", p.stdout)
        doc = self.d.cli_json("scan", "-", input=EICAR, expect_rc=3)
        self.assertEqual(doc["verdict"], "unscannable")
        self.assertEqual(doc["threats"], [])
        self.assertIsNotNone(doc["reason"])


if __name__ == "__main__":
    harness.main()
