# gen_ndb.py — body signatures (.ndb) for gen_clamdb.py, run inside it (rnd, rbytes, sample,
# db, not_carried come from there). One signature per wildcard, jump, alternative, offset
# and target form Palisade carries, each with a sample that matches and a near miss that
# must not; and signatures in forms that are not carried, with samples ClamAV detects.
import struct

def fixed(n=6):
    while True:
        b = rbytes(n)
        if b[0] not in (0, 0x7f, 0x4d):  # no accidental magic at offset 0
            return b
def hx(b): return b.hex()
k = [0]
def sig(target, offset, pattern, hit=None, miss=None, carried=True):
    k[0] += 1
    name = f"Win.Trojan.Ndb{k[0]:03d}-{k[0]}"
    db["ndb"].append(f"{name}:{target}:{offset}:{pattern}")
    if not carried:
        not_carried.append(name)
    if hit is not None:
        sample(f"ndb{k[0]:03d}_hit.bin", hit, [name])
    if miss is not None:
        sample(f"ndb{k[0]:03d}_miss.bin", miss)
    return name
pad = lambda n=200: rbytes(n)

A, B = fixed(), fixed()
M = fixed(12)
sig(0, "*", hx(M), pad() + M + pad(), pad() + M[:6] + bytes([M[6] ^ 1]) + M[7:] + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "??" + hx(B), pad() + A + b"\x11" + B + pad(), pad() + A + b"\x11\x22" + B + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "a?" + hx(B), pad() + A + b"\xa5" + B + pad(), pad() + A + b"\xb5" + B + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "?7" + hx(B), pad() + A + b"\x37" + B + pad(), pad() + A + b"\x38" + B + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "{5}" + hx(B), pad() + A + rbytes(5) + B + pad(), pad() + A + rbytes(6) + B + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "{3-6}" + hx(B), pad() + A + rbytes(4) + B + pad(), pad() + A + rbytes(8) + B + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "{-4}" + hx(B), pad() + A + rbytes(2) + B + pad(), pad() + A + rbytes(6) + B + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "{10-}" + hx(B), pad() + A + rbytes(50) + B + pad(), pad() + A + rbytes(5) + B + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "*" + hx(B), pad() + A + rbytes(300) + B + pad(), pad() + B + rbytes(30) + A + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "(c1|c2)" + hx(B), pad() + A + b"\xc2" + B + pad(), pad() + A + b"\xc3" + B + pad())
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "(aabb|ccdd|ee)" + hx(B), pad() + A + b"\xcc\xdd" + B + pad(), pad() + A + b"\xcc\xee" + B + pad())
A = fixed(10)
sig(0, "100", hx(A), pad(100) + A + pad(), pad(101) + A + pad())
A = fixed(10)
sig(0, "100,20", hx(A), pad(110) + A + pad(), pad(130) + A + pad())
A = fixed(10)
sig(0, "EOF-50", hx(A), pad(300) + A + pad(40), pad(300) + A + pad(41))
A = fixed(10)
sig(0, "EOF-50,10", hx(A), pad(300) + A + pad(35), pad(300) + A + pad(20))
A = fixed(10)
elf = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 62, 1) + bytes(40)
sig(6, "*", hx(A), elf + pad() + A + pad(), b"\x7fELG" + elf[4:] + pad() + A + pad())
# not carried: ClamAV detects these, Palisade reports them as not carried
A, B = fixed(), fixed()
sig(0, "*", hx(A) + "!(aa|bb)" + hx(B), pad() + A + b"\xcc" + B + pad(), carried=False)
A, B = fixed(), fixed()
sig(7, "*", hx(A), carried=False)   # text: ClamAV normalises text first
A = fixed(10)
sig(1, "EP+0", hx(A), carried=False)  # relative to the PE entry point
A = fixed(10)
sig(1, "*", hx(A), carried=False)  # PE target: ClamAV's PE parser decides, not carried
sig(0, "*", "ffff??ffff", carried=False)  # only common bytes fixed: YARA warns, the build would fail
# ignored by name
A = fixed(10)
n = sig(0, "*", hx(A))
db["ign2"].append(n)
sample(f"ndb_ignored.bin", pad() + A + pad())

# --- logical signatures (.ldb) --------------------------------------------------------------
kl = [0]
def lsig(tdb, expr, subs, hit=None, miss=None, carried=True):
    kl[0] += 1
    name = f"Win.Trojan.Logic{kl[0]:03d}-{kl[0]}"
    if not tdb.startswith("Engine:"):  # ClamAV requires it with any other attribute
        tdb = "Engine:51-255," + tdb
    db["ldb"].append(f"{name};{tdb};{expr};" + ";".join(subs))
    if not carried:
        not_carried.append(name)
    if hit is not None:
        sample(f"ldb{kl[0]:03d}_hit.bin", hit, [name])
    if miss is not None:
        sample(f"ldb{kl[0]:03d}_miss.bin", miss)
A, B, C = fixed(8), fixed(8), fixed(8)
lsig("Engine:51-255,Target:0", "0&1", [hx(A), hx(B)], pad() + A + pad() + B + pad(), pad() + A + pad())
A, B = fixed(8), fixed(8)
lsig("Target:0", "0|1", [hx(A), hx(B)], pad() + B + pad(), pad() + A[:7] + pad())
A, B, C = fixed(8), fixed(8), fixed(8)
lsig("Target:0", "(0|1)&2", [hx(A), hx(B), hx(C)], pad() + B + pad() + C + pad(), pad() + A + pad() + B + pad())
A = fixed(8)
lsig("Target:0", "0>1", [hx(A)], pad() + A + pad() + A + pad(), pad() + A + pad())
A = fixed(8)
lsig("Target:0", "0=2", [hx(A)], pad() + A + pad() + A + pad(), pad() + A + pad() + A + pad() + A + pad())
A, B = fixed(8), fixed(8)
lsig("Target:0", "0&1<1", [hx(A), hx(B)], pad() + A + pad(), pad() + A + pad() + B + pad())
A, B = fixed(8), fixed(8)
lsig("Target:0", "(0|1)>2", [hx(A), hx(B)], pad() + A + pad() + B + pad() + A + pad(), pad() + A + pad() + B + pad())
A, B = fixed(8), fixed(8)
lsig("Target:0", "0&1", ["100:" + hx(A), hx(B) + "{2-4}" + hx(C)], pad(100) + A + pad() + B + b"xyz" + C + pad(),
     pad(101) + A + pad() + B + b"xyz" + C + pad())
A = fixed(8)
lsig("Target:0,FileSize:1000-2000", "0", [hx(A)], pad(700) + A + pad(792), pad(1200) + A + pad(1300))
A = fixed(8)
lsig("Target:6", "0", [hx(A)], elf + pad() + A + pad(), pad() + A + pad())
# not carried
A = fixed(8)
lsig("Target:0", "0", [hx(A) + "::i"], pad() + A + pad(), carried=False)
A = fixed(8)
lsig("Engine:51-99,Target:0", "0", [hx(A)], carried=False)
A, B = fixed(8), fixed(8)
lsig("Target:0", "(0|1)>1,2", [hx(A), hx(B)], pad() + A + pad() + B + pad() + A + pad(), carried=False)
A = fixed(8)
lsig("Target:1,EntryPoint:0-10", "0", [hx(A)], carried=False)
