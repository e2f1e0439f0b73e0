#!/usr/bin/env bash
# run-session.sh VALGRIND SESSION — libpalisade under valgrind across a scripted session of
# every library call (tests/valgrind/libpalisade_session.c) against a real palisaded on a
# temporary state directory: as root (admin), as user nobody (the read-only status socket),
# and with no agent / broken fake agents (offline). Fails on any valgrind error, any
# definite or indirect leak, or any failed expectation of the session.
#
# Environment (set by tests/ps.cmake): PAL_PALISADED, PAL_DEFS_PACKAGE, PAL_TRUSTED_KEYS_DIR.
set -euo pipefail

VALGRIND=${1:?usage: run-session.sh VALGRIND SESSION}
SESSION=${2:?usage: run-session.sh VALGRIND SESSION}
: "${PAL_PALISADED:?set by ctest}" "${PAL_DEFS_PACKAGE:?set by ctest}" "${PAL_TRUSTED_KEYS_DIR:?set by ctest}"

BASE=$(mktemp -d "${TMPDIR:-/tmp}/pal-vg.XXXXXX")
chmod 755 "$BASE"
DAEMON_PID=
cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID"
        wait "$DAEMON_PID" || true
    fi
    rm -rf "$BASE"
}
trap cleanup EXIT

mkdir -p "$BASE/state" "$BASE/policy" "$BASE/run" "$BASE/scan/sub" "$BASE/offline"
chmod 700 "$BASE/state"
chmod 755 "$BASE/run" "$BASE/scan" "$BASE/scan/sub"
chmod 777 "$BASE/offline"
SOCK="$BASE/run/palisaded.sock"
# Something to find (the EICAR test string, assembled here so no file holds it) and some
# files to make progress events.
printf '%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >"$BASE/scan/sub/eicar.com"
for i in $(seq 1 200); do
    printf 'clean file %d\n' "$i" >"$BASE/scan/file-$i.txt"
done
# The actions would quarantine the test file on the first scan; keep it for every scan.
cat >"$BASE/policy/vg.json" <<'EOF'
{"SevereThreatDefaultAction": "NoAction", "RealTimeProtectionEnabled": false}
EOF
chmod 644 "$BASE/policy/vg.json"

"$PAL_PALISADED" --foreground --state-dir "$BASE/state" --socket "$SOCK" \
    --policy-dir "$BASE/policy" --trusted-keys "$PAL_TRUSTED_KEYS_DIR" \
    --defs "$PAL_DEFS_PACKAGE" >"$BASE/palisaded.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 600); do
    [ -S "$SOCK" ] && [ -S "$SOCK.status" ] && break
    kill -0 "$DAEMON_PID" 2>/dev/null || {
        echo "run-session: palisaded exited during start:" >&2
        cat "$BASE/palisaded.log" >&2
        exit 1
    }
    sleep 0.1
done
[ -S "$SOCK" ] || {
    echo "run-session: palisaded did not create $SOCK" >&2
    cat "$BASE/palisaded.log" >&2
    exit 1
}

VG=("$VALGRIND" --quiet --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no)
status=0
run() {
    local name=$1 rc=0
    shift
    echo "== run-session: $name"
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "run-session: $name FAILED (exit $rc; 99 = valgrind found errors or leaks)" >&2
        status=1
    fi
}

run admin "${VG[@]}" "$SESSION" admin "$SOCK" "$BASE/scan"
run offline "${VG[@]}" "$SESSION" offline "$BASE/offline"
if command -v runuser >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
    run "user (nobody)" runuser -u nobody -- env HOME="$BASE/offline" "${VG[@]}" "$SESSION" user "$SOCK"
else
    echo "run-session: no runuser or no user nobody: the status-socket session cannot run" >&2
    status=1
fi

if [ "$status" -ne 0 ]; then
    echo "--- palisaded log" >&2
    cat "$BASE/palisaded.log" >&2
fi
exit "$status"
