"""test_schedule.py — scheduled scans (issue 14) against a real palisaded, with a clock the
test controls: palisaded --clock-offset-file FILE shifts the scheduler's notion of now by the
seconds in FILE, re-read every second (agent/core/daemon/scheduler.h). No test sleeps for
minutes: the test moves the scheduler's clock past a schedule's time instead.

- A Quick schedule at a time ahead of the clock does not run while the clock is before it,
  runs once the clock passes it, is a detached scan owned by the agent (scan.list: trigger
  Scheduled, no uid) recorded in the history as Scheduled, and runs at low priority: while
  harness.Gate holds its walker, every thread of the scan (named pal-bgscan) is at nice 19
  under SCHED_BATCH in the idle I/O class, and the daemon's main thread is not. Status then
  shows last_quick_scan (that scan) and next_quick_scan (the next day's).
- Catch-up: the daemon is stopped, the clock moved past the schedule's time, the daemon
  started: the missed run happens once, marked CatchUp; with ScheduledScanCatchUp false a
  missed run is not made up.
- Randomised delay: with ScheduleRandomizationMinutes 10 the planned start lies between the
  time and 10 minutes after it; the scan does not run before the planned start, and runs
  after it.
- Policy: a schedule set by policy cannot be changed by preference (the refusal names the
  file); bad values are refused with a message saying what is allowed, and change nothing.
- Local time: a daemon in a UTC+5:30 zone plans a schedule's HH:MM and weekday in that zone.
- A run that cannot start (no signature package) is the health issue ScheduledScanFailed,
  and the next run is planned. A scheduled run that ended Failed (palisaded killed under it)
  is that issue too, naming the scan, until a later scheduled run completes (a client's
  scan does not clear it).
- ScanAvgCPULoadFactor: the same detached scan of a tree uses, per wall-clock second, less
  than 0.3 CPU seconds (daemon and content process together) at factor 20, and clearly more
  at factor 100 (figures printed).

Quick scans walk the real /tmp: the daemon takes no action (other tests' EICAR files may
lie there) and each scheduled scan is cancelled once seen.
"""
import calendar
import ctypes
import os
import time

import harness
from harness import DaemonTest, Gate, wait_for

NO_ACTION = {"10-no-action.json": {
    "LowThreatDefaultAction": "NoAction", "ModerateThreatDefaultAction": "NoAction",
    "HighThreatDefaultAction": "NoAction", "SevereThreatDefaultAction": "NoAction"}}

SCHED_BATCH = 3
IOPRIO_CLASS_IDLE = 3
SYS_IOPRIO_GET = 252  # x86_64


def parse_time(s):
    """The protocol's UTC time ("2026-12-07T19:40:00.000Z") as epoch seconds."""
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + int(s[20:23]) / 1000.0


def hhmm(epoch):
    t = time.localtime(epoch)
    return "%02d:%02d" % (t.tm_hour, t.tm_min)


