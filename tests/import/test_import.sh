#!/bin/bash
# test_import.sh — palisade-sigtool import with ClamAV itself as the oracle.
#
#   test_import.sh SIGTOOL
#
# gen_clamdb.py writes ClamAV databases in every carried format (and formats that are not
# carried), the same databases packed into a .cvd (header + tar.gz, MD5 in the header) and
# a .cld, and a tree of samples: files matching each signature, near misses (wrong size,
# one byte changed), allowed and ignored files, clean files. The administrator's commands
# are run: import, keygen, build, scan. clamscan scans the same tree with the loose
# databases (it refuses our .cvd: its RSA dsig cannot be made without ClamAV's key), and
# the detections must agree file by file, except for the signatures the import report
# lists as not carried, which must be exactly those the generator made uncarriable.
# Malformed databases are refused with the file (and line) named, and nothing is written;
# a tampered package is refused.
# Ends with "N passed, N failed"; exits non-zero when anything failed.
set -u
tool=${1:?sigtool}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/pal-import-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}
# run WANT_EXIT COMMAND...: stdout/stderr in $work/out, $work/err
run() {
    local want=$1
    shift
    "$@" >"$work/out" 2>"$work/err"
    local got=$?
    if [ "$got" = "$want" ]; then ok; else
        bad "exit $got (want $want): $*"
        sed 's/^/    stderr: /' "$work/err" | head -5
    fi
}
contains() { if grep -qF -- "$2" "$1"; then ok; else
    bad "$1 lacks: $2"
    head -5 "$1" | sed 's/^/    /'
fi; }

g=$work/g
python3 "$here/gen_clamdb.py" "$g" --seed 7 || {
    echo "generator failed"
    exit 1
}
run 0 "$tool" keygen "$work/site"
mkdir -p "$work/trusted" && cp "$work/site.pub" "$work/trusted/"

# The oracle: clamscan with the loose databases, every match (--allmatch).
clamscan --database="$g/loose" --allmatch --no-summary -r "$g/tree" >"$work/clam.txt" 2>"$work/clam.err"
rc=$?
if [ $rc -ne 1 ]; then
    bad "clamscan exit $rc"
    head "$work/clam.err"
fi

# compare SCANOUT REPORT LABEL: Palisade's THREAT lines against clamscan, file by file.
compare() {
    python3 - "$1" "$work/clam.txt" "$2" "$g/not_carried.txt" "$g/expect.tsv" "$g/tree" "$3" <<'PY'
import sys, os, re
scan, clam, report, nc_file, expect_file, tree, label = sys.argv[1:]
def norm(p): return os.path.basename(p.split("->")[0])
pal, cl = {}, {}
for line in open(scan):
    if line.startswith("THREAT "):
        parts = line.rstrip("\n").split(" ")
        pal.setdefault(norm(parts[-1]), set()).add(parts[1])
for line in open(clam):
    m = re.match(r"(.*): (\S+?)(\.UNOFFICIAL)? FOUND$", line.rstrip("\n"))
    if m:
        cl.setdefault(norm(m.group(1)), set()).add(m.group(2))
not_carried = set()
for line in open(report):
    f = line.rstrip("\n").split("\t")
    if f[0] == "not-carried":
        not_carried.add(f[1])
want_nc = set(l.strip() for l in open(nc_file) if l.strip())
bad = 0
def say(msg):
    if bad < 10:
        print(msg)
if not_carried != want_nc:
    say(f"FAIL {label}: report's not-carried {sorted(not_carried - want_nc)[:5]} extra, "
          f"{sorted(want_nc - not_carried)[:5]} missing"); bad += 1
files = sorted(os.listdir(tree))
agree = detections = 0
for fn in files:
    c = cl.get(fn, set()) - not_carried
    p = pal.get(fn, set())
    if c != p:
        say(f"FAIL {label}: {fn}: clamscan {sorted(c)} palisade {sorted(p)}"); bad += 1
    else:
        agree += 1
        detections += len(p)
exp = {l.split("\t")[0]: set(x for x in l.rstrip("\n").split("\t")[1].split(",") if x != "-")
       for l in open(expect_file)}
for fn, names in exp.items():  # the generator's intent agrees with clamscan too
    if names != cl.get(fn, set()):
        say(f"FAIL {label}: {fn}: generator expects {sorted(names)}, clamscan {sorted(cl.get(fn, set()))}"); bad += 1
print(f"{label}: {agree}/{len(files)} files agree, {detections} detections, "
      f"{len(not_carried)} signatures reported not carried")
sys.exit(1 if bad else 0)
PY
}

