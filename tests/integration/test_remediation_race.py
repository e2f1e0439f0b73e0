#!/usr/bin/env python3
"""Race safety of remediation against an unprivileged attacker (a process running as
nobody that owns the scanned directories) who wants the root daemon to act on a root-owned
victim directory holding files of the same names and content.

Held rounds: the daemon's walker is held (fanotify permission gate) right as it opens the
scanned file; the attacker then swaps a parent directory (one or two levels up) for a
symlink to the victim, replaces the file with a new inode, or turns the file into a symlink
to the victim's file; the scan goes on. Each round must end Failed with a reason, the
attacker's file untouched, the victim untouched.

Free-running: the attacker does all of that at random in a tight loop while the daemon
scans and quarantines over and over. Whatever interleaving happens, the victim is never
touched, every quarantined item came from the attacker's tree, every failure says why,
and the quarantine stays consistent."""
import os
import stat

import harness
import remediation_helpers as rh
from remediation_helpers import RemediationTest

ROUNDS = 5            # held rounds per kind of attack
CHAOS_STEPS = 1500    # attacker steps in the free-running loop
CHAOS_SCANS = 40      # scans while it runs
REL = "a/sub/evil.com"


def tree_state(root):
    """Everything observable about a tree: names, inodes, modes, owners, times, content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [""] + dirnames + filenames:
            p = os.path.join(dirpath, n) if n else dirpath
            st = os.lstat(p)
            rec = (st.st_ino, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                   st.st_ctime_ns)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    rec += (f.read(),)
            out[os.path.relpath(p, root)] = rec
    return out


class RaceTest(RemediationTest):

    def setUp(self):
        super().setUp()
        uid, gid = rh.nobody_ids()
        self.content = rh.eicar_variant(42)
        # the victim: root's, with the same names and the same content
        self.victim = self.d.path("victim")
        self.write(os.path.join(self.victim, "evil.com"), self.content)
        self.write(os.path.join(self.victim, "sub", "evil.com"), self.content)
        self.victim_before = tree_state(self.victim)
        # the attacker's tree
        self.user = self.d.path("user")
        for rel in ("", "a", "a/sub"):
            p = os.path.join(self.user, rel)
            os.makedirs(p, exist_ok=True)
            os.chown(p, uid, gid)
            os.chmod(p, 0o755)
        self.att = rh.Attacker(self.user, self.content)
        self.addCleanup(self.att.close)
        self.att.do("ensure", REL)
        self.target = os.path.join(self.user, REL)

    def assert_victim_untouched(self):
        self.assertEqual(tree_state(self.victim), self.victim_before,
                         "the victim directory was changed")

    def held_scan(self, attack):
        """Scan a/sub, hold the walker as it opens the file, run attack(), let it go on."""
        gate = harness.Gate(self.target)
        try:
            rid = self.c.start("scan.start", {"type": "Custom",
                                              "paths": [os.path.dirname(self.target)]})
            self.assertTrue(gate.wait(self.d.proc.pid), "the scan never opened the file")
            attack()
        finally:
            gate.close()
        resp, _ = self.c.wait(rid)
        self.assertIn("result", resp, resp)
        threats = [t for t in resp["result"]["threats"] if t["path"] == self.target]
        self.assertEqual(len(threats), 1, rh.dump(resp["result"]))
        return threats[0]

    def assert_failed_safely(self, t, reason):
        self.assertEqual((t["action"], t["action_result"]), ("Quarantine", "Failed"), t)
        self.assertIn(reason, t["action_detail"])
        self.assertIn("nothing was done", t["action_detail"])
        self.assert_victim_untouched()
        self.assertEqual(self.items(), [])
        self.assertEqual(rh.temp_leftovers(self.user), [])

    def test_control_round_quarantines(self):
        t = self.held_scan(lambda: None)
        self.assertEqual(t["action_result"], "Success", t)
        self.assertEqual(self.item_for(self.target)["sha256"], rh.sha256(self.content))
        self.assertFalse(os.path.lexists(self.target))
        self.assert_victim_untouched()

    def test_parent_swapped_for_symlink(self):
        for level, rel in ((1, "a/sub"), (2, "a")):
            for _ in range(ROUNDS):
                self.att.do("ensure", REL)
                real = os.path.join(self.user, rel + ".real", os.path.relpath(REL, rel))
                before = rh.snapshot(self.target)
                t = self.held_scan(lambda: self.att.do("swapdir", rel, self.victim))
                self.assert_failed_safely(t, "is a symbolic link")
                after = rh.snapshot(real)
                self.assertEqual((after["ino"], after["data"]), (before["ino"], before["data"]),
                                 "level %d: the attacker's file was changed" % level)
                self.assertTrue(os.path.islink(os.path.join(self.user, rel)))
                self.att.do("unswapdir", rel)

    def test_file_replaced_after_scan(self):
        for _ in range(ROUNDS):
            self.att.do("ensure", REL)
            old = rh.snapshot(self.target)
            new = {}

            def attack():
                self.att.do("replace", REL)
                new.update(rh.snapshot(self.target))

            t = self.held_scan(attack)
            self.assert_failed_safely(t, "replaced or modified after the scan")
            self.assertNotEqual(new["ino"], old["ino"])
            now = rh.snapshot(self.target)
            self.assertEqual((now["ino"], now["data"], now["mtime_ns"]),
                             (new["ino"], new["data"], new["mtime_ns"]))

    def test_file_swapped_for_symlink_to_victim(self):
        for _ in range(ROUNDS):
            self.att.do("ensure", REL)
            vfile = os.path.join(self.victim, "evil.com")
            t = self.held_scan(lambda: self.att.do("linkfile", REL, vfile))
            self.assert_failed_safely(t, "no longer a regular file")
            self.assertEqual(os.readlink(self.target), vfile)

    def test_free_running_attacker(self):
        self.att.chaos_start(CHAOS_STEPS, 20261125, "a/sub", REL, self.victim)
        outcomes = {"Success": 0, "Failed": 0}
        put_back_failures = 0
        scans = 0
        try:
            for _ in range(CHAOS_SCANS):
                res, _ = self.d.scan([self.user], client=self.c)
                scans += 1
                for t in res["threats"]:
                    self.assertTrue(t["path"].startswith(self.user + "/"), t)
                    self.assertEqual(t["action"], "Quarantine", t)
                    outcomes[t["action_result"]] += 1
                    if t["action_result"] == "Failed":
                        self.assertTrue(t["action_detail"], t)
                        self.assertNotIn(self.victim, t["action_detail"])
                        put_back_failures += "could not be put back" in t["action_detail"]
                    else:
                        self.assertRegex(t["action_detail"], r"^quarantined as item \d+$")
        finally:
            summary = self.att.chaos_wait()
        self.assert_victim_untouched()
        for item in self.items():
            self.assertTrue(item["original_path"].startswith(self.user + "/"), item)
            self.assertEqual(item["sha256"], rh.sha256(self.content), item)
        self.assertLessEqual(len(rh.temp_leftovers(self.user)), put_back_failures)
        self.assert_quarantine_consistent()
        print("race: attacker %s; %d scans; quarantined %d, failed safely %d; victim untouched"
              % (summary, scans, outcomes["Success"], outcomes["Failed"]), flush=True)


if __name__ == "__main__":
    rh.main()
