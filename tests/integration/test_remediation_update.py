#!/usr/bin/env python3
"""Signature updates through a real palisaded: a tampered (one flipped byte), truncated or
foreign-signed package is refused with the verifier's reason and the package in force
stays; a lower version is refused unless forced; the previous package is kept for a
rollback (which swaps back and forth); the scanners switch to the new package without a
restart and the scan cache is emptied; a scan held in flight across an update completes;
and a SIGKILL at random moments of updates always leaves a valid, verified package in
force after the restart, with no temporary file left. The same version as the one in force is
refused unless forced; a file over the size limit is refused before anything is created
in the defs directory (inotify shows no event). The trusted-keys directory is vetted like
the policy directory: one owned by a user or writable by others trusts no key, a key file
writable by others, owned by a user or reached through a symlink is skipped, and status
names the path and the problem."""
import ctypes
import os
import pwd
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
        cls.foreign_pub = os.path.join(cls.dir, "foreign.pub")
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

    def test_same_version_is_refused_unless_forced(self):
        # the daemon started with v5 in force; v5 again would only throw away previous.sig
        self.c.result("update", {"path": Packages.v6})
        self.c.result("update", {"path": Packages.v5, "force": True})
        err = self.error("update", {"path": Packages.v5})
        self.assertEqual(err["code"], "Exists", err)
        self.assertIn("already in force", err["message"])
        self.assertEqual(read(os.path.join(self.defs_dir, "previous.sig")), read(Packages.v6))
        p = self.d.cli("update", Packages.v5)
        self.assertEqual(p.returncode, 2, p)
        self.assertIn(b"already in force", p.stderr)
        self.assertEqual(read(os.path.join(self.defs_dir, "previous.sig")), read(Packages.v6))
        # forced: accepted, and the same version is in force
        res = self.c.result("update", {"path": Packages.v5, "force": True})
        self.assertEqual((res["signature_version"], res["previous_version"]), (5, 5))
        p = self.d.cli("update", Packages.v5, "--force")
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(self.version(), 5)
        self.assertEqual(self.defs_leftovers(), [])

    def test_oversized_package_is_refused_before_a_byte_is_copied(self):
        big = self.d.path("big.sig")
        with open(big, "wb") as f:
            f.truncate((1 << 30) + 1)       # sparse: 1 GiB + 1 byte, no disk used
        with open(Packages.v6, "rb") as f:  # a real package's bytes at the start
            head = f.read()
        with open(big, "r+b") as f:
            f.write(head)
        watch = DirWatch(self.defs_dir)
        try:
            err = self.error("update", {"path": big})
            events = watch.events()
        finally:
            watch.close()
        self.assertEqual(err["code"], "Refused", err)
        self.assertIn("1073741825 bytes", err["message"])
        # nothing was created (let alone written) in the defs directory
        self.assertEqual(events, [])
        self.assertEqual(self.defs_leftovers(), [])
        self.assertEqual(self.version(), 5)
        # the copy itself is bounded by the size fstat gave: a file with more content than
        # that (as if it grew while copied; /proc reports 0 bytes) is refused, not copied
        watch = DirWatch(self.defs_dir)
        try:
            err = self.error("update", {"path": "/proc/self/status"})
            events = watch.events()
        finally:
            watch.close()
        self.assertEqual(err["code"], "Refused", err)
        self.assertIn("grew past 0 bytes", err["message"])
        self.assertEqual(self.defs_leftovers(), [])
        self.assertTrue(events, "the bounded copy should have started (a temporary)")
        self.assertEqual(self.version(), 5)
        # a package of a sane size still installs
        self.assertEqual(self.c.result("update", {"path": Packages.v6})["signature_version"], 6)

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


