#!/usr/bin/env python3
"""gen_clamdb.py — generate ClamAV databases and a tree of samples for the import oracle test.

  gen_clamdb.py OUTDIR [--seed N]

Writes OUTDIR/loose/ (one database file per format: .hdb .hsb .fp .sfp .ign2 .ndb .ldb),
OUTDIR/cvd/ (the same databases packed into daily.cvd: 512-byte header with the MD5 of the
gzip'd tar that follows; and a .cld of the same tar), OUTDIR/tree/ (files matching each
signature, near misses, clean files), and OUTDIR/expect.tsv (file TAB the ClamAV names that
must detect it, comma-separated, or '-' for clean). The names that are on purpose not carried
are in OUTDIR/not_carried.txt.
"""
import gzip, hashlib, io, os, random, sys, tarfile, time

out = sys.argv[1]
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
rnd = random.Random(seed)
for d in ("loose", "cvd", "tree"):
    os.makedirs(os.path.join(out, d), exist_ok=True)

def rbytes(n):
    return bytes(rnd.getrandbits(8) for _ in range(n))

tree = os.path.join(out, "tree")
expect = {}
def sample(name, data, names=()):
    with open(os.path.join(tree, name), "wb") as f:
        f.write(data)
    expect[name] = set(names)
    return data

db = {k: [] for k in ("hdb", "hsb", "fp", "sfp", "ign2", "ndb", "ldb")}
not_carried = []

# --- hash signatures -------------------------------------------------------------------
for i in range(20):
    d = sample(f"md5_{i}.bin", rbytes(500 + i * 13), [f"Win.Trojan.Md5-{i}"])
    db["hdb"].append(f"{hashlib.md5(d).hexdigest()}:{len(d)}:Win.Trojan.Md5-{i}")
for i in range(10):
    d = sample(f"sha1_{i}.bin", rbytes(700 + i), [f"Unix.Malware.Sha1-{i}"])
    db["hsb"].append(f"{hashlib.sha1(d).hexdigest()}:{len(d)}:Unix.Malware.Sha1-{i}")
for i in range(10):
    d = sample(f"sha256_{i}.bin", rbytes(900 + i), [f"Doc.Exploit.Sha256-{i}"])
    db["hsb"].append(f"{hashlib.sha256(d).hexdigest()}:{len(d)}:Doc.Exploit.Sha256-{i}")
for i in range(5):  # unknown size
    d = sample(f"anysize_{i}.bin", rbytes(300 + i), [f"PUA.Win.Tool.Any-{i}"])
    db["hsb"].append(f"{hashlib.sha256(d).hexdigest()}:*:PUA.Win.Tool.Any-{i}:73")
for i in range(5):  # MD5 with unknown size, in .hsb
    d = sample(f"md5any_{i}.bin", rbytes(310 + i), [f"Win.Trojan.Md5Any-{i}"])
    db["hsb"].append(f"{hashlib.md5(d).hexdigest()}:*:Win.Trojan.Md5Any-{i}:73")
# near misses: right hash, wrong size in the database; one byte changed
for i in range(5):
    d = sample(f"wrongsize_{i}.bin", rbytes(400 + i))
    db["hdb"].append(f"{hashlib.md5(d).hexdigest()}:{len(d) + 1}:Win.Trojan.WrongSize-{i}")
for i in range(5):
    d = bytearray(rbytes(450 + i))
    db["hdb"].append(f"{hashlib.md5(bytes(d)).hexdigest()}:{len(d)}:Win.Trojan.Mutated-{i}")
    d[len(d) // 2] ^= 1
    sample(f"mutated_{i}.bin", bytes(d))
# allow lists: detected by a hash signature, allowed by .fp (MD5) or .sfp (SHA-256)
for i in range(3):
    d = sample(f"allowed_md5_{i}.bin", rbytes(600 + i))
    db["hdb"].append(f"{hashlib.md5(d).hexdigest()}:{len(d)}:Win.Trojan.Allowed-{i}")
    db["fp"].append(f"{hashlib.md5(d).hexdigest()}:{len(d)}:Allowed-{i}")
for i in range(3):
    d = sample(f"allowed_sha_{i}.bin", rbytes(650 + i))
    db["hsb"].append(f"{hashlib.sha256(d).hexdigest()}:{len(d)}:Doc.Exploit.AllowedSha-{i}")
    db["sfp"].append(f"{hashlib.sha256(d).hexdigest()}:{len(d)}:AllowedSha-{i}")
# ignored by name
for i in range(3):
    d = sample(f"ignored_{i}.bin", rbytes(800 + i))
    db["hdb"].append(f"{hashlib.md5(d).hexdigest()}:{len(d)}:Win.Trojan.Ignored-{i}")
    db["ign2"].append(f"Win.Trojan.Ignored-{i}")
# duplicates in the database (the same signature twice)
db["hdb"].append(db["hdb"][0])

# --- logical signatures: the simplest form here, the others in gen_ndb.py ------------------
for i in range(3):
    marker = f"LDBMARK{i:04d}XYZ".encode()
    sample(f"ldb_{i}.bin", rbytes(100) + marker + rbytes(100), [f"Win.Trojan.Ldb-{i}"])
    db["ldb"].append(f"Win.Trojan.Ldb-{i};Engine:51-255,Target:0;0;{marker.hex()}")

# --- extra generators hook (body signatures) ----------------------------------------------
extra = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen_ndb.py")
if os.path.exists(extra):
    ns = {"rnd": rnd, "rbytes": rbytes, "sample": sample, "db": db, "not_carried": not_carried}
    exec(compile(open(extra).read(), extra, "exec"), ns)

# clean files
for i in range(10):
    sample(f"clean_{i}.bin", rbytes(1000 + i * 100))
sample("empty.bin", b"")

def write_db(d):
    for k, lines in db.items():
        if lines:
            with open(os.path.join(d, f"test.{k}"), "w") as f:
                f.write("\n".join(lines) + "\n")
write_db(os.path.join(out, "loose"))

# --- the container: daily.cvd = header + tar.gz of the same files ---------------------------
tbuf = io.BytesIO()
with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for k, lines in db.items():
        if not lines:
            continue
        data = ("\n".join(lines) + "\n").encode()
        ti = tarfile.TarInfo(f"daily.{k}")
        ti.size = len(data)
        ti.mtime = 0
        t.addfile(ti, io.BytesIO(data))
    info = b"DAILY:generated by gen_clamdb.py\n"
    ti = tarfile.TarInfo("daily.info"); ti.size = len(info); t.addfile(ti, io.BytesIO(info))
tar = tbuf.getvalue()
body = gzip.compress(tar, mtime=0)
nsigs = sum(len(v) for v in db.values())
def header(md5hex):
    h = f"ClamAV-VDB:07 Dec 2026 12-00 +0000:1:{nsigs}:90:{md5hex}:UNSIGNED:gen_clamdb:{int(time.time())}"
    return h.encode().ljust(512, b" ")
with open(os.path.join(out, "cvd", "daily.cvd"), "wb") as f:
    f.write(header(hashlib.md5(body).hexdigest()) + body)
os.makedirs(os.path.join(out, "cld"), exist_ok=True)
with open(os.path.join(out, "cld", "daily.cld"), "wb") as f:
    f.write(header(hashlib.md5(tar).hexdigest()) + tar)

with open(os.path.join(out, "expect.tsv"), "w") as f:
    for name in sorted(expect):
        f.write(f"{name}\t{','.join(sorted(expect[name])) or '-'}\n")
with open(os.path.join(out, "not_carried.txt"), "w") as f:
    f.write("".join(n + "\n" for n in not_carried))