class ScheduleBase(DaemonTest):
    """A daemon (not started) whose scheduler's clock the test sets, and the helpers."""

    daemon_kwargs = {"policy": NO_ACTION}
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.offset_file = self.d.path("clock-offset")
        self.set_offset(0)
        self.d.extra_args = ["--clock-offset-file", self.offset_file]

    # -- the clock the test controls
    def set_offset(self, seconds):
        tmp = self.offset_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % int(seconds))
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.offset_file)

    def set_clock(self, epoch):
        """Make the scheduler's now epoch (to the second)."""
        self.set_offset(round(epoch - time.time()))

    def ahead(self, minutes=3):
        """A whole minute at least `minutes` minutes after now."""
        return (int(time.time()) // 60 + minutes + 1) * 60

    # -- the daemon
    def start(self):
        """Start the daemon, and keep its Quick scans out of what other runs left in /tmp
        (a big build tree there would keep the walker away from the test's gate for
        minutes): ExclusionPath gets every other directory of /tmp (one by one: a wildcard
        cannot say "all but this one"), and /var/tmp and /dev/shm."""
        self.d.start()
        mine = os.path.basename(self.d.base)
        excl = {"/var/tmp", "/dev/shm"}
        for e in os.scandir("/tmp"):
            if (e.name != mine and e.name.isprintable() and len(excl) < 1000
                    and e.is_dir(follow_symlinks=False)):
                excl.add(e.path)
        self.cfg("ExclusionPath", sorted(excl))

    def cfg(self, name, value):
        with self.d.client() as c:
            return c.result("config.set", {"name": name, "value": value})

    def status(self):
        with self.d.client() as c:
            return c.result("status")

    def jobs(self):
        with self.d.client() as c:
            return c.result("scan.list")["items"]

    def history(self):
        with self.d.client() as c:
            return c.result("scans.list")["items"]

    def next_quick(self, expect=None):
        """The next_quick_scan status shows (epoch), once it is expect when given."""
        def probe():
            v = self.status()["next_quick_scan"]
            if v is None:
                return None
            t = parse_time(v)
            return t if expect is None or abs(t - expect) < 1 else None
        return wait_for(probe, timeout=30, what="next_quick_scan %s" % expect)

    def schedule_quick(self, at, randomize=0):
        self.cfg("ScheduleRandomizationMinutes", randomize)
        self.cfg("ScanScheduleQuickScanTime", hhmm(at))
        self.cfg("ScanScheduleQuickScanDay", "Everyday")

    def scheduled_job(self, trigger="Scheduled"):
        return wait_for(lambda: next((j for j in self.jobs() if j["trigger"] == trigger), None),
                        timeout=30, what="a %s scan" % trigger)

    def stop_scan(self, scan_id):
        with self.d.client() as c:
            c.result("scan.stop", {"scan_id": scan_id})
            return c.result("scan.wait", {"scan_id": scan_id})

    def assert_quiet(self, seconds=3.5):
        """Several scheduler ticks pass without any scan starting."""
        time.sleep(seconds)
        self.assertEqual(self.jobs(), [])
        self.assertEqual(self.history(), [])

    # -- the threads of a scan
    def threads(self):
        pid = self.d.proc.pid
        out = []
        libc = ctypes.CDLL(None, use_errno=True)
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    comm = f.read().strip()
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
                continue
            # after "(comm)": field 3 is index 0; nice is field 19, policy field 41
            nice, policy = int(fields[16]), int(fields[38])
            ioprio = libc.syscall(SYS_IOPRIO_GET, 1, int(tid))
            out.append({"tid": int(tid), "comm": comm, "nice": nice, "policy": policy,
                        "ioclass": ioprio >> 13 if ioprio >= 0 else None})
        return out



class ScheduleTest(ScheduleBase):

    def test_quick_schedule_runs_when_the_clock_passes_it_not_before_at_low_priority(self):
        self.start()
        gate_root = self.make_tree("gated", {"a_gate": b"gate\n"})
        gate = Gate(os.path.join(gate_root, "a_gate"))
        self.addCleanup(gate.close)
        at = self.ahead()
        self.schedule_quick(at)
        self.assertEqual(self.next_quick(at), at)
        self.assertIsNone(self.status()["next_full_scan"])

        # 30 s before the time: nothing runs
        self.set_clock(at - 30)
        self.assert_quiet()

        # past it: the scan starts, held by the gate while the test looks at its threads
        self.set_clock(at + 1)
        self.assertTrue(gate.wait(self.d.proc.pid), "the scheduled scan never reached the gate")
        job = self.scheduled_job()
        self.assertEqual(job["type"], "Quick")
        self.assertIsNone(job["uid"])
        self.assertEqual(job["status"], "Running")

        threads = self.threads()
        scan_threads = [t for t in threads if t["comm"] == "pal-bgscan"]
        print("scan threads:", scan_threads)
        self.assertGreaterEqual(len(scan_threads), 2, threads)  # the walker and a worker
        for t in scan_threads:
            self.assertEqual(t["nice"], 19, t)
            self.assertEqual(t["policy"], SCHED_BATCH, t)
            self.assertEqual(t["ioclass"], IOPRIO_CLASS_IDLE, t)
        main = next(t for t in threads if t["tid"] == self.d.proc.pid)
        self.assertEqual(main["nice"], 0, main)
        self.assertNotEqual(main["ioclass"], IOPRIO_CLASS_IDLE, main)

        hist = self.history()
        self.assertEqual([(h["scan_id"], h["trigger"]) for h in hist],
                         [(job["scan_id"], "Scheduled")])

        self.assertRegex(self.d.cli("jobs").stdout.decode(),
                         r"(?m)^%d\s+Quick\s+Running\s+\S+\s+Scheduled\s*$" % job["scan_id"])
        gate.release()
        res = self.stop_scan(job["scan_id"])
        self.assertEqual(res["status"], "Cancelled", res)
        st = self.status()
        self.assertEqual(st["last_quick_scan"]["scan_id"], job["scan_id"])
        self.assertEqual(self.next_quick(at + 86400), at + 86400)
        # and it ran once: the clock stays past the time, nothing more starts
        time.sleep(2.5)
        self.assertEqual(len(self.history()), 1)
        # a clock set back before the time and forward past it again: that run was made
        self.set_clock(at - 10)
        time.sleep(2.5)
        self.set_clock(at + 5)
        time.sleep(2.5)
        self.assertEqual(len(self.history()), 1)
        self.assertEqual(self.next_quick(at + 86400), at + 86400)
        out = self.d.cli("status").stdout.decode()
        self.assertRegex(out, r"(?m)^next_quick_scan:\s+\d{4}-\d\d-\d\dT")
        self.assertRegex(out, r"(?m)^next_full_scan:\s+none$")
        self.assertRegex(self.d.cli("scans").stdout.decode(), r"Scheduled")

    def test_a_run_missed_while_down_is_caught_up_once(self):
        self.start()
        at = self.ahead()
        self.schedule_quick(at)
        self.next_quick(at)
        self.d.stop()

        # the agent was down when the time came
        self.set_clock(at + 60)
        self.d.start()
        job = self.scheduled_job("CatchUp")
        self.assertEqual(job["type"], "Quick")
        res = self.stop_scan(job["scan_id"])
        self.assertEqual(res["status"], "Cancelled", res)
        self.assertEqual([h["trigger"] for h in self.history()], ["CatchUp"])
        self.assertEqual(self.next_quick(at + 86400), at + 86400)
        time.sleep(2.5)
        self.assertEqual(len(self.history()), 1, "the missed run was made up more than once")
        self.assertIn("missed while palisaded was not running", self.d.log())

        # with ScheduledScanCatchUp false, the next missed run is not made up
        self.cfg("ScheduledScanCatchUp", False)
        self.d.stop()
        self.set_clock(at + 86400 + 60)
        self.d.start()
        time.sleep(3.5)
        self.assertEqual(len(self.history()), 1)
        self.assertEqual(self.next_quick(at + 2 * 86400), at + 2 * 86400)

    def test_randomised_delay_stays_within_its_bound(self):
        self.start()
        at = self.ahead()
        self.schedule_quick(at, randomize=10)
        planned = self.next_quick()
        print("time %s, planned start %+.0f s after it" % (hhmm(at), planned - at))
        self.assertGreaterEqual(planned, at)
        self.assertLessEqual(planned, at + 600)
        # past the time but before the planned start: nothing yet
        self.set_clock(max(at, planned - 20))
        if planned - at >= 2:
            self.assert_quiet()
        self.set_clock(planned + 1)
        job = self.scheduled_job()
        self.assertEqual(self.stop_scan(job["scan_id"])["status"], "Cancelled")

    def test_bad_values_are_refused_and_change_nothing(self):
        self.d.start()
        bad = [("ScanScheduleQuickScanTime", "25:00", "HH:MM"),
               ("ScanScheduleQuickScanTime", "7", "HH:MM"),
               ("ScanScheduleQuickScanTime", "12:3", "HH:MM"),
               ("ScanScheduleQuickScanTime", "12:60", "HH:MM"),
               ("ScanScheduleFullScanTime", "noon", "HH:MM"),
               ("ScanScheduleFullScanTime", 120, "must be a string"),
               ("ScanScheduleQuickScanDay", "Funday", "Never, Everyday, Monday"),
               ("ScheduleRandomizationMinutes", 241, "from 0 to 240"),
               ("ScanAvgCPULoadFactor", 4, "from 5 to 100"),
               ("ScanAvgCPULoadFactor", 101, "from 5 to 100"),
               ("ScheduledScanCatchUp", "yes", "true or false")]
        with self.d.client() as c:
            for name, value, why in bad:
                resp = c.call("config.set", {"name": name, "value": value})
                self.assertIn("error", resp, (name, value, resp))
                self.assertEqual(resp["error"]["code"], "InvalidValue", resp)
                self.assertIn(name, resp["error"]["message"])
                self.assertIn(why, resp["error"]["message"])
            got = {n: c.result("config.get", {"name": n})["value"]
                   for n in ("ScanScheduleQuickScanTime", "ScanScheduleFullScanTime",
                             "ScanScheduleQuickScanDay", "ScheduleRandomizationMinutes",
                             "ScanAvgCPULoadFactor", "ScheduledScanCatchUp")}
        self.assertEqual(got, {"ScanScheduleQuickScanTime": "02:00",
                               "ScanScheduleFullScanTime": "02:00",
                               "ScanScheduleQuickScanDay": "Never",
                               "ScheduleRandomizationMinutes": 30,
                               "ScanAvgCPULoadFactor": 50, "ScheduledScanCatchUp": True})
        p = self.d.cli("config", "set", "ScanScheduleFullScanTime", "24:00")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"HH:MM", p.stderr)
        # H:MM is read as 0H:MM
        self.cfg("ScanScheduleFullScanTime", "7:05")
        with self.d.client() as c:
            self.assertEqual(c.result("config.get", {"name": "ScanScheduleFullScanTime"})["value"],
                             "07:05")
        self.assertIsNone(self.status()["next_full_scan"])  # the day is still Never

    def test_a_schedule_set_by_policy_cannot_be_changed_by_preference(self):
        self.d.write_policy("20-schedule.json", {"ScanScheduleFullScanDay": "Sunday",
                                                 "ScanScheduleFullScanTime": "03:30",
                                                 "ScheduleRandomizationMinutes": 0})
        self.d.start()
        with self.d.client() as c:
            for name, value in (("ScanScheduleFullScanDay", "Never"),
                                ("ScanScheduleFullScanTime", "04:00"),
                                ("ScheduleRandomizationMinutes", 5)):
                resp = c.call("config.set", {"name": name, "value": value})
                self.assertEqual(resp.get("error", {}).get("code"), "PolicyLocked", resp)
                self.assertIn("20-schedule.json", resp["error"]["message"])
        nxt = wait_for(lambda: self.status()["next_full_scan"], timeout=30,
                       what="next_full_scan")
        t = time.localtime(parse_time(nxt))
        self.assertEqual((t.tm_wday, t.tm_hour, t.tm_min), (6, 3, 30), nxt)  # a Sunday 03:30
        self.assertLessEqual(parse_time(nxt) - time.time(), 7 * 86400 + 3600)
        p = self.d.cli("config", "set", "ScanScheduleFullScanDay", "Everyday")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"20-schedule.json", p.stderr)


