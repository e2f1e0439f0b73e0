"""remediation_helpers.py — what the remediation tests share on top of harness.py (stdlib
only): signature packages built at run time with palisade-sigtool (other versions, extra
rules, a foreign key), unique threat files, a look into the daemon's state directory
(quarantine files, the journal), and an unprivileged attacker process.

Environment (tests/remediation.cmake), besides harness.py's: PAL_SIGTOOL (palisade-sigtool)
and PAL_SIGNING_KEY (the build's private key, trusted through PAL_TRUSTED_KEYS_DIR).
"""
import base64
import hashlib
import json
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import unittest

import harness

NOBODY = "nobody"
QUARANTINE_MAGIC = b"PALQUAR\x01"
HEADER_SIZE = 128
TEMP_PREFIXES = (".palisade-q-", ".palisade-d-", ".palisade-r-")

# A rule only the test packages carry: a marker anywhere in a file of any size.
MARKER_THREAT = "Test:Linux/RemediationMarker.A"
MARKER = b"PALISADE-REMEDIATION-TEST-MARKER-7f3a"
MARKER_RULE = """
rule Test_Linux_RemediationMarker_A
{
    meta:
        threat = "Test:Linux/RemediationMarker.A"
    strings:
        $m = "PALISADE-REMEDIATION-TEST-MARKER-7f3a"
    condition:
        $m
}
"""


def sigtool():
    return harness.env_path("PAL_SIGTOOL")


def signing_key():
    return harness.env_path("PAL_SIGNING_KEY")


def require_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest("the remediation tests run as root (CI does)")


def nobody_ids():
    pw = pwd.getpwnam(NOBODY)
    return pw.pw_uid, pw.pw_gid


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def eicar_variant(i):
    """The EICAR file followed by whitespace that encodes i: a distinct file (content and
    hash) for every i below 5**40, each detected as the EICAR test file."""
    pad = bytearray()
    digits = b" \t\r\n\x1a"
    n = i
    while True:
        pad.append(digits[n % 5])
        n //= 5
        if n == 0:
            break
    return harness.eicar() + bytes(pad)


def sample(name):
    """A decoded sample of the starter set (signatures/samples/NAME.b64)."""
    p = os.path.join(harness.source_dir(), "signatures", "samples", name + ".b64")
    with open(p, "rb") as f:
        return base64.b64decode(f.read())


# ---- packages -------------------------------------------------------------------------------

def build_package(out, version, key=None, marker_rule=False, workdir=None):
    """Build and sign a package of the starter set (plus the marker rule) as version."""
    src = os.path.join(harness.source_dir(), "signatures")
    tmp = tempfile.mkdtemp(prefix="pal-sig.", dir=workdir)
    try:
        for name in os.listdir(src):
            if name.endswith((".tsv", ".yar")):
                shutil.copy(os.path.join(src, name), tmp)
        if marker_rule:
            with open(os.path.join(tmp, "marker.yar"), "w") as f:
                f.write(MARKER_RULE)
            with open(os.path.join(tmp, "catalog.tsv"), "a") as f:
                f.write(MARKER_THREAT + "\tSevere\tTestFile\tQuarantine\n")
        subprocess.run([sigtool(), "build", tmp, "--key", key or signing_key(), "--version",
                        str(version), "--out", out], check=True, capture_output=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def new_key(prefix):
    subprocess.run([sigtool(), "keygen", prefix], check=True, capture_output=True)
    return prefix + ".key"


def verify_package(path):
    p = subprocess.run([sigtool(), "verify", path, "--trusted-keys", harness.trusted_keys()],
                       capture_output=True)
    return p.returncode == 0


# ---- the daemon's state ---------------------------------------------------------------------

def quarantine_dir(d):
    return os.path.join(d.state_dir, "quarantine")


def stored_content_offset(stored):
    """Where the content of a stored item starts (agent/core/remediation/qstore.h): 128 in format
    version 1, the header's content offset in version 2."""
    with open(stored, "rb") as f:
        h = f.read(HEADER_SIZE)
    version = int.from_bytes(h[8:12], "little")
    return HEADER_SIZE if version == 1 else int.from_bytes(h[104:112], "little")


def db_rows(d, sql, args=()):
    """Read the daemon's database (read-only; WAL lets it run beside the daemon)."""
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.state_dir, "palisade.db"),
                          uri=True, timeout=30)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def db_write(d, sql, args=()):
    """Change the database of a stopped daemon (tests of time-based behaviour)."""
    con = sqlite3.connect(os.path.join(d.state_dir, "palisade.db"), timeout=30)
    try:
        con.execute(sql, args)
        con.commit()
    finally:
        con.close()


