#!/usr/bin/env python3
"""test_cli_rtp.py — the administrator's real-time protection commands of the palisade CLI
(`palisade rtp status|stats|enable|disable`, the real-time lines of `palisade status`)
against a real palisaded that monitors only a tmpfs this test mounts
(RealTimeMonitoredPaths by policy, written before the daemon starts, so that no other file
system of the machine is ever marked).

What an administrator does and sees: the state, the file system and the counters; `rtp
disable` makes a threat readable and `rtp enable` blocks it again ("Operation not
permitted" for `cat`), live; a policy that sets RealTimeProtectionEnabled makes `rtp
disable` fail with PolicyLocked and change nothing; `rtp stats` names the processes that
caused the scans (executable, uid), most scan time first, --limit holds, a non-admin is
refused, and an executable whose name carries terminal escapes is shown escaped.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness


def mount_tmpfs():
    d = tempfile.mkdtemp(prefix="pal-rtpcli.")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", d],
                   check=True, timeout=60)
    return d


def umount(d):
    if subprocess.run(["umount", d], timeout=60).returncode != 0:
        subprocess.run(["umount", "-l", d], timeout=60)
    os.rmdir(d)


def run_as_nobody(*cmd):
    return subprocess.run(list(cmd), user="nobody", group="nogroup", extra_groups=[],
                          capture_output=True, timeout=harness.IO_TIMEOUT)


class RtpCliTest(harness.DaemonTest):

    def setUp(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (mount, fanotify)")
        self.mnt = mount_tmpfs()
        self.addCleanup(umount, self.mnt)  # last: after the daemon stopped
        self.d = harness.Daemon(rtp=[self.mnt])  # monitors the tmpfs alone
        self.addCleanup(self.check_daemon_end)
        self.addCleanup(self.d.cleanup)
        self.d.start()
        self.wait_state("Enabled")

    def status(self):
        return self.d.cli_json("status")

    def wait_state(self, want):
        return harness.wait_for(lambda: (lambda s: s if s["real_time_protection"] == want
                                         else None)(self.status()),
                                what="real_time_protection %s" % want)

    def rtp(self, *args, expect_rc=0, **kw):
        p = self.d.cli("rtp", *args, **kw)
        self.assertEqual(p.returncode, expect_rc, p)
        return p.stdout.decode(), p.stderr.decode()

    def threat_while_off(self, name):
        """A threat on the tmpfs written while protection is off (no after-close scan):
        the next open is its first check."""
        self.rtp("disable")
        path = os.path.join(self.mnt, name)
        with open(path, "wb") as f:
            f.write(harness.eicar())
        os.chmod(path, 0o644)
        self.rtp("enable")
        return path

    def test_status_shows_the_state_the_file_system_and_the_counters(self):
        out, _ = self.rtp("status")
        self.assertRegex(out, r"(?m)^Real-time protection: Enabled$")
        self.assertRegex(out, r"(?m)^File systems: +%s$" % self.mnt)
        for label in ("Since", "Events", "Queue depth", "Cache hits", "Ignore marks", "Ignore marks dropped",
                      "Empty files allowed", "Scans", "Blocked", "Timeouts", "Overloads"):
            self.assertRegex(out, r"(?m)^%s: +\S" % label)
        self.assertNotIn("Reason:", out)
        doc = json.loads(self.rtp("status", "--json")[0])
        self.assertEqual(doc["real_time_protection"], "Enabled")
        self.assertIsNone(doc["real_time_protection_reason"])
        self.assertEqual(doc["real_time_protection_stats"]["file_systems"], [self.mnt])
        # palisade status: the state, and the statistics in one line of words
        p = self.d.cli("status")
        self.assertEqual(p.returncode, 0, p)
        text = p.stdout.decode()
        self.assertRegex(text, r"(?m)^real_time_protection: +Enabled$")
        self.assertRegex(text, r"(?m)^real_time_protection_stats: +%s; \d+ events \(\d+\.\d/s\), "
                               r"queue \d+, cache hit rate \d+%%, \d+ scans, \d+ blocked, "
                               r"\d+ timeouts, \d+ overloads$" % self.mnt)

    def test_disable_and_enable_switch_live(self):
        pid = self.status()["pid"]
        path = os.path.join(self.mnt, "switch.com")
        out, _ = self.rtp("disable")
        self.assertIn("RealTimeProtectionEnabled = false (Preference)", out)
        self.assertRegex(out, r"(?m)^Real-time protection: Disabled$")
        self.assertRegex(out, r"(?m)^Reason: +\S")
        st = self.status()
        self.assertEqual(st["real_time_protection"], "Disabled")
        self.assertTrue(st["real_time_protection_reason"])
        # off is off: a threat is written and read back by a user
        with open(path, "wb") as f:
            f.write(harness.eicar())
        os.chmod(path, 0o644)
        p = run_as_nobody("cat", path)
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(p.stdout, harness.eicar())
        out, _ = self.rtp("enable")
        self.assertRegex(out, r"(?m)^Real-time protection: Enabled$")
        p = run_as_nobody("cat", path)
        self.assertNotEqual(p.returncode, 0, p)
        self.assertIn(b"Operation not permitted", p.stderr)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(self.status()["pid"], pid, "switched without a restart")
        doc = json.loads(self.rtp("disable", "--json")[0])
        self.assertEqual(doc["real_time_protection"], "Disabled")
        self.assertIs(doc["setting"]["value"], False)

    def test_policy_lock_is_said_and_nothing_changes(self):
        self.d.write_policy("60-rtp-on.json", {"RealTimeProtectionEnabled": True})
        self.d.signal(1)  # SIGHUP: reload the policy
        harness.wait_for(lambda: self.d.cli_json("config", "get", "RealTimeProtectionEnabled")
                         ["source"] == "Policy", what="the policy in force")
        out, err = self.rtp("disable", expect_rc=2)
        self.assertEqual(out, "")
        self.assertIn("PolicyLocked", err)
        self.assertIn("managed by policy", err)
        self.assertIn("60-rtp-on.json", err)
        self.assertEqual(self.status()["real_time_protection"], "Enabled")
        p = self.d.cli("rtp", "disable", "--json")
        self.assertEqual(p.returncode, 2, p)
        self.assertEqual(json.loads(p.stdout)["error"]["code"], "PolicyLocked")

    def test_stats_names_the_processes_and_escapes_their_names(self):
        # files whose first open is by the processes below: written while protection is off
        self.rtp("disable")
        files = []
        for i in range(30):
            f = os.path.join(self.mnt, "f%02d.txt" % i)
            with open(f, "w") as fh:
                fh.write("clean file %d\n" % i * (i + 1))
            files.append(f)
        # a program whose name carries a terminal escape (an attacker chooses names too),
        # outside the monitored file system
        evil_dir = self.d.path("bin")
        os.makedirs(evil_dir)
        os.chmod(evil_dir, 0o755)
        evil = os.path.join(evil_dir, "ta\x1b[2Jc")
        shutil.copy(os.path.realpath(shutil.which("tac")), evil)
        os.chmod(evil, 0o755)
        self.rtp("enable")
        head = os.path.realpath(shutil.which("head"))
        p = run_as_nobody(head, "-q", "-c", "1", *files[:20])
        self.assertEqual(p.returncode, 0, p)
        p = run_as_nobody(evil, *files[20:])
        self.assertEqual(p.returncode, 0, p)

        def rows():
            doc = self.d.cli_json("rtp", "stats")
            by = {r["executable"]: r for r in doc["processes"]}
            return doc if head in by and evil in by else None
        doc = harness.wait_for(rows, what="both processes in rtp stats")
        by = {r["executable"]: r for r in doc["processes"]}
        self.assertEqual(by[head]["uid"], 65534)
        self.assertGreaterEqual(by[head]["scans"], 20)
        self.assertEqual(by[head]["blocked"], 0)
        self.assertGreaterEqual(by[evil]["scans"], 10)
        times = [r["scan_time_ms"] for r in doc["processes"]]
        self.assertEqual(times, sorted(times, reverse=True), "most scan time first")
        self.assertTrue(doc["since"])

        out, _ = self.rtp("stats")
        self.assertNotIn("\x1b", out, "a raw escape reached the terminal")
        self.assertIn("ta\\e[2Jc", out)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("Since "), out)
        self.assertEqual(lines[1].split(), ["EXECUTABLE", "UID", "SCANS", "SCAN", "TIME",
                                            "BLOCKED"])
        row = [ln for ln in lines if ln.startswith(head + " ")]
        self.assertEqual(len(row), 1, out)
        self.assertEqual(row[0].split()[1], "65534")
        self.assertEqual(len(self.d.cli_json("rtp", "stats", "--limit", "1")["processes"]), 1)
        for bad in (["--limit", "0"], ["--limit", "1001"], ["--limit", "x"], ["--limit"],
                    ["extra"]):
            p = self.d.cli("rtp", "stats", *bad)
            self.assertEqual(p.returncode, 2, (bad, p))
            self.assertIn(b"usage: rtp", p.stderr)
        # not an administrator: refused, and nothing of it is shown
        p = self.d.cli("rtp", "stats", user="nobody")
        self.assertEqual(p.returncode, 2, p)
        self.assertIn(b"AccessDenied", p.stderr)
        self.assertEqual(p.stdout, b"")

    def test_a_blocked_open_is_counted(self):
        path = self.threat_while_off("blocked.com")
        before = self.status()["real_time_protection_stats"]["blocked"]
        p = run_as_nobody("cat", path)
        self.assertIn(b"Operation not permitted", p.stderr)
        harness.wait_for(lambda: self.status()["real_time_protection_stats"]["blocked"] > before,
                         what="the blocked open counted")
        out, _ = self.rtp("status")
        self.assertRegex(out, r"(?m)^Blocked: +[1-9]\d*$")


if __name__ == "__main__":
    harness.main()
