#!/usr/bin/env bash
# sigtool_scan_test.sh SIGTOOL PACKAGE KEYS_DIR — `palisade-sigtool scan` end to end.
#
# Builds a tree of EICAR test files (assembled at run time, never stored in the repo) raw
# and inside containers, next to clean files, a symlink to an EICAR file outside the tree,
# a FIFO, an encrypted zip and a file whose name holds a newline, then checks the lines,
# the chains, the JSON, the exit codes and that links are not followed.
set -uo pipefail

SIGTOOL=$1 PKG=$2 KEYS=$3
THREAT='Virus:DOS/EICAR_Test_File'
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

work=$(mktemp -d "${TMPDIR:-/tmp}/palisade-scan-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
T="$work/tree"
mkdir -p "$T/raw" "$T/clean" "$work/outside" "$work/build/docs"

eicar() {
    printf '%s%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-ANTIVIRUS-' 'TEST-FILE!$H+H*'
}
eicar >"$work/build/eicar.com"
printf 'hello\n' >"$work/build/hello.txt"
cp "$work/build/eicar.com" "$T/raw/eicar.com"
cp "$work/build/eicar.com" "$work/outside/eicar.com"
(cd "$work/build" && zip -q -X "$T/a.zip" hello.txt eicar.com)
(cd "$work/build" && zip -q -X docs/inner.zip eicar.com)
tar -C "$work/build" -czf "$T/nested.tar.gz" docs/inner.zip
(cd "$work/build" && zip -q -X -P secret "$T/locked.zip" eicar.com)
printf 'just text\n' >"$T/clean/readme.txt"
tar -C "$work/build" -czf "$T/clean/hello.tar.gz" hello.txt
ln -s "$work/outside/eicar.com" "$T/link-to-eicar"
ln -s "$work/outside" "$T/link-to-dir"
mkfifo "$T/fifo"
cp "$work/build/eicar.com" "$T/raw/evil"$'\n'"THREAT forged"

scan() { "$SIGTOOL" scan --package "$PKG" --trusted-keys "$KEYS" "$@"; }

# --- the tree, one thread --------------------------------------------------------------------
rc=0
out=$(timeout 120 "$SIGTOOL" scan --package "$PKG" --trusted-keys "$KEYS" "$T") || rc=$?
echo "$out"
[ "$rc" -eq 1 ] || fail "exit status $rc on a tree with threats, want 1"
for chain in "$T/raw/eicar.com" "$T/a.zip->eicar.com" "$T/nested.tar.gz->docs/inner.zip->eicar.com" \
    "$T/raw/evil\\x0aTHREAT forged"; do
    grep -qxF "THREAT $THREAT [Severe] $chain" <<<"$out" || fail "no THREAT line for $chain"
done
[ "$(grep -c '^THREAT ' <<<"$out")" -eq 4 ] || fail "want exactly 4 THREAT lines"
grep -q '^THREAT forged' <<<"$out" && fail "a file name forged an output line"
grep -q "outside" <<<"$out" && fail "a symlink was followed"
grep -Eq "^UNSCANNABLE encrypted $T/locked.zip(->eicar.com)?: " <<<"$out" ||
    fail "encrypted zip not reported UNSCANNABLE encrypted"
grep -q "clean/" <<<"$out" && fail "a clean file was reported"
summary=$(grep '^SUMMARY ' <<<"$out")
[[ $summary == "SUMMARY files=7 "*" threats=4 unscannable=1 skipped=3 time="*s ]] ||
    fail "unexpected summary: $summary"

# --- the same with threads: the same lines in some order --------------------------------------
rc=0
out2=$(timeout 120 "$SIGTOOL" scan --threads 3 --package "$PKG" --trusted-keys "$KEYS" "$T") || rc=$?
[ "$rc" -eq 1 ] || fail "--threads 3: exit status $rc, want 1"
diff <(grep -v '^SUMMARY' <<<"$out" | sort) <(grep -v '^SUMMARY' <<<"$out2" | sort) ||
    fail "--threads 3 reports differ from one thread"

# --- JSON ------------------------------------------------------------------------------------
rc=0
scan --json "$T" >"$work/out.json" || rc=$?
[ "$rc" -eq 1 ] || fail "--json: exit status $rc, want 1"
python3 - "$T" "$work/out.json" <<EOF || fail "--json output wrong: $(cat "$work/out.json")"
import json, sys
root = sys.argv[1]
with open(sys.argv[2], encoding="utf-8") as f:
    doc = json.load(f)
paths = sorted(t["path"] for t in doc["threats"])
want = sorted([root + "/raw/eicar.com", root + "/a.zip->eicar.com",
               root + "/nested.tar.gz->docs/inner.zip->eicar.com",
               root + "/raw/evil\nTHREAT forged"])
assert paths == want, paths
assert all(t["threat"] == "$THREAT" and t["severity"] == "Severe" for t in doc["threats"])
assert all(len(t["sha256"]) == 64 for t in doc["threats"])
assert [u["reason"] for u in doc["unscannable"]] == ["encrypted"], doc["unscannable"]
assert doc["files_scanned"] == 7, doc["files_scanned"]
assert doc["skipped"] == {"symlink": 2, "special": 1}, doc["skipped"]
assert doc["errors"] == []
EOF

# --- clean paths, a file argument, a symlink argument -----------------------------------------
rc=0
out=$(scan "$T/clean" "$T/raw/eicar.com" "$T/link-to-eicar") || rc=$?
[ "$rc" -eq 1 ] || fail "file argument: exit $rc, want 1"
[ "$(grep -c '^THREAT ' <<<"$out")" -eq 1 ] || fail "file argument: want one THREAT: $out"
rc=0
out=$(scan "$T/clean" "$T/link-to-dir") || rc=$?
[ "$rc" -eq 0 ] || fail "clean tree: exit $rc, want 0: $out"
grep -q '^SUMMARY files=2 .* threats=0 unscannable=0 skipped=1 ' <<<"$out" ||
    fail "clean tree summary: $out"

# --- errors ----------------------------------------------------------------------------------
rc=0
scan "$work/does-not-exist" >/dev/null 2>"$work/err" || rc=$?
[ "$rc" -eq 2 ] || fail "missing path: exit $rc, want 2"
grep -q 'does-not-exist' "$work/err" || fail "missing path not named on stderr"
rc=0
scan >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "no path: exit $rc, want 2"
rc=0
"$SIGTOOL" scan --package "$PKG" "$T" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "no keys: exit $rc, want 2"
rc=0
scan --threads 0 "$T" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--threads 0: exit $rc, want 2"
# A package with one byte changed must be refused before anything is scanned.
cp "$PKG" "$work/bad.sig"
printf '\x01' | dd of="$work/bad.sig" bs=1 seek=200 conv=notrunc status=none
rc=0
out=$("$SIGTOOL" scan --package "$work/bad.sig" --trusted-keys "$KEYS" "$T" 2>"$work/err") || rc=$?
[ "$rc" -eq 2 ] || fail "altered package: exit $rc, want 2"
grep -q 'refused' "$work/err" || fail "altered package: no refusal message: $(cat "$work/err")"
grep -q '^THREAT' <<<"$out" && fail "altered package was used"

if [ "$failures" -ne 0 ]; then
    echo "sigtool scan: $failures checks failed"
    exit 1
fi
echo "sigtool scan: all checks passed"