def temp_leftovers(root):
    """Every name under root that is one of the daemon's temporary names."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            if n.startswith(TEMP_PREFIXES):
                found.append(os.path.join(dirpath, n))
    return found


def snapshot(path):
    """Everything about a file a remediation must leave alone or put back."""
    st = os.lstat(path)
    with open(path, "rb") as f:
        data = f.read()
    return {"data": data, "uid": st.st_uid, "gid": st.st_gid,
            "mode": stat.S_IMODE(st.st_mode), "mtime_ns": st.st_mtime_ns,
            "ino": st.st_ino, "dev": st.st_dev}


def same_content_and_metadata(a, b):
    keys = ("data", "uid", "gid", "mode", "mtime_ns")
    return all(a[k] == b[k] for k in keys)


class RemDaemon(harness.Daemon):
    """harness.Daemon with the package and the trusted keys of the test's choice."""

    def __init__(self, defs_path=None, keys_dir=None, **kw):
        self.defs_path = defs_path
        self.keys_dir = keys_dir
        super().__init__(defs=False, **kw)

    def command(self):
        cmd = [harness.palisaded(), "--foreground", "--state-dir", self.state_dir,
               "--socket", self.socket, "--policy-dir", self.policy_dir,
               "--trusted-keys", self.keys_dir or harness.trusted_keys()]
        cmd += ["--defs", self.defs_path or harness.defs_package()]
        return cmd + self.extra_args


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def check_sanitizers(test, d):
    """Stop the daemon cleanly (a sanitizer build reports leaks at exit) and fail the test
    if any of its runs reported a sanitizer error."""
    if d.proc is not None:
        d.stop()
    for i in range(len(d.logs)):
        text = d.log(i)
        for mark in SANITIZER_MARKS:
            if mark in text:
                test.fail("palisaded run %d reported %r:\n%s" % (i, mark, text[-6000:]))


class RemediationTest(unittest.TestCase):
    """A fresh daemon per test in self.d; helpers for trees and the quarantine."""

    daemon_kwargs = {}

    def setUp(self):
        require_root()
        self.d = RemDaemon(**self.daemon_kwargs)
        self.addCleanup(self.d.cleanup)
        self.addCleanup(check_sanitizers, self, self.d)
        self.d.start()
        self.c = self.d.client()
        self.addCleanup(lambda: self.c.close())

    def restart(self):
        """Stop the daemon (SIGTERM) if it runs, start it again and reconnect self.c."""
        self.c.close()
        if self.d.proc is not None:
            self.d.stop()
        self.d.start()
        self.c = self.d.client()

    def write(self, path, data, uid=0, gid=0, mode=0o644, mtime_ns=None):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        if mtime_ns is not None:
            os.utime(path, ns=(mtime_ns - 7_000_000_001, mtime_ns))
        return path

    def items(self):
        return self.c.result("quarantine.list")["items"]

    def item_for(self, path):
        hits = [i for i in self.items() if i["original_path"] == path]
        self.assertEqual(len(hits), 1, "quarantine items for %s: %r" % (path, hits))
        return hits[0]

    def error(self, op, args=None):
        resp = self.c.call(op, args)
        self.assertIn("error", resp, "%s should have failed: %r" % (op, resp))
        return resp["error"]

    def assert_quarantine_consistent(self):
        """Every record has its stored file and every stored file its record; nothing
        temporary; the directory and its files are private."""
        qdir = quarantine_dir(self.d)
        st = os.lstat(qdir)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        names = set(os.listdir(qdir))
        self.assertEqual([n for n in names if n.endswith(".tmp")], [])
        stored = {r[0] for r in db_rows(self.d, "SELECT storage_name FROM quarantine")}
        self.assertEqual(stored, names)
        for n in names:
            self.assertEqual(stat.S_IMODE(os.lstat(os.path.join(qdir, n)).st_mode), 0o600)
        self.assertEqual(db_rows(self.d, "SELECT id FROM file_ops WHERE state = 'Pending'"), [])


