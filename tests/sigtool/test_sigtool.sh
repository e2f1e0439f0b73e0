#!/bin/bash
# test_sigtool.sh — palisade-sigtool end to end, and the starter signature set against its
# samples.
#
#   test_sigtool.sh cli     SIGTOOL SIGDIR DEFS_PKG TRUSTED_KEYS_DIR
#   test_sigtool.sh samples SIGTOOL SIGDIR DEFS_PKG ELF_SAMPLE
#
# cli: keygen / build / verify / info, exit codes and messages, tampered, truncated and
#      foreign-signed packages, and an independent check of the signature with openssl.
# samples: every sample in SIGDIR/samples/MANIFEST.tsv (decoded into a temporary directory)
#      and the built ELF sample are detected as listed — by the YARA CLI with the source
#      rules, by the compiled rules taken out of the built package, and by hash where listed;
#      near misses match nothing; hand-built ELF32/ELF64, little/big-endian files with and
#      without a .c2cfg section (and with ".c2cfg" elsewhere) are judged as the elf module
#      judged them; every rule is exercised by some sample; and no rule
#      matches the system's own files (/usr/bin, /usr/sbin, /etc).
# Ends with "N passed, N failed"; exits non-zero when anything failed.
set -u

mode=${1:?mode}
tool=${2:?sigtool}
sigdir=${3:?signatures dir}
defs=${4:?package}
arg5=${5:?}

work=$(mktemp -d /tmp/pal-sigtool-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

ok() {
    passed=$((passed + 1))
}
bad() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}
# check DESCRIPTION COMMAND...: COMMAND must succeed
check() {
    local desc=$1
    shift
    if "$@"; then ok; else bad "$desc"; fi
}
# run WANT_EXIT COMMAND...: runs with stdout/stderr in $work/out, $work/err; checks the exit
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
contains() { grep -qF -- "$2" "$1"; }

# The YARA section of a package, cut out with the offsets `info --json` reports.
extract_yara() {
    local pkg=$1 out=$2
    "$tool" info "$pkg" --json >"$work/info.json" || return 1
    local off len
    off=$(tr -d ' \n' <"$work/info.json" | sed -n 's/.*"yara":{"offset":\([0-9]*\),"length":\([0-9]*\)}.*/\1/p')
    len=$(tr -d ' \n' <"$work/info.json" | sed -n 's/.*"yara":{"offset":\([0-9]*\),"length":\([0-9]*\)}.*/\2/p')
    [ -n "$off" ] && [ -n "$len" ] || return 1
    tail -c +"$((off + 1))" "$pkg" | head -c "$len" >"$out"
}

openssl_verify() { # PUB BODY SIG
    openssl pkeyutl -verify -pubin -inkey "$1" -rawin -in "$2" -sigfile "$3" >/dev/null
}

flip_byte() { # FILE OFFSET
    local cur
    cur=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $(((cur ^ 1) & 255)))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

