#!/usr/bin/env bash
# tests/installer/test_deb.sh BUILD_DIR — the package's life on this machine (issue 7).
#
# As root, with nothing named palisade installed:
#   1. cpack builds palisade_<version>_<arch>.deb and the .tar.gz of the same tree from
#      BUILD_DIR; their content, control fields, dependencies (each library a binary needs
#      comes from a package in Depends), conffiles, lintian (no error) and the unit's
#      systemd-analyze exposure are checked
#   2. dpkg -i: accounts, state directory, files, loader cache, `systemd-analyze verify`
#   3. palisaded is started exactly as the unit's ExecStart, under the unit's hardening
#      (run_unit.py: environment file, directories, umask, capability bounding set,
#      no_new_privs, namespaces, read-only file system but the ReadWritePaths, every seccomp
#      filter systemd would load, Type=notify readiness); its log shows it logs to stderr
#      (the journal) under systemd; the sockets' modes; the sandboxed content process runs
#      from /usr/libexec/palisade as palisade-cp
#   4. a fresh `pwsh -NoProfile`: Import-Module Palisade; Start-Scan -Path <EICAR corpus>;
#      Get-ThreatHistory shows the detections, quarantined; the one in a user's private
#      directory is restored with its owner, mode, time and content; a preference is set
#      (session.ps1)
#   5. upgrade to a higher version (cpack again, from the same build tree, so the same
#      signing key): prerm stops the daemon, the database (schema at the latest
#      migration), quarantine and preference are kept, the daemon is started again
#   6. dpkg -r: daemon stopped, program gone, state and conffiles kept
#   7. dpkg -P: state, accounts, configuration gone; the purge says quarantined files go
#   8. dpkg -L knows nothing of palisade, and no path the package installed, nor any
#      file-system entry named *palisade* that was not there before, is left
# Whatever happens, the trap kills the daemon it started and purges the package.
#
# Exit: 0 pass, 1 fail, 77 skipped (not root). One run at a time per machine (flock).
set -euo pipefail

