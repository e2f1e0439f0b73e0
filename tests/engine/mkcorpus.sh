#!/usr/bin/env bash
# tests/engine/mkcorpus.sh OUTDIR — build the scan engine's test corpus into OUTDIR.
#
# Every container format a tool on this machine can write, holding the EICAR test string;
# nested containers to the depth limit and one level beyond; encrypted, bomb, truncated and
# corrupt archives; clean controls. Nothing here is committed: the EICAR string is put
# together from pieces at run time, so neither the repository nor any file in it holds it.
#
# OUTDIR/manifest.tsv says what the engine must answer for each file, one line per case:
#   file  profile  verdict  reason  reason_chain  findings
# profile: the limits to scan with (default, members, expanded, size, nodepth, heavy,
# anywhere; defined in test_engine.c); verdict: clean|threat|unscannable; reason: an
# unscannable reason name or none; reason_chain: where the reason must be reported ('-' =
# not checked; a trailing '*' = this prefix, for a stream damaged in the middle, which may
# fail in a member or between members); findings: the chains at which the EICAR threat must be found, separated by '|'
# ('-' = none). Each file is scanned under its name in OUTDIR: chains start with it.
set -euo pipefail

out=${1:?usage: mkcorpus.sh OUTDIR}
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/work"
trap 'rm -rf "$tmp"' EXIT
C=$(cd "$tmp" && pwd)          # corpus files
W="$C/work"                    # payload files and scratch
manifest="$C/manifest.tsv"
printf '# file\tprofile\tverdict\treason\treason_chain\tfindings\n' > "$manifest"

