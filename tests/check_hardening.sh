#!/usr/bin/env bash
# check_hardening.sh — verify that ELF binaries carry the hardening Palisade builds with.
#
#   check_hardening.sh BUILD_DIR [--exclude GLOB]...
#                                       every ELF executable and shared library the project
#                                       built under BUILD_DIR (CMake's own CMakeFiles/ is
#                                       skipped, and so are paths relative to BUILD_DIR that
#                                       match a GLOB: test data that merely is ELF);
#                                       fails if none is found
#   check_hardening.sh --list LISTFILE  the files named in LISTFILE, one a line (written by
#                                       tests/hardening.cmake from the build's targets);
#                                       fails if it names none or one is missing
#   check_hardening.sh --files FILE...  exactly these files
#   check_hardening.sh --self-test CC   compile small programs with CC, each missing one
#                                       protection, and assert that this script rejects each
#                                       one for the right reason and accepts a hardened one
#
# Checks (readelf from binutils):
#   pie        executables: ELF type DYN and DF_1_PIE in FLAGS_1 (shared libraries: type DYN)
#   relro      a GNU_RELRO segment and immediate binding (BIND_NOW, FLAGS BIND_NOW or
#              FLAGS_1 NOW): full RELRO
#   nx-stack   a GNU_STACK segment without the E flag
#   canary     __stack_chk_fail referenced (stack protector compiled in)
# Prints one line per file; exit 0 when all pass, 1 when any fails, 2 on usage errors.
set -uo pipefail

READELF=${READELF:-readelf}

is_elf() {
    [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' \n')" = '177ELF' ]
}

is_shared_lib() {
    case $(basename "$1") in
    *.so | *.so.*) return 0 ;;
    esac
    return 1
}