BUILD=$(cd "${1:?usage: test_deb.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
export PATH="$HOME/.dotnet/tools:$PATH"

UNIT=/lib/systemd/system/palisaded.service
STATE=/var/lib/palisade
RUN=/run/palisade
MODULE_DIR=/usr/local/share/powershell/Modules/Palisade
# systemd-analyze security's exposure of the unit: a rise means weaker hardening (and
# installer/README.md needs the new number and its reason).
MAX_EXPOSURE=3.0

say() { printf '\n=== installer: %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: installing a package needs root"
    exit 77
fi
for tool in cpack dpkg dpkg-deb dpkg-query lintian systemd-analyze python3 pwsh readelf \
    getent flock sqlite3; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/bootstrap)"
done
[ -f "$BUILD/CPackConfig.cmake" ] ||
    fail "$BUILD/CPackConfig.cmake is missing: add_subdirectory(installer) to CMakeLists.txt"

exec 9>/run/lock/palisade-installer-test.lock
flock 9

# Never touch an installation or state that is not this test's.
status=$(dpkg-query -W -f='${db:Status-Status}' palisade 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] ||
    fail "a palisade package is on this machine (status $status): remove it first"
for p in "$STATE" "$RUN" /etc/palisade /etc/default/palisade "$MODULE_DIR" /usr/libexec/palisade; do
    [ ! -e "$p" ] || fail "$p exists: this machine has a palisade installation; remove it first"
done
for a in palisade-cp palisade-admin; do
    ! getent passwd "$a" >/dev/null && ! getent group "$a" >/dev/null ||
        fail "account $a exists already: remove it first"
done

# Directories the package may create that a failed purge could leave (removed in cleanup
# only if they are not there now, and only when empty).
EXTRA_DIRS=()
for d in /usr/libexec/palisade /usr/share/palisade /usr/share/doc/palisade \
    /usr/local/share/powershell/Modules /usr/local/share/powershell; do
    [ -e "$d" ] || EXTRA_DIRS+=("$d")
done

WORK=$(mktemp -d /tmp/palisade-installer.XXXXXX)
chmod 0755 "$WORK"
DAEMON_PID=

daemon_alive() { [ -n "$DAEMON_PID" ] && [ -d "/proc/$DAEMON_PID" ]; }
cleanup() {
    local rc=$?
    set +e
    if daemon_alive; then
        kill -TERM "$DAEMON_PID"
        for _ in $(seq 1 300); do daemon_alive || break; sleep 0.1; done
        daemon_alive && kill -KILL "$DAEMON_PID"
    fi
    local st
    st=$(dpkg-query -W -f='${db:Status-Status}' palisade 2>/dev/null)
    if [ -n "$st" ] && [ "$st" != not-installed ]; then
        echo "cleanup: purging the palisade package (status $st)"
        dpkg --purge palisade >/dev/null 2>&1 || dpkg --purge --force-all palisade
    fi
    # what a failed purge may have left; none of it existed before this test (checked above)
    rm -rf "$STATE" "$RUN" /etc/palisade "$MODULE_DIR"
    for d in "${EXTRA_DIRS[@]}"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    for a in palisade-cp; do getent passwd "$a" >/dev/null && deluser --system --quiet "$a"; done
    for g in palisade-cp palisade-admin; do getent group "$g" >/dev/null && delgroup --system --quiet "$g"; done
    [ "$rc" -eq 0 ] || { echo "--- daemon log:"; cat "$WORK"/daemon*.log 2>/dev/null | tail -n 40; }
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Every path a listing names, without the leading "." and trailing "/".
deb_paths() { dpkg-deb --fsys-tarfile "$1" | tar -t | sed -e 's|^\./|/|' -e 's|^\([^/]\)|/\1|' -e 's|/$||' | grep -v '^$' | sort -u; }
tgz_paths() { tar -tzf "$1" | sed -e 's|^\./|/|' -e 's|^\([^/]\)|/\1|' -e 's|/$||' | grep -v '^$' | sort -u; }

# A snapshot of every file-system entry named *palisade* where a package puts things.
# man-db's cache of formatted pages (/var/cache/man/catN/) is left out: it is man-db's, not
# the package's. man writes a page there whenever someone reads it (here `systemd-analyze
# verify` reads the unit's Documentation= pages), never shows a cached page whose source is
# gone, and its daily job deletes pages unread for a week; Debian packages do not touch it.
# manpage_cache_entries checks what is there instead.
named_palisade() {
    # (a file another process deletes during the walk makes find complain: not ours)
    { find /etc /usr /var/lib /var/cache /var/log /lib/systemd -xdev -iname '*palisade*' \
        -not -path '/var/cache/man/*' 2>/dev/null || true; } | sort
}

# Every *palisade* entry in man-db's cache, as "path owner": each must be a formatted copy
# of a page the package ships (catN/NAME.N.gz for manN/NAME.N.gz), owned by man-db's user.
manpage_cache_entries() {
    { find /var/cache/man -xdev -iname '*palisade*' -printf '%p %u\n' 2>/dev/null || true; } | sort
}

start_daemon() { # LOG
    python3 "$HERE/run_unit.py" "$UNIT" --log "$1" --pidfile "$WORK/daemon.pid" \
        --notify-dir "$WORK" || fail "palisaded did not start as its unit does (log: $1)"
    DAEMON_PID=$(cat "$WORK/daemon.pid")
    [ "$(readlink "/proc/$DAEMON_PID/exe")" = /usr/sbin/palisaded ] ||
        fail "the started process is not /usr/sbin/palisaded"
    ok "palisaded ready as the unit starts it (pid $DAEMON_PID)"
}

ps_session() { # PHASE [ARGS...]: a fresh pwsh with the package's module path only
    env -u PSModulePath -u PALISADE_SOCKET pwsh -NoProfile -NonInteractive \
        -File "$HERE/session.ps1" -Phase "$@" -StateFile "$WORK/session.json"
}

# ---- 1. build -----------------------------------------------------------------------------
say "cpack: the .deb and the .tar.gz from $BUILD"
(cd "$BUILD" && cpack --config CPackConfig.cmake -B "$WORK/pkg") > "$WORK/cpack.log" 2>&1 ||
    { cat "$WORK/cpack.log"; fail "cpack failed"; }
arch=$(dpkg --print-architecture)
shopt -s nullglob
debs=("$WORK"/pkg/palisade_*_"$arch".deb)
tgzs=("$WORK"/pkg/palisade_*_"$arch".tar.gz)
shopt -u nullglob
[ ${#debs[@]} -eq 1 ] && [ ${#tgzs[@]} -eq 1 ] || fail "expected one .deb and one .tar.gz in $WORK/pkg"
DEB=${debs[0]}
TGZ=${tgzs[0]}
version=$(dpkg-deb -f "$DEB" Version)
[ "$(basename "$DEB")" = "palisade_${version}_${arch}.deb" ] || fail "unexpected name $(basename "$DEB")"
ok "$(basename "$DEB") and $(basename "$TGZ")"

deb_paths "$DEB" > "$WORK/deb.paths"
tgz_paths "$TGZ" > "$WORK/tgz.paths"
diff -u "$WORK/deb.paths" "$WORK/tgz.paths" || fail "the .tar.gz does not hold the same tree as the .deb"
ok "the .tar.gz holds the same $(wc -l < "$WORK/deb.paths") paths as the .deb"

dpkg-deb -c "$DEB" | awk '{print $1, $2, $6}' | sed 's| \./| /|' > "$WORK/deb.modes"
expect_entry() { # MODE PATH
    grep -qxF -e "$1 root/root $2" "$WORK/deb.modes" || fail "the .deb lacks $2 as $1 root/root"
}
expect_entry -rwxr-xr-x /usr/sbin/palisaded
expect_entry -rwxr-xr-x /usr/libexec/palisade/palisade-cp
expect_entry -rwxr-xr-x /usr/bin/palisade
expect_entry -rwxr-xr-x /usr/bin/palisade-sigtool
expect_entry -rw-r--r-- /usr/share/palisade/palisade-defs.sig
expect_entry -rw-r--r-- /etc/palisade/trusted-keys/palisade-build.pub
expect_entry -rw-r--r-- /etc/palisade/policy.d/example.json.disabled
expect_entry -rw-r--r-- /etc/default/palisade
expect_entry -rw-r--r-- "$UNIT"
expect_entry -rw-r--r-- "$MODULE_DIR/Palisade.psd1"
expect_entry -rw-r--r-- "$MODULE_DIR/Palisade.psm1"
# The module as staged: Palisade.psm1 is assembled from its sources (Module.ps1, Private/,
# Public/; psmodule/module.cmake), which are not installed.
grep "^$MODULE_DIR/" "$WORK/deb.paths" | sed "s|^$MODULE_DIR/||" > "$WORK/module.paths"
printf '%s\n' Palisade.psd1 Palisade.psm1 Palisade.Format.ps1xml en-US en-US/about_Palisade.help.txt |
    sort -u > "$WORK/module.expected"
diff -u "$WORK/module.expected" "$WORK/module.paths" ||
    fail "the module in the .deb is not the staged module (manifest, assembled Palisade.psm1, formats, help)"
for page in man1/palisade.1 man1/palisade-sigtool.1 man5/palisade-policy.5 man8/palisaded.8; do
    expect_entry -rw-r--r-- "/usr/share/man/$page.gz"
done
expect_entry -rw-r--r-- /usr/share/doc/palisade/copyright
grep -Eq '^/usr/lib/([a-z0-9_]+-linux-gnu/)?libpalisade\.so\.0$' "$WORK/deb.paths" ||
    fail "the .deb lacks libpalisade.so.0"
ok "programs, content process, library, module, signatures, key, policy example, unit, man pages"

mkdir "$WORK/tree"
dpkg-deb -x "$DEB" "$WORK/tree"
lib=$(find "$WORK/tree/usr/lib" -name 'libpalisade.so.0.*' -type f -print -quit)
readelf -d "$lib" | grep 'SONAME.*\[libpalisade\.so\.0\]' >/dev/null || fail "libpalisade has no SONAME libpalisade.so.0"
ok "libpalisade carries its SONAME"

# The package owning a library file: dpkg knows it by one of its names (merged /usr).
package_of() {
    local p
    for p in "$1" "$(readlink -f "$1")" "${1#/usr}" "/usr${1#/usr}"; do
        if dpkg -S "$p" > "$WORK/dpkg-S.txt" 2>/dev/null; then
            head -n 1 "$WORK/dpkg-S.txt" | cut -d: -f1
            return 0
        fi
    done
    return 1
}

# Every library a packaged ELF file needs, other than the package's own, belongs to a
# package that Depends names: the dependencies come from the real shared libraries.
depends=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $depends"
for elf in $(find "$WORK/tree" -type f -perm -u+x) "$lib"; do
    readelf -h "$elf" >/dev/null 2>&1 || continue
    for needed in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [ "$needed" = libpalisade.so.0 ] && continue
        path=$(ldconfig -p | awk -v n="$needed" '$1 == n && /x86-64/ && !p {p = $NF} END {print p}')
        [ -n "$path" ] || fail "$needed (needed by ${elf#"$WORK"/tree}) is not on this machine"
        owner=$(package_of "$path") || fail "no package owns $path ($needed)"
        echo "$depends" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -xF "$owner" >/dev/null ||
            fail "${elf#"$WORK"/tree} needs $needed (package $owner), which Depends does not name"
    done
done
ok "Depends names the package of every shared library the binaries need"

dpkg-deb -f "$DEB" Description | grep 'every quarantined file' >/dev/null ||
    fail "the description does not say that purging deletes the quarantined files"
dpkg-deb -e "$DEB" "$WORK/control"
conffiles=$(sort "$WORK/control/conffiles")
etc_files=$(grep '^/etc/' "$WORK/deb.paths" | while read -r p; do
    if [ ! -d "$WORK/tree$p" ]; then echo "$p"; fi
done | sort)
[ "$conffiles" = "$etc_files" ] || fail "conffiles ($conffiles) is not every file under /etc ($etc_files)"
ok "every file under /etc is a conffile; the description warns about purging"

say "lintian"
lintian_rc=0
lintian --fail-on error --display-info "$DEB" > "$WORK/lintian.txt" 2>&1 || lintian_rc=$?
grep -v '^running with root' "$WORK/lintian.txt" || true
[ "$lintian_rc" -eq 0 ] || fail "lintian reports errors (exit $lintian_rc)"
ok "lintian: no error ($(grep -c '^W:' "$WORK/lintian.txt" || true) warnings, overrides in installer/debian/lintian-overrides)"

say "systemd-analyze security"
systemd-analyze security --offline=true --no-pager "$WORK/tree$UNIT" > "$WORK/security.txt" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$WORK/security.txt")
[ -n "$exposure" ] || { cat "$WORK/security.txt"; fail "systemd-analyze security gave no exposure level"; }
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' ||
    fail "exposure $exposure is above $MAX_EXPOSURE: the unit's hardening got weaker"
ok "palisaded.service exposure $exposure (at most $MAX_EXPOSURE)"

# ---- 2. install ---------------------------------------------------------------------------
say "dpkg -i $(basename "$DEB")"
named_palisade > "$WORK/named.before"
while read -r p; do
    if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi
done < "$WORK/deb.paths" > "$WORK/existed.before"
dpkg -i "$DEB"
dpkg -L palisade | sort > "$WORK/dpkg-L.txt"
[ "$(dpkg-query -W -f='${db:Status-Status} ${Version}' palisade)" = "installed $version" ] ||
    fail "palisade $version is not installed"

cp_uid=$(getent passwd palisade-cp | cut -d: -f3)
[ -n "$cp_uid" ] && [ "$cp_uid" -lt 1000 ] || fail "postinst did not create the system user palisade-cp"
[ "$(getent passwd palisade-cp | cut -d: -f6,7)" = /nonexistent:/usr/sbin/nologin ] ||
    fail "palisade-cp has a home or a shell: $(getent passwd palisade-cp)"
admin_gid=$(getent group palisade-admin | cut -d: -f3)
[ -n "$admin_gid" ] && [ "$admin_gid" -lt 1000 ] || fail "postinst did not create the system group palisade-admin"
[ "$(stat -c '%U:%G %a' "$STATE")" = "root:root 700" ] || fail "$STATE is $(stat -c '%U:%G %a' "$STATE")"
[ "$(stat -c '%U:%G %a' /usr/libexec/palisade/palisade-cp)" = "root:root 755" ] ||
    fail "palisade-cp is $(stat -c '%U:%G %a' /usr/libexec/palisade/palisade-cp)"
ldconfig -p | grep 'libpalisade\.so\.0 ' >/dev/null || fail "libpalisade.so.0 is not in the loader cache"
dpkg-query -W -f='${Conffiles}\n' palisade | awk 'NF {print $1}' | sort > "$WORK/conffiles.installed"
[ "$(cat "$WORK/conffiles.installed")" = "$conffiles" ] || fail "dpkg did not register the conffiles"
ok "accounts palisade-cp ($cp_uid) and palisade-admin ($admin_gid), $STATE 0700, conffiles, loader cache"

systemd-analyze verify "$UNIT" || fail "systemd-analyze verify $UNIT"
ok "systemd-analyze verify $UNIT"

# The example policy is not in force, and, once its comments are dropped, names only real
# settings.
grep -v '^#' /etc/palisade/policy.d/example.json.disabled > "$WORK/example.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d, dict) and d' \
    "$WORK/example.json" || fail "the example policy is not a JSON object once uncommented"

# ---- 3. the daemon as its unit starts it ----------------------------------------------------
say "palisaded as the unit's ExecStart"
start_daemon "$WORK/daemon1.log"
grep -q 'ready on /run/palisade/palisaded.sock' "$WORK/daemon1.log" ||
    fail "palisaded did not log to stderr (the journal under systemd)"
ok "palisaded logs to stderr when started by the service manager"
[ "$(stat -c '%U:%G %a' "$RUN")" = "root:root 755" ] || fail "$RUN is $(stat -c '%U:%G %a' "$RUN")"
[ "$(stat -c '%U:%G %a' "$RUN/palisaded.sock")" = "root:palisade-admin 660" ] ||
    fail "the control socket is $(stat -c '%U:%G %a' "$RUN/palisaded.sock")"
[ "$(stat -c '%a' "$RUN/palisaded.sock.status")" = 666 ] || fail "the status socket is not 0666"
ok "control socket root:palisade-admin 0660, status socket 0666"

palisade config get --json > "$WORK/config.json"
python3 - "$WORK/config.json" "$WORK/example.json" <<'EOF' || fail "the example policy names unknown settings"
import json, sys
doc = json.load(open(sys.argv[1]))
items = doc.get("settings", doc.get("items", doc)) if isinstance(doc, dict) else doc
names = {i["name"].lower() for i in items} if isinstance(items, list) else {k.lower() for k in items}
unknown = [k for k in json.load(open(sys.argv[2])) if k.lower() not in names]
sys.exit(f"unknown settings: {unknown}" if unknown else 0)
EOF
ok "the example policy names only real settings"

palisade status --json > "$WORK/status.json"
cp_pid=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["content_process_pid"] or "")' "$WORK/status.json")
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandbox_mode"])' "$WORK/status.json")" = Enabled ] ||
    fail "sandbox mode is not Enabled: $(cat "$WORK/status.json")"
[ -n "$cp_pid" ] || fail "no content process runs: $(cat "$WORK/status.json")"
# Real-time protection is on in the installed service (built-in default), which takes the
# unit's fanotify system calls and CAP_SYS_ADMIN (installer/README.md).
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["real_time_protection"])' "$WORK/status.json")" = Enabled ] ||
    fail "real-time protection is not Enabled under the unit: $(cat "$WORK/status.json")"
ok "real-time protection Enabled under the unit's hardening"
# ... and it acts under that hardening: a threat written is quarantined after its close, and
# nobody may open one. Then the administrator switches it off (live, no restart), so that the
# corpus below can be put together (its EICAR file is a threat real-time protection takes).
probe="$WORK/rtp-probe.com"
printf '%s%s%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-' 'ANTIVIRUS-TEST-' \
    'FILE!$H+H*' > "$probe"
for _ in $(seq 1 100); do [ -e "$probe" ] || break; sleep 0.1; done
[ ! -e "$probe" ] || fail "real-time protection did not quarantine a threat written under the unit"
ok "real-time protection quarantined a threat written under the unit's hardening"
palisade rtp disable > "$WORK/rtp-disable.txt" 2>&1 ||
    fail "palisade rtp disable: $(cat "$WORK/rtp-disable.txt")"
palisade status --json > "$WORK/status.json"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["real_time_protection"])' "$WORK/status.json")" = Disabled ] ||
    fail "real-time protection is not Disabled after palisade rtp disable: $(cat "$WORK/status.json")"
