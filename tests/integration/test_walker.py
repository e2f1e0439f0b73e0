#!/usr/bin/env python3
"""The root broker walking hostile trees (agent/core/scan/walker.h): FIFOs and sockets are never
opened (no hang), symlinks are never followed (loops, dangling links, links out of the
tree), paths longer than PATH_MAX and names with newlines or invalid UTF-8 are scanned and
reported faithfully, a mode-000 file is still scanned, a file or directory deleted while
the scan runs is counted as vanished, and exclusions skip what they name and count it."""
import base64
import os
import shutil
import socket

import harness
from harness import DaemonTest, Gate

EICAR = harness.eicar()


def mkdeep(root, levels, seg_len):
    """root/<seg>/<seg>/... created through directory fds (the path outgrows PATH_MAX);
    returns the full path of the deepest directory."""
    seg = "d" * seg_len
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(seg, dir_fd=fd)
            nfd = os.open(seg, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        wfd = os.open("eicar.com", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(wfd, EICAR)
        os.close(wfd)
    finally:
        os.close(fd)
    return root + ("/" + seg) * levels


def threat_paths(result):
    """Raw path bytes of each finding (path_b64 when the name is not UTF-8)."""
    out = []
    for t in result["threats"]:
        self_check = t.get("path_b64")
        out.append(base64.b64decode(self_check) if self_check else t["path"].encode())
    return sorted(out)


class HostileTree(DaemonTest):

    def test_hostile_entries_are_skipped_or_scanned_safely(self):
        self.d.keep_threats()           # scanned twice, through the protocol and the CLI
        root = self.make_tree("tree", {
            "clean.txt": b"clean\n",
            b"new\nline.com": EICAR,
            b"bad\xff\xfename.com": EICAR,
            "caf\u00e9.txt": b"clean utf-8 name\n",
            "locked.com": EICAR,
        })
        outside = self.make_tree("outside", {"eicar.com": EICAR})
        os.chmod(os.path.join(root, "locked.com"), 0)
        os.mkfifo(os.path.join(root, "fifo"))
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(os.path.join(root, "listening.sock"))
        srv.listen(1)
        os.symlink("loop_b", os.path.join(root, "loop_a"))
        os.symlink("loop_a", os.path.join(root, "loop_b"))
        os.symlink(".", os.path.join(root, "dir_loop"))
        os.symlink("/nonexistent/palisade/target", os.path.join(root, "dangling"))
        os.symlink(os.path.join(outside, "eicar.com"), os.path.join(root, "to_outside"))
        os.symlink(outside, os.path.join(root, "to_outside_dir"))
        deep_dir = mkdeep(root, levels=24, seg_len=200)
        deep_file = deep_dir + "/eicar.com"
        self.assertGreater(len(deep_file), 4096)

        res, _ = self.d.scan([root])
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["skipped"], {"special-file": 2, "symlink": 6})
        # clean.txt, café.txt, three EICAR names, the deep one
        self.assertEqual(res["files_scanned"], 6)
        self.assertEqual(threat_paths(res), sorted([
            os.path.join(root, "bad\udcff\udcfename.com").encode("utf-8", "surrogateescape"),
            os.path.join(root, "locked.com").encode(),
            os.path.join(root, "new\nline.com").encode(),
            deep_file.encode(),
        ]))
        for t in res["threats"]:
            self.assertEqual(t["threat"], harness.EICAR_THREAT)
            self.assertNotIn("outside", t["path"], "a symlink was followed")
        bad = [t for t in res["threats"] if "path_b64" in t]
        self.assertEqual(len(bad), 1)
        self.assertEqual(bad[0]["path"], os.path.join(root, "bad\\xff\\xfename.com"))
        self.assertEqual(res["unscannable"], [])
        # the history holds the same paths
        with self.d.client() as c:
            dets = c.result("threats.list", {"scan_id": res["scan_id"]})["items"]
            self.assertEqual(sorted(base64.b64decode(t["path_b64"]) if "path_b64" in t
                                    else t["path"].encode() for t in dets),
                             threat_paths(res))

        # the CLI carries the same through its JSON
        doc = self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(threat_paths(doc), threat_paths(res))
        self.assertEqual(doc["skipped"], res["skipped"])

    def test_scan_root_symlink_is_resolved_once_and_fifo_root_is_an_error(self):
        # issue 10: a symlink the administrator names as a root is resolved once, before
        # the walk (a link below it is still never followed); a FIFO root is not opened and
        # is reported as a root that could not be scanned, not as a skip
        outside = self.make_tree("outside", {"eicar.com": EICAR})
        link = self.d.path("link-root")
        os.symlink(outside, link)
        fifo = self.d.path("fifo-root")
        os.mkfifo(fifo)
        res, _ = self.d.scan([link, fifo])
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["files_scanned"], 1)
        self.assertEqual([t["path"] for t in res["threats"]],
                         [os.path.join(outside, "eicar.com")])
        self.assertEqual(res["resolved_roots"], [{"path": link, "resolved": outside}])
        self.assertEqual(res["root_errors"], [{"path": fifo, "error": "not-a-file-or-directory",
                                               "reason": "not a regular file or directory"}])
        self.assertEqual(res["skipped"], {})

    def test_nesting_beyond_the_walker_limit_is_counted(self):
        root = self.d.path("nest")
        os.mkdir(root)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        for _ in range(520):
            os.mkdir("d", dir_fd=fd)
            nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        os.close(fd)
        with open(os.path.join(root, "top.com"), "wb") as f:
            f.write(EICAR)
        res, _ = self.d.scan([root])
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["skipped"], {"too-deep": 1})
        self.assertEqual(len(res["threats"]), 1)

    def test_missing_root_is_a_root_error_not_fatal(self):
        # issue 10: reported as a root that could not be scanned (the CLI exits 2), not as
        # one "vanished" skip of an otherwise clean scan
        missing = self.d.path("does-not-exist")
        res, _ = self.d.scan([missing])
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["files_scanned"], 0)
        self.assertEqual(res["skipped"], {})
        self.assertEqual(res["root_errors"], [{"path": missing, "error": "not-found",
                                               "reason": "No such file or directory"}])
        self.assertIs(res["fully_examined"], False)


