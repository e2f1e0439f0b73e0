#!/usr/bin/env python3
"""palisaded's life on its state directory: a restart keeps the history, preferences and
exclusions; one daemon per state directory (lock file) and per socket; SIGTERM during a
scan records it as Cancelled and exits 0; a daemon killed mid-scan leaves no scan
"Running" for ever; a corrupt, foreign or newer database is refused and left byte for
byte untouched; a database of an older schema is upgraded with its data kept; an unsafe
state directory or a bad signature package are refused or reported, never ignored."""
import hashlib
import json
import os
import signal
import sqlite3

import harness
from harness import Daemon, DaemonTest, Gate

EICAR = harness.eicar()
APPLICATION_ID = 0x50414C53        # 'PALS', agent/core/store/store.c
SCHEMA_VERSION = 4                 # the newest of db/migrations/


def file_state(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), st.st_size, st.st_mtime_ns


class Restart(DaemonTest):

    def test_restart_keeps_history_preferences_and_exclusions(self):
        self.d.keep_threats()           # the threat is scanned again after the restart
        root = self.make_tree("tree", {"eicar.com": EICAR, "clean.txt": b"clean\n"})
        doc = self.d.cli_json("scan", root, expect_rc=1)
        self.d.cli_json("config", "set", "ScanThreads", "1")
        self.d.cli_json("exclusion", "add", "--extension", "tmp")
        before_scans = self.d.cli_json("scans")
        before_threats = self.d.cli_json("threats")

        self.assertEqual(self.d.stop(), 0)
        self.assertIn("stopped", self.d.log())
        self.assertFalse(os.path.exists(self.d.socket), "socket left behind")
        self.assertFalse(os.path.exists(self.d.socket + ".status"), "status socket left")

        self.d.start()
        self.assertEqual(self.d.cli_json("scans"), before_scans)
        self.assertEqual(self.d.cli_json("threats"), before_threats)
        st = self.d.cli_json("status")
        self.assertEqual(st["last_scan"]["scan_id"], doc["scan_id"])
        self.assertEqual(st["last_scan"]["threats"], 1)
        item = self.d.cli_json("config", "get", "ScanThreads")
        self.assertEqual((item["value"], item["source"]), (1, "Preference"))
        self.assertEqual([(i["kind"], i["value"]) for i in
                          self.d.cli_json("exclusion", "list")["items"]],
                         [("Extension", "tmp")])
        # and it goes on: the next scan gets the next id
        doc2 = self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(doc2["scan_id"], doc["scan_id"] + 1)


class SingleInstance(DaemonTest):

    def test_second_daemon_on_the_same_state_dir_refuses_to_start(self):
        other = Daemon(state_dir=self.d.state_dir)
        self.addCleanup(other.cleanup)
        p = other.spawn()
        rc = p.wait(harness.START_TIMEOUT)
        self.assertNotEqual(rc, 0)
        log = other.log()
        self.assertIn("another palisaded (pid %d) is already running on state directory"
                      % self.d.proc.pid, log)
        self.assertIn(self.d.state_dir, log)
        self.assertFalse(os.path.exists(other.socket))
        # the first one is untouched and serving
        self.assertEqual(self.d.cli_json("status")["pid"], self.d.proc.pid)

    def test_second_daemon_on_the_same_socket_refuses_to_start(self):
        other = Daemon()
        self.addCleanup(other.cleanup)
        other.socket = self.d.socket
        p = other.spawn()
        rc = p.wait(harness.START_TIMEOUT)
        self.assertNotEqual(rc, 0)
        log = other.log()
        self.assertIn("already listening on " + self.d.socket, log)
        self.assertEqual(self.d.cli_json("status")["pid"], self.d.proc.pid)

    def test_stale_socket_and_lock_of_a_killed_daemon_do_not_block_a_restart(self):
        pid = self.d.proc.pid
        self.d.kill()                               # SIGKILL: no clean-up at all
        self.assertTrue(os.path.exists(self.d.socket))
        self.d.start()
        self.assertNotEqual(self.d.cli_json("status")["pid"], pid)