expect() { # file profile verdict reason reason_chain findings
    [ -f "$C/$1" ] || { echo "mkcorpus: $1 was not produced" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$manifest"
}
# A container holding the standard payload: eicar.com (hash + rule), eicar-pad.txt (rule
# only: the string followed by text), readme.txt (clean).
payload_ok() { # file [profile]
    expect "$1" "${2:-default}" threat none - "$1->eicar.com|$1->eicar-pad.txt"
}

py() { python3 -c "$@"; }

# ---- payload -----------------------------------------------------------------------------
cd "$W"
printf '%s%s%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-' 'ANTIVIRUS-TEST-' \
    'FILE!$H+H*' > eicar.com
[ "$(wc -c < eicar.com)" -eq 68 ] || { echo "mkcorpus: bad EICAR length" >&2; exit 1; }
{ cat eicar.com; printf '\n'; for i in $(seq 1 200); do
    printf 'line %d of padding that compresses well\n' "$i"; done; } > eicar-pad.txt
for i in $(seq 1 100); do printf 'nothing to see here, line %d\n' "$i"; done > readme.txt
P="eicar.com eicar-pad.txt readme.txt"
# deterministic incompressible and semi-compressible data
py 'import random,sys; random.seed(1); sys.stdout.buffer.write(random.randbytes(200*1024))' > rnd.bin
py 'import random,sys,base64; random.seed(2); sys.stdout.buffer.write(base64.encodebytes(random.randbytes(1536*1024)))' > b64.txt
mkdir -p docs && cp eicar.com docs/
# fixed times and owners, so that the damaged archives below are damaged the same way on
# every run and machine
export TZ=UTC
touch -d @1700000000 eicar.com eicar-pad.txt readme.txt rnd.bin b64.txt docs/eicar.com docs
dtar() { bsdtar --uid 0 --gid 0 --uname root --gname root "$@"; }

# ---- the raw file ------------------------------------------------------------------------
cp eicar.com "$C/eicar.com"
expect eicar.com default threat none - eicar.com
expect eicar.com nodepth threat none - eicar.com

# ---- zip ---------------------------------------------------------------------------------
zip -q -X "$C/zip.zip" $P;                        payload_ok zip.zip
zip -q -X -0 "$C/zip-store.zip" $P;               payload_ok zip-store.zip
zip -q -X -Z bzip2 "$C/zip-bzip2.zip" $P;         payload_ok zip-bzip2.zip
zip -q -X -fz "$C/zip64.zip" $P;                  payload_ok zip64.zip
bsdtar --format zip --options zip:zip64 -cf "$C/zip64-bsdtar.zip" $P
payload_ok zip64-bsdtar.zip
zip -q -X - $P > "$C/zip-stream.zip";             payload_ok zip-stream.zip
7z a -bd -tzip -mm=LZMA "$C/zip-lzma.zip" $P >/dev/null;         payload_ok zip-lzma.zip
7z a -bd -tzip -mm=PPMd "$C/zip-ppmd.zip" $P >/dev/null;         payload_ok zip-ppmd.zip
# Deflate64 is a method libarchive 3.6 cannot decode: the member it could not read makes
# the archive unscannable, the stored eicar.com is still found
7z a -bd -tzip -mm=Deflate64 "$C/zip-deflate64.zip" $P >/dev/null
expect zip-deflate64.zip default threat corrupt "zip-deflate64.zip->eicar-pad.txt" \
    "zip-deflate64.zip->eicar.com"
# a member in a subdirectory keeps its path in the chain
zip -q -X -r "$C/zip-dir.zip" docs
expect zip-dir.zip default threat none - "zip-dir.zip->docs/eicar.com"

# member names are raw bytes in chains, control characters and bytes that are not UTF-8
# included (views escape them): two members never collapse into one '?'
mkdir -p names && cp eicar.com "names/$(printf 'bad\001\377name.com')"
(cd names && zip -q -X "$C/names.zip" -- *)
expect names.zip default threat none - "$(printf 'names.zip->bad\001\377name.com')"
# non-ASCII names flagged UTF-8 (zip flag bit 11, as Python and Windows write them): each
# member named exactly, three findings (issue 10: all three were one 'nonascii.zip->?')
py 'import sys,zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for n in ("счёт-1.com", "счёт-2.com", "发票.com"):
        z.writestr(zipfile.ZipInfo(n, (2023, 11, 14, 22, 13, 20)), open("eicar.com", "rb").read())
' "$C/nonascii.zip"
expect nonascii.zip default threat none - \
    "nonascii.zip->счёт-1.com|nonascii.zip->счёт-2.com|nonascii.zip->发票.com"
# legacy code-page names (CP866 "счёт", no UTF-8 flag, as old Windows zips): raw bytes
mkdir -p legacy && cp eicar.com "legacy/$(printf '\341\347\361\342-1.com')" &&
    cp eicar.com "legacy/$(printf '\341\347\361\342-2.com')"
(cd legacy && LC_ALL=C zip -q -X "$C/legacy.zip" -- *)
expect legacy.zip default threat none - "$(printf 'legacy.zip->\341\347\361\342-1.com|legacy.zip->\341\347\361\342-2.com')"
# 7z stores names in UTF-16: converted to UTF-8
mkdir -p n7z && cp eicar.com "n7z/发票.com"
(cd n7z && LC_ALL=C.UTF-8 7z a -bd "$C/nonascii.7z" -- * >/dev/null)
expect nonascii.7z default threat none - "nonascii.7z->发票.com"
# with no expansion allowed, a container is unscannable, an empty one is not
py 'import sys,zipfile; zipfile.ZipFile(sys.argv[1], "w").close()' "$C/empty.zip"
expect empty.zip nodepth clean none - -
expect zip.zip nodepth unscannable depth-limit zip.zip -

# ---- 7z ----------------------------------------------------------------------------------
for m in LZMA2 LZMA PPMd BZip2 Deflate Copy; do
    7z a -bd -m0=$m "$C/7z-$m.7z" $P >/dev/null;  payload_ok "7z-$m.7z"
done
7z a -bd -m0=BCJ -m1=LZMA "$C/7z-BCJ.7z" $P >/dev/null;         payload_ok 7z-BCJ.7z
7z a -bd -m0=Delta -m1=LZMA "$C/7z-Delta.7z" $P >/dev/null;     payload_ok 7z-Delta.7z
7z a -bd -ms=off "$C/7z-nonsolid.7z" $P >/dev/null;             payload_ok 7z-nonsolid.7z
bsdtar --format 7zip -cf "$C/7z-bsdtar.7z" $P;                  payload_ok 7z-bsdtar.7z

# ---- tar and compressed tar --------------------------------------------------------------
for f in gnutar ustar pax v7; do
    bsdtar --format $f -cf "$C/tar-$f.tar" $P;    payload_ok "tar-$f.tar"
done
tar -cf "$C/tar-gnutool.tar" $P;                  payload_ok tar-gnutool.tar
bsdtar -czf "$C/tar.tar.gz" $P;                   payload_ok tar.tar.gz
bsdtar -cjf "$C/tar.tar.bz2" $P;                  payload_ok tar.tar.bz2
bsdtar -cJf "$C/tar.tar.xz" $P;                   payload_ok tar.tar.xz
bsdtar --zstd -cf "$C/tar.tar.zst" $P;            payload_ok tar.tar.zst
bsdtar --lz4 -cf "$C/tar.tar.lz4" $P;             payload_ok tar.tar.lz4
bsdtar --lzma -cf "$C/tar.tar.lzma" $P;           payload_ok tar.tar.lzma
bsdtar --lzip -cf "$C/tar.tar.lz" $P;             payload_ok tar.tar.lz
bsdtar -Z -cf "$C/tar.tar.Z" $P;                  payload_ok tar.tar.Z
bsdtar --uuencode -cf "$C/tar.tar.uu" $P;         payload_ok tar.tar.uu
tar -czf "$C/tar-gnutool.tgz" $P;                 payload_ok tar-gnutool.tgz

# ---- cpio, ar ----------------------------------------------------------------------------
for h in newc odc bin crc; do
    printf '%s\n' $P | cpio -o -H $h --quiet > "$C/cpio-$h.cpio"; payload_ok "cpio-$h.cpio"
done
ar rcS "$C/ar-gnu.a" $P;                           payload_ok ar-gnu.a
bsdtar --format arbsd -cf "$C/ar-bsd.a" $P;        payload_ok ar-bsd.a

# ---- iso9660, cab, xar, warc -------------------------------------------------------------
mkdir -p isoroot && cp $P isoroot/
genisoimage -quiet -R -J -o "$C/iso-rr.iso" isoroot; payload_ok iso-rr.iso
genisoimage -quiet -o "$C/iso-plain.iso" isoroot   # ISO level 1 names: upper case, 8.3
expect iso-plain.iso default threat none - "iso-plain.iso->EICAR.COM|iso-plain.iso->EICAR_PA.TXT"
bsdtar --format iso9660 -cf "$C/iso-bsdtar.iso" $P; payload_ok iso-bsdtar.iso
gcab -c "$C/cab.cab" $P;                           payload_ok cab.cab
gcab -c -z "$C/cab-mszip.cab" $P;                  payload_ok cab-mszip.cab
bsdtar --format xar -cf "$C/xar.xar" $P;           payload_ok xar.xar
for z in none bzip2 xz; do
    bsdtar --format xar --options xar:compression=$z -cf "$C/xar-$z.xar" $P
    payload_ok "xar-$z.xar"
done
bsdtar --format warc -cf "$C/warc.warc" $P;        payload_ok warc.warc

# ---- bare compressed streams: the member is the name minus the suffix --------------------
gzip -n -c eicar.com > "$C/eicar.com.gz"
bzip2 -c eicar.com > "$C/eicar.com.bz2"
xz -c eicar.com > "$C/eicar.com.xz"
zstd -q -c eicar.com > "$C/eicar.com.zst"
lz4 -q -c eicar.com > "$C/eicar.com.lz4"
lzma -c eicar.com > "$C/eicar.com.lzma"
lzip -c eicar.com > "$C/eicar.com.lz"
bsdtar --format raw -Z -cf "$C/eicar.com.Z" eicar.com
bsdtar --format raw --uuencode -cf "$C/eicar.com.uu" eicar.com
for s in gz bz2 xz zst lz4 lzma lz Z uu; do
    expect "eicar.com.$s" default threat none - "eicar.com.$s->eicar.com"
done
gzip -n -c eicar.com | xz -c > "$C/eicar.com.gz.xz" # two filters, two suffixes
expect eicar.com.gz.xz default threat none - "eicar.com.gz.xz->eicar.com"
expect eicar.com.gz nodepth unscannable depth-limit eicar.com.gz -
: | gzip -n > "$C/empty.gz"
expect empty.gz default clean none - -
py 'import sys; sys.stdout.buffer.write(b"\x1f\x8b\x08" + b"\0" * 6 + b"\x03" + b"\xff" * 64)' \
    > "$C/badstart.gz" # a gzip header, then no deflate stream
expect badstart.gz default unscannable corrupt badstart.gz -
# tar bids on a leading block of zeros. Only zeros: the stream is read as such, clean.
py 'import sys; sys.stdout.buffer.write(b"\0" * 65536)' | gzip -n > "$C/zeros-only.gz"
expect zeros-only.gz default clean none - -
{ head -c 1024 /dev/zero; cat eicar.com; } | gzip -n > "$C/zeropad.gz"
# Zeros then EICAR: not a tar (a leading zero block is never taken for one) and not the
# EICAR test file either (the string must open the file), so clean under the anchored rule.
expect zeropad.gz default clean none - -
# A binary that opens with a zero block is not a "corrupt tar".
{ head -c 4096 /dev/zero; head -c 3000 /bin/true; } > "$C/zero-block.bin"
expect zero-block.bin default clean none - -
# bytes hidden after a tar's end-of-archive blocks are read too, and reported
{ dtar -cf - readme.txt; cat eicar.com; head -c 444 /dev/zero; } | gzip -n > "$C/hidden.tar.gz"
expect hidden.tar.gz default unscannable corrupt hidden.tar.gz -

# lzop, lrzip and grzip: libarchive decodes them only by running a program, which the
# engine never does; such a file is reported, not passed as clean (magic + data suffices)
py 'import sys; sys.stdout.buffer.write(b"\x89LZO\x00\r\n\x1a\n\x10\x30" + open("eicar.com", "rb").read())' \
    > "$C/eicar.com.lzo"
expect eicar.com.lzo default unscannable engine-error eicar.com.lzo -
py 'import sys; sys.stdout.buffer.write(b"LRZI\x00\x06" + open("eicar.com", "rb").read())' \
    > "$C/eicar.com.lrz"
expect eicar.com.lrz default unscannable engine-error eicar.com.lrz -

# ---- rpm: lead, two empty headers, gzip'd newc cpio payload ------------------------------
printf '%s\n' $P | cpio -o -H newc --quiet | gzip -n > payload.cpio.gz
py '
import sys
lead = b"\xed\xab\xee\xdb\x03\x00\x00\x00" + b"\x00\x01" + b"eicar-1.0".ljust(66, b"\x00") \
    + b"\x00\x01\x00\x05" + b"\x00" * 16
assert len(lead) == 96
hdr = b"\x8e\xad\xe8\x01" + b"\x00" * 4 + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
sys.stdout.buffer.write(lead + hdr + hdr + open("payload.cpio.gz", "rb").read())
' > "$C/eicar.rpm"
payload_ok eicar.rpm

# ---- nesting -----------------------------------------------------------------------------
mkdir -p nest/docs && (cd nest/docs && cp ../../eicar.com . && bsdtar -czf b.tar.gz eicar.com \
    && rm eicar.com) && (cd nest && zip -q -X -r "$C/a.zip" docs)
expect a.zip default threat none - "a.zip->docs/b.tar.gz->eicar.com"
# d1 .. d17, each holding the previous; d16 is exactly PAL_DEFAULT_MAX_DEPTH (16) levels
# deep, d10 is the "ten containers deep" that the old default of 8 reported unscannable
mkdir -p deep && cd deep && cp ../eicar.com .
zip -q -X d1.zip eicar.com
bsdtar --format ustar -cf d2.tar d1.zip
7z a -bd d3.7z d2.tar >/dev/null
bsdtar -czf d4.tar.gz d3.7z
printf 'd4.tar.gz\n' | cpio -o -H newc --quiet > d5.cpio
zip -q -X d6.zip d5.cpio
ar rcS d7.a d6.zip
zip -q -X d8.zip d7.a
bsdtar -czf d9.tar.gz d8.zip
zip -q -X d10.zip d9.tar.gz
bsdtar -cJf d11.tar.xz d10.zip
7z a -bd d12.7z d11.tar.xz >/dev/null
printf 'd12.7z\n' | cpio -o -H newc --quiet > d13.cpio
zip -q -X d14.zip d13.cpio
bsdtar -czf d15.tar.gz d14.zip
zip -q -X d16.zip d15.tar.gz
bsdtar -czf d17.tar.gz d16.zip
cp d10.zip d16.zip d17.tar.gz "$C/"
cd "$W"
chain10="d10.zip->d9.tar.gz->d8.zip->d7.a->d6.zip->d5.cpio->d4.tar.gz->d3.7z->d2.tar->d1.zip"
chain16="d16.zip->d15.tar.gz->d14.zip->d13.cpio->d12.7z->d11.tar.xz->${chain10}"
expect d10.zip default threat none - "$chain10->eicar.com"
expect d16.zip default threat none - "$chain16->eicar.com"
expect d17.tar.gz default unscannable depth-limit "d17.tar.gz->$chain16" -

# ---- encryption --------------------------------------------------------------------------
zip -q -X -P secret "$C/enc.zip" eicar.com
expect enc.zip default unscannable encrypted "enc.zip->eicar.com" -
7z a -bd -psecret -mhe=off "$C/enc-7z.7z" eicar.com >/dev/null
expect enc-7z.7z default unscannable encrypted "enc-7z.7z->eicar.com" -
7z a -bd -psecret -mhe=on "$C/enc-7z-header.7z" eicar.com >/dev/null
expect enc-7z-header.7z default unscannable encrypted enc-7z-header.7z -
zip -q -X -P secret "$C/enc-mixed.zip" readme.txt && zip -q -X "$C/enc-mixed.zip" eicar.com
expect enc-mixed.zip default threat encrypted "enc-mixed.zip->readme.txt" "enc-mixed.zip->eicar.com"

# ---- bombs and compressible data ---------------------------------------------------------
# Profile "heavy" is the default limits on an engine of its own (left out of the four-thread
# comparison: each file costs up to a second of decompression); "anywhere" the default limits
# with an unanchored EICAR rule. The ratio limit applies only once one scanned file has
# expanded past PAL_RATIO_FLOOR (256 MiB): compressible data below it is legitimate.
head -c $((20 * 1024 * 1024)) /dev/zero > zeros.bin
zip -q -X "$C/zeros20m.zip" zeros.bin
expect zeros20m.zip default clean none - -
gzip -n -c zeros.bin > "$C/zeros20m.bin.gz"
expect zeros20m.bin.gz default clean none - -
7z a -bd "$C/zeros20m.7z" zeros.bin >/dev/null
expect zeros20m.7z default clean none - -
dtar -czf "$C/zeros20m-eicar.tar.gz" zeros.bin eicar.com # a stream: the old ratio stopped it
expect zeros20m-eicar.tar.gz default threat none - "zeros20m-eicar.tar.gz->eicar.com"
rm zeros.bin
cat > bombs.py <<'PY'
# bombs.py OUTDIR EICARFILE — decompression bombs and their legitimate look-alikes, written
# byte by byte so that a 10 GiB member costs milliseconds to make and about 10 MiB on disk.
import ctypes, struct, sys, zlib

MiB = 1 << 20
out, eicar = sys.argv[1], open(sys.argv[2], "rb").read()
libz = ctypes.CDLL("libz.so.1")
libz.crc32_combine64.restype = ctypes.c_ulong
libz.crc32_combine64.argtypes = [ctypes.c_ulong, ctypes.c_ulong, ctypes.c_int64]

def crc_cat(crc1, crc2, len2):
    return libz.crc32_combine64(crc1, crc2, len2) & 0xFFFFFFFF

def crc_repeat(crc, length, n):
    """CRC-32 of n copies of a block whose CRC is crc and length is length."""
    acc, acc_len = 0, 0
    while n:
        if n & 1:
            acc, acc_len = crc_cat(acc, crc, length), acc_len + length
        crc, length, n = crc_cat(crc, crc, length), 2 * length, n >> 1
    return acc

# One MiB of zeros as a raw deflate fragment that stands alone: no reference before its own
# start, not final, byte-aligned (sync flush). n copies of it, then a final block, are a valid
# deflate stream of n MiB of zeros (about 1000:1).
c = zlib.compressobj(9, zlib.DEFLATED, -15)
ZBLOCK = c.compress(bytes(MiB)) + c.flush(zlib.Z_SYNC_FLUSH)
ZCRC = zlib.crc32(bytes(MiB))

def final_block(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()

def deflate(data):
    """(raw deflate, crc, size) of data."""
    return final_block(data), zlib.crc32(data), len(data)

def zeros(n_mib, tail=b""):
    """(raw deflate, crc, size) of n MiB of zeros followed by tail."""
    crc = crc_cat(crc_repeat(ZCRC, MiB, n_mib), zlib.crc32(tail), len(tail))
    return ZBLOCK * n_mib + final_block(tail), crc, n_mib * MiB + len(tail)

def zip_bytes(members):
    """A zip of [(name, (raw deflate, crc, size))], zip64 sizes where needed."""
    out, central = bytearray(), bytearray()
    for name, (data, crc, size) in members:
        nb, off = name.encode(), len(out)
        big = size >= 0xFFFFFFFF
        lx = struct.pack("<HHQQ", 1, 16, size, len(data)) if big else b""
        cx = struct.pack("<HHQQQ", 1, 24, size, len(data), off) if big else b""
        ver = 45 if big else 20
        s32 = lambda v: 0xFFFFFFFF if big else v
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, ver, 0, 8, 0, 0x5763, crc,
                           s32(len(data)), s32(size), len(nb), len(lx)) + nb + lx + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, ver, 0, 8, 0, 0x5763,
                               crc, s32(len(data)), s32(size), len(nb), len(cx), 0, 0, 0,
                               0o100644 << 16, s32(off)) + nb + cx
    n = len(members)
    return bytes(out + central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central),
                                             len(out), 0))

