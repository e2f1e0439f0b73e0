#!/usr/bin/env python3
"""bench/sandbox_bench.py — what the sandbox costs: one real palisaded scans the same trees
with SandboxMode Enabled (the engine runs in palisade-cp and pulls every byte from the
broker) and Disabled (the engine runs in the broker), in alternating rounds, with the scan
cache off so that every scan really reads every file; it prints files/s and MB/s of each
mode per tree, the medians, and the ratio sandboxed / in-process (the target is >= 0.9).

    bench/sandbox_bench.py [--build-dir DIR] [--trees DIR] [--rounds N] [--threads N]

--build-dir  a build tree (default $BUILD_DIR, else build/default, built by scripts/build
             when it is the default): palisaded (with the palisade-cp built beside it), the
             CLI, the starter signature package and its trusted key. Use an optimised build
             (RelWithDebInfo or Release): a sanitizer build's figures mean nothing.
--trees      where the trees are generated (default build/bench-sandbox, made once).
--rounds     timed rounds per mode and tree (default 5); the median is reported. Each round
             scans with one mode and then the other, alternating which goes first, so that
             background load and page-cache state hit both modes alike.
--threads    ScanThreads for the daemon (default 0: one slot per core).
--only       small or large: time one tree only (for investigating).

The trees (version 1, deterministic):
  small  5,000 files of 1 to 16 KiB (half text, half pseudo-random) in 50 directories,
         about 42 MB: the cost per object (one SCAN with the content inline, one RESULT).
  large  20 files of 32 MiB (half text, half pseudo-random), 671 MB: the cost per byte (the
         first 64 KiB inline, the rest through the shared bulk area, 1 MiB per DATA_REQ).
One untimed scan of each tree in each mode first warms the page cache and the daemon.
Seconds are wall-clock from the request to the result over the control socket. MB are
10^6 bytes of file size.
"""
import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (the integration tests' daemon and protocol client)

TREE_VERSION = 1
KIB, MIB = 1 << 10, 1 << 20
MODES = ("Enabled", "Disabled")


# ---- the trees -------------------------------------------------------------------------------

def text_block(rng, n):
    words = ("the quick brown fox jumps over a lazy dog while config daemon service "
             "install update kernel module package network socket file system user "
             "admin script report invoice meeting schedule").split()
    out, size = [], 0
    while size < n:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) + "\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def generate(root):
    marker = "%s.complete-v%d" % (root, TREE_VERSION)   # beside the trees, not scanned
    if os.path.exists(marker):
        return
    print("sandbox_bench: generating %s" % root, file=sys.stderr)
    if os.path.exists(root):
        subprocess.run(["rm", "-rf", "--", root], check=True)
    rng = random.Random(20261126)
    text = text_block(rng, 4 * MIB)
    for i in range(5000):
        n = rng.randint(1 * KIB, 16 * KIB)
        if i % 2:
            data = rng.randbytes(n)
        else:
            off = rng.randrange(len(text) - n)
            data = text[off:off + n]
        write(os.path.join(root, "small", "d%02d" % (i % 50), "f%04d.dat" % i), data)
    for i in range(20):
        if i % 2:
            data = rng.randbytes(32 * MIB)
        else:
            # text that does not repeat at any short period: rotated copies of the block
            parts, size = [], 0
            while size < 32 * MIB:
                cut = rng.randrange(len(text))
                parts.append(text[cut:] + text[:cut])
                size += len(text)
            data = b"".join(parts)[:32 * MIB]
        write(os.path.join(root, "large", "f%02d.dat" % i), data)
    open(marker, "w").close()


def tree_totals(root):
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, n))
    return files, size


# ---- the runs --------------------------------------------------------------------------------

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


def set_mode(d, mode):
    """SandboxMode, live; returns once the mode is in force (the content process is up)."""
    with d.client() as c:
        c.result("config.set", {"name": "SandboxMode", "value": mode})
        deadline = time.monotonic() + 60
        while True:
            st = c.result("status")
            up = st["content_process_state"] == "Running" and st["content_process_pid"]
            if (mode == "Enabled" and up) or (mode == "Disabled"
                                              and st["scan_engine"] == "InProcess"):
                return st
            if time.monotonic() > deadline:
                raise SystemExit("sandbox_bench: SandboxMode %s not in force: %r" % (mode, st))
            time.sleep(0.05)


