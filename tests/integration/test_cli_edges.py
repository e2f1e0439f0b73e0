#!/usr/bin/env python3
"""The palisade CLI's rough edges (issue 14), run the way an administrator runs them: the
real CLI against a real palisaded. Per-command help for every command; --json errors as
one JSON document on stdout; status showing the last scan in words; advice naming commands
that exist; every detection logged one by one whatever its action (NoAction, Allow); a
restore recorded in the threat history; `allow add --threat` checked against the catalog;
and `palisade scan --help` typed in a tmux terminal."""
import json
import os
import re
import subprocess

import harness

EICAR_THREAT = harness.EICAR_THREAT

# Every command of `palisade` (main.c's table): the test fails if `palisade help` lists one
# that is not here, so a new command cannot go without help.
COMMANDS = ["scan", "threats", "status", "scans", "config", "sandbox", "exclusion",
            "quarantine", "allow", "action", "update", "diagnostics", "events", "catalog", "help",
            "jobs", "wait", "cancel", "metrics", "rtp"]


def run_cli(*args, **kw):
    env = dict(os.environ)
    env.pop("PALISADE_SOCKET", None)
    p = subprocess.run([harness.cli_path()] + list(args), capture_output=True,
                       timeout=harness.IO_TIMEOUT, env=env, stdin=subprocess.DEVNULL, **kw)
    reports = harness.sanitizer_reports(p.stderr.decode("utf-8", "replace"))
    if reports:
        raise AssertionError("sanitizer report from palisade %s:\n%s" % (args, reports))
    return p


def json_error(test, p, code):
    """p printed exactly one {"error": {"code", "message"}} document on stdout, exit 2."""
    test.assertEqual(p.returncode, 2, p)
    doc = json.loads(p.stdout)
    test.assertEqual(set(doc), {"error"}, doc)
    test.assertEqual(set(doc["error"]), {"code", "message"}, doc)
    test.assertEqual(doc["error"]["code"], code, doc)
    test.assertTrue(doc["error"]["message"], doc)
    return doc["error"]


class HelpTest(harness.DaemonTest):
    """Help needs no agent: none is started."""
    start_daemon = False

    def test_every_command_answers_help(self):
        p = run_cli("help")
        self.assertEqual(p.returncode, 0, p)
        listed = set(re.findall(rb"^  ([a-z]+)[ \n]", p.stdout, re.M))
        self.assertEqual({c.decode() for c in listed}, set(COMMANDS), p.stdout.decode())
        for cmd in COMMANDS:
            with self.subTest(cmd=cmd):
                a = run_cli(cmd, "--help", "--socket", "/nonexistent")
                b = run_cli("help", cmd)
                c = run_cli(cmd, "-h")
                for q in (a, b, c):
                    self.assertEqual(q.returncode, 0, q)
                    self.assertEqual(q.stderr, b"", q)
                text = a.stdout.decode()
                self.assertTrue(text.startswith("usage: palisade " + cmd), text)
                self.assertIn("example", text)
                self.assertIn("palisade " + cmd, text.split("\nexample")[1])
                self.assertEqual(a.stdout, b.stdout)
                self.assertEqual(a.stdout, c.stdout)
                if cmd != "help":
                    self.assertIn("options:", text)
                    self.assertRegex(text, r"Admin only|Any\s+local user")
        # after "--", --help is a path to scan, not a request for help
        p = run_cli("--socket", "/nonexistent", "scan", "--", "--help")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"Unavailable", p.stderr)
        p = run_cli("help", "nosuchcommand")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, b"")
        self.assertIn(b"nosuchcommand", p.stderr)

    def test_json_errors_without_agent(self):
        e = json_error(self, run_cli("--json", "--socket", "/nonexistent", "status"),
                       "Unavailable")
        self.assertIn("/nonexistent", e["message"])
        json_error(self, run_cli("--socket", "/nonexistent", "status", "--json"), "Unavailable")
        json_error(self, run_cli("--json", "nosuchcommand"), "Usage")
        json_error(self, run_cli("--json", "scan", "--bogus"), "Usage")
        json_error(self, run_cli("--json", "--socket"), "Usage")
        json_error(self, run_cli("--json", "config", "set", "X"), "Usage")
        # text mode is unchanged: stderr, nothing on stdout
        p = run_cli("--socket", "/nonexistent", "status")
        self.assertEqual((p.returncode, p.stdout), (2, b""))
        self.assertIn(b"palisade: Unavailable:", p.stderr)


