#!/usr/bin/env python3
"""bench/usr_scan.py — a scan of this machine's own system files through a real palisaded,
to count the valid files it calls unscannable (the false-unscannable count of
bench/RESULTS.md). Nothing is changed: every threat default action is set to NoAction
first, and the daemon runs on a temporary state directory.

    bench/usr_scan.py [--build-dir DIR] [--sandbox Enabled|Disabled] [PATH...]

PATH defaults to /usr. Prints the files, bytes, seconds and files/s of the scan, its
threats, and every unscannable object with its reason and detail (the daemon's result
lists at most 1,000; the count is always exact). The scan cache is off, so every file is
read. Use an optimised build (RelWithDebInfo or Release).
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (the integration tests' daemon and protocol client)

ACTIONS = ("LowThreatDefaultAction", "ModerateThreatDefaultAction",
           "HighThreatDefaultAction", "SevereThreatDefaultAction")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR",
                                                          os.path.join(ROOT, "build", "default")))
    ap.add_argument("--sandbox", choices=("Enabled", "Disabled"))
    ap.add_argument("paths", nargs="*", default=["/usr"])
    args = ap.parse_args()

    build = os.path.abspath(args.build_dir)
    if build == os.path.join(ROOT, "build", "default"):
        subprocess.run([os.path.join(ROOT, "scripts", "build"), "default"], check=True,
                       stdout=subprocess.DEVNULL)
    for k, rel in (("PAL_PALISADED", "agent/core/palisaded"), ("PAL_CLI", "agent/cli/palisade"),
                   ("PAL_DEFS_PACKAGE", "signatures/palisade-defs.sig"),
                   ("PAL_TRUSTED_KEYS_DIR", "trusted-keys")):
        path = os.path.join(build, rel)
        if not os.path.exists(path):
            raise SystemExit("usr_scan: %s is missing (build first)" % path)
        os.environ[k] = path
    roots = [os.path.abspath(p) for p in args.paths]

    d = harness.Daemon()
    try:
        d.start()
        for name in ACTIONS:
            d.cli_json("config", "set", name, "NoAction")
        d.cli_json("config", "set", "ScanCacheEnabled", "false")
        if args.sandbox:
            d.cli_json("config", "set", "SandboxMode", args.sandbox)
        st = d.cli_json("status")
        print("date:     %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        print("machine:  %s, nproc %d" % (" ".join(os.uname()), os.cpu_count()))
        print("roots:    %s" % " ".join(roots))
        print("engine:   SandboxMode %s, content_process_state %s, actions NoAction, cache off"
              % (st.get("sandbox_mode"), st.get("content_process_state")))
        t0 = time.monotonic()
        res, _ = d.scan(roots)
        secs = time.monotonic() - t0
        files, size = res["files_scanned"], res["bytes_scanned"]
        print("scan:     %s, %d files, %.1f MB, %.1f s, %.0f files/s, %.1f MB/s"
              % (res["status"], files, size / 1e6, secs, files / secs, size / 1e6 / secs))
        print("skipped:  %s" % (res.get("skipped") or {}))
        print("threats:  %d" % res["threats_found"])
        for t in res["threats"]:
            print("  %s  %s" % (t["threat"], t["path"]))
        print("unscannable: %d" % res["unscannable_count"])
        for u in res["unscannable"]:
            print("  %-28s %s  (%s)" % (u["reason"], u["path"], u.get("detail") or ""))
        if res["unscannable_count"] > len(res["unscannable"]):
            print("  ... %d more not listed by the daemon"
                  % (res["unscannable_count"] - len(res["unscannable"])))
    finally:
        d.stop()


if __name__ == "__main__":
    main()