ok "palisade rtp disable switched it off without a restart"
[ "$(awk '/^Uid:/ {print $2}' "/proc/$cp_pid/status")" = "$cp_uid" ] ||
    fail "the content process $cp_pid does not run as palisade-cp"
[ "$(readlink "/proc/$cp_pid/exe")" = /usr/libexec/palisade/palisade-cp ] ||
    fail "the content process is $(readlink "/proc/$cp_pid/exe"), not /usr/libexec/palisade/palisade-cp"
# Its whole sandbox, under the unit's hardening (a capability missing from the bounding set
# would cost it its namespaces or its identity).
cp_status() { awk -v k="$1:" '$1 == k {$1 = ""; sub(/^ /, ""); print}' "/proc/$cp_pid/status"; }
[ "$(cp_status Seccomp)" = 2 ] && [ "$(cp_status NoNewPrivs)" = 1 ] &&
    [ "$(cp_status CapEff)" = 0000000000000000 ] && [ "$(cp_status CapBnd)" = 0000000000000000 ] ||
    fail "the content process is not confined: $(grep -E 'Seccomp|NoNewPrivs|Cap' "/proc/$cp_pid/status" | tr '\n' ' ')"
[ "$(cp_status NSpid | wc -w)" -ge 2 ] || fail "the content process has no PID namespace of its own"
for ns in mnt net ipc uts; do
    [ "$(readlink "/proc/$cp_pid/ns/$ns")" != "$(readlink "/proc/$DAEMON_PID/ns/$ns")" ] ||
        fail "the content process shares the broker's $ns namespace"