def write(name, data):
    with open(out + "/" + name, "wb") as f:
        f.write(data)

def nest(leaf_name, leaf, per_level, levels, names):
    """A zip of per_level copies of a zip of ... (levels zips) of per_level leaves."""
    inner = zip_bytes([("%s%d" % (leaf_name, i), leaf) for i in range(per_level)])
    for lvl in range(levels - 1):
        packed = deflate(inner)
        inner = zip_bytes([("%s%d.zip" % (names[lvl], i), packed) for i in range(per_level)])
    return inner

# legitimate: 100 MiB of zeros, then a threat (about 1000:1)
write("zeros-then-eicar.zip", zip_bytes([("disk.img", zeros(100)), ("eicar.com", deflate(eicar))]))
write("zeros-eicar-tail.zip", zip_bytes([("disk.img", zeros(100, eicar))]))
# past the floor, the ratio applies: the third member is the bomb
write("ratio-after-floor.zip", zip_bytes([("eicar.com", deflate(eicar)), ("z1.img", zeros(200)),
                                          ("z2.img", zeros(200))]))
# 10 GiB of zeros in one member
write("bomb-10g.zip", zip_bytes([("zeros.bin", zeros(10240))]))
# zip of zip of zip: 10 x 10 x 10 members of 1 GiB (1000 GiB)
write("bomb-nest.zip", nest("z", zeros(1024), 10, 3, ["i", "m"]))
# 42.zip's shape: 16 zips per level, 5 levels below the top, 16 members of 512 MiB at the
# bottom (512 TiB)
write("bomb-42.zip", nest("dll", zeros(512), 16, 6, ["page", "doc", "chapter", "book", "lib"]))
PY
python3 bombs.py "$C" eicar.com
# 100 MiB of zeros (about 1000:1, a disk image's shape), then a threat: found, nothing missed
expect zeros-then-eicar.zip heavy threat none - "zeros-then-eicar.zip->eicar.com"
expect zeros-eicar-tail.zip anywhere threat none - "zeros-eicar-tail.zip->disk.img"
# past the floor a member that expands 1000:1 is a bomb, and it ends the walk (as the
# expanded-bytes budget does): the threat before it is reported, the file is unscannable
expect ratio-after-floor.zip heavy threat expansion-ratio-limit "ratio-after-floor.zip->z2.img" \
    "ratio-after-floor.zip->eicar.com"
