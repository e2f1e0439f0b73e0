#!/usr/bin/env python3
"""No false "clean": the palisade CLI run as an administrator would, against a real
palisaded. A scan root that does not exist or cannot be opened is an error (exit 2, the
root and the reason on stderr) while the other roots of the same scan are still scanned; a
symlink named as a root is resolved once and its target scanned; an allowed threat is not a
threat (exit 0, not in threats_found); a quarantine that fails on an immutable file is
warned about, counted in status as an unremediated threat (Degraded) and cleared once the
file is dealt with; objects that could not be examined because the content process is
unusable give exit 3, never 0.

Needs chattr (e2fsprogs) and a file system with the immutable attribute (ext4, as CI's)."""
import json
import os
import subprocess

import harness
from harness import DaemonTest

EICAR = harness.eicar()
EICAR_THREAT = harness.EICAR_THREAT


def chattr(flag, path):
    subprocess.run(["chattr", flag, path], check=True, capture_output=True)


class Roots(DaemonTest):

    def test_missing_root_is_an_error_and_the_other_root_is_still_scanned(self):
        infected = self.make_tree("infected", {"eicar.com": EICAR})
        missing = self.d.path("no", "such", "path")
        p = self.d.cli("scan", missing, infected)
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 2, err)
        self.assertIn("palisade: cannot scan %s: No such file or directory (not-found)"
                      % missing, err)
        self.assertIn(EICAR_THREAT.encode(), p.stdout)
        self.assertIn(b"1 threat", p.stdout)
        self.assertIn(b"1 root not scanned", p.stdout)
        self.assertFalse(os.path.exists(os.path.join(infected, "eicar.com")),
                         "the existing root was not scanned and remediated")

        # the JSON document says the same; a root under a regular file (ENOTDIR) is missing too
        clean = self.make_tree("clean", {"a.txt": b"nothing here\n"})
        under_file = os.path.join(clean, "a.txt", "x")
        doc = self.d.cli_json("scan", under_file, clean, expect_rc=2)
        self.assertEqual(doc["status"], "Completed")
        self.assertEqual(doc["files_scanned"], 1)
        self.assertEqual(doc["root_errors"], [{"path": under_file, "error": "not-found",
                                               "reason": "Not a directory"}])
        self.assertIs(doc["fully_examined"], False)
        self.assertEqual(doc["skipped"], {})

    def test_fifo_root_is_an_error(self):
        fifo = self.d.path("fifo-root")
        os.mkfifo(fifo)
        p = self.d.cli("scan", fifo)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"cannot scan %s: not a regular file or directory "
                      b"(not-a-file-or-directory)" % fifo.encode(), p.stderr)

    def test_symlink_root_is_resolved_once_and_scanned(self):
        target = self.make_tree("real", {"sub/eicar.com": EICAR, "sub/link.com": b""})
        # below the root the walker still never follows a link
        os.unlink(os.path.join(target, "sub/link.com"))
        outside = self.make_tree("outside", {"o.com": EICAR})
        os.symlink(os.path.join(outside, "o.com"), os.path.join(target, "sub/link.com"))
        home = self.d.path("home", "u")
        os.makedirs(home)
        link = os.path.join(home, "link")
        os.symlink(target, link)
        p = self.d.cli("scan", "--json", link + "/")
        self.assertEqual(p.returncode, 1, p.stderr)
        doc = json.loads(p.stdout)
        # the root as it was named, and the target walked
        self.assertEqual(doc["resolved_roots"], [{"path": link + "/", "resolved": target}])
        self.assertEqual([t["path"] for t in doc["threats"]],
                         [os.path.join(target, "sub/eicar.com")])
        self.assertEqual(doc["skipped"], {"symlink": 1})
        self.assertEqual(doc["threats_found"], 1)
        self.assertIn(("palisade: %s is a symbolic link: scanned its target %s"
                       % (link + "/", target)).encode(), p.stderr)
        self.assertTrue(os.path.exists(os.path.join(outside, "o.com")))

        # a dangling link named as a root is an error, never an empty success
        dangling = os.path.join(home, "dangling")
        os.symlink(self.d.path("gone"), dangling)
        doc = self.d.cli_json("scan", dangling, expect_rc=2)
        self.assertEqual([(e["path"], e["error"]) for e in doc["root_errors"]],
                         [(dangling, "not-found")])

    def test_history_records_the_roots_walked(self):
        target = self.make_tree("real", {"a.txt": b"x\n"})
        link = self.d.path("link")
        os.symlink(target, link)
        doc = self.d.cli_json("scan", link, self.d.path("missing"), expect_rc=2)
        with self.d.client() as c:
            scans = c.result("scans.list")["items"]
        self.assertEqual([s["paths"] for s in scans if s["scan_id"] == doc["scan_id"]],
                         [[target]])


