#!/usr/bin/env python3
"""The scan cache must not be poisonable by a user who can write a file (issue 10, item 1;
threat model in agent/core/scan/cachetrust.h).

The attack, as the user `nobody` performs it: own a small clean file, map it MAP_SHARED
read-write and write one byte through the mapping (the page is now dirty and writable; this
write stamps mtime and ctime). The administrator scans: the file is clean. Then write the
EICAR string through the same mapping: no page fault, so mtime and ctime never change (the
test checks that it really happened that way). `sync`, scan again: the threat must be found,
with the file's bytes read. Performed on the disk-backed file system the tests run on (ext4
here) and on a tmpfs the test mounts (never written back: the page stays writable forever).

Also: files nobody but root can write are cached at once (disk and tmpfs); a tree of
user-owned files is cached once its mtime and ctime are older than the writeback window
(dirty_expire + dirty_writeback + 10 s; the test lowers vm.dirty_expire_centisecs for the
one scan that needs it, and restores it at once), but never on tmpfs; and a user-owned file
that is old by that rule yet still has a dirty writable page (writeback lagging behind the
expiry) is written back by the broker before it is read, so a later write through the
mapping faults, changes the key and is caught.
"""
import mmap
import os
import pwd
import subprocess
import time
import unittest

import harness
from harness import DaemonTest

EICAR = harness.eicar()
USER = "nobody"
CLEAN = b"A" * len(EICAR)       # same size: writing EICAR through the mapping keeps the size
VM = "/proc/sys/vm"
MARGIN_S = 10                   # PAL_CACHETRUST_MARGIN_NS
# f_type of the file systems cachetrust.c trusts to write pages back (ext2/3/4, xfs, btrfs,
# f2fs)
DISK_FS = {0xEF53, 0x58465342, 0x9123683E, 0xF2F52010}

def fs_type(path):
    out = subprocess.run(["stat", "-f", "-c", "%t", path], capture_output=True, check=True)
    return int(out.stdout.decode().strip(), 16)


def read_vm(name):
    with open(os.path.join(VM, name)) as f:
        return int(f.read().strip())


def write_vm(name, value):
    with open(os.path.join(VM, name), "w") as f:
        f.write("%d\n" % value)


def stamps(path):
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size)