def timed_scan(d, root, want_files):
    t0 = time.monotonic()
    res, _ = d.scan([root])
    secs = time.monotonic() - t0
    if res["status"] != "Completed" or res["files_scanned"] != want_files \
            or res["unscannable"] or res.get("cache_hits", 0):
        raise SystemExit("sandbox_bench: the scan of %s is not a full clean scan: status %s, "
                         "%d files of %d, %d unscannable, %s cache hits"
                         % (root, res["status"], res["files_scanned"], want_files,
                            len(res["unscannable"]), res.get("cache_hits")))
    return secs, res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR",
                                                          os.path.join(ROOT, "build", "default")))
    ap.add_argument("--trees", default=os.path.join(ROOT, "build", "bench-sandbox"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--only", choices=("small", "large"), help="run one tree only")
    args = ap.parse_args()
    if args.rounds < 1:
        raise SystemExit("sandbox_bench: --rounds must be at least 1")

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
            raise SystemExit("sandbox_bench: %s is missing (build first)" % v)
        os.environ[k] = v

    trees_root = os.path.abspath(args.trees)
    generate(trees_root)
    trees = []
    for name in ("small", "large") if not args.only else (args.only,):
        root = os.path.join(trees_root, name)
        trees.append((name, root) + tree_totals(root))

    d = harness.Daemon()
    try:
        d.start()
        with d.client() as c:
            c.result("config.set", {"name": "ScanCacheEnabled", "value": False})
            c.result("config.set", {"name": "ScanThreads", "value": args.threads})
        uname, ncpu, cpu = machine()
        print("date:     %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        print("machine:  %s" % uname)
        print("cpu:      %s, nproc %d" % (cpu, ncpu))
        with open("/proc/loadavg") as f:
            print("load:     %s at the start" % " ".join(f.read().split()[:3]))
        print("daemon:   %s (ScanThreads %d%s, ScanCacheEnabled false)"
              % (paths["PAL_PALISADED"], args.threads,
                 ": one slot per core" if args.threads == 0 else ""))
        for name, root, n, size in trees:
            print("tree:     %-6s %s: %d files, %.1f MB" % (name, root, n, size / 1e6))
        print("rounds:   %d per mode and tree, alternating the order; medians below"
              % args.rounds)
        print()

        # warm-up: page cache, the daemon's first scans, each mode once per tree
        for mode in MODES:
            set_mode(d, mode)
            for _, root, n, _ in trees:
                timed_scan(d, root, n)

        times = {(t[0], m): [] for t in trees for m in MODES}
        print("%-6s %-5s %-9s %9s %10s %9s" % ("tree", "round", "mode", "seconds", "files/s",
                                                "MB/s"))
        for name, root, n, size in trees:
            for r in range(args.rounds):
                order = MODES if r % 2 == 0 else MODES[::-1]
                for mode in order:
                    set_mode(d, mode)
                    secs, _ = timed_scan(d, root, n)
                    times[(name, mode)].append(secs)
                    print("%-6s %-5d %-9s %9.3f %10.1f %9.1f"
                          % (name, r + 1, mode, secs, n / secs, size / 1e6 / secs))
        with open("/proc/loadavg") as f:
            print("load:     %s at the end" % " ".join(f.read().split()[:3]))
        print()
        print("%-6s %-9s %9s %10s %9s" % ("tree", "mode", "median s", "files/s", "MB/s"))
        ratios = []
        for name, _, n, size in trees:
            med = {m: statistics.median(times[(name, m)]) for m in MODES}
            for m in MODES:
                print("%-6s %-9s %9.3f %10.1f %9.1f" % (name, m, med[m], n / med[m],
                                                       size / 1e6 / med[m]))
            ratio = med["Disabled"] / med["Enabled"]
            ratios.append((name, ratio))
        print()
        for name, ratio in ratios:
            print("ratio:    %-6s sandboxed / in-process throughput = %.3f (target >= 0.9)%s"
                  % (name, ratio, "" if ratio >= 0.9 else "  BELOW TARGET"))
        d.stop()
        return 0
    finally:
        d.cleanup()


if __name__ == "__main__":
    sys.exit(main())
