#!/usr/bin/env python3
"""bench/yara_vs.py — Palisade against `yara -r` on a realistic tree with 1,000 rules, in one
run (issue 13): yara, the engine alone, and a real palisaded with the sandbox Enabled and
Disabled, interleaved round by round on the same trees and the same rules, warm page cache,
scan cache off. Prints every measurement, the medians with their spread, the CPU each used,
the load the other users of the machine put on it, and the ratios the targets name.

    bench/yara_vs.py [--build-dir DIR] [--work DIR] [--rounds N] [--total-mib N] [--files N]
                     [--small-files N] [--large-files N] [--trees mixed,small,large]
                     [--rules N] [--threads N]

--build-dir  build tree (default $BUILD_DIR, else build/default): palisaded (+ palisade-cp),
             palisade-sigtool, palisade-bench-engine. Use an optimised build.
--work       where the trees, rules and package are generated, once (default
             build/bench-yara-vs).
--total-mib, --files   the mixed tree (default 1024 MiB, 20,000 files: the record size; e.g.
             --total-mib 64 --files 2000 for a quick look). Sizes as bench/gen_tree.py says.
--small-files  files in the tree of small files (1-16 KiB; default 10,000).
--large-files  files in the tree of large files (16-48 MiB; default 16).
--trees      which trees to time (default all three).
--rules      synthetic rules (default 1,000, bench/gen_rules.py).
--threads    yara -p, engine threads and the daemon's ScanThreads (default: cores).
--baseline   PALISADED[:PALISADE_CP]: also time a second daemon (an older build, e.g. the
             commit before a change, copied aside) sandboxed and in-process in the same
             rounds ("sandbox0", "inproc0"), so that before and after share the load.

Measured on every tree, each round, the order rotated from round to round:
  yara     `yara -r -w -p N bench.yar TREE` (and -p 2 as well when N is not 2)
  engine   `palisade-bench-engine --no-yara --repeat 1 --threads N` with the same package
           (its own clock, around the scan only; the engine opens archives and hashes
           every object, yara does neither)
  sandbox  palisaded, SandboxMode Enabled: a Custom scan over the control socket, wall time
           from request to result (the broker walks, the content process parses)
  inproc   the same palisaded, SandboxMode Disabled (the engine in the broker)
The daemon runs with ScanCacheEnabled false (every file is read every time) and ScanThreads N.
Each scan must be a full clean scan (all files, nothing unscannable, no cache hit, no threat).

CPU: seconds of CPU the measured processes used (yara: the child's rusage; the engine: the
scan's own, from getrusage around it in palisade-bench-engine; the daemon: palisaded's and
palisade-cp's utime+stime). Each ratio is printed twice: throughput (wall time) and CPU
economy (CPU-s of the peer over CPU-s of ours, higher is better): the second does not depend
on how much of the machine the others left us. Under heavy load the wall-time ratios favour
whichever side runs more threads (the scheduler shares the CPUs per thread: the daemon runs a
walker and a thread per slot, plus the content process's; yara -p N runs N+1, the engine N),
so read the CPU ratio first when "others" is above a few tenths of a core. others: the CPU share the rest of
the machine used meanwhile (busy jiffies of /proc/stat minus ours, in cores): on a shared
machine only ratios from the same round mean anything, and a round where others took a
core says so. Ratios are per round (same round), then the median and range over rounds.
MB are 10^6 bytes of file size.
"""
import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (the integration tests' daemon and protocol client)

HZ = os.sysconf("SC_CLK_TCK")


def proc_stat_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle


def pid_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / HZ
    except (OSError, ValueError):
        return 0.0


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def tree_totals(root):
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, n))
    return files, size


def warm(root):
    for dirpath, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(dirpath, n), "rb") as f:
                while f.read(1 << 20):
                    pass