for form in loose cvd cld; do
    run 0 "$tool" import --clamav "$g/$form" --out "$work/src-$form"
    run 0 "$tool" build "$work/src-$form" --key "$work/site.key" --version 7 --out "$work/$form.sig"
    run 0 "$tool" verify "$work/$form.sig" --trusted-keys "$work/trusted"
    "$tool" scan --package "$work/$form.sig" --trusted-keys "$work/trusted" "$g/tree" >"$work/scan-$form.txt" 2>&1
    if compare "$work/scan-$form.txt" "$work/src-$form/import-report.txt" "$form"; then ok; else bad "$form: detections differ"; fi
done
# The container and the loose files are the same databases: the same package source.
for f in catalog.tsv hashes.tsv allow.tsv; do
    if cmp -s "$work/src-loose/$f" "$work/src-cvd/$f" && cmp -s "$work/src-loose/$f" "$work/src-cld/$f"; then ok; else bad "$f differs between loose, cvd and cld imports"; fi
done
contains "$work/src-cvd/import-report.txt" "MD5 verified"
contains "$work/src-cvd/import-report.txt" "ClamAV's RSA dsig not checked"
contains "$work/src-loose/import-report.txt" "ignored	Win.Trojan.Ignored-0"
contains "$work/src-loose/import-report.txt" "duplicates	1 hash signatures"
contains "$work/src-loose/import-report.txt" "count	hdb	"
"$tool" info "$work/loose.sig" >"$work/info.txt"
contains "$work/info.txt" "format version: 2"
contains "$work/info.txt" "md5 table:"
"$tool" info "$work/loose.sig" --json >"$work/info.json"
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["sections"]; assert s["md5_table"]["entries"] > 0 and s["sha1_table"]["entries"] > 0 and s["sha256_table"]["entries"] > 0 and d["allow_entries"] == 6' "$work/info.json"; then ok; else bad "info --json lacks the sized tables"; fi
# --report FILE: the report goes there, not into the source directory
rm -rf "$work/src-rep"
run 0 "$tool" import --clamav "$g/loose" --out "$work/src-rep" --report "$work/rep.txt"
contains "$work/rep.txt" "count	ndb	"
if [ ! -e "$work/src-rep/import-report.txt" ]; then ok; else bad "--report also wrote import-report.txt"; fi

