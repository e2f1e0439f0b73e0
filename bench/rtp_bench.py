#!/usr/bin/env python3
"""bench/rtp_bench.py — what real-time protection costs a user: the same file workloads with
protection off, under Palisade's real-time protection, and under ClamAV's clamonacc
(OnAccessPrevention), in the same run, on a file system the benchmark mounts itself and that
each product monitors alone; prints each workload's figures and the ratios against "off".

    bench/rtp_bench.py [--build-dir DIR] [--rounds N] [--fs tmpfs|ext4] [--files N]
                       [--products off,palisade,clamonacc] [--timeout S]

Must run as root (mount, fanotify). Needs: tar; for the peer Debian's clamav-daemon (clamd,
clamonacc); for Palisade a build tree (default $BUILD_DIR, else build/default): palisaded, its
palisade-cp, the starter signature package and the trusted key.

--rounds    rounds (default 3); every round runs every product once, rotating the order so
            that background load hits all alike; medians are reported.
--fs        tmpfs (default) or ext4 (a loop-mounted image in the temporary directory).
--files     files in the tarball and the tree (default 5,000).
--products  which columns to run (default all three; "off" is always run).
--timeout   seconds one workload may take before the product counts as hung (default 300);
            the workload is then killed (a fanotify permission wait is killable) and the
            product reported as HUNG. The benchmark itself never waits without a deadline.

Each product runs on a fresh mount (base/mnt): the tree and the first-seen files are written
there (as root's 0644 files, like a system's or an installed tree's) before the product starts
(so that the product has never seen them), left to age past the window in which a verdict
cache may not trust a file (dirty expiry + writeback interval + 10 s; --no-settle skips the
wait), then the product
starts and a probe proves it protects (an EICAR file written as the workload user must not be
readable: EPERM, or gone to quarantine); a product that does not block the probe is reported
and its figures are not taken. The workloads run as the user `nobody` (the clamd peer runs as
root with OnAccessExcludeRootUID, so that clamd's own reads are not sent back to itself);
each one is a child process with a deadline:

  extract     `tar -xf` of a tarball of --files small files (40 B to 4 KiB, 50 directories)
              into the mount; seconds.
  read-first  open and read every file of the pre-written tree (same shape) once; seconds.
  read-cached the same again (a verdict cache shows here); seconds.
  compile     a compile-like loop: 500 "units", each reads its source and 30 of 300 headers
              and writes a 4 KiB object file (16,000 opens, 500 writes); seconds.
  open-cached open() of one clean file already opened, 5,000 times: p50 and p99 in µs.
  open-first  open() of 2,000 small files written before the product started, each once:
              p50 and p99 in µs.

Targets (issue 12): Palisade within 1.15x of off on every workload; a cached open adds under
20 µs at p99; clamonacc slower than Palisade on every workload; no hang anywhere.
Exit status: 0 when every product ran to the end (targets are printed, not enforced), 1 when
a product hung, failed to start or did not protect.
"""
import argparse
import hashlib
import io
import json
import os
import platform
import pwd
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD_USER = "nobody"
START_TIMEOUT = 60.0
PROBE_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
TIME_WORKLOADS = ("extract", "read-first", "read-cached", "compile")
LAT_WORKLOADS = ("open-cached", "open-first")
UNITS, HEADERS, HEADERS_PER_UNIT = 500, 300, 30
CACHED_OPENS, FIRST_FILES = 5000, 2000


def eicar():
    """Built from two halves so that no file of the tree holds the EICAR string."""
    return ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()


# ---- the worker (runs as the workload user, in a child process) --------------------------

def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def read_tree(root):
    n = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                while os.read(fd, 65536):
                    pass
            finally:
                os.close(fd)
            n += 1
    return n


def read_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.read(fd, 65536):
            pass
    finally:
        os.close(fd)


