#!/usr/bin/env python3
"""Crash safety of quarantine and restore: the daemon is killed with SIGKILL at random
moments while it quarantines (scans of a tree of threat files) and restores (every item,
one by one), at least 200 operations in all, and started again each time (its start-up
reconciles the journal). Afterwards:
  - no file is lost: each is either in its original place, byte-identical with its owner,
    group, mode and mtime, or in quarantine with exactly one record (never both, never
    neither), and restoring every item gives back every file identical;
  - no record points to nothing, and no stored file is without its record;
  - no temporary file is left (in the scanned tree or the quarantine), no journal step is
    left Pending.
The test prints its counts (operations, kills, files checked). PAL_CRASH_SEED repeats a
run."""
import os
import random
import signal
import threading
import time

import harness
import remediation_helpers as rh
from remediation_helpers import RemediationTest

N_FILES = 30
MIN_OPS = 240         # quarantine + restore operations started (journalled)
MIN_KILLS = 25
MAX_ROUNDS = 1000     # a bound on the loop; the minimums are met long before it
KILL_CHANCE = 0.75
KILL_WINDOW = 0.30    # seconds after the start of a round


class CrashTest(RemediationTest):

    def make_files(self, root):
        uid, gid = rh.nobody_ids()
        expected = {}
        for i in range(N_FILES):
            path = os.path.join(root, "d%d" % (i % 4), "f%03d.com" % i)
            owner = (uid, gid) if i % 2 else (0, 0)
            self.write(path, rh.eicar_variant(1000 + i), owner[0], owner[1],
                       (0o600, 0o640, 0o644, 0o755)[i % 4],
                       1_600_000_000_000_000_000 + i * 1_000_003)
            expected[path] = rh.snapshot(path)
        return expected

    def journal_counts(self):
        rows = rh.db_rows(self.d, "SELECT op, count(*) FROM file_ops GROUP BY op")
        return {op: n for op, n in rows}

    def kill_now(self):
        with self.proc_lock:
            p = self.d.proc
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                self.kill_sent = True

    def test_sigkill_during_quarantine_and_restore(self):
        seed = int(os.environ.get("PAL_CRASH_SEED", "0")) or int(time.time())
        rnd = random.Random(seed)
        self.proc_lock = threading.Lock()
        self.kill_sent = False
        data = self.d.path("data")
        expected = self.make_files(data)
        counts = {"kills": 0, "rounds": 0, "quarantined": 0, "restored": 0}
        phase = 0
        def started():
            j = self.journal_counts()
            return j.get("Quarantine", 0) + j.get("Restore", 0)

        while ((started() < MIN_OPS or counts["kills"] < MIN_KILLS) and
               counts["rounds"] < MAX_ROUNDS):
            counts["rounds"] += 1
            timer = None
            if rnd.random() < KILL_CHANCE:
                timer = threading.Timer(rnd.uniform(0, KILL_WINDOW), self.kill_now)
                timer.start()
            try:
                if phase == 0:
                    res, _ = self.d.scan([data], client=self.c)
                    counts["quarantined"] += sum(t["action_result"] == "Success"
                                                 for t in res["threats"])
                else:
                    for item in self.items():
                        resp = self.c.call("quarantine.restore", {"id": item["id"]})
                        self.assertIn("result", resp, resp)
                        counts["restored"] += 1
            except (harness.ProtocolClosed, OSError):
                # a closed connection is what a kill looks like; with the daemon alive it
                # is a failure (an error answer is never caused by a kill: it fails above)
                with self.proc_lock:
                    if not self.kill_sent:
                        raise
            finally:
                if timer:
                    timer.cancel()
                    timer.join()
            phase ^= 1
            if self.kill_sent:
                counts["kills"] += 1
                self.d.proc.wait()
                self.d.proc = None
                self.kill_sent = False
                self.restart()

        # one more start after a last kill, so the checks see a reconciled state
        self.kill_now()
        self.d.proc.wait()
        self.d.proc = None
        self.kill_sent = False
        counts["kills"] += 1
        self.restart()
        journal = self.journal_counts()
        ops = journal.get("Quarantine", 0) + journal.get("Restore", 0)
        # steps a kill interrupted, finished by a start-up: forward or back
        recon = dict(rh.db_rows(self.d, "SELECT state, count(*) FROM file_ops "
                                        "WHERE detail LIKE '%start-up%' GROUP BY state"))
        checked = 0
        try:
            checked = self.check_invariants(data, expected)
        finally:
            print("sigkill-loop: seed=%d operations=%d (quarantine=%d, restore=%d started; "
                  "completed and answered %d+%d) kills=%d interrupted-steps=%d (rolled "
                  "forward %d, back %d) rounds=%d files=%d files_checked=%d"
                  % (seed, ops, journal.get("Quarantine", 0), journal.get("Restore", 0),
                     counts["quarantined"], counts["restored"], counts["kills"],
                     sum(recon.values()), recon.get("Done", 0), recon.get("Failed", 0),
                     counts["rounds"], len(expected), checked), flush=True)
        self.assertGreaterEqual(ops, 200)
        self.assertGreaterEqual(counts["kills"], MIN_KILLS)
        self.assertGreater(sum(recon.values()), 0, "no kill landed inside an operation")

    def check_invariants(self, data, expected):
        """The state after the last restart; returns how many file checks passed."""
        self.assert_quarantine_consistent()
        self.assertEqual(rh.temp_leftovers(data), [])
        on_disk = {os.path.join(dp, n) for dp, _, fs in os.walk(data) for n in fs}
        self.assertLessEqual(on_disk, set(expected), "unexpected files: %r"
                             % (on_disk - set(expected)))
        items = self.items()
        by_path = {}
        for it in items:
            by_path.setdefault(it["original_path"], []).append(it)
        checked = 0
        for path, before in expected.items():
            recs = by_path.get(path, [])
            present = os.path.lexists(path)
            self.assertLessEqual(len(recs), 1, "%s has %d records" % (path, len(recs)))
            self.assertTrue(present != bool(recs),
                            "%s: present=%s, records=%d" % (path, present, len(recs)))
            if present:
                self.assertTrue(rh.same_content_and_metadata(before, rh.snapshot(path)), path)
            else:
                self.assertEqual(recs[0]["sha256"], rh.sha256(before["data"]), path)
            checked += 1
        # every quarantined copy gives back its file, identical
        for it in items:
            self.c.result("quarantine.restore", {"id": it["id"]})
        for path, before in expected.items():
            self.assertTrue(rh.same_content_and_metadata(before, rh.snapshot(path)), path)
            checked += 1
        self.assert_quarantine_consistent()
        self.assertEqual(os.listdir(rh.quarantine_dir(self.d)), [])
        return checked


if __name__ == "__main__":
    rh.main()