class DeletedMidScan(DaemonTest):
    """The walker lists a directory, then visits each name. A Gate holds it at the first
    file; the test then deletes the rest, so the walker certainly meets names whose files
    are gone."""

    def test_files_deleted_mid_scan_are_vanished_and_open_ones_still_scanned(self):
        files = {"a_gate.com": EICAR}
        for i in range(100):
            files["b_%03d" % i] = EICAR if i == 50 else b"clean %d\n" % i
        for i in range(10):
            files["c_dir/f%d" % i] = b"clean\n"
        root = self.make_tree("tree", files)
        gate_path = os.path.join(root, "a_gate.com")
        gate = Gate(gate_path)
        self.addCleanup(gate.close)
        with self.d.client() as c:
            rid = c.start("scan.start", {"type": "Custom", "paths": [root]})
            self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
            for i in range(100):
                os.unlink(os.path.join(root, "b_%03d" % i))
            shutil.rmtree(os.path.join(root, "c_dir"))
            os.unlink(gate_path)         # its open is under way: the fd will still read it
            gate.release()
            resp, _ = c.wait(rid)
        res = resp["result"]
        self.assertEqual(res["status"], "Completed")
        self.assertEqual(res["skipped"], {"vanished": 101})
        self.assertEqual(res["files_scanned"], 1)
        self.assertEqual([t["path"] for t in res["threats"]], [gate_path])
        self.assertEqual(res["unscannable"], [])