# 10 GiB of zeros in one member: cut at the object-size limit (256 MiB). (Not as a bare
# .gz: a format's header search in libarchive inflates a 10 GiB stream of zeros whole before
# any member is read, outside the engine's clock; see agent/engine/README.md.)
expect bomb-10g.zip heavy unscannable size-limit "bomb-10g.zip->zeros.bin" -
# zip of zip of zip (1000 GiB) and 42.zip's fan-out (512 TiB): the zips above it have
# expanded a little, so the first leaf passes the floor before the object-size limit and
# its ratio ends the walk
expect bomb-nest.zip heavy unscannable expansion-ratio-limit "bomb-nest.zip->m0.zip->i0.zip->z0" -
expect bomb-42.zip heavy unscannable expansion-ratio-limit \
    "bomb-42.zip->lib0.zip->book0.zip->chapter0.zip->doc0.zip->page0.zip->dll0" -

# ---- other limits (small limits, see the profiles in test_engine.c) ----------------------
mkdir -p many && for i in 01 02 03 04 05 06 07 08 09 10; do cp readme.txt many/f$i.txt; done
(cd many && zip -q -X "$C/many.zip" f*.txt)
expect many.zip members unscannable member-limit many.zip -
cp eicar.com many/f00.com && (cd many && zip -q -X "$C/many-eicar.zip" f00.com f*.txt)
expect many-eicar.zip members threat member-limit many-eicar.zip "many-eicar.zip->f00.com"
mkdir -p big3 && for i in 1 2 3; do
    py "import random,sys; random.seed(10+$i); sys.stdout.buffer.write(random.randbytes(600*1024))" > big3/r$i.bin
