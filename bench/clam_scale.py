#!/usr/bin/env python3
"""bench/clam_scale.py — imported ClamAV databases at scale: import, build, load, memory,
live swap and scan cost of packages of growing size, against clamscan with the same database.

    bench/clam_scale.py [--build-dir DIR] [--work DIR] [--sizes LABEL:HASHES:BODIES,...]

For each size: bench/clam_gen.py writes a ClamAV database directory; `palisade-sigtool
import` and `build` (timed) make a signed package; `palisade-sigtool verify` times the
broker's check (map, Ed25519 over the whole file, structure walk of every table); a real
palisaded is started with the package (time to ready: the broker loads it, starts the
content process, which maps and loads it too), and /proc/PID/smaps of palisaded and
palisade-cp give the Rss and Pss of the package mapping (shared page cache: Pss is about
Rss / 2 when both map it whole, and nothing is copied) and smaps_rollup their totals; an
`update` to the same content as version + 1 times a live swap; a Custom scan (the first,
with an empty scan cache) of a tree of 1,000 files (200 B - 64 KiB, text and binary, 10 of them matching) measures the cost per
object, and clamscan scans the same tree with the same database (its database load timed
apart, on an empty file). Figures go to stdout as a Markdown table.
"""
import argparse, os, re, shutil, subprocess, sys, tempfile, time, random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def run(cmd, **kw):
    t = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    dt = time.monotonic() - t
    if p.returncode not in kw.pop("ok", (0,)) and p.returncode != 0:
        pass
    return p, dt


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                st = f.read()
        except OSError:
            continue
        m = re.search(r"^PPid:\s+(\d+)", st, re.M)
        if m and int(m.group(1)) == pid:
            out.append(int(d))
    return out


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def mapping_of(pid, size):
    """Rss and Pss (KiB) of the mappings of a file of exactly `size` bytes (the package)."""
    rss = pss = 0
    found = False
    with open(f"/proc/{pid}/smaps") as f:
        cur = None
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$", line)
            if m:
                length = int(m.group(2), 16) - int(m.group(1), 16)
                path = m.group(5)
                cur = path.endswith(".sig") or ".sig" in path or (
                    path.startswith("/") and abs(length - size) < 8192 and "r--s" in m.group(3))
                cur = cur and abs(length - ((size + 4095) // 4096) * 4096) == 0
                found = found or cur
                continue
            if cur and line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif cur and line.startswith("Pss:"):
                pss += int(line.split()[1])
    return found, rss, pss


def rollup(pid):
    v = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            p = line.split()
            if len(p) >= 2 and p[0].endswith(":") and p[1].isdigit():
                v[p[0][:-1]] = int(p[1])
    return v


def make_tree(d, db_dir):
    rnd = random.Random(5)
    os.makedirs(d, exist_ok=True)
    for i in range(990):
        n = rnd.randint(200, 64 << 10)
        data = (os.urandom(n) if i % 2 else bytes(rnd.choice(b"abcdefghij \n") for _ in range(n)))
        with open(os.path.join(d, f"f{i:04d}"), "wb") as f:
            f.write(data)
    # ten files matching body signatures of the database (the first carried plain ones)
    k = 0
    with open(os.path.join(db_dir, "daily.ndb")) as f:
        for line in f:
            name, target, off, pat = line.strip().split(":")[:4]
            if target == "0" and off == "*" and re.fullmatch(r"[0-9a-f]+", pat):
                with open(os.path.join(d, f"hit{k}"), "wb") as g:
                    g.write(os.urandom(500) + bytes.fromhex(pat) + os.urandom(500))
                k += 1
                if k == 10:
                    break


def site_keys(tool, work):
    """A signing key made once under WORK/keys (site.key) and its public half in
    WORK/keys/trusted/ (what --trusted-keys takes); returns WORK/keys."""
    keys = os.path.join(work, "keys")
    if not os.path.exists(keys + "/site.key"):
        os.makedirs(keys + "/trusted", exist_ok=True)
        subprocess.run([tool, "keygen", keys + "/site"], check=True, stdout=subprocess.DEVNULL)
        shutil.copy(keys + "/site.pub", keys + "/trusted/")
    return keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", os.path.join(ROOT, "build", "default")))
    ap.add_argument("--work", default=None)
    ap.add_argument("--sizes", default="10MB:120000:2000,100MB:1300000:20000,largest:4000000:40000")
    ap.add_argument("--reuse", action="store_true",
                    help="keep packages already built in --work (import/build not timed)")
    ap.add_argument("--no-clamscan", action="store_true",
                    help="skip clamscan (its load of ~10 million signatures takes minutes)")
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    tool = os.path.join(build, "agent", "sigtool", "palisade-sigtool")
    work = a.work or tempfile.mkdtemp(prefix="pal-clamscale.")
    os.makedirs(work, exist_ok=True)
    keys = site_keys(tool, work)
    os.environ.update({
        "PAL_PALISADED": os.path.join(build, "agent", "core", "palisaded"),
        "PAL_CLI": os.path.join(build, "agent", "cli", "palisade"),
        "PAL_TRUSTED_KEYS_DIR": keys + "/trusted",
        "PAL_SOURCE_DIR": ROOT,
    })
    import harness

    rows = []
    for spec in a.sizes.split(","):
        label, nh, nb = spec.split(":")
        db = os.path.join(work, f"db-{label}")
        src = os.path.join(work, f"src-{label}")
        pkg = os.path.join(work, f"{label}.sig")
        pkg2 = os.path.join(work, f"{label}-v2.sig")
        r = {"label": label, "hashes": int(nh), "bodies": int(nb)}
        if not os.path.isdir(db):
            _, r["gen_s"] = run([sys.executable, os.path.join(ROOT, "bench", "clam_gen.py"), db, nh, nb])
        reuse = a.reuse and os.path.exists(pkg) and os.path.exists(pkg2)
        r["import_s"] = r["build_s"] = float("nan")
        r["import_out"] = "(reused)"
        if not reuse:
            p, r["import_s"] = run([tool, "import", "--clamav", db, "--out", src])
            if p.returncode:
                sys.exit("import failed: " + p.stderr)
            r["import_out"] = p.stdout.strip()
        with open(os.path.join(src, "import-report.txt")) as f:
            counts = [l.split("\t") for l in f if l.startswith("count\t")]
        r["counts"] = {c[1]: (int(c[2]), int(c[3]), int(c[4])) for c in counts}
        if not reuse:
            p, r["build_s"] = run([tool, "build", src, "--key", keys + "/site.key", "--version", "1",
                                   "--out", pkg])
            if p.returncode:
                sys.exit("build failed: " + p.stderr)
            run([tool, "build", src, "--key", keys + "/site.key", "--version", "2", "--out", pkg2])
        r["size"] = os.path.getsize(pkg)
        p, r["verify_s"] = run([tool, "verify", pkg, "--trusted-keys", keys + "/trusted"])
        tree = os.path.join(work, f"tree-{label}")
        if not os.path.isdir(tree):
            make_tree(tree, db)
        os.environ["PAL_DEFS_PACKAGE"] = pkg
        d = harness.Daemon()
        t = time.monotonic()
        d.start()
        r["ready_s"] = time.monotonic() - t
        try:
            with d.client() as c:
                for sev in ("Low", "Moderate", "High", "Severe"):
                    c.result("config.set", {"name": sev + "ThreatDefaultAction", "value": "NoAction"})
            # the first scan of the tree is timed: the scan cache is empty, every file is
            # read and scanned by the content process
            t = time.monotonic()
            res, _ = d.scan([tree])
            r["scan_s"] = time.monotonic() - t
            r["scan_files"] = len(os.listdir(tree))
            r["scan_threats"] = res.get("threats_found", res.get("threats"))
            dpid = d.proc.pid
            cps = [p for p in children(dpid) if comm(p).startswith("palisade-cp")]
            size = r["size"]
            for who, pid in [("broker", dpid)] + [("cp", p) for p in cps[:1]]:
                found, rss, pss = mapping_of(pid, size)
                ru = rollup(pid)
                r[who] = (found, rss, pss, ru.get("Rss", 0), ru.get("Pss", 0))
            t = time.monotonic()
            with d.client() as c:
                upd = c.call("update", {"path": pkg2})
            r["swap_s"] = time.monotonic() - t
            r["swap_ok"] = "result" in upd
            res, _ = d.scan([tree])
            r["scan_after_swap_threats"] = res.get("threats_found", res.get("threats"))
        finally:
            d.stop()
            if d.own_base:
                shutil.rmtree(d.base, ignore_errors=True)
        r["clam_load_s"] = r["clam_scan_s"] = float("nan")
        r["clam_found"] = None
        if not a.no_clamscan:
            empty = os.path.join(work, "empty")
            open(empty, "w").close()
            # clamscan's output goes to a file, its stderr nowhere: at ~10 million
            # signatures it writes gigabytes of warnings, which must not pile up in memory
            out = os.path.join(work, "clamscan.out")
            t = time.monotonic()
            with open(out, "w") as f:
                subprocess.run(["clamscan", "--database=" + db, "--no-summary", empty],
                               stdout=f, stderr=subprocess.DEVNULL)
            r["clam_load_s"] = time.monotonic() - t
            t = time.monotonic()
            with open(out, "w") as f:
                subprocess.run(["clamscan", "--database=" + db, "--no-summary", "-r", tree],
                               stdout=f, stderr=subprocess.DEVNULL)
            r["clam_scan_s"] = time.monotonic() - t
            with open(out) as f:
                r["clam_found"] = sum(1 for line in f if line.endswith(" FOUND\n"))
        rows.append(r)
        print(r, flush=True)

    print()
    print("| package | signatures (hash / body) | import s | build s | size MB | verify s | daemon ready s | broker pkg Rss/Pss MiB | cp pkg Rss/Pss MiB | broker / cp total Pss MiB | live swap s | scan 1,000 files s (per object ms) | clamscan load s | clamscan scan s (net) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = r.get("broker", (0, 0, 0, 0, 0))
        c = r.get("cp", (0, 0, 0, 0, 0))
        print(f"| {r['label']} | {r['hashes']:,} / {r['bodies']:,} | {r['import_s']:.1f} | {r['build_s']:.1f} | "
              f"{r['size'] / 1e6:.1f} | {r['verify_s']:.2f} | {r['ready_s']:.2f} | "
              f"{b[1] / 1024:.1f} / {b[2] / 1024:.1f} | {c[1] / 1024:.1f} / {c[2] / 1024:.1f} | "
              f"{b[4] / 1024:.0f} / {c[4] / 1024:.0f} | {r['swap_s']:.2f} | "
              f"{r['scan_s']:.2f} ({r['scan_s'] * 1000 / r['scan_files']:.2f}) | {r['clam_load_s']:.1f} | "
              f"{r['clam_scan_s']:.1f} ({r['clam_scan_s'] - r['clam_load_s']:.1f}) |")
    for r in rows:
        print(f"\n{r['label']}: {r['import_out']}; threats found: palisade {r['scan_threats']} "
              f"(after swap {r['scan_after_swap_threats']}), clamscan {r['clam_found']}; swap ok {r['swap_ok']}")
        for k, (ca, nc, ig) in sorted(r["counts"].items()):
            print(f"  {k}: carried {ca:,}, not carried {nc:,}, ignored {ig:,}")


if __name__ == "__main__":
    main()
