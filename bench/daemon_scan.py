#!/usr/bin/env python3
"""bench/daemon_scan.py — the scan benchmark of the daemon: a real palisaded on a temporary
state directory scans a generated tree twice, a first scan (empty scan cache: every file is
read and scanned) and a cached rescan of the unchanged tree (every file is a cache hit: no
content is read), and prints files/s and MB/s for both and the ratio between them.

    bench/daemon_scan.py [--build-dir DIR] [--tree DIR] [--via protocol|cli] [--rescans N]
                         [--sandbox MODE] [--owner USER]

--build-dir  a build tree (default $BUILD_DIR, else build/default, built by scripts/build
             when it is the default); palisaded, the palisade CLI, the starter signature
             package and its trusted key are taken from it. Use an optimised build
             (RelWithDebInfo or Release): figures of a sanitizer build mean nothing.
--tree       where the tree is generated (default build/bench-daemon-tree, made once).
--via        protocol (default): the scans are requested over the control socket (the
             client of tests/integration/harness.py), and the result's bytes_read and
             cache_hits prove what each scan read; cli: `palisade scan --json PATH`, timed
             as a user would see it (process start included).
--rescans    cached rescans to run (default 5); the median is reported.
--sandbox    Enabled or Disabled: set SandboxMode first (default: leave the daemon's
             default); the header says where the engine ran (status scan_engine,
             content_process_state).
--owner      scan a copy of the tree owned by USER (default tree build/bench-daemon-tree-USER)
             instead of the root-owned one. The scan cache admits a file that a user can
             write only once its mtime and ctime are older than the kernel's writeback
             window (agent/core/scan/cachetrust.h: dirty_expire + dirty_writeback + 10 s), so
             the benchmark first waits until the copy is that old; then the first scan
             also pays for the broker's forced writeback check of every file.

The cached rescan needs a tree the cache admits: the root-owned tree is generated 0644
(nobody but root can write it: admitted at once), the --owner copy after the wait.

The tree (version 1, deterministic): 4,797 small files of mixed text and binary (200 B to
64 KiB), 100 tar.gz and 100 zip containers of 10 members each, and three 16 MiB files
(text, random, mixed): 5,000 files. Seconds are wall-clock from the request to the result.
MB are 10^6 bytes of file size (bytes_scanned: a cache hit counts the size of its file).
"""
import argparse
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (the integration tests' daemon and protocol client)

TREE_VERSION = 1
MIB = 1 << 20


# ---- the tree -------------------------------------------------------------------------------

def generate_tree(root):
    marker = "%s.complete-v%d" % (root, TREE_VERSION)   # beside the tree, not scanned
    if os.path.exists(marker):
        return
    print("daemon_scan: generating %s" % root, file=sys.stderr)
    os.umask(0o022)     # 0644 files owned by root: the scan cache admits them at once
    if os.path.exists(root):
        subprocess.run(["rm", "-rf", "--", root], check=True)
    os.makedirs(os.path.dirname(root), exist_ok=True)
    rng = random.Random(20261125)
    words = ("the quick brown fox jumps over a lazy dog while config daemon service "
             "install update kernel module package network socket file system user "
             "admin script report invoice meeting schedule").split()

    def text(n):
        out, size = [], 0
        while size < n:
            line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + "\n"
            out.append(line)
            size += len(line)
        return "".join(out).encode()[:n]

    def binary(n):
        return rng.randbytes(n)

    def small():
        n = rng.choice((200, 700, 1500, 4000, 9000, 20000, 65536))
        return text(n) if rng.random() < 0.5 else binary(n)

    def write(rel, data):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    for i in range(4797):
        ext = rng.choice(("txt", "log", "bin", "dat", "conf", "so", "py"))
        write("small/d%02d/f%04d.%s" % (i % 50, i, ext), small())
    for i in range(100):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            for j in range(10):
                data = small()
                info = tarfile.TarInfo("pkg%d/m%02d.dat" % (i, j))
                info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
                tar.addfile(info, io.BytesIO(data))
        write("containers/pkg%03d.tar.gz" % i, buf.getvalue())
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for j in range(10):
                z.writestr(zipfile.ZipInfo("docs%d/m%02d.dat" % (i, j), (2023, 11, 14, 0, 0, 0)),
                           small(), zipfile.ZIP_DEFLATED)
        write("containers/docs%03d.zip" % i, buf.getvalue())
    write("large/text.log", text(16 * MIB))
    write("large/random.bin", binary(16 * MIB))
    write("large/mixed.img", b"".join(text(MIB // 2) + binary(MIB // 2) for _ in range(16)))
    open(marker, "w").close()


def own_tree(root, user):
    """chown -R root to user, once (the ctimes then stay as they were)."""
    import pwd
    pw = pwd.getpwnam(user)
    marker = "%s.owned-v%d" % (root, TREE_VERSION)
    if os.path.exists(marker):
        return
    for dirpath, dirs, names in os.walk(root):
        for n in dirs + names:
            os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)
    os.chown(root, pw.pw_uid, pw.pw_gid)
    open(marker, "w").close()


def wait_until_trusted(root):
    """Wait until every file's mtime and ctime is older than the scan cache's trust window
    for files a user can write (agent/core/scan/cachetrust.h)."""
    vm = {}
    for name in ("dirty_expire_centisecs", "dirty_writeback_centisecs"):
        with open(os.path.join("/proc/sys/vm", name)) as f:
            vm[name] = int(f.read())
    if vm["dirty_writeback_centisecs"] == 0:
        print("daemon_scan: WARNING: periodic writeback is off: the cache admits no "
              "user-owned file", file=sys.stderr)
        return
    window = (vm["dirty_expire_centisecs"] + vm["dirty_writeback_centisecs"]) / 100 + 10
    newest = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            st = os.stat(os.path.join(dirpath, n))
            newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    wait = newest / 1e9 + window + 1 - time.time()
    if wait > 0:
        print("daemon_scan: waiting %.0f s until the tree is older than the cache's trust "
              "window (%.0f s)" % (wait, window), file=sys.stderr)
        time.sleep(wait)


def tree_totals(root):
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, n))
    return files, size


# ---- the scans ------------------------------------------------------------------------------

def scan_protocol(d, root):
    t0 = time.monotonic()
    res, _ = d.scan([root])
    return time.monotonic() - t0, res


def scan_cli(d, root):
    t0 = time.monotonic()
    p = d.cli("scan", "--json", root, timeout=3600)
    took = time.monotonic() - t0
    if p.returncode not in (0, 1, 3):      # 3: completed, something unscannable (palisade(1))
        raise SystemExit("daemon_scan: palisade scan failed (%d): %s"
                         % (p.returncode, p.stderr.decode(errors="replace")))
    return took, json.loads(p.stdout)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return " ".join(platform.uname()), os.cpu_count(), cpu


def row(name, secs, res):
    files, size = res["files_scanned"], res["bytes_scanned"]
    br = res.get("bytes_read", "n/a")
    ch = res.get("cache_hits", "n/a")
    print("%-14s %8.3f %10.1f %9.1f %14s %11s %s"
          % (name, secs, files / secs, size / 1e6 / secs, br, ch, res["status"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR",
                                                          os.path.join(ROOT, "build", "default")))
    ap.add_argument("--tree", default=os.path.join(ROOT, "build", "bench-daemon-tree"))
    ap.add_argument("--via", choices=("protocol", "cli"), default="protocol")
    ap.add_argument("--rescans", type=int, default=5)
    ap.add_argument("--sandbox", choices=("Enabled", "Disabled"))
    ap.add_argument("--owner", metavar="USER")
    args = ap.parse_args()
    if args.owner and args.tree == ap.get_default("tree"):
        args.tree += "-" + args.owner

    build = os.path.abspath(args.build_dir)
    if build == os.path.join(ROOT, "build", "default"):
        subprocess.run([os.path.join(ROOT, "scripts", "build"), "default"], check=True,
                       stdout=subprocess.DEVNULL)
    paths = {
        "PAL_PALISADED": os.path.join(build, "agent", "core", "palisaded"),
        "PAL_CLI": os.path.join(build, "agent", "cli", "palisade"),
        "PAL_DEFS_PACKAGE": os.path.join(build, "signatures", "palisade-defs.sig"),
        "PAL_TRUSTED_KEYS_DIR": os.path.join(build, "trusted-keys"),
    }
    for k, v in paths.items():
        if not os.path.exists(v):
            raise SystemExit("daemon_scan: %s is missing (build first)" % v)
        os.environ[k] = v

    tree = os.path.abspath(args.tree)
    generate_tree(tree)
    if args.owner:
        own_tree(tree, args.owner)
        wait_until_trusted(tree)
    n_files, n_bytes = tree_totals(tree)
    scan = scan_protocol if args.via == "protocol" else scan_cli

    d = harness.Daemon()
    try:
        d.start()
        if args.sandbox:
            d.cli_json("config", "set", "SandboxMode", args.sandbox)
        slots = d.cli_json("config", "get", "ScanThreads")["value"]
        st = d.cli_json("status")
        uname, ncpu, cpu = machine()
        print("date:     %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        print("machine:  %s" % uname)
        print("cpu:      %s, nproc %d" % (cpu, ncpu))
        with open("/proc/loadavg") as f:
            print("load:     %s (other work on the machine skews the figures)"
                  % " ".join(f.read().split()[:3]))
        print("daemon:   %s (ScanThreads %s: %s)"
              % (paths["PAL_PALISADED"], slots, "one per core" if slots == 0 else "set"))
        print("tree:     %s (v%d): %d files, %.1f MB, owner %s" % (
            tree, TREE_VERSION, n_files, n_bytes / 1e6, args.owner or "root"))
        print("engine:   SandboxMode %s, scan_engine %s, content_process_state %s"
              % (st.get("sandbox_mode"), st.get("scan_engine", "n/a"),
                 st.get("content_process_state")))
        print("client:   %s" % args.via)
        print()
        print("%-14s %8s %10s %9s %14s %11s %s" % ("run", "seconds", "files/s", "MB/s",
                                                  "bytes_read", "cache_hits", "status"))
        first_s, first = scan(d, tree)
        row("first scan", first_s, first)
        rescans = []
        for i in range(args.rescans):
            s, res = scan(d, tree)
            row("cached rescan", s, res)
            rescans.append((s, res))
        med_s = statistics.median(s for s, _ in rescans)
        print()
        print("first scan:    %8.1f files/s %8.1f MB/s" % (first["files_scanned"] / first_s,
                                                          first["bytes_scanned"] / 1e6 / first_s))
        print("cached rescan: %8.1f files/s %8.1f MB/s (median of %d)"
              % (rescans[0][1]["files_scanned"] / med_s,
                 rescans[0][1]["bytes_scanned"] / 1e6 / med_s, len(rescans)))
        print("ratio:         the cached rescan is %.1fx faster than the first scan"
              % (first_s / med_s))

        # the figures only mean something if the scans were what they claim to be
        problems = []
        if first["files_scanned"] != n_files:
            problems.append("first scan scanned %d of %d files" % (first["files_scanned"],
                                                                   n_files))
        if first.get("cache_hits", 0) != 0:
            problems.append("the first scan had cache hits")
        for _, res in rescans:
            if "cache_hits" in res and res["cache_hits"] != n_files:
                problems.append("a rescan had %d cache hits of %d files"
                                % (res["cache_hits"], n_files))
            if res.get("bytes_read", 0) != 0:
                problems.append("a rescan read %d bytes of content" % res["bytes_read"])
        for p in problems:
            print("daemon_scan: WARNING: " + p, file=sys.stderr)
        d.stop()
        return 1 if problems else 0
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(main())