def worker(kind, arg):
    """One workload; prints one JSON line with its figures."""
    out = {}
    if kind == "read":
        t0 = time.perf_counter()
        n1 = read_tree(arg)
        t1 = time.perf_counter()
        n2 = read_tree(arg)
        t2 = time.perf_counter()
        out = {"read-first": t1 - t0, "read-cached": t2 - t1, "files": [n1, n2]}
    elif kind == "compile":
        proj = arg
        obj = os.path.join(proj, "obj")
        os.makedirs(obj, exist_ok=True)
        blob = bytes(range(256)) * 16
        t0 = time.perf_counter()
        for u in range(UNITS):
            read_file(os.path.join(proj, "src", "u%04d.c" % u))
            for k in range(HEADERS_PER_UNIT):
                read_file(os.path.join(proj, "include", "h%03d.h" % ((u * 7 + k * 11) % HEADERS)))
            fd = os.open(os.path.join(obj, "u%04d.o" % u), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                         0o644)
            try:
                os.write(fd, blob)
            finally:
                os.close(fd)
        out = {"compile": time.perf_counter() - t0}
    elif kind == "open-cached":
        read_file(arg)                      # the first open (and its scan) is not counted
        lat = []
        for _ in range(CACHED_OPENS):
            t0 = time.perf_counter_ns()
            fd = os.open(arg, os.O_RDONLY)
            t1 = time.perf_counter_ns()
            os.close(fd)
            lat.append((t1 - t0) / 1000.0)
        out = {"p50": percentile(lat, 50), "p99": percentile(lat, 99)}
    elif kind == "open-first":
        lat = []
        for name in sorted(os.listdir(arg)):
            p = os.path.join(arg, name)
            t0 = time.perf_counter_ns()
            fd = os.open(p, os.O_RDONLY)
            t1 = time.perf_counter_ns()
            os.close(fd)
            lat.append((t1 - t0) / 1000.0)
        out = {"p50": percentile(lat, 50), "p99": percentile(lat, 99), "n": len(lat)}
    elif kind == "probe":
        # Write a threat, then try to read it until the product blocks it (EPERM) or takes
        # it away (quarantine: ENOENT); "read" means it was readable for the whole deadline.
        path, deadline = arg, time.monotonic() + PROBE_TIMEOUT
        with open(path, "wb") as f:
            f.write(eicar())
        outcome = "read"
        while time.monotonic() < deadline:
            try:
                read_file(path)
            except PermissionError:
                outcome = "blocked"
                break
            except FileNotFoundError:
                outcome = "removed"
                break
            if os.environ.get("RTP_BENCH_PROBE_ONCE"):
                break
            time.sleep(0.1)
        out = {"probe": outcome}
    else:
        raise SystemExit("unknown worker %r" % kind)
    print(json.dumps(out), flush=True)


# ---- the fixtures -----------------------------------------------------------------------

def small_content(rng, i):
    n = rng.randint(40, 4096)
    head = ("/* file %d */\n" % i).encode()
    return head + bytes(rng.getrandbits(8) for _ in range(max(0, n - len(head))))


def make_tarball(path, nfiles):
    rng = random.Random(12)
    with tarfile.open(path, "w") as tar:
        for i in range(nfiles):
            data = small_content(rng, i)
            info = tarfile.TarInfo("t/d%02d/f%05d.dat" % (i % 50, i))
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))


def populate(mnt, tarball):
    """What exists before the product starts: the tree read by the read workloads, the
    compile project, the cached file and the first-seen files, all owned by the user."""
    subprocess.run(["tar", "-xf", tarball, "-C", mnt], check=True, timeout=300)
    os.rename(os.path.join(mnt, "t"), os.path.join(mnt, "tree"))
    rng = random.Random(34)
    proj = os.path.join(mnt, "proj")
    for d in ("src", "include"):
        os.makedirs(os.path.join(proj, d))
    for h in range(HEADERS):
        with open(os.path.join(proj, "include", "h%03d.h" % h), "wb") as f:
            f.write(b"#pragma once\n" + b"int f%d(int);\n" % h * rng.randint(5, 100))
    for u in range(UNITS):
        with open(os.path.join(proj, "src", "u%04d.c" % u), "wb") as f:
            f.write(b"int main(void) { return %d; }\n" % u * rng.randint(10, 200))
    with open(os.path.join(mnt, "cached.h"), "wb") as f:
        f.write(b"#define CACHED 1\n" * 64)
    first = os.path.join(mnt, "first")
    os.makedirs(first)
    for i in range(FIRST_FILES):
        with open(os.path.join(first, "n%04d.txt" % i), "wb") as f:
            f.write(small_content(rng, i))
    # The files stay root's (0644), as the system's and an installed tree's are; only the
    # directories the workloads write into belong to the workload user.
    pw = pwd.getpwnam(WORKLOAD_USER)
    for d in ("x", "probe", os.path.join("proj", "obj")):
        os.makedirs(os.path.join(mnt, d))
        os.chown(os.path.join(mnt, d), pw.pw_uid, pw.pw_gid)


