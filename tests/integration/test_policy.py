#!/usr/bin/env python3
"""Settings layers through a real palisaded (agent/core/settings/settings.h): a policy file locks
what it sets (the refusal names the file), a bad policy is reported in status as
policy_error and degraded while the last good policy stays in force (across SIGHUP and
across a restart), SIGHUP with a fixed file clears it, and MP_FORCE_USE_SANDBOX in the
daemon's environment overrides both policy and preference. A list setting's policy entries
stand beside the local ones (a scan skips both) unless policy sets ExclusionsMergePolicy
to AdminOnly, and every exclusion listing names each entry's source and file."""
import os
import signal

import harness
from harness import DaemonTest, wait_for

SITE = "10-site.json"


class PolicyLock(DaemonTest):

    daemon_kwargs = {"policy": {SITE: {"SandboxMode": "Disabled",
                                       "ExclusionPath": ["/srv/build"]}}}

    def setUp(self):
        super().setUp()
        self.site = os.path.join(self.d.policy_dir, SITE)

    def test_policy_value_is_in_force_and_named(self):
        st = self.d.cli_json("status")
        self.assertEqual(st["sandbox_mode"], "Disabled")
        self.assertEqual(st["sandbox_mode_source"], "Policy")
        self.assertIsNone(st["policy_error"])
        self.assertEqual(st["degraded"], [])
        item = self.d.cli_json("config", "get", "SandboxMode")
        self.assertEqual(item["source"], "Policy")
        self.assertIn(self.site, item["source_detail"])

    def test_setting_a_managed_value_is_policy_locked_naming_the_file(self):
        with self.d.client() as c:
            resp = c.call("config.set", {"name": "SandboxMode", "value": "Enabled"})
            self.assertEqual(resp["error"]["code"], "PolicyLocked")
            self.assertIn(self.site, resp["error"]["message"])
            # a list's policy entries stand beside local ones (ExclusionsMergePolicy Merge)
            c.result("exclusion.add", {"kind": "Path", "value": "/opt/other"})
            items = c.result("exclusion.list")["items"]
            self.assertEqual(items, [
                {"kind": "Path", "value": "/srv/build", "source": "Policy", "file": self.site},
                {"kind": "Path", "value": "/opt/other", "source": "Preference", "file": None}])
            # but a policy entry is removed only in its file
            resp = c.call("exclusion.remove", {"kind": "Path", "value": "/srv/build"})
            self.assertEqual(resp["error"]["code"], "PolicyLocked")
            self.assertIn(self.site, resp["error"]["message"])
            # what policy does not manage stays settable
            self.assertEqual(c.result("config.set", {"name": "ScanThreads", "value": 1})
                             ["value"], 1)
        p = self.d.cli("sandbox", "enable")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"PolicyLocked", p.stderr)
        self.assertIn(self.site.encode(), p.stderr)
        self.assertEqual(self.d.cli_json("status")["sandbox_mode"], "Disabled")

    def test_bad_policy_on_reload_keeps_the_last_good_one_until_fixed(self):
        bad_variants = {
            "malformed JSON": '{"SandboxMode": "Enabled",',
            "unknown setting": '{"SandboxMode": "Enabled", "NoSuchSetting": 1}',
            "wrong type": '{"SandboxMode": "Enabled", "ScanThreads": "four"}',
            "invalid value": '{"SandboxMode": "Sometimes"}',
            "not an object": '["SandboxMode", "Enabled"]',
        }
        with self.d.client() as c:
            for name, text in bad_variants.items():
                with self.subTest(name):
                    self.d.write_policy(SITE, None, raw=text)
                    self.d.signal(signal.SIGHUP)
                    st = wait_for(lambda: (lambda s: s if s["policy_error"] else None)(
                        c.result("status")), what="policy_error after SIGHUP")
                    self.assertIn(SITE, st["policy_error"])
                    self.assertTrue(any("polic" in r for r in st["degraded"]), st["degraded"])
                    # the last good policy stays in force, all of it
                    self.assertEqual(st["sandbox_mode"], "Disabled")
                    self.assertEqual(st["sandbox_mode_source"], "Policy")
                    self.assertEqual(c.result("exclusion.list")["items"][0]["value"],
                                     "/srv/build")
                    # restore a good file between variants so each one is a fresh failure
                    self.d.write_policy(SITE, {"SandboxMode": "Disabled",
                                               "ExclusionPath": ["/srv/build"]})
                    self.d.signal(signal.SIGHUP)
                    wait_for(lambda: c.result("status")["policy_error"] is None,
                             what="policy_error cleared")

            # a fixed file with a new value: applied, error cleared
            self.d.write_policy(SITE, None, raw="{not json")
            self.d.signal(signal.SIGHUP)
            wait_for(lambda: c.result("status")["policy_error"], what="policy_error")
            self.d.write_policy(SITE, {"SandboxMode": "Enabled"})
            self.d.signal(signal.SIGHUP)
            # status reads its fields one by one: wait for the whole new state
            st = wait_for(lambda: (lambda s: s if s["policy_error"] is None and
                                   s["sandbox_mode"] == "Enabled" else None)(
                c.result("status")), what="the fixed policy in force")
            self.assertEqual(st["degraded"], [])
            self.assertEqual(st["sandbox_mode"], "Enabled")
            self.assertEqual(st["sandbox_mode_source"], "Policy")
            # the exclusion the old policy managed is gone with it
            self.assertEqual(c.result("exclusion.list")["items"], [])

            # no policy at all: back to the preference layer
            os.unlink(self.site)
            self.d.signal(signal.SIGHUP)
            st = wait_for(lambda: (lambda s: s if s["sandbox_mode_source"] == "Default"
                                   else None)(c.result("status")), what="policy removed")
            self.assertIsNone(st["policy_error"])
            c.result("config.set", {"name": "SandboxMode", "value": "Disabled"})
            self.assertEqual(c.result("status")["sandbox_mode_source"], "Preference")

    def test_unsafe_policy_file_is_refused(self):
        os.chmod(self.site, 0o666)      # writable by anyone: not a policy root decided on
        self.d.write_policy("20-more.json", {"ScanThreads": 3})
        os.chmod(self.site, 0o666)
        self.d.signal(signal.SIGHUP)
        with self.d.client() as c:
            st = wait_for(lambda: (lambda s: s if s["policy_error"] else None)(
                c.result("status")), what="policy_error for a world-writable file")
            self.assertIn(SITE, st["policy_error"])
            # refused as a whole: the other, good file is not applied either
            self.assertNotEqual(c.result("config.get", {"name": "ScanThreads"})["source"],
                                "Policy")
            self.assertEqual(st["sandbox_mode"], "Disabled")

    def test_last_good_policy_survives_a_restart(self):
        self.assertEqual(self.d.stop(), 0)
        self.d.write_policy(SITE, None, raw='{"SandboxMode": ')
        self.d.start()
        st = self.d.cli_json("status")
        self.assertIsNotNone(st["policy_error"])
        self.assertIn(SITE, st["policy_error"])
        self.assertTrue(st["degraded"])
        self.assertEqual(st["sandbox_mode"], "Disabled")
        self.assertEqual(st["sandbox_mode_source"], "Policy")
        p = self.d.cli("sandbox", "enable")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"PolicyLocked", p.stderr)


