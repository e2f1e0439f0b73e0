#!/usr/bin/env python3
"""An imported ClamAV database in force in a real palisaded, with clamscan as the oracle.

The administrator's commands: gen_clamdb.py's databases (every carried format, and forms
that are not carried) are imported, built and signed with a site key the daemon trusts; a
palisaded started with that package scans the sample tree through the broker and the
content process, and its detections must agree with `clamscan --allmatch` file by file,
except for the signatures the import report lists as not carried — allowed files (.fp/.sfp)
included: reported by nothing although a hash signature names them. Then a new version
that adds an MD5 signature for a clean file is installed live (`update`), and the next scan
finds that file, with matched_by md5, without a restart."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402


def run(*cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (cmd, p.returncode, p.stderr))
    return p.stdout


class ImportedPackage(unittest.TestCase):

    def setUp(self):
        self.sigtool = harness.env_path("PAL_SIGTOOL")
        harness.palisaded()
        self.work = tempfile.mkdtemp(prefix="pal-import-daemon.")
        self.g = os.path.join(self.work, "g")
        run(sys.executable, os.path.join(HERE, "gen_clamdb.py"), self.g, "--seed", "11")
        keys = os.path.join(self.work, "keys")
        os.makedirs(os.path.join(keys, "trusted"))
        run(self.sigtool, "keygen", os.path.join(keys, "site"))
        shutil.copy(os.path.join(keys, "site.pub"), os.path.join(keys, "trusted"))
        self.key = os.path.join(keys, "site.key")
        self.src = os.path.join(self.work, "src")
        run(self.sigtool, "import", "--clamav", os.path.join(self.g, "cvd"), "--out", self.src)
        self.pkg = os.path.join(self.work, "defs.sig")
        run(self.sigtool, "build", self.src, "--key", self.key, "--version", "100", "--out",
            self.pkg)
        os.environ["PAL_DEFS_PACKAGE"] = self.pkg
        os.environ["PAL_TRUSTED_KEYS_DIR"] = os.path.join(keys, "trusted")
        self.d = harness.Daemon()
        self.d.start()
        self.d.keep_threats()

    def tearDown(self):
        self.d.stop()
        self.d.cleanup()
        shutil.rmtree(self.work, True)

    def palisade(self):
        res, _ = self.d.scan([os.path.join(self.g, "tree")])
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["unscannable"], [])
        with self.d.client() as c:  # the detections, with what matched
            items = c.result("threats.list", {"scan_id": res["scan_id"], "limit": 10000})["items"]
        self.assertEqual(len(items), len(res["threats"]))
        got = {}
        for t in items:
            got.setdefault(os.path.basename(t["path"]), {})[t["threat"]] = t
        return res, got

    def test_daemon_agrees_with_clamscan(self):
        p = subprocess.run(["clamscan", "--database=" + os.path.join(self.g, "loose"),
                            "--allmatch", "--no-summary", "-r", os.path.join(self.g, "tree")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        clam = {}
        for line in p.stdout.splitlines():
            m = re.match(r"(.*): (\S+?)(\.UNOFFICIAL)? FOUND$", line)
            if m:
                clam.setdefault(os.path.basename(m.group(1)), set()).add(m.group(2))
        not_carried = set()
        with open(os.path.join(self.src, "import-report.txt")) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if parts[0] == "not-carried":
                    not_carried.add(parts[1])
        self.assertTrue(not_carried, "the generator makes signatures that are not carried")
        res, got = self.palisade()
        files = sorted(os.listdir(os.path.join(self.g, "tree")))
        self.assertEqual(res["files_scanned"], len(files))
        detections = 0
        for fn in files:
            want = clam.get(fn, set()) - not_carried
            self.assertEqual(set(got.get(fn, {})), want, fn)
            detections += len(want)
        self.assertGreater(detections, 50)
        # allowed files: a hash signature names them, the allow list wins
        for fn in files:
            if fn.startswith("allowed_"):
                self.assertNotIn(fn, got)
        # by-digest findings say which digest matched
        self.assertEqual(got["md5_0.bin"]["Win.Trojan.Md5-0"]["matched_by"], "md5")
        self.assertEqual(got["sha1_0.bin"]["Unix.Malware.Sha1-0"]["matched_by"], "sha1")
        print("palisaded: %d files, %d detections agree with clamscan; %d not carried"
              % (len(files), detections, len(not_carried)))

        # a new version adds an MD5 signature for a clean file: installed live
        clean = os.path.join(self.g, "tree", "clean_0.bin")
        with open(clean, "rb") as f:
            data = f.read()
        with open(os.path.join(self.src, "hashes.tsv"), "a") as f:
            f.write("%s\t%d\tWin.Trojan.LiveSwap-1\n" % (hashlib.md5(data).hexdigest(), len(data)))
        with open(os.path.join(self.src, "catalog.tsv"), "a") as f:
            f.write("Win.Trojan.LiveSwap-1\tHigh\tTrojan\tQuarantine\n")
        pkg2 = os.path.join(self.work, "defs2.sig")
        run(self.sigtool, "build", self.src, "--key", self.key, "--version", "101", "--out", pkg2)
        with self.d.client() as c:
            c.result("update", {"path": pkg2})
        _, got = self.palisade()
        self.assertEqual(set(got.get("clean_0.bin", {})), {"Win.Trojan.LiveSwap-1"})
        self.assertEqual(got["clean_0.bin"]["Win.Trojan.LiveSwap-1"]["matched_by"], "md5")


if __name__ == "__main__":
    unittest.main(verbosity=2)
