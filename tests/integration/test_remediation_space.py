#!/usr/bin/env python3
"""The quarantine's disk space through a real palisaded (issue 10, item 4: "the quarantine
can be made to fill the disk").

The attack: a user without much disk quota makes tar files of 250 MiB that take a few KiB
(the archive's big member is a hole) with an EICAR member, in a directory of their own, as
`nobody`. Before the fix every one of them became 250 MiB of the root daemon's disk. Now
the quarantine stores them sparse (a few KiB each) and restores them sparse and
byte-identical, and an item or a quarantine past its limits (QuarantineMaxItemBytes,
QuarantineMaxTotalBytes, QuarantineMinFreePercent; set with `palisade config set` or by
policy, which locks them) is refused: the threat's action is Failed with the limit named,
and the file stays where it is, byte-identical, with nothing added to the quarantine."""
import hashlib
import os
import stat
import subprocess
import sys
import tarfile
import unittest

import harness
import remediation_helpers as rh
from remediation_helpers import RemediationTest

MIB = 1 << 20
BIG = 250 * MIB  # the hole of the sparse archives, as in the report


def tar_with_eicar(path, member_size, sparse, uid, gid):
    """A tar archive: eicar.com, then a member of member_size bytes that is a hole of the
    archive (sparse) or random bytes (dense), then the end blocks. Owned by uid:gid."""
    with open(path, "wb") as f:
        e = harness.eicar()
        ti = tarfile.TarInfo("eicar.com")
        ti.size = len(e)
        ti.mtime = 1_700_000_000
        f.write(ti.tobuf(format=tarfile.GNU_FORMAT))
        f.write(e + b"\0" * (-len(e) % 512))
        ti = tarfile.TarInfo("disk.img")
        ti.size = member_size
        ti.mtime = 1_700_000_000
        f.write(ti.tobuf(format=tarfile.GNU_FORMAT))
        if sparse:
            f.seek(member_size, os.SEEK_CUR)
        else:
            f.write(os.urandom(member_size))
        f.write(b"\0" * (-member_size % 512) + b"\0" * 1024)
    os.chown(path, uid, gid)
    os.chmod(path, 0o644)
    return path


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def allocated(path):
    return os.lstat(path).st_blocks * 512


