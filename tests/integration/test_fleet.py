"""test_fleet.py — many hosts from one console (issue 15): PowerShell remoting over SSH.

Three hosts are three real sshd (Debian's openssh-server) on loopback addresses
127.0.0.1-3, one port, each with its own host key, key-only authentication (the test's
generated client key), the pwsh `powershell` subsystem, and `SetEnv` giving the remote
session its own agent (PALISADE_SOCKET) and the staged Palisade module (PSModulePath); each
sshd stands in front of its own palisaded. 127.0.0.4 on the same port has nothing listening:
an unreachable host. What an administrator does from one pwsh:

- Get-PalisadeFleetStatus -HostName 127.0.0.1..4: one row per host, in order; the host that
  was given a threat (an EICAR scan) shows 1 threat in the last day, the others 0; each row's
  signature version and health issues are its own agent's; the unreachable host is a row
  with its error, never left out; the rows render with the module's table view;
- Invoke-Command -HostName h1,h2,h3 { Get-AgentStatus }: Deserialized.Palisade.AgentStatus
  objects that render with the module's list view (not the default list of every property);
- errors come back as ErrorRecords with the module's error ids (NotFound, Unavailable);
- Start-Scan's progress (Write-Progress) reaches the client (a remoting job's Progress).

Needs root (sshd's privilege separation), sshd, ssh-keygen, ssh and pwsh: scripts/bootstrap
installs them; a missing one fails the test. sshd wants its privilege-separation directory
/run/sshd, which the openssh-server service would create: the test creates it (empty, root's,
0755) when it is missing and leaves it.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import harness

SSHD = "/usr/sbin/sshd"
PWSH = os.environ.get("PAL_PWSH") or os.path.expanduser("~/.dotnet/tools/pwsh")
HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
DOWN = "127.0.0.4"


def need(path):
    if not (path and os.path.exists(path)):
        raise AssertionError("%s is missing (scripts/bootstrap installs it)" % path)
    return path


def free_port():
    """A port free on 127.0.0.1-4 (bound and released on each)."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        ok = True
        for addr in HOSTS + [DOWN]:
            t = socket.socket()
            try:
                t.bind((addr, port))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return port
    raise AssertionError("no free port on 127.0.0.1-4")


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, timeout=kw.pop("timeout", 60), **kw)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s\n%s" % (cmd, p.returncode,
                                                     p.stdout.decode(errors="replace"),
                                                     p.stderr.decode(errors="replace")))
    return p


class FleetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("the fleet test runs sshd and needs root (CI runs as root)")
        need(SSHD)
        need(shutil.which("ssh-keygen"))
        need(shutil.which("ssh"))
        need(PWSH)
        cls.module_dir = harness.env_path("PAL_PSMODULE_DIR")
        cls.daemons, cls.sshd = [], []
        cls.tmp = tempfile.mkdtemp(prefix="pal-fleet.")
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        os.chmod(cls.tmp, 0o700)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        cls.key = os.path.join(cls.tmp, "client_ed25519")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "palisade-fleet-test",
             "-f", cls.key])
        auth = os.path.join(cls.tmp, "authorized_keys")
        shutil.copy(cls.key + ".pub", auth)
        os.chmod(auth, 0o600)
        cls.port = free_port()
        cls.known_hosts = os.path.join(cls.tmp, "known_hosts")
        known = []
        for i, addr in enumerate(HOSTS):
            d = harness.Daemon()
            cls.daemons.append(d)
            d.start()
            hdir = os.path.join(cls.tmp, "h%d" % (i + 1))
            os.mkdir(hdir, 0o700)
            hostkey = os.path.join(hdir, "ssh_host_ed25519_key")
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostkey])
            with open(hostkey + ".pub") as f:
                known.append("[%s]:%d %s" % (addr, cls.port, " ".join(f.read().split()[:2])))
            conf = os.path.join(hdir, "sshd_config")
            with open(conf, "w") as f:
                f.write("\n".join([
                    "ListenAddress %s:%d" % (addr, cls.port),
                    "HostKey %s" % hostkey,
                    "PidFile %s" % os.path.join(hdir, "sshd.pid"),
                    "AuthorizedKeysFile %s" % auth,
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",  # the keys live under /tmp (world-writable): its mode would refuse them
                    "Subsystem powershell %s -sshs -NoLogo" % PWSH,
                    # the remote session's agent and module: this host's own
                    "SetEnv PALISADE_SOCKET=%s PSModulePath=%s"
                    % (d.socket, os.path.dirname(cls.module_dir)),
                    ""]))
            run([SSHD, "-t", "-f", conf])
            log = open(os.path.join(hdir, "sshd.log"), "wb")
            p = subprocess.Popen([SSHD, "-D", "-e", "-f", conf], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log)
            log.close()
            cls.sshd.append(p)
            deadline = time.monotonic() + 30
            while True:
                if p.poll() is not None:
                    with open(os.path.join(hdir, "sshd.log"), "rb") as f:
                        raise AssertionError("sshd exited: " + f.read().decode(errors="replace"))
                try:
                    socket.create_connection((addr, cls.port), timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError("sshd on %s:%d does not listen" % (addr, cls.port))
                    time.sleep(0.1)
        with open(cls.known_hosts, "w") as f:
            f.write("\n".join(known) + "\n")
        # the second host is given a threat: an EICAR file found (and quarantined) by a scan
        d2 = cls.daemons[1]
        root = d2.path("infected")
        os.makedirs(root)
        with open(os.path.join(root, "eicar.com"), "wb") as f:
            f.write(harness.eicar())
        res, _ = d2.scan([root])
        assert res["threats_found"] == 1, res
        cls.scan_dir = d2.path("progress")
        os.makedirs(cls.scan_dir)
        for k in range(20):
            with open(os.path.join(cls.scan_dir, "f%02d.txt" % k), "w") as f:
                f.write("clean %d\n" % k)

    @classmethod
    def tearDownClass(cls):
        for p in cls.sshd:
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for d in cls.daemons:
            d.cleanup()
            if d.final_reports or d.final_rc not in (None, 0):
                raise AssertionError("palisaded ended badly: %s\n%s"
                                     % (d.final_rc, d.final_log[-3000:]))
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def pwsh(self, body):
        """Run body in a pwsh with the staged module imported and $Conn (the ssh settings
        every remote call uses) defined; body sets $Result, which comes back parsed."""
        script = """
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Import-Module (Join-Path '%(mod)s' 'Palisade.psd1')
$Opts = @{ UserKnownHostsFile = '%(kh)s'; GlobalKnownHostsFile = '/dev/null';
           StrictHostKeyChecking = 'yes'; BatchMode = 'yes'; ConnectTimeout = '20' }
$Conn = @{ UserName = 'root'; KeyFilePath = '%(key)s'; Port = %(port)d; Options = $Opts }
%(body)s
$Result | ConvertTo-Json -Depth 6 | Set-Content -LiteralPath '%(out)s'
""" % {"mod": self.module_dir, "kh": self.known_hosts, "key": self.key, "port": self.port,
       "body": body, "out": os.path.join(self.tmp, "result.json")}
        env = dict(os.environ)
        env.pop("PALISADE_SOCKET", None)
        p = subprocess.run([PWSH, "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", "-"],
                           input=script.encode(), capture_output=True, timeout=300, env=env)
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, "pwsh failed:\n%s\n%s" % (out, p.stderr.decode(
            errors="replace")))
        with open(os.path.join(self.tmp, "result.json"), encoding="utf-8-sig") as f:
            return json.load(f)

    def test_fleet_status_summarises_every_host(self):
        doc = self.pwsh("""
$rows = @(Get-PalisadeFleetStatus -HostName 127.0.0.1, 127.0.0.2, 127.0.0.3, 127.0.0.4 @Conn -ThrottleLimit 4)
$table = $rows | Format-Table | Out-String -Width 250
$Result = @{ rows = $rows; table = $table; types = @($rows | ForEach-Object { $_.PSObject.TypeNames[0] }) }
""")
        rows = doc["rows"]
        self.assertEqual([r["ComputerName"] for r in rows], HOSTS + [DOWN])
        self.assertEqual(doc["types"], ["Palisade.FleetHostStatus"] * 4)
        for i, r in enumerate(rows[:3]):
            st = self.daemons[i].cli_json("status")
            with self.subTest(host=HOSTS[i]):
                self.assertTrue(r["Reachable"], r)
                self.assertTrue(r["AgentRunning"], r)
                self.assertEqual(r["Error"], "", r)
                self.assertEqual(r["SignatureVersion"], st["signature_version"])
                self.assertEqual(r["SignatureAgeDays"], st["signature_age_days"])
                self.assertEqual(r["RealTimeProtection"], st["real_time_protection"])
                self.assertEqual(sorted(r["HealthIssues"] or []),
                                 sorted(i["id"] for i in st["health_issues"]))
                self.assertEqual(r["Protected"], not st["health_issues"])
                self.assertEqual(r["ThreatsLastDay"], 1 if i == 1 else 0, r)
        down = rows[3]
        self.assertFalse(down["Reachable"], down)
        self.assertIsNone(down["AgentRunning"])
        self.assertFalse(down["Protected"])
        self.assertTrue(down["Error"], down)
        self.assertRegex(down["Error"], r"(?i)refused|connect|ssh")
        # the table view: its own headings, one line per host
        table = doc["table"]
        self.assertRegex(table, r"ComputerName\s+Protected\s+Signatures\s+RealTime\s+Threats24h")
        for h in HOSTS + [DOWN]:
            self.assertIn(h, table)

    def test_remote_objects_render_with_the_module_views(self):
        doc = self.pwsh("""
$st = @(Invoke-Command -HostName 127.0.0.1, 127.0.0.2, 127.0.0.3 @Conn { Get-AgentStatus })
$th = @(Invoke-Command -HostName 127.0.0.2 @Conn { Get-ThreatHistory })
$Result = @{
  types   = @($st | ForEach-Object { $_.PSObject.TypeNames[0] })
  hosts   = @($st | ForEach-Object { $_.PSComputerName } | Sort-Object)
  sig     = @($st | ForEach-Object { $_.SignatureVersion })
  list    = ($st[0] | Format-List | Out-String -Width 250)
  issues  = @($st[0].HealthIssues | ForEach-Object { $_.Id })
  thtype  = $th[0].PSObject.TypeNames[0]
  thtable = ($th | Format-Table | Out-String -Width 250)
  threat  = $th[0].ThreatName
}
""")
        self.assertEqual(doc["types"], ["Deserialized.Palisade.AgentStatus"] * 3)
        self.assertEqual(doc["hosts"], HOSTS)
        # the list view: its labels (LastQuickScan is a view-only label), not every property
        # (ScanEngine and ContentProcessStartedAt are on the object but not in the view)
        self.assertRegex(doc["list"], r"(?m)^RealTimeProtection\s+: Disabled \(disabled by the environment variable ")
        self.assertRegex(doc["list"], r"(?m)^HealthIssues\s+: NoRecentFullScan: ")
        self.assertNotIn("ScanEngine", doc["list"])
        self.assertNotIn("ContentProcessStartedAt", doc["list"])
        self.assertIn("NoRecentFullScan", doc["issues"])
        self.assertEqual(doc["thtype"], "Deserialized.Palisade.ThreatDetection")
        self.assertEqual(doc["threat"], harness.EICAR_THREAT)
        self.assertRegex(doc["thtable"], r"DetectedAt\s+ThreatName\s+Severity\s+Action\s+ActionResult")
        self.assertNotIn("Sha256", doc["thtable"])

    def test_remote_errors_are_error_records_with_the_module_ids(self):
        doc = self.pwsh("""
$ErrorActionPreference = 'Continue'
$e1 = $null; $e2 = $null
Invoke-Command -HostName 127.0.0.1 @Conn { Remove-QuarantineItem -Id 999999 -Confirm:$false } -ErrorVariable e1 -ErrorAction SilentlyContinue
Invoke-Command -HostName 127.0.0.3 @Conn { Get-AgentStatus -Socket /nonexistent/palisaded.sock } -ErrorVariable e2 -ErrorAction SilentlyContinue | Out-Null
$Result = @{
  e1record = $e1[0] -is [System.Management.Automation.ErrorRecord]; e1id = $e1[0].FullyQualifiedErrorId; e1cat = [string]$e1[0].CategoryInfo.Category
  e1host = $e1[0].OriginInfo.PSComputerName
  e2id = $e2[0].FullyQualifiedErrorId; e2msg = $e2[0].ToString()
  e2advice = [string]$e2[0].ErrorDetails.RecommendedAction
}
""")
        self.assertTrue(doc["e1record"], doc)
        self.assertEqual(doc["e1id"], "NotFound,Remove-QuarantineItem")
        self.assertEqual(doc["e1cat"], "ObjectNotFound")
        self.assertEqual(doc["e1host"], "127.0.0.1")
        self.assertEqual(doc["e2id"], "Unavailable,Get-AgentStatus")
        self.assertIn("/nonexistent/palisaded.sock", doc["e2msg"])
        self.assertIn("palisaded", doc["e2advice"])

    def test_scan_progress_reaches_the_client(self):
        doc = self.pwsh("""
$job = Invoke-Command -HostName 127.0.0.2 @Conn { Start-Scan -Path '%s' } -AsJob
$r = $job | Wait-Job -Timeout 240 | Receive-Job
$p = @($job.ChildJobs[0].Progress)
$job | Remove-Job -Force
$Result = @{ status = $r.Status; files = $r.FilesScanned; type = $r.PSObject.TypeNames[0]
   activities = @($p | ForEach-Object { $_.Activity } | Sort-Object -Unique)
   states = @($p | ForEach-Object { $_.StatusDescription }) }
""" % self.scan_dir)
        self.assertEqual(doc["status"], "Completed")
        self.assertEqual(doc["files"], 20)
        self.assertEqual(doc["type"], "Deserialized.Palisade.ScanResult")
        self.assertTrue(doc["activities"], doc)
        self.assertIn("Starting", doc["states"])
        self.assertIn("Done", doc["states"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