def settle_seconds():
    """How long after its last change a file's verdict may be cached (agent/core/scan/
    cachetrust.c, DESIGN.md "Verdict cache soundness"): the dirty-page expiry plus the
    writeback interval plus a 10 s margin, and a second more."""
    def centisecs(name):
        with open("/proc/sys/vm/" + name) as f:
            return int(f.read().strip())
    return (centisecs("dirty_expire_centisecs") + centisecs("dirty_writeback_centisecs")) / 100.0 \
        + 10.0 + 1.0


class Mount:
    def __init__(self, base, fs):
        self.path = os.path.join(base, "mnt")
        self.image = os.path.join(base, "fs.img")
        os.makedirs(self.path)
        if fs == "tmpfs":
            cmd = ["mount", "-t", "tmpfs", "-o", "size=1g,mode=0755", "tmpfs", self.path]
        else:
            with open(self.image, "wb") as f:
                f.truncate(1 << 30)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-N", "32768", self.image], check=True,
                           timeout=120)
            cmd = ["mount", "-o", "loop", self.image, self.path]
        subprocess.run(cmd, check=True, timeout=60)
        self.mounted = True

    def close(self):
        if self.mounted:
            r = subprocess.run(["umount", self.path], timeout=60, capture_output=True)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.path], timeout=60)
            self.mounted = False


# ---- the products -----------------------------------------------------------------------

def stop_process(p, name, timeout=STOP_TIMEOUT):
    """SIGTERM, then SIGKILL after the deadline; returns a note when it had to kill."""
    if p is None or p.poll() is not None:
        return None
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
        return None
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout)
        return "%s did not stop on SIGTERM within %.0f s: killed" % (name, timeout)


class Off:
    name = "off"

    def start(self, mnt, base):
        pass

    def stop(self):
        return None

    def describe(self):
        return "no on-access product"


class Palisade:
    """A palisaded as the integration tests start it (tests/integration/harness.py), with a
    policy that monitors the benchmark's mount alone (written before it starts, so that it
    never marks any other file system)."""
    name = "palisade"

    def __init__(self, build):
        self.build = build
        self.d = None

    def start(self, mnt, base):
        sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
        import harness  # noqa: E402  (the integration tests' daemon and protocol client)
        self.harness = harness
        pbase = os.path.join(base, "palisade")
        os.makedirs(pbase)
        os.chmod(pbase, 0o755)
        self.d = harness.Daemon(base=pbase, rtp=[mnt])
        self.d.start()
        deadline = time.monotonic() + START_TIMEOUT
        with self.d.client() as c:
            while True:
                st = c.result("status")
                rtp = st.get("real_time_protection")
                if rtp == "Enabled":
                    self.status = st
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError("real_time_protection is %r (%r)"
                                       % (rtp, st.get("real_time_protection_reason")))
                time.sleep(0.1)

    def stats(self):
        try:
            with self.d.client() as c:
                return c.result("status").get("real_time_protection_stats")
        except Exception as e:   # a stats failure must not lose the figures
            return {"error": str(e)}

    def stop(self):
        if self.d is None:
            return None
        note = None
        try:
            rc = self.d.stop(timeout=STOP_TIMEOUT)
            if rc != 0:
                note = "palisaded exited with %s" % rc
        except AssertionError:
            note = "palisaded did not stop on SIGTERM: killed"
        self.d.cleanup()
        self.d = None
        return note

    def describe(self):
        return "palisaded %s, RealTimeMonitoredPaths = the mount" % self.build


