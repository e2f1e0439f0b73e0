#!/usr/bin/env python3
"""bench/metrics_store.py — what the metrics op costs on a large history: a real palisaded
whose store holds N finished scans and N detections (default 100,000 each, written straight
into its SQLite file while it is stopped), asked for `metrics` and, as the peer measured in
the same run, for `status` (the op every monitoring check already calls), over the control
socket. Prints the median milliseconds of each and their ratio, then the same on an empty
store.

    bench/metrics_store.py [--build-dir DIR] [--rows N] [--repeat R] [--failed-every K]

--failed-every K makes every K-th detection a failed remediation (default 1000: 100 of
100,000; 4 gives 25,000), the rows status's unremediated-threat count starts from.
PAL_PALISADED=<other palisaded> measures another build (an older one, for before/after) on
the same filled store.

The metrics op reads running totals of scans and detections kept by triggers and one pass
over quarantine (agent/core/store/store_metrics.c) and builds the status figures; status's
own store queries are index searches (db/migrations/0005_status_index.sql).
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


def fill(db, rows, failed_every=1000):
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
    # a failed remediation is rare (1 in 1,000 by default); with tens of thousands of them
    # status's unremediated-threat count took minutes before 0005_status_index.sql
    act = [("Quarantine", "Success"), ("Remove", "Success"), ("NoAction", "Success"),
           ("Quarantine", "Success")]
    con.executemany(
        "INSERT INTO detections (scan_id, detected_at, threat_name, severity, category, path, "
        "chain, size, source, action, action_result) VALUES (?, ?, 'Bench.Threat', ?, 'Virus', "
        "?, ?, 68, ?, ?, ?)",
        ((1 + i % rows, now - 1000 * i, sev[i % 4], "/srv/f%d" % i, "/srv/f%d" % i, src[i % 3],
          act[i % 4][0], "Failed" if i % failed_every == 0 else act[i % 4][1]) for i in range(rows)))
    con.commit()
    con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", "build/default"))
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--failed-every", type=int, default=1000)
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
        fill(os.path.join(d.state_dir, "palisade.db"), a.rows, a.failed_every)
        d.start()
        m, s = timed(d, "metrics", a.repeat), timed(d, "status", a.repeat)
        print("palisaded: %s" % os.environ["PAL_PALISADED"])
        print("store: %d scans, %d detections (%d failed remediations); median of %d calls "
              "over the control socket" % (a.rows, a.rows, len(range(0, a.rows, a.failed_every)),
                                           a.repeat))
        print("  metrics %8.2f ms   status %8.2f ms   metrics/status %.2f" % (m, s, m / s))
        print("empty store:")
        print("  metrics %8.2f ms   status %8.2f ms   metrics/status %.2f"
              % (empty_m, empty_s, empty_m / empty_s))
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