class ExclusionMerge(DaemonTest):
    """Issue 10 item 9: with ExclusionPath in policy, the ten local exclusions still apply
    (Merge, the default); AdminOnly in policy makes the policy's the only ones."""

    def setUp(self):
        super().setUp()
        self.d.keep_threats()
        self.tree = self.d.path("tree")
        self.local = [os.path.join(self.tree, "local%d" % k) for k in range(10)]
        self.managed = os.path.join(self.tree, "policy-excl")
        self.plain = os.path.join(self.tree, "plain")
        for d in self.local + [self.managed, self.plain]:
            os.makedirs(d)
            with open(os.path.join(d, "eicar.com"), "wb") as f:
                f.write(harness.eicar())

    def threats(self):
        res, _ = self.d.scan([self.tree])
        return sorted(os.path.dirname(t["path"]) for t in res["threats"])

    def reload(self, c, name, value, until):
        self.d.write_policy(name, value)
        self.d.signal(signal.SIGHUP)
        wait_for(lambda: until(c.result("config.get", {"name": "ExclusionPath"})),
                 what="the policy reloaded")

    def test_policy_entries_merge_with_local_ones_unless_admin_only(self):
        for d in self.local:
            p = self.d.cli("exclusion", "add", "--path", d)
            self.assertEqual(p.returncode, 0, p)
        self.assertEqual(len(self.threats()), 2)    # policy-excl and plain
        with self.d.client() as c:
            self.reload(c, SITE, {"ExclusionPath": [self.managed]},
                        lambda item: self.managed in item["value"])
            site = os.path.join(self.d.policy_dir, SITE)
            # Merge: the scan skips all eleven
            self.assertEqual(self.threats(), [self.plain])
            items = c.result("exclusion.list")["items"]
            self.assertEqual(len(items), 11)
            self.assertEqual(items[0], {"kind": "Path", "value": self.managed,
                                        "source": "Policy", "file": site})
            self.assertEqual({(i["source"], i["file"]) for i in items[1:]},
                             {("Preference", None)})
            # exclusion add works beside the policy's entry
            p = self.d.cli("exclusion", "add", "--path", self.plain)
            self.assertEqual(p.returncode, 0, p)
            self.assertEqual(self.threats(), [])
            # the listings name each entry's origin: CLI table, config get, JSON
            text = self.d.cli("exclusion", "list").stdout.decode()
            self.assertIn("SOURCE", text)
            self.assertIn("FILE", text)
            row = [l for l in text.splitlines() if self.managed in l][0]
            self.assertIn("Policy", row)
            self.assertIn(site, row)
            row = [l for l in text.splitlines() if self.local[0] in l][0]
            self.assertIn("Preference", row)
            item = self.d.cli_json("config", "get", "ExclusionPath")
            self.assertEqual(len(item["entries"]), 12)
            self.assertEqual(item["entries"][0]["file"], site)
            text = self.d.cli("config", "get", "ExclusionPath").stdout.decode()
            self.assertIn("ENTRY", text)
            self.assertIn(site, text)
            # a policy entry cannot be removed locally; a local one can
            p = self.d.cli("exclusion", "remove", "--path", self.managed)
            self.assertEqual(p.returncode, 2, p)
            self.assertIn(b"PolicyLocked", p.stderr)
            self.assertIn(site.encode(), p.stderr)
            self.assertEqual(self.d.cli("exclusion", "remove", "--path", self.plain).returncode,
                             0)
            # ExclusionsMergePolicy is managed-only
            resp = c.call("config.set", {"name": "ExclusionsMergePolicy", "value": "AdminOnly"})
            self.assertEqual(resp["error"]["code"], "PolicyLocked", resp)

            # AdminOnly: only the policy's entry applies; local ones are locked
            merge = os.path.join(self.d.policy_dir, "20-merge.json")
            self.reload(c, "20-merge.json", {"ExclusionsMergePolicy": "AdminOnly"},
                        lambda item: item["value"] == [self.managed])
            self.assertEqual(self.threats(), sorted(self.local + [self.plain]))
            items = c.result("exclusion.list")["items"]
            self.assertEqual([(i["value"], i["source"]) for i in items],
                             [(self.managed, "Policy")])
            p = self.d.cli("exclusion", "add", "--path", self.plain)
            self.assertEqual(p.returncode, 2, p)
            self.assertIn(b"PolicyLocked", p.stderr)
            self.assertIn(merge.encode(), p.stderr)
            resp = c.call("exclusion.remove", {"kind": "Path", "value": self.local[0]})
            self.assertEqual(resp["error"]["code"], "PolicyLocked", resp)

            # the policy goes back to Merge: the local entries, kept, apply again
            os.unlink(merge)
            self.d.signal(signal.SIGHUP)
            wait_for(lambda: len(c.result("config.get", {"name": "ExclusionPath"})["value"])
                     == 11, what="Merge again")
            self.assertEqual(self.threats(), [self.plain])