class ClamOnAcc:
    """clamd on a temporary configuration (its own socket, a two-signature database made
    here: no network, no freshclam) and clamonacc --foreground with OnAccessPrevention on
    the mount. clamd runs as root and OnAccessExcludeRootUID keeps its reads from being sent
    back to it; the workloads run as `nobody`, so they are scanned."""
    name = "clamonacc"

    def __init__(self):
        self.clamd = self.onacc = None

    def start(self, mnt, base):
        d = os.path.join(base, "clam")
        db = os.path.join(d, "db")
        os.makedirs(db)
        e = eicar()
        with open(os.path.join(db, "bench.hdb"), "w") as f:
            f.write("%s:%d:Bench.EICAR.hdb\n" % (hashlib.md5(e).hexdigest(), len(e)))
        with open(os.path.join(db, "bench.ndb"), "w") as f:
            f.write("Bench.EICAR.ndb:0:*:%s\n" % e.hex())
        self.sock = os.path.join(d, "clamd.sock")
        self.conf = os.path.join(d, "clamd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "Foreground yes",
                "LocalSocket %s" % self.sock,
                "DatabaseDirectory %s" % db,
                "LogFile %s" % os.path.join(d, "clamd.log"),
                "Bytecode no",
                "OnAccessPrevention yes",
                "OnAccessIncludePath %s" % mnt,
                "OnAccessExcludeRootUID yes",
                "OnAccessExtraScanning yes",
                "OnAccessMaxFileSize 5M",
            ]) + "\n")
        self.log = os.path.join(d, "clamonacc.log")
        with open(os.path.join(d, "clamd.out"), "wb") as out:
            self.clamd = subprocess.Popen(["clamd", "--config-file=" + self.conf],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.sock):
            if self.clamd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("clamd did not start (%s)" % os.path.join(d, "clamd.out"))
            time.sleep(0.1)
        with open(os.path.join(d, "clamonacc.out"), "wb") as out:
            self.onacc = subprocess.Popen(
                ["clamonacc", "--foreground", "--config-file=" + self.conf,
                 "--log=" + self.log], stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def stop(self):
        notes = [n for n in (stop_process(self.onacc, "clamonacc"),
                             stop_process(self.clamd, "clamd")) if n]
        self.clamd = self.onacc = None
        return "; ".join(notes) or None

    def describe(self):
        v = subprocess.run(["clamd", "--version"], capture_output=True, text=True, timeout=30)
        return "%s clamd + clamonacc, OnAccessPrevention on the mount" % v.stdout.strip()


# ---- the runs ---------------------------------------------------------------------------

class Hung(Exception):
    pass


def as_user(cmd, timeout, env=None):
    pw = pwd.getpwnam(WORKLOAD_USER)
    e = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    e.update(env or {})
    try:
        p = subprocess.run(cmd, user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                           capture_output=True, timeout=timeout, env=e, cwd="/")
    except subprocess.TimeoutExpired:
        # subprocess.run has killed the child (SIGKILL: a fanotify permission wait is
        # killable); the product did not answer in time.
        raise Hung("%s did not finish within %.0f s" % (cmd[-2:] if len(cmd) > 2 else cmd,
                                                       timeout))
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                   p.stderr.decode(errors="replace")[-2000:]))
    return p.stdout


def run_worker(kind, arg, timeout, env=None):
    # The system python: the workload user may not reach the interpreter running this.
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    out = as_user([py, "-S", os.path.abspath(__file__), "--worker", kind, arg],
                  timeout, env)
    return json.loads(out.decode().strip().splitlines()[-1])


