#!/usr/bin/env python3
"""The one map from the agent's internal errors to protocol codes (pal_code_for_err,
agent/ipc/msg.h), seen from a client of a real palisaded: a value locked by a policy file or
by the daemon's environment answers PolicyLocked, from the settings handlers and from the
list handlers alike; a value that is not acceptable (a list over its 1,000 items, a bad
SHA-256) answers InvalidValue; an id or entry that is not there answers NotFound, from the
settings handlers and from the remediation handlers alike; and nothing was changed by any of
the refused requests."""
import os

import harness
from harness import DaemonTest

SITE = "10-site.json"
MAX_LIST = 1000  # PAL_SETTINGS_MAX_LIST


class ErrorCodes(DaemonTest):

    daemon_kwargs = {"policy": {SITE: {"SandboxMode": "Disabled",
                                       "ExclusionPath": ["/srv/build"]}}}

    def code(self, c, op, args):
        resp = c.call(op, args)
        self.assertIn("error", resp, (op, args, resp))
        return resp["error"]

    def test_locked_by_policy_is_policy_locked_wherever_it_is_asked(self):
        site = os.path.join(self.d.policy_dir, SITE)
        with self.d.client() as c:
            for op, args in (
                    ("config.set", {"name": "SandboxMode", "value": "Enabled"}),
                    ("exclusion.remove", {"kind": "Path", "value": "/srv/build"})):
                with self.subTest(op):
                    err = self.code(c, op, args)
                    self.assertEqual(err["code"], "PolicyLocked", err)
                    self.assertIn(site, err["message"])
            self.assertEqual(c.result("config.get", {"name": "SandboxMode"})["value"],
                             "Disabled")
            paths = [i["value"] for i in c.result("exclusion.list")["items"]
                     if i["kind"] == "Path"]
            self.assertEqual(paths, ["/srv/build"])

    def test_a_list_over_its_limit_is_an_invalid_value(self):
        with self.d.client() as c:
            too_many = ["x%04d" % i for i in range(MAX_LIST + 1)]
            err = self.code(c, "config.set", {"name": "ExclusionExtension", "value": too_many})
            self.assertEqual(err["code"], "InvalidValue", err)
            self.assertIn("at most %d" % MAX_LIST, err["message"])
            # a full list takes no more, one item at a time either
            c.result("config.set", {"name": "ExclusionExtension", "value": too_many[:MAX_LIST]})
            err = self.code(c, "exclusion.add", {"kind": "Extension", "value": "one-more"})
            self.assertEqual(err["code"], "InvalidValue", err)
            self.assertIn("the most allowed", err["message"])
            exts = [i for i in c.result("exclusion.list")["items"] if i["kind"] == "Extension"]
            self.assertEqual(len(exts), MAX_LIST)

    def test_missing_things_and_bad_values_in_the_remediation_handlers(self):
        with self.d.client() as c:
            err = self.code(c, "quarantine.get", {"id": 424242})
            self.assertEqual(err["code"], "NotFound", err)
            err = self.code(c, "allow.remove", {"kind": "ThreatName", "value": "Nothing.Here"})
            self.assertEqual(err["code"], "NotFound", err)
            err = self.code(c, "allow.add", {"kind": "Sha256", "value": "not-a-hash"})
            self.assertEqual(err["code"], "InvalidValue", err)
            err = self.code(c, "exclusion.remove", {"kind": "Path", "value": "/never/added"})
            self.assertEqual(err["code"], "NotFound", err)
            self.assertEqual(c.result("allow.list")["items"], [])


class EnvironmentLock(DaemonTest):

    daemon_kwargs = {"env": {"MP_FORCE_USE_SANDBOX": "0"}}

    def test_a_value_forced_by_the_environment_is_policy_locked(self):
        with self.d.client() as c:
            err = self.code_of(c)
            self.assertEqual(err["code"], "PolicyLocked", err)
            self.assertIn("MP_FORCE_USE_SANDBOX", err["message"])

    def code_of(self, c):
        resp = c.call("config.set", {"name": "SandboxMode", "value": "Enabled"})
        self.assertIn("error", resp, resp)
        return resp["error"]


if __name__ == "__main__":
    harness.main()
