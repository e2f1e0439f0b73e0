"""test_events.py — the security events a SIEM takes as they are (issue 15), end to end:

- a real rsyslogd (Debian's package) started on a temporary configuration receives the
  agent's RFC 5424 records over UDP, TCP (octet-counting framing) and a Unix datagram socket,
  parses them with its own RFC 5424 parser and writes what it parsed (APP-NAME, MSGID,
  structured data, MSG...) to a file; the test checks every field of every kind of event a
  real palisaded emits while the test drives it: a scan finding EICAR (detection,
  remediation, the ClamAV-form line, scan start and end), restore, allowed threat added and
  removed, a detached scan, the content process killed with SIGKILL (crash, restart), a
  policy change applied by SIGHUP and a broken one refused, a signature update (and a refused
  one), a buffer scan;
- a file whose name holds a newline, ']', '"', '\\' and a byte that is not UTF-8 still gives
  exactly one well-framed record per event, its display form in `path` and its exact bytes
  in `path_hex`;
- the journal: the daemon runs in a private mount namespace where /run/systemd is a
  directory of the test, whose journal/socket is a datagram socket the test reads; the
  test parses the journal's native protocol (KEY=value lines and the binary length form)
  and checks MESSAGE_ID, the fields and the path's exact bytes.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import remediation_helpers as rh  # noqa: E402

SD_ID = "palisade@32473"
MESSAGE_IDS = {
    "detection": "087895bc9ed842b9aac374022c165c57",
    "remediation": "91a6f4a5c3834bf1b0fbade86180e75c",
    "restore": "feac1ddd5f6344d99fbf812e11d0ee97",
    "allowed-threat-added": "7152cda5a45c46269e05b26a8f9332ee",
    "allowed-threat-removed": "8d092b8897ae4a8090c5625ccc63c0bc",
    "scan-started": "8821212941264389b06991a1df37a58b",
    "scan-finished": "7705966055f4498686fc0f93e352f16a",
    "content-process-started": "24d6b293e9ea4d3aae4b71c3499ca107",
    "content-process-crashed": "ab886eccef96405cb4394d6f469ded3c",
    "content-process-killed": "90089553a92147c08aafd9fc13b29fca",
    "content-process-degraded": "3fecf511fda74bd0920d5eec6a3eda86",
    "policy-applied": "da86f32456fd42a7b418102d15bcc5b1",
    "policy-error": "875bf16f3a9d47d7ab07cfa9c1f3035b",
    "signature-update": "fc97b2ccd11e4142ace5d98b48b01635",
}
CLAMAV_MESSAGE_ID = "3270548d8e434929b8458aef1ea6d316"
EVIL_NAME = b'evil\n]"\\ \xff\xfe name.com'
RFC5424_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- the display form (agent/util/display.h), decoded -------------------------------------

CTRL = {"\\": 0x5C, "a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, "e": 27}


def undisplay(text):
    """The bytes a display form stands for (display.h's notation is reversible)."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        n = text[i + 1]
        if n in CTRL:
            out.append(CTRL[n])
            i += 2
        elif n == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif n == "u":
            out += chr(int(text[i + 2:i + 6], 16)).encode("utf-8")
            i += 6
        else:
            raise AssertionError("bad escape in display form %r" % text)
    return bytes(out)


# ---- RFC 5424 structured data, parsed strictly -------------------------------------------

def parse_sd(sd):
    """[ID k="v" ...][...] -> {ID: [(k, v), ...]}; AssertionError on anything malformed."""
    out = {}
    i = 0
    if sd == "-":
        return out
    while i < len(sd):
        assert sd[i] == "[", "SD element does not start with [: %r" % sd[i:]
        j = i + 1
        while sd[j] not in " ]":
            j += 1
        sd_id = sd[i + 1:j]
        params = []
        i = j
        while sd[i] == " ":
            j = sd.index("=", i)
            name = sd[i + 1:j]
            assert re.fullmatch(r'[!-~]{1,32}', name) and not set(name) & set('= ]"'), name
            assert sd[j + 1] == '"', "value of %s is not quoted" % name
            k = j + 2
            val = []
            while sd[k] != '"':
                if sd[k] == "\\" and sd[k + 1] in '"\\]':
                    val.append(sd[k + 1])
                    k += 2
                else:
                    assert sd[k] != "]", "unescaped ] in the value of %s" % name
                    val.append(sd[k])
                    k += 1
            params.append((name, "".join(val)))
            i = k + 1
        assert sd[i] == "]", "SD element not closed: %r" % sd[i:]
        out[sd_id] = params
        i += 1
    return out


# ---- a real rsyslogd ------------------------------------------------------------------------

class RSyslog:
    """rsyslogd -n on a configuration of its own: imudp and imtcp on loopback ports and
    imuxsock on a socket in a temporary directory, every message it parses written as one
    JSON line of its parsed RFC 5424 properties."""

    TEMPLATE = ('template(name="pal" type="list") {\n'
                '  constant(value="{\\"input\\":\\"") property(name="inputname" format="json")\n'
                '  constant(value="\\",\\"pri\\":\\"") property(name="pri")\n'
                '  constant(value="\\",\\"facility\\":\\"") property(name="syslogfacility-text")\n'
                '  constant(value="\\",\\"severity\\":\\"") property(name="syslogseverity-text")\n'
                '  constant(value="\\",\\"version\\":\\"") property(name="protocol-version" '
                'format="json")\n'
                '  constant(value="\\",\\"timestamp\\":\\"") property(name="timereported" '
                'dateFormat="rfc3339" format="json")\n'
                '  constant(value="\\",\\"hostname\\":\\"") property(name="hostname" format="json")\n'
                '  constant(value="\\",\\"app\\":\\"") property(name="app-name" format="json")\n'
                '  constant(value="\\",\\"procid\\":\\"") property(name="procid" format="json")\n'
                '  constant(value="\\",\\"msgid\\":\\"") property(name="msgid" format="json")\n'
                '  constant(value="\\",\\"sd\\":\\"") property(name="structured-data" '
                'format="json")\n'
                '  constant(value="\\",\\"msg\\":\\"") property(name="msg" format="json" '
                'droplastlf="on")\n'
                '  constant(value="\\"}\\n")\n'
                '}\n')

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pal-rsyslog.")
        os.chmod(self.dir, 0o755)
        self.work = os.path.join(self.dir, "work")
        os.mkdir(self.work)
        self.out = os.path.join(self.dir, "records.jsonl")
        self.unix = os.path.join(self.dir, "log.sock")
        self.pidfile = os.path.join(self.dir, "rsyslogd.pid")
        self.udp = free_port(socket.SOCK_DGRAM)
        self.tcp = free_port(socket.SOCK_STREAM)
        conf = os.path.join(self.dir, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write('global(workDirectory="%s" maxMessageSize="64k")\n' % self.work)
            f.write('module(load="imuxsock" SysSock.Use="off")\n')
            f.write('module(load="imudp")\nmodule(load="imtcp")\n')
            f.write('input(type="imuxsock" Socket="%s" UseSpecialParser="off" '
                    'ParseHostname="on" UsePIDFromSystem="off" Annotate="off")\n' % self.unix)
            f.write('input(type="imudp" address="127.0.0.1" port="%d")\n' % self.udp)
            f.write('input(type="imtcp" address="127.0.0.1" port="%d")\n' % self.tcp)
            f.write(self.TEMPLATE)
            f.write('action(type="omfile" file="%s" template="pal")\n' % self.out)
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", self.pidfile],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self):
        """Each input answers a probe (written through rsyslog's own parser) before use."""
        deadline = time.monotonic() + 30
        pending = {"udp", "tcp", "unix"}
        while pending and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("rsyslogd exited: %s" % self.proc.stdout.read())
            for kind in list(pending):
                rec = "<14>1 - - probe - %s - ready" % kind
                try:
                    if kind == "udp":
                        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                            s.sendto(rec.encode(), ("127.0.0.1", self.udp))
                    elif kind == "tcp":
                        with socket.create_connection(("127.0.0.1", self.tcp), 1) as s:
                            s.sendall(b"%d %s" % (len(rec), rec.encode()))
                    else:
                        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                            s.sendto(rec.encode(), self.unix)
                except OSError:
                    continue
            time.sleep(0.2)
            for r in self.records():
                if r["app"] == "probe":
                    pending.discard(r["msgid"])
        if pending:
            raise AssertionError("rsyslogd inputs not ready: %s" % pending)

    def records(self):
        try:
            with open(self.out, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in data.decode("utf-8").splitlines() if line]

    def palisade_records(self):
        return [r for r in self.records() if r["app"] in ("palisaded", "clamd")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


SYSLOG = None


def setUpModule():
    global SYSLOG
    rh.require_root()
    if not shutil.which("rsyslogd"):
        raise unittest.SkipTest("rsyslogd is not installed (scripts/bootstrap installs it)")
    SYSLOG = RSyslog()


def tearDownModule():
    if SYSLOG:
        SYSLOG.stop()


def sd_of(rec):
    """The palisade SD element of an rsyslog record as {name: value} (every name once) and
    the raw list (to see repeated names)."""
    sd = parse_sd(rec["sd"])
    assert list(sd) == [SD_ID], "unexpected SD elements: %r" % rec["sd"]
    params = sd[SD_ID]
    return dict(params), params


class SyslogEvents(harness.DaemonTest):
    """One daemon sending to rsyslog; each test drives some kinds of event."""

    target = "udp"
    start_daemon = False

    def setUp(self):
        super().setUp()
        t = {"udp": "udp:127.0.0.1:%d" % SYSLOG.udp, "tcp": "tcp:127.0.0.1:%d" % SYSLOG.tcp,
             "unix": "unix:" + SYSLOG.unix}[self.target]
        # the target comes by policy, in its own file: a broken site file (the policy test
        # below) does not take it away
        self.d.write_policy("00-events.json", {"EventSyslogTarget": t})
        self.seen = len(SYSLOG.records())
        self.d.start()
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        self.pid = str(self.d.proc.pid)

    def new_records(self):
        return [r for r in SYSLOG.records()[self.seen:] if r["procid"] == self.pid]

    def wait_events(self, pred, what, count=1):
        found = []

        def check():
            found[:] = [r for r in self.new_records() if pred(r)]
            return len(found) >= count
        harness.wait_for(check, what=what)
        return found

    def event(self, kind, **want):
        """The first new record of kind whose SD params include want (waits for it), with
        the checks every record must pass."""
        def pred(r):
            if r["app"] != "palisaded" or r["msgid"] != kind:
                return False
            p, _ = sd_of(r)
            return all(p.get(k) == v for k, v in want.items())
        rec = self.wait_events(pred, "a %s record with %r" % (kind, want))[0]
        p, raw = sd_of(rec)
        self.assertEqual(rec["version"], "1")
        self.assertEqual(rec["hostname"], socket.gethostname())
        self.assertEqual(rec["facility"], "daemon")
        self.assertTrue(rec["timestamp"].startswith(time.strftime("%Y-", time.gmtime())))
        self.assertEqual(p["message_id"], MESSAGE_IDS[kind])
        self.assertEqual(p["event"], kind)
        self.assertEqual(raw[0][0], "message_id")
        self.assertNotIn("\n", rec["msg"])
        self.assertTrue(rec["msg"].strip())
        return rec, p

    def custom_scan(self, root):
        res, _ = self.d.scan([root], client=self.c)
        return res


class TestSyslogOverUdp(SyslogEvents):
    target = "udp"

    def test_scan_detection_remediation_restore_allow(self):
        root = self.make_tree("scan", {"sub/eicar.com": harness.eicar(), "clean.txt": b"x" * 100})
        target = os.path.join(root, "sub", "eicar.com")
        res = self.custom_scan(root)
        self.assertEqual(res["threats"][0]["action"], "Quarantine")
        sid = str(res["scan_id"])
        det_id = str(res["threats"][0]["detection_id"])

        rec, p = self.event("scan-started", scan_id=sid)
        self.assertEqual(rec["severity"], "info")
        self.assertEqual(p["scan_type"], "Custom")
        self.assertEqual(p["root_count"], "1")
        self.assertEqual(p["root"], root)
        self.assertEqual(p["uid"], "0")

        rec, p = self.event("detection", scan_id=sid)
        self.assertEqual(rec["severity"], "warning")
        self.assertEqual(p["origin"], "OnDemand")
        self.assertEqual(p["threat"], harness.EICAR_THREAT)
        self.assertEqual(p["severity"], "Severe")
        self.assertEqual(p["category"], "Virus")
        self.assertEqual(p["path"], target)
        self.assertNotIn("path_hex", p)       # the display form is the bytes themselves
        self.assertNotIn("object", p)         # the file itself matched
        self.assertEqual(p["action"], "Quarantine")
        self.assertEqual(p["result"], "Success")
        self.assertEqual(p["detection_id"], det_id)
        self.assertRegex(p["sha256"], "^[0-9a-f]{64}$")
        self.assertEqual(p["uid"], "0")
        self.assertRegex(p["signature_version"], r"^\d+$")
        self.assertIn(harness.EICAR_THREAT, rec["msg"])

        rec, p = self.event("remediation", detection_id=det_id)
        self.assertEqual(rec["severity"], "notice")
        self.assertEqual((p["action"], p["result"]), ("Quarantine", "Success"))
        self.assertEqual(p["path"], target)
        self.assertEqual(p["threat"], harness.EICAR_THREAT)
        qid = p["quarantine_id"]
        self.assertEqual(p["detail"], "quarantined as item %s" % qid)

        # ClamAV's form, for rules written for clamd: APP-NAME clamd, the line as clamd's
        clam = self.wait_events(lambda r: r["app"] == "clamd", "the ClamAV-form line")[0]
        self.assertEqual(clam["msg"].strip(), "%s: %s FOUND" % (target, harness.EICAR_THREAT))
        self.assertEqual(clam["sd"], "-")
        self.assertEqual(clam["msgid"], "-")
        self.assertEqual(clam["severity"], "warning")
        # the patterns of Wazuh's clamd decoder and rule 52502, and Sigma's keyword form
        self.assertRegex(clam["app"], "^clamd")
        self.assertIn("FOUND", clam["msg"])
        self.assertRegex(clam["msg"], r"^\s*\S.*: \S+ FOUND$")

        rec, p = self.event("scan-finished", scan_id=sid)
        self.assertEqual(p["status"], "Completed")
        self.assertEqual(p["scan_type"], "Custom")
        self.assertEqual(p["files"], "2")
        self.assertEqual(p["threats"], "1")
        self.assertEqual(p["unscannable"], "0")
        self.assertEqual(p["bytes"], str(len(harness.eicar()) + 100))
        self.assertRegex(p["duration_ms"], r"^\d+$")

        # restore: the record says which item went back where
        self.c.result("quarantine.restore", {"id": int(qid)})
        rec, p = self.event("restore", quarantine_id=qid)
        self.assertEqual(p["result"], "Success")
        self.assertEqual(p["path"], target)
        self.assertEqual(p["threat"], harness.EICAR_THREAT)
        self.assertEqual(p["detection_id"], det_id)
        self.assertEqual(p["uid"], "0")
        self.assertEqual(p["pid"], str(os.getpid()))
        self.assertEqual(p["exe"], os.path.realpath(sys.executable))
        self.assertRegex(p["sha256"], "^[0-9a-f]{64}$")
        # a refused restore is an event too
        self.assertIn("error", self.c.call("quarantine.restore", {"id": int(qid)}))
        rec, p = self.event("restore", result="Failed")
        self.assertEqual(p["quarantine_id"], qid)
        self.assertIn("detail", p)
        self.assertEqual(rec["severity"], "err")

        # allowed threats
        self.c.result("allow.add", {"kind": "ThreatName", "value": harness.EICAR_THREAT})
        rec, p = self.event("allowed-threat-added")
        self.assertEqual(p["threat"], harness.EICAR_THREAT)
        self.assertEqual(p["uid"], "0")
        self.c.result("allow.add", {"kind": "Sha256", "value": "ab" * 32})
        rec, p = self.event("allowed-threat-added", sha256="ab" * 32)
        self.assertNotIn("threat", p)
        self.c.result("allow.remove", {"kind": "ThreatName", "value": harness.EICAR_THREAT})
        rec, p = self.event("allowed-threat-removed")
        self.assertEqual(p["threat"], harness.EICAR_THREAT)

        # a scan now: the finding is allowed, a detection with action Allow, no ClamAV line
        # ... (removed above) so it is a threat again; allow it back to see Allow recorded
        self.c.result("allow.add", {"kind": "ThreatName", "value": harness.EICAR_THREAT})
        res = self.custom_scan(target)
        rec, p = self.event("detection", scan_id=str(res["scan_id"]))
        self.assertEqual((p["action"], p["result"]), ("Allow", "Success"))

        st = self.c.result("status")["events"]
        self.assertEqual(st["syslog_target"], "udp:127.0.0.1:%d" % SYSLOG.udp)
        self.assertFalse(st["journal"])
        self.assertEqual(st["dropped"], 0)
        self.assertEqual(st["failed"], 0)
        self.assertGreaterEqual(st["sent_syslog"], 12)

    def test_names_with_bad_bytes_keep_their_framing(self):
        root = self.make_tree("evil", {EVIL_NAME: harness.eicar()})
        target = os.path.join(root.encode(), EVIL_NAME)
        res = self.custom_scan(root)
        sid = str(res["scan_id"])
        rec, p = self.event("detection", scan_id=sid)
        self.assertEqual(bytes.fromhex(p["path_hex"]), target)
        self.assertEqual(undisplay(p["path"]), target)
        self.assertNotIn("\n", p["path"])
        rec, p = self.event("remediation", detection_id=p["detection_id"])
        self.assertEqual(bytes.fromhex(p["path_hex"]), target)
        clam = self.wait_events(lambda r: r["app"] == "clamd", "the ClamAV-form line")[0]
        self.assertTrue(clam["msg"].strip().endswith(" FOUND"))
        self.assertEqual(undisplay(clam["msg"].strip()[:-len(": %s FOUND" % harness.EICAR_THREAT)]),
                         target)
        # exactly the records the scan made, each well formed: nothing split or merged
        self.event("scan-finished", scan_id=sid)
        recs = self.new_records()
        kinds = sorted(r["msgid"] if r["app"] == "palisaded" else "clamd" for r in recs
                       if r["msgid"] != "content-process-started")
        self.assertEqual(kinds, ["clamd", "detection", "remediation", "scan-finished",
                                 "scan-started"])
        for r in recs:
            if r["app"] == "palisaded":
                sd_of(r)

    def test_detached_scan_and_buffer_scan(self):
        root = self.make_tree("det", {"a.txt": b"hello", "b.txt": b"world"})
        sid = self.c.result("scan.start", {"type": "Custom", "paths": [root],
                                           "detach": True})["scan_id"]
        self.c.result("scan.wait", {"scan_id": sid})
        rec, p = self.event("scan-started", scan_id=str(sid))
        rec, p = self.event("scan-finished", scan_id=str(sid))
        self.assertEqual((p["status"], p["files"], p["threats"]), ("Completed", "2", "0"))

        r = self.c.result("scan.buffer", {"content_b64": base64.b64encode(harness.eicar()).decode(),
                                          "name": 'up]"load\\'})
        rec, p = self.event("detection", origin="Buffer")
        self.assertEqual(undisplay(p["path"]).decode(), r["name"])
        self.assertEqual(p["threat"], harness.EICAR_THREAT)
        self.assertEqual(p["action"], "NoAction")
        self.assertEqual(p["result"], "Success")
        self.assertEqual(p["detection_id"], str(r["threats"][0]["detection_id"]))
        self.assertEqual(p["pid"], str(os.getpid()))
        self.assertEqual(p["uid"], "0")
        self.assertEqual(p["exe"], os.path.realpath(sys.executable))
        self.assertNotIn("scan_id", p)

    def test_content_process_policy_and_signature_update(self):
        st = self.c.result("status")
        cp = st["content_process_pid"]
        self.assertTrue(cp, "the content process runs: %r" % st)
        rec, p = self.event("content-process-started", cp_pid=str(cp))
        self.assertEqual(p["status"], "start")
        os.kill(cp, signal.SIGKILL)
        rec, p = self.event("content-process-crashed", cp_pid=str(cp))
        self.assertEqual(rec["severity"], "warning")
        self.assertEqual(p["signal"], "9")
        self.assertEqual(p["signal_name"], "SIGKILL")
        self.assertEqual(p["status"], "crash")
        self.assertIn("detail", p)
        self.event("content-process-started",
                   status="start")  # a new instance (a pid other than cp)
        harness.wait_for(lambda: any(sd_of(r)[0].get("cp_pid") not in (None, str(cp))
                                     for r in self.new_records()
                                     if r["msgid"] == "content-process-started"),
                         what="the restarted content process's event")

        # policy: a change applied by SIGHUP, then a broken file refused
        self.d.write_policy("50-site.json", {"ScanThreads": 2})
        self.d.signal(signal.SIGHUP)
        rec, p = self.event("policy-applied")
        self.assertEqual(p["policy_dir"], self.d.policy_dir)
        self.assertEqual(p["result"], "Success")
        self.d.write_policy("50-site.json", None, raw="{broken")
        self.d.signal(signal.SIGHUP)
        rec, p = self.event("policy-error")
        self.assertEqual(rec["severity"], "err")
        self.assertEqual(p["result"], "Failed")
        self.assertIn("50-site.json", p["detail"])

        # a signature update, and a refused one
        old = self.c.result("status")["signature_version"]
        pkgdir = tempfile.mkdtemp(prefix="pal-evpkg.")
        self.addCleanup(shutil.rmtree, pkgdir, True)
        os.chmod(pkgdir, 0o755)
        pkg = rh.build_package(os.path.join(pkgdir, "new.sig"), old + 1, workdir=pkgdir)
        self.c.result("update", {"path": pkg})
        rec, p = self.event("signature-update", result="Success")
        self.assertEqual(p["signature_version"], str(old + 1))
        self.assertEqual(p["old_signature_version"], str(old))
        self.assertEqual(p["action"], "Install")
        self.assertEqual(p["path"], pkg)
        self.assertEqual(p["uid"], "0")
        self.assertIn("error", self.c.call("update", {"path": os.path.join(pkgdir, "none.sig")}))
        rec, p = self.event("signature-update", result="Failed")
        self.assertNotIn("signature_version", p)
        self.assertIn("detail", p)
        self.assertEqual(rec["severity"], "warning")
        self.c.result("update.rollback")
        rec, p = self.event("signature-update", action="Rollback")
        self.assertEqual((p["result"], p["signature_version"], p["old_signature_version"]),
                         ("Success", str(old), str(old + 1)))


class TestContentProcessKilledAndCrashLoop(SyslogEvents):
    """palisade-cp-selftest's content triggers: a lying answer gets the process killed, and
    objects that crash it make a crash loop (the records name the object)."""

    TRIGGER = b"PALISADE-SELFTEST:"      # agent/cp/selftest.h

    def setUp(self):
        selftest = harness.env_path("PAL_CP_SELFTEST")
        self.daemon_kwargs = {"extra_args": ["--content-process", selftest],
                              "policy": {"10-test.json": {"ScanThreads": 1}}}
        super().setUp()

    def test_killed_then_degraded(self):
        harness.wait_for(lambda: self.c.result("status")["content_process_pid"],
                         what="the self-test content process")
        root = self.make_tree("bad", {"garbage.bin": self.TRIGGER + b"garbage\n"})
        self.custom_scan(root)
        rec, p = self.event("content-process-killed")
        self.assertEqual(p["status"], "kill-misbehaved")
        self.assertEqual(p["object"], os.path.join(root, "garbage.bin"))
        self.assertEqual(p["signal_name"], "SIGKILL")
        self.assertEqual(rec["severity"], "warning")
        killers = {"k%d.bin" % i: self.TRIGGER + b"crash\n" + b"x" * (100 * i)
                   for i in range(3)}
        root = self.make_tree("killers", killers)
        self.custom_scan(root)
        rec, p = self.event("content-process-crashed",
                            object=os.path.join(root, "k0.bin"))
        self.assertIn(p["status"], ("crash", "exit"))
        rec, p = self.event("content-process-degraded")
        self.assertEqual(rec["severity"], "err")
        self.assertEqual(p["status"], "degraded")
        self.assertIn("detail", p)


class TestSyslogOverTcp(SyslogEvents):
    target = "tcp"

    def test_octet_counted_records_with_bad_bytes(self):
        root = self.make_tree("evil", {EVIL_NAME: harness.eicar()})
        target = os.path.join(root.encode(), EVIL_NAME)
        sid = str(self.custom_scan(root)["scan_id"])
        rec, p = self.event("detection", scan_id=sid)
        self.assertEqual(rec["input"], "imtcp")
        self.assertEqual(bytes.fromhex(p["path_hex"]), target)
        rec, p = self.event("scan-finished", scan_id=sid)
        self.assertEqual(p["threats"], "1")


class TestSyslogOverUnixSocket(SyslogEvents):
    target = "unix"

    def test_datagram_records_with_bad_bytes(self):
        root = self.make_tree("evil", {EVIL_NAME: harness.eicar()})
        target = os.path.join(root.encode(), EVIL_NAME)
        sid = str(self.custom_scan(root)["scan_id"])
        rec, p = self.event("detection", scan_id=sid)
        self.assertEqual(rec["input"], "imuxsock")
        self.assertEqual(bytes.fromhex(p["path_hex"]), target)

    def test_clamav_line_switched_off(self):
        self.c.result("config.set", {"name": "EventClamAvCompatible", "value": False})
        root = self.make_tree("one", {"e.com": harness.eicar()})
        sid = str(self.custom_scan(root)["scan_id"])
        self.event("detection", scan_id=sid)
        self.event("scan-finished", scan_id=sid)
        self.assertEqual([r for r in self.new_records() if r["app"] == "clamd"], [])


class TestSyslogTargetSetLive(harness.DaemonTest):
    """EventSyslogTarget as a preference: refused when malformed, put in force at once, and
    a receiver that is gone costs counted failures, never the daemon."""

    def test_target_changes_live(self):
        c = self.d.client()
        self.addCleanup(c.close)
        for bad in ("udp:localhost:514", "tcp:127.0.0.1:99999", "unix:relative", "http://x",
                    "udp:127.0.0.1"):
            err = c.call("config.set", {"name": "EventSyslogTarget", "value": bad})
            self.assertIn("error", err, bad)
            self.assertIn("EventSyslogTarget", err["error"]["message"])
        self.assertIn("error", c.call("config.set", {"name": "EventSyslogFacility",
                                                     "value": "bogus"}))
        gone = self.d.path("nobody-listens.sock")
        c.result("config.set", {"name": "EventSyslogTarget", "value": "unix:" + gone})
        st = c.result("status")["events"]
        self.assertEqual(st["syslog_target"], "unix:" + gone)
        root = self.make_tree("one", {"e.com": harness.eicar()})
        self.d.scan([root], client=c)
        # scan started, detection, remediation, the ClamAV line, scan finished
        harness.wait_for(lambda: c.result("status")["events"]["failed"] >= st["failed"] + 5,
                         what="failed sends counted")
        seen = len(SYSLOG.records())
        c.result("config.set", {"name": "EventSyslogTarget", "value": "unix:" + SYSLOG.unix})
        c.result("config.set", {"name": "EventSyslogFacility", "value": "local3"})
        res, _ = self.d.scan([self.make_tree("two", {"e.com": harness.eicar()})], client=c)
        pid = str(self.d.proc.pid)

        def arrived():
            return [r for r in SYSLOG.records()[seen:] if r["procid"] == pid
                    and r["msgid"] == "scan-finished"
                    and sd_of(r)[0]["scan_id"] == str(res["scan_id"])]
        harness.wait_for(arrived, what="the scan's end through the new target")
        self.assertEqual(arrived()[0]["facility"], "local3")

        # a policy that does not load at start is an event too (the target is a preference,
        # kept in the store across the restart)
        self.d.write_policy("50-site.json", None, raw='{"ScanThreads": ')
        c.close()
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        pid = str(self.d.proc.pid)

        def policy_error():
            return [r for r in SYSLOG.records()[seen:] if r["procid"] == pid
                    and r["msgid"] == "policy-error"]
        harness.wait_for(policy_error, what="the policy error at start")
        p, _ = sd_of(policy_error()[0])
        self.assertEqual(p["result"], "Failed")
        self.assertIn("50-site.json", p["detail"])
        self.assertEqual(p["policy_dir"], self.d.policy_dir)


# ---- the journal's native protocol -----------------------------------------------------------

def parse_native(data):
    """The journal's native protocol: KEY=value\\n, or KEY\\n + 64-bit LE length + bytes +
    \\n. Returns a list of (key, bytes)."""
    out = []
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            out.append((k.decode("ascii"), v))
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + n]
            assert data[nl + 9 + n:nl + 10 + n] == b"\n", "binary field not ended by \\n"
            out.append((line.decode("ascii"), v))
            i = nl + 10 + n
    return out


class JournalDaemon(harness.Daemon):
    """palisaded in a private mount namespace whose /run/systemd is the test's directory."""

    def __init__(self, run_systemd, **kw):
        super().__init__(**kw)
        self.run_systemd = run_systemd

    def command(self):
        return (["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 'mount --bind "$0" /run/systemd && exec "$@"', self.run_systemd]
                + super().command())


class TestJournal(harness.DaemonTest):
    start_daemon = False

    def setUp(self):
        if not os.path.isdir("/run/systemd"):
            self.skipTest("/run/systemd does not exist to mount over")
        self.jdir = tempfile.mkdtemp(prefix="pal-journal.")
        self.addCleanup(shutil.rmtree, self.jdir, True)
        os.makedirs(os.path.join(self.jdir, "journal"))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(self.jdir, "journal", "socket"))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.settimeout(0.2)
        self.entries = []
        self.stop_reader = False
        self.reader = threading.Thread(target=self.read_loop)
        self.reader.start()
        self.addCleanup(self.sock.close)
        self.addCleanup(self.reader.join)
        self.addCleanup(setattr, self, "stop_reader", True)
        super().setUp()
        self.d = JournalDaemon(self.jdir)
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def read_loop(self):
        while not self.stop_reader:
            try:
                data, anc, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(4))
            except socket.timeout:
                continue
            except OSError:
                return
            for level, typ, cdata in anc:      # a large entry comes as a sealed memfd
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    fd = struct.unpack("i", cdata[:4])[0]
                    with os.fdopen(fd, "rb") as f:
                        data = f.read()
            self.entries.append(parse_native(data))

    def entry(self, message_id, **want):
        found = []

        def check():
            for e in self.entries:
                f = dict(e)
                if f.get("MESSAGE_ID") == message_id.encode() and all(
                        f.get(k) == v for k, v in want.items()):
                    found.append(e)
                    return True
            return False
        harness.wait_for(check, what="journal entry %s %r" % (message_id, want))
        return found[0]

    def test_native_protocol_fields_and_exact_path_bytes(self):
        # the daemon found the journal: syslog is off ("auto"), the journal on
        with self.d.client() as c:
            st = c.result("status")["events"]
            self.assertTrue(st["journal"])
            self.assertEqual(st["syslog_target"], "off")
            root = self.make_tree("evil", {EVIL_NAME: harness.eicar()})
            res, _ = self.d.scan([root], client=c)
        target = os.path.join(root.encode(), EVIL_NAME)
        sid = str(res["scan_id"]).encode()
        e = self.entry(MESSAGE_IDS["detection"], PALISADE_SCAN_ID=sid)
        keys = [k for k, _ in e]
        self.assertEqual(len(keys), len(set(keys)), "a field sent twice: %r" % keys)
        f = dict(e)
        self.assertEqual(f["PALISADE_EVENT"], b"detection")
        self.assertEqual(f["SYSLOG_IDENTIFIER"], b"palisaded")
        self.assertEqual(f["PRIORITY"], b"4")
        self.assertEqual(f["SYSLOG_FACILITY"], b"3")
        self.assertEqual(f["PALISADE_THREAT"], harness.EICAR_THREAT.encode())
        self.assertEqual(f["PALISADE_SEVERITY"], b"Severe")
        self.assertEqual(f["PALISADE_ORIGIN"], b"OnDemand")
        self.assertEqual(f["PALISADE_ACTION"], b"Quarantine")
        self.assertEqual(f["PALISADE_RESULT"], b"Success")
        self.assertEqual(f["PALISADE_PATH_BYTES"], target)     # exact, newline and all
        self.assertEqual(undisplay(f["PALISADE_PATH"].decode("utf-8")), target)
        self.assertNotIn(b"\n", f["PALISADE_PATH"])
        self.assertNotIn("PALISADE_PATH_HEX", f)               # syslog's form only
        self.assertNotIn(b"\n", f["MESSAGE"])
        self.assertIn(b"Severe", f["MESSAGE"])
        # the ClamAV-form entry, under clamd's identifier
        c = dict(self.entry(CLAMAV_MESSAGE_ID, PALISADE_SCAN_ID=sid))
        self.assertEqual(c["SYSLOG_IDENTIFIER"], b"clamd")
        self.assertEqual(c["MESSAGE"], f["PALISADE_PATH"] + b": "
                         + harness.EICAR_THREAT.encode() + b" FOUND")
        self.assertEqual(c["PALISADE_DETECTION_ID"], f["PALISADE_DETECTION_ID"])
        r = dict(self.entry(MESSAGE_IDS["remediation"],
                            PALISADE_DETECTION_ID=f["PALISADE_DETECTION_ID"]))
        self.assertEqual(r["PALISADE_PATH_BYTES"], target)
        self.assertRegex(r["PALISADE_QUARANTINE_ID"], rb"^\d+$")
        s = dict(self.entry(MESSAGE_IDS["scan-finished"], PALISADE_SCAN_ID=sid))
        self.assertEqual(s["PALISADE_STATUS"], b"Completed")
        self.assertEqual(s["PALISADE_THREATS"], b"1")
        self.entry(MESSAGE_IDS["scan-started"], PALISADE_SCAN_ID=sid)
        self.entry(MESSAGE_IDS["content-process-started"])
        with self.d.client() as c:
            st = c.result("status")["events"]
        self.assertEqual(st["failed"], 0)
        self.assertEqual(st["dropped"], 0)
        self.assertGreaterEqual(st["sent_journal"], 6)


if __name__ == "__main__":
    harness.main()
