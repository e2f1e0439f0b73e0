#!/usr/bin/env python3
"""bench/gen_tree.py — a deterministic realistic file tree for the scan benchmarks (issue 13).

    bench/gen_tree.py OUT_DIR [--shape mixed|small|large] [--total-mib N] [--files N]
                      [--seed S] [--force]

Shapes (every one seeded: the same arguments give the same bytes):
  mixed  (default) --files files (20,000) of about --total-mib in all (1024): sizes drawn
         from a log-normal law with median 4 KB and p99 about 850 KB (sigma 2.29), capped at
         18 MiB (the largest file is made exactly that big), then scaled so that the total is
         --total-mib; by count 52% text (C/Python source, logs, INI/JSON/YAML config, prose),
         16% ELF-like binaries (a valid x86-64 ELF header and program headers, code-like
         bytes, a string table of symbol names), 18% high-entropy media-like data (a JPEG,
         PNG or MP4 header, then random bytes), 5% structured binary data (records with
         zero runs), 2% archives (1% zip, 1% tar.gz: real archives whose members are text,
         ELF-like and random files, so their size on disk is what compression leaves),
         3% empty files, the rest (4%) small files of zeros-and-text padding. Files larger
         than 1 MiB are mostly media and ELF-like, as on a real disk.
  small  --files files (default 20,000) of 1 to 16 KiB, mixed kinds as above, no archives:
         the per-object cost.
  large  --files files (default 24) of 16 to 48 MiB (text, ELF-like, media): the per-byte cost.

--total-mib and --files scale the tree down for a quick or CI-sized run (e.g. --total-mib 64
--files 2000: the same shape, a sixteenth of the bytes). Directories: 100 files each, two
levels. A marker OUT_DIR.complete (beside the tree, not in it) records the arguments; the tree
is not regenerated when the marker matches (--force regenerates).

Prints one line: files, bytes, the size percentiles (median, p99, largest) and the count per kind.
"""
import argparse
import io
import json
import math
import os
import random
import shutil
import struct
import sys
import tarfile
import zipfile

VERSION = 1
KIB, MIB = 1 << 10, 1 << 20

WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at "
         "which but have an they you were her she there been one all we their has would when "
         "if so no what up out about who them some could him into its then two more these "
         "service daemon kernel module package network socket user admin report schedule "
         "invoice meeting install update config system process memory thread buffer").split()
IDENTS = ("buf len ctx err rc n i j k p q node list head tail next prev size count offset "
          "data value key name path fd sock conn req resp state flags mode opts cfg log "
          "handler callback result status entry table index hash item").split()
LOG_LEVELS = ("INFO", "DEBUG", "WARN", "ERROR", "NOTICE")
DAEMONS = ("sshd", "systemd", "kernel", "cron", "nginx", "postgres", "dockerd", "NetworkManager")
SYMBOLS = ("malloc free memcpy memset strlen strcmp printf fprintf open close read write "
           "pthread_create pthread_mutex_lock socket connect bind listen accept epoll_wait "
           "__libc_start_main __cxa_finalize _ITM_registerTMCloneTable getenv setlocale").split()


# ---- content makers: each returns exactly n bytes, deterministic in rng ----------------------