class DirWatch:
    """inotify on one directory: every entry created, written, moved in or deleted."""
    IN_MODIFY, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x2, 0x80, 0x100, 0x200
    IN_NONBLOCK = 0o4000

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(self.IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = self.IN_MODIFY | self.IN_MOVED_TO | self.IN_CREATE | self.IN_DELETE
        if self.libc.inotify_add_watch(self.fd, path.encode(), mask) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def events(self):
        out = []
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return out
        off = 0
        while off < len(data):
            _, mask, _, length = __import__("struct").unpack_from("iIII", data, off)
            name = data[off + 16: off + 16 + length].rstrip(b"\0").decode()
            out.append((hex(mask), name))
            off += 16 + length
        return out

    def close(self):
        os.close(self.fd)


class TrustedKeysTest(rh.RemediationTest):
    """--trusted-keys vetted like the policy directory: the administrator's keys directory
    as an attacker would leave it. Each test builds its own directory holding the build's
    key, and starts the daemon on it with the attacker's package offered by --defs."""

    def setUp(self):
        self.base = os.path.realpath(__import__("tempfile").mkdtemp(prefix="pal-keys."))
        os.chmod(self.base, 0o755)
        self.addCleanup(shutil.rmtree, self.base, ignore_errors=True)
        self.keys = os.path.join(self.base, "trusted-keys")
        os.mkdir(self.keys, 0o755)
        for n in os.listdir(harness.trusted_keys()):
            shutil.copy(os.path.join(harness.trusted_keys(), n), self.keys)
            os.chmod(os.path.join(self.keys, n), 0o644)
        self.nobody = pwd.getpwnam(rh.NOBODY)

    def start(self, defs=None):
        self.daemon_kwargs = {"keys_dir": self.keys, "defs_path": defs or Packages.unknown}
        super().setUp()

    def status(self):
        return self.c.result("status")

    def attacker_key(self, name="attacker.pub"):
        dst = os.path.join(self.keys, name)
        shutil.copy(Packages.foreign_pub, dst)
        return dst

    def test_control_a_vetted_directory_with_the_attackers_key_trusts_it(self):
        # what the attack would achieve if nothing were vetted: the test below can fail
        self.attacker_key()
        self.start()
        self.assertEqual(self.status()["signature_version"], 9)
        self.assertEqual([r for r in self.status()["degraded"] if "trusted keys" in r], [])

    def test_directory_owned_by_a_user_and_world_writable_is_not_trusted(self):
        self.attacker_key()
        os.chown(self.keys, self.nobody.pw_uid, self.nobody.pw_gid)
        os.chmod(self.keys, 0o777)
        self.start()
        st = self.status()
        self.assertIsNone(st["signature_version"], st)
        reasons = [r for r in st["degraded"] if r.startswith("trusted keys:")]
        self.assertEqual(len(reasons), 1, st["degraded"])
        self.assertIn(self.keys, reasons[0])
        self.assertIn("not owned by root (uid %d, mode 0777)" % self.nobody.pw_uid, reasons[0])
        self.assertIn("no key from it is trusted", reasons[0])
        # neither the attacker's package nor the real one verifies: no key is trusted
        err = self.error("update", {"path": Packages.unknown})
        self.assertEqual(err["code"], "Refused", err)
        self.assertIn("unknown key", err["message"])
        err = self.error("update", {"path": Packages.v6})
        self.assertEqual(err["code"], "Refused", err)
        self.assertIsNone(self.status()["signature_version"])
        self.assertFalse(os.path.exists(os.path.join(self.d.state_dir, "defs", "current.sig")))

    def test_root_owned_directory_writable_by_others_is_not_trusted(self):
        self.attacker_key()
        os.chmod(self.keys, 0o757)
        self.start()
        st = self.status()
        self.assertIsNone(st["signature_version"], st)
        self.assertTrue(any("writable by others" in r and self.keys in r
                            for r in st["degraded"]), st["degraded"])

    def test_key_file_writable_by_others_is_skipped_and_reported(self):
        bad = self.attacker_key()
        os.chmod(bad, 0o666)
        self.start()
        st = self.status()
        self.assertIsNone(st["signature_version"], st)   # the attacker's --defs: refused
        reasons = [r for r in st["degraded"] if r.startswith("trusted keys:")]
        self.assertEqual(len(reasons), 1, st["degraded"])
        self.assertIn(bad, reasons[0])
        self.assertIn("writable by others", reasons[0])
        self.assertIn("mode 0666", reasons[0])
        err = self.error("update", {"path": Packages.unknown})
        self.assertIn("unknown key", err["message"])
        # the other, vetted key is still trusted
        self.assertEqual(self.c.result("update", {"path": Packages.v6})["signature_version"], 6)

    def test_key_file_owned_by_a_user_is_skipped(self):
        bad = self.attacker_key()
        os.chown(bad, self.nobody.pw_uid, self.nobody.pw_gid)
        os.chmod(bad, 0o644)
        self.start()
        st = self.status()
        self.assertIsNone(st["signature_version"], st)
        self.assertTrue(any(bad in r and "not owned by root" in r for r in st["degraded"]),
                        st["degraded"])

    def test_symlinked_key_is_refused(self):
        # the link points at a key the attacker owns, outside the vetted directory
        theirs = os.path.join(self.base, "theirs")
        os.mkdir(theirs, 0o755)
        os.chown(theirs, self.nobody.pw_uid, self.nobody.pw_gid)
        target = os.path.join(theirs, "k.pub")
        shutil.copy(Packages.foreign_pub, target)
        os.chown(target, self.nobody.pw_uid, self.nobody.pw_gid)
        link = os.path.join(self.keys, "attacker.pub")
        os.symlink(target, link)
        self.start()
        st = self.status()
        self.assertIsNone(st["signature_version"], st)
        self.assertTrue(any(link in r and "symbolic link" in r for r in st["degraded"]),
                        st["degraded"])
        err = self.error("update", {"path": Packages.unknown})
        self.assertIn("unknown key", err["message"])
        self.assertEqual(self.c.result("update", {"path": Packages.v6})["signature_version"], 6)

    def test_symlinked_directory_is_refused(self):
        self.attacker_key()
        link = os.path.join(self.base, "keys-link")
        os.symlink(self.keys, link)
        self.keys = link
        self.start()
        st = self.status()
        self.assertIsNone(st["signature_version"], st)
        self.assertTrue(any(link in r and "symbolic link" in r for r in st["degraded"]),
                        st["degraded"])


if __name__ == "__main__":
    rh.main()
