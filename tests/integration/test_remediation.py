#!/usr/bin/env python3
"""Remediation through a real palisaded: quarantine (recorded metadata, the private and
transformed store), restore (byte-identical with owner, group, mode and mtime; refuses to
overwrite unless forced; to another destination; checks the stored hash; can allow the
file), remove, the allowed list by threat name and by hash, the per-severity actions
(NoAction, Remove), automatic retention purge, threats.list's quarantine_id, and the
`palisade` CLI commands for all of it."""
import json
import os
import stat
import time

import harness
import remediation_helpers as rh
from remediation_helpers import RemediationTest

EICAR_THREAT = harness.EICAR_THREAT


class QuarantineTest(RemediationTest):

    def setUp(self):
        super().setUp()
        self.tree = self.d.path("tree")
        os.makedirs(self.tree)
        self.uid, self.gid = rh.nobody_ids()

    def quarantine_one(self, name="e.com", i=1, mode=0o640, mtime_ns=1_500_000_000_987_654_321):
        path = self.write(os.path.join(self.tree, name), rh.eicar_variant(i), self.uid,
                          self.gid, mode, mtime_ns)
        before = rh.snapshot(path)
        res, _ = self.d.scan([path])
        self.assertEqual(len(res["threats"]), 1, rh.dump(res))
        t = res["threats"][0]
        self.assertEqual((t["action"], t["action_result"]), ("Quarantine", "Success"), rh.dump(t))
        item = self.item_for(path)
        self.assertEqual(t["action_detail"], "quarantined as item %d" % item["id"])
        return path, before, item, t

    def test_quarantine_records_and_takes_out_of_place(self):
        path, before, item, t = self.quarantine_one()
        self.assertFalse(os.path.lexists(path))
        self.assertEqual(rh.temp_leftovers(self.tree), [])
        self.assertEqual(item["threat"], EICAR_THREAT)
        self.assertEqual(item["sha256"], rh.sha256(before["data"]))
        self.assertEqual(item["size"], len(before["data"]))
        self.assertEqual((item["owner"], item["group"], item["mode"]),
                         (self.uid, self.gid, 0o640))
        self.assertEqual(item["detection_id"], t["detection_id"])
        row = rh.db_rows(self.d, "SELECT mtime_ns, mode FROM quarantine WHERE id = ?",
                         (item["id"],))[0]
        self.assertEqual(row[0], before["mtime_ns"])
        self.assertTrue(stat.S_ISREG(row[1]))
        got = self.c.result("quarantine.get", {"id": item["id"]})
        self.assertEqual(got, item)
        threats = self.c.result("threats.list")["items"]
        self.assertEqual([x["quarantine_id"] for x in threats if x["file"] == path],
                         [item["id"]])
        self.assert_quarantine_consistent()

    def test_stored_content_is_inert(self):
        path, before, item, _ = self.quarantine_one()
        qdir = rh.quarantine_dir(self.d)
        (name,) = os.listdir(qdir)
        p = os.path.join(qdir, name)
        st = os.lstat(p)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (0, 0o600))
        with open(p, "rb") as f:
            stored = f.read()
        self.assertEqual(stored[:8], rh.QUARANTINE_MAGIC)
        off = rh.stored_content_offset(p)
        self.assertEqual(len(stored), off + len(before["data"]))
        body = stored[off:]
        self.assertNotEqual(body, before["data"])
        self.assertNotIn(harness.eicar()[:20], stored)
        # another scanner (here: the agent itself) does not recognise what sits there
        res, _ = self.d.scan([qdir])
        self.assertEqual(res["threats"], [], rh.dump(res))
        self.assertEqual(res["files_scanned"], 1)
        self.assert_quarantine_consistent()

    def test_restore_is_byte_identical_with_metadata(self):
        path, before, item, _ = self.quarantine_one(mode=0o751)
        res = self.c.result("quarantine.restore", {"id": item["id"]})
        self.assertEqual(res["path"], path)
        self.assertFalse(res["allowed"])
        after = rh.snapshot(path)
        self.assertTrue(rh.same_content_and_metadata(before, after), (before, after))
        self.assertEqual(self.items(), [])
        self.assertEqual(os.listdir(rh.quarantine_dir(self.d)), [])
        self.assertEqual(rh.temp_leftovers(self.tree), [])
        threats = self.c.result("threats.list")["items"]
        self.assertEqual([x["quarantine_id"] for x in threats], [None])
        audit = rh.db_rows(self.d, "SELECT action, target FROM audit "
                                   "WHERE action = 'RestoreQuarantineItem'")
        self.assertEqual(audit, [("RestoreQuarantineItem", str(item["id"]))])

    def test_restore_refuses_an_existing_file_unless_forced(self):
        path, before, item, _ = self.quarantine_one()
        self.write(path, b"the user's new file\n")
        err = self.error("quarantine.restore", {"id": item["id"]})
        self.assertEqual(err["code"], "Exists", err)
        self.assertIn("force", err["message"])
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"the user's new file\n")
        self.assertEqual(len(self.items()), 1)
        self.c.result("quarantine.restore", {"id": item["id"], "force": True})
        self.assertTrue(rh.same_content_and_metadata(before, rh.snapshot(path)))
        self.assertEqual(self.items(), [])

    def test_restore_to_a_destination(self):
        path, before, item, _ = self.quarantine_one()
        other = self.d.path("elsewhere")
        os.makedirs(other)
        dest = os.path.join(other, "renamed.bin")
        res = self.c.result("quarantine.restore", {"id": item["id"], "destination": dest})
        self.assertEqual(res["path"], dest)
        self.assertFalse(os.path.lexists(path))
        self.assertTrue(rh.same_content_and_metadata(before, rh.snapshot(dest)))
        # a directory as destination receives the original name
        path2, before2, item2, _ = self.quarantine_one(name="f.com", i=2)
        res = self.c.result("quarantine.restore", {"id": item2["id"], "destination": other})
        self.assertEqual(res["path"], os.path.join(other, "f.com"))
        self.assertTrue(rh.same_content_and_metadata(before2, rh.snapshot(res["path"])))
        # a missing directory is refused, nothing is created
        err = self.error("quarantine.restore", {"id": 999999})
        self.assertEqual(err["code"], "NotFound")
        path3, _, item3, _ = self.quarantine_one(name="g.com", i=3)
        err = self.error("quarantine.restore",
                         {"id": item3["id"], "destination": self.d.path("no", "such", "x")})
        self.assertEqual(err["code"], "NotFound", err)
        self.assertFalse(os.path.exists(self.d.path("no")))
        err = self.error("quarantine.restore", {"id": item3["id"], "destination": "relative"})
        self.assertEqual(err["code"], "BadRequest", err)

    def test_restore_checks_the_stored_hash(self):
        path, before, item, _ = self.quarantine_one()
        qdir = rh.quarantine_dir(self.d)
        (name,) = os.listdir(qdir)
        p = os.path.join(qdir, name)
        off = rh.stored_content_offset(p)
        with open(p, "r+b") as f:
            f.seek(off + 10)
            b = f.read(1)
            f.seek(off + 10)
            f.write(bytes([b[0] ^ 0x01]))
        err = self.error("quarantine.restore", {"id": item["id"]})
        self.assertEqual(err["code"], "Refused", err)
        self.assertIn("SHA-256", err["message"])
        self.assertFalse(os.path.lexists(path))
        self.assertEqual(rh.temp_leftovers(self.tree), [])
        self.assertEqual(len(self.items()), 1)

    def test_restore_with_allow_is_not_quarantined_again(self):
        path, before, item, _ = self.quarantine_one()
        res = self.c.result("quarantine.restore", {"id": item["id"], "allow": True})
        self.assertTrue(res["allowed"])
        allowed = self.c.result("allow.list")["items"]
        self.assertEqual([(a["kind"], a["value"]) for a in allowed],
                         [("Sha256", item["sha256"])])
        scan, _ = self.d.scan([path])
        self.assertEqual([(t["action"], t["action_result"]) for t in scan["threats"]],
                         [("Allow", "Success")])
        self.assertTrue(rh.same_content_and_metadata(before, rh.snapshot(path)))
        # another file with the same threat but other content is still quarantined
        other = self.write(os.path.join(self.tree, "other.com"), rh.eicar_variant(99))
        scan, _ = self.d.scan([other])
        self.assertEqual(scan["threats"][0]["action"], "Quarantine")
        self.assertFalse(os.path.lexists(other))

    def test_remove_deletes_an_item_for_good(self):
        path, before, item, _ = self.quarantine_one()
        res = self.c.result("quarantine.remove", {"id": item["id"]})
        self.assertEqual(res, {"id": item["id"], "removed": True})
        self.assertEqual(self.items(), [])
        self.assertEqual(os.listdir(rh.quarantine_dir(self.d)), [])
        self.assertEqual(self.error("quarantine.remove", {"id": item["id"]})["code"], "NotFound")
        self.assertEqual(self.error("quarantine.restore", {"id": item["id"]})["code"],
                         "NotFound")
        self.assertFalse(os.path.lexists(path))
        self.assertEqual(self.error("quarantine.remove", {})["code"], "BadRequest")

    def test_allowed_threat_name_is_reported_not_acted_on(self):
        path = self.write(os.path.join(self.tree, "a.com"), rh.eicar_variant(5))
        before = rh.snapshot(path)
        res = self.c.result("allow.add", {"kind": "ThreatName", "value": EICAR_THREAT.upper()})
        self.assertEqual([a["kind"] for a in res["items"]], ["ThreatName"])
        scan, _ = self.d.scan([path])
        self.assertEqual([(t["action"], t["action_result"]) for t in scan["threats"]],
                         [("Allow", "Success")])
        self.assertTrue(rh.same_content_and_metadata(before, rh.snapshot(path)))
        self.assertEqual(self.items(), [])
        self.assertEqual(self.error("allow.add", {"kind": "ThreatName",
                                                  "value": EICAR_THREAT})["code"], "Exists")
        res = self.c.result("allow.remove", {"kind": "ThreatName", "value": EICAR_THREAT})
        self.assertEqual(res["items"], [])
        self.assertEqual(self.error("allow.remove", {"kind": "ThreatName",
                                                     "value": EICAR_THREAT})["code"],
                         "NotFound")
        scan, _ = self.d.scan([path])
        self.assertEqual(scan["threats"][0]["action"], "Quarantine")
        self.assertFalse(os.path.lexists(path))

    def test_allowed_hash(self):
        data = rh.eicar_variant(6)
        path = self.write(os.path.join(self.tree, "h.com"), data)
        self.assertEqual(self.error("allow.add", {"kind": "Sha256", "value": "abc"})["code"],
                         "InvalidValue")
        self.assertEqual(self.error("allow.add", {"kind": "Path", "value": "/x"})["code"],
                         "BadRequest")
        self.c.result("allow.add", {"kind": "Sha256", "value": rh.sha256(data).upper()})
        scan, _ = self.d.scan([path])
        self.assertEqual(scan["threats"][0]["action"], "Allow")
        self.assertTrue(os.path.exists(path))

    def test_severity_actions_noaction_and_remove(self):
        path = self.write(os.path.join(self.tree, "n.com"), rh.eicar_variant(7))
        self.c.result("config.set", {"name": "SevereThreatDefaultAction", "value": "NoAction"})
        scan, _ = self.d.scan([path])
        self.assertEqual([(t["action"], t["action_result"]) for t in scan["threats"]],
                         [("NoAction", "Success")])
        self.assertTrue(os.path.exists(path))
        self.c.result("config.set", {"name": "SevereThreatDefaultAction", "value": "Remove"})
        scan, _ = self.d.scan([path])
        t = scan["threats"][0]
        self.assertEqual((t["action"], t["action_result"], t["action_detail"]),
                         ("Remove", "Success", "removed"))
        self.assertFalse(os.path.lexists(path))
        self.assertEqual(rh.temp_leftovers(self.tree), [])
        self.assertEqual(self.items(), [])
        self.assertEqual(rh.db_rows(self.d, "SELECT op, state FROM file_ops"),
                         [("Remove", "Done")])

    def test_per_threat_override_wins_over_the_severity_action(self):
        path = self.write(os.path.join(self.tree, "o.com"), rh.eicar_variant(8))
        # the severity says Quarantine (default); the override for this threat says NoAction
        res = self.c.result("threat_action.set", {"threat": EICAR_THREAT, "action": "NoAction"})
        self.assertEqual([(i["threat"], i["action"]) for i in res["items"]],
                         [(EICAR_THREAT, "NoAction")])
        scan, _ = self.d.scan([path])
        self.assertEqual([(t["action"], t["action_result"]) for t in scan["threats"]],
                         [("NoAction", "Success")])
        self.assertTrue(os.path.exists(path))
        self.assertEqual(self.error("threat_action.set", {"threat": "Virus:DOS/No_Such_Threat",
                                                          "action": "Remove"})["code"],
                         "InvalidValue")
        self.assertEqual(self.error("threat_action.set", {"threat": EICAR_THREAT,
                                                          "action": "Delete"})["code"],
                         "BadRequest")
        self.assertEqual(rh.db_rows(self.d, "SELECT action FROM audit WHERE action LIKE "
                                            "'%ThreatAction' ORDER BY id"),
                         [("SetThreatAction",)])
        # removed: the severity's action applies again
        res = self.c.result("threat_action.remove", {"threat": EICAR_THREAT})
        self.assertEqual(res["items"], [])
        self.assertEqual(self.error("threat_action.remove", {"threat": EICAR_THREAT})["code"],
                         "NotFound")
        scan, _ = self.d.scan([path])
        self.assertEqual(scan["threats"][0]["action"], "Quarantine")
        self.assertFalse(os.path.lexists(path))

    def test_retention_purge(self):
        old, _, old_item, _ = self.quarantine_one(name="old.com", i=10)
        new, _, new_item, _ = self.quarantine_one(name="new.com", i=11)
        self.d.stop()
        day = 86400 * 1000
        now = int(time.time() * 1000)
        rh.db_write(self.d, "UPDATE quarantine SET quarantined_at = ? WHERE id = ?",
                    (now - 91 * day, old_item["id"]))
        self.restart()
        self.assertEqual([i["id"] for i in self.items()], [new_item["id"]])
        self.assert_quarantine_consistent()
        self.assertEqual(rh.db_rows(self.d, "SELECT state FROM file_ops WHERE op = 'Purge'"),
                         [("Done",)])
        # 0 keeps items forever
        self.c.result("config.set", {"name": "QuarantineRetentionDays", "value": 0})
        self.d.stop()
        rh.db_write(self.d, "UPDATE quarantine SET quarantined_at = ?", (now - 4000 * day,))
        self.restart()
        self.assertEqual([i["id"] for i in self.items()], [new_item["id"]])