class Allowed(DaemonTest):

    def test_allowed_threat_is_not_a_threat(self):
        root = self.make_tree("tree", {"eicar.com": EICAR, "ok.txt": b"fine\n"})
        self.d.cli("allow", "add", "--threat", EICAR_THREAT)
        p = self.d.cli("scan", root)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"0 threats", p.stdout)
        self.assertIn(b"1 allowed", p.stdout)
        doc = self.d.cli_json("scan", root)
        self.assertEqual((doc["threats_found"], doc["allowed_count"]), (0, 1))
        self.assertEqual([(t["action"], t["action_result"]) for t in doc["threats"]],
                         [("Allow", "Success")])
        self.assertTrue(os.path.exists(os.path.join(root, "eicar.com")))
        st = self.d.cli_json("status")
        self.assertEqual(st["last_scan"]["threats"], 0)
        self.assertEqual(st["unremediated_threats"], 0)


class FailedRemediation(DaemonTest):

    def test_immutable_file_is_warned_counted_and_cleared_once_dealt_with(self):
        root = self.make_tree("tree", {"eicar.com": EICAR})
        path = os.path.join(root, "eicar.com")
        chattr("+i", path)
        self.addCleanup(lambda: os.path.exists(path) and chattr("-i", path))

        p = self.d.cli("scan", root)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertEqual(p.returncode, 1, out + err)
        self.assertRegex(out, r"Quarantine\s+Failed\s+" + path)
        self.assertIn("palisade: warning: 1 threat could not be quarantined or removed and is "
                      "still in place", err)
        self.assertTrue(os.path.exists(path))

        st = self.d.cli_json("status")
        self.assertEqual(st["unremediated_threats"], 1)
        self.assertTrue(any(r.startswith("unremediated threats: 1 detected threat")
                            for r in st["degraded"]), st["degraded"])
        p = self.d.cli("status")
        self.assertIn(b"unremediated threats", p.stdout + p.stderr)

        # a scan of somewhere else leaves it counted
        other = self.make_tree("other", {"a.txt": b"x\n"})
        self.d.cli_json("scan", other)
        self.assertEqual(self.d.cli_json("status")["unremediated_threats"], 1)

        # dealt with: the attribute removed and the file scanned again (quarantined now)
        chattr("-i", path)
        doc = self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual([(t["action"], t["action_result"]) for t in doc["threats"]],
                         [("Quarantine", "Success")])
        self.assertEqual(doc["unremediated_count"], 0)
        st = self.d.cli_json("status")
        self.assertEqual(st["unremediated_threats"], 0)
        self.assertEqual(st["degraded"], [])

    def test_deleted_by_hand_clears_after_a_scan_that_covers_it(self):
        root = self.make_tree("tree", {"sub/eicar.com": EICAR})
        path = os.path.join(root, "sub", "eicar.com")
        chattr("+i", path)
        self.addCleanup(lambda: os.path.exists(path) and chattr("-i", path))
        self.d.cli_json("scan", path, expect_rc=1)
        self.assertEqual(self.d.cli_json("status")["unremediated_threats"], 1)
        chattr("-i", path)
        os.unlink(path)
        # a scan whose root could not be opened covers nothing
        self.d.cli_json("scan", path, expect_rc=2)
        self.assertEqual(self.d.cli_json("status")["unremediated_threats"], 1)
        # a completed scan of the directory that held it does
        self.d.cli_json("scan", root)
        self.assertEqual(self.d.cli_json("status")["unremediated_threats"], 0)

    def test_allowing_the_threat_deals_with_it(self):
        root = self.make_tree("tree", {"eicar.com": EICAR})
        path = os.path.join(root, "eicar.com")
        chattr("+i", path)
        self.addCleanup(lambda: os.path.exists(path) and chattr("-i", path))
        self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(self.d.cli_json("status")["unremediated_threats"], 1)
        self.d.cli("allow", "add", "--threat", EICAR_THREAT)
        self.assertEqual(self.d.cli_json("status")["unremediated_threats"], 0)


class ContentProcessUnusable(DaemonTest):
    """The sandbox on, and the content process a program that exits at once: nothing can be
    examined, and the exit status says so."""

    start_daemon = False

    def setUp(self):
        super().setUp()
        self.d.extra_args = ["--content-process", "/bin/false"]
        self.d.write_policy("10-test.json", {"SandboxMode": "Enabled"})
        self.d.start()

    def test_unscannable_objects_give_exit_3(self):
        root = self.make_tree("tree", {"eicar.com": EICAR, "a.txt": b"x\n"})
        p = self.d.cli("scan", root)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertEqual(p.returncode, 3, out + err)
        self.assertIn("palisade: warning: not everything was examined: 2 unscannable", err)
        doc = self.d.cli_json("scan", root, expect_rc=3)
        self.assertEqual(doc["threats_found"], 0)
        self.assertEqual(doc["unscannable_count"], 2)
        self.assertIs(doc["fully_examined"], False)
        self.assertTrue(os.path.exists(os.path.join(root, "eicar.com")))


if __name__ == "__main__":
    harness.main()