done
(cd big3 && zip -q -X -0 "$C/big3.zip" r1.bin r2.bin r3.bin)
expect big3.zip expanded unscannable expanded-size-limit "big3.zip->r2.bin" -
py 'import sys; sys.stdout.write("hello\n" * 16000)' > big.txt
zip -q -X "$C/bigmember.zip" big.txt
expect bigmember.zip size unscannable size-limit "bigmember.zip->big.txt" -
head -c 8192 rnd.bin > "$C/toolarge.bin"
expect toolarge.bin size unscannable size-limit toolarge.bin -

cut_half() { py 'import sys; b=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(b[:len(b)//2])' "$1" "$2"; }

# ---- valid files that only look like something else -------------------------------------
# Shapes a Full scan of a real system meets: each is valid, so none may be unscannable.
# TABLE is how a GNU ar symbol table starts (big-endian symbol count 8, then offsets): as
# data it is a plausible lzma-alone header (properties 0, a 512 KiB dictionary), the guess
# libarchive's raw lzma reader makes about any object that starts with zeros.
TABLE='\x00\x00\x00\x08\x00\x00\x00\xdc\x00\x00\x06\xc8\x00\x00\x11\x8c\x00\x00\x1a\x38'
# a static library with a GNU symbol table and long names, built by the real tools
cat > lib8.c <<'CSRC'
int pal_f1(void) { return 1; } int pal_f2(void) { return 2; } int pal_f3(void) { return 3; }
int pal_f4(void) { return 4; } int pal_f5(void) { return 5; } int pal_f6(void) { return 6; }
int pal_f7(void) { return 7; } int pal_f8(void) { return 8; }
CSRC
cc -c -o a-rather-long-object-name.o lib8.c
cp eicar.com eicar-member-with-a-long-name.com
ar rcs "$C/libgnu.a" a-rather-long-object-name.o eicar-member-with-a-long-name.com
[ "$(head -c 72 "$C/libgnu.a" | tail -c 4 | od -An -tx1 | tr -d ' ')" = 00000008 ] ||
    { echo "mkcorpus: libgnu.a's symbol table does not start as expected" >&2; exit 1; }