class BadPolicyFromTheStart(DaemonTest):

    start_daemon = False

    def test_daemon_starts_degraded_with_defaults(self):
        self.d.write_policy(SITE, None, raw="SandboxMode=Disabled\n")
        self.d.start()
        st = self.d.cli_json("status")
        self.assertIn(SITE, st["policy_error"])
        self.assertTrue(any("polic" in r for r in st["degraded"]))
        self.assertEqual(st["sandbox_mode"], "Enabled")
        self.assertEqual(st["sandbox_mode_source"], "Default")
        # the problem is in the log too, for an administrator who reads it there
        self.assertIn(SITE, self.d.log())
        # a scan works regardless: a bad policy is not an outage
        root = self.make_tree("tree", {"eicar.com": harness.eicar()})
        self.assertEqual(len(self.d.cli_json("scan", root, expect_rc=1)["threats"]), 1)


class EnvironmentOverride(DaemonTest):

    start_daemon = False

    def test_force_disabled_beats_preference_and_locks_the_setting(self):
        self.d.env = {"MP_FORCE_USE_SANDBOX": "0"}
        self.d.start()
        st = self.d.cli_json("status")
        self.assertEqual(st["sandbox_mode"], "Disabled")
        self.assertEqual(st["sandbox_mode_source"], "Environment")
        self.assertEqual(st["degraded"], [])
        with self.d.client() as c:
            resp = c.call("config.set", {"name": "SandboxMode", "value": "Enabled"})
            self.assertEqual(resp["error"]["code"], "PolicyLocked")
            self.assertIn("MP_FORCE_USE_SANDBOX", resp["error"]["message"])
        p = self.d.cli("sandbox", "enable")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"MP_FORCE_USE_SANDBOX", p.stderr)
        # scans still run with the engine in the broker
        root = self.make_tree("tree", {"eicar.com": harness.eicar()})
        self.assertEqual(len(self.d.cli_json("scan", root, expect_rc=1)["threats"]), 1)

    def test_force_enabled_beats_policy(self):
        self.d.write_policy(SITE, {"SandboxMode": "Disabled"})
        self.d.env = {"MP_FORCE_USE_SANDBOX": "1"}
        self.d.start()
        st = self.d.cli_json("status")
        self.assertEqual(st["sandbox_mode"], "Enabled")
        self.assertEqual(st["sandbox_mode_source"], "Environment")

    def test_invalid_value_is_ignored_and_reported(self):
        self.d.write_policy(SITE, {"SandboxMode": "Disabled"})
        self.d.env = {"MP_FORCE_USE_SANDBOX": "yes"}
        self.d.start()
        st = self.d.cli_json("status")
        self.assertEqual(st["sandbox_mode"], "Disabled")
        self.assertEqual(st["sandbox_mode_source"], "Policy")
        self.assertTrue(any("MP_FORCE_USE_SANDBOX" in r for r in st["degraded"]),
                        st["degraded"])

    def test_without_override_the_preference_switches_live(self):
        self.d.start()
        self.assertEqual(self.d.cli_json("sandbox", "disable")["value"], "Disabled")
        st = self.d.cli_json("status")
        self.assertEqual(st["sandbox_mode"], "Disabled")
        self.assertEqual(st["sandbox_mode_source"], "Preference")
        self.assertEqual(self.d.cli_json("sandbox", "enable")["value"], "Enabled")
        self.assertEqual(self.d.cli_json("status")["sandbox_mode"], "Enabled")


if __name__ == "__main__":
    harness.main()
