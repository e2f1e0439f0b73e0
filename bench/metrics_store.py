#!/usr/bin/env python3
"""bench/metrics_store.py — what the metrics op costs on a large history: a real palisaded
whose store holds N finished scans and N detections (default 100,000 each, written straight
into its SQLite file while it is stopped), asked for `metrics` and, as the peer measured in
the same run, for `status` (the op every monitoring check already calls), over the control
socket. Prints the median milliseconds of each and their ratio, then the same on an empty
store.

    bench/metrics_store.py [--build-dir DIR] [--rows N] [--repeat R]

The metrics op runs five GROUP BY queries over scans, detections and quarantine (full
scans of the tables, agent/core/store/store_metrics.c) and builds the status figures.
"""
import argparse
import os
import sqlite3
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402


def timed(d, op, repeat):
    out = []
    with d.client() as c:
        c.result(op)                      # warm: statements prepared, pages cached
        for _ in range(repeat):
            t0 = time.perf_counter()
            c.result(op)
            out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def fill(db, rows):
    con = sqlite3.connect(db)
    now = int(time.time() * 1000)
    types = ["Quick", "Full", "Custom"]
    outcomes = ["Completed", "Completed", "Completed", "Cancelled", "Failed"]
    con.executemany(
        "INSERT INTO scans (type, paths, started_at, ended_at, files, bytes, threats, outcome) "
        "VALUES (?, '[\"/srv\"]', ?, ?, ?, ?, 1, ?)",
        ((types[i % 3], now - 1000 * i - 500, now - 1000 * i, 100 + i % 50, 4096 * (i % 97),
          outcomes[i % 5]) for i in range(rows)))
    sev = ["Low", "Moderate", "High", "Severe"]
    src = ["OnDemand", "RealTime", "Buffer"]
    # a failed remediation is rare (1 in 1,000 here): status's unremediated-threat query
    # joins the failed rows with every detection of the same path, and with tens of
    # thousands of failed rows it takes minutes (noticed here; status_health.c's)
    act = [("Quarantine", "Success"), ("Remove", "Success"), ("NoAction", "Success"),
           ("Quarantine", "Success")]
    con.executemany(
        "INSERT INTO detections (scan_id, detected_at, threat_name, severity, category, path, "
        "chain, size, source, action, action_result) VALUES (?, ?, 'Bench.Threat', ?, 'Virus', "
        "?, ?, 68, ?, ?, ?)",
        ((1 + i % rows, now - 1000 * i, sev[i % 4], "/srv/f%d" % i, "/srv/f%d" % i, src[i % 3],
          act[i % 4][0], "Failed" if i % 1000 == 0 else act[i % 4][1]) for i in range(rows)))
    con.commit()
    con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", "build/default"))
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=21)
    a = ap.parse_args()
    b = os.path.abspath(a.build_dir)
    os.environ.setdefault("PAL_PALISADED", os.path.join(b, "agent/core/palisaded"))
    os.environ.setdefault("PAL_CLI", os.path.join(b, "agent/cli/palisade"))
    os.environ.setdefault("PAL_DEFS_PACKAGE", os.path.join(b, "signatures/palisade-defs.sig"))
    os.environ.setdefault("PAL_TRUSTED_KEYS_DIR", os.path.join(b, "trusted-keys"))
    d = harness.Daemon()
    try:
        d.start()
        empty_m, empty_s = timed(d, "metrics", a.repeat), timed(d, "status", a.repeat)
        d.stop()
        fill(os.path.join(d.state_dir, "palisade.db"), a.rows)
        d.start()
        m, s = timed(d, "metrics", a.repeat), timed(d, "status", a.repeat)
        print("store: %d scans, %d detections; median of %d calls over the control socket"
              % (a.rows, a.rows, a.repeat))
        print("  metrics %8.2f ms   status %8.2f ms   metrics/status %.2f" % (m, s, m / s))
        print("empty store:")
        print("  metrics %8.2f ms   status %8.2f ms   metrics/status %.2f"
              % (empty_m, empty_s, empty_m / empty_s))
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