cli_tests() {
    local keys=$arg5
    cd "$work" || exit 2

    # keygen
    run 0 "$tool" keygen "$work/k"
    check "key is 0600" [ "$(stat -c %a "$work/k.key")" = 600 ]
    check "public key is PEM" contains "$work/k.pub" "BEGIN PUBLIC KEY"
    check "private key is PKCS#8 PEM" contains "$work/k.key" "BEGIN PRIVATE KEY"
    run 2 "$tool" keygen "$work/k"
    check "keygen refuses to overwrite" contains "$work/err" "already exists"
    run 0 "$tool" keygen "$work/other"

    # build
    run 0 "$tool" build "$sigdir" --key "$work/k.key" --version 7 --created 1700000000 \
        --out "$work/p.sig"
    check "build reports what it wrote" contains "$work/out" "version 7"

    local threats hashes rules keyid
    threats=$(grep -cv -e '^#' -e '^[[:space:]]*$' "$sigdir/catalog.tsv")
    hashes=$(grep -cv -e '^#' -e '^[[:space:]]*$' "$sigdir/hashes.tsv")
    rules=$(cat "$sigdir"/*.yar | grep -cE '^[[:space:]]*((private|global)[[:space:]]+)*rule[[:space:]]')
    # key id = first 8 bytes of SHA-256 of the raw public key, computed independently
    keyid=$(openssl pkey -pubin -in "$work/k.pub" -outform DER | tail -c 32 | sha256sum | cut -c1-16)

    # info
    run 0 "$tool" info "$work/p.sig"
    check "info: version" grep -qE '^version: +7$' "$work/out"
    check "info: created" contains "$work/out" "2023-11-14T22:13:20Z (1700000000)"
    check "info: key id" grep -qE "^key id: +$keyid\$" "$work/out"
    check "info: threats" grep -qE "^threats: +$threats\$" "$work/out"
    check "info: hashes" grep -qE "^hashes: +$hashes\$" "$work/out"
    check "info: rules" grep -qE "^rules: +$rules\$" "$work/out"
    check "info: file size" grep -qE "^file size: +$(stat -c %s "$work/p.sig")\$" "$work/out"
    run 0 "$tool" info "$work/p.sig" --json
    check "info --json: version" contains "$work/out" '"version": 7,'
    check "info --json: created" contains "$work/out" '"created": "2023-11-14T22:13:20Z"'
    check "info --json: key id" contains "$work/out" "\"key_id\": \"$keyid\""
    check "info --json: threats" contains "$work/out" "\"threats\": $threats,"
    check "info --json: hashes" contains "$work/out" "\"hashes\": $hashes,"
    check "info --json: rules" contains "$work/out" "\"rules\": $rules,"

    # verify
    run 0 "$tool" verify "$work/p.sig" --key "$work/k.pub"
    check "verify says OK" contains "$work/out" "OK: version 7"
    mkdir -p "$work/trusted"
    cp "$work/k.pub" "$work/other.pub" "$work/trusted/"
    run 0 "$tool" verify "$work/p.sig" --trusted-keys "$work/trusted"
    run 0 "$tool" verify "$work/p.sig" --trusted-keys="$work/trusted"

    # the signature is plain Ed25519 over everything before it: openssl agrees
    local size=$(stat -c %s "$work/p.sig")
    head -c $((size - 64)) "$work/p.sig" >"$work/body"
    tail -c 64 "$work/p.sig" >"$work/sig"
    check "openssl verifies the signature" openssl_verify "$work/k.pub" "$work/body" "$work/sig"

    # tampering: a byte in the catalog, in the YARA rules, in the signature
    local pos
    for pos in 130 $((size / 2)) $((size - 70)) $((size - 10)); do
        cp "$work/p.sig" "$work/t.sig"
        flip_byte "$work/t.sig" "$pos"
        run 1 "$tool" verify "$work/t.sig" --trusted-keys "$work/trusted"
        check "tampered at $pos: message" grep -qE "signature does not verify|section|catalog|hash" \
            "$work/err"
    done
    cp "$work/p.sig" "$work/t.sig"
    flip_byte "$work/t.sig" $((size / 2))
    run 1 "$tool" verify "$work/t.sig" --key "$work/k.pub"
    check "tampered: says the signature does not verify" \
        contains "$work/err" "signature does not verify (key $keyid)"

    # another key
    run 1 "$tool" verify "$work/p.sig" --key "$work/other.pub"
    check "unknown key: message" contains "$work/err" "signed by unknown key $keyid"

    # truncated and damaged structure: refused by verify and by info
    head -c 100 "$work/p.sig" >"$work/short.sig"
    run 1 "$tool" verify "$work/short.sig" --key "$work/k.pub"
    check "short: message" contains "$work/err" "file too small (100 bytes)"
    run 1 "$tool" info "$work/short.sig"
    head -c $((size - 1)) "$work/p.sig" >"$work/cut.sig"
    run 1 "$tool" info "$work/cut.sig"
    check "cut: message" contains "$work/err" "body length"
    cp "$work/p.sig" "$work/magic.sig"
    printf 'X' | dd of="$work/magic.sig" bs=1 seek=0 conv=notrunc status=none
    run 1 "$tool" info "$work/magic.sig"
    check "magic: message" contains "$work/err" "bad magic"

    # errors that are not the package's fault
    run 2 "$tool" info "$work/does-not-exist.sig"
    run 2 "$tool" verify "$work/p.sig" --trusted-keys "$work/no-such-dir"
    run 2 "$tool"
    run 2 "$tool" frobnicate
    run 2 "$tool" build "$sigdir" --version 1 --out "$work/x.sig"
    run 2 "$tool" build "$sigdir" --key "$work/k.key" --version abc --out "$work/x.sig"
    run 2 "$tool" build "$sigdir" --key "$work/k.key" --version -1 --out "$work/x.sig"
    run 2 "$tool" verify "$work/p.sig"
    run 2 "$tool" info
    run 0 "$tool" help
    check "help lists the commands" contains "$work/out" "verify PKG"

    # bad sources: a rule without threat meta, a rule naming an unknown threat
    mkdir -p "$work/src"
    cp "$sigdir"/catalog.tsv "$sigdir"/hashes.tsv "$sigdir"/*.yar "$work/src/"
    printf 'rule orphan { condition: filesize == 1 }\n' >"$work/src/zz.yar"
    run 2 "$tool" build "$work/src" --key "$work/k.key" --version 1 --out "$work/x.sig"
    check "no threat meta: message" contains "$work/err" "rule orphan has no meta threat"
    printf 'rule stray { meta: threat = "Worm:Linux/Nope.A" condition: filesize == 1 }\n' \
        >"$work/src/zz.yar"
    run 2 "$tool" build "$work/src" --key "$work/k.key" --version 1 --out "$work/x.sig"
    check "unknown threat: message" contains "$work/err" 'threat "Worm:Linux/Nope.A" is not in the catalog'
    printf '\nrule broken { condition: nosuchthing }\n' >"$work/src/zz.yar"
    run 2 "$tool" build "$work/src" --key "$work/k.key" --version 1 --out "$work/x.sig"
    check "syntax error: file and line" contains "$work/err" "zz.yar:2:"
    check "failed builds leave no package" [ ! -e "$work/x.sig" ]

    # the package built at build time verifies against the build's trusted keys
    run 0 "$tool" verify "$defs" --trusted-keys "$keys"
}

# threats (sorted, one per line) reported by `yara -m` output in $1
threats_of() {
    sed -n 's/.*threat="\([^"]*\)".*/\1/p' "$1" | sort -u
}

# expect_match NAME FILE EXPECTED: source rules and compiled package rules agree on EXPECTED
expect_match() {
    local name=$1 file=$2 want=$3 got how
    for how in source compiled; do
        if [ $how = source ]; then
            yara -m -w "$sigdir"/*.yar "$file" >"$work/yout" 2>"$work/yerr"
        else
            yara -C -m -w "$work/rules.yarc" "$file" >"$work/yout" 2>"$work/yerr"
        fi
        got=$(threats_of "$work/yout")
        [ "$want" = - ] && want=""
        if [ "$got" = "$want" ]; then
            ok
        else
            bad "$name ($how rules): got [${got}] want [${want}]"
            sed 's/^/    /' "$work/yout" "$work/yerr"
        fi
        awk '{print $1}' "$work/yout" >>"$work/rules-hit"
    done
}

samples_tests() {
    local elf=$arg5
    : >"$work/rules-hit"
    if ! extract_yara "$defs" "$work/rules.yarc"; then
        bad "cannot extract the YARA rules from $defs"
        return
    fi
    mkdir -p "$work/samples"
    local n=0 file threat how sample sha
    while IFS=$'\t' read -r file threat how; do
        case "$file" in '' | '#'*) continue ;; esac
        sample="$work/samples/${file%.b64}"
        if ! base64 -d "$sigdir/samples/$file" >"$sample"; then
            bad "$file does not decode"
            continue
        fi
        n=$((n + 1))
        expect_match "$file" "$sample" "$threat"
        sha=$(sha256sum "$sample" | cut -c1-64)
        if [ "${how#sha256}" != "$how" ]; then
            check "$file: hash listed for $threat" \
                grep -qiP "^$sha\t\Q$threat\E\$" "$sigdir/hashes.tsv"
        else
            check "$file: hash not listed" bash -c "! grep -qi '^$sha' '$sigdir/hashes.tsv'"
        fi
        rm -f "$sample" # decoded samples live no longer than needed
    done <"$sigdir/samples/MANIFEST.tsv"
    check "MANIFEST lists samples" [ "$n" -ge 8 ]

    check "ELF sample exists" [ -x "$elf" ]
    expect_match "ELF sample" "$elf" "Trojan:Linux/ImplantCfg.A"

    # The rule reads the section headers itself (no elf module): ELF32 and ELF64, little
    # and big endian, must be found as the elf module found them, and ".c2cfg" anywhere but
    # as a section's name must not be.
    mkdir -p "$work/elf"
    python3 - "$work/elf" <<'PY'
import struct, sys
out = sys.argv[1]
def mk(path, cls, end, names, data=b"", magic=b"\x7fELF"):
    e = ">" if end == 2 else "<"
    # string table: NUL, ".text", then the names the sections use (given as offsets)
    strtab = b"\0.text\0.shstrtab\0.c2cfg\0.c2cfgx\0.data\0"
    off = {n: strtab.index(b"\0" + n.encode() + b"\0") + 1 for n in
           (".text", ".shstrtab", ".c2cfg", ".c2cfgx", ".data")}
    ehsize, shentsize = (64, 64) if cls == 2 else (52, 40)
    stroff = ehsize
    dataoff = stroff + len(strtab)
    shoff = dataoff + len(data)
    shoff += (-shoff) % 8
    ident = magic + bytes([cls, end, 1, 0]) + b"\0" * 8
    shnum = 2 + len(names)
    if cls == 2:
        hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, ehsize, 0, 0,
                                  shentsize, shnum, 1)
        sh = lambda nm, typ, o, size: struct.pack(e + "IIQQQQIIQQ", nm, typ, 0, 0, o, size, 0, 0, 1, 0)
    else:
        hdr = ident + struct.pack(e + "HHIIIIIHHHHHH", 1, 3, 1, 0, 0, shoff, 0, ehsize, 0, 0,
                                  shentsize, shnum, 1)
        sh = lambda nm, typ, o, size: struct.pack(e + "IIIIIIIIII", nm, typ, 0, 0, o, size, 0, 0, 1, 0)
    body = hdr + strtab + data
    body += b"\0" * (shoff - len(body))
    body += sh(0, 0, 0, 0) + sh(off[".shstrtab"], 3, stroff, len(strtab))
    for n in names:
        body += sh(off[n], 1, dataoff, len(data))
    open(f"{out}/{path}", "wb").write(body)
for cls in (1, 2):
    for end in (1, 2):
        tag = f"elf{32 if cls == 1 else 64}{'le' if end == 1 else 'be'}"
        mk(f"hit-{tag}", cls, end, [".text", ".c2cfg"])
        mk(f"miss-unused-name-{tag}", cls, end, [".text", ".data"])
        mk(f"miss-prefix-{tag}", cls, end, [".text", ".c2cfgx"])
        mk(f"miss-in-data-{tag}", cls, end, [".data"], data=b"\0.c2cfg\0config")
mk("miss-not-elf", 2, 1, [".c2cfg"], magic=b"\x7fELG")
PY
    local f
    for f in "$work"/elf/*; do
        case "${f##*/}" in
        hit-*) expect_match "${f##*/}" "$f" "Trojan:Linux/ImplantCfg.A" ;;
        *) expect_match "${f##*/}" "$f" - ;;
        esac
    done

    # every rule of the set is exercised by a sample
    local rule
    for rule in $(cat "$sigdir"/*.yar | sed -n 's/^[[:space:]]*rule[[:space:]]\+\([A-Za-z0-9_]\+\).*/\1/p'); do
        check "rule $rule has a matching sample" grep -qx "$rule" "$work/rules-hit"
    done

    # no false positives on the system's own files
    local dir
    for dir in /usr/bin /usr/sbin /etc; do
        [ -d "$dir" ] || continue
        yara -C -r -N -w "$work/rules.yarc" "$dir" >"$work/fp" 2>/dev/null
        if [ -s "$work/fp" ]; then
            bad "rules match files in $dir:"
            sed 's/^/    /' "$work/fp"
        else
            ok
        fi
    done
}

if ! command -v yara >/dev/null && [ "$mode" = samples ]; then
    echo "yara CLI not installed (Debian package yara)"
    exit 1
fi
case "$mode" in
cli) cli_tests ;;
samples) samples_tests ;;
*)
    echo "unknown mode $mode"
    exit 2
    ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