class TerminalHelpTest(harness.DaemonTest):
    """`palisade scan --help` and `palisade help` typed in a real terminal: a shell in a tmux
    pane on a tmux server of the test's own (-L), the screen read back with capture-pane."""
    start_daemon = False

    def tmux(self, *args):
        p = subprocess.run(["tmux", "-L", self.server] + list(args), capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p)
        return p.stdout.decode("utf-8", "replace")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "help")

    def wait_exit(self, tag, what):
        """The screen once the command's exit status is printed on a line of its own (the
        typed command line also holds "TAG=", not at the start of a line)."""
        return harness.wait_for(
            lambda: (lambda s: s if re.search(r"(?m)^%s=\d+$" % tag, s) else None)(self.screen()),
            timeout=30, what=what)

    def test_scan_help_in_a_terminal(self):
        self.server = "pal-cli-help-%d" % os.getpid()
        self.addCleanup(subprocess.run, ["tmux", "-L", self.server, "kill-server"],
                        capture_output=True)
        self.tmux("new-session", "-d", "-s", "help", "-x", "120", "-y", "60",
                  "env -u PALISADE_SOCKET PS1='$ ' sh")
        cli = harness.cli_path()
        self.tmux("send-keys", "-t", "help",
                  "'%s' scan --help; echo \"scan_help=$?\"" % cli, "Enter")
        screen = self.wait_exit("scan_help", "the help on the screen")
        self.assertRegex(screen, r"(?m)^scan_help=0$")
        self.assertIn("usage: palisade scan [--quick | --full] [--detach] [--] [PATH...]", screen)
        self.assertIn("palisade scan ~/Downloads", screen)
        self.assertIn("--full", screen)
        self.assertNotIn("Unavailable", screen)  # help needs no agent
        self.tmux("send-keys", "-t", "help", "'%s' help; echo \"help=$?\"" % cli, "Enter")
        screen = self.wait_exit("help", "the command list on the screen")
        self.assertRegex(screen, r"(?m)^help=0$")
        self.assertIn("commands:", screen)
        for cmd in COMMANDS:
            self.assertRegex(screen, r"(?m)^  %s\b" % cmd)