class LocalTimeTest(ScheduleBase):
    """The schedule's time is the machine's local time: a daemon whose zone is UTC+5:30
    (TZ as a POSIX string, no zone file needed) plans 02:00 local as 20:30 UTC the day
    before."""

    daemon_kwargs = {"policy": NO_ACTION, "env": {"TZ": "IST-5:30"}}

    def test_times_are_local(self):
        self.d.start()
        at = self.ahead()
        local = time.gmtime(at + 19800)
        self.cfg("ScheduleRandomizationMinutes", 0)
        self.cfg("ScanScheduleQuickScanTime", "%02d:%02d" % (local.tm_hour, local.tm_min))
        self.cfg("ScanScheduleQuickScanDay", "Everyday")
        self.assertEqual(self.next_quick(at), at)
        # a weekday is the local one too: the Full scan on the local weekday of `at`
        days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        self.cfg("ScanScheduleFullScanTime", "%02d:%02d" % (local.tm_hour, local.tm_min))
        self.cfg("ScanScheduleFullScanDay", days[local.tm_wday])
        nxt = wait_for(lambda: self.status()["next_full_scan"], timeout=30, what="next_full")
        self.assertEqual(parse_time(nxt), at)


class NoPackageTest(ScheduleBase):
    """A scheduled scan that cannot start (no signature package) is logged, listed as the
    health issue ScheduledScanFailed, and the next run is planned."""

    daemon_kwargs = {"policy": NO_ACTION, "defs": False}

    def test_a_run_that_cannot_start_is_a_health_issue(self):
        self.d.start()
        at = self.ahead()
        self.schedule_quick(at)
        self.next_quick(at)
        self.assertNotIn("ScheduledScanFailed", [i["id"] for i in self.status()["health_issues"]])
        self.set_clock(at + 1)
        issue = wait_for(lambda: next((i for i in self.status()["health_issues"]
                                       if i["id"] == "ScheduledScanFailed"), None),
                         timeout=30, what="ScheduledScanFailed")
        self.assertIn("Quick", issue["reason"])
        self.assertIn("signature package", issue["reason"])
        self.assertEqual(self.next_quick(at + 86400), at + 86400)
        self.assertEqual(self.history(), [])
        self.assertIn("could not start", self.d.log())