class StopDuringScan(DaemonTest):

    def gated_tree(self):
        files = {"a_gate": b"gate\n", "z_eicar.com": EICAR}
        for i in range(2000):
            files["m_%04d.txt" % i] = b"clean %d\n" % i
        root = self.make_tree("tree", files)
        gate = Gate(os.path.join(root, "a_gate"))
        self.addCleanup(gate.close)
        return root, gate

    def test_sigterm_during_a_scan_records_it_cancelled_and_exits_0(self):
        root, gate = self.gated_tree()
        c = self.d.client()
        self.addCleanup(c.close)
        rid = c.start("scan.start", {"type": "Custom", "paths": [root]})
        self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
        self.d.signal(signal.SIGTERM)
        # the server removes its socket and then cancels what is in flight: once the
        # socket is gone, the walker may go on and must find the scan cancelled
        harness.wait_for(lambda: not os.path.exists(self.d.socket),
                         what="the daemon to stop accepting")
        gate.release()
        resp, _ = c.wait(rid)
        res = resp["result"]
        self.assertEqual(res["status"], "Cancelled")
        self.assertEqual(res["threats"], [])
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        with self.d.client() as c2:
            last = c2.result("scans.list", {"limit": 1})["items"][0]
        self.assertEqual(last["scan_id"], res["scan_id"])
        self.assertEqual(last["status"], "Cancelled")

    def test_daemon_killed_mid_scan_leaves_no_scan_running(self):
        root, gate = self.gated_tree()
        c = self.d.client()
        self.addCleanup(c.close)
        c.start("scan.start", {"type": "Custom", "paths": [root]})
        self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
        self.d.kill()
        gate.release()
        self.d.start()
        self.assertIn("interrupted", self.d.log())
        with self.d.client() as c2:
            last = c2.result("scans.list", {"limit": 1})["items"][0]
            self.assertEqual(last["status"], "Failed")
            self.assertIn("interrupted", last["error"])
            self.assertIsNotNone(last["end_time"])
            self.assertEqual(c2.result("status")["last_scan"]["status"], "Failed")


