#!/usr/bin/env python3
"""Quarantine and restore across file systems: the scanned files on a tmpfs and the state
directory on the file system of /tmp, then the other way round. Taking a file out of
place is a copy into the quarantine, an fsync and an unlink (no rename can cross devices);
restoring writes a new file on the other device. Both must give back the same bytes,
owner, group, mode and modification time, for a small file and a 1.5 MB one (many copy
chunks)."""
import os
import subprocess
import unittest

import harness
import remediation_helpers as rh


def mount_tmpfs(test, path, mode):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=%o" % mode,
                        "palisade-xdev", path], capture_output=True)
    if p.returncode != 0:
        raise unittest.SkipTest("cannot mount a tmpfs: %s" % p.stderr.decode(errors="replace"))
    test.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True)


class XdevMixin:

    def make_files(self, root):
        uid, gid = rh.nobody_ids()
        big = rh.sample("miner-config.json") + b"\n" + os.urandom(1_500_000)
        files = {
            os.path.join(root, "small.com"): (rh.eicar_variant(77), uid, gid, 0o640,
                                              1_400_000_000_123_456_789),
            os.path.join(root, "dir", "big.json"): (big, uid, gid, 0o755,
                                                    1_300_000_000_000_000_001),
        }
        snaps = {}
        for path, (data, u, g, mode, mtime) in files.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.chown(path, u, g)
            os.chmod(path, mode)
            os.utime(path, ns=(mtime + 5, mtime))
            snaps[path] = rh.snapshot(path)
        return snaps

    def quarantine_and_restore(self, d, c, root, elsewhere):
        snaps = self.make_files(root)
        res, _ = d.scan([root], client=c)
        self.assertEqual(sorted((t["action"], t["action_result"]) for t in res["threats"]),
                         [("Quarantine", "Success")] * 2, rh.dump(res))
        for path in snaps:
            self.assertFalse(os.path.lexists(path))
        self.assertEqual(rh.temp_leftovers(root), [])
        items = c.result("quarantine.list")["items"]
        self.assertEqual(sorted(i["original_path"] for i in items), sorted(snaps))
        for i in items:
            self.assertEqual(i["sha256"], rh.sha256(snaps[i["original_path"]]["data"]))
            c.result("quarantine.restore", {"id": i["id"]})
        for path, before in snaps.items():
            self.assertTrue(rh.same_content_and_metadata(before, rh.snapshot(path)), path)
        # and once more, restoring onto the other file system
        d.scan([root], client=c)
        for i in c.result("quarantine.list")["items"]:
            dest = os.path.join(elsewhere, "restored-%d" % i["id"])
            c.result("quarantine.restore", {"id": i["id"], "destination": dest})
            self.assertTrue(rh.same_content_and_metadata(snaps[i["original_path"]],
                                                         rh.snapshot(dest)), dest)
        self.assertEqual(c.result("quarantine.list")["items"], [])
        self.assertEqual(os.listdir(rh.quarantine_dir(d)), [])


class FilesOnTmpfsTest(XdevMixin, rh.RemediationTest):

    def test_quarantine_and_restore_across_devices(self):
        mnt = self.d.path("mnt")
        mount_tmpfs(self, mnt, 0o755)
        self.assertNotEqual(os.stat(mnt).st_dev, os.stat(self.d.state_dir).st_dev)
        elsewhere = self.d.path("elsewhere")
        os.makedirs(elsewhere)
        self.quarantine_and_restore(self.d, self.c, os.path.join(mnt, "files"), elsewhere)


class StateOnTmpfsTest(XdevMixin, unittest.TestCase):

    def setUp(self):
        rh.require_root()
        import tempfile
        import shutil
        self.base = tempfile.mkdtemp(prefix="pal-xdev.")
        os.chmod(self.base, 0o755)
        self.addCleanup(shutil.rmtree, self.base, True)
        state = os.path.join(self.base, "state")
        mount_tmpfs(self, state, 0o700)
        self.d = rh.RemDaemon(base=self.base, state_dir=state)
        self.addCleanup(self.d.cleanup)
        self.addCleanup(rh.check_sanitizers, self, self.d)
        self.d.start()
        self.c = self.d.client()
        self.addCleanup(lambda: self.c.close())

    def test_quarantine_and_restore_across_devices(self):
        files = os.path.join(self.base, "files")
        elsewhere = os.path.join(self.d.state_dir, "elsewhere")
        os.makedirs(elsewhere)
        self.assertNotEqual(os.stat(self.base).st_dev, os.stat(self.d.state_dir).st_dev)
        self.quarantine_and_restore(self.d, self.c, files, elsewhere)


if __name__ == "__main__":
    harness.main()
