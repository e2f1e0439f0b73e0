#!/usr/bin/env python3
"""bench/memory_pss.py — memory of the agent with a large signature package: the PSS of
palisaded plus palisade-cp against the package's size (issue 13: "PSS of broker plus content
process with a 100 MB package at most 1.1x the package").

    bench/memory_pss.py [--build-dir DIR] [--work DIR] [--hashes N] [--bodies N]
                        [--tree DIR ...]

The package is an imported ClamAV-shaped database (bench/clam_gen.py: N hash signatures, MD5
and SHA-1/SHA-256, and N body signatures that become YARA rules), built once in --work with
palisade-sigtool (default 1,300,000 hashes and 20,000 bodies: 107.7 MB, the "100MB" row of
bench/clam_scale.py). One real palisaded (SandboxMode Enabled, the default) is started with
it, and /proc/PID/smaps_rollup of the broker and of its content process give their Pss
totals (every mapping: heap, libraries, the package), measured when the daemon is ready,
after a scan of bench/clam_scale.py's 1,000-file tree, and after a scan of each --tree
(e.g. bench/yara_vs.py's 1 GiB tree): at once and after 3 s idle (the content process
gives memory back after 2 s without a request). Printed: each process's Pss, the package mapping's
Pss, and the sum over the package size.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import clam_scale  # noqa: E402  (children, comm, rollup, mapping_of, make_tree, site_keys)


def measure(daemon, size):
    dpid = daemon.proc.pid
    cps = [p for p in clam_scale.children(dpid) if clam_scale.comm(p).startswith("palisade-cp")]
    out = {}
    for who, pid in [("broker", dpid)] + [("cp", p) for p in cps[:1]]:
        _, _, pkg_pss = clam_scale.mapping_of(pid, size)
        out[who] = (clam_scale.rollup(pid).get("Pss", 0), pkg_pss)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR",
                                                          os.path.join(ROOT, "build", "default")))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "bench-memory"))
    ap.add_argument("--hashes", type=int, default=1300000)
    ap.add_argument("--bodies", type=int, default=20000)
    ap.add_argument("--tree", action="append", default=[])
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    tool = os.path.join(build, "agent", "sigtool", "palisade-sigtool")
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    keys = clam_scale.site_keys(tool, work)
    label = f"{a.hashes}-{a.bodies}"
    db, src, pkg = (os.path.join(work, f"{k}-{label}") for k in ("db", "src", "pkg"))
    pkg += ".sig"
    if not os.path.exists(pkg):
        if not os.path.isdir(db):
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "clam_gen.py"), db,
                            str(a.hashes), str(a.bodies)], check=True)
        shutil.rmtree(src, ignore_errors=True)
        subprocess.run([tool, "import", "--clamav", db, "--out", src], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([tool, "build", src, "--key", keys + "/site.key", "--version", "1",
                        "--out", pkg], check=True, stdout=subprocess.DEVNULL)
    tree = os.path.join(work, "tree-1000")
    if not os.path.isdir(tree):
        clam_scale.make_tree(tree, db)
    size = os.path.getsize(pkg)
    os.environ.update({
        "PAL_PALISADED": os.path.join(build, "agent", "core", "palisaded"),
        "PAL_CLI": os.path.join(build, "agent", "cli", "palisade"),
        "PAL_TRUSTED_KEYS_DIR": keys + "/trusted",
        "PAL_SOURCE_DIR": ROOT,
        "PAL_DEFS_PACKAGE": pkg,
    })
    import harness
    print(f"date:     {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    print(f"machine:  {' '.join(os.uname())}, nproc {os.cpu_count()}")
    print(f"package:  {pkg}: {size / 2**20:.1f} MiB ({a.hashes:,} hashes, {a.bodies:,} bodies)")
    print()
    print("| when | broker Pss MiB (package part) | content process Pss MiB (package part) "
          "| sum MiB | sum / package |")
    print("|---|---|---|---|---|")
    d = harness.Daemon()
    d.start()
    try:
        with d.client() as c:
            for sev in ("Low", "Moderate", "High", "Severe"):
                c.result("config.set", {"name": sev + "ThreatDefaultAction", "value": "NoAction"})
        steps = [("ready", None), ("after the 1,000-file tree", tree)]
        steps += [(f"after {t}", os.path.abspath(t)) for t in a.tree]
        for when, scan_dir in steps:
            if scan_dir:
                d.scan([scan_dir])
            # at once, then idle: the content process gives back its scan buffers and the
            # allocator's free memory after 2 s without a request (agent/cp/chan.c)
            for pause, label in ((0.2, when), (3.0, when + ", 3 s idle")):
                if scan_dir is None and pause < 1:
                    continue
                time.sleep(pause)
                m = measure(d, size)
                b, c = m.get("broker", (0, 0)), m.get("cp", (0, 0))
                total = (b[0] + c[0]) / 1024
                print(f"| {label} | {b[0] / 1024:.1f} ({b[1] / 1024:.1f}) | {c[0] / 1024:.1f} "
                      f"({c[1] / 1024:.1f}) | {total:.1f} | {total * 2**20 / size:.2f} |",
                      flush=True)
    finally:
        d.stop()
        if d.own_base:
            shutil.rmtree(d.base, ignore_errors=True)


if __name__ == "__main__":
    main()
