#!/bin/bash
# test_cost.sh — `palisade-sigtool cost`, the per-rule scan cost report and the gate the
# build runs on the starter set (signatures/CMakeLists.txt).
#
#   test_cost.sh SIGTOOL SIGDIR
#
# On a small tree written to disk (text, high-entropy data, ELF-like files), a rule set
# holding one deliberately slow rule (a byte loop over the whole file) next to cheap ones:
# the report ranks the slow rule first with most of the cost, and the gate exits 3; the
# cheap rules alone pass it. The starter set as shipped passes the gate on the synthetic
# tree the build uses; the same set with linux_elf.yar put back to the elf-module rule
# that made the product slow (issue 13) fails it, with that rule ranked first. Bad
# arguments, a rule that does not compile and a missing tree are errors (exit 2).
# Ends with "N passed, N failed"; exits non-zero when anything failed.
set -u

tool=${1:?sigtool}
sigdir=${2:?signatures dir}

work=$(mktemp -d /tmp/pal-sigcost-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}
# run WANT_EXIT COMMAND...: stdout in $work/out, stderr in $work/err
run() {
    local want=$1
    shift
    "$@" >"$work/out" 2>"$work/err"
    local got=$?
    if [ "$got" = "$want" ]; then
        ok
    else
        bad "exit $got (want $want): $*"
        sed 's/^/    stderr: /' "$work/err"
    fi
}
# expect DESCRIPTION PYTHON_EXPR: the expression, over the JSON report in $work/out as `d`,
# must be true
expect() {
    local got
    got=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(bool(eval(sys.argv[2])))' \
        "$work/out" "$2" 2>&1)
    if [ "$got" = "True" ]; then ok; else bad "$1 ($2 gave: $got)"; fi
}

# --- a sample tree on disk: 120 files, about 3 MB ---
tree=$work/tree
mkdir -p "$tree/text" "$tree/bin" "$tree/data"
for i in $(seq 1 60); do
    yes "the quick brown fox jumps over the lazy dog $i" | head -c $((i * 512)) >"$tree/text/t$i.txt"
done
for i in $(seq 1 40); do
    head -c $((i * 1024)) /dev/urandom >"$tree/data/d$i.bin"
done
for i in $(seq 1 20); do
    { printf '\177ELF\002\001\001'; head -c $((i * 2048)) /dev/urandom; } >"$tree/bin/e$i"
done
ln -s /etc "$tree/link-not-followed"

# --- rule sets: one slow rule among cheap ones, and the cheap ones alone ---
mkdir -p "$work/mixed" "$work/cheap"
cat >"$work/cheap/string.yar" <<'R'
rule Cheap_String { strings: $a = "palisade-cost-test-never-present" condition: $a }
R
cat >"$work/cheap/hex.yar" <<'R'
rule Cheap_Hex { strings: $a = { 50 41 4C 49 53 41 44 45 00 FF } condition: $a and filesize < 1MB }
R
cat >"$work/cheap/magic.yar" <<'R'
rule Cheap_Magic { condition: uint32(0) == 0x11223344 }
R
cp "$work"/cheap/*.yar "$work/mixed/"
# Reads every byte of every file through the condition interpreter: hundreds of times
# slower per byte than the string search.
cat >"$work/mixed/slow.yar" <<'R'
rule Slow_Byte_Loop { condition: for any i in (0 .. filesize - 1) : (uint8(i) == 0xAB and uint8(i + 1) == 0xCD and uint8(i + 2) == 0xEF) }
R

run 0 "$tool" cost "$work/mixed" --tree "$tree" --repeat 5 --json
expect "the tree was read (120 regular files, symlink not followed)" 'd["files"] == 120'
expect "four rules reported" 'len(d["rules"]) == 4'
expect "the slow rule is ranked first" 'd["rules"][0]["rules"] == "Slow_Byte_Loop"'
expect "the slow rule holds most of the cost" 'd["rules"][0]["share"] > 0.5'
expect "the report is sorted by cost" '[r["seconds"] for r in d["rules"]] == sorted((r["seconds"] for r in d["rules"]), reverse=True)'
expect "shares add up to 1" 'abs(sum(r["share"] for r in d["rules"]) - 1) < 0.01'
expect "MB/s of the slow rule is bytes over its cost" \
    'abs(d["rules"][0]["mb_per_s"] - d["bytes"] / 1e6 / d["rules"][0]["seconds"]) < 0.01'

run 3 "$tool" cost "$work/mixed" --tree "$tree" --repeat 5 --max-ratio 10
if grep -q "slow.yar costs" "$work/err"; then ok; else bad "the gate names the slow rule"; fi
if grep -q "FAILED" "$work/out" && head -3 "$work/out" | tail -1 | grep -q "^Slow_Byte_Loop"; then
    ok
else
    bad "the table ranks the slow rule first and says FAILED"
    cat "$work/out"
fi

run 0 "$tool" cost "$work/cheap" --tree "$tree" --repeat 2 --max-ratio 10 --json
expect "cheap rules alone pass the gate" 'd["gate_passed"] is True'

# --- the starter set, as shipped and with the elf-module rule put back ---
run 0 "$tool" cost "$sigdir" --synthetic 16 --repeat 5 --max-ratio 10 --json
expect "the starter set passes the build's gate" 'd["gate_passed"] is True and len(d["rules"]) == 5'
mkdir -p "$work/oldset"
cp "$sigdir"/*.yar "$work/oldset/"
cat >"$work/oldset/linux_elf.yar" <<'R'
import "elf"
rule Trojan_Linux_ImplantCfg_A
{
    meta:
        threat = "Trojan:Linux/ImplantCfg.A"
    condition:
        uint32(0) == 0x464C457F and
        for any i in (0 .. elf.number_of_sections - 1) : (elf.sections[i].name == ".c2cfg")
}
R
run 3 "$tool" cost "$work/oldset" --synthetic 16 --repeat 5 --max-ratio 10 --json
expect "the elf-module rule fails the gate" 'd["gate_passed"] is False'
expect "the elf-module rule is ranked first" 'd["rules"][0]["source"].endswith("/linux_elf.yar")'
expect "the elf-module rule runs at under 100 MB/s on the mix" 'd["rules"][0]["mb_per_s"] < 100'

# --- errors ---
run 2 "$tool" cost "$work/mixed"
run 2 "$tool" cost "$work/mixed" --tree "$tree" --synthetic 4
run 2 "$tool" cost "$work/mixed" --tree "$work/no-such-dir"
run 2 "$tool" cost "$work/mixed" --tree "$tree" --max-ratio abc
run 2 "$tool" cost "$work/mixed" --tree "$tree" --max-bytes 1000
if grep -q "max-bytes" "$work/err"; then ok; else bad "a tree over --max-bytes says so"; fi
echo 'rule Broken { condition: $missing }' >"$work/broken.yar"
run 2 "$tool" cost "$work/broken.yar" --tree "$tree"
if grep -q "broken.yar" "$work/err"; then ok; else bad "a rule that does not compile is named"; fi
run 2 "$tool" cost "$work/tree" --tree "$tree"
run 0 "$tool" cost --help

# A file the user cannot read is an error, not a smaller tree timed as if it were whole.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    chmod 755 "$work"
    chmod -R a+rX "$work/tree" "$work/cheap"
    chmod 600 "$tree/text/t7.txt"
    run 2 su nobody -s /bin/bash -c '"$0" cost "$1" --tree "$2"' "$tool" "$work/cheap" "$tree"
    if grep -q "t7.txt: Permission denied" "$work/err"; then ok; else bad "the unreadable file is named"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
