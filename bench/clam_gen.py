#!/usr/bin/env python3
"""clam_gen.py — generate a large ClamAV database directory for bench/clam_scale.py.

  clam_gen.py OUTDIR N_HASHES N_BODY [--seed N]

OUTDIR/main.hdb (70% of the hashes: MD5 with sizes), OUTDIR/main.hsb (20% SHA-256, 10%
SHA-1; one in 50 with the unknown size "*"), OUTDIR/daily.ndb (N_BODY body signatures:
plain hex of 12-40 bytes, one in five with ?? or a {n-m} jump, one in ten with an
alternative, one in twenty relative to the PE entry point and one in fifty for text files:
those two kinds are not carried and show up in the import report), OUTDIR/daily.fp (one
allow entry per thousand hashes) and OUTDIR/daily.ign2 (one ignored name per ten thousand).
The names have ClamAV's shape (Platform.Category.Family-N), unique per signature, as in
the real databases.
"""
import os, random, sys

out, n_hash, n_body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1)
os.makedirs(out, exist_ok=True)
plats = ["Win", "Unix", "Doc", "Html", "Js", "Andr", "Osx", "Pdf", "Xls", "Email"]
cats = ["Trojan", "Malware", "Exploit", "Downloader", "Dropper", "Ransomware", "Worm",
        "Backdoor", "Coinminer", "Phishing", "Packed", "Adware", "Spyware", "Virus"]
fams = ["Agent", "Generic", "Emotet", "Mirai", "Zbot", "Kryptik", "Gafgyt", "Qakbot",
        "Lokibot", "Formbook", "Tsunami", "XorDDoS", "Nanocore", "Remcos", "AsyncRAT"]
def name(i):
    return f"{rnd.choice(plats)}.{rnd.choice(cats)}.{rnd.choice(fams)}-{i}"

def hx(n):
    return os.urandom(n).hex()

names = []
with open(os.path.join(out, "main.hdb"), "w") as hdb, \
        open(os.path.join(out, "main.hsb"), "w") as hsb, \
        open(os.path.join(out, "daily.fp"), "w") as fp:
    for i in range(n_hash):
        r = rnd.random()
        size = "*" if rnd.random() < 0.02 else str(rnd.randint(64, 8 << 20))
        nm = name(i)
        if i % 10000 == 5:
            names.append(nm)
        if r < 0.7:
            hdb.write(f"{hx(16)}:{size if size != '*' else rnd.randint(64, 1 << 20)}:{nm}\n")
        elif r < 0.9:
            hsb.write(f"{hx(32)}:{size}:{nm}{':73' if size == '*' else ''}\n")
        else:
            hsb.write(f"{hx(20)}:{size}:{nm}{':73' if size == '*' else ''}\n")
        if i % 1000 == 7:
            fp.write(f"{hx(16)}:{rnd.randint(64, 1 << 20)}:Allowed-{i}\n")
with open(os.path.join(out, "daily.ign2"), "w") as ign:
    for nm in names:
        ign.write(nm + "\n")
with open(os.path.join(out, "daily.ndb"), "w") as ndb:
    for i in range(n_body):
        nm = name(n_hash + i)
        a = hx(rnd.randint(6, 20))
        b = hx(rnd.randint(6, 20))
        r = rnd.random()
        if r < 0.1:
            pat = f"{a}??{b}"
        elif r < 0.2:
            pat = f"{a}{{{rnd.randint(0, 8)}-{rnd.randint(9, 64)}}}{b}"
        elif r < 0.3:
            pat = f"{a}({hx(1)}|{hx(2)}|{hx(1)}){b}"
        else:
            pat = a + b
        target, off = 0, "*"
        r = rnd.random()
        if r < 0.05:
            target, off = 1, f"EP+{rnd.randint(0, 64)}"
        elif r < 0.07:
            target = 7
        elif r < 0.12:
            target = 1
        elif r < 0.15:
            target = 6
        ndb.write(f"{nm}:{target}:{off}:{pat}\n")