class Database(DaemonTest):
    """The store refuses a database it cannot trust and leaves it exactly as it was."""

    start_daemon = False

    def db_path(self):
        return os.path.join(self.d.state_dir, "palisade.db")

    def assert_refused_untouched(self, expect_in_log):
        db = self.db_path()
        before = file_state(db)
        p = self.d.spawn()
        rc = p.wait(harness.START_TIMEOUT)
        log = self.d.log()
        self.assertNotEqual(rc, 0, "palisaded started on a database it should refuse")
        self.assertIn(expect_in_log, log)
        self.assertIn(db, log)
        self.assertEqual(file_state(db), before, "the refused database was modified")
        self.assertFalse(os.path.exists(self.d.socket))
        return log

    def real_database(self):
        """A database palisaded made, with one scan in it, closed cleanly."""
        self.d.start()
        root = self.make_tree("tree", {"eicar.com": EICAR})
        self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(self.d.stop(), 0)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.db_path() + suffix):
                self.assertEqual(os.path.getsize(self.db_path() + suffix) if suffix == "-wal"
                                 else 0, 0, "WAL not checkpointed at a clean stop")

    def test_garbage_file_is_refused(self):
        with open(self.db_path(), "wb") as f:
            f.write(bytes((i * 37 + 11) % 256 for i in range(8192)))
        self.assert_refused_untouched("is not a SQLite database")

    def test_corrupt_database_is_refused(self):
        self.real_database()
        db = self.db_path()
        size = os.path.getsize(db)
        self.assertGreaterEqual(size, 3 * 4096)
        with open(db, "r+b") as f:
            for page in range(1, size // 4096):
                f.seek(page * 4096)
                f.write(b"\xa5" * 4096)
        log = self.assert_refused_untouched(db)
        self.assertTrue("corrupt" in log or "unusable" in log or "malformed" in log, log)

    def test_truncated_database_is_refused(self):
        self.real_database()
        db = self.db_path()
        with open(db, "r+b") as f:
            f.truncate(os.path.getsize(db) // 2)
        log = self.assert_refused_untouched(db)
        self.assertTrue("corrupt" in log or "unusable" in log or "malformed" in log, log)

    def test_newer_schema_is_refused(self):
        self.real_database()
        with sqlite3.connect(self.db_path()) as con:
            con.execute("PRAGMA user_version = 999")
        con.close()
        self.assert_refused_untouched(
            "has schema version 999, this palisaded knows up to %d" % SCHEMA_VERSION)

    def test_other_applications_database_is_refused(self):
        con = sqlite3.connect(self.db_path())
        con.execute("PRAGMA application_id = 1234")
        con.execute("PRAGMA user_version = 1")
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
        self.assert_refused_untouched("another application")

    def test_schema_1_database_is_upgraded_with_its_data(self):
        migration = os.path.join(harness.source_dir(), "db", "migrations", "0001_initial.sql")
        con = sqlite3.connect(self.db_path())
        with open(migration, encoding="utf-8") as f:
            con.executescript(f.read())
        con.execute("PRAGMA user_version = 1")
        t0 = 1767225600000          # 2026-01-01T00:00:00Z
        con.execute("INSERT INTO scans (id, type, paths, started_at, ended_at, files, bytes, "
                    "threats, unscannable, outcome, started_by) VALUES "
                    "(7, 'Custom', ?, ?, ?, 12, 3456, 1, 0, 'Completed', 0)",
                    (json.dumps(["/srv/old"]), t0, t0 + 1500))
        con.execute("INSERT INTO detections (scan_id, detected_at, threat_name, severity, "
                    "category, path, chain, sha256, size, source, action, action_result) "
                    "VALUES (7, ?, ?, 'Severe', 'Virus', '/srv/old/eicar.com', "
                    "'/srv/old/eicar.com', ?, 68, 'OnDemand', 'Quarantine', 'Success')",
                    (t0 + 100, harness.EICAR_THREAT, "0" * 64))
        con.execute("INSERT INTO preferences (name, value, updated_at, updated_by) "
                    "VALUES ('ScanThreads', '1', ?, 0)", (t0,))
        con.commit()
        con.close()
        self.assertEqual(self.pragma("application_id"), APPLICATION_ID)

        self.d.start()
        with self.d.client() as c:
            scans = c.result("scans.list")["items"]
            self.assertEqual([(s["scan_id"], s["files_scanned"], s["bytes_scanned"],
                               s["status"], s["paths"]) for s in scans],
                             [(7, 12, 3456, "Completed", ["/srv/old"])])
            self.assertEqual(scans[0]["start_time"], "2026-01-01T00:00:00.000Z")
            dets = c.result("threats.list")["items"]
            self.assertEqual([(d["scan_id"], d["path"], d["threat"]) for d in dets],
                             [(7, "/srv/old/eicar.com", harness.EICAR_THREAT)])
            item = c.result("config.get", {"name": "ScanThreads"})
            self.assertEqual((item["value"], item["source"]), (1, "Preference"))
            # the upgraded store works: a new scan follows the old one
            root = self.make_tree("tree", {"eicar.com": EICAR})
            res, _ = self.d.scan([root], client=c)
            self.assertEqual(res["scan_id"], 8)
        self.assertEqual(self.d.stop(), 0)
        self.assertEqual(self.pragma("user_version"), SCHEMA_VERSION)
        self.assertEqual(self.pragma("application_id"), APPLICATION_ID)

    def pragma(self, name):
        con = sqlite3.connect(self.db_path())
        try:
            return con.execute("PRAGMA " + name).fetchone()[0]
        finally:
            con.close()


class StartupChecks(DaemonTest):

    start_daemon = False

    def test_state_dir_writable_by_others_is_refused(self):
        os.chmod(self.d.state_dir, 0o777)
        p = self.d.spawn()
        self.assertNotEqual(p.wait(harness.START_TIMEOUT), 0)
        self.assertIn("must be owned by uid 0 and not writable by group or others",
                      self.d.log())
        self.assertFalse(os.path.exists(os.path.join(self.d.state_dir, "palisade.db")))

    def test_tampered_signature_package_is_refused_and_reported(self):
        pkg = self.d.path("tampered.sig")
        with open(harness.defs_package(), "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x01
        with open(pkg, "wb") as f:
            f.write(data)
        self.d.extra_args = ["--defs", pkg]
        self.d.defs = False
        self.d.start()
        st = self.d.cli_json("status")
        self.assertIsNone(st["signature_version"])
        self.assertTrue(any("signature" in r for r in st["degraded"]), st["degraded"])
        self.assertIn("refused", self.d.log())
        root = self.make_tree("tree", {"eicar.com": EICAR})
        with self.d.client() as c:
            resp = c.call("scan.start", {"type": "Custom", "paths": [root]})
            self.assertIn("error", resp)
            self.assertIn("signature", resp["error"]["message"])
        p = self.d.cli("scan", root)
        self.assertEqual(p.returncode, 2)

    def test_sighup_and_sigint(self):
        self.d.start()
        self.d.signal(signal.SIGHUP)        # nothing to reload: still serving
        self.assertEqual(self.d.cli_json("status")["policy_error"], None)
        self.d.signal(signal.SIGINT)
        self.assertEqual(self.d.proc.wait(harness.STOP_TIMEOUT), 0)
        self.d.proc = None
        self.assertIn("SIGINT: stopping", self.d.log())


if __name__ == "__main__":
    harness.main()