def run_product(prod, base, fs, tarball, nfiles, timeout, settle):
    """One product on a fresh mount: figures {workload: value} or raises."""
    m = Mount(base, fs)
    try:
        populate(m.path, tarball)
        # the pre-written files are old by the time they are read, as most files a machine
        # opens are (a file changed moments ago is never served from a verdict cache)
        time.sleep(settle)
        prod.start(m.path, base)
        try:
            probe = run_worker("probe", os.path.join(m.path, "probe", "eicar.com"),
                               PROBE_TIMEOUT + timeout,
                               {"RTP_BENCH_PROBE_ONCE": "1"} if prod.name == "off" else None)
            want = ("read",) if prod.name == "off" else ("blocked", "removed")
            if probe["probe"] not in want:
                raise RuntimeError("the probe threat was %s (want %s): the product does not "
                                   "protect the mount" % (probe["probe"], " or ".join(want)))
            fig = {"probe": probe["probe"]}
            t0 = time.perf_counter()
            as_user(["tar", "-xf", tarball, "-C", os.path.join(m.path, "x")], timeout)
            fig["extract"] = time.perf_counter() - t0
            r = run_worker("read", os.path.join(m.path, "tree"), timeout)
            if r["files"] != [nfiles, nfiles]:
                raise RuntimeError("read %r files of %d" % (r["files"], nfiles))
            fig["read-first"], fig["read-cached"] = r["read-first"], r["read-cached"]
            fig["compile"] = run_worker("compile", os.path.join(m.path, "proj"),
                                        timeout)["compile"]
            fig["open-cached"] = run_worker("open-cached", os.path.join(m.path, "cached.h"),
                                            timeout)
            fig["open-first"] = run_worker("open-first", os.path.join(m.path, "first"),
                                           timeout)
            if prod.name == "palisade":
                fig["stats"] = prod.stats()
            return fig
        finally:
            note = prod.stop()
            if note:
                print("note:     %s" % note)
    finally:
        m.close()


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return " ".join(platform.uname()), os.cpu_count(), cpu


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def fmt(fig, w):
    if w in LAT_WORKLOADS:
        return "p50 %7.1f µs p99 %7.1f µs" % (fig[w]["p50"], fig[w]["p99"])
    return "%9.3f s" % fig[w]


def median_figs(runs):
    out = {}
    for w in TIME_WORKLOADS:
        out[w] = statistics.median(r[w] for r in runs)
    for w in LAT_WORKLOADS:
        out[w] = {q: statistics.median(r[w][q] for r in runs) for q in ("p50", "p99")}
    return out