done
ok "the sandboxed content process runs: /usr/libexec/palisade/palisade-cp, pid $cp_pid, uid palisade-cp, own pid/mnt/net/ipc/uts namespaces, seccomp, no capabilities"

# ---- 4. PowerShell ------------------------------------------------------------------------
say "a fresh pwsh: Import-Module Palisade; Start-Scan; Get-ThreatHistory"
CORPUS="$WORK/corpus"
mkdir -p "$CORPUS/nested"
# The EICAR test file, put together at run time so that no file of the tree holds it.
printf '%s%s%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-' 'ANTIVIRUS-TEST-' \
    'FILE!$H+H*' > "$CORPUS/eicar.com"
python3 - "$CORPUS" <<'EOF'
import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(f"{d}/nested/archive.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.write(f"{d}/eicar.com", "eicar.com")
    z.writestr("readme.txt", "nothing to see here\n" * 50)
EOF
seq 1 500 > "$CORPUS/nested/clean.txt"
# A user's private directory: reading it, quarantining from it and restoring into it take
# the capabilities the unit keeps (DAC_READ_SEARCH, DAC_OVERRIDE, CHOWN, FOWNER).
chmod 0600 "$CORPUS/nested/archive.zip" "$CORPUS/nested/clean.txt"
touch -d '2020-01-02 03:04:05' "$CORPUS/nested/archive.zip"
chown -R nobody:nogroup "$CORPUS/nested"
chmod 0700 "$CORPUS/nested"
zip_identity() { stat -c '%U:%G %a %Y' "$CORPUS/nested/archive.zip"; sha256sum < "$CORPUS/nested/archive.zip"; }
zip_before=$(zip_identity)
ps_session scan -Corpus "$CORPUS" || fail "the PowerShell session on the installed agent"
[ "$(zip_identity)" = "$zip_before" ] ||
    fail "the restored archive differs: $(zip_identity) instead of $zip_before"
ok "the archive was restored into nobody's private directory with its owner, mode, time and content"

# ---- 5. upgrade ---------------------------------------------------------------------------
say "upgrade to a higher version"
new_version="${version}+upgrade1"
dpkg --compare-versions "$new_version" gt "$version" || fail "$new_version is not higher than $version"
(cd "$BUILD" && cpack --config CPackConfig.cmake -G DEB -B "$WORK/pkg2" \
    -D CPACK_PACKAGE_VERSION="$new_version") > "$WORK/cpack2.log" 2>&1 ||
    { cat "$WORK/cpack2.log"; fail "cpack (upgrade package) failed"; }
DEB2="$WORK/pkg2/palisade_${new_version}_${arch}.deb"
[ -f "$DEB2" ] || fail "cpack did not build $DEB2"
old_pid=$DAEMON_PID
dpkg -i "$DEB2" > "$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log"; fail "dpkg -i (upgrade) failed"; }
cat "$WORK/upgrade.log"
[ ! -d "/proc/$old_pid" ] || fail "prerm did not stop the old daemon (pid $old_pid)"
[ "$(dpkg-query -W -f='${Version}' palisade)" = "$new_version" ] || fail "the upgrade is not installed"
ok "upgraded to $new_version; prerm stopped the old daemon"
start_daemon "$WORK/daemon2.log"
[ "$DAEMON_PID" != "$old_pid" ] || fail "the daemon was not restarted"
latest=$(find "$HERE/../../db/migrations" -name '[0-9]*.sql' -printf '%f\n' | sed 's/_.*//' | sort -n | tail -n 1)
schema=$(sqlite3 "file:$STATE/palisade.db?mode=ro" 'PRAGMA user_version')
[ "$schema" -eq "$((10#$latest))" ] || fail "the database schema is at $schema, not the latest migration $latest"
ok "the database is kept, at schema version $schema"
ps_session verify || fail "history, quarantine and preference after the upgrade"

