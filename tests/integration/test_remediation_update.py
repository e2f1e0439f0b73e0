#!/usr/bin/env python3
"""Signature updates through a real palisaded: a tampered (one flipped byte), truncated or
foreign-signed package is refused with the verifier's reason and the package in force
stays; a lower version is refused unless forced; the previous package is kept for a
rollback (which swaps back and forth); the scanners switch to the new package without a
restart and the scan cache is emptied; a scan held in flight across an update completes;
and a SIGKILL at random moments of updates always leaves a valid, verified package in
force after the restart, with no temporary file left."""
import os
import random
import shutil
import signal
import threading
import time

import harness
import remediation_helpers as rh
from remediation_helpers import RemediationTest

KILL_ROUNDS = 20


class Packages:
    """Test packages built once for the whole file."""
    dir = None

    @classmethod
    def build(cls):
        if cls.dir:
            return
        rh.require_root()
        cls.dir = os.path.realpath(__import__("tempfile").mkdtemp(prefix="pal-pkgs."))
        os.chmod(cls.dir, 0o755)
        cls.v5 = rh.build_package(os.path.join(cls.dir, "v5.sig"), 5, workdir=cls.dir)
        cls.v6 = rh.build_package(os.path.join(cls.dir, "v6.sig"), 6, marker_rule=True,
                                  workdir=cls.dir)
        cls.v7 = rh.build_package(os.path.join(cls.dir, "v7.sig"), 7, marker_rule=True,
                                  workdir=cls.dir)
        foreign = rh.new_key(os.path.join(cls.dir, "foreign"))
        cls.unknown = rh.build_package(os.path.join(cls.dir, "unknown-key.sig"), 9,
                                       key=foreign, workdir=cls.dir)
        with open(cls.v6, "rb") as f:
            data = bytearray(f.read())
        cls.size = len(data)
        tampered = bytearray(data)
        tampered[len(data) // 2] ^= 0x01
        cls.tampered = os.path.join(cls.dir, "tampered.sig")
        with open(cls.tampered, "wb") as f:
            f.write(tampered)
        cls.truncated = os.path.join(cls.dir, "truncated.sig")
        with open(cls.truncated, "wb") as f:
            f.write(data[: len(data) // 2])

    @classmethod
    def remove(cls):
        if cls.dir:
            shutil.rmtree(cls.dir, ignore_errors=True)


def setUpModule():
    Packages.build()


def tearDownModule():
    Packages.remove()


def read(path):
    with open(path, "rb") as f:
        return f.read()


class UpdateTest(RemediationTest):

    def setUp(self):
        self.daemon_kwargs = {"defs_path": Packages.v5}
        super().setUp()
        self.defs_dir = os.path.join(self.d.state_dir, "defs")

    def version(self):
        return self.c.result("status")["signature_version"]

    def defs_leftovers(self):
        return [n for n in os.listdir(self.defs_dir) if n.startswith(".")]

    def test_bad_packages_are_refused_and_the_old_one_stays(self):
        cases = (
            (Packages.tampered, "signature"),
            (Packages.truncated, None),
            (Packages.unknown, "unknown key"),
        )
        for path, reason in cases:
            err = self.error("update", {"path": path})
            self.assertEqual(err["code"], "Refused", (path, err))
            self.assertIn("refused", err["message"])
            if reason:
                self.assertIn(reason, err["message"], err)
            self.assertEqual(self.version(), 5)
            self.assertFalse(os.path.exists(os.path.join(self.defs_dir, "current.sig")))
            self.assertEqual(self.defs_leftovers(), [])
        err = self.error("update", {"path": os.path.join(Packages.dir, "missing.sig")})
        self.assertEqual(err["code"], "NotFound")
        err = self.error("update", {"path": Packages.dir})
        self.assertEqual(err["code"], "InvalidValue")
        self.assertEqual(self.error("update", {"path": "v6.sig"})["code"], "BadRequest")
        # still scanning with the package in force
        f = self.write(self.d.path("t", "e.com"), rh.eicar_variant(1))
        res, _ = self.d.scan([f])
        self.assertEqual(len(res["threats"]), 1)
        # and a restart keeps it
        self.restart()
        self.assertEqual(self.version(), 5)

    def test_update_downgrade_and_rollback(self):
        res = self.c.result("update", {"path": Packages.v6})
        self.assertEqual((res["signature_version"], res["previous_version"]), (6, 5))
        self.assertEqual(self.version(), 6)
        self.assertEqual(read(os.path.join(self.defs_dir, "current.sig")), read(Packages.v6))
        self.assertEqual(read(os.path.join(self.defs_dir, "previous.sig")), read(Packages.v5))
        err = self.error("update", {"path": Packages.v5})
        self.assertEqual(err["code"], "Refused")
        self.assertIn("lower than version 6", err["message"])
        self.assertEqual(self.version(), 6)
        res = self.c.result("update", {"path": Packages.v5, "force": True})
        self.assertEqual((res["signature_version"], res["previous_version"]), (5, 6))
        res = self.c.result("update.rollback")
        self.assertEqual((res["signature_version"], res["previous_version"]), (6, 5))
        res = self.c.result("update.rollback")
        self.assertEqual((res["signature_version"], res["previous_version"]), (5, 6))
        self.c.result("update.rollback")
        self.assertEqual(self.version(), 6)
        self.assertEqual(self.defs_leftovers(), [])
        audit = rh.db_rows(self.d, "SELECT action FROM audit WHERE action LIKE '%Signatures' "
                                   "ORDER BY id")
        self.assertEqual([a for (a,) in audit], ["UpdateSignatures", "UpdateSignatures",
                                                 "RollbackSignatures", "RollbackSignatures",
                                                 "RollbackSignatures"])
        # installed packages survive a restart (the newest of current.sig and --defs)
        self.restart()
        self.assertEqual(self.version(), 6)

    def test_rollback_without_previous(self):
        err = self.error("update.rollback")
        self.assertEqual(err["code"], "NotFound", err)

    def test_scanners_switch_and_the_cache_is_emptied(self):
        marked = self.write(self.d.path("m", "marked.txt"),
                            b"some text\n" + rh.MARKER + b"\nmore text\n")
        res, _ = self.d.scan([marked])
        self.assertEqual(res["threats"], [])
        res, _ = self.d.scan([marked])
        self.assertEqual((res["threats"], res["cache_hits"]), ([], 1))
        self.c.result("update", {"path": Packages.v6})
        res, _ = self.d.scan([marked])
        self.assertEqual(res["cache_hits"], 0)
        self.assertEqual([t["threat"] for t in res["threats"]], [rh.MARKER_THREAT])
        self.assertFalse(os.path.exists(marked))

    def test_scan_in_flight_during_update(self):
        tree = self.d.path("tree")
        for i in range(6):
            self.write(os.path.join(tree, "f%d.com" % i), rh.eicar_variant(200 + i))
        for i in range(6):
            self.write(os.path.join(tree, "clean%d.txt" % i), b"nothing here %d\n" % i)
        held = os.path.join(tree, "f3.com")
        gate = harness.Gate(held)
        try:
            rid = self.c.start("scan.start", {"type": "Custom", "paths": [tree]})
            self.assertTrue(gate.wait(self.d.proc.pid))
            with self.d.client() as other:
                res = other.result("update", {"path": Packages.v7})
                self.assertEqual(res["signature_version"], 7)
        finally:
            gate.close()
        resp, _ = self.c.wait(rid)
        res = resp["result"]
        self.assertEqual(res["status"], "Completed", rh.dump(res))
        self.assertEqual(res["files_scanned"], 12)
        self.assertEqual(res["unscannable"], [])
        self.assertEqual(sorted((t["action"], t["action_result"]) for t in res["threats"]),
                         [("Quarantine", "Success")] * 6)
        self.assertEqual(self.version(), 7)

    def test_sigkill_during_updates(self):
        seed = int(os.environ.get("PAL_CRASH_SEED", "0")) or int(time.time())
        rnd = random.Random(seed)
        probe = self.d.path("probe")
        versions_seen = {}
        mid_install = 0
        for n in range(KILL_ROUNDS):
            pkg = (Packages.v6, Packages.v7, Packages.tampered)[n % 3]
            force = rnd.random() < 0.5
            self.c.start("update", {"path": pkg, "force": force})
            timer = threading.Timer(rnd.uniform(0, 0.02), self.d.proc.send_signal,
                                    (signal.SIGKILL,))
            timer.start()
            timer.join()
            self.d.proc.wait()
            self.d.proc = None
            # temporaries left: the kill landed inside the install
            mid_install += bool(self.defs_leftovers())
            self.restart()
            v = self.version()
            self.assertIn(v, (5, 6, 7))
            versions_seen[v] = versions_seen.get(v, 0) + 1
            self.assertEqual(self.defs_leftovers(), [])
            for name in ("current.sig", "previous.sig"):
                p = os.path.join(self.defs_dir, name)
                if os.path.exists(p):
                    self.assertTrue(rh.verify_package(p), "%s does not verify" % name)
            # the package in force works
            f = self.write(os.path.join(probe, "e%d.com" % n), rh.eicar_variant(300 + n))
            res, _ = self.d.scan([f])
            self.assertEqual([t["action_result"] for t in res["threats"]], ["Success"])
        print("update-kill-loop: seed=%d kills=%d (%d inside an install) versions in force "
              "after restart %r" % (seed, KILL_ROUNDS, mid_install, versions_seen), flush=True)


if __name__ == "__main__":
    rh.main()