expect libgnu.a default threat none - "libgnu.a->eicar-member-with-a-long-name.com"
# the same shapes written byte by byte: a GNU table that is the lzma guess, a BSD
# __.SYMDEF, and a 64-bit /SYM64/ table, each followed by a real member
py '
import sys
def member(name, data):
    h = b"%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (name, 0, 0, 0, b"100644", len(data))
    return h + data + (b"\n" if len(data) % 2 else b"")
table = bytes.fromhex(sys.argv[1].replace("\\x", "")) + b"\0" * 200
eicar = open("eicar.com", "rb").read()
for out, tname in (("gnu-table.a", b"/"), ("bsd-table.a", b"__.SYMDEF SORTED"),
                   ("sym64-table.a", b"/SYM64/")):
    open(sys.argv[2] + "/" + out, "wb").write(b"!<arch>\n" + member(tname, table) +
                                            member(b"eicar.com/", eicar))' "$TABLE" "$C"
for f in gnu-table.a bsd-table.a sym64-table.a; do
    expect "$f" default threat none - "$f->eicar.com"
done
# a thin archive names its members, which live beside it: nothing to expand, nothing wrong
ar rcsT "$C/libthin.a" a-rather-long-object-name.o eicar.com
expect libthin.a default clean none - -
# jar members that start with zeros (an Eclipse parser table, the JDK's thai_dict), stored
# and deflated, next to EICAR so that the archive is certainly read to its end
for m in stored deflated; do
    py '