def main():
    harness.main()


# ---- the unprivileged attacker --------------------------------------------------------------

ATTACKER_CODE = r'''
import os, sys, random, time
os.umask(0o022)
base = sys.argv[1]              # the attacker's own directory (it owns everything below)
content = bytes.fromhex(sys.argv[2])

def p(rel):
    return os.path.join(base, rel)

def replace(rel):               # a new inode with the same content under the same name
    tmp = p(rel) + ".new"
    with open(tmp, "wb") as f:
        f.write(content)
    os.rename(tmp, p(rel))

def swapdir(rel, victim):       # the directory becomes a symlink to the victim
    os.rename(p(rel), p(rel) + ".real")
    os.symlink(victim, p(rel))

def unswapdir(rel):
    if os.path.islink(p(rel)):
        os.unlink(p(rel))
    if os.path.isdir(p(rel) + ".real"):
        os.rename(p(rel) + ".real", p(rel))

def linkfile(rel, target):      # the file becomes a symlink to the victim's file
    tmp = p(rel) + ".lnk"
    os.symlink(target, tmp)
    os.rename(tmp, p(rel))

def ensure(rel):                # real directories down to a regular file
    parts = rel.split("/")
    for i in range(1, len(parts)):
        unswapdir("/".join(parts[:i]))
    if os.path.islink(p(rel)) or not os.path.exists(p(rel)):
        replace(rel)

def chaos(n, seed, reldir, relfile, victim):
    rnd = random.Random(seed)
    counts = {"swaps": 0, "replaces": 0, "links": 0, "errors": 0}
    for _ in range(n):
        try:
            ensure(relfile)
            time.sleep(rnd.random() * 0.003)
            r = rnd.random()
            if r < 0.5:
                swapdir(reldir, victim); counts["swaps"] += 1
                time.sleep(rnd.random() * 0.003)
                unswapdir(reldir)
            elif r < 0.85:
                replace(relfile); counts["replaces"] += 1
            else:
                linkfile(relfile, os.path.join(victim, os.path.basename(relfile)))
                counts["links"] += 1
                time.sleep(rnd.random() * 0.003)
        except OSError:
            counts["errors"] += 1
    try:
        ensure(relfile)
    except OSError:
        counts["errors"] += 1
    return " ".join("%s=%d" % kv for kv in sorted(counts.items()))

for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    try:
        if cmd[0] == "chaos":
            out = chaos(int(cmd[1]), int(cmd[2]), cmd[3], cmd[4], cmd[5])
        else:
            {"replace": replace, "swapdir": swapdir, "unswapdir": unswapdir,
             "linkfile": linkfile, "ensure": ensure}[cmd[0]](*cmd[1:])
            out = "ok"
    except (OSError, KeyError, TypeError) as e:
        out = "error %r" % e
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
'''


def python_for_nobody():
    """An interpreter nobody can run (a pyenv under /root is not one)."""
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if os.path.isfile(cand) and not cand.startswith("/root/"):
            return cand
    raise unittest.SkipTest("no python3 that nobody can run")


class Attacker:
    """A process running as nobody (its real, effective and saved uid) that rearranges its
    own directory base/ on command: swap a directory for a symlink, replace a file with a
    new inode, turn a file into a symlink, or do all of that at random in a loop."""

    def __init__(self, base, content):
        uid, gid = nobody_ids()
        self.proc = subprocess.Popen(
            [python_for_nobody(), "-B", "-c", ATTACKER_CODE, base, content.hex()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, user=uid, group=gid,
            extra_groups=[], cwd="/")

    def do(self, *cmd):
        self.proc.stdin.write(" ".join(str(c) for c in cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if line != "ok":
            raise AssertionError("attacker %s: %r" % (cmd, line))
        return line

    def chaos_start(self, n, seed, reldir, relfile, victim):
        """Start a chaos run without waiting; chaos_wait() returns its summary."""
        self.proc.stdin.write("chaos %d %d %s %s %s\n" % (n, seed, reldir, relfile, victim))
        self.proc.stdin.flush()

    def chaos_wait(self):
        return self.proc.stdout.readline().strip()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)
