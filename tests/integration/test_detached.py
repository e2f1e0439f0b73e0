"""test_detached.py — scans that belong to the agent (issue 14): `scan.start` with
"detach": true, scan.list / scan.get / scan.wait / scan.stop, and the CLI's
`scan --detach`, `jobs`, `wait` and `cancel`, against a real palisaded.

Each scan is held at a chosen file by harness.Gate (a fanotify permission mark on the
file the walker opens first), so "still running" is a fact of the test, not a race:
- the client that started a detached scan is gone (the CLI exited; a protocol client closed
  the connection; a `palisade wait` is killed with SIGKILL), yet another client sees the
  scan Running; released, a third client's scan.wait gets the result with the EICAR threat;
- `palisade cancel ID` ends it Cancelled, and the history says so;
- a fifth detached scan while four run gets Busy, and starts once they ended;
- SIGTERM with a detached scan running records it Cancelled, answers whoever waits for
  it, and the daemon exits 0;
- in a real terminal (tmux, two panes): one pane starts `palisade scan --detach` and is
  closed, the other lists the scan Running and follows it with `palisade wait` to its
  result on the screen.
"""
import json
import os
import re
import shutil
import signal
import subprocess

import harness
from harness import DaemonTest, Gate, EICAR_THREAT


class DetachedTest(DaemonTest):

    def gated_tree(self, name="tree", clean=200):
        files = {"a_gate": b"gate\n", "z_eicar.com": harness.eicar()}
        for i in range(clean):
            files["m_%04d.txt" % i] = b"clean %d\n" % i
        root = self.make_tree(name, files)
        gate = Gate(os.path.join(root, "a_gate"))
        self.addCleanup(gate.close)
        return root, gate

    def start_detached(self, c, root):
        resp = c.call("scan.start", {"type": "Custom", "paths": [root], "detach": True})
        self.assertIn("result", resp, resp)
        return resp["result"]["scan_id"]

    def get(self, scan_id):
        with self.d.client() as c:
            return c.call("scan.get", {"scan_id": scan_id})

    def test_scan_outlives_its_clients_and_a_third_gets_the_result(self):
        root, gate = self.gated_tree()
        # client 1: the CLI starts it and exits (its connection is gone)
        p = self.d.cli("scan", "--detach", root)
        self.assertEqual(p.returncode, 0, p)
        scan_id = int(p.stdout.decode().strip())
        self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")

        # client 2: follows it, then disconnects in the middle of scan.wait
        c2 = self.d.client()
        wait_rid = c2.start("scan.wait", {"scan_id": scan_id})
        # answered on the same connection after scan.wait was dispatched: the wait is live
        got = c2.result("scan.get", {"scan_id": scan_id})
        self.assertEqual(got["status"], "Running", got)
        c2.close()
        # and a `palisade wait` killed outright once the daemon follows the scan for it
        w = subprocess.Popen([harness.cli_path(), "--socket", self.d.socket, "wait",
                              str(scan_id)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        harness.wait_for(lambda: "followed by uid 0 (pid %d)" % w.pid in self.d.log(),
                         what="the daemon to follow the scan for `palisade wait`")
        w.kill()
        w.wait()
        self.assertEqual(w.returncode, -signal.SIGKILL)

        # another client: still Running, in scan.list and scan.get
        with self.d.client() as c3:
            listed = c3.result("scan.list")
            mine = [j for j in listed["items"] if j["scan_id"] == scan_id]
            self.assertEqual(len(mine), 1, listed)
            self.assertEqual(mine[0]["status"], "Running")
            self.assertEqual(mine[0]["paths"], [root])
            got = c3.result("scan.get", {"scan_id": scan_id})
            self.assertEqual(got["status"], "Running")
            self.assertIsNone(got["result"])
            # the history knows it too, as Running
            hist = c3.result("scans.list", {"limit": 1})["items"][0]
            self.assertEqual((hist["scan_id"], hist["status"]), (scan_id, "Running"))
        p = self.d.cli("jobs")
        self.assertEqual(p.returncode, 0, p)
        self.assertRegex(p.stdout.decode(), r"(?m)^%d\s+Custom\s+Running" % scan_id)

        gate.release()
        # a third client waits and gets the result, with the threat
        with self.d.client() as c4:
            rid = c4.start("scan.wait", {"scan_id": scan_id})
            resp, _ = c4.wait(rid)
        res = resp["result"]
        self.assertEqual(res["scan_id"], scan_id)
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["threats_found"], 1)
        self.assertEqual([t["threat"] for t in res["threats"]], [EICAR_THREAT])
        self.assertEqual(res["files_scanned"], 202)
        # the CLI's wait once it ended: the scan's report and exit status 1 (threats)
        doc = self.d.cli_json("wait", str(scan_id), expect_rc=1)
        self.assertEqual(doc["status"], "Completed")
        self.assertEqual([t["threat"] for t in doc["threats"]], [EICAR_THREAT])
        self.assertEqual(self.get(scan_id)["result"]["status"], "Completed")
        with self.d.client() as c:
            hist = c.result("scans.list", {"limit": 1})["items"][0]
        self.assertEqual((hist["scan_id"], hist["status"], hist["threats"]),
                         (scan_id, "Completed", 1))

    def test_cancel_by_id_ends_it_cancelled(self):
        root, gate = self.gated_tree()
        doc = self.d.cli_json("scan", "--detach", root)
        scan_id = doc["scan_id"]
        self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
        p = self.d.cli("cancel", str(scan_id))
        self.assertEqual(p.returncode, 0, p)
        self.assertIn(b"is stopping", p.stdout)
        self.assertTrue(self.get(scan_id)["result"]["stop_requested"])
        gate.release()
        doc = self.d.cli_json("wait", str(scan_id), expect_rc=2)
        self.assertEqual(doc["status"], "Cancelled")
        self.assertEqual(doc["threats"], [])  # cancelled before it reached z_eicar.com
        self.assertTrue(os.path.exists(os.path.join(root, "z_eicar.com")))
        with self.d.client() as c:
            hist = c.result("scans.list", {"limit": 1})["items"][0]
        self.assertEqual((hist["scan_id"], hist["status"]), (scan_id, "Cancelled"))
        # cancelling it again leaves it as it is; an unknown id is NotFound
        p = self.d.cli("cancel", str(scan_id))
        self.assertEqual(p.returncode, 0, p)
        self.assertIn(b"already ended: Cancelled", p.stdout)
        doc = self.d.cli_json("cancel", "999999", expect_rc=2)
        self.assertEqual(doc["error"]["code"], "NotFound")
        for bad in (["cancel"], ["cancel", "x"], ["wait", "-1"], ["jobs", "1", "2"]):
            self.assertEqual(self.d.cli(*bad).returncode, 2, bad)

    def test_at_most_four_detached_scans_then_busy(self):
        trees = [self.gated_tree("t%d" % i, clean=5) for i in range(4)]
        ids = []
        with self.d.client() as c:
            for root, gate in trees:
                ids.append(self.start_detached(c, root))
                self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
            extra = self.make_tree("extra", {"f": b"clean\n"})
            resp = c.call("scan.start", {"type": "Custom", "paths": [extra], "detach": True})
            self.assertEqual(resp["error"]["code"], "Busy", resp)
            self.assertIn("4 detached scans", resp["error"]["message"])
            doc = self.d.cli_json("scan", "--detach", extra, expect_rc=2)
            self.assertEqual(doc["error"]["code"], "Busy")
            # a foreground scan is not one of them
            res, _ = self.d.scan([extra])
            self.assertEqual(res["status"], "Completed")
            running = [j for j in c.result("scan.list")["items"] if j["status"] == "Running"]
            self.assertEqual(sorted(j["scan_id"] for j in running), sorted(ids))
            for _, gate in trees:
                gate.release()
            for scan_id in ids:
                rid = c.start("scan.wait", {"scan_id": scan_id})
                resp, _ = c.wait(rid)
                self.assertEqual(resp["result"]["threats_found"], 1, resp)
            # with those ended, a new one starts
            self.start_detached(c, extra)

    def test_sigterm_records_a_detached_scan_cancelled_and_exits_0(self):
        root, gate = self.gated_tree()
        with self.d.client() as c:
            scan_id = self.start_detached(c, root)
        self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
        waiter = self.d.client()
        self.addCleanup(waiter.close)
        rid = waiter.start("scan.wait", {"scan_id": scan_id})
        self.assertEqual(waiter.result("scan.get", {"scan_id": scan_id})["status"], "Running")
        self.d.signal(signal.SIGTERM)
        harness.wait_for(lambda: "detached scan cancelled" in self.d.log(),
                         what="the daemon to cancel its detached scan")
        gate.release()
        resp, _ = waiter.wait(rid)
        self.assertEqual(resp["result"]["status"], "Cancelled", resp)
        self.assertEqual(resp["result"]["threats"], [])
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        with self.d.client() as c2:
            last = c2.result("scans.list", {"limit": 1})["items"][0]
            self.assertEqual((last["scan_id"], last["status"]), (scan_id, "Cancelled"))
            # a new daemon knows no detached scan of the old one
            self.assertEqual(c2.call("scan.get", {"scan_id": scan_id})["error"]["code"],
                             "NotFound")

    def test_bad_requests(self):
        with self.d.client() as c:
            for args in ({}, {"scan_id": 0}, {"scan_id": "1"}, {"scan_id": 1, "x": 1}):
                for op in ("scan.get", "scan.stop", "scan.wait"):
                    self.assertEqual(c.call(op, args)["error"]["code"], "BadRequest",
                                     (op, args))
            self.assertEqual(c.call("scan.start", {"detach": "yes"})["error"]["code"],
                             "BadRequest")
            self.assertEqual(c.call("scan.list", {"x": 1})["error"]["code"], "BadRequest")
        # nobody may not list, follow or stop them: on the status socket (which nobody
        # reaches) every one of these ops is AccessDenied
        if harness.user_exists("nobody"):
            status_sock = self.d.socket + ".status"
            for args in (["jobs"], ["jobs", "1"], ["wait", "1"], ["cancel", "1"],
                         ["scan", "--detach", "/tmp"]):
                p = self.d.cli("--socket", status_sock, "--json", *args, user="nobody")
                self.assertEqual(p.returncode, 2, (args, p))
                self.assertEqual(json.loads(p.stdout)["error"]["code"], "AccessDenied",
                                 (args, p))


class TerminalTest(DaemonTest):
    """Two terminals on a tmux server of the test's own (-L): a scan started detached in one
    pane, which is then closed, followed to its result from the other."""

    def tmux(self, *args):
        p = subprocess.run(["tmux", "-L", self.server] + list(args), capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p)
        return p.stdout.decode("utf-8", "replace")

    def screen(self, pane):
        return self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", pane)

    def wait_line(self, pane, pattern, what):
        return harness.wait_for(
            lambda: re.search(pattern, self.screen(pane), re.M), timeout=60, what=what)

    def test_detached_scan_followed_from_a_second_terminal(self):
        if not shutil.which("tmux"):
            self.skipTest("tmux is not installed")
        files = {"a_gate": b"gate\n", "z_eicar.com": harness.eicar()}
        root = self.make_tree("tree", files)
        gate = Gate(os.path.join(root, "a_gate"))
        self.addCleanup(gate.close)
        self.server = "pal-detach-%d" % os.getpid()
        self.addCleanup(subprocess.run, ["tmux", "-L", self.server, "kill-server"],
                        capture_output=True)
        shell = "env -u PALISADE_SOCKET PS1='$ ' sh"
        first = self.tmux("new-session", "-d", "-s", "det", "-x", "120", "-y", "40", "-P",
                          "-F", "#{pane_id}", shell).strip()
        second = self.tmux("split-window", "-t", "det", "-P", "-F", "#{pane_id}",
                           shell).strip()
        cli = "'%s' --socket '%s'" % (harness.cli_path(), self.d.socket)

        self.tmux("send-keys", "-t", first,
                  "%s scan --detach '%s'; echo \"start=$?\"" % (cli, root), "Enter")
        m = self.wait_line(first, r"^(\d+)\n(?:.*\n)*?start=0$", "the scan id on the first screen")
        scan_id = int(m.group(1))
        self.assertIn("palisade wait %d" % scan_id, self.screen(first))
        self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
        self.tmux("kill-pane", "-t", first)  # the terminal that started it is gone

        self.tmux("send-keys", "-t", second, "%s jobs %d; echo \"jobs=$?\"" % (cli, scan_id),
                  "Enter")
        self.wait_line(second, r"^jobs=0$", "jobs on the second screen")
        self.assertRegex(self.screen(second), r"Scan %d \(Custom\): Running" % scan_id)
        self.tmux("send-keys", "-t", second, "%s wait %d; echo \"wait=$?\"" % (cli, scan_id),
                  "Enter")
        harness.wait_for(lambda: "detached scan %d: followed by" % scan_id in self.d.log(),
                         what="the wait to reach the daemon")
        gate.release()
        self.wait_line(second, r"^wait=1$", "the result on the second screen")
        screen = self.screen(second)
        self.assertRegex(screen, r"Scan %d Completed in [0-9.]+ s: 2 files .* 1 threat" % scan_id)
        self.assertIn(EICAR_THREAT, screen)


if __name__ == "__main__":
    harness.main()
