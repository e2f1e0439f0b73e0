#!/usr/bin/env bash
# bench/psmodule_import.sh [BUILD_DIR] [RUNS] [OTHER_MODULE_DIR...] — how long
# `Import-Module Palisade` takes.
#
# Each run is a fresh pwsh (-NoProfile) that times, with a Stopwatch inside the process:
#   import      Import-Module of the staged module (BUILD_DIR/psmodule/Palisade/Palisade.psd1)
#   first call  the first cmdlet, which loads libpalisade and emits its P/Invoke type
#               (Get-SandboxMode against a socket nobody listens on, so no agent is needed)
#   next call   the same cmdlet again (binding already in place)
#   import CPU  the CPU time the pwsh process spent during the import (all its threads):
#               less sensitive than the wall time to other work on a shared machine
# and prints them; the summary gives the median and the worst import, and the median CPU. The goal (issue 6):
# the import under one second. Default BUILD_DIR build/default, RUNS 7.
#
# Each OTHER_MODULE_DIR is another module folder (holding Palisade.psd1 and
# libpalisade.so.0), e.g. the module of an older commit staged elsewhere: the runs then
# alternate between the modules (run 1 of each, run 2 of each, ...), so that the load of a
# shared machine falls on all of them alike, and the summary gives each module's median
# import over the first one's (the ratio).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build/default}" 2>/dev/null && pwd) || {
    echo "psmodule_import: no build directory ${1:-$ROOT/build/default}" >&2
    exit 2
}
RUNS=${2:-7}
shift $(($# < 2 ? $# : 2))
MANIFESTS=("$BUILD/psmodule/Palisade/Palisade.psd1")
for dir in "$@"; do
    MANIFESTS+=("$(cd "$dir" 2>/dev/null && pwd)/Palisade.psd1")
done
PWSH=${PWSH:-$(command -v pwsh || echo "$HOME/.dotnet/tools/pwsh")}

for m in "${MANIFESTS[@]}"; do
    [ -f "$m" ] || {
        echo "psmodule_import: $m not found (build first: cmake --build $BUILD)" >&2
        exit 2
    }
done
[ -x "$PWSH" ] || {
    echo "psmodule_import: pwsh not found (run scripts/bootstrap)" >&2
    exit 2
}

# shellcheck disable=SC2016  # $-expressions are PowerShell's
probe='
$ErrorActionPreference = "Stop"
$me = [Diagnostics.Process]::GetCurrentProcess()
$cpu0 = $me.TotalProcessorTime
$sw = [Diagnostics.Stopwatch]::StartNew()
Import-Module $env:PAL_BENCH_MANIFEST
$import = $sw.Elapsed.TotalMilliseconds
$me.Refresh()
$cpu = ($me.TotalProcessorTime - $cpu0).TotalMilliseconds
$env:PALISADE_SOCKET = "/nonexistent/palisade-bench.sock"
$sw.Restart()
try { Get-SandboxMode -ErrorAction Stop } catch { }
$first = $sw.Elapsed.TotalMilliseconds
$sw.Restart()
try { Get-SandboxMode -ErrorAction Stop } catch { }
$next = $sw.Elapsed.TotalMilliseconds
"{0:F1} {1:F1} {2:F1} {3:F1}" -f $import, $first, $next, $cpu
'

echo "psmodule_import: $("$PWSH" --version), $RUNS runs of each module:"
for k in "${!MANIFESTS[@]}"; do
    echo "  module $k: ${MANIFESTS[$k]}"
done
printf '%5s %6s %12s %16s %14s %13s %13s\n' run module "import (ms)" "import CPU (ms)" "first call (ms)" "next call (ms)" "process (ms)"
declare -A imports cpus
for i in $(seq 1 "$RUNS"); do
    for k in "${!MANIFESTS[@]}"; do
        t0=$(date +%s%N)
        out=$(PAL_BENCH_MANIFEST=${MANIFESTS[$k]} "$PWSH" -NoLogo -NoProfile -NonInteractive -Command "$probe") || {
            echo "psmodule_import: run $i of module $k failed: $out" >&2
            exit 1
        }
        t1=$(date +%s%N)
        read -r imp first next cpu <<<"$out"
        printf '%5d %6d %12s %16s %14s %13s %13d\n' "$i" "$k" "$imp" "$cpu" "$first" "$next" $(((t1 - t0) / 1000000))
        imports[$k]="${imports[$k]:-} $imp"
        cpus[$k]="${cpus[$k]:-} $cpu"
    done
done
base=
for k in "${!MANIFESTS[@]}"; do
    # shellcheck disable=SC2086  # one number per word
    sorted=$(printf '%s\n' ${imports[$k]} | sort -n)
    median=$(printf '%s\n' "$sorted" | sed -n "$(((RUNS + 1) / 2))p")
    worst=$(printf '%s\n' "$sorted" | tail -n 1)
    # shellcheck disable=SC2086
    cpu=$(printf '%s\n' ${cpus[$k]} | sort -n | sed -n "$(((RUNS + 1) / 2))p")
    verdict=$(awk -v w="$worst" 'BEGIN { print (w < 1000) ? "under 1 s: goal met" : "OVER 1 s: goal missed" }')
    ratio=
    if [ -z "$base" ]; then
        base=$median
        basecpu=$cpu
    else
        ratio=$(awk -v m="$median" -v b="$base" -v c="$cpu" -v bc="$basecpu" \
            'BEGIN { printf "; %.2f x module 0, CPU %.2f x module 0", m / b, c / bc }')
    fi
    label=
    [ "${#MANIFESTS[@]}" -gt 1 ] && label=" (module $k)"
    echo "Import-Module Palisade$label: median ${median} ms, worst ${worst} ms, median CPU ${cpu} ms over $RUNS runs ($verdict$ratio)"
done
