"""test_metrics.py — metrics for monitoring (issue 15): `palisade metrics` and the
node_exporter textfile, checked by Prometheus's own `promtool check metrics` (Debian's
prometheus package).

What an administrator does: scans a folder holding EICAR, then asks the agent for its
metrics (as `nobody`: the metrics op answers on the read-only status socket) and reads that
the scan, the Severe detection and its quarantine are counted; points MetricsTextfilePath
at a root-owned directory and sees the file appear and be refreshed after the next scan.
What an attacker does: offers a directory a user can write (mode 0777, or owned by the
user), a path through a symbolic link, or makes the directory unsafe or swaps it for a
link after the administrator set it: the agent refuses, and nothing is written there.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import harness
from harness import DaemonTest

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def promtool():
    p = shutil.which("promtool")
    if not p:
        raise AssertionError("promtool is not installed (scripts/bootstrap installs prometheus)")
    return p


def promtool_check(test, text):
    p = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                       timeout=60)
    test.assertEqual(p.returncode, 0, "promtool check metrics failed:\n%s\n%s\n---\n%s"
                     % (p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"),
                        text.decode(errors="replace")))
    # promtool prints lint findings and still exits 0 on some: there must be none
    test.assertEqual(p.stdout + p.stderr, b"", p)


def samples(text):
    """{(name, labels-string): value} of a Prometheus text document; every sample line's
    family has HELP and TYPE lines before it."""
    out = {}
    helped, typed = set(), {}
    for line in text.decode().splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            typed[line.split()[2]] = line.split()[3]
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        assert name in helped and name in typed, "%s has no HELP/TYPE" % name
        if typed[name] == "counter":
            assert name.endswith("_total"), name
        out[(name, labels)] = float(value)
    return out


def make_root_dir(parent, name, mode=0o755):
    p = os.path.join(parent, name)
    os.mkdir(p)
    os.chmod(p, mode)
    return p


class MetricsTest(DaemonTest):
    def scan_eicar(self, name):
        root = self.make_tree(name, {"eicar.com": harness.eicar(), "clean.txt": b"hello\n"})
        res, _ = self.d.scan([root])
        self.assertEqual(res["threats_found"], 1, res)
        return root

    def metrics(self, user="nobody"):
        p = self.d.cli("metrics", user=user)
        self.assertEqual(p.returncode, 0, p)
        return p.stdout

    def test_cli_metrics_count_an_eicar_scan(self):
        before = samples(self.metrics())
        self.assertEqual(before[("palisade_up", "")], 1)
        self.assertNotIn(("palisade_scans_total", '{type="Custom",status="Completed"}'), before)
        self.scan_eicar("scan1")
        text = self.metrics()
        promtool_check(self, text)
        s = samples(text)
        self.assertEqual(s[("palisade_scans_total", '{type="Custom",status="Completed"}')], 1)
        self.assertEqual(s[("palisade_scanned_objects_total", '{type="Custom"}')], 2)
        self.assertEqual(s[("palisade_scanned_bytes_total", '{type="Custom"}')],
                         len(harness.eicar()) + 6)
        self.assertEqual(
            s[("palisade_detections_total", '{severity="Severe",origin="OnDemand"}')], 1)
        self.assertEqual(
            s[("palisade_remediations_total", '{action="Quarantine",result="Success"}')], 1)
        self.assertEqual(s[("palisade_quarantine_items", "")], 1)
        self.assertEqual(s[("palisade_unremediated_threats", "")], 0)
        status = self.d.cli_json("status")
        ver = status["signature_version"]
        self.assertEqual(s[("palisade_signature_info", '{version="%d"}' % ver)], 1)
        self.assertGreaterEqual(s[("palisade_signature_age_seconds", "")], 0)
        self.assertEqual(s[("palisade_health_issues", "")], len(status["health_issues"]))
        for issue in status["health_issues"]:
            self.assertEqual(s[("palisade_health_issue", '{id="%s"}' % issue["id"])], 1)
        self.assertEqual(s[("palisade_content_process_state",
                            '{state="%s"}' % status["content_process_state"])], 1)
        self.assertEqual(s[("palisade_content_process_restarts_total", "")],
                         status["content_process_restarts"])
        self.assertGreater(s[("palisade_last_scan_end_timestamp_seconds", '{type="Custom"}')],
                           time.time() - 600)
        self.assertEqual(s[("palisade_scan_cache_hits_total", "")], 0)
        # real-time protection's counters appear exactly when status carries them
        rt = status.get("real_time_protection_stats")
        names = {n for n, _ in s}
        if rt is None:
            self.assertFalse([n for n in names if n.startswith("palisade_realtime_")], names)
        else:
            self.assertEqual(s[("palisade_realtime_events_total", "")], rt["events"])
        # the JSON form is the op's result
        doc = self.d.cli_json("metrics", user="nobody")
        self.assertEqual(doc["store"]["detections"],
                         [{"severity": "Severe", "origin": "OnDemand", "count": 1}])

    def test_textfile_appears_refreshes_and_is_atomic(self):
        out_dir = make_root_dir(self.d.base, "textfile")
        target = os.path.join(out_dir, "palisade.prom")
        self.d.cli_json("config", "set", "MetricsIntervalSeconds", "1")
        self.d.cli_json("config", "set", "MetricsTextfilePath", target)
        harness.wait_for(lambda: os.path.exists(target), timeout=60, what="the textfile")
        with open(target, "rb") as f:
            first = f.read()
        promtool_check(self, first)
        self.assertEqual(os.stat(target).st_mode & 0o777, 0o644)
        self.assertEqual(os.stat(target).st_uid, 0)
        self.scan_eicar("scan2")

        def refreshed():
            with open(target, "rb") as f:
                data = f.read()
            s = samples(data)
            return data if s.get(("palisade_scans_total",
                                  '{type="Custom",status="Completed"}')) == 1 else None
        data = harness.wait_for(refreshed, timeout=60, what="the textfile to count the scan")
        promtool_check(self, data)
        s = samples(data)
        self.assertEqual(
            s[("palisade_detections_total", '{severity="Severe",origin="OnDemand"}')], 1)
        # only the file: no temporary file left beside it
        self.assertEqual(os.listdir(out_dir), ["palisade.prom"])
        # switched off: the file is left as it is and no longer written
        self.d.cli_json("config", "set", "MetricsTextfilePath", "")
        time.sleep(1.5)
        mtime = os.stat(target).st_mtime_ns
        time.sleep(2.5)
        self.assertEqual(os.stat(target).st_mtime_ns, mtime)

    def assert_refused(self, path, why):
        p = self.d.cli("config", "set", "MetricsTextfilePath", path, "--json")
        self.assertEqual(p.returncode, 2, p)
        self.assertIn(b"InvalidValue", p.stdout, p)
        self.assertIn(why.encode(), p.stdout, p)
        cur = self.d.cli_json("config", "get", "MetricsTextfilePath")
        self.assertEqual(cur["value"], "")

    def test_unsafe_directories_are_refused_and_nothing_is_written(self):
        self.d.cli_json("config", "set", "MetricsIntervalSeconds", "1")
        open_dir = make_root_dir(self.d.base, "open", 0o777)
        user_dir = make_root_dir(self.d.base, "users")
        os.chown(user_dir, harness.pwd.getpwnam("nobody").pw_uid, -1)
        real = make_root_dir(self.d.base, "real")
        link = os.path.join(self.d.base, "link")
        os.symlink(real, link)
        self.assert_refused(os.path.join(open_dir, "p.prom"), "writable by others")
        self.assert_refused(os.path.join(user_dir, "p.prom"), "not owned by root")
        self.assert_refused(os.path.join(link, "p.prom"), "symbolic link")
        self.assert_refused(os.path.join(real, "p.txt"), ".prom")
        self.assert_refused("relative/p.prom", "absolute")
        time.sleep(2.5)
        for d in (open_dir, user_dir, real):
            self.assertEqual(os.listdir(d), [], d)

    def test_directory_made_unsafe_after_it_was_set(self):
        """The directory is vetted at every write: made world-writable, or swapped for a
        symbolic link to a directory the attacker watches, after the administrator set it."""
        self.d.cli_json("config", "set", "MetricsIntervalSeconds", "1")
        good = make_root_dir(self.d.base, "good")
        target = os.path.join(good, "palisade.prom")
        self.d.cli_json("config", "set", "MetricsTextfilePath", target)
        harness.wait_for(lambda: os.path.exists(target), timeout=60, what="the textfile")
        os.chmod(good, 0o777)
        os.unlink(target)
        harness.wait_for(lambda: "writable by others" in self.d.log(), timeout=60,
                         what="the refusal in the log")
        time.sleep(2.5)
        self.assertEqual(os.listdir(good), [])
        # now a symbolic link in its place, to a directory of the attacker's choosing
        os.chmod(good, 0o755)
        os.rename(good, good + ".old")
        elsewhere = make_root_dir(self.d.base, "elsewhere")
        os.symlink(elsewhere, good)
        harness.wait_for(lambda: "is a symbolic link" in self.d.log(), timeout=60,
                         what="the symlink refusal in the log")
        time.sleep(2.5)
        self.assertEqual(os.listdir(elsewhere), [])
        self.assertEqual(os.listdir(good + ".old"), [])


if __name__ == "__main__":
    harness.main()
