"""Helpers of the real-time protection tests (test_rtp*.py): a file system of the test's own
to monitor (a tmpfs, or a loop-mounted ext4 image), openers that time their open(), and a
daemon restricted to that file system. Nothing here marks a file system the test did not
mount itself."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import harness

OPENERS = r'''
import os, sys, threading, time, json
paths = sys.argv[1:]
res = [None] * len(paths)
start = threading.Barrier(len(paths) + 1)
def one(i, p):
    start.wait()
    t = time.monotonic()
    try:
        fd = os.open(p, os.O_RDONLY)
        os.close(fd)
        err = 0
    except OSError as e:
        err = e.errno
    res[i] = (time.monotonic() - t, err)
ts = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(paths)]
for t in ts:
    t.start()
start.wait()
for t in ts:
    t.join()
print(json.dumps(res))
'''


class Mount:
    """A file system mounted by the test under a temporary directory: tmpfs, or ext4 on a
    loop device backed by an image file in the same directory."""

    def __init__(self, kind="tmpfs", size_mb=64):
        self.base = tempfile.mkdtemp(prefix="pal-rtp.")
        os.chmod(self.base, 0o755)
        self.path = os.path.join(self.base, "mnt")
        os.mkdir(self.path)
        if kind == "tmpfs":
            cmd = ["mount", "-t", "tmpfs", "-o", "size=%dm,mode=1777" % size_mb, "tmpfs",
                   self.path]
        else:
            img = os.path.join(self.base, "fs.img")
            with open(img, "wb") as f:
                f.truncate(size_mb << 20)
            p = subprocess.run(["mkfs.ext4", "-q", "-F", img], capture_output=True)
            if p.returncode != 0:
                raise unittest.SkipTest("mkfs.ext4: %s" % p.stderr.decode(errors="replace"))
            cmd = ["mount", "-o", "loop", img, self.path]
        p = subprocess.run(cmd, capture_output=True)
        if p.returncode != 0:
            shutil.rmtree(self.base, ignore_errors=True)
            raise unittest.SkipTest("cannot mount %s: %s"
                                    % (kind, p.stderr.decode(errors="replace")))
        os.chmod(self.path, 0o1777)

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        subprocess.run(["umount", "-l", self.path], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def run_openers(paths, timeout):
    """Open every path at once from one thread each (a helper process); returns the list of
    (seconds, errno). Raises AssertionError when the helper does not finish in timeout
    seconds (an opener hung), after killing it."""
    p = subprocess.Popen([sys.executable, "-c", OPENERS] + list(paths),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("openers still waiting after %.0f s" % timeout)
    if p.returncode != 0:
        raise AssertionError("openers failed: %s" % err.decode(errors="replace"))
    return json.loads(out)


def as_user(user, *argv, **kw):
    """Run argv as user (setpriv: real, effective and saved ids, no groups)."""
    if "stdout" not in kw:
        kw["capture_output"] = True
    else:
        kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(["setpriv", "--reuid", user, "--regid", "nogroup", "--clear-groups",
                           "--"] + list(argv), **kw)


class RtpTest(harness.DaemonTest):
    """A daemon with real-time protection on, monitoring only self.m (a tmpfs of the test's
    own; mount_kind "ext4" for a loop-mounted image). prepare() runs before the daemon
    starts."""

    mount_kind = "tmpfs"

    def setUp(self):
        self.m = Mount(self.mount_kind)
        self.addCleanup(self.m.cleanup)
        self.prepare()
        self.daemon_kwargs = dict(self.daemon_kwargs, rtp=[self.m.path])
        super().setUp()
        self.wait_enabled()

    def prepare(self):
        pass

    def status(self):
        with self.d.client() as c:
            return c.result("status")

    def wait_enabled(self):
        st = harness.wait_for(lambda: (lambda s: s if s["real_time_protection"] == "Enabled"
                                       else None)(self.status()),
                              what="real-time protection Enabled")
        self.assertEqual(st["real_time_protection_stats"]["file_systems"], [self.m.path])
        return st

    def set(self, name, value):
        with self.d.client() as c:
            return c.result("config.set", {"name": name, "value": value})

    def threats(self):
        with self.d.client() as c:
            return c.result("threats.list", {})["items"]

    def rt_stats(self):
        return self.status()["real_time_protection_stats"]