# ---- 6. remove ----------------------------------------------------------------------------
say "dpkg -r palisade"
quarantined=$(find "$STATE/quarantine" -type f | wc -l)
[ "$quarantined" -ge 1 ] || fail "expected a quarantined file in $STATE/quarantine, found none"
dpkg -r palisade
[ ! -d "/proc/$DAEMON_PID" ] || fail "prerm did not stop the daemon on remove"
DAEMON_PID=
[ "$(dpkg-query -W -f='${db:Status-Status}' palisade)" = config-files ] || fail "palisade is not in config-files state"
[ ! -e /usr/sbin/palisaded ] && [ ! -e "$MODULE_DIR" ] || fail "remove left the program or the module"
[ -f "$STATE/palisade.db" ] || fail "remove deleted the database"
[ "$(find "$STATE/quarantine" -type f | wc -l)" -eq "$quarantined" ] || fail "remove touched the quarantine"
[ -f /etc/default/palisade ] || fail "remove deleted a conffile"
[ ! -e "$RUN" ] || fail "remove left $RUN"
ok "removed: daemon stopped, programs gone, $STATE ($quarantined quarantined files) and conffiles kept"

# ---- 7. purge -----------------------------------------------------------------------------
say "dpkg -P palisade"
dpkg -P palisade > "$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; fail "dpkg -P failed"; }
cat "$WORK/purge.log"
grep -q 'every quarantined file' "$WORK/purge.log" || fail "the purge did not say that quarantined files are deleted"
[ ! -e "$STATE" ] || fail "purge left $STATE"
[ ! -e /etc/palisade ] && [ ! -e /etc/default/palisade ] || fail "purge left configuration"
! getent passwd palisade-cp >/dev/null || fail "purge left the user palisade-cp"
! getent group palisade-admin >/dev/null && ! getent group palisade-cp >/dev/null ||
    fail "purge left a palisade group"