def data_extents(path):
    """The (offset, end) data extents of a file, as SEEK_DATA/SEEK_HOLE report them."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            h = os.lseek(fd, d, os.SEEK_HOLE)
            out.append((d, h))
            off = h
    finally:
        os.close(fd)
    return out


def identity(path):
    st = os.lstat(path)
    return {"sha256": file_sha256(path), "ino": st.st_ino, "dev": st.st_dev,
            "size": st.st_size, "mtime_ns": st.st_mtime_ns, "uid": st.st_uid,
            "gid": st.st_gid, "mode": stat.S_IMODE(st.st_mode)}


class SpaceTest(RemediationTest):

    def setUp(self):
        super().setUp()
        self.uid, self.gid = rh.nobody_ids()
        # the user's own directory: nobody owns it and everything in it
        self.home = self.d.path("home")
        os.makedirs(self.home)
        os.chown(self.home, self.uid, self.gid)
        os.chmod(self.home, 0o755)

    def tar(self, name, member_size, sparse):
        return tar_with_eicar(os.path.join(self.home, name), member_size, sparse, self.uid,
                              self.gid)

    def scan_one(self, path):
        res, _ = self.d.scan([path])
        hits = [t for t in res["threats"] if t["path"].startswith(path)]
        self.assertEqual(len(hits), 1, rh.dump(res))
        self.assertEqual(hits[0]["threat"], harness.EICAR_THREAT, rh.dump(hits[0]))
        return hits[0]

    def stored_files(self):
        q = rh.quarantine_dir(self.d)
        return [os.path.join(q, n) for n in sorted(os.listdir(q))]

    def config_set(self, name, value):
        self.d.cli_json("config", "set", name, str(value))

    def assert_refused_in_place(self, t, path, before, setting):
        self.assertEqual((t["action"], t["action_result"]), ("Quarantine", "Failed"), rh.dump(t))
        self.assertIn("quarantine limit", t["action_detail"])
        self.assertIn(setting, t["action_detail"])
        self.assertIn(path + " was left in place", t["action_detail"])
        self.assertEqual(identity(path), before)
        self.assertEqual(rh.temp_leftovers(self.home), [])
        # the detection keeps the failure: an unremediated threat
        rows = rh.db_rows(self.d, "SELECT action_result, action_detail FROM detections "
                                  "WHERE id = ?", (t["detection_id"],))
        self.assertEqual(rows[0][0], "Failed", rows)
        self.assertIn(setting, rows[0][1])

    # ---- sparse -------------------------------------------------------------------------

    def test_sparse_archives_are_stored_and_restored_sparse(self):
        # the smallest item limit there is: a 250 MiB archive passes it by what it takes
        self.config_set("QuarantineMaxItemBytes", 64 * 1024)
        paths = [self.tar("a.tar", BIG, True), self.tar("b.tar", BIG, True)]
        before = {p: identity(p) for p in paths}
        layout = {p: data_extents(p) for p in paths}
        allocated_before = {p: allocated(p) for p in paths}
        for p in paths:
            self.assertGreater(before[p]["size"], BIG)
            self.assertLess(allocated(p), 256 * 1024, "the file system did not make a hole")
        items = {}
        for p in paths:
            t = self.scan_one(p)
            self.assertEqual((t["action"], t["action_result"]), ("Quarantine", "Success"),
                             rh.dump(t))
            self.assertFalse(os.path.lexists(p))
            items[p] = self.item_for(p)
            self.assertEqual(items[p]["size"], before[p]["size"])
            self.assertEqual(items[p]["sha256"], before[p]["sha256"])
        stored = self.stored_files()
        self.assertEqual(len(stored), 2)
        total = sum(allocated(s) for s in stored)
        # two 250 MiB files took 501 MB of the quarantine before; now a few KiB each
        sys.stderr.write("\nsparse archives: %d bytes each, %d and %d allocated; their "
                         "quarantine items: %d bytes allocated in all\n"
                         % (before[paths[0]]["size"], allocated_before[paths[0]],
                            allocated_before[paths[1]], total))
        self.assertLess(total, 2 * 64 * 1024, [(s, allocated(s)) for s in stored])
        for s in stored:
            self.assertGreater(os.lstat(s).st_size, BIG)
            with open(s, "rb") as f:
                self.assertEqual(f.read(8), rh.QUARANTINE_MAGIC)
        self.assert_quarantine_consistent()
        for p in paths:
            res = self.c.result("quarantine.restore", {"id": items[p]["id"]})
            self.assertEqual(res["path"], p)
            after = identity(p)
            for k in ("sha256", "size", "mtime_ns", "uid", "gid", "mode"):
                self.assertEqual(after[k], before[p][k], k)
            self.assertLess(allocated(p), 256 * 1024, "restored dense")
            self.assertEqual(data_extents(p), layout[p])
        self.assertEqual(self.stored_files(), [])
        self.assertEqual(rh.temp_leftovers(self.home), [])

    # ---- limits -------------------------------------------------------------------------

    def test_item_limit_leaves_the_file_in_place(self):
        p = self.d.cli("config", "set", "QuarantineMaxItemBytes", "1000")
        self.assertEqual(p.returncode, 2, p.stderr)  # below the minimum: refused
        self.assertIn(b"QuarantineMaxItemBytes", p.stderr)
        self.config_set("QuarantineMaxItemBytes", 256 * 1024)
        path = self.tar("big.tar", 400 * 1024, False)
        before = identity(path)
        t = self.scan_one(path)
        self.assert_refused_in_place(t, path, before, "QuarantineMaxItemBytes")
        self.assertIn("> QuarantineMaxItemBytes 256.0 KiB (262144 bytes)", t["action_detail"])
        self.assertEqual(self.items(), [])
        self.assertEqual(self.stored_files(), [])
        # refused on its scanned allocation: the file was not even renamed
        self.assertEqual(rh.db_rows(self.d, "SELECT id FROM file_ops"), [])
        # the limit was the only reason: raised, the same file is quarantined
        self.config_set("QuarantineMaxItemBytes", MIB)
        t = self.scan_one(path)
        self.assertEqual(t["action_result"], "Success", rh.dump(t))
        self.assertFalse(os.path.lexists(path))
        self.assert_quarantine_consistent()

    def test_total_limit_refuses_the_item_that_would_pass_it(self):
        self.config_set("QuarantineMaxTotalBytes", MIB)
        first = self.tar("first.tar", 600 * 1024, False)
        second = self.tar("second.tar", 600 * 1024, False)
        t = self.scan_one(first)
        self.assertEqual(t["action_result"], "Success", rh.dump(t))
        (stored,) = self.stored_files()
        before = identity(second)
        t = self.scan_one(second)
        self.assert_refused_in_place(t, second, before, "QuarantineMaxTotalBytes")
        self.assertIn("in quarantine + item", t["action_detail"])
        self.assertEqual(self.stored_files(), [stored])
        self.assertEqual(len(self.items()), 1)
        self.assert_quarantine_consistent()
        # room made by deleting the first item: the second fits
        self.c.result("quarantine.remove", {"id": self.items()[0]["id"]})
        t = self.scan_one(second)
        self.assertEqual(t["action_result"], "Success", rh.dump(t))
        self.assert_quarantine_consistent()

    def test_free_space_reserve_of_the_quarantine_file_system(self):
        # the quarantine on a small file system of its own: 8 MiB, half of it kept free
        self.c.close()
        self.d.stop()
        q = rh.quarantine_dir(self.d)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", q],
                           capture_output=True)
        if p.returncode != 0:
            raise unittest.SkipTest("cannot mount a tmpfs: %s" % p.stderr.decode(errors="replace"))
        self.addCleanup(subprocess.run, ["umount", "-l", q], capture_output=True)
        self.d.start()
        self.c = self.d.client()
        self.config_set("QuarantineMinFreePercent", 50)
        first = self.tar("first.tar", 3 * MIB, False)
        second = self.tar("second.tar", 3 * MIB, False)
        t = self.scan_one(first)
        self.assertEqual(t["action_result"], "Success", rh.dump(t))
        before = identity(second)
        t = self.scan_one(second)
        self.assert_refused_in_place(t, second, before, "QuarantineMinFreePercent")
        self.assertEqual(len(self.stored_files()), 1)
        self.assert_quarantine_consistent()
        # the file system has its reserve left
        vfs = os.statvfs(q)
        self.assertGreaterEqual(vfs.f_bavail, vfs.f_blocks // 2)


class PolicyLockTest(RemediationTest):
    """A policy file sets the limits: they are locked against the control socket and in
    force for the scans."""

    daemon_kwargs = {"policy": {"50-quarantine.json": {"QuarantineMaxItemBytes": 128 * 1024,
                                                       "QuarantineMaxTotalBytes": 4 * MIB}}}

    def test_policy_sets_and_locks_the_limits(self):
        uid, gid = rh.nobody_ids()
        home = self.d.path("home")
        os.makedirs(home)
        os.chown(home, uid, gid)
        for name in ("QuarantineMaxItemBytes", "QuarantineMaxTotalBytes"):
            resp = self.c.call("config.set", {"name": name, "value": 1 << 30})
            self.assertEqual(resp["error"]["code"], "PolicyLocked", resp)
            self.assertIn("50-quarantine.json", resp["error"]["message"])
            item = self.d.cli_json("config", "get", name)
            self.assertEqual(item["source"], "Policy")
        path = tar_with_eicar(os.path.join(home, "x.tar"), 300 * 1024, False, uid, gid)
        before = identity(path)
        res, _ = self.d.scan([path])
        (t,) = res["threats"]
        self.assertEqual(t["action_result"], "Failed", rh.dump(t))
        self.assertIn("QuarantineMaxItemBytes 128.0 KiB", t["action_detail"])
        self.assertEqual(identity(path), before)
        self.assertEqual(os.listdir(rh.quarantine_dir(self.d)), [])


if __name__ == "__main__":
    rh.main()