import sys, zipfile
comp = zipfile.ZIP_STORED if sys.argv[2] == "stored" else zipfile.ZIP_DEFLATED
with zipfile.ZipFile(sys.argv[3], "w", comp) as z:
    head = bytes.fromhex(sys.argv[1].replace("\\x", ""))
    z.writestr("org/eclipse/parser16.rsc", head + bytes(range(256)) * 8)
    z.writestr("classes/thai_dict", b"\0\0\0\x01" + b"\0" * 100 + b"abc" * 500)
    z.write("eicar.com")' "$TABLE" "$m" "$C/zero-start-$m.jar"
    expect "zero-start-$m.jar" default threat none - "zero-start-$m.jar->eicar.com"
done
# a zip with data in front: a .jmod's 4-byte header, and a self-extractor's program
zip -q -X pre.zip eicar.com readme.txt
{ printf 'JM\001\000'; cat pre.zip; } > "$C/prefixed.jmod"
expect prefixed.jmod default threat none - "prefixed.jmod->eicar.com"
{ head -c 20000 /bin/true; cat pre.zip; } > "$C/sfx.bin"
expect sfx.bin default threat none - "sfx.bin->eicar.com"

# lzma-alone has no magic, so a .lzma that fails to decode cannot be told from any other
# object that starts with a zero byte: it is no container, and no reason is recorded. What
# it does decode is still matched: EICAR at its start is found.
cat eicar-pad.txt b64.txt | lzma -c > t.lzma; cut_half t.lzma "$C/trunc.lzma"
expect trunc.lzma default threat none - "trunc.lzma->trunc"