ok "purged: state, configuration and accounts gone"

# ---- 8. nothing left ----------------------------------------------------------------------
say "nothing left behind"
if dpkg -L palisade >/dev/null 2>&1; then fail "dpkg -L still lists palisade"; fi
[ -z "$(dpkg-query -W -f='${db:Status-Status}' palisade 2>/dev/null | grep -v not-installed)" ] ||
    fail "dpkg still knows palisade"
left=0
while read -r p; do
    if { [ -e "$p" ] || [ -L "$p" ]; } && ! grep -qxF "$p" "$WORK/existed.before"; then
        echo "left behind: $p"
        left=1
    fi
done < "$WORK/dpkg-L.txt"
[ "$left" -eq 0 ] || fail "paths the package installed are still there"
while read -r p; do
    [ -e "$p" ] || [ -L "$p" ] || fail "$p existed before the package and is gone now"
done < "$WORK/existed.before"
named_palisade > "$WORK/named.after"
if ! diff -u "$WORK/named.before" "$WORK/named.after"; then
    fail "file-system entries named *palisade* appeared and stayed"
fi
while read -r p owner; do
    page=${p#/var/cache/man/}
    section_dir=${page%%/*}
    grep -qxF "/usr/share/man/man${section_dir#cat}/${page#*/}" "$WORK/dpkg-L.txt" &&
        [ "$owner" = man ] ||
        fail "$p ($owner) in man-db's cache is not a formatted copy of a page the package shipped"
    name=${page#*/}
    name=${name%.gz}
    if man -w "${name%.*}" >/dev/null 2>&1; then
        fail "man still finds ${name%.*} after the purge (man-db's cached $p)"
    fi
done < <(manpage_cache_entries)
ok "dpkg -L: not installed; none of its $(wc -l < "$WORK/dpkg-L.txt") paths and no *palisade* entry is left; what was there before still is"
say "PASS"