class Maker:
    """Holds a few MiB of pre-generated text of each kind, cut at random offsets, so that a
    GiB is generated in seconds and no two files are the same bytes."""

    def __init__(self, rng):
        self.rng = rng
        self.pools = {
            "prose": self._pool(self._prose_line),
            "c": self._pool(self._c_line),
            "py": self._pool(self._py_line),
            "log": self._pool(self._log_line),
            "conf": self._pool(self._conf_line),
        }

    def _pool(self, line, size=2 * MIB):
        out, n = [], 0
        while n < size:
            s = line()
            out.append(s)
            n += len(s)
        return "".join(out).encode()

    def _prose_line(self):
        r = self.rng
        return " ".join(r.choice(WORDS) for _ in range(r.randint(5, 16))).capitalize() + ".\n"

    def _c_line(self):
        r = self.rng
        a, b, c = (r.choice(IDENTS) for _ in range(3))
        return r.choice((
            "    if (%s < %s)\n        return -%d;\n" % (a, b, r.randint(1, 40)),
            "    %s = %s->%s + %d;\n" % (a, b, c, r.randint(0, 4096)),
            "static int %s_%s(struct %s *%s, size_t %s)\n{\n" % (a, b, c, a, b),
            "    /* %s the %s before the %s */\n" % (r.choice(WORDS), c, a),
            "}\n\n",
            "    for (size_t %s = 0; %s < %s; %s++)\n" % (a, a, b, a),
            "#include <%s/%s.h>\n" % (a, b),
        ))

    def _py_line(self):
        r = self.rng
        a, b, c = (r.choice(IDENTS) for _ in range(3))
        return r.choice((
            "def %s_%s(%s, %s=None):\n" % (a, b, c, a),
            "    %s = %s.%s(%d)\n" % (a, b, c, r.randint(0, 999)),
            "    if %s is None:\n        raise ValueError(%r)\n" % (a, b + " " + c),
            "import %s\n" % a,
            "    return [%s for %s in %s if %s]\n" % (a, a, b, c),
        ))

    def _log_line(self):
        r = self.rng
        return "2026-%02d-%02dT%02d:%02d:%02d.%06dZ host%02d %s[%d]: %s %s\n" % (
            r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59),
            r.randint(0, 59), r.randint(0, 999999), r.randint(0, 40), r.choice(DAEMONS),
            r.randint(100, 65535), r.choice(LOG_LEVELS),
            " ".join(r.choice(WORDS) for _ in range(r.randint(3, 12))))

    def _conf_line(self):
        r = self.rng
        k = r.choice(IDENTS) + "_" + r.choice(IDENTS)
        return r.choice((
            "[%s]\n" % r.choice(IDENTS),
            "%s = %d\n" % (k, r.randint(0, 100000)),
            "%s = \"%s\"\n" % (k, r.choice(WORDS)),
            "  %s: %s\n" % (k, r.choice(("true", "false", "null", str(r.randint(0, 99))))),
            '  "%s": %d,\n' % (k, r.randint(0, 9999)),
        ))

    def text(self, n, kind=None):
        kind = kind or self.rng.choice(("prose", "c", "py", "log", "conf", "log", "c"))
        pool = self.pools[kind]
        parts, got = [], 0
        while got < n:
            off = self.rng.randrange(len(pool))
            take = min(n - got, len(pool) - off)
            parts.append(pool[off:off + take])
            got += take
        return b"".join(parts)

    def random(self, n):
        return self.rng.randbytes(n)

    def media(self, n):
        head = self.rng.choice((
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x04\x00\x00\x00\x03\x00\x08\x06",
            b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",
        ))
        return (head + self.rng.randbytes(max(0, n - len(head))))[:n]

    def elf(self, n):
        """A valid x86-64 ELF header and two program headers, then code-like bytes (random
        bytes with frequent zero runs and common opcodes) and a string table of symbols."""
        r = self.rng
        ident = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
        shnum = r.randint(20, 36)
        hdr = ident + struct.pack("<HHIQQQIHHHHHH", r.choice((2, 3)), 62, 1, 0x401000 + r.randrange(4096),
                                  64, max(64, n - shnum * 64), 0, 64, 56, 2, 64, shnum, shnum - 1)
        ph = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, n, n, 0x1000)
        ph += struct.pack("<IIQQQQQQ", 1, 6, 0, 0x600000, 0x600000, 0, 0, 0x1000)
        out = [hdr, ph]
        got = len(hdr) + len(ph)
        strtab = b"\x00".join(s.encode() for s in r.sample(SYMBOLS, len(SYMBOLS))) + b"\x00"
        while got < n:
            k = r.random()
            if k < 0.55:
                chunk = r.randbytes(r.randint(64, 4096))
            elif k < 0.75:
                chunk = b"\x00" * r.randint(8, 512)
            elif k < 0.9:
                chunk = bytes(r.choice((0x48, 0x89, 0xe5, 0x8b, 0x45, 0xc3, 0xe8, 0x0f, 0x1f,
                                        0x00, 0x55, 0x5d))
                              for _ in range(r.randint(32, 256)))
            else:
                chunk = strtab
            out.append(chunk)
            got += len(chunk)
        return b"".join(out)[:n]

    def records(self, n):
        """Structured binary data: fixed records of counters, ids and zero padding."""
        r = self.rng
        out, got = [], 0
        while got < n:
            rec = struct.pack("<IIQ", r.randrange(1 << 16), r.randrange(1 << 32), got) + \
                b"\x00" * r.choice((8, 16, 40)) + r.randbytes(r.choice((4, 8, 24)))
            out.append(rec)
            got += len(rec)
        return b"".join(out)[:n]

    def padded(self, n):
        half = n // 2
        return b"\x00" * half + self.text(n - half)


# ---- archives --------------------------------------------------------------------------------

def archive(mk, rng, kind, target):
    """A zip or tar.gz whose members' uncompressed sizes add up to about target bytes."""
    members, left, i = [], max(target, 1024), 0
    while left > 0 and i < 64:
        n = min(left, max(256, int(rng.lognormvariate(math.log(8 * KIB), 1.2))))
        what = rng.random()
        if what < 0.5:
            data, name = mk.text(n), "doc%02d.txt" % i
        elif what < 0.75:
            data, name = mk.elf(n), "bin/tool%02d" % i
        else:
            data, name = mk.media(n), "img%02d.jpg" % i
        members.append((name, data))
        left -= n
        i += 1
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                zi = zipfile.ZipInfo(name, date_time=(2026, 1, 2, 3, 4, 5))
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = 0o644 << 16
                z.writestr(zi, data)
    else:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for name, data in members:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mtime, ti.mode = len(data), 1767225600, 0o644
                t.addfile(ti, io.BytesIO(data))
        import gzip
        buf.write(gzip.compress(raw.getvalue(), compresslevel=6, mtime=0))
    return buf.getvalue()


