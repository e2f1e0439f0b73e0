"""Helpers of the real-time protection tests (test_rtp*.py): a file system of the test's own
to monitor (a tmpfs, or a loop-mounted ext4 image), openers that time their open(), and a
daemon restricted to that file system. Nothing here marks a file system the test did not
mount itself."""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import harness

# One thread per path, all released at once; each prints "seconds errno" for its open(2).
# In C: Python threads would measure their wait for the interpreter lock, not the open.
OPENERS_C = r'''
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static pthread_barrier_t go;
typedef struct { const char *path; double secs; int err; } job;
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void *one(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(&go);
    double t = now();
    int fd = open(j->path, O_RDONLY);
    j->err = fd < 0 ? errno : 0;
    j->secs = now() - t;
    if (fd >= 0)
        close(fd);
    return NULL;
}
int main(int argc, char **argv)
{
    int n = argc - 1;
    job *jobs = calloc(n, sizeof(*jobs));
    pthread_t *ts = calloc(n, sizeof(*ts));
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    pthread_barrier_init(&go, NULL, n);
    for (int i = 0; i < n; i++) {
        jobs[i].path = argv[i + 1];
        if (pthread_create(&ts[i], &a, one, &jobs[i]) != 0)
            return 2;
    }
    for (int i = 0; i < n; i++)
        pthread_join(ts[i], NULL);
    for (int i = 0; i < n; i++)
        printf("%.6f %d\n", jobs[i].secs, jobs[i].err);
    return 0;
}
'''
_openers_bin = None


def openers_bin():
    global _openers_bin
    if _openers_bin is None:
        d = tempfile.mkdtemp(prefix="pal-rtp-openers.")
        atexit.register(shutil.rmtree, d, True)
        src = os.path.join(d, "openers.c")
        with open(src, "w") as f:
            f.write(OPENERS_C)
        out = os.path.join(d, "openers")
        subprocess.run(["cc", "-O2", "-pthread", "-o", out, src], check=True)
        _openers_bin = out
    return _openers_bin



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
    p = subprocess.Popen([openers_bin()] + list(paths),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("openers still waiting after %.0f s" % timeout)
    if p.returncode != 0:
        raise AssertionError("openers failed: %s" % err.decode(errors="replace"))
    return [(float(a), int(b)) for a, b in (line.split() for line in out.decode().splitlines())]


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

    def security_events(self):
        """Point EventSyslogTarget at a datagram socket of the test's own, as an
        administrator's SIEM would listen; returns a function that gives every record
        received so far (waiting up to 0.5 s for more), for wait_for."""
        d = tempfile.mkdtemp(prefix="pal-rtp-ev-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "log.sock")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(path)
        rx.settimeout(0.5)
        self.addCleanup(rx.close)
        self.set("EventSyslogTarget", "unix:" + path)
        recs = []

        def received():
            try:
                while True:
                    recs.append(rx.recv(65536).decode("utf-8", "replace"))
            except socket.timeout:
                pass
            return recs
        return received