# ---- truncated and corrupt ---------------------------------------------------------------
# 4 KiB of noise in the middle. (A few flipped bits can leave a deflate stream decodable;
# libarchive 3.6 does not check the gzip CRC, so such damage would go unnoticed there.)
flip_mid() { py '
import random, sys
random.seed(4)
b = bytearray(open(sys.argv[1], "rb").read())
m = len(b) // 2
b[m - 2048:m + 2048] = random.randbytes(4096)
open(sys.argv[2], "wb").write(b)' "$1" "$2"; }
# the big member first, so that damage in the middle lands in it, before eicar.com
zip -q -X t.zip b64.txt eicar.com;         cut_half t.zip "$C/trunc.zip"
expect trunc.zip default unscannable corrupt "trunc.zip->b64.txt" -
dtar -cf - b64.txt eicar.com | gzip -n > t.tgz;       cut_half t.tgz "$C/trunc.tar.gz"
expect trunc.tar.gz default unscannable corrupt "trunc.tar.gz->b64.txt" -
dtar -cJf t.txz b64.txt eicar.com;       cut_half t.txz "$C/trunc.tar.xz"
expect trunc.tar.xz default unscannable corrupt "trunc.tar.xz->b64.txt" -
dtar -cf t.tar b64.txt eicar.com;        cut_half t.tar "$C/trunc.tar"
expect trunc.tar default unscannable corrupt "trunc.tar->b64.txt" -
7z a -bd t.7z b64.txt eicar.com >/dev/null; cut_half t.7z "$C/trunc.7z"
expect trunc.7z default unscannable corrupt trunc.7z -
xz -c b64.txt > t.xz;                      cut_half t.xz "$C/trunc.xz"
expect trunc.xz default unscannable corrupt "trunc.xz->trunc" -
printf 'b64.txt\neicar.com\n' | cpio -o -H newc --quiet > t.cpio; cut_half t.cpio "$C/trunc.cpio"
expect trunc.cpio default unscannable corrupt "trunc.cpio->b64.txt" -
zip -q -X f.zip b64.txt eicar.com;         flip_mid f.zip "$C/flip.zip"
# a deflate error is fatal to libarchive's zip reader: nothing after it is read
expect flip.zip default unscannable corrupt "flip.zip->b64.txt" -
zip -q -X -0 fs.zip rnd.bin eicar.com;     flip_mid fs.zip "$C/flip-store.zip"
# a bad CRC is not: the damaged member is reported and the next one still scanned
expect flip-store.zip default threat corrupt "flip-store.zip->rnd.bin" "flip-store.zip->eicar.com"
dtar -cf - b64.txt eicar.com | gzip -n > f.tgz;       flip_mid f.tgz "$C/flip.tar.gz"
expect flip.tar.gz default unscannable corrupt "flip.tar.gz*" -
dtar -cjf f.tbz b64.txt eicar.com;       flip_mid f.tbz "$C/flip.tar.bz2"
expect flip.tar.bz2 default unscannable corrupt "flip.tar.bz2*" -
dtar -cJf f.txz b64.txt eicar.com;       flip_mid f.txz "$C/flip.tar.xz"
expect flip.tar.xz default unscannable corrupt "flip.tar.xz*" -
7z a -bd f.7z b64.txt eicar.com >/dev/null; flip_mid f.7z "$C/flip.7z"
expect flip.7z default unscannable corrupt "flip.7z*" -

# ---- clean controls ----------------------------------------------------------------------
# (real ELF binaries are scanned in place by test_engine.c: a copy in the build tree would
# be taken for one of ours by the hardening check)
head -c 34 eicar.com > "$C/half-eicar.txt"
expect half-eicar.txt default clean none - -
rev eicar.com > "$C/rev-eicar.txt"
expect rev-eicar.txt default clean none - -
py 'import random,sys; random.seed(3); sys.stdout.buffer.write(random.randbytes(1024*1024))' > "$C/random-1m.bin"
expect random-1m.bin default clean none - -
: > "$C/empty.bin";                              expect empty.bin default clean none - -
zip -q -X "$C/clean.zip" readme.txt rnd.bin;    expect clean.zip default clean none - -
bsdtar -czf "$C/clean.tar.gz" readme.txt b64.txt; expect clean.tar.gz default clean none - -
# a solid 7z whose big first member must not look like a bomb
7z a -bd "$C/clean-solid.7z" b64.txt rnd.bin readme.txt >/dev/null
expect clean-solid.7z default clean none - -
: > empty.txt && zip -q -X "$C/clean-empty-member.zip" empty.txt
expect clean-empty-member.zip default clean none - -

[ "$(sha256sum < "$W/eicar.com" | cut -c1-64)" = \
    275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f ] ||
    { echo "mkcorpus: the payload changed while building" >&2; exit 1; }
rm -rf "$W"
rm -rf "$out"
mv "$C" "$out"
trap - EXIT