class Exclusions(DaemonTest):

    def test_path_and_extension_exclusions_skip_and_count(self):
        self.d.keep_threats()
        root = self.make_tree("tree", {
            "keep/eicar.com": EICAR,
            "skipdir/eicar.com": EICAR,
            "skipdir/sub/more.com": EICAR,
            "app.log": EICAR,
            "APP2.LOG": EICAR,
            "notes.logx": b"not the extension\n",
        })
        r = self.d.cli_json("exclusion", "add", "--path", os.path.join(root, "skipdir"))
        self.assertIn({"kind": "Path", "value": os.path.join(root, "skipdir"),
                       "source": "Preference", "file": None}, r["items"])
        self.d.cli_json("exclusion", "add", "--extension", ".log")
        listed = self.d.cli_json("exclusion", "list")["items"]
        self.assertEqual(sorted((i["kind"], i["value"]) for i in listed),
                         [("Extension", "log"), ("Path", os.path.join(root, "skipdir"))])

        doc = self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(doc["skipped"], {"excluded-path": 1, "excluded-extension": 2})
        self.assertEqual([t["path"] for t in doc["threats"]],
                         [os.path.join(root, "keep/eicar.com")])
        self.assertEqual(doc["files_scanned"], 2)

        # a duplicate is refused, a removal takes effect at once
        p = self.d.cli("exclusion", "add", "--extension", "log")
        self.assertEqual(p.returncode, 2)
        self.d.cli_json("exclusion", "remove", "--extension", "log")
        self.d.cli_json("exclusion", "remove", "--path", os.path.join(root, "skipdir"))
        self.assertEqual(self.d.cli_json("exclusion", "list")["items"], [])
        doc = self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(doc["skipped"], {})
        self.assertEqual(len(doc["threats"]), 5)

    def test_wildcard_exclusions_match_within_one_component(self):
        """'*' and '?' in ExclusionPath match within one path component (never across '/');
        '[' is literal; a plain entry stays a whole-component prefix."""
        self.d.keep_threats()
        root = self.make_tree("wild", {
            "home/alice/cache/eicar.com": EICAR,        # /home/*/cache
            "home/bob/cache/sub/deep.com": EICAR,       # below a match
            "home/alice/cachex/eicar.com": EICAR,       # sibling: not the whole component
            "home/alice/tmp/cache/eicar.com": EICAR,    # '*' does not cross '/'
            "logs/day1/eicar.com": EICAR,               # /logs/day?
            "logs/day12/eicar.com": EICAR,              # '?' is exactly one character
            "weird/a[1]*b.com": EICAR,                  # named exactly by an entry
            "weird/a1b.com": EICAR,                     # fnmatch's [1] would take this one
            "weird/a[1]zzb.com": EICAR,                 # the entry's '*' is a wildcard too
        })
        # before any entry every file is found
        doc = self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(len(doc["threats"]), 9)
        for entry in ("home/*/cache", "logs/day?", "weird/a[1]*b.com"):
            self.d.cli_json("exclusion", "add", "--path", os.path.join(root, entry))
        doc = self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(sorted(t["path"] for t in doc["threats"]),
                         [os.path.join(root, p) for p in (
                             "home/alice/cachex/eicar.com", "home/alice/tmp/cache/eicar.com",
                             "logs/day12/eicar.com", "weird/a1b.com")])
        # two cache directories, one day directory, two files in weird/
        self.assertEqual(doc["skipped"], {"excluded-path": 5})
        # a root that a wildcard entry names is skipped too (a Custom scan of it finds nothing)
        doc = self.d.cli_json("scan", os.path.join(root, "home/bob/cache/sub/deep.com"))
        self.assertEqual(doc["threats"], [])
        self.assertEqual(doc["files_scanned"], 0)

    def test_relative_exclusion_path_is_refused_by_the_daemon(self):
        with self.d.client() as c:
            resp = c.call("exclusion.add", {"kind": "Path", "value": "relative/dir"})
            self.assertEqual(resp["error"]["code"], "InvalidValue")
            self.assertEqual(c.result("exclusion.list")["items"], [])
        # the CLI makes a relative path absolute against its working directory
        r = self.d.cli_json("exclusion", "add", "--path", "relative/dir", cwd=self.d.base)
        self.assertEqual([(i["kind"], i["value"]) for i in r["items"]],
                         [("Path", os.path.join(self.d.base, "relative/dir"))])


if __name__ == "__main__":
    harness.main()