class CliTest(RemediationTest):
    """The `palisade` commands: quarantine list/restore/remove, allow, update."""

    def cli(self, *args, rc=0):
        p = self.d.cli(*args)
        self.assertEqual(p.returncode, rc, "palisade %s: %s %s" % (
            " ".join(args), p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")))
        return p

    def test_quarantine_commands(self):
        tree = self.d.path("tree")
        a = self.write(os.path.join(tree, "a.com"), rh.eicar_variant(1), mode=0o600)
        b = self.write(os.path.join(tree, "b.com"), rh.eicar_variant(2))
        before_a = rh.snapshot(a)
        self.d.scan([tree])
        doc = json.loads(self.cli("quarantine", "list", "--json").stdout)
        items = {i["original_path"]: i for i in doc["items"]}
        self.assertEqual(set(items), {a, b})
        for i in doc["items"]:
            for k in ("id", "original_path", "threat", "quarantined_at", "sha256", "size"):
                self.assertIn(k, i)
        text = self.cli("quarantine", "list").stdout.decode()
        self.assertIn(a, text)
        self.assertIn(EICAR_THREAT, text)
        ida, idb = str(items[a]["id"]), str(items[b]["id"])
        dest = self.d.path("restored.com")
        self.cli("quarantine", "restore", ida, "--to", dest)
        self.assertTrue(rh.same_content_and_metadata(before_a, rh.snapshot(dest)))
        p = self.cli("quarantine", "restore", idb, "--to", dest, rc=2)
        self.assertIn(b"Exists", p.stderr)
        self.cli("quarantine", "restore", idb, "--to", dest, "--force", "--allow")
        self.assertEqual(json.loads(self.cli("allow", "list", "--json").stdout)["items"][0]
                         ["value"], items[b]["sha256"])
        self.d.scan([self.write(os.path.join(tree, "c.com"), rh.eicar_variant(3))])
        (item,) = json.loads(self.cli("quarantine", "list", "--json").stdout)["items"]
        self.cli("quarantine", "remove", str(item["id"]))
        self.assertEqual(json.loads(self.cli("quarantine", "list", "--json").stdout)["items"], [])
        p = self.cli("quarantine", "remove", str(item["id"]), rc=2)
        self.assertIn(b"NotFound", p.stderr)
        self.cli("quarantine", "restore", "x", rc=2)

    def test_restore_to_a_directory_named_with_a_trailing_slash(self):
        tree = self.d.path("tree")
        a = self.write(os.path.join(tree, "a.com"), rh.eicar_variant(1), mode=0o640)
        before = rh.snapshot(a)
        self.d.scan([tree])
        (item,) = json.loads(self.cli("quarantine", "list", "--json").stdout)["items"]
        # a directory that does not exist: refused, and the item stays in the quarantine
        missing = self.d.path("no-such-dir") + "/"
        p = self.cli("quarantine", "restore", str(item["id"]), "--to", missing, rc=2)
        self.assertIn(b"is not an existing directory", p.stderr)
        self.assertIn(b"nothing was restored", p.stderr)
        self.assertFalse(os.path.exists(self.d.path("no-such-dir")))
        self.assertEqual(len(json.loads(self.cli("quarantine", "list", "--json").stdout)
                             ["items"]), 1)
        # an existing one, with the slash (and a doubled one): the file goes into it under
        # its own name, as Restore-QuarantineItem -Destination DIR/ does
        dest = self.d.path("evidence")
        os.makedirs(dest)
        p = self.cli("quarantine", "restore", str(item["id"]), "--to", dest + "//")
        self.assertIn(os.path.join(dest, "a.com").encode(), p.stdout)
        self.assertTrue(rh.same_content_and_metadata(before,
                                                     rh.snapshot(os.path.join(dest, "a.com"))))
        self.assertEqual(os.listdir(dest), ["a.com"])

    def test_allow_commands(self):
        self.cli("allow", "add", "--threat", EICAR_THREAT)
        self.cli("allow", "add", "--sha256", "a" * 64)
        doc = json.loads(self.cli("allow", "list", "--json").stdout)
        self.assertEqual(sorted((i["kind"], i["value"]) for i in doc["items"]),
                         [("Sha256", "a" * 64), ("ThreatName", EICAR_THREAT)])
        self.cli("allow", "remove", "--sha256", "a" * 64)
        p = self.cli("allow", "remove", "--sha256", "a" * 64, rc=2)
        self.assertIn(b"NotFound", p.stderr)
        self.cli("allow", "add", "--sha256", "xyz", rc=2)

    def test_action_commands(self):
        self.cli("action", "set", EICAR_THREAT, "Remove")
        doc = json.loads(self.cli("action", "list", "--json").stdout)
        self.assertEqual([(i["threat"], i["action"]) for i in doc["items"]],
                         [(EICAR_THREAT, "Remove")])
        self.cli("action", "remove", EICAR_THREAT)
        p = self.cli("action", "remove", EICAR_THREAT, rc=2)
        self.assertIn(b"NotFound", p.stderr)
        self.cli("action", "set", EICAR_THREAT, rc=2)

    def test_update_commands(self):
        work = self.d.path("pkgs")
        os.makedirs(work)
        v7 = rh.build_package(os.path.join(work, "v7.sig"), 7, workdir=work)
        doc = json.loads(self.cli("update", v7, "--json").stdout)
        self.assertEqual(doc["signature_version"], 7)
        older = rh.build_package(os.path.join(work, "v6.sig"), 6, workdir=work)
        p = self.cli("update", older, rc=2)
        self.assertIn(b"Refused", p.stderr)
        self.cli("update", older, "--force")
        self.assertEqual(self.c.result("status")["signature_version"], 6)
        doc = json.loads(self.cli("update", "rollback", "--json").stdout)
        self.assertEqual((doc["signature_version"], doc["previous_version"]), (7, 6))


if __name__ == "__main__":
    rh.main()