class Runner:
    def __init__(self, args, build, work):
        self.a = args
        self.build = build
        self.rules = os.path.join(work, "rules", "bench.yar")
        self.pkg = os.path.join(work, "rules", "bench.sig")
        self.keys = os.path.join(work, "rules", "trusted-keys")
        self.engine = os.path.join(build, "bench", "palisade-bench-engine")
        self.d = None
        self.d0 = None      # the baseline daemon, if any

    # -- each returns (seconds, cpu seconds)
    def yara(self, root, n, threads):
        t0 = time.monotonic()
        p = subprocess.Popen(["yara", "-r", "-w", "-p", str(threads), self.rules, root],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate()
        secs = time.monotonic() - t0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0 or out.strip():
            raise SystemExit("yara_vs: yara failed or matched (%d): %s %s"
                             % (p.returncode, out[:300], err[:300]))
        return secs, ru

    def run_engine(self, root, n, threads):
        r = subprocess.run([self.engine, "--no-yara", "--repeat", "1", "--threads", str(threads),
                            "--package", self.pkg, "--trusted-keys", self.keys, root, self.rules],
                           capture_output=True, text=True)
        m = re.search(r"round 1:\s+palisade ([0-9.]+) s \(cpu ([0-9.]+) s\)", r.stdout)
        m2 = re.search(r"files=(\d+) .* threats=(\d+) unscannable=(\d+) failed=(\d+)", r.stdout)
        if r.returncode != 0 or not m or not m2 or int(m2.group(1)) != n or \
                any(int(m2.group(i)) for i in (2, 3, 4)):
            raise SystemExit("yara_vs: engine run failed:\n%s%s" % (r.stdout, r.stderr))
        return float(m.group(1)), float(m.group(2))

    def set_mode(self, mode, d):
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
                    raise SystemExit("yara_vs: SandboxMode %s not in force: %r" % (mode, st))
                time.sleep(0.05)

    def daemon(self, root, n, mode, base=False):
        d = self.d0 if base else self.d
        st = self.set_mode(mode, d)
        pids = [d.proc.pid] + ([st["content_process_pid"]] if mode == "Enabled" else [])
        c0 = sum(pid_cpu(p) for p in pids)
        t0 = time.monotonic()
        res, _ = d.scan([root])
        secs = time.monotonic() - t0
        cpu = sum(pid_cpu(p) for p in pids) - c0
        if res["status"] != "Completed" or res["files_scanned"] != n or res["unscannable"] \
                or res.get("cache_hits", 0) or res.get("threats"):
            raise SystemExit("yara_vs: the scan of %s is not a full clean scan: status %s, "
                             "%d files of %d, %d unscannable, %s cache hits, threats %r"
                             % (root, res["status"], res["files_scanned"], n,
                                len(res["unscannable"]), res.get("cache_hits"),
                                res.get("threats")))
        return secs, cpu

    def measure(self, what, root, n):
        """Run one measurement; returns (seconds, our cpu, others' cores)."""
        b0, w0 = proc_stat_busy(), time.monotonic()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if what.startswith("yara"):
            secs, _ = self.yara(root, n, int(what.split("-p")[1]))
            cpu = None
        elif what == "engine":
            secs, cpu = self.run_engine(root, n, self.a.threads)   # the scan's own CPU
        else:
            secs, cpu = self.daemon(root, n, "Enabled" if what.startswith("sandbox") else
                                    "Disabled", base=what.endswith("0"))
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = cpu
        if what.startswith(("yara", "engine")):   # the whole child (engine: setup too)
            ours = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        if cpu is None:
            cpu = ours
        busy = (proc_stat_busy() - b0) / HZ
        wall = time.monotonic() - w0
        others = max(0.0, (busy - ours) / wall) if wall > 0 else 0.0
        return secs, cpu, others


def fmt_range(v):
    return "%.3f [%.3f-%.3f]" % (statistics.median(v), min(v), max(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR",
                                                          os.path.join(ROOT, "build", "default")))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-yara-vs"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--total-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--small-files", type=int, default=10000)
    ap.add_argument("--large-files", type=int, default=16)
    ap.add_argument("--trees", default="mixed,small,large")
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--baseline", metavar="PALISADED[:PALISADE_CP]")
    a = ap.parse_args()
    if a.rounds < 1 or a.threads < 1:
        ap.error("--rounds and --threads must be positive")
    build = os.path.abspath(a.build_dir)
    work = os.path.abspath(a.work)
    sigtool = os.path.join(build, "agent", "sigtool", "palisade-sigtool")
    for p in (os.path.join(build, "agent", "core", "palisaded"), sigtool,
              os.path.join(build, "bench", "palisade-bench-engine")):
        if not os.path.exists(p):
            raise SystemExit("yara_vs: %s is missing (build first)" % p)

    # trees and rules (generated once; gen_tree.py keeps a tree whose arguments match)
    here = os.path.dirname(os.path.abspath(__file__))
    trees = []
    for name in a.trees.split(","):
        root = os.path.join(work, "tree-" + name)
        cmd = [sys.executable, os.path.join(here, "gen_tree.py"), root, "--shape", name]
        if name == "mixed":
            cmd += ["--total-mib", str(a.total_mib), "--files", str(a.files)]
        elif name == "small":
            cmd += ["--files", str(a.small_files)]
        elif name == "large":
            cmd += ["--files", str(a.large_files)]
        else:
            ap.error("unknown tree %r" % name)
        stats = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
        trees.append((name, root) + tree_totals(root) + (stats,))
    rules_dir = os.path.join(work, "rules")
    subprocess.run([sys.executable, os.path.join(here, "gen_rules.py"), rules_dir, "--rules",
                    str(a.rules), "--package", "--sigtool", sigtool], check=True,
                   stdout=subprocess.DEVNULL)

    os.environ["PAL_PALISADED"] = os.path.join(build, "agent", "core", "palisaded")
    os.environ["PAL_CLI"] = os.path.join(build, "agent", "cli", "palisade")
    os.environ["PAL_DEFS_PACKAGE"] = os.path.join(rules_dir, "bench.sig")
    os.environ["PAL_TRUSTED_KEYS_DIR"] = os.path.join(rules_dir, "trusted-keys")
    run = Runner(a, build, work)
    yaras = ["yara-p%d" % a.threads] + (["yara-p2"] if a.threads != 2 else [])
    kinds = yaras + ["engine", "sandbox", "inproc"] + (["sandbox0", "inproc0"] if a.baseline
                                                          else [])

    d = harness.Daemon()
    run.d = d
    daemons = [d]
    if a.baseline:
        bp = a.baseline.split(":")
        run.d0 = harness.Daemon(extra_args=["--content-process", bp[1]] if len(bp) > 1 else [])
        daemons.append(run.d0)
    try:
        d.start()
        if run.d0:
            os.environ["PAL_PALISADED"] = bp[0]
            run.d0.start()
            os.environ["PAL_PALISADED"] = os.path.join(build, "agent", "core", "palisaded")
        for dd in daemons:
            with dd.client() as c:
                c.result("config.set", {"name": "ScanCacheEnabled", "value": False})
                c.result("config.set", {"name": "ScanThreads", "value": a.threads})
        cpu = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        yv = subprocess.run(["yara", "--version"], capture_output=True, text=True).stdout.strip()
        print("date:     %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        print("machine:  %s" % " ".join(platform.uname()))
        print("cpu:      %s, nproc %d; yara %s" % (cpu, os.cpu_count(), yv))
        print("load:     %.2f (1 min) at the start" % loadavg())
        print("build:    %s%s" % (build, "; baseline (sandbox0, inproc0): " + a.baseline
                                      if a.baseline else ""))
        print("rules:    %s (%d rules; package %s)" % (run.rules, a.rules, run.pkg))
        print("threads:  %d (yara -p, engine threads, ScanThreads); ScanCacheEnabled false"
              % a.threads)
        for name, root, n, size, stats in trees:
            print("tree:     %-5s %s: %d files, %.1f MB  %s" % (name, root, n, size / 1e6, stats))
        print()

        for _, root, n, _, _ in trees:      # warm-up: page cache, the daemon in both modes
            warm(root)
            for what in kinds:
                if what.startswith(("sandbox", "inproc")):
                    run.measure(what, root, n)

        res = {}
        print("%-5s %-5s %-8s %8s %8s %9s %6s %6s" % ("tree", "round", "what", "seconds",
                                                       "MB/s", "files/s", "cpu-s", "others"))
        for r in range(a.rounds):
            for name, root, n, size, _ in trees:
                order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
                for what in order:
                    secs, cpu_s, others = run.measure(what, root, n)
                    res.setdefault((name, what), []).append((secs, cpu_s, others))
                    print("%-5s %-5d %-8s %8.3f %8.1f %9.1f %6.2f %6.2f"
                          % (name, r + 1, what, secs, size / 1e6 / secs, n / secs, cpu_s,
                             others), flush=True)
        print("load:     %.2f (1 min) at the end" % loadavg())
        print()
        print("%-5s %-8s %-26s %8s %9s %7s %7s" % ("tree", "what", "seconds median [min-max]",
                                                  "MB/s", "files/s", "cpu-s", "others"))
        for name, _, n, size, _ in trees:
            for what in kinds:
                v = res[(name, what)]
                s = [x[0] for x in v]
                m = statistics.median(s)
                print("%-5s %-8s %-26s %8.1f %9.1f %7.2f %7.2f"
                      % (name, what, fmt_range(s), size / 1e6 / m, n / m,
                         statistics.median([x[1] for x in v]),
                         statistics.median([x[2] for x in v])))
        print()

        def ratio(name, num, den, k=0):   # throughput (k=0) or CPU economy (k=1), per round
            v = [res[(name, den)][i][k] / res[(name, num)][i][k] for i in range(a.rounds)]
            return statistics.median(v), min(v), max(v)

        y = "yara-p%d" % a.threads
        targets = []
        for name, *_ in trees:
            if name == "mixed":
                targets.append((name, "sandbox", y, 1.0, "daemon sandboxed / yara"))
                targets.append((name, "inproc", y, None, "daemon in-process / yara"))
                targets.append((name, "engine", y, 1.1, "engine alone / yara"))
                if a.threads != 2:
                    targets.append((name, "sandbox", "yara-p2", None, "daemon sandboxed / yara -p 2"))
            else:
                targets.append((name, "engine", y, None, "engine alone / yara"))
                targets.append((name, "sandbox", y, None, "daemon sandboxed / yara"))
            targets.append((name, "sandbox", "inproc", 0.97, "sandboxed / in-process"))
            if a.baseline:
                targets.append((name, "sandbox", "sandbox0", None, "sandboxed: this / baseline"))
                targets.append((name, "inproc", "inproc0", None, "in-process: this / baseline"))
                targets.append((name, "sandbox0", "inproc0", None, "baseline sandboxed / in-proc"))
        print("ratio:    tree  %-30s wall-time ratio, median [range] over rounds; CPU ratio"
              % "")
        for name, num, den, goal, label in targets:
            med, lo, hi = ratio(name, num, den)
            cmed, clo, chi = ratio(name, num, den, 1)
            verdict = "" if goal is None else (
                "  target >= %.2f: wall %s, cpu %s" % (goal, "met" if med >= goal else "NOT MET",
                                                      "met" if cmed >= goal else "NOT MET"))
            print("ratio:    %-5s %-30s %.3f [%.3f-%.3f]  cpu %.3f [%.3f-%.3f]%s"
                  % (name, label, med, lo, hi, cmed, clo, chi, verdict))
        for dd in daemons:
            dd.stop()
        return 0
    finally:
        for dd in daemons:
            dd.cleanup()


if __name__ == "__main__":
    sys.exit(main())