class Attacker:
    """A forked child that drops to `nobody` (groups, gid, uid) and then maps files and
    writes through the mappings on command; it holds the mappings between commands."""

    def __init__(self):
        pw = pwd.getpwnam(USER)
        cmd_r, cmd_w = os.pipe()
        ack_r, ack_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(cmd_w)
                os.close(ack_r)
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
                self._serve(os.fdopen(cmd_r, "rb"), ack_w)
                code = 0
            finally:
                os._exit(code)
        os.close(cmd_r)
        os.close(ack_w)
        self.pid = pid
        self.cmd = os.fdopen(cmd_w, "wb")
        self.ack = os.fdopen(ack_r, "rb")

    @staticmethod
    def _serve(commands, ack_fd):
        maps = {}
        for line in commands:
            cmd, path, data = line.split()
            path, data = os.fsdecode(path), bytes.fromhex(data.decode())
            if cmd == b"map":
                # the clean file, mapped shared and writable; one byte dirties its page
                with open(path, "wb") as f:
                    f.write(data)
                fd = os.open(path, os.O_RDWR)
                m = mmap.mmap(fd, len(data), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                os.close(fd)
                m[0:1] = b"B"
                maps[path] = m
            elif cmd == b"write":
                maps[path][0:len(data)] = data      # no new fault while the page is dirty
            os.write(ack_fd, b"ok\n")

    def _do(self, cmd, path, data):
        self.cmd.write(("%s %s %s\n" % (cmd, path, data.hex())).encode())
        self.cmd.flush()
        if self.ack.readline() != b"ok\n":
            raise AssertionError("the attacker (uid %s) failed to %s %s"
                                 % (USER, cmd, path))

    def map_dirty(self, path, content):
        self._do("map", path, content)

    def write(self, path, content):
        self._do("write", path, content)

    def close(self):
        if self.pid:
            self.cmd.close()
            self.ack.close()
            os.waitpid(self.pid, 0)
            self.pid = None


class CacheTrust(DaemonTest):

    def setUp(self):
        if os.geteuid() != 0 or not harness.user_exists(USER):
            raise unittest.SkipTest("needs root and the user %s" % USER)
        super().setUp()
        self.d.keep_threats()       # the file must stay where it is for the second scan
        self.pw = pwd.getpwnam(USER)

    # -- places
    def user_dir(self, path):
        """A directory the attacker owns."""
        os.makedirs(path, exist_ok=True)
        os.chown(path, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(path, 0o755)
        return path

    def mount_tmpfs(self, name):
        mnt = self.d.path(name)
        os.makedirs(mnt)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", mnt],
                           capture_output=True)
        if p.returncode != 0:
            raise unittest.SkipTest("cannot mount a tmpfs: %s" % p.stderr.decode().strip())
        self.addCleanup(self.unmount, mnt)
        return mnt

    @staticmethod
    def unmount(mnt):
        if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True)

    def attacker(self):
        a = Attacker()
        self.addCleanup(a.close)
        return a

    def write_file(self, path, data, owner=None, mode=0o644):
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    # -- the attack of the issue
    def poison(self, where):
        """Performs the attack on a file under where; returns what the second scan saw."""
        victim = os.path.join(self.user_dir(os.path.join(where, "home")), "notes.txt")
        a = self.attacker()
        a.map_dirty(victim, CLEAN)
        self.assertEqual(os.stat(victim).st_uid, self.pw.pw_uid)

        first, _ = self.d.scan([victim])
        self.assertEqual(first["status"], "Completed")
        self.assertEqual(first["threats_found"], 0)
        self.assertEqual(first["cache_hits"], 0)
        self.assertGreaterEqual(first["bytes_read"], len(CLEAN))

        before = stamps(victim)
        a.write(victim, EICAR)
        with open(victim, "rb") as f:
            self.assertEqual(f.read(), EICAR)
        after = stamps(victim)
        if after != before:
            # the page had been written back (someone ran sync): the write faulted and
            # stamped the file, so this run did not perform the attack
            return None
        subprocess.run(["sync"], check=True)
        self.assertEqual(stamps(victim), before, "writeback changed the file's stamps")

        second, _ = self.d.scan([victim])
        self.assertEqual(second["status"], "Completed")
        return second

    def attack(self, where):
        for _ in range(3):
            second = self.poison(where)
            if second is not None:
                break
            where = os.path.join(where, "again")
            os.makedirs(where)
        else:
            self.fail("three times in a row the dirty page was written back before the "
                      "attacker's second write: the attack could not be performed")
        self.assertEqual(second["cache_hits"], 0, "the poisoned verdict came from the cache")
        self.assertEqual(second["threats_found"], 1, second)
        self.assertEqual(second["threats"][0]["threat"], harness.EICAR_THREAT)
        self.assertGreaterEqual(second["bytes_read"], len(EICAR))

    def test_attack_on_disk_file_system(self):
        self.attack(self.d.path("disk"))

    def test_attack_on_tmpfs(self):
        self.attack(self.mount_tmpfs("tmpfs"))

    # -- what is still cached
    def test_a_scan_of_many_files_caches_every_one(self):
        """The broker writes a scan's cache entries in batches (128 per transaction, and the
        rest before the scan is reported finished): a scan of 300 root-owned files, more
        than two batches and a remainder, leaves every one cached, so the rescan reads no
        byte; a file rewritten in between is read again and its threat found."""
        root = self.d.path("many")
        files = []
        for i in range(300):
            p = os.path.join(root, "d%d" % (i % 7), "f%03d.txt" % i)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            self.write_file(p, b"clean file %d\n" % i * (1 + i % 13), None, 0o644)
            files.append(p)
        first, _ = self.d.scan([root])
        self.assertEqual((first["files_scanned"], first["cache_hits"]), (300, 0))
        second, _ = self.d.scan([root])
        self.assertEqual((second["files_scanned"], second["cache_hits"]), (300, 300))
        self.assertEqual(second["bytes_read"], 0)
        with open(files[137], "wb") as f:
            f.write(EICAR)
        third, _ = self.d.scan([root])
        self.assertEqual((third["files_scanned"], third["cache_hits"]), (300, 299))
        self.assertEqual(third["bytes_read"], len(EICAR))
        self.assertEqual(third["threats_found"], 1)

    def test_old_files_and_root_files_are_cached(self):
        disk = self.d.path("tree")
        if fs_type(self.d.base) not in DISK_FS:
            raise unittest.SkipTest("%s is not on a file system with writeback" % self.d.base)
        writeback = read_vm("dirty_writeback_centisecs")
        if writeback == 0:
            raise unittest.SkipTest("periodic writeback is off on this machine")
        tmp = self.mount_tmpfs("tmpfs")
        user_dir = self.user_dir(os.path.join(disk, "user"))
        root_dir = os.path.join(disk, "root")
        os.makedirs(root_dir)
        tmp_user = self.user_dir(os.path.join(tmp, "user"))
        tmp_root = os.path.join(tmp, "root")
        os.makedirs(tmp_root)

        size = {}

        def put(path, data, owner=None, mode=0o644):
            self.write_file(path, data, owner, mode)
            size[path] = len(data)
            return path

        user_files = [put(os.path.join(user_dir, "u%02d.txt" % i), b"user %d\n" % i * (i + 1),
                          self.pw) for i in range(10)]
        root_files = [put(os.path.join(root_dir, "r%02d.txt" % i), b"root %d\n" % i * (i + 1))
                      for i in range(5)]
        root_g_w = put(os.path.join(root_dir, "group-writable.txt"), b"g" * 100, mode=0o664)
        tmp_user_files = [put(os.path.join(tmp_user, "t%d.txt" % i), b"tmp %d\n" % i * 7,
                              self.pw) for i in range(3)]
        tmp_root_files = [put(os.path.join(tmp_root, "t%d.txt" % i), b"tmproot %d\n" % i)
                          for i in range(3)]
        # a user file that will be old by the rule yet keep a dirty writable page: writeback
        # lagging behind the expiry, as when a user first fills the dirty limit
        a = self.attacker()
        lagging = os.path.join(user_dir, "lagging.txt")
        a.map_dirty(lagging, CLEAN)
        size[lagging] = len(CLEAN)
        roots = [disk, tmp]
        total = sum(size.values())
        root_only = root_files + tmp_root_files

        # young: only what nobody but root can write is cached, on either file system
        first, _ = self.d.scan(roots)
        self.assertEqual(first["files_scanned"], len(size))
        self.assertEqual(first["cache_hits"], 0)
        self.assertGreaterEqual(first["bytes_read"], total)
        second, _ = self.d.scan(roots)
        self.assertEqual(second["files_scanned"], len(size))
        self.assertEqual(second["cache_hits"], len(root_only))
        self.assertEqual(second["bytes_read"], total - sum(size[p] for p in root_only))

        # old: wait until every stamp is older than the window the next scan will use
        # (dirty_expire lowered to 1 s for that scan alone: 1 s + writeback + 10 s)
        window = (100 + writeback) / 100.0 + MARGIN_S
        newest = max(max(os.stat(p).st_mtime_ns, os.stat(p).st_ctime_ns) for p in size) / 1e9
        time.sleep(max(0.0, newest + window + 1.5 - time.time()))
        expire = read_vm("dirty_expire_centisecs")
        try:
            # not dirty_writeback_centisecs: changing it wakes the flusher at once, which
            # would write the lagging page back before the broker gets to it
            write_vm("dirty_expire_centisecs", 100)
            third, _ = self.d.scan(roots)
        finally:
            write_vm("dirty_expire_centisecs", expire)
        self.assertEqual(read_vm("dirty_expire_centisecs"), expire)
        self.assertEqual(third["cache_hits"], len(root_only))
        self.assertEqual(third["threats_found"], 0)

        # the attacker writes EICAR through the mapping of the lagging file; its page was
        # written back before the third scan read it, so this write faults and stamps it
        before = stamps(lagging)
        a.write(lagging, EICAR)
        self.assertNotEqual(stamps(lagging), before,
                            "a write through the mapping did not stamp a file that the "
                            "broker cached: its page was still dirty and writable")

        fourth, _ = self.d.scan(roots)
        cached = user_files + root_files + [root_g_w] + tmp_root_files
        not_cached = tmp_user_files + [lagging]
        self.assertEqual(fourth["files_scanned"], len(size))
        self.assertEqual(fourth["cache_hits"], len(cached), fourth)
        self.assertEqual(fourth["bytes_read"], sum(size[p] for p in not_cached))
        self.assertEqual(fourth["threats_found"], 1)
        self.assertEqual(fourth["threats"][0]["path"], lagging)


if __name__ == "__main__":
    harness.main()
