#!/usr/bin/env bash
# bench/psmodule_import.sh [BUILD_DIR] [RUNS] — how long `Import-Module Palisade` takes.
#
# Each run is a fresh pwsh (-NoProfile) that times, with a Stopwatch inside the process:
#   import      Import-Module of the staged module (BUILD_DIR/psmodule/Palisade/Palisade.psd1)
#   first call  the first cmdlet, which loads libpalisade and emits its P/Invoke type
#               (Get-SandboxMode against a socket nobody listens on, so no agent is needed)
#   next call   the same cmdlet again (binding already in place)
# and prints them; the summary gives the median and the worst import. The goal (issue 6):
# the import under one second. Default BUILD_DIR build/default, RUNS 7.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build/default}" 2>/dev/null && pwd) || {
    echo "psmodule_import: no build directory ${1:-$ROOT/build/default}" >&2
    exit 2
}
RUNS=${2:-7}
MANIFEST="$BUILD/psmodule/Palisade/Palisade.psd1"
PWSH=${PWSH:-$(command -v pwsh || echo "$HOME/.dotnet/tools/pwsh")}

[ -f "$MANIFEST" ] || {
    echo "psmodule_import: $MANIFEST not found (build first: cmake --build $BUILD)" >&2
    exit 2
}
[ -x "$PWSH" ] || {
    echo "psmodule_import: pwsh not found (run scripts/bootstrap)" >&2
    exit 2
}

# shellcheck disable=SC2016  # $-expressions are PowerShell's
probe='
$ErrorActionPreference = "Stop"
$sw = [Diagnostics.Stopwatch]::StartNew()
Import-Module $env:PAL_BENCH_MANIFEST
$import = $sw.Elapsed.TotalMilliseconds
$env:PALISADE_SOCKET = "/nonexistent/palisade-bench.sock"
$sw.Restart()
try { Get-SandboxMode -ErrorAction Stop } catch { }
$first = $sw.Elapsed.TotalMilliseconds
$sw.Restart()
try { Get-SandboxMode -ErrorAction Stop } catch { }
$next = $sw.Elapsed.TotalMilliseconds
"{0:F1} {1:F1} {2:F1}" -f $import, $first, $next
'

echo "psmodule_import: $("$PWSH" --version), module $MANIFEST, $RUNS runs"
printf '%5s %12s %14s %13s %13s\n' run "import (ms)" "first call (ms)" "next call (ms)" "process (ms)"
imports=()
for i in $(seq 1 "$RUNS"); do
    t0=$(date +%s%N)
    out=$(PAL_BENCH_MANIFEST=$MANIFEST "$PWSH" -NoLogo -NoProfile -NonInteractive -Command "$probe") || {
        echo "psmodule_import: run $i failed: $out" >&2
        exit 1
    }
    t1=$(date +%s%N)
    read -r imp first next <<<"$out"
    printf '%5d %12s %14s %13s %13d\n' "$i" "$imp" "$first" "$next" $(((t1 - t0) / 1000000))
    imports+=("$imp")
done
sorted=$(printf '%s\n' "${imports[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | sed -n "$(((RUNS + 1) / 2))p")
worst=$(printf '%s\n' "$sorted" | tail -n 1)
verdict=$(awk -v w="$worst" 'BEGIN { print (w < 1000) ? "under 1 s: goal met" : "OVER 1 s: goal missed" }')
echo "Import-Module Palisade: median ${median} ms, worst ${worst} ms over $RUNS runs ($verdict)"