def summary(med, products):
    off = med.get("off")
    print("%-12s %-34s %-34s %-34s" % ("workload", "off", "palisade", "clamonacc"))
    for w in TIME_WORKLOADS + LAT_WORKLOADS:
        cells = []
        for p in ("off", "palisade", "clamonacc"):
            if p not in med:
                cells.append("-")
                continue
            if w in TIME_WORKLOADS:
                c = "%.3f s" % med[p][w]
                if p != "off" and off:
                    c += " (%.2fx)" % (med[p][w] / off[w])
            else:
                c = "p50 %.1f p99 %.1f µs" % (med[p][w]["p50"], med[p][w]["p99"])
                if p != "off" and off:
                    c += " (+%.1f/+%.1f)" % (med[p][w]["p50"] - off[w]["p50"],
                                              med[p][w]["p99"] - off[w]["p99"])
            cells.append(c)
        print("%-12s %-34s %-34s %-34s" % tuple([w] + cells))
    print()
    if "palisade" in med and off:
        pal = med["palisade"]
        for w in TIME_WORKLOADS:
            r = pal[w] / off[w]
            print("target:   palisade %-12s %.2fx of off (<= 1.15)  %s"
                  % (w, r, "met" if r <= 1.15 else "MISSED"))
        for w in LAT_WORKLOADS:
            r = pal[w]["p99"] / off[w]["p99"]
            print("target:   palisade %-12s p99 %.2fx of off (<= 1.15)  %s"
                  % (w, r, "met" if r <= 1.15 else "MISSED"))
        add = pal["open-cached"]["p99"] - off["open-cached"]["p99"]
        print("target:   palisade cached open adds %+.1f µs at p99 (< 20)  %s"
              % (add, "met" if add < 20 else "MISSED"))
        if "clamonacc" in med:
            cl = med["clamonacc"]
            for w in TIME_WORKLOADS + LAT_WORKLOADS:
                a = cl[w] if w in TIME_WORKLOADS else cl[w]["p99"]
                b = pal[w] if w in TIME_WORKLOADS else pal[w]["p99"]
                print("target:   clamonacc slower than palisade on %-12s %.2fx  %s"
                      % (w, a / b, "met" if a > b else "MISSED"))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR",
                                                          os.path.join(ROOT, "build", "default")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fs", choices=("tmpfs", "ext4"), default="tmpfs")
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--products", default="off,palisade,clamonacc")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--no-settle", action="store_true",
                    help="do not wait for the pre-written files to age (all brand new)")
    args = ap.parse_args()
    settle = 0.0 if args.no_settle else settle_seconds()
    if os.geteuid() != 0:
        raise SystemExit("rtp_bench: must run as root (it mounts and uses fanotify)")
    if args.rounds < 1 or args.files < 1:
        raise SystemExit("rtp_bench: --rounds and --files must be at least 1")
    names = ["off"] + [p for p in args.products.split(",") if p and p != "off"]
    for p in names:
        if p not in ("off", "palisade", "clamonacc"):
            raise SystemExit("rtp_bench: unknown product %r" % p)

    build = os.path.abspath(args.build_dir)
    products = {"off": Off()}
    if "palisade" in names:
        paths = {
            "PAL_PALISADED": os.path.join(build, "agent", "core", "palisaded"),
            "PAL_CLI": os.path.join(build, "agent", "cli", "palisade"),
            "PAL_DEFS_PACKAGE": os.path.join(build, "signatures", "palisade-defs.sig"),
            "PAL_TRUSTED_KEYS_DIR": os.path.join(build, "trusted-keys"),
        }
        for k, v in paths.items():
            if not os.path.exists(v):
                raise SystemExit("rtp_bench: %s is missing (build first)" % v)
            os.environ[k] = v
        products["palisade"] = Palisade(paths["PAL_PALISADED"])
    if "clamonacc" in names:
        for exe in ("clamd", "clamonacc"):
            if not shutil.which(exe):
                raise SystemExit("rtp_bench: %s is not installed (Debian clamav-daemon)" % exe)
        products["clamonacc"] = ClamOnAcc()

    work = tempfile.mkdtemp(prefix="rtp-bench.")
    os.chmod(work, 0o755)
    # SIGTERM/SIGHUP end the run like ^C: the finally blocks stop the products and unmount.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    failures = []
    try:
        tarball = os.path.join(work, "files.tar")
        make_tarball(tarball, args.files)
        uname, ncpu, cpu = machine()
        print("date:     %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        print("machine:  %s" % uname)
        print("cpu:      %s, nproc %d" % (cpu, ncpu))
        print("load:     %s at the start" % loadavg())
        print("fs:       %s mounted by the benchmark, monitored alone; workloads as %s"
              % (args.fs, WORKLOAD_USER))
        print("tarball:  %d files (40 B - 4 KiB) in 50 directories, %d bytes"
              % (args.files, os.path.getsize(tarball)))
        for p in names:
            print("product:  %-9s %s" % (p, products[p].describe()))
        print("files:    the tree, the project, cached.h and the first-seen files are root's "
              "(0644), written %.0f s before the product starts%s"
              % (settle, " (--no-settle)" if args.no_settle else
                 " (dirty expiry + writeback interval + 10 s: old enough for a verdict cache)"))
        print("rounds:   %d, order rotated per round; medians below" % args.rounds)
        print()
        runs = {p: [] for p in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for p in order:
                if p in [f[0] for f in failures]:
                    continue
                base = os.path.join(work, "r%d-%s" % (r, p))
                os.makedirs(base)
                os.chmod(base, 0o755)
                try:
                    fig = run_product(products[p], base, args.fs, tarball, args.files,
                                      args.timeout, settle)
                except Hung as e:
                    failures.append((p, "HUNG: %s" % e))
                    print("round %d  %-9s HUNG: %s" % (r + 1, p, e))
                    continue
                except (RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as e:
                    failures.append((p, "FAILED: %s" % e))
                    print("round %d  %-9s FAILED: %s" % (r + 1, p, e))
                    continue
                finally:
                    shutil.rmtree(base, ignore_errors=True)
                runs[p].append(fig)
                print("round %d  %-9s %s" % (r + 1, p, "  ".join(
                    "%s %s" % (w, fmt(fig, w).strip()) for w in TIME_WORKLOADS + LAT_WORKLOADS)))
                if fig.get("stats"):
                    print("          palisade stats: %s" % json.dumps(fig["stats"]))
        print("load:     %s at the end" % loadavg())
        print()
        med = {p: median_figs(runs[p]) for p in names if runs[p]}
        summary(med, names)
        for p, why in failures:
            print("failure:  %s %s" % (p, why))
        return 1 if failures else 0
    except KeyboardInterrupt:
        print("rtp_bench: interrupted; products stopped, mounts removed", file=sys.stderr)
        return 130
    finally:
        for p in products.values():
            try:
                p.stop()
            except Exception as e:  # keep cleaning up
                print("rtp_bench: stopping %s: %s" % (p.name, e), file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
