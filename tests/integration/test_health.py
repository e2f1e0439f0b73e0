#!/usr/bin/env python3
"""Status that answers "is this machine protected?": the palisade CLI and the status op of
a real palisaded report signature_age_days, last_quick_scan, last_full_scan,
real_time_protection and health_issues [{id, reason}]. A fresh daemon has never had a Full
scan; a Custom scan is neither Quick nor Full; a cancelled Full scan is shown but does not
count as one; a Completed Full scan in the history clears the issue until it is 30 days
old; a package built 10 days ago is outdated under SignatureOutdatedDays 7 and not under
30; an immutable EICAR file that cannot be quarantined is an UnremediatedThreats issue
until dealt with; no package, a bad policy and a content process that cannot run are
issues too. `degraded` keeps its old meaning.

Needs chattr (e2fsprogs) and a file system with the immutable attribute (ext4, as CI's)."""
import datetime
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time

import harness
from harness import DaemonTest

EICAR = harness.eicar()
DAY = 86400

NO_ACTION = {"10-no-action.json": {
    "LowThreatDefaultAction": "NoAction", "ModerateThreatDefaultAction": "NoAction",
    "HighThreatDefaultAction": "NoAction", "SevereThreatDefaultAction": "NoAction"}}


def ids(st):
    return [i["id"] for i in st["health_issues"]]


def reason(st, issue_id):
    found = [i["reason"] for i in st["health_issues"] if i["id"] == issue_id]
    return found[0] if found else None


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def chattr(flag, path):
    subprocess.run(["chattr", flag, path], check=True, capture_output=True)