# --- YARA rule directories, with the yara CLI as the oracle ----------------------------------
# a_good.yar: rules without a threat (one with a meta section, one without), a rule that
# names its threat, a private rule, braces in comments, strings and a regex. b_broken.yar
# does not compile; c_slow.yar compiles with a warning (the builder refuses warnings).
ry=$work/rules
mkdir -p "$ry" "$work/ytree"
cat >"$ry/a_good.yar" <<'YAR'
import "math"
/* a comment with rule fake { } */
rule plain_text { strings: $a = "EVIL{PAYLOAD}" condition: $a }
rule with_meta : tag1 tag2
{
    meta:
        author = "someone { }"
    strings:
        $r = /ab{2,3}c\/[{]x/
        $h = { 4D 5A ?? 00 [2-4] 50 45 }
    condition:
        $r or $h
}
private rule helper { strings: $p = "HELPERMARK" condition: $p }
rule uses_helper { meta: threat = "Backdoor:Linux/Named.A" condition: helper and filesize < 1000 }
YAR
printf 'rule broken_one { strings: $a = "xyzzy" condition: $a and }\n' >"$ry/b_broken.yar"
printf 'rule slow_one { strings: $a = { 00 ?? } condition: $a }\n' >"$ry/c_slow.yar"
printf 'xx EVIL{PAYLOAD} yy' >"$work/ytree/t1"
printf 'abbc/{x' >"$work/ytree/t2"
printf 'MZ\001\000\000\000PE' >"$work/ytree/t3"
printf 'HELPERMARK' >"$work/ytree/t4"
printf 'abbbbc/{x EVIL{PAYLOA' >"$work/ytree/t5"
run 2 "$tool" import --yara "$ry" --out "$work/src-yara"
contains "$work/err" "b_broken.yar:1: rule broken_one error: syntax error"
contains "$work/err" "--skip-broken"
run 0 "$tool" import --yara "$ry" --clamav "$g/loose" --out "$work/src-yara" --skip-broken
contains "$work/src-yara/import-report.txt" "broken	$ry/b_broken.yar	$ry/b_broken.yar:1: rule broken_one error"
contains "$work/src-yara/import-report.txt" "broken	$ry/c_slow.yar	$ry/c_slow.yar:1: rule slow_one warning"
contains "$work/src-yara/catalog.tsv" "Backdoor:Linux/Named.A	High	Backdoor	Quarantine"
run 0 "$tool" build "$work/src-yara" --key "$work/site.key" --version 8 --out "$work/yara.sig"
"$tool" scan --package "$work/yara.sig" --trusted-keys "$work/trusted" "$work/ytree" | grep '^THREAT' |
    awk '{print $2, $NF}' | sed "s#$work/ytree/##" | sort >"$work/pal-yara.txt"
yara -r "$ry/a_good.yar" "$work/ytree" | sed "s#$work/ytree/##" |
    sed 's/^plain_text /YARA.plain_text /; s/^with_meta /YARA.with_meta /; s#^uses_helper #Backdoor:Linux/Named.A #' |
    sort >"$work/yara-cli.txt"
if [ -s "$work/yara-cli.txt" ] && cmp -s "$work/pal-yara.txt" "$work/yara-cli.txt"; then ok; else
    bad "YARA detections differ from the yara CLI"
    diff "$work/pal-yara.txt" "$work/yara-cli.txt" | head
fi

# --- malformed databases: refused with the file (and line) named; nothing written -----------
malformed() { # LABEL EXPECTED-MESSAGE (database in $work/bad)
    rm -rf "$work/src-bad"
    run 2 "$tool" import --clamav "$work/bad" --out "$work/src-bad"
    contains "$work/err" "$2"
    if [ -e "$work/src-bad" ]; then bad "$1: output written for a refused database"; else ok; fi
}
newbad() { rm -rf "$work/bad" && mkdir "$work/bad"; }
newbad
head -c 1000 "$g/cvd/daily.cvd" >"$work/bad/daily.cvd"
malformed truncated-cvd "daily.cvd: bad digest"
newbad
head -c 1500 "$g/cld/daily.cld" >"$work/bad/daily.cld"
malformed truncated-cld "daily.cld: damaged or truncated container"
newbad
head -c 300 "$g/cvd/daily.cvd" >"$work/bad/daily.cvd"
malformed short-header "daily.cvd: truncated container"
newbad
cp "$g/cvd/daily.cvd" "$work/bad/daily.cvd"
printf 'X' | dd of="$work/bad/daily.cvd" bs=1 seek=700 conv=notrunc status=none
malformed bad-digest "daily.cvd: bad digest"
newbad
printf '44d88612fea8a8f36de82e1278abb02f:68:Good-1\nnot a signature line\n' >"$work/bad/x.hdb"
malformed unparseable "x.hdb:2: expected HASH:SIZE:NAME"
newbad
printf 'zzd88612fea8a8f36de82e1278abb02f:68:NotHex-1\n' >"$work/bad/x.hsb"
malformed not-hex "x.hsb:1: hash"
newbad
printf '44d88612fea8a8f36de82e1278abb02f:6x8:BadSize-1\n' >"$work/bad/x.hdb"
malformed bad-size "x.hdb:1: size"

newbad
printf 'Good.Body-1:0:*:deadbeefcafe\nBad.Body-2:0:*:deadbeefcaxe\n' >"$work/bad/x.ndb"
malformed ndb-not-hex "x.ndb:2: \"xe\" is not hex"
newbad
printf 'Bad.Body-3:0:*\n' >"$work/bad/x.ndb"
malformed ndb-fields "x.ndb:1: expected Name:TargetType:Offset:HexSignature"
newbad
printf 'Bad.Body-4:0:*:deadbeef{4-2}cafe\n' >"$work/bad/x.ndb"
malformed ndb-jump "x.ndb:1: bad jump"
newbad
printf 'Bad.Body-5:0:12x:deadbeefcafe\n' >"$work/bad/x.ndb"
malformed ndb-offset "x.ndb:1: bad offset"
newbad
printf 'Bad.Logic-1;Engine:51-255,Target:0;0&2;deadbeefcafe;cafebabe0000\n' >"$work/bad/x.ldb"
malformed ldb-index "x.ldb:1: the expression names subsignature 2 of 2"
newbad
printf 'Bad.Logic-2;Engine:51-255;0;deadbeefcafe\n' >"$work/bad/x.ldb"
malformed ldb-target "x.ldb:1: no Target"
newbad # a hostile name must not reach the generated YARA source
printf 'Evil"}rule x{condition:true}//:0:*:deadbeefcafe\n' >"$work/bad/x.ndb"
malformed ndb-name-injection "x.ndb:1: bad signature name"
newbad # nor a tab the catalog's TSV
printf '44d88612fea8a8f36de82e1278abb02f:68:Evil\tHigh\n' >"$work/bad/x.hdb"
malformed tsv-injection "x.hdb:1: signature name"

# --- a tampered package is refused: one byte of the MD5 table changed ------------------------
cp "$work/loose.sig" "$work/tampered.sig"
size=$(stat -c %s "$work/tampered.sig")
printf '\001' | dd of="$work/tampered.sig" bs=1 seek=$((size - 200)) conv=notrunc status=none
run 1 "$tool" verify "$work/tampered.sig" --trusted-keys "$work/trusted"
contains "$work/err" "signature does not verify"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