class FailedRunTest(ScheduleBase):
    """A scheduled run that ENDED Failed (the daemon was killed under it: at the restart the
    scan is recorded Failed, "interrupted") is the health issue ScheduledScanFailed naming
    the scan and its status; a client's Quick scan that completes does not clear it; the
    next scheduled run that completes does."""

    def issue(self):
        return next((i for i in self.status()["health_issues"]
                     if i["id"] == "ScheduledScanFailed"), None)

    def test_a_scheduled_run_that_ended_failed_is_a_health_issue_until_one_completes(self):
        self.start()
        gate_root = self.make_tree("gated", {"a_gate": b"gate\n"})
        gate = Gate(os.path.join(gate_root, "a_gate"))
        self.addCleanup(gate.close)
        at = self.ahead()
        self.schedule_quick(at)
        self.next_quick(at)
        self.set_clock(at + 1)
        self.assertTrue(gate.wait(self.d.proc.pid), "the scheduled scan never reached the gate")
        scan_id = self.scheduled_job()["scan_id"]
        self.assertIsNone(self.issue())
        self.d.kill()
        gate.release()
        self.d.start()

        self.assertEqual([(h["scan_id"], h["trigger"], h["status"]) for h in self.history()],
                         [(scan_id, "Scheduled", "Failed")])
        issue = self.issue()
        self.assertIsNotNone(issue, self.status()["health_issues"])
        print("issue:", issue)
        self.assertIn("scheduled Quick scan %d ended Failed" % scan_id, issue["reason"])
        self.assertIn("interrupted", issue["reason"])

        # the next Quick scans are kept small: what they walk is not the point here
        self.cfg("ExclusionPath", ["/tmp", "/var/tmp", "/dev/shm", "/run/user", "/usr/local",
                                   "/home", "/root"])
        with self.d.client() as c:
            resp, _ = c.wait(c.start("scan.start", {"type": "Quick"}))
        self.assertEqual(resp["result"]["status"], "Completed", resp)
        self.assertIsNotNone(self.issue(), "a client's scan cleared the schedule's issue")

        # the next day's scheduled run completes: the issue is gone
        self.set_clock(at + 86400 + 1)
        done = wait_for(lambda: next((h for h in self.history() if h["trigger"] == "Scheduled"
                                      and h["status"] == "Completed"), None),
                        timeout=120, what="the next scheduled run to complete")
        self.assertGreater(done["scan_id"], scan_id)
        self.assertIsNone(self.issue())