# ---- the tree --------------------------------------------------------------------------------

KINDS = (  # (kind, weight by count) for the mixed shape
    ("text", 52), ("elf", 16), ("media", 18), ("records", 5), ("zip", 1), ("targz", 1),
    ("empty", 3), ("padded", 4))
EXT = {"text": (".c", ".py", ".log", ".conf", ".txt", ".json", ".md"), "elf": ("", ".so", ".bin"),
       "media": (".jpg", ".png", ".mp4"), "records": (".db", ".dat", ".idx"), "zip": (".zip",),
       "targz": (".tar.gz",), "empty": (".lock", ""), "padded": (".img", ".dat")}


def sizes_mixed(rng, files, total, largest):
    mu, sigma = math.log(4096), math.log(850e3 / 4096) / 2.326
    s = [min(int(rng.lognormvariate(mu, sigma)), largest) for _ in range(files)]
    biggest = max(range(files), key=lambda i: s[i])
    rest = sum(s) - s[biggest]
    scale = (total - largest) / rest if rest else 1.0
    s = [max(1, int(x * scale)) for x in s]
    s[biggest] = largest
    return s


def pick_kind(rng, size, shape):
    if shape == "large":
        return rng.choice(("text", "elf", "media"))
    kinds = [k for k in KINDS if shape == "mixed" or k[0] not in ("zip", "targz", "empty")]
    if shape == "mixed" and size > MIB:  # large files: mostly media and programs
        kinds = [("media", 50), ("elf", 30), ("text", 12), ("records", 6), ("zip", 1),
                 ("targz", 1)]
    total = sum(w for _, w in kinds)
    x = rng.uniform(0, total)
    for k, w in kinds:
        x -= w
        if x <= 0:
            return k
    return kinds[-1][0]


def make(mk, rng, kind, n):
    if kind == "text":
        return mk.text(n)
    if kind == "elf":
        return mk.elf(n)
    if kind == "media":
        return mk.media(n)
    if kind == "records":
        return mk.records(n)
    if kind == "padded":
        return mk.padded(n)
    if kind == "empty":
        return b""
    return archive(mk, rng, "zip" if kind == "zip" else "targz", n)


def pct(sorted_sizes, p):
    return sorted_sizes[min(len(sorted_sizes) - 1, int(len(sorted_sizes) * p))]


def generate(out, shape, files, total_mib, seed):
    rng = random.Random("%d-%s" % (seed, shape))
    mk = Maker(rng)
    if shape == "mixed":
        total = total_mib * MIB
        largest = min(18 * MIB, max(total // 8, 64 * KIB))
        sizes = sizes_mixed(rng, files, total, largest)
    elif shape == "small":
        sizes = [rng.randint(1 * KIB, 16 * KIB) for _ in range(files)]
    else:
        sizes = [rng.randint(16 * MIB, 48 * MIB) for _ in range(files)]
    counts, written, real_sizes = {}, 0, []
    for i, n in enumerate(sizes):
        kind = pick_kind(rng, n, shape)
        if kind == "empty":
            n = 0
        data = make(mk, rng, kind, n)
        ext = rng.choice(EXT[kind])
        d = os.path.join(out, "d%03d" % (i // 10000), "d%03d" % (i // 100 % 100))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%05d%s" % (i, ext)), "wb") as f:
            f.write(data)
        counts[kind] = counts.get(kind, 0) + 1
        written += len(data)
        real_sizes.append(len(data))
    real_sizes.sort()
    return {"files": len(sizes), "bytes": written, "median": pct(real_sizes, 0.5),
            "p99": pct(real_sizes, 0.99), "largest": real_sizes[-1], "kinds": counts}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--shape", choices=("mixed", "small", "large"), default="mixed")
    ap.add_argument("--total-mib", type=int, default=1024, help="mixed shape only")
    ap.add_argument("--files", type=int)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    files = a.files or {"mixed": 20000, "small": 20000, "large": 24}[a.shape]
    if files < 1 or a.total_mib < 1:
        ap.error("--files and --total-mib must be positive")
    out = os.path.abspath(a.out)
    key = {"version": VERSION, "shape": a.shape, "files": files, "seed": a.seed,
           "total_mib": a.total_mib if a.shape == "mixed" else None}
    marker = out.rstrip("/") + ".complete"
    try:
        with open(marker) as f:
            done = json.load(f)
        if done.get("key") == key and os.path.isdir(out) and not a.force:
            print(json.dumps(done["stats"]))
            return 0
    except (OSError, ValueError):
        pass
    if os.path.exists(marker):
        os.unlink(marker)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.umask(0o022)
    stats = generate(out, a.shape, files, a.total_mib, a.seed)
    with open(marker, "w") as f:
        json.dump({"key": key, "stats": stats}, f)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