class AgentEdgesTest(harness.DaemonTest):

    def cli(self, *args, **kw):
        return self.d.cli(*args, **kw)

    def eicar_file(self, name):
        root = self.make_tree(name, {"e.com": harness.eicar()})
        return os.path.join(root, "e.com")

    def test_json_errors_from_the_agent(self):
        p = self.cli("--json", "scan", "/nonexistent")
        self.assertEqual(p.returncode, 2, p)
        doc = json.loads(p.stdout)  # the scan result, with the root it could not scan
        self.assertEqual([r["path"] for r in doc["root_errors"]], ["/nonexistent"], doc)
        self.assertEqual(doc["root_errors"][0]["error"], "not-found")
        json_error(self, self.cli("--json", "quarantine", "restore", "999"), "NotFound")
        json_error(self, self.cli("--json", "config", "get", "NoSuchSetting"), "NotFound")
        if harness.user_exists("nobody"):
            e = json_error(self, self.cli("--json", "threats", user="nobody"), "AccessDenied")
            self.assertTrue(e["message"])
            # what palisade(1) says non-admins may do: status works, the history does not
            self.assertEqual(self.cli("status", user="nobody").returncode, 0)
            self.assertEqual(self.cli("threats", user="nobody").returncode, 2)
            self.assertEqual(self.cli("scans", user="nobody").returncode, 2)

    def test_status_shows_last_scan_in_words(self):
        p = self.cli("status")
        self.assertEqual(p.returncode, 0, p)
        self.assertRegex(p.stdout.decode(), r"(?m)^last_scan:\s+none$")
        f = self.eicar_file("t")
        self.d.keep_threats()
        res, _ = self.d.scan([f])
        p = self.cli("status")
        self.assertEqual(p.returncode, 0, p)
        out = p.stdout.decode()
        line = [ln for ln in out.splitlines() if ln.startswith("last_scan:")]
        self.assertEqual(len(line), 1, out)
        self.assertNotIn("{", line[0])
        self.assertRegex(line[0], r"^last_scan:\s+Custom scan %d: Completed, started "
                         r"\d{4}-\d\d-\d\dT[\d:.]+Z, ended \d{4}-\d\d-\d\dT[\d:.]+Z "
                         r"\([\d.]+ s\), 1 threat$" % res["scan_id"])
        self.assertNotRegex(out, r"(?m)^degraded:\s+\[")
        # JSON keeps the object
        st = self.d.cli_json("status")
        self.assertEqual(st["last_scan"]["scan_id"], res["scan_id"])

    def test_advice_names_real_commands(self):
        for binary in (harness.cli_path(), harness.palisaded()):
            with open(binary, "rb") as fh:
                data = fh.read()
            for bad in (b"config list", b"palisade history", b"palisade threat ",
                        b"threats.list and"):
                self.assertNotIn(bad, data, binary)
        p = self.cli("config", "set", "NoSuchSetting", "1")
        self.assertEqual(p.returncode, 2)
        advice = re.search(rb"`palisade ([a-z ]+)`", p.stderr)
        self.assertIsNotNone(advice, p.stderr)
        q = self.cli(*advice.group(1).decode().split())
        self.assertEqual(q.returncode, 0, q)
        self.assertIn(b"SandboxMode", q.stdout)

    def test_noaction_and_allow_detections_are_logged(self):
        self.d.keep_threats()
        f = self.eicar_file("noaction")
        res, _ = self.d.scan([f])
        (t,) = res["threats"]
        self.assertEqual(t["action"], "NoAction")
        self.assertEqual(self.cli("allow", "add", "--threat", EICAR_THREAT).returncode, 0)
        # an attacker-chosen name: a newline must not forge a log line
        root = self.make_tree("allow", {b"x\nscan 1 detection 999: fake.com": harness.eicar()})
        res2, _ = self.d.scan([root])
        (t2,) = res2["threats"]
        self.assertEqual(t2["action"], "Allow")
        log = self.d.log()
        lines = [ln for ln in log.splitlines() if " detection " in ln and "threat " in ln]
        want1 = ("scan %d detection %d: threat %s severity Severe path %s action NoAction "
                 "result Success" % (res["scan_id"], t["detection_id"], EICAR_THREAT, f))
        self.assertEqual(len([ln for ln in lines if ln.endswith(want1)]), 1, log[-3000:])
        want2 = ("scan %d detection %d: threat %s severity Severe path %s/x\\nscan 1 "
                 "detection 999: fake.com action Allow result Success"
                 % (res2["scan_id"], t2["detection_id"], EICAR_THREAT, root))
        self.assertEqual(len([ln for ln in lines if ln.endswith(want2)]), 1, log[-3000:])
        self.assertFalse([ln for ln in log.splitlines() if ln.startswith("scan 1 detection 999")])

    def test_restore_is_in_the_history(self):
        f = self.eicar_file("q")
        res, _ = self.d.scan([f])
        (t,) = res["threats"]
        self.assertEqual((t["action"], t["action_result"]), ("Quarantine", "Success"))
        self.assertFalse(os.path.exists(f))
        items = self.d.cli_json("quarantine", "list")["items"]
        (item,) = [i for i in items if i["detection_id"] == t["detection_id"]]
        p = self.cli("quarantine", "restore", str(item["id"]))
        self.assertEqual(p.returncode, 0, p)
        self.assertTrue(os.path.exists(f))
        hist = self.d.cli_json("threats")["items"]
        (row,) = [h for h in hist if h["detection_id"] == t["detection_id"]]
        self.assertEqual((row["action"], row["action_result"]), ("Quarantine", "Success"))
        self.assertIsNone(row["quarantine_id"])
        self.assertRegex(row["action_detail"],
                         r"^quarantined as item %d; restored to %s by uid 0 at "
                         r"\d{4}-\d\d-\d\dT[\d:.]+Z$" % (item["id"], re.escape(f)))
        text = self.cli("threats").stdout.decode()
        self.assertIn("DETAIL", text.splitlines()[0])
        self.assertIn("quarantined as item %d; restored to %s" % (item["id"], f), text)

    def test_allow_add_checks_the_catalog(self):
        p = self.cli("allow", "add", "--threat", "Not:A/Real_Threat")
        self.assertEqual(p.returncode, 2, p)
        self.assertIn(b"InvalidValue", p.stderr)
        self.assertIn(b"Not:A/Real_Threat", p.stderr)
        # the advice names a command that runs
        advice = re.search(rb"`palisade ([a-z ]+)`", p.stderr)
        self.assertIsNotNone(advice, p.stderr)
        self.assertEqual(self.cli(*advice.group(1).decode().split()).returncode, 0)
        e = json_error(self, self.cli("--json", "allow", "add", "--threat", "Not:A/Real_Threat"),
                       "InvalidValue")
        self.assertIn("not a threat name of the signature package", e["message"])
        self.assertEqual(self.d.cli_json("allow", "list")["items"], [])
        doc = self.d.cli_json("allow", "add", "--threat", EICAR_THREAT)
        self.assertEqual([i["value"] for i in doc["items"]], [EICAR_THREAT])
        # the allowed list matches names without regard to case: so does the check
        self.assertEqual(self.cli("allow", "remove", "--threat", EICAR_THREAT).returncode, 0)
        self.assertEqual(self.cli("allow", "add", "--threat", EICAR_THREAT.upper()).returncode, 0)
        # a hash needs no catalog
        self.assertEqual(self.cli("allow", "add", "--sha256", "ab" * 32).returncode, 0)


if __name__ == "__main__":
    harness.main()
