#!/usr/bin/env bash
# bench/run-engine.sh [BENCH-ARGS...] — the engine benchmark as recorded in bench/RESULTS.md.
#
# 1. builds the default preset (unless BUILD_DIR names another build),
# 2. generates a deterministic benchmark tree in build/bench-tree (once): 2,000 small files
#    of mixed text and binary, 20 tar.gz and 20 zip containers of 20 members each, and three
#    20 MiB files (text, binary, mixed),
# 3. concatenates the starter rules (signatures/*.yar) into build/bench-rules.yar for yara,
# 4. runs palisade-bench-engine with the starter package built at build time (same rules).
# Extra arguments (e.g. --threads 1) go to palisade-bench-engine.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build/default}
TREE="$ROOT/build/bench-tree"
RULES="$ROOT/build/bench-rules.yar"

if [ "$BUILD_DIR" = "$ROOT/build/default" ]; then
    "$ROOT/scripts/build" default >/dev/null
fi
BENCH="$BUILD_DIR/bench/palisade-bench-engine"
PKG="$BUILD_DIR/signatures/palisade-defs.sig"
KEYS="$BUILD_DIR/trusted-keys"
for f in "$BENCH" "$PKG" "$KEYS"; do
    [ -e "$f" ] || {
        echo "run-engine: $f is missing (build first)" >&2
        exit 2
    }
done

# Version 1 of the tree; bump when the generator changes so old trees are rebuilt.
if [ ! -f "$TREE/.complete-v1" ]; then
    echo "run-engine: generating $TREE"
    rm -rf "$TREE"
    python3 - "$TREE" <<'EOF'
import io, os, random, sys, tarfile, zipfile

root = sys.argv[1]
rng = random.Random(20240601)
WORDS = ("the quick brown fox jumps over a lazy dog while config daemon service "
         "install update kernel module package network socket file system user "
         "admin script report invoice meeting schedule").split()

def text(n):
    out, size = [], 0
    while size < n:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) + "\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]

def binary(n):
    return rng.randbytes(n)

def small():
    n = rng.choice((200, 700, 1500, 4000, 9000, 20000, 65536))
    return text(n) if rng.random() < 0.5 else binary(n)

def write(rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

for i in range(2000):
    ext = rng.choice(("txt", "log", "bin", "dat", "conf"))
    write(f"small/d{i % 20:02d}/f{i:04d}.{ext}", small())

for i in range(20):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for j in range(20):
            data = small()
            info = tarfile.TarInfo(f"pkg{i}/m{j:02d}.dat")
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            tar.addfile(info, io.BytesIO(data))
    write(f"containers/pkg{i:02d}.tar.gz", buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for j in range(20):
            z.writestr(zipfile.ZipInfo(f"docs{i}/m{j:02d}.dat", (2023, 11, 14, 0, 0, 0)),
                       small(), zipfile.ZIP_DEFLATED)
    write(f"containers/docs{i:02d}.zip", buf.getvalue())

MIB = 1 << 20
write("large/text.log", text(20 * MIB))
write("large/random.bin", binary(20 * MIB))
write("large/mixed.img", b"".join(text(MIB // 2) + binary(MIB // 2) for _ in range(20)))
open(os.path.join(root, ".complete-v1"), "w").close()
EOF
fi

# One rules file for yara: the imports once at the top, then every rule.
{
    cat "$ROOT"/signatures/*.yar | grep -E '^[[:space:]]*import[[:space:]]+"' | sort -u
    cat "$ROOT"/signatures/*.yar | grep -vE '^[[:space:]]*import[[:space:]]+"'
} >"$RULES"

echo "run-engine: $BENCH $* --package $PKG --trusted-keys $KEYS $TREE $RULES"
"$BENCH" "$@" --package "$PKG" --trusted-keys "$KEYS" "$TREE" "$RULES"