def build_package(out, created):
    """The starter set signed with the build's key, stamped as created at `created`."""
    src = os.path.join(harness.source_dir(), "signatures")
    tmp = tempfile.mkdtemp(prefix="pal-health.")
    try:
        for name in os.listdir(src):
            if name.endswith((".tsv", ".yar")):
                shutil.copy(os.path.join(src, name), tmp)
        subprocess.run([harness.env_path("PAL_SIGTOOL"), "build", tmp, "--key",
                        harness.env_path("PAL_SIGNING_KEY"), "--version", "5", "--created",
                        str(int(created)), "--out", out], check=True, capture_output=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


class Fresh(DaemonTest):

    def test_fresh_daemon_reports_never_a_full_scan(self):
        st = self.d.cli_json("status")
        # the harness switches real-time protection off through palisaded's environment
        self.assertEqual(ids(st), ["NoRecentFullScan", "RealTimeProtectionDisabled"],
                         st["health_issues"])
        self.assertEqual(reason(st, "NoRecentFullScan"), "no Full scan has ever completed")
        self.assertIsNone(st["last_quick_scan"])
        self.assertIsNone(st["last_full_scan"])
        rtp_env = ("disabled by the environment variable "
                   "PALISADE_FORCE_REAL_TIME_PROTECTION=0 of palisaded")
        self.assertEqual(st["real_time_protection"], "Disabled")
        self.assertEqual(st["real_time_protection_reason"], rtp_env)
        self.assertIsNone(st["real_time_protection_stats"])
        self.assertEqual(reason(st, "RealTimeProtectionDisabled"),
                         "real-time protection is off: " + rtp_env)
        age = int((time.time() - parse_time(st["signature_created"])) // DAY)
        self.assertIn(st["signature_age_days"], (age, max(age - 1, 0)))
        # degraded keeps its meaning: nothing is wrong with the agent itself
        self.assertEqual(st["degraded"], [])
        out = self.d.cli("status").stdout.decode()
        self.assertRegex(out, r"(?m)^health_issues:\s+NoRecentFullScan: no Full scan has ever "
                              r"completed; RealTimeProtectionDisabled: real-time protection is "
                              r"off: disabled by the environment variable .*$")
        self.assertRegex(out, r"(?m)^last_quick_scan:\s+none$")
        self.assertRegex(out, r"(?m)^last_full_scan:\s+none$")
        self.assertRegex(out, r"(?m)^real_time_protection:\s+Disabled$")
        # any local user reads it, on the status socket
        p = self.d.cli("status", "--json", user="nobody")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"NoRecentFullScan", p.stdout)

    def test_setting_has_its_default_and_range(self):
        doc = self.d.cli_json("config", "get", "SignatureOutdatedDays")
        self.assertEqual(doc["value"], 7, doc)
        p = self.d.cli("config", "set", "SignatureOutdatedDays", "0")
        self.assertNotEqual(p.returncode, 0)


class Scans(DaemonTest):
    """Quick and Full walk the real system: the daemon takes no action (other tests' EICAR
    files may lie in /tmp) and the scans are cancelled after a few files."""

    daemon_kwargs = {"policy": NO_ACTION}

    def run_then_cancel(self, scan_type, files_before_cancel):
        with self.d.client() as c:
            rid = c.start("scan.start", {"type": scan_type})
            named = 0
            cancelled = False
            while True:
                m = c.recv()
                if m.get("id") == rid and "event" in m:
                    named += bool(m["data"].get("current_path"))
                    if not cancelled and named >= files_before_cancel:
                        c.send({"id": 99, "op": "cancel", "args": {"target": rid}})
                        cancelled = True
                    continue
                if m.get("id") == rid:
                    self.assertIn("result", m, m)
                    return m["result"]

    def test_custom_is_neither_quick_nor_full_and_quick_is_recorded(self):
        root = self.make_tree("tree", {"a.txt": b"hello\n"})
        self.d.cli_json("scan", root)
        st = self.d.cli_json("status")
        self.assertEqual(st["last_scan"]["type"], "Custom")
        self.assertIsNone(st["last_quick_scan"])
        self.assertIsNone(st["last_full_scan"])

        res = self.run_then_cancel("Quick", 5)
        st = self.d.cli_json("status")
        q = st["last_quick_scan"]
        self.assertIsNotNone(q)
        self.assertEqual(q["scan_id"], res["scan_id"])
        self.assertEqual(q["status"], res["status"])
        self.assertIn(q["status"], ("Completed", "Cancelled"))
        # the history's times, stamped apart from the result's: the same to within a second
        for k in ("start_time", "end_time"):
            self.assertLess(abs(parse_time(q[k]) - parse_time(res[k])), 1.0, (q, res))
        self.assertIsNone(st["last_full_scan"])
        out = self.d.cli("status").stdout.decode()
        self.assertRegex(out, r"(?m)^last_quick_scan:\s+Quick scan %d: %s, started "
                         % (res["scan_id"], q["status"]))

        # a cancelled Full scan is shown, but it did not examine the machine
        res = self.run_then_cancel("Full", 5)
        self.assertEqual(res["status"], "Cancelled")
        st = self.d.cli_json("status")
        self.assertEqual(st["last_full_scan"]["scan_id"], res["scan_id"])
        self.assertEqual(st["last_full_scan"]["status"], "Cancelled")
        self.assertEqual(st["last_quick_scan"]["scan_id"], q["scan_id"])
        self.assertEqual(reason(st, "NoRecentFullScan"), "no Full scan has ever completed")

    def test_completed_full_scan_clears_the_issue_for_30_days(self):
        # A Full scan of the whole machine takes too long for a test: its record is written
        # into the history of the stopped daemon, as one 2 and then 31 days old.
        db = os.path.join(self.d.state_dir, "palisade.db")
        now_ms = int(time.time() * 1000)

        def put_full_scan(days_ago):
            self.d.stop()
            con = sqlite3.connect(db, timeout=30)
            try:
                con.execute("DELETE FROM scans WHERE type = 'Full'")
                con.execute("INSERT INTO scans (id, type, paths, started_at, ended_at, files, "
                            "outcome, started_by) VALUES (500, 'Full', '[\"/\"]', ?, ?, 1000, "
                            "'Completed', 0)",
                            (now_ms - days_ago * DAY * 1000 - 3600_000,
                             now_ms - days_ago * DAY * 1000))
                con.commit()
            finally:
                con.close()
            self.d.start()
            return self.d.cli_json("status")

        st = put_full_scan(2)
        self.assertNotIn("NoRecentFullScan", ids(st), st["health_issues"])
        self.assertEqual(st["last_full_scan"]["scan_id"], 500)
        self.assertEqual(st["last_full_scan"]["status"], "Completed")
        # nothing but real-time protection, which the harness switched off
        self.assertEqual(ids(st), ["RealTimeProtectionDisabled"], st["health_issues"])
        self.assertRegex(self.d.cli("status").stdout.decode(),
                         r"(?m)^health_issues:\s+RealTimeProtectionDisabled: [^;]*$")

        st = put_full_scan(31)
        self.assertEqual(reason(st, "NoRecentFullScan"),
                         "no Full scan has completed in the last 30 days (the last, scan 500, "
                         "ended 31 days ago)")


class OldPackage(DaemonTest):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.created = int(time.time()) - 10 * DAY - 600
        pkg = build_package(self.d.path("old.sig"), self.created)
        self.d.defs = False
        self.d.extra_args = ["--defs", pkg]
        self.d.start()

    def test_package_older_than_the_setting_is_outdated(self):
        st = self.d.cli_json("status")
        self.assertEqual(st["signature_version"], 5)
        self.assertEqual(st["signature_age_days"], 10)
        self.assertEqual(reason(st, "SignaturesOutdated"),
                         "the signature package in force (version 5) is 10 days old, more than "
                         "SignatureOutdatedDays (7)")
        self.assertEqual(st["degraded"], [])
        self.assertIn("SignaturesOutdated: the signature package in force",
                      self.d.cli("status").stdout.decode())
        self.d.cli_json("config", "set", "SignatureOutdatedDays", "30")
        self.assertNotIn("SignaturesOutdated", ids(self.d.cli_json("status")))
        self.d.cli_json("config", "set", "SignatureOutdatedDays", "10")  # 10 days is not > 10
        self.assertNotIn("SignaturesOutdated", ids(self.d.cli_json("status")))
        self.d.cli_json("config", "set", "SignatureOutdatedDays", "9")
        self.assertIn("SignaturesOutdated", ids(self.d.cli_json("status")))
        # locked by policy like every setting
        self.d.write_policy("20-sig.json", {"SignatureOutdatedDays": 60})
        self.d.signal(__import__("signal").SIGHUP)
        harness.wait_for(lambda: "SignaturesOutdated" not in ids(self.d.cli_json("status")),
                         what="the policy's SignatureOutdatedDays in force")


class NoPackage(DaemonTest):
    daemon_kwargs = {"defs": False}

    def test_no_package_is_an_issue(self):
        st = self.d.cli_json("status")
        self.assertIsNone(st["signature_age_days"])
        r = reason(st, "NoSignaturePackage")
        self.assertIsNotNone(r, st["health_issues"])
        self.assertTrue(r.startswith("no signature package in force: "), r)


class BadPolicy(DaemonTest):
    start_daemon = False

    def test_policy_error_is_an_issue(self):
        self.d.write_policy("10-bad.json", None, raw="{ not json")
        self.d.start()
        st = self.d.cli_json("status")
        self.assertIsNotNone(st["policy_error"])
        self.assertEqual(reason(st, "PolicyError"), "policy not applied: " + st["policy_error"])


class ContentProcess(DaemonTest):
    start_daemon = False

    def test_content_process_that_cannot_run_is_an_issue(self):
        self.d.extra_args = ["--content-process", "/bin/false"]
        self.d.write_policy("10-test.json", {"SandboxMode": "Enabled"})
        self.d.start()
        root = self.make_tree("tree", {"a.txt": b"x\n"})
        self.d.cli("scan", root)
        st = harness.wait_for(
            lambda: (lambda s: s if s["degraded"] else None)(self.d.cli_json("status")),
            what="the content process reported degraded")
        cp = [i for i in st["health_issues"] if i["id"].startswith("ContentProcess")]
        self.assertTrue(cp, st)
        for i in cp:
            self.assertIn(i["reason"], st["degraded"])


class Unremediated(DaemonTest):

    def test_immutable_eicar_is_an_unremediated_issue_until_dealt_with(self):
        root = self.make_tree("tree", {"eicar.com": EICAR})
        path = os.path.join(root, "eicar.com")
        chattr("+i", path)
        self.addCleanup(lambda: os.path.exists(path) and chattr("-i", path))
        self.d.cli_json("scan", root, expect_rc=1)
        self.assertTrue(os.path.exists(path))
        st = self.d.cli_json("status")
        self.assertEqual(st["unremediated_threats"], 1)
        self.assertEqual(reason(st, "UnremediatedThreats"),
                         "1 detected threat could not be quarantined or removed and is still "
                         "in place")
        self.assertRegex(self.d.cli("status").stdout.decode(),
                         r"(?m)^health_issues:.*UnremediatedThreats: 1 detected threat")
        chattr("-i", path)
        self.d.cli_json("scan", root, expect_rc=1)
        self.assertNotIn("UnremediatedThreats", ids(self.d.cli_json("status")))


if __name__ == "__main__":
    harness.main()
