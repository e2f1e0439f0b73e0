"""test_ansible.py — policy at fleet scale (issue 15): the shipped Ansible example
(examples/ansible: site.yml and the palisade_policy role) run by ansible-playbook (Debian's
ansible-core) against localhost, connection local, the way an administrator runs it against
a fleet.

It never touches this machine's /etc/palisade: every path of the role is a variable, pointed
here at a palisaded of the test's own (its policy directory, socket and an incoming package
directory under its temporary base) started with no signature package in force. The play
deploys a policy and the signature package, reloads the agent (SIGHUP to the test's daemon
in place of `systemctl reload palisaded`) and verifies through the agent. The test then asks
the agent itself: each policy setting is in force with source Policy, the package is in
force; a second run changes nothing; a policy the agent refuses fails the play, and the
last good policy stays in force.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import harness
from harness import DaemonTest

POLICY = {
    "SevereThreatDefaultAction": "NoAction",
    "QuarantineRetentionDays": 30,
    "ExclusionExtension": ["iso"],
    "ScanCacheEnabled": False,
}
REAL_POLICY = "/etc/palisade/policy.d/50-ansible.json"   # the role's default target


class AnsibleTest(DaemonTest):
    daemon_kwargs = {"defs": False}

    def setUp(self):
        super().setUp()
        self.playbook = shutil.which("ansible-playbook")
        if not self.playbook:
            raise AssertionError("ansible-playbook is missing (scripts/bootstrap installs "
                                 "ansible-core)")
        self.example = os.path.join(harness.source_dir(), "examples", "ansible")
        self.work = tempfile.mkdtemp(prefix="pal-ansible.")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.inventory = os.path.join(self.work, "inventory.ini")
        with open(self.inventory, "w") as f:
            f.write("[palisade]\nlocalhost ansible_connection=local "
                    "ansible_python_interpreter=/usr/bin/python3\n")
        self.incoming = self.d.path("incoming", "palisade-defs.sig")
        with open(os.path.join(self.work, "ansible.cfg"), "w") as f:
            f.write("[defaults]\n")

    def play(self, policy, **extra):
        v = {
            "palisade_policy": policy,
            "palisade_policy_dir": self.d.policy_dir,
            "palisade_socket": self.d.socket,
            "palisade_cli": harness.cli_path(),
            "palisade_sigtool": harness.env_path("PAL_SIGTOOL"),
            "palisade_signature_package_src": harness.defs_package(),
            "palisade_signature_package_dest": self.incoming,
            "palisade_reload_command": ["kill", "-HUP", str(self.d.proc.pid)],
            # root already: no sudo (the test machine need not have it)
            "ansible_become": False,
        }
        v.update(extra)
        vars_file = os.path.join(self.work, "vars.json")
        with open(vars_file, "w") as f:
            json.dump(v, f)
        env = dict(os.environ)
        env.update({"ANSIBLE_HOME": os.path.join(self.work, "ansible-home"),
                    "ANSIBLE_LOCAL_TEMP": os.path.join(self.work, "ansible-tmp"),
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                    "ANSIBLE_STDOUT_CALLBACK": "default",
                    # no ansible.cfg of the machine's or the user's
                    "ANSIBLE_CONFIG": os.path.join(self.work, "ansible.cfg")})
        env.pop("PALISADE_SOCKET", None)
        p = subprocess.run([self.playbook, "-i", self.inventory, "-e", "@" + vars_file,
                            os.path.join(self.example, "site.yml")],
                           capture_output=True, timeout=600, env=env, cwd=self.work)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        m = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                      r"failed=(\d+)", out)
        self.assertTrue(m, out)
        return p.returncode, {"ok": int(m.group(1)), "changed": int(m.group(2)),
                              "failed": int(m.group(4))}, out

    def in_force(self):
        items = self.d.cli_json("config", "get")["items"]
        return {i["name"]: (i["value"], i["source"]) for i in items if i["name"] in POLICY}

    def test_deploys_policy_and_signatures_and_verifies_them(self):
        self.real_policy_existed = os.path.lexists(REAL_POLICY)
        st = self.d.cli_json("status")
        self.assertIsNone(st["signature_version"], "the test's agent starts without a package")
        before = self.in_force()
        self.assertTrue(all(src == "Default" for _, src in before.values()), before)

        rc, recap, out = self.play(POLICY)
        self.assertEqual(rc, 0, out)
        self.assertEqual(recap["failed"], 0, out)
        self.assertGreaterEqual(recap["changed"], 3, out)  # file, package copy, update, reload
        # what the agent says, asked by the test itself
        self.assertEqual(self.in_force(), {k: (v, "Policy") for k, v in POLICY.items()})
        st = self.d.cli_json("status")
        self.assertEqual(st["signature_version"], 1)
        self.assertIsNone(st["policy_error"])
        pol = os.path.join(self.d.policy_dir, "50-ansible.json")
        sb = os.stat(pol)
        self.assertEqual((sb.st_uid, sb.st_mode & 0o777), (0, 0o644))
        with open(pol) as f:
            self.assertEqual(json.load(f), POLICY)
        # a policy setting is locked against a local change
        p = self.d.cli("config", "set", "QuarantineRetentionDays", "5", "--json")
        self.assertEqual(json.loads(p.stdout)["error"]["code"], "PolicyLocked", p)
        # nothing of the machine's own agent was touched: the play's paths were the test's
        self.assertEqual(os.path.lexists(REAL_POLICY), self.real_policy_existed)

        # a second run: nothing to change, and it still verifies
        rc, recap, out = self.play(POLICY)
        self.assertEqual((rc, recap["changed"], recap["failed"]), (0, 0, 0), out)

    def test_a_policy_the_agent_refuses_fails_the_play(self):
        rc, _, out = self.play(POLICY)
        self.assertEqual(rc, 0, out)
        bad = dict(POLICY, QuarantineRetentionDays="soon")
        rc, recap, out = self.play(bad, palisade_verify_retries=3)
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(recap["failed"], 1, out)
        self.assertIn("the agent did not apply the policy", out)
        self.assertIn("QuarantineRetentionDays", out)
        # the last good policy stays in force
        self.assertEqual(self.in_force()["QuarantineRetentionDays"], (30, "Policy"))
        self.assertIsNotNone(self.d.cli_json("status")["policy_error"])


if __name__ == "__main__":
    harness.main()