class LoadFactorTest(DaemonTest):
    """ScanAvgCPULoadFactor measured from the outside: CPU seconds of palisaded and its
    content process (/proc/PID/stat utime + stime) per wall-clock second of the scan."""

    daemon_kwargs = {"policy": NO_ACTION}

    def cpu_seconds(self):
        pids = [self.d.proc.pid]
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open("/proc/%s/stat" % p) as f:
                        st = f.read().rsplit(")", 1)[1].split()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                if int(st[1]) == self.d.proc.pid:
                    pids.append(int(p))
        total = 0
        for pid in pids:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    st = f.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(st[11]) + int(st[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def scan_share(self, root, detach=True):
        with self.d.client() as c:
            cpu0, wall0 = self.cpu_seconds(), time.monotonic()
            if detach:
                sid = c.result("scan.start", {"type": "Custom", "paths": [root],
                                              "detach": True})["scan_id"]
                res = c.result("scan.wait", {"scan_id": sid})
            else:
                res = c.result("scan.start", {"type": "Custom", "paths": [root]})
            cpu1, wall1 = self.cpu_seconds(), time.monotonic()
        self.assertEqual(res["status"], "Completed", res)
        return (cpu1 - cpu0) / (wall1 - wall0), wall1 - wall0, res["files_scanned"]

    def test_a_low_load_factor_uses_less_cpu_per_second(self):
        with self.d.client() as c:
            c.result("config.set", {"name": "ScanCacheEnabled", "value": False})
        rnd = os.urandom(1 << 20)
        root = self.make_tree("load", {"f%03d.bin" % i: rnd[i:] + rnd[:i] for i in range(96)})
        shares = {}
        for factor in (100, 20):
            with self.d.client() as c:
                c.result("config.set", {"name": "ScanAvgCPULoadFactor", "value": factor})
            share, wall, files = self.scan_share(root)
            shares[factor] = share
            print("ScanAvgCPULoadFactor %3d: %d files in %.2f s, cpu/wall %.3f"
                  % (factor, files, wall, share))
            self.assertEqual(files, 96)
        self.assertLess(shares[20], 0.3)
        self.assertGreater(shares[100], 1.5 * shares[20])

        # a foreground scan is not held back (factor still 20) unless the administrator asks
        fg, wall, _ = self.scan_share(root, detach=False)
        print("foreground, ThrottleForBackgroundScansOnly true:  %.2f s, cpu/wall %.3f"
              % (wall, fg))
        with self.d.client() as c:
            c.result("config.set", {"name": "ThrottleForBackgroundScansOnly", "value": False})
        fg20, wall, _ = self.scan_share(root, detach=False)
        print("foreground, ThrottleForBackgroundScansOnly false: %.2f s, cpu/wall %.3f"
              % (wall, fg20))
        self.assertLess(fg20, 0.3)
        self.assertGreater(fg, 1.5 * fg20)


if __name__ == "__main__":
    harness.main()