# check_file FILE: print "ok FILE" or "FAIL FILE: missing ..." and return 0/1.
check_file() {
    local f=$1 type dyn phdr syms missing=()
    type=$("$READELF" -hW "$f" 2>/dev/null | awk -F: '$1 ~ /^ *Type$/ {print $2}' | awk '{print $1}')
    dyn=$("$READELF" -dW "$f" 2>/dev/null)
    phdr=$("$READELF" -lW "$f" 2>/dev/null)
    syms=$("$READELF" -sW "$f" 2>/dev/null)
    if [ -z "$type" ]; then
        echo "FAIL $f: readelf cannot read it"
        return 1
    fi

    if [ "$type" != DYN ]; then
        missing+=("pie (ELF type $type)")
    elif ! is_shared_lib "$f" && ! grep -Eq '\(FLAGS_1\).*[[:space:]]PIE([[:space:]]|$)' <<<"$dyn"; then
        missing+=("pie (no DF_1_PIE)")
    fi

    if ! grep -Eq '^[[:space:]]*GNU_RELRO[[:space:]]' <<<"$phdr"; then
        missing+=("relro (no GNU_RELRO)")
    elif ! grep -Eq '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*[[:space:]]NOW([[:space:]]|$)' <<<"$dyn"; then
        missing+=("relro (partial: no BIND_NOW)")
    fi

    local stack
    stack=$(awk '$1 == "GNU_STACK" { f = ""; for (i = 7; i < NF; i++) f = f $i; print f }' <<<"$phdr")
    if [ -z "$stack" ]; then
        missing+=("nx-stack (no GNU_STACK)")
    elif [[ $stack == *E* ]]; then
        missing+=("nx-stack (GNU_STACK is $stack)")
    fi

    if ! grep -q '__stack_chk_fail' <<<"$syms"; then
        missing+=("canary (no __stack_chk_fail)")
    fi

    if [ ${#missing[@]} -eq 0 ]; then
        echo "ok   $f"
        return 0
    fi
    local joined
    joined=$(printf '%s, ' "${missing[@]}")
    echo "FAIL $f: missing ${joined%, }"
    return 1
}

check_files() {
    local f bad=0 n=0
    for f in "$@"; do
        n=$((n + 1))
        check_file "$f" || bad=$((bad + 1))
    done
    echo "hardening: $n checked, $((n - bad)) ok, $bad failed"
    [ "$bad" -eq 0 ]
}

# find_built DIR GLOB...: ELF executables and shared libraries under DIR, less the GLOBs.
find_built() {
    local dir=${1%/} f rel g
    shift
    find "$dir" -path '*/CMakeFiles' -prune -o -type f \
        \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) -print | sort |
        while IFS= read -r f; do
            rel=${f#"$dir"/}
            for g in "$@"; do
                # shellcheck disable=SC2053 # glob match on purpose
                if [[ $rel == $g ]]; then
                    echo "skip $f (excluded: $g)" >&2
                    continue 2
                fi
            done
            is_elf "$f" && printf '%s\n' "$f"
        done
}

# self_test CC: every weakened sample must be rejected naming exactly the protections it
# lacks; the hardened samples must pass. Proves that each check can fail.
self_test() {
    local cc=$1 failures=0 out rc
    SELF_TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/palisade-hardening.XXXXXX")
    trap 'rm -rf "$SELF_TEST_TMP"' EXIT
    local tmp=$SELF_TEST_TMP
    cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    char buf[64];
    strncpy(buf, argc > 1 ? argv[1] : "x", sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    puts(buf);
    return 0;
}
EOF
    cat >"$tmp/lib.c" <<'EOF'
#include <string.h>
size_t pal_hardening_probe(const char *s);
size_t pal_hardening_probe(const char *s)
{
    char buf[64];
    strncpy(buf, s, sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    return strlen(buf);
}
EOF
    local good_exe="-fPIE -pie -fstack-protector-all -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack"
    local good_so="-fPIC -shared -fstack-protector-all -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack"
    # name | flags | source | expected failure ("" = must pass)
    local cases=(
        "good|$good_exe|prog.c|"
        "good.so|$good_so|lib.c|"
        "nopie|-fno-PIE -no-pie -fstack-protector-all -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack|prog.c|pie"
        "norelro|-fPIE -pie -fstack-protector-all -Wl,-z,norelro -Wl,-z,now -Wl,-z,noexecstack|prog.c|relro"
        "lazy|-fPIE -pie -fstack-protector-all -Wl,-z,relro -Wl,-z,lazy -Wl,-z,noexecstack|prog.c|relro"
        "execstack|-fPIE -pie -fstack-protector-all -Wl,-z,relro -Wl,-z,now -Wl,-z,execstack|prog.c|nx-stack"
        "nocanary|-fPIE -pie -fno-stack-protector -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack|prog.c|canary"
        "execstack.so|-fPIC -shared -fstack-protector-all -Wl,-z,relro -Wl,-z,now -Wl,-z,execstack|lib.c|nx-stack"
        "worst|-fno-PIE -no-pie -fno-stack-protector -Wl,-z,norelro -Wl,-z,execstack|prog.c|pie relro nx-stack canary"
    )
    local c name flags src want out_file w
    for c in "${cases[@]}"; do
        IFS='|' read -r name flags src want <<<"$c"
        out_file="$tmp/$name"
        # shellcheck disable=SC2086 # flags are a word list on purpose
        if ! "$cc" -O1 $flags -o "$out_file" "$tmp/$src" 2>"$tmp/cc.err"; then
            echo "self-test: cannot compile $name with $cc: $(cat "$tmp/cc.err")"
            failures=$((failures + 1))
            continue
        fi
        rc=0
        out=$(check_file "$out_file") || rc=$?
        echo "self-test: $name -> $out"
        if [ -z "$want" ]; then
            if [ "$rc" -ne 0 ]; then
                echo "self-test: $name should have passed"
                failures=$((failures + 1))
            fi
            continue
        fi
        if [ "$rc" -eq 0 ]; then
            echo "self-test: $name should have been rejected for: $want"
            failures=$((failures + 1))
            continue
        fi
        for w in $want; do
            if [[ $out != *"$w ("* ]]; then
                echo "self-test: $name was rejected, but not for $w"
                failures=$((failures + 1))
            fi
        done
        for w in pie relro nx-stack canary; do
            if [[ " $want " != *" $w "* && $out == *"$w ("* ]]; then
                echo "self-test: $name was wrongly rejected for $w"
                failures=$((failures + 1))
            fi
        done
    done
    if [ "$failures" -ne 0 ]; then
        echo "self-test: $failures problems"
        return 1
    fi
    echo "self-test: every weakened binary rejected for the right reason, hardened ones accepted"
}

case ${1:-} in
--self-test)
    [ $# -eq 2 ] || {
        echo "usage: $0 --self-test CC" >&2
        exit 2
    }
    self_test "$2"
    ;;
--list)
    [ $# -eq 2 ] && [ -f "$2" ] || {
        echo "usage: $0 --list LISTFILE (an existing file)" >&2
        exit 2
    }
    mapfile -t files < <(grep -v '^[[:space:]]*$' "$2")
    if [ ${#files[@]} -eq 0 ]; then
        echo "hardening: $2 names no binaries"
        exit 1
    fi
    missing=0
    for f in "${files[@]}"; do
        [ -f "$f" ] || {
            echo "FAIL $f: not built"
            missing=$((missing + 1))
        }
    done
    [ "$missing" -eq 0 ] || exit 1
    check_files "${files[@]}"
    ;;
--files)
    shift
    [ $# -gt 0 ] || {
        echo "usage: $0 --files FILE..." >&2
        exit 2
    }
    check_files "$@"
    ;;
"" | -*)
    echo "usage: $0 BUILD_DIR [--exclude GLOB]... | --list LISTFILE | --files FILE... |" \
        "--self-test CC" >&2
    exit 2
    ;;
*)
    [ -d "$1" ] || {
        echo "hardening: $1 is not a directory" >&2
        exit 2
    }
    build_dir=$1
    shift
    excludes=()
    while [ $# -gt 0 ]; do
        [ "$1" = --exclude ] && [ $# -ge 2 ] || {
            echo "usage: $0 BUILD_DIR [--exclude GLOB]..." >&2
            exit 2
        }
        excludes+=("$2")
        shift 2
    done
    mapfile -t files < <(find_built "$build_dir" "${excludes[@]}")
    if [ ${#files[@]} -eq 0 ]; then
        echo "hardening: no ELF executables or shared libraries found under $build_dir"
        exit 1
    fi
    check_files "${files[@]}"
    ;;
esac
